//! Typed configuration, read once at cold start.
//!
//! Every setting is an environment variable (DESIGN.md, "Contracts"). Parsing
//! is a pure function of a lookup so tests never touch the process
//! environment, and every failure names the variable at fault. This module
//! holds only what every function shares; each source reads its own
//! settings in its own module (`source/<provider>/config.rs`) with the
//! [`Settings`] helpers of `crate::settings`.
//!
//! Here: the poller's pipeline and events. `reader.rs`: the API's and the
//! contact flow's settings, the wallboard's sign-in among them.

mod reader;

use std::time::Duration;

pub use crate::settings::{ConfigError, FromSettings, Settings};
use crate::sink::StreamRef;
pub use reader::{ReaderConfig, SignIn};

/// What the poller needs besides its sources, validated. The sources are
/// read by their own modules (see `source::registry`).
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    pub table: String,
    pub stream: StreamRef,
    pub poll_interval: Duration,
    pub history_retention_hours: u64,
    /// Time kept free at the end of an invocation, so the last cycle finishes.
    pub safety_margin: Duration,
    /// Upper bound on one cycle's writes (DynamoDB and Kinesis, retries included).
    pub write_timeout: Duration,
    /// How each queue's level is decided (`QUEUE_LEVELS`).
    pub levels: crate::levels::LevelRules,
    /// Level-change events, `None` when `EVENT_BUS_NAME` is set empty.
    pub events: Option<EventsConfig>,
}

/// Where level changes are announced, and how long a change must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsConfig {
    /// An event bus name or ARN (`EVENT_BUS_NAME`, default `default`).
    pub bus: String,
    /// Consecutive polls a new level must hold (`LEVEL_HOLD_CYCLES`, 2).
    pub hold_cycles: u32,
    /// How long a cycle may keep starting PutEvents calls
    /// (`EVENTS_BUDGET_MS`, 4,000): what does not fit goes next cycle.
    pub budget: Duration,
    /// PutEvents calls under way at once (`EVENTS_CONCURRENCY`, 10): far
    /// inside the bus's quota (hundreds to thousands of calls a second per
    /// Region), and 2,000 events a second at 50 ms a call.
    pub concurrency: usize,
}

impl EventsConfig {
    fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let bus = match settings.present("EVENT_BUS_NAME") {
            Some(bus) if bus.is_empty() => return Ok(None),
            Some(bus) => bus,
            None => "default".to_owned(),
        };
        if bus.len() > 1600
            || !bus
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
        {
            return Err(ConfigError::new(
                "EVENT_BUS_NAME",
                format!("must be an event bus name or ARN (empty turns events off), not {bus:?}"),
            ));
        }
        let hold_cycles = settings.integer("LEVEL_HOLD_CYCLES", 2, 1..=60)?;
        let budget_ms = settings.integer("EVENTS_BUDGET_MS", 4_000, 100..=60_000)?;
        let concurrency = settings.integer("EVENTS_CONCURRENCY", 10, 1..=50)?;
        Ok(Some(Self {
            bus,
            hold_cycles: hold_cycles as u32,
            budget: Duration::from_millis(budget_ms),
            concurrency: concurrency as usize,
        }))
    }
}

impl FromSettings for PipelineConfig {
    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
        let table = settings.required("SNAPSHOT_TABLE")?;
        let stream = StreamRef::parse(&settings.required("SNAPSHOT_STREAM")?)
            .map_err(|problem| ConfigError::new("SNAPSHOT_STREAM", problem))?;
        let poll_interval = settings.integer("POLL_INTERVAL_SECONDS", 10, 1..=900)?;
        let history_retention_hours =
            settings.integer("HISTORY_RETENTION_HOURS", 24, 1..=24 * 90)?;
        let safety_margin_ms = settings.integer("POLL_SAFETY_MARGIN_MS", 1_000, 0..=60_000)?;
        let write_timeout_ms = settings.integer("WRITE_TIMEOUT_MS", 5_000, 100..=60_000)?;
        Ok(Self {
            table,
            stream,
            poll_interval: Duration::from_secs(poll_interval),
            history_retention_hours,
            safety_margin: Duration::from_millis(safety_margin_ms),
            write_timeout: Duration::from_millis(write_timeout_ms),
            levels: crate::levels::LevelRules::from_settings(settings)?,
            events: EventsConfig::from_settings(settings)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &[(&str, &str)] = &[
        ("SNAPSHOT_TABLE", "snapshots"),
        ("SNAPSHOT_STREAM", "queue-stats"),
    ];

    fn pipeline(extra: &[(&str, &str)]) -> Result<PipelineConfig, ConfigError> {
        let mut pairs = BASE.to_vec();
        pairs.extend_from_slice(extra);
        PipelineConfig::from_settings(&Settings::from_pairs(&pairs))
    }

    #[test]
    fn defaults_fill_in_everything_optional() {
        let config = pipeline(&[]).unwrap();
        assert_eq!(config.poll_interval, Duration::from_secs(10));
        assert_eq!(config.history_retention_hours, 24);
        assert_eq!(config.stream, StreamRef::Name("queue-stats".into()));
    }

    #[test]
    fn each_invalid_setting_is_named() {
        let cases: &[(&str, &str)] = &[
            ("POLL_INTERVAL_SECONDS", "0"),
            ("POLL_INTERVAL_SECONDS", "901"),
            ("POLL_INTERVAL_SECONDS", "ten"),
            ("SNAPSHOT_STREAM", "arn:aws:s3:::bucket"),
            ("HISTORY_RETENTION_HOURS", "0"),
            ("WRITE_TIMEOUT_MS", "5"),
        ];
        for (name, value) in cases {
            let err = pipeline(&[(name, value)]).unwrap_err();
            assert_eq!(&err.name, name, "{value}");
        }
        for missing in ["SNAPSHOT_TABLE", "SNAPSHOT_STREAM"] {
            let pairs: Vec<_> = BASE
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = PipelineConfig::from_settings(&Settings::from_pairs(&pairs)).unwrap_err();
            assert_eq!(err.name, missing);
        }
    }

    #[test]
    fn an_arn_names_a_stream() {
        let config = pipeline(&[(
            "SNAPSHOT_STREAM",
            "arn:aws:kinesis:us-east-1:123456789012:stream/qs",
        )])
        .unwrap();
        assert!(matches!(config.stream, StreamRef::Arn(_)));
    }

    #[test]
    fn shared_helpers_validate_urls_and_regions() {
        let settings = Settings::from_pairs(&[
            ("URL", "http://127.0.0.1:9443/"),
            ("BAD_URL", "http://127.0.0.1:9443/path"),
            ("NO_SCHEME", "localhost:9443"),
            ("REGION", "eu-west-2"),
            ("BAD_REGION", "nowhere"),
        ]);
        assert_eq!(
            settings.base_url("URL").unwrap().as_deref(),
            Some("http://127.0.0.1:9443")
        );
        assert_eq!(settings.base_url("UNSET").unwrap(), None);
        assert_eq!(settings.base_url("BAD_URL").unwrap_err().name, "BAD_URL");
        assert_eq!(
            settings.base_url("NO_SCHEME").unwrap_err().name,
            "NO_SCHEME"
        );
        assert_eq!(
            settings.aws_region("REGION", String::new).unwrap(),
            "eu-west-2"
        );
        assert_eq!(
            settings.aws_region("UNSET", || "us-east-1".into()).unwrap(),
            "us-east-1"
        );
        assert_eq!(
            settings
                .aws_region("BAD_REGION", String::new)
                .unwrap_err()
                .name,
            "BAD_REGION"
        );
    }
}
