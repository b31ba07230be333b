//! Typed configuration, read once at cold start.
//!
//! Every setting is an environment variable (DESIGN.md, "Contracts"). Parsing
//! is a pure function of a lookup so tests never touch the process
//! environment, and every failure names the variable at fault. This module
//! holds only what every function shares; each source reads its own
//! settings in its own module (`source/<provider>/config.rs`) with the
//! [`Settings`] helpers of `crate::settings`.

use std::time::Duration;

pub use crate::settings::{ConfigError, FromSettings, Settings};
use crate::sink::StreamRef;

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

/// Everything the readers (the API and the contact flow) need, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderConfig {
    pub table: String,
    /// The poller's interval: bounds `Cache-Control: max-age`.
    pub poll_interval: Duration,
    /// A snapshot older than this is stale (default three poll intervals).
    pub stale_after: Duration,
    pub history_retention_hours: u64,
    /// Bound on one store read, retries included.
    pub read_timeout: Duration,
    /// Where the wallboard signs its viewers in; `None` when the API is
    /// open (locally) or authorized some other way.
    pub sign_in: Option<SignIn>,
}

/// A Cognito hosted UI (or any OAuth 2.0 server with the same endpoints)
/// that the wallboard signs in with: authorization code flow with PKCE,
/// a public client, no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignIn {
    /// `https://host` of the hosted UI; `/oauth2/authorize`,
    /// `/oauth2/token` and `/logout` are appended.
    pub url: String,
    pub client_id: String,
}

impl SignIn {
    /// `WALLBOARD_SIGN_IN_URL` and `WALLBOARD_CLIENT_ID`: both or neither.
    fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let url = settings.base_url("WALLBOARD_SIGN_IN_URL")?;
        let client_id = settings.optional("WALLBOARD_CLIENT_ID");
        match (url, client_id) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::new(
                "WALLBOARD_CLIENT_ID",
                "is required with WALLBOARD_SIGN_IN_URL",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "WALLBOARD_SIGN_IN_URL",
                "is required with WALLBOARD_CLIENT_ID",
            )),
            (Some(url), Some(client_id)) => {
                // Tokens travel to this host: only a loopback test server
                // may go without TLS.
                let loopback = url.strip_prefix("http://").is_some_and(|host_port| {
                    ["localhost", "127.0.0.1", "[::1]"].iter().any(|host| {
                        host_port
                            .strip_prefix(host)
                            .is_some_and(|port| port.is_empty() || port.starts_with(':'))
                    })
                });
                if !url.starts_with("https://") && !loopback {
                    return Err(ConfigError::new(
                        "WALLBOARD_SIGN_IN_URL",
                        format!("must be an https:// URL, not {url:?}"),
                    ));
                }
                // It also goes into the page's Content-Security-Policy.
                if !url
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:/[]".contains(c))
                {
                    return Err(ConfigError::new(
                        "WALLBOARD_SIGN_IN_URL",
                        format!("must be a plain https://host URL, not {url:?}"),
                    ));
                }
                // It is written into the page: keep it to what an app
                // client id is.
                if client_id.len() > 128
                    || !client_id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(ConfigError::new(
                        "WALLBOARD_CLIENT_ID",
                        "must be an app client id (letters, digits, - and _)",
                    ));
                }
                Ok(Some(Self { url, client_id }))
            }
        }
    }
}

impl FromSettings for ReaderConfig {
    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
        let table = settings.required("SNAPSHOT_TABLE")?;
        let poll_interval = settings.integer("POLL_INTERVAL_SECONDS", 10, 1..=900)?;
        let stale_after = settings.integer("STALE_AFTER_SECONDS", 3 * poll_interval, 1..=86_400)?;
        let history_retention_hours =
            settings.integer("HISTORY_RETENTION_HOURS", 24, 1..=24 * 90)?;
        let read_timeout_ms = settings.integer("READ_TIMEOUT_MS", 2_000, 50..=7_000)?;
        Ok(Self {
            table,
            poll_interval: Duration::from_secs(poll_interval),
            stale_after: Duration::from_secs(stale_after),
            history_retention_hours,
            read_timeout: Duration::from_millis(read_timeout_ms),
            sign_in: SignIn::from_settings(settings)?,
        })
    }
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    fn reader(pairs: &[(&str, &str)]) -> Result<ReaderConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ReaderConfig::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn stale_after_defaults_to_three_poll_intervals() {
        let config = reader(&[("SNAPSHOT_TABLE", "t"), ("POLL_INTERVAL_SECONDS", "20")]).unwrap();
        assert_eq!(config.stale_after, Duration::from_secs(60));
        let config = reader(&[("SNAPSHOT_TABLE", "t"), ("STALE_AFTER_SECONDS", "5")]).unwrap();
        assert_eq!(config.stale_after, Duration::from_secs(5));
    }

    #[test]
    fn readers_name_what_is_wrong() {
        assert_eq!(reader(&[]).unwrap_err().name, "SNAPSHOT_TABLE");
        let err = reader(&[("SNAPSHOT_TABLE", "t"), ("STALE_AFTER_SECONDS", "0")]).unwrap_err();
        assert_eq!(err.name, "STALE_AFTER_SECONDS");
        let err = reader(&[("SNAPSHOT_TABLE", "t"), ("READ_TIMEOUT_MS", "9000")]).unwrap_err();
        assert_eq!(err.name, "READ_TIMEOUT_MS");
    }

    #[test]
    fn the_wallboard_signs_in_only_with_both_settings_and_over_tls() {
        let url = (
            "WALLBOARD_SIGN_IN_URL",
            "https://qs.auth.eu-west-2.amazoncognito.com/",
        );
        let client = ("WALLBOARD_CLIENT_ID", "4lh2d1k8s0m3q5r7t9v1x3z5b7");
        assert_eq!(reader(&[("SNAPSHOT_TABLE", "t")]).unwrap().sign_in, None);
        let sign_in = reader(&[("SNAPSHOT_TABLE", "t"), url, client])
            .unwrap()
            .sign_in
            .unwrap();
        assert_eq!(sign_in.url, "https://qs.auth.eu-west-2.amazoncognito.com");
        assert_eq!(sign_in.client_id, client.1);
        let only_url = reader(&[("SNAPSHOT_TABLE", "t"), url]).unwrap_err();
        assert_eq!(only_url.name, "WALLBOARD_CLIENT_ID");
        let only_client = reader(&[("SNAPSHOT_TABLE", "t"), client]).unwrap_err();
        assert_eq!(only_client.name, "WALLBOARD_SIGN_IN_URL");
        let plain = ("WALLBOARD_SIGN_IN_URL", "http://auth.example.com");
        let err = reader(&[("SNAPSHOT_TABLE", "t"), plain, client]).unwrap_err();
        assert!(err.problem.contains("https"), "{err}");
        let loopback = ("WALLBOARD_SIGN_IN_URL", "http://127.0.0.1:9000");
        assert!(reader(&[("SNAPSHOT_TABLE", "t"), loopback, client]).is_ok());
        let lookalike = ("WALLBOARD_SIGN_IN_URL", "http://localhost.example.com");
        assert!(reader(&[("SNAPSHOT_TABLE", "t"), lookalike, client]).is_err());
        let injected = ("WALLBOARD_SIGN_IN_URL", "https://a.example.com;script-src");
        assert!(reader(&[("SNAPSHOT_TABLE", "t"), injected, client]).is_err());
        let quote = ("WALLBOARD_CLIENT_ID", "abc\"<script>");
        let err = reader(&[("SNAPSHOT_TABLE", "t"), url, quote]).unwrap_err();
        assert_eq!(err.name, "WALLBOARD_CLIENT_ID");
    }
}
