//! The Symbee source's settings (`SYMBEE_*`), read and validated at cold start.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::model::SourceName;
use crate::secrets::CachedSecret;
use crate::sink::Tenant;
use crate::source::{BuildError, QueueSource, SourceConfig, SourceDeps};

use super::{SymbeeRegion, SymbeeSource};

/// How long the Symbee key is trusted before it is read again (Symbee asks
/// for at most an hour).
const API_KEY_TTL: Duration = Duration::from_secs(15 * 60);

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
    /// Bound on one HTTP request (`SYMBEE_TIMEOUT_MS`). A poll makes one
    /// request, two when the key has rotated.
    pub request_timeout: Duration,
}

impl SymbeeConfig {
    pub const DEFAULT_SECRET_ID: &'static str = "SYMBEE_CONNECT_API_KEY";
    /// The setting that turns the source on.
    pub const SWITCH: &'static str = "SYMBEE_COMPANY_CODE";

    /// `None` when the source is off (no company code).
    pub fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(company_code) = settings.optional(Self::SWITCH) else {
            return Ok(None);
        };
        let environment = settings.required("SYMBEE_ENVIRONMENT")?;
        let region_text = settings.optional("SYMBEE_REGION").unwrap_or_default();
        let region = SymbeeRegion::parse(&region_text)
            .map_err(|problem| ConfigError::new("SYMBEE_REGION", problem))?;
        let secrets_region =
            settings.aws_region("SYMBEE_SECRETS_REGION", || region.aws_region().to_owned())?;
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
            base_url: settings.base_url("SYMBEE_BASE_URL")?,
            request_timeout: Duration::from_millis(timeout_ms),
        }))
    }
}

impl SourceConfig for SymbeeConfig {
    fn name(&self) -> SourceName {
        SourceName::Symbee
    }

    /// A rotation costs up to two requests and a secret read.
    fn cycle_budget(&self) -> Duration {
        self.request_timeout * 2 + Duration::from_secs(1)
    }

    fn tenant(&self) -> Option<Tenant> {
        Some(self.tenant.clone())
    }

    fn build(&self, deps: &SourceDeps) -> Result<Arc<dyn QueueSource>, BuildError> {
        let secrets = deps.secrets_in(&self.secrets_region);
        let key = CachedSecret::new(secrets, &self.api_key_secret_id, API_KEY_TTL);
        Ok(Arc::new(SymbeeSource::new(self.clone(), Arc::new(key))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbee(pairs: &[(&str, &str)]) -> Result<Option<SymbeeConfig>, ConfigError> {
        let mut all = vec![
            ("SYMBEE_COMPANY_CODE", "abc-gadgets"),
            ("SYMBEE_ENVIRONMENT", "prod"),
        ];
        all.extend_from_slice(pairs);
        SymbeeConfig::from_settings(&Settings::from_pairs(&all))
    }

    #[test]
    fn defaults_fill_in_everything_optional() {
        let symbee = symbee(&[]).unwrap().unwrap();
        assert_eq!(symbee.region, SymbeeRegion::UsEast1);
        assert_eq!(symbee.secrets_region, "us-east-1");
        assert_eq!(symbee.api_key_secret_id, "SYMBEE_CONNECT_API_KEY");
        assert!(symbee.include_amazon_queues);
        assert!(symbee.queue_ids.is_empty());
        assert_eq!(symbee.request_timeout, Duration::from_secs(5));
        assert_eq!(symbee.cycle_budget(), Duration::from_secs(11));
    }

    #[test]
    fn off_without_a_company_code() {
        assert_eq!(symbee(&[("SYMBEE_COMPANY_CODE", " ")]).unwrap(), None);
    }

    #[test]
    fn each_invalid_setting_is_named() {
        for (name, value) in [
            ("SYMBEE_INCLUDE_AMAZON_QUEUES", "yes"),
            ("SYMBEE_REGION", "mars-north-1"),
            ("SYMBEE_BASE_URL", "localhost:9443"),
            ("SYMBEE_BASE_URL", "http://127.0.0.1:9443/path"),
            ("SYMBEE_SECRETS_REGION", "nowhere"),
            ("SYMBEE_TIMEOUT_MS", "10"),
            ("SYMBEE_ENVIRONMENT", ""),
        ] {
            assert_eq!(symbee(&[(name, value)]).unwrap_err().name, name, "{value}");
        }
    }

    #[test]
    fn lists_urls_and_regions_parse() {
        let symbee = symbee(&[
            ("SYMBEE_QUEUE_IDS", " email-care, ,sms-care "),
            ("SYMBEE_BASE_URL", "http://127.0.0.1:9443/"),
            ("SYMBEE_REGION", "eu-west-2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(symbee.queue_ids, vec!["email-care", "sms-care"]);
        assert_eq!(symbee.base_url.as_deref(), Some("http://127.0.0.1:9443"));
        // The key lives beside the Symbee region unless told otherwise.
        assert_eq!(symbee.secrets_region, "eu-west-2");
    }
}
