//! API keys from Secrets Manager, cached briefly because they rotate.
//!
//! Symbee rotates its key and asks callers not to cache it for more than an
//! hour. [`CachedSecret`] holds a value for at most its TTL and can be told
//! to refetch at once when the upstream says the key is no longer valid.
//! The value is a [`SecretValue`], whose `Debug` and `Display` never print it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::Mutex;
// Tokio's clock, so tests can pause and advance time to prove the expiry.
use tokio::time::Instant;

/// A secret string that refuses to be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Arc<str>);

impl SecretValue {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("secret {secret_id:?} was not found")]
    NotFound { secret_id: String },
    #[error("secret {secret_id:?} has no SecretString")]
    NotAString { secret_id: String },
    #[error("Secrets Manager failed for {secret_id:?}: {message}")]
    Service { secret_id: String, message: String },
}

/// Reads the current value of a named secret.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn secret_string(&self, secret_id: &str) -> Result<SecretValue, SecretError>;
}

/// [`SecretSource`] backed by AWS Secrets Manager `GetSecretValue`.
#[derive(Clone, Debug)]
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }

    /// A client for `region`, which may differ from the function's own:
    /// Symbee's key lives in the Symbee *secrets region*.
    pub fn in_region(sdk_config: &aws_config::SdkConfig, region: &str) -> Self {
        let config = aws_sdk_secretsmanager::config::Builder::from(sdk_config)
            .region(aws_config::Region::new(region.to_owned()))
            .build();
        Self::new(aws_sdk_secretsmanager::Client::from_conf(config))
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn secret_string(&self, secret_id: &str) -> Result<SecretValue, SecretError> {
        use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|err| {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_resource_not_found_exception()) {
                    return SecretError::NotFound {
                        secret_id: secret_id.to_owned(),
                    };
                }
                // The error's code and message come from the service and never
                // echo the secret value; the Debug form of the raw response might.
                let message = match (err.code(), err.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.to_owned(),
                    _ => crate::aws::describe_error(&err),
                };
                SecretError::Service {
                    secret_id: secret_id.to_owned(),
                    message,
                }
            })?;
        output
            .secret_string()
            .map(SecretValue::new)
            .ok_or_else(|| SecretError::NotAString {
                secret_id: secret_id.to_owned(),
            })
    }
}

/// One secret, cached for at most `ttl`, refetched on demand.
pub struct CachedSecret {
    source: Arc<dyn SecretSource>,
    secret_id: String,
    ttl: Duration,
    cached: Mutex<Option<(SecretValue, Instant)>>,
    fetches: AtomicU64,
}

impl CachedSecret {
    /// Symbee's guidance: never keep the key longer than an hour.
    pub const MAX_TTL: Duration = Duration::from_secs(3600);

    pub fn new(source: Arc<dyn SecretSource>, secret_id: impl Into<String>, ttl: Duration) -> Self {
        Self {
            source,
            secret_id: secret_id.into(),
            ttl: ttl.min(Self::MAX_TTL),
            cached: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// The cached value, fetched first if absent or older than the TTL.
    pub async fn get(&self) -> Result<SecretValue, SecretError> {
        let mut cached = self.cached.lock().await;
        if let Some((value, fetched_at)) = cached.as_ref()
            && fetched_at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        self.fetch_into(&mut cached).await
    }

    /// Fetches anew unless `rejected` is no longer the cached value (another
    /// caller already refreshed it), so concurrent 401s cost one fetch.
    pub async fn refresh(&self, rejected: &SecretValue) -> Result<SecretValue, SecretError> {
        let mut cached = self.cached.lock().await;
        if let Some((value, _)) = cached.as_ref()
            && value != rejected
        {
            return Ok(value.clone());
        }
        self.fetch_into(&mut cached).await
    }

    /// How many times the secret was read from its source (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    async fn fetch_into(
        &self,
        slot: &mut Option<(SecretValue, Instant)>,
    ) -> Result<SecretValue, SecretError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let value = self.source.secret_string(&self.secret_id).await?;
        *slot = Some((value.clone(), Instant::now()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let secret = SecretValue::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn the_ttl_is_capped_at_an_hour() {
        struct Never;
        #[async_trait]
        impl SecretSource for Never {
            async fn secret_string(&self, _: &str) -> Result<SecretValue, SecretError> {
                unreachable!()
            }
        }
        let cached = CachedSecret::new(Arc::new(Never), "id", Duration::from_secs(86_400));
        assert_eq!(cached.ttl, CachedSecret::MAX_TTL);
    }

    /// Counts reads and hands out a new value each time.
    struct Versions(AtomicU64);

    #[async_trait]
    impl SecretSource for Versions {
        async fn secret_string(&self, _: &str) -> Result<SecretValue, SecretError> {
            let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            Ok(SecretValue::new(format!("v{n}")))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_value_is_reused_until_its_ttl_runs_out() {
        let cached = CachedSecret::new(
            Arc::new(Versions(AtomicU64::new(0))),
            "id",
            Duration::from_secs(900),
        );
        assert_eq!(cached.get().await.unwrap().expose(), "v1");
        tokio::time::advance(Duration::from_secs(899)).await;
        assert_eq!(cached.get().await.unwrap().expose(), "v1");
        assert_eq!(cached.fetch_count(), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cached.get().await.unwrap().expose(), "v2");
        assert_eq!(cached.fetch_count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_of_a_value_already_replaced_costs_nothing() {
        let cached = CachedSecret::new(
            Arc::new(Versions(AtomicU64::new(0))),
            "id",
            Duration::from_secs(900),
        );
        let first = cached.get().await.unwrap();
        assert_eq!(cached.refresh(&first).await.unwrap().expose(), "v2");
        // A second caller that saw v1 rejected gets v2 without a read.
        assert_eq!(cached.refresh(&first).await.unwrap().expose(), "v2");
        assert_eq!(cached.fetch_count(), 2);
    }
}
