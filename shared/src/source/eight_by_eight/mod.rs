//! 8x8 Work Analytics' call-queue metrics as a [`QueueSource`].
//!
//! Auth is a bearer token from `POST {base}/v1/oauth/token` (the API key as
//! the `8x8-apikey` header, a Work Analytics user's name and password as a
//! form), reused until a minute before it expires. A 401 from a data call
//! gets one new token and one retry; a rejected login reads the credentials
//! secret again once, since they may have rotated. The API key, the
//! password and the token are [`SecretValue`]s and sensitive headers: they
//! never reach a log.

mod config;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use tokio::sync::Mutex;

pub use config::{EightByEightConfig, Endpoint};

use crate::model::{DeliveryProvider, QueueStats, SourceName};
use crate::secrets::{CachedSecret, SecretError, SecretValue};
use crate::source::token::BearerToken;
use crate::source::{QueueSource, SourceError, http};

/// The API key header, as 8x8 documents it.
pub const API_KEY_HEADER: &str = "8x8-apikey";

/// The credentials secret's JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsJson {
    api_key: String,
    username: String,
    password: String,
}

struct Credentials {
    raw: SecretValue,
    api_key: SecretValue,
    username: String,
    password: SecretValue,
}

impl Credentials {
    fn parse(raw: SecretValue, secret_id: &str) -> Result<Self, SourceError> {
        // serde's message could quote the value: keep only its position.
        let json: CredentialsJson = serde_json::from_str(raw.expose()).map_err(|err| {
            SourceError::Secret(SecretError::Service {
                secret_id: secret_id.to_owned(),
                message: format!(
                    "is not JSON {{\"apiKey\", \"username\", \"password\"}} (line {}, column {})",
                    err.line(),
                    err.column()
                ),
            })
        })?;
        Ok(Self {
            raw,
            api_key: SecretValue::new(json.api_key),
            username: json.username,
            password: SecretValue::new(json.password),
        })
    }
}

pub struct EightByEightSource {
    http: reqwest::Client,
    config: EightByEightConfig,
    credentials: Arc<CachedSecret>,
    token: Mutex<Option<BearerToken>>,
    data_url: String,
    token_url: String,
}

fn sensitive(value: &SecretValue) -> Result<HeaderValue, SourceError> {
    let mut header = HeaderValue::from_str(value.expose())
        .map_err(|_| SourceError::malformed("a credential is not a valid header value"))?;
    // Keeps it out of reqwest's and hyper's debug output.
    header.set_sensitive(true);
    Ok(header)
}

impl EightByEightSource {
    pub fn new(
        config: EightByEightConfig,
        credentials: Arc<CachedSecret>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        let base = &config.base_url;
        let data_url = match config.endpoint {
            Endpoint::CallQueueMetrics => {
                format!("{base}/v2/pbxes/{}/call-queue-metrics", config.pbx_id)
            }
            Endpoint::Realtime => {
                format!("{base}/v2/call-queues/real-time/pbxes/{}", config.pbx_id)
            }
        };
        Ok(Self {
            http,
            token_url: format!("{base}/v1/oauth/token"),
            data_url,
            config,
            credentials,
            token: Mutex::new(None),
        })
    }

    async fn credentials(&self) -> Result<Credentials, SourceError> {
        let raw = self.credentials.get().await?;
        Credentials::parse(raw, &self.config.secret_id)
    }

    /// A login: the token, or the status 8x8 rejected it with.
    async fn login(&self, creds: &Credentials) -> Result<Result<BearerToken, u16>, SourceError> {
        let response = self
            .http
            .post(&self.token_url)
            .header(API_KEY_HEADER, sensitive(&creds.api_key)?)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("username", creds.username.as_str()),
                ("password", creds.password.expose()),
            ])
            .send()
            .await
            .map_err(|err| http::request_error(err, self.config.request_timeout))?;
        let status = response.status();
        // 8x8 answers a wrong user or password with 400 invalid_grant, a
        // wrong API key with 401.
        if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED {
            return Ok(Err(status.as_u16()));
        }
        let body = http::read_body(response, self.config.request_timeout).await?;
        self.check_status(status, &body, creds)?;
        Ok(Ok(BearerToken::from_body(&body)?))
    }

    /// A token good for a minute more: the cached one, or a new login.
    /// `rejected` is a token 8x8 just refused, never to be reused.
    async fn token(
        &self,
        creds: &mut Credentials,
        rejected: Option<&SecretValue>,
    ) -> Result<SecretValue, SourceError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref()
            && token.usable(rejected)
        {
            return Ok(token.value.clone());
        }
        *slot = None;
        let token = match self.login(creds).await? {
            Ok(token) => token,
            Err(status) => {
                // The credentials may have rotated: read them again, once.
                tracing::info!(
                    status,
                    "8x8 rejected the login; reading the credentials again"
                );
                let raw = self.credentials.refresh(&creds.raw).await?;
                *creds = Credentials::parse(raw, &self.config.secret_id)?;
                match self.login(creds).await? {
                    Ok(token) => token,
                    Err(status) => return Err(SourceError::Unauthorized { status }),
                }
            }
        };
        let value = token.value.clone();
        *slot = Some(token);
        Ok(value)
    }

    async fn get_data(
        &self,
        creds: &Credentials,
        token: &SecretValue,
    ) -> Result<reqwest::Response, SourceError> {
        let bearer = SecretValue::new(format!("Bearer {}", token.expose()));
        let mut query: Vec<(&str, String)> = Vec::new();
        if !self.config.site_ids.is_empty() {
            query.push(("siteIds", self.config.site_ids.join(",")));
        }
        if !self.config.queue_ids.is_empty() {
            query.push(("queueIds", self.config.queue_ids.join(",")));
        }
        query.push(("includeSummary", "false".to_owned()));
        self.http
            .get(&self.data_url)
            .query(&query)
            .header(API_KEY_HEADER, sensitive(&creds.api_key)?)
            .header(reqwest::header::AUTHORIZATION, sensitive(&bearer)?)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| http::request_error(err, self.config.request_timeout))
    }

    fn check_status(
        &self,
        status: StatusCode,
        body: &[u8],
        creds: &Credentials,
    ) -> Result<(), SourceError> {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(SourceError::Throttled {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(SourceError::UpstreamStatus {
                status: status.as_u16(),
                detail: http::error_detail(body, &[&creds.api_key, &creds.password]),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl QueueSource for EightByEightSource {
    fn name(&self) -> SourceName {
        SourceName::EightByEight
    }

    fn reports_directly(&self) -> Option<DeliveryProvider> {
        Some(DeliveryProvider::EightByEight)
    }

    async fn fetch_queues(&self) -> Result<Vec<QueueStats>, SourceError> {
        let mut creds = self.credentials().await?;
        let mut token = self.token(&mut creds, None).await?;
        let mut response = self.get_data(&creds, &token).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // The token expired or was revoked early: one new one, one retry.
            tracing::info!("8x8 rejected the token; renewing it");
            token = self.token(&mut creds, Some(&token)).await?;
            response = self.get_data(&creds, &token).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                return Err(SourceError::Unauthorized { status: 401 });
            }
        }
        let status = response.status();
        let body = http::read_body(response, self.config.request_timeout).await?;
        self.check_status(status, &body, &creds)?;
        wire::parse_queues(self.config.endpoint, &body)
            .map_err(|err| SourceError::malformed_by(err.to_string(), err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_that_is_not_the_json_never_echoes_it() {
        let Err(err) = Credentials::parse(SecretValue::new("hunter2-plain"), "id") else {
            panic!("not JSON")
        };
        assert!(!err.to_string().contains("hunter2"));
        assert_eq!(err.code(), "SECRET_UNAVAILABLE");
    }
}
