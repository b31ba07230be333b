//! The Clarity Connect source's settings (`CLARITY_*`), read and validated
//! at cold start.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::model::SourceName;
use crate::source::{BuildError, QueueSource, SourceConfig, SourceDeps};

use super::ClaritySource;
use super::wire::Modality;

/// How long the service account's credentials are trusted before they are
/// read again; a rejected Windows login reads them at once anyway.
const CREDENTIALS_TTL: Duration = Duration::from_secs(15 * 60);

/// Settings of the Clarity source (on when `CLARITY_BASE_URL` is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClarityConfig {
    /// `scheme://host[:port]` of the load-balanced web services host.
    pub base_url: String,
    /// The API client GUID from Clarity's API Management.
    pub client_id: String,
    /// A secret whose SecretString is `{"username": "DOMAIN\\user", "password"}`.
    pub secret_id: String,
    /// Where that secret lives; `None` = the function's own region.
    pub secrets_region: Option<String>,
    /// Clarity's numeric queue ids; empty = every queue the account may see.
    pub queue_ids: Vec<String>,
    pub modalities: Vec<Modality>,
    /// The SignalR endpoint (`{base}/signalr` unless set).
    pub signalr_url: String,
    /// The hub the subscription pushes arrive on, and its client method.
    /// Settings because the API document names neither.
    pub hub: String,
    pub method: String,
    /// Bound on one HTTP request, one WebSocket handshake, and the wait for
    /// a new subscription's first state (`CLARITY_TIMEOUT_MS`).
    pub request_timeout: Duration,
}

impl ClarityConfig {
    pub const SWITCH: &'static str = "CLARITY_BASE_URL";
    pub const DEFAULT_SECRET_ID: &'static str = "CLARITY_CONNECT_SERVICE_ACCOUNT";
    pub const DEFAULT_HUB: &'static str = "subscriptionHub";
    pub const DEFAULT_METHOD: &'static str = "update";

    /// `None` when the source is off (no base URL).
    pub fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(base_url) = settings.base_url(Self::SWITCH)? else {
            return Ok(None);
        };
        let client_id = settings.required("CLARITY_CLIENT_ID")?;
        if !client_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '{' || c == '}')
        {
            return Err(ConfigError::new(
                "CLARITY_CLIENT_ID",
                "must be the API client's GUID from Clarity's API Management",
            ));
        }
        let secrets_region = match settings.optional("CLARITY_SECRETS_REGION") {
            Some(_) => Some(settings.aws_region("CLARITY_SECRETS_REGION", String::new)?),
            None => None,
        };
        let queue_ids = settings.list("CLARITY_QUEUE_IDS");
        if let Some(bad) = queue_ids.iter().find(|id| id.parse::<u64>().is_err()) {
            return Err(ConfigError::new(
                "CLARITY_QUEUE_IDS",
                format!("must be Clarity's numeric queue ids, not {bad:?}"),
            ));
        }
        let modalities = match settings.list("CLARITY_MODALITIES") {
            names if names.is_empty() => Modality::ALL.to_vec(),
            names => {
                let mut modalities = Vec::new();
                for name in names {
                    let modality = Modality::parse(&name).ok_or_else(|| {
                        ConfigError::new(
                            "CLARITY_MODALITIES",
                            format!("must list audio, message or instantMessage, not {name:?}"),
                        )
                    })?;
                    if !modalities.contains(&modality) {
                        modalities.push(modality);
                    }
                }
                modalities
            }
        };
        let signalr_url = settings
            .url_with_path("CLARITY_SIGNALR_URL")?
            .unwrap_or_else(|| format!("{base_url}/signalr"));
        let name = |setting: &'static str, default: &str| -> Result<String, ConfigError> {
            let value = settings
                .optional(setting)
                .unwrap_or_else(|| default.to_owned());
            if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::new(
                    setting,
                    format!("must be a SignalR name (letters, digits, _), not {value:?}"),
                ));
            }
            Ok(value)
        };
        let timeout_ms = settings.integer("CLARITY_TIMEOUT_MS", 5_000, 100..=60_000)?;
        Ok(Some(Self {
            client_id,
            secret_id: settings
                .optional("CLARITY_SECRET_ID")
                .unwrap_or_else(|| Self::DEFAULT_SECRET_ID.to_owned()),
            secrets_region,
            queue_ids,
            modalities,
            signalr_url,
            hub: name("CLARITY_SIGNALR_HUB", Self::DEFAULT_HUB)?,
            method: name("CLARITY_SIGNALR_METHOD", Self::DEFAULT_METHOD)?,
            request_timeout: Duration::from_millis(timeout_ms),
            base_url,
        }))
    }
}

impl SourceConfig for ClarityConfig {
    fn name(&self) -> SourceName {
        SourceName::Clarity
    }

    /// A cycle with a live subscription only reads memory. The worst one
    /// reopens it: the secret, Info, a token with its three NTLM legs (and
    /// again after the secret is read once more), the queue list,
    /// negotiate, the socket, start, the subscription and its first state.
    fn cycle_budget(&self) -> Duration {
        self.request_timeout * 12 + Duration::from_secs(2)
    }

    fn build(&self, deps: &SourceDeps) -> Result<Arc<dyn QueueSource>, BuildError> {
        let credentials = deps.cached_secret(
            self.secrets_region.as_deref(),
            &self.secret_id,
            CREDENTIALS_TTL,
        );
        Ok(Arc::new(ClaritySource::new(self.clone(), credentials)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clarity(pairs: &[(&str, &str)]) -> Result<Option<ClarityConfig>, ConfigError> {
        let mut all = vec![
            ("CLARITY_BASE_URL", "https://connect.customer.com"),
            ("CLARITY_CLIENT_ID", "0224C392-3845-4AC0-B1A0-D63706181BA7"),
        ];
        all.extend_from_slice(pairs);
        ClarityConfig::from_settings(&Settings::from_pairs(&all))
    }

    #[test]
    fn defaults_fill_in_everything_optional() {
        let config = clarity(&[]).unwrap().unwrap();
        assert_eq!(config.secret_id, "CLARITY_CONNECT_SERVICE_ACCOUNT");
        assert_eq!(config.signalr_url, "https://connect.customer.com/signalr");
        assert_eq!(config.hub, "subscriptionHub");
        assert_eq!(config.method, "update");
        assert_eq!(config.modalities, Modality::ALL.to_vec());
        assert!(config.queue_ids.is_empty());
        assert_eq!(config.request_timeout, Duration::from_secs(5));
    }

    #[test]
    fn off_without_a_base_url() {
        let off = ClarityConfig::from_settings(&Settings::from_pairs(&[(
            "CLARITY_CLIENT_ID",
            "0224C392",
        )]))
        .unwrap();
        assert_eq!(off, None);
    }

    #[test]
    fn each_invalid_setting_is_named() {
        for (name, value) in [
            ("CLARITY_BASE_URL", "connect.customer.com"),
            ("CLARITY_BASE_URL", "https://connect.customer.com/webapi"),
            ("CLARITY_CLIENT_ID", ""),
            ("CLARITY_CLIENT_ID", "not a guid"),
            ("CLARITY_QUEUE_IDS", "201,sales"),
            ("CLARITY_MODALITIES", "audio,fax"),
            ("CLARITY_SIGNALR_URL", "wss://connect/signalr"),
            ("CLARITY_SIGNALR_HUB", "hub name"),
            ("CLARITY_SECRETS_REGION", "nowhere"),
            ("CLARITY_TIMEOUT_MS", "5"),
        ] {
            assert_eq!(clarity(&[(name, value)]).unwrap_err().name, name, "{value}");
        }
    }

    #[test]
    fn lists_and_overrides_parse() {
        let config = clarity(&[
            ("CLARITY_QUEUE_IDS", " 201, ,202 "),
            ("CLARITY_MODALITIES", "instantMessage,audio,audio"),
            (
                "CLARITY_SIGNALR_URL",
                "https://push.customer.com/connect/signalr/",
            ),
            ("CLARITY_SIGNALR_HUB", "queueHub"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.queue_ids, vec!["201", "202"]);
        assert_eq!(
            config.modalities,
            vec![Modality::InstantMessage, Modality::Audio]
        );
        assert_eq!(
            config.signalr_url,
            "https://push.customer.com/connect/signalr"
        );
        assert_eq!(config.hub, "queueHub");
    }
}
