//! The Symbee Connect Realtime Queue Statistics API as a [`QueueSource`].
//!
//! One POST returns every skill queue (and, on request, the Amazon Connect
//! queues). Authentication is five `X-sc-*` headers, one of which is an API
//! key from Secrets Manager that Symbee rotates: on 401/403 we fetch the key
//! again and retry exactly once, so a rotation costs one extra request and
//! never a failed poll.

mod config;
mod region;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;

pub use config::SymbeeConfig;
pub use region::{RETRIEVE_QUEUE_INFO_PATH, SymbeeRegion};

use crate::model::{QueueStats, SourceName};
use crate::secrets::{CachedSecret, SecretValue};
use crate::source::{QueueSource, SourceError, http};

/// The header names, as the API documents them.
pub mod headers {
    pub const PLATFORM_CODE: &str = "X-sc-platform-code";
    pub const COMPANY_CODE: &str = "X-sc-company-code";
    pub const ENVIRONMENT: &str = "X-sc-company-environment";
    pub const SECRETS_REGION: &str = "X-sc-secrets-region";
    pub const API_KEY: &str = "X-sc-company-api-key";
}

pub struct SymbeeSource {
    http: reqwest::Client,
    endpoint: String,
    config: SymbeeConfig,
    api_key: Arc<CachedSecret>,
    /// The request body never changes between polls: serialized once,
    /// cloned per request by reference count.
    body: bytes::Bytes,
}

impl SymbeeSource {
    pub fn new(config: SymbeeConfig, api_key: Arc<CachedSecret>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        let endpoint = config.region.endpoint(config.base_url.as_deref());
        let request = wire::RetrieveQueueInfoRequest {
            tenant: wire::TenantPayload {
                platform_code: wire::PLATFORM_CODE,
                company_code: &config.tenant.company_code,
                environment: &config.tenant.environment,
            },
            include_amazon_queues: config.include_amazon_queues,
            queues_interested: config
                .queue_ids
                .iter()
                .map(|queue_id| wire::QueueRef { queue_id })
                .collect(),
        };
        let body = serde_json::to_vec(&request)
            .expect("a request of strings and booleans always serializes")
            .into();
        Ok(Self {
            http,
            endpoint,
            config,
            api_key,
            body,
        })
    }

    /// The URL this source posts to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn post(&self, key: &SecretValue) -> Result<reqwest::Response, SourceError> {
        let tenant = &self.config.tenant;
        let mut key_header =
            reqwest::header::HeaderValue::from_str(key.expose()).map_err(|_| {
                SourceError::malformed("the API key in Secrets Manager is not a valid header value")
            })?;
        // Keeps the key out of reqwest's and hyper's debug output.
        key_header.set_sensitive(true);
        self.http
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .header(headers::PLATFORM_CODE, wire::PLATFORM_CODE)
            .header(headers::COMPANY_CODE, &tenant.company_code)
            .header(headers::ENVIRONMENT, &tenant.environment)
            .header(headers::SECRETS_REGION, &self.config.secrets_region)
            .header(headers::API_KEY, key_header)
            .body(self.body.clone())
            .send()
            .await
            .map_err(|err| http::request_error(err, self.config.request_timeout))
    }
}

fn is_auth_failure(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

#[async_trait]
impl QueueSource for SymbeeSource {
    fn name(&self) -> SourceName {
        SourceName::Symbee
    }

    async fn fetch_queues(&self) -> Result<Vec<QueueStats>, SourceError> {
        let mut key = self.api_key.get().await?;
        let mut response = self.post(&key).await?;
        if is_auth_failure(response.status()) {
            // The key has probably rotated since we cached it: one fresh
            // fetch, one retry, and no more (a wrong key must not hammer).
            tracing::info!(
                status = response.status().as_u16(),
                "symbee rejected the cached API key; fetching it again"
            );
            key = self.api_key.refresh(&key).await?;
            response = self.post(&key).await?;
        }
        let status = response.status();
        if is_auth_failure(status) {
            return Err(SourceError::Unauthorized {
                status: status.as_u16(),
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(SourceError::Throttled {
                status: status.as_u16(),
            });
        }
        let body = http::read_body(response, self.config.request_timeout).await?;
        if !status.is_success() {
            return Err(SourceError::UpstreamStatus {
                status: status.as_u16(),
                detail: http::error_detail(&body, &[&key]),
            });
        }
        wire::parse_response(&body).map_err(|err| SourceError::malformed_by(err.to_string(), err))
    }
}
