//! The Amazon Connect source's settings (`CONNECT_*`), read and validated at cold start.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::model::SourceName;
use crate::source::{BuildError, QueueSource, SourceConfig, SourceDeps};

use super::ConnectSource;

/// Settings of the Amazon Connect source (on when `CONNECT_INSTANCE_ID` is set).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectConfig {
    /// The instance id (the part after `instance/` when an ARN was given).
    pub instance_id: String,
    /// Only these queues (ids or ARNs); empty = every STANDARD queue.
    pub queue_ids: Vec<String>,
    /// How often ListQueues runs again to find new and removed queues.
    pub discovery_interval: Duration,
    /// Ask GetCurrentMetricData for the VOICE/CHAT/TASK breakdown too.
    pub channel_breakdown: bool,
    /// Today's figures from GetMetricData, refreshed every 5 minutes.
    pub intraday: bool,
    /// Service-level thresholds in seconds (Connect allows these only).
    pub service_level_thresholds: Vec<u32>,
    /// Where "today" starts.
    pub time_zone: chrono_tz::Tz,
    /// Agents by state and slots from GetCurrentUserData (costs calls).
    pub agent_detail: bool,
    /// At most this many GetCurrentUserData calls per cycle.
    pub agent_detail_calls_per_cycle: u32,
    /// Client-side budget for GetCurrentMetricData and GetMetricData.
    pub metrics_rate: f64,
    pub metrics_burst: u32,
    /// Client-side budget for the other calls (ListQueues, GetCurrentUserData).
    pub other_rate: f64,
    pub other_burst: u32,
    /// Bound on one whole cycle of this source, every paced request and
    /// retry included (`CONNECT_TIMEOUT_SECONDS`); a single attempt is
    /// bounded separately by the client's attempt timeout.
    pub cycle_timeout: Duration,
}

impl ConnectConfig {
    /// The thresholds Connect accepts for SERVICE_LEVEL.
    pub const ALLOWED_THRESHOLDS: [u32; 12] = [15, 20, 25, 30, 45, 60, 90, 120, 180, 240, 300, 600];

    /// The setting that turns the source on.
    pub const SWITCH: &'static str = "CONNECT_INSTANCE_ID";

    /// `None` when the source is off (no instance).
    pub fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(instance) = settings.optional(Self::SWITCH) else {
            return Ok(None);
        };
        let instance_id = match instance.rsplit_once("instance/") {
            Some((_, id)) if instance.starts_with("arn:") => id.to_owned(),
            _ => instance.clone(),
        };
        let valid_id = !instance_id.is_empty()
            && instance_id.len() <= 100
            && instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid_id {
            return Err(ConfigError::new(
                "CONNECT_INSTANCE_ID",
                format!("must be an Amazon Connect instance id or ARN, not {instance:?}"),
            ));
        }
        let thresholds = settings.list("CONNECT_SERVICE_LEVEL_THRESHOLDS");
        let service_level_thresholds = if thresholds.is_empty() {
            vec![20, 60]
        } else {
            thresholds
                .iter()
                .map(|t| {
                    t.parse::<u32>()
                        .ok()
                        .filter(|v| Self::ALLOWED_THRESHOLDS.contains(v))
                        .ok_or_else(|| {
                            ConfigError::new(
                                "CONNECT_SERVICE_LEVEL_THRESHOLDS",
                                format!(
                                    "each threshold must be one of {:?} seconds, not {t:?}",
                                    Self::ALLOWED_THRESHOLDS
                                ),
                            )
                        })
                })
                .collect::<Result<_, _>>()?
        };
        let time_zone_name = settings
            .optional("CONNECT_TIME_ZONE")
            .unwrap_or_else(|| "UTC".to_owned());
        let time_zone: chrono_tz::Tz = time_zone_name.parse().map_err(|_| {
            ConfigError::new(
                "CONNECT_TIME_ZONE",
                format!(
                    "must be an IANA time zone such as America/New_York, not {time_zone_name:?}"
                ),
            )
        })?;
        Ok(Some(Self {
            instance_id,
            queue_ids: settings.list("CONNECT_QUEUE_IDS"),
            discovery_interval: Duration::from_secs(settings.integer(
                "CONNECT_DISCOVERY_INTERVAL_SECONDS",
                300,
                10..=86_400,
            )?),
            channel_breakdown: settings.boolean("CONNECT_CHANNEL_BREAKDOWN", true)?,
            intraday: settings.boolean("CONNECT_INTRADAY", true)?,
            service_level_thresholds,
            time_zone,
            agent_detail: settings.boolean("CONNECT_AGENT_DETAIL", false)?,
            agent_detail_calls_per_cycle: settings.integer(
                "CONNECT_AGENT_DETAIL_CALLS_PER_CYCLE",
                10,
                1..=1000,
            )? as u32,
            // A little under Connect's limits (5/s burst 8; 2/s): requests
            // reach Connect with jitter, and other tools share the budget.
            metrics_rate: settings.decimal("CONNECT_METRICS_RATE", 4.5, 0.1, 1000.0)?,
            metrics_burst: settings.integer("CONNECT_METRICS_BURST", 6, 1..=1000)? as u32,
            other_rate: settings.decimal("CONNECT_OTHER_RATE", 1.8, 0.1, 1000.0)?,
            other_burst: settings.integer("CONNECT_OTHER_BURST", 2, 1..=1000)? as u32,
            cycle_timeout: Duration::from_secs(settings.integer(
                "CONNECT_TIMEOUT_SECONDS",
                45,
                1..=900,
            )?),
        }))
    }
}

impl SourceConfig for ConnectConfig {
    fn name(&self) -> SourceName {
        SourceName::Connect
    }

    fn cycle_budget(&self) -> Duration {
        self.cycle_timeout
    }

    fn build(&self, deps: &SourceDeps) -> Result<Arc<dyn QueueSource>, BuildError> {
        let client = aws_sdk_connect::Client::from_conf(ConnectSource::client_config(
            deps.sdk_for(&SourceName::Connect),
        ));
        Ok(Arc::new(ConnectSource::new(client, self.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(pairs: &[(&str, &str)]) -> Result<Option<ConnectConfig>, ConfigError> {
        ConnectConfig::from_settings(&Settings::from_pairs(pairs))
    }

    #[test]
    fn an_arn_gives_its_instance_id() {
        let connect = connect(&[
            (
                "CONNECT_INSTANCE_ID",
                "arn:aws:connect:us-east-1:123456789012:instance/abcd-1234",
            ),
            ("CONNECT_TIME_ZONE", "America/New_York"),
            ("CONNECT_SERVICE_LEVEL_THRESHOLDS", "15,600"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(connect.instance_id, "abcd-1234");
        assert_eq!(connect.service_level_thresholds, vec![15, 600]);
        assert_eq!(connect.time_zone, chrono_tz::America::New_York);
        assert_eq!(connect.cycle_budget(), Duration::from_secs(45));
    }

    #[test]
    fn off_without_an_instance() {
        assert_eq!(connect(&[]).unwrap(), None);
    }

    #[test]
    fn connect_settings_are_validated() {
        for (name, value) in [
            ("CONNECT_INSTANCE_ID", "not an id!"),
            ("CONNECT_TIME_ZONE", "Mars/Olympus"),
            ("CONNECT_SERVICE_LEVEL_THRESHOLDS", "17"),
            ("CONNECT_CHANNEL_BREAKDOWN", "maybe"),
            ("CONNECT_METRICS_RATE", "0"),
            ("CONNECT_TIMEOUT_SECONDS", "0"),
        ] {
            let mut pairs = vec![("CONNECT_INSTANCE_ID", "abcd")];
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            assert_eq!(connect(&pairs).unwrap_err().name, name, "{value}");
        }
    }
}
