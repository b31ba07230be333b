//! The 8x8 Work Analytics source's settings (`EIGHTX8_*`), read and
//! validated at cold start.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::model::SourceName;
use crate::source::{BuildError, QueueSource, SourceConfig, SourceDeps};

use super::EightByEightSource;

/// How long the credentials are trusted before they are read again; a
/// rejected login reads them at once anyway.
const CREDENTIALS_TTL: Duration = Duration::from_secs(15 * 60);

/// Which 8x8 endpoint answers "the queues now".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET {base}/v2/pbxes/{pbxId}/call-queue-metrics` with no date range:
    /// its `ongoing*` metrics are the live ones. Durations in seconds.
    CallQueueMetrics,
    /// The deprecated `GET {base}/v2/call-queues/real-time/pbxes/{pbxId}`.
    /// Durations in milliseconds; queues have no id, only an extension.
    Realtime,
}

/// Settings of the 8x8 source (on when `EIGHTX8_PBX_ID` is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EightByEightConfig {
    pub pbx_id: String,
    /// A secret whose SecretString is `{"apiKey", "username", "password"}`.
    pub secret_id: String,
    /// Where that secret lives; `None` = the function's own region.
    pub secrets_region: Option<String>,
    /// `scheme://host[:port][/path]`; the versioned paths are appended.
    pub base_url: String,
    pub site_ids: Vec<String>,
    pub queue_ids: Vec<String>,
    pub endpoint: Endpoint,
    /// Bound on one HTTP request (`EIGHTX8_TIMEOUT_MS`). A poll makes one
    /// data request, plus a token request when the token is due.
    pub request_timeout: Duration,
}

impl EightByEightConfig {
    pub const SWITCH: &'static str = "EIGHTX8_PBX_ID";
    pub const DEFAULT_SECRET_ID: &'static str = "EIGHTX8_WORK_ANALYTICS";
    pub const DEFAULT_BASE_URL: &'static str = "https://api.8x8.com/analytics/work";

    /// `None` when the source is off (no PBX id).
    pub fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(pbx_id) = settings.optional(Self::SWITCH) else {
            return Ok(None);
        };
        if !pbx_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::new(
                Self::SWITCH,
                format!("must be 8x8's opaque PBX id (letters and digits), not {pbx_id:?}"),
            ));
        }
        let secrets_region = match settings.optional("EIGHTX8_SECRETS_REGION") {
            Some(_) => Some(settings.aws_region("EIGHTX8_SECRETS_REGION", String::new)?),
            None => None,
        };
        // 8x8's base URL carries a path (`/analytics/work`) to which the
        // versioned paths are appended.
        let base_url = settings
            .url_with_path("EIGHTX8_BASE_URL")?
            .unwrap_or_else(|| Self::DEFAULT_BASE_URL.to_owned());
        let endpoint = match settings.optional("EIGHTX8_ENDPOINT").as_deref() {
            None | Some("call-queue-metrics") => Endpoint::CallQueueMetrics,
            Some("realtime") => Endpoint::Realtime,
            Some(other) => {
                return Err(ConfigError::new(
                    "EIGHTX8_ENDPOINT",
                    format!("must be call-queue-metrics or realtime, not {other:?}"),
                ));
            }
        };
        let timeout_ms = settings.integer("EIGHTX8_TIMEOUT_MS", 5_000, 100..=60_000)?;
        Ok(Some(Self {
            pbx_id,
            secret_id: settings
                .optional("EIGHTX8_SECRET_ID")
                .unwrap_or_else(|| Self::DEFAULT_SECRET_ID.to_owned()),
            secrets_region,
            base_url,
            site_ids: settings.list("EIGHTX8_SITE_IDS"),
            queue_ids: settings.list("EIGHTX8_QUEUE_IDS"),
            endpoint,
            request_timeout: Duration::from_millis(timeout_ms),
        }))
    }
}

impl SourceConfig for EightByEightConfig {
    fn name(&self) -> SourceName {
        SourceName::EightByEight
    }

    /// A secret read, then at worst: a rejected login, a second login after
    /// the secret is read again, the data call, and a renewal and retry
    /// after a 401.
    fn cycle_budget(&self) -> Duration {
        self.request_timeout * 5 + Duration::from_secs(2)
    }

    fn build(&self, deps: &SourceDeps) -> Result<Arc<dyn QueueSource>, BuildError> {
        let credentials = deps.cached_secret(
            self.secrets_region.as_deref(),
            &self.secret_id,
            CREDENTIALS_TTL,
        );
        Ok(Arc::new(EightByEightSource::new(
            self.clone(),
            credentials,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eight(pairs: &[(&str, &str)]) -> Result<Option<EightByEightConfig>, ConfigError> {
        let mut all = vec![("EIGHTX8_PBX_ID", "smbw8a7jR2iMu7UcuRTsde")];
        all.extend_from_slice(pairs);
        EightByEightConfig::from_settings(&Settings::from_pairs(&all))
    }

    #[test]
    fn defaults_follow_the_design() {
        let config = eight(&[]).unwrap().unwrap();
        assert_eq!(config.secret_id, "EIGHTX8_WORK_ANALYTICS");
        assert_eq!(config.secrets_region, None);
        assert_eq!(config.base_url, "https://api.8x8.com/analytics/work");
        assert_eq!(config.endpoint, Endpoint::CallQueueMetrics);
        assert_eq!(config.request_timeout, Duration::from_secs(5));
        assert!(config.site_ids.is_empty() && config.queue_ids.is_empty());
    }

    #[test]
    fn off_without_a_pbx() {
        assert_eq!(eight(&[("EIGHTX8_PBX_ID", "")]).unwrap(), None);
    }

    #[test]
    fn settings_parse() {
        let config = eight(&[
            ("EIGHTX8_ENDPOINT", "realtime"),
            ("EIGHTX8_BASE_URL", "http://127.0.0.1:9000/"),
            ("EIGHTX8_SITE_IDS", "s1, s2"),
            ("EIGHTX8_QUEUE_IDS", "q1"),
            ("EIGHTX8_SECRETS_REGION", "eu-west-2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.endpoint, Endpoint::Realtime);
        assert_eq!(config.base_url, "http://127.0.0.1:9000");
        assert_eq!(config.site_ids, vec!["s1", "s2"]);
        assert_eq!(config.queue_ids, vec!["q1"]);
        assert_eq!(config.secrets_region.as_deref(), Some("eu-west-2"));
    }

    #[test]
    fn each_invalid_setting_is_named() {
        for (name, value) in [
            ("EIGHTX8_PBX_ID", "not/an id"),
            ("EIGHTX8_ENDPOINT", "live"),
            ("EIGHTX8_BASE_URL", "api.8x8.com"),
            ("EIGHTX8_BASE_URL", "https://api.8x8.com/x?y=1"),
            ("EIGHTX8_SECRETS_REGION", "nowhere"),
            ("EIGHTX8_TIMEOUT_MS", "0"),
        ] {
            assert_eq!(eight(&[(name, value)]).unwrap_err().name, name, "{value}");
        }
    }
}
