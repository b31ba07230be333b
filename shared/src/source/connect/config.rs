//! The Amazon Connect source's settings (`CONNECT_*`), read and validated at cold start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::model::SourceName;
use crate::source::{BuildError, QueueSource, SourceConfig, SourceDeps};

use super::{ConnectSource, RegionBudget};

/// One instance to poll, as the settings name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The instance id (the part after `instance/` when an ARN was given).
    pub instance_id: String,
    /// The Region an ARN names; `None` for a bare id, which is in the
    /// function's own Region.
    pub region: Option<String>,
}

/// Settings of the Amazon Connect source (on when `CONNECT_INSTANCE_ID` or
/// `CONNECT_INSTANCES` is set).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectConfig {
    /// Every instance polled, each cycle, in the order given.
    pub instances: Vec<InstanceSpec>,
    /// Only these queues: bare ids (in any instance) or queue ARNs (in
    /// their own instance); empty = every STANDARD queue.
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
    /// At most this many GetCurrentUserData calls per cycle, per instance.
    pub agent_detail_calls_per_cycle: u32,
    /// Client-side budget for GetCurrentMetricData and GetMetricData, per
    /// Region: Connect throttles per account and Region, so the instances
    /// of one Region share it.
    pub metrics_rate: f64,
    pub metrics_burst: u32,
    /// Client-side budget for the other calls (ListQueues,
    /// GetCurrentUserData, DescribeInstance), per Region likewise.
    pub other_rate: f64,
    pub other_burst: u32,
    /// Bound on one whole cycle of one instance, every paced request and
    /// retry included (`CONNECT_TIMEOUT_SECONDS`); a single attempt is
    /// bounded separately by the client's attempt timeout.
    pub cycle_timeout: Duration,
}

/// What an ARN of Amazon Connect names: its Region and the resource path
/// (`instance/<id>` or `instance/<id>/queue/<id>`).
fn parse_connect_arn(text: &str) -> Option<(&str, &str)> {
    let mut parts = text.splitn(6, ':');
    let (arn, _partition, service, region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn == "arn" && service == "connect" && !region.is_empty()).then_some((region, resource))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 100 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_region(region: &str) -> bool {
    region.len() <= 30
        && region.contains('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// One entry of `CONNECT_INSTANCES` or `CONNECT_INSTANCE_ID`.
fn parse_instance(name: &'static str, text: &str) -> Result<InstanceSpec, ConfigError> {
    let bad = || {
        ConfigError::new(
            name,
            format!("each entry must be an Amazon Connect instance id or ARN, not {text:?}"),
        )
    };
    if text.starts_with("arn:") {
        let (region, resource) = parse_connect_arn(text).ok_or_else(bad)?;
        let id = resource.strip_prefix("instance/").ok_or_else(bad)?;
        if !valid_id(id) || !valid_region(region) {
            return Err(bad());
        }
        return Ok(InstanceSpec {
            instance_id: id.to_owned(),
            region: Some(region.to_owned()),
        });
    }
    if !valid_id(text) {
        return Err(bad());
    }
    Ok(InstanceSpec {
        instance_id: text.to_owned(),
        region: None,
    })
}

/// A `CONNECT_QUEUE_IDS` entry: a queue ARN names its instance.
fn queue_instance(entry: &str) -> Option<(&str, &str)> {
    let (_, resource) = parse_connect_arn(entry)?;
    let rest = resource.strip_prefix("instance/")?;
    rest.split_once("/queue/")
}

impl ConnectConfig {
    /// The thresholds Connect accepts for SERVICE_LEVEL.
    pub const ALLOWED_THRESHOLDS: [u32; 12] = [15, 20, 25, 30, 45, 60, 90, 120, 180, 240, 300, 600];

    /// The setting that turns the source on (one instance).
    pub const SWITCH: &'static str = "CONNECT_INSTANCE_ID";
    /// The setting that turns it on for several instances.
    pub const SWITCH_MANY: &'static str = "CONNECT_INSTANCES";

    /// `None` when the source is off (no instance).
    pub fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let one = settings.optional(Self::SWITCH);
        let many = settings.list(Self::SWITCH_MANY);
        let instances = match (one, many.is_empty()) {
            (None, true) => return Ok(None),
            (Some(_), false) => {
                return Err(ConfigError::new(
                    Self::SWITCH_MANY,
                    format!(
                        "set {} (one instance) or {} (several), not both",
                        Self::SWITCH,
                        Self::SWITCH_MANY
                    ),
                ));
            }
            (Some(one), true) => vec![parse_instance(Self::SWITCH, &one)?],
            (None, false) => many
                .iter()
                .map(|entry| parse_instance(Self::SWITCH_MANY, entry))
                .collect::<Result<Vec<_>, _>>()?,
        };
        for (n, instance) in instances.iter().enumerate() {
            if instances[..n]
                .iter()
                .any(|other| other.instance_id == instance.instance_id)
            {
                return Err(ConfigError::new(
                    Self::SWITCH_MANY,
                    format!("instance {} is listed twice", instance.instance_id),
                ));
            }
        }
        let queue_ids = settings.list("CONNECT_QUEUE_IDS");
        for entry in &queue_ids {
            if entry.starts_with("arn:") {
                let Some((instance, _)) = queue_instance(entry) else {
                    return Err(ConfigError::new(
                        "CONNECT_QUEUE_IDS",
                        format!("{entry:?} is not an Amazon Connect queue ARN"),
                    ));
                };
                if !instances.iter().any(|i| i.instance_id == instance) {
                    return Err(ConfigError::new(
                        "CONNECT_QUEUE_IDS",
                        format!("{entry:?} is a queue of instance {instance}, which is not polled"),
                    ));
                }
            }
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
            instances,
            queue_ids,
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

    /// The queue ids `CONNECT_QUEUE_IDS` narrows `instance_id` to: its
    /// bare ids and the ids of its own queue ARNs. `None`: every queue.
    pub fn wanted_queues(&self, instance_id: &str) -> Option<Vec<String>> {
        if self.queue_ids.is_empty() {
            return None;
        }
        Some(
            self.queue_ids
                .iter()
                .filter_map(|entry| match queue_instance(entry) {
                    Some((instance, queue)) => (instance == instance_id).then(|| queue.to_owned()),
                    None => Some(entry.clone()),
                })
                .collect(),
        )
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
        // The first instance alone; `build_all` is what the registry calls.
        let mut all = self.build_all(deps)?;
        Ok(all.swap_remove(0))
    }

    /// One source per instance. Instances of one Region share one client
    /// (signing for that Region) and one budget: Connect throttles per
    /// account and Region, not per instance.
    fn build_all(&self, deps: &SourceDeps) -> Result<Vec<Arc<dyn QueueSource>>, BuildError> {
        let sdk = deps.sdk_for(&SourceName::Connect);
        let home = crate::aws::region_or_default(sdk.region());
        let mut regions: HashMap<String, (aws_sdk_connect::Client, Arc<RegionBudget>)> =
            HashMap::new();
        Ok(self
            .instances
            .iter()
            .map(|instance| {
                let region = instance.region.clone().unwrap_or_else(|| home.clone());
                let (client, budget) = regions
                    .entry(region.clone())
                    .or_insert_with(|| {
                        let config = ConnectSource::client_config(sdk)
                            .to_builder()
                            .region(aws_config::Region::new(region.clone()))
                            .build();
                        (
                            aws_sdk_connect::Client::from_conf(config),
                            Arc::new(RegionBudget::new(self)),
                        )
                    })
                    .clone();
                Arc::new(ConnectSource::for_instance(
                    client,
                    self.clone(),
                    &instance.instance_id,
                    &region,
                    budget,
                )) as Arc<dyn QueueSource>
            })
            .collect())
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
        assert_eq!(
            connect.instances,
            vec![InstanceSpec {
                instance_id: "abcd-1234".into(),
                region: Some("us-east-1".into()),
            }]
        );
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

    #[test]
    fn several_instances_in_several_regions() {
        let connect = connect(&[
            (
                "CONNECT_INSTANCES",
                "arn:aws:connect:us-east-1:123456789012:instance/east-1, \
                 arn:aws:connect:us-west-2:123456789012:instance/west-1,home-1",
            ),
            (
                "CONNECT_QUEUE_IDS",
                "arn:aws:connect:us-west-2:123456789012:instance/west-1/queue/q-west,q-any",
            ),
        ])
        .unwrap()
        .unwrap();
        let regions: Vec<(&str, Option<&str>)> = connect
            .instances
            .iter()
            .map(|i| (i.instance_id.as_str(), i.region.as_deref()))
            .collect();
        assert_eq!(
            regions,
            vec![
                ("east-1", Some("us-east-1")),
                ("west-1", Some("us-west-2")),
                ("home-1", None)
            ]
        );
        // A queue ARN narrows its own instance; a bare id any instance.
        assert_eq!(
            connect.wanted_queues("west-1").unwrap(),
            vec!["q-west", "q-any"]
        );
        assert_eq!(connect.wanted_queues("east-1").unwrap(), vec!["q-any"]);
    }

    #[test]
    fn instance_settings_errors_name_the_setting() {
        let arn = "arn:aws:connect:us-east-1:123456789012:instance/east-1";
        for (pairs, name, says) in [
            (
                vec![("CONNECT_INSTANCE_ID", "abcd"), ("CONNECT_INSTANCES", arn)],
                "CONNECT_INSTANCES",
                "CONNECT_INSTANCE_ID",
            ),
            (
                vec![("CONNECT_INSTANCES", "east-1,east-1")],
                "CONNECT_INSTANCES",
                "twice",
            ),
            (
                vec![("CONNECT_INSTANCES", "arn:aws:s3:::bucket")],
                "CONNECT_INSTANCES",
                "instance id or ARN",
            ),
            (
                vec![(
                    "CONNECT_INSTANCES",
                    "arn:aws:connect:us-east-1:123456789012:queue/x",
                )],
                "CONNECT_INSTANCES",
                "instance id or ARN",
            ),
            (
                vec![
                    ("CONNECT_INSTANCES", arn),
                    (
                        "CONNECT_QUEUE_IDS",
                        "arn:aws:connect:us-east-1:123456789012:instance/other/queue/q",
                    ),
                ],
                "CONNECT_QUEUE_IDS",
                "not polled",
            ),
        ] {
            let err = connect(&pairs).unwrap_err();
            assert_eq!(err.name, name, "{pairs:?}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
