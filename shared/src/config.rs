//! Typed configuration, read once at cold start.
//!
//! Every setting is an environment variable (DESIGN.md, "Contracts"). Parsing
//! is a pure function of a lookup so tests never touch the process
//! environment, and every failure names the variable at fault.

use std::time::Duration;

use thiserror::Error;

use crate::source::symbee::SymbeeRegion;

/// A setting that is missing or does not parse. The message names the variable.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self {
            name,
            problem: problem.into(),
        }
    }
}

/// A function from a variable's name to its value.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads settings through a lookup function (`std::env::var` in production).
pub struct Settings<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Settings<'a> {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    pub fn from_env() -> Settings<'static> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// The trimmed value, with an empty value treated as unset.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name)
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    pub fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::new(
                name,
                format!("must be true or false, not {other:?}"),
            )),
        }
    }

    pub fn integer(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let Some(text) = self.optional(name) else {
            return Ok(default);
        };
        let value: u64 = text
            .parse()
            .map_err(|_| ConfigError::new(name, format!("must be a whole number, not {text:?}")))?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                name,
                format!(
                    "must be from {} to {}, not {value}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(value)
    }

    pub fn decimal(
        &self,
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64, ConfigError> {
        let Some(text) = self.optional(name) else {
            return Ok(default);
        };
        let value: f64 = text
            .parse()
            .map_err(|_| ConfigError::new(name, format!("must be a number, not {text:?}")))?;
        if !(min..=max).contains(&value) {
            return Err(ConfigError::new(
                name,
                format!("must be from {min} to {max}, not {value}"),
            ));
        }
        Ok(value)
    }

    /// A comma-separated list; blanks between commas are dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|text| {
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A configuration read from settings: from the process environment at
/// cold start, or from any lookup in tests.
pub trait FromSettings: Sized {
    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError>;

    fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::from_env())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::from_lookup(lookup))
    }
}

/// The Symbee tenant: who we are when we call Symbee and whose records we emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub company_code: String,
    pub environment: String,
}

/// Settings of the Symbee source (on when `SYMBEE_COMPANY_CODE` is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbeeConfig {
    pub tenant: Tenant,
    pub region: SymbeeRegion,
    /// Region of the Secrets Manager that holds the API key; also sent as
    /// the `X-sc-secrets-region` header.
    pub secrets_region: String,
    pub api_key_secret_id: String,
    pub include_amazon_queues: bool,
    pub queue_ids: Vec<String>,
    /// `scheme://host[:port]` replacing the regional host (local stand-ins).
    pub base_url: Option<String>,
    pub timeout: Duration,
}

impl SymbeeConfig {
    pub const DEFAULT_SECRET_ID: &'static str = "SYMBEE_CONNECT_API_KEY";

    /// `None` when the source is off (no company code).
    pub fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(company_code) = settings.optional("SYMBEE_COMPANY_CODE") else {
            return Ok(None);
        };
        let environment = settings.required("SYMBEE_ENVIRONMENT")?;
        let region_text = settings.optional("SYMBEE_REGION").unwrap_or_default();
        let region = SymbeeRegion::parse(&region_text)
            .map_err(|problem| ConfigError::new("SYMBEE_REGION", problem))?;
        let secrets_region = settings
            .optional("SYMBEE_SECRETS_REGION")
            .unwrap_or_else(|| region.aws_region().to_owned());
        if !looks_like_aws_region(&secrets_region) {
            return Err(ConfigError::new(
                "SYMBEE_SECRETS_REGION",
                format!("must be an AWS Region such as us-east-1, not {secrets_region:?}"),
            ));
        }
        let base_url = settings
            .optional("SYMBEE_BASE_URL")
            .map(|url| validate_base_url(&url))
            .transpose()
            .map_err(|problem| ConfigError::new("SYMBEE_BASE_URL", problem))?;
        let timeout_ms = settings.integer("SYMBEE_TIMEOUT_MS", 5_000, 100..=60_000)?;
        Ok(Some(Self {
            tenant: Tenant {
                company_code,
                environment,
            },
            region,
            secrets_region,
            api_key_secret_id: settings
                .optional("SYMBEE_API_KEY_SECRET_ID")
                .unwrap_or_else(|| Self::DEFAULT_SECRET_ID.to_owned()),
            include_amazon_queues: settings.boolean("SYMBEE_INCLUDE_AMAZON_QUEUES", true)?,
            queue_ids: settings.list("SYMBEE_QUEUE_IDS"),
            base_url,
            timeout: Duration::from_millis(timeout_ms),
        }))
    }
}

fn looks_like_aws_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// Accepts `scheme://host[:port]` (the path is ours to append), trimming a
/// trailing slash.
fn validate_base_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("must start with http:// or https://, not {url:?}"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "must be scheme://host[:port] with no path, not {url:?}"
        ));
    }
    Ok(trimmed.to_owned())
}

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
    /// Upper bound on one cycle of this source.
    pub timeout: Duration,
}

impl ConnectConfig {
    /// The thresholds Connect accepts for SERVICE_LEVEL.
    pub const ALLOWED_THRESHOLDS: [u32; 12] = [15, 20, 25, 30, 45, 60, 90, 120, 180, 240, 300, 600];

    pub fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(instance) = settings.optional("CONNECT_INSTANCE_ID") else {
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
            timeout: Duration::from_secs(settings.integer(
                "CONNECT_TIMEOUT_SECONDS",
                45,
                1..=900,
            )?),
        }))
    }
}

/// A Kinesis stream, named either way the API accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamRef {
    Name(String),
    Arn(String),
}

impl StreamRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("arn:") {
            let parts: Vec<&str> = text.splitn(6, ':').collect();
            let valid = parts.len() == 6
                && parts[2] == "kinesis"
                && parts[5]
                    .strip_prefix("stream/")
                    .is_some_and(|n| !n.is_empty());
            if !valid {
                return Err(format!(
                    "must be a stream name or arn:aws:kinesis:REGION:ACCOUNT:stream/NAME, not {text:?}"
                ));
            }
            return Ok(Self::Arn(text.to_owned()));
        }
        let valid_name = text.len() <= 128
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_name {
            return Err(format!(
                "must be a stream name (letters, digits, _ . -, at most 128) or an ARN, not {text:?}"
            ));
        }
        Ok(Self::Name(text.to_owned()))
    }
}

/// Everything the poller needs, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct PollerConfig {
    pub symbee: Option<SymbeeConfig>,
    pub connect: Option<ConnectConfig>,
    pub table: String,
    pub stream: StreamRef,
    pub poll_interval: Duration,
    pub history_retention_hours: u64,
    /// Time kept free at the end of an invocation, so the last cycle finishes.
    pub safety_margin: Duration,
    /// Upper bound on one cycle's writes (DynamoDB and Kinesis, retries included).
    pub write_timeout: Duration,
}

impl FromSettings for PollerConfig {
    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
        let symbee = SymbeeConfig::from_settings(settings)?;
        let connect = ConnectConfig::from_settings(settings)?;
        if symbee.is_none() && connect.is_none() {
            return Err(ConfigError::new(
                "SYMBEE_COMPANY_CODE",
                "no source is enabled: set SYMBEE_COMPANY_CODE (Symbee) or CONNECT_INSTANCE_ID (Amazon Connect)",
            ));
        }
        let table = settings.required("SNAPSHOT_TABLE")?;
        let stream = StreamRef::parse(&settings.required("SNAPSHOT_STREAM")?)
            .map_err(|problem| ConfigError::new("SNAPSHOT_STREAM", problem))?;
        let poll_interval = settings.integer("POLL_INTERVAL_SECONDS", 10, 1..=900)?;
        let history_retention_hours =
            settings.integer("HISTORY_RETENTION_HOURS", 24, 1..=24 * 90)?;
        let safety_margin_ms = settings.integer("POLL_SAFETY_MARGIN_MS", 1_000, 0..=60_000)?;
        let write_timeout_ms = settings.integer("WRITE_TIMEOUT_MS", 5_000, 100..=60_000)?;
        Ok(Self {
            symbee,
            connect,
            table,
            stream,
            poll_interval: Duration::from_secs(poll_interval),
            history_retention_hours,
            safety_margin: Duration::from_millis(safety_margin_ms),
            write_timeout: Duration::from_millis(write_timeout_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<PollerConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PollerConfig::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        ("SYMBEE_COMPANY_CODE", "abc-gadgets"),
        ("SYMBEE_ENVIRONMENT", "prod"),
        ("SNAPSHOT_TABLE", "snapshots"),
        ("SNAPSHOT_STREAM", "queue-stats"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs = BASE.to_vec();
        pairs.extend_from_slice(extra);
        pairs
    }

    #[test]
    fn defaults_fill_in_everything_optional() {
        let config = config(BASE).unwrap();
        let symbee = config.symbee.unwrap();
        assert_eq!(symbee.region, SymbeeRegion::UsEast1);
        assert_eq!(symbee.secrets_region, "us-east-1");
        assert_eq!(symbee.api_key_secret_id, "SYMBEE_CONNECT_API_KEY");
        assert!(symbee.include_amazon_queues);
        assert!(symbee.queue_ids.is_empty());
        assert_eq!(config.poll_interval, Duration::from_secs(10));
        assert_eq!(config.history_retention_hours, 24);
        assert_eq!(config.stream, StreamRef::Name("queue-stats".into()));
    }

    #[test]
    fn connect_alone_is_a_source_and_an_arn_gives_its_instance_id() {
        let config = config(&[
            (
                "CONNECT_INSTANCE_ID",
                "arn:aws:connect:us-east-1:123456789012:instance/abcd-1234",
            ),
            ("SNAPSHOT_TABLE", "t"),
            ("SNAPSHOT_STREAM", "s"),
            ("CONNECT_TIME_ZONE", "America/New_York"),
            ("CONNECT_SERVICE_LEVEL_THRESHOLDS", "15,600"),
        ])
        .unwrap();
        let connect = config.connect.unwrap();
        assert_eq!(connect.instance_id, "abcd-1234");
        assert_eq!(connect.service_level_thresholds, vec![15, 600]);
        assert_eq!(connect.time_zone, chrono_tz::America::New_York);
        assert!(config.symbee.is_none());
    }

    #[test]
    fn connect_settings_are_validated() {
        for (name, value) in [
            ("CONNECT_INSTANCE_ID", "not an id!"),
            ("CONNECT_TIME_ZONE", "Mars/Olympus"),
            ("CONNECT_SERVICE_LEVEL_THRESHOLDS", "17"),
            ("CONNECT_CHANNEL_BREAKDOWN", "maybe"),
            ("CONNECT_METRICS_RATE", "0"),
        ] {
            let mut pairs = vec![
                ("CONNECT_INSTANCE_ID", "abcd"),
                ("SNAPSHOT_TABLE", "t"),
                ("SNAPSHOT_STREAM", "s"),
            ];
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            assert_eq!(config(&pairs).unwrap_err().name, name, "{value}");
        }
    }

    #[test]
    fn no_source_fails_naming_the_settings() {
        let err = config(&[("SNAPSHOT_TABLE", "t"), ("SNAPSHOT_STREAM", "s")]).unwrap_err();
        assert!(err.to_string().contains("SYMBEE_COMPANY_CODE"));
        assert!(err.to_string().contains("CONNECT_INSTANCE_ID"));
    }

    #[test]
    fn each_invalid_setting_is_named() {
        let cases: &[(&str, &str)] = &[
            ("POLL_INTERVAL_SECONDS", "0"),
            ("POLL_INTERVAL_SECONDS", "901"),
            ("POLL_INTERVAL_SECONDS", "ten"),
            ("SYMBEE_INCLUDE_AMAZON_QUEUES", "yes"),
            ("SYMBEE_REGION", "mars-north-1"),
            ("SYMBEE_BASE_URL", "localhost:9443"),
            ("SYMBEE_BASE_URL", "http://127.0.0.1:9443/path"),
            ("SYMBEE_SECRETS_REGION", "nowhere"),
            ("SNAPSHOT_STREAM", "arn:aws:s3:::bucket"),
            ("HISTORY_RETENTION_HOURS", "0"),
        ];
        for (name, value) in cases {
            let err = config(&with(&[(name, value)])).unwrap_err();
            assert_eq!(&err.name, name, "{value}");
        }
        for missing in ["SYMBEE_ENVIRONMENT", "SNAPSHOT_TABLE", "SNAPSHOT_STREAM"] {
            let pairs: Vec<_> = BASE
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(config(&pairs).unwrap_err().name, missing);
        }
    }

    #[test]
    fn lists_urls_regions_and_arns_parse() {
        let config = config(&with(&[
            ("SYMBEE_QUEUE_IDS", " email-care, ,sms-care "),
            ("SYMBEE_BASE_URL", "http://127.0.0.1:9443/"),
            ("SYMBEE_REGION", "eu-west-2"),
            (
                "SNAPSHOT_STREAM",
                "arn:aws:kinesis:us-east-1:123456789012:stream/qs",
            ),
        ]))
        .unwrap();
        let symbee = config.symbee.unwrap();
        assert_eq!(symbee.queue_ids, vec!["email-care", "sms-care"]);
        assert_eq!(symbee.base_url.as_deref(), Some("http://127.0.0.1:9443"));
        assert_eq!(symbee.secrets_region, "eu-west-2");
        assert!(matches!(config.stream, StreamRef::Arn(_)));
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
}
