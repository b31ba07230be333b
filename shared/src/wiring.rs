//! Builds each function's dependencies from configuration, once per cold start.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::config::{ConfigError, PollerConfig};
use crate::poller::{Pacing, Poller};
use crate::secrets::{CachedSecret, SecretsManagerSource};
use crate::sink::kinesis::KinesisSink;
use crate::source::QueueSource;
use crate::source::symbee::SymbeeSource;
use crate::store::dynamodb::DynamoSnapshotStore;

/// How long the Symbee key is trusted before it is read again.
const API_KEY_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Everything the poller needs, built from validated configuration.
pub fn build_poller(config: &PollerConfig, sdk: &SdkConfig) -> Result<Poller, WiringError> {
    let mut sources: Vec<Arc<dyn QueueSource>> = Vec::new();
    let mut source_timeout = Duration::from_secs(1);
    if let Some(symbee) = &config.symbee {
        let secrets = SecretsManagerSource::in_region(sdk, &symbee.secrets_region);
        let key = CachedSecret::new(Arc::new(secrets), &symbee.api_key_secret_id, API_KEY_TTL);
        // A rotation costs up to two requests and a secret fetch.
        source_timeout = source_timeout.max(symbee.timeout * 2 + Duration::from_secs(1));
        let drop_amazon = config.connect_instance_id.is_some();
        sources.push(Arc::new(SymbeeSource::new(
            symbee.clone(),
            Arc::new(key),
            drop_amazon,
        )?));
    }
    let store = Arc::new(DynamoSnapshotStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &config.table,
        Duration::from_secs(config.history_retention_hours * 3600),
    ));
    let sink = Arc::new(KinesisSink::new(
        aws_sdk_kinesis::Client::new(sdk),
        config.stream.clone(),
        config.write_timeout,
    ));
    Ok(Poller::new(
        sources,
        store.clone(),
        store,
        sink,
        config.symbee.as_ref().map(|s| s.tenant.clone()),
        Pacing {
            poll_interval: config.poll_interval,
            source_timeout,
            write_timeout: config.write_timeout,
            safety_margin: config.safety_margin,
        },
    ))
}

/// The poller as configured by the environment: fails fast, naming the setting.
pub async fn poller_from_env() -> Result<Poller, WiringError> {
    let config = PollerConfig::from_env()?;
    let sdk = crate::aws::load_sdk_config().await;
    build_poller(&config, &sdk)
}
