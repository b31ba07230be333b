//! Builds each function's dependencies from configuration, once per cold start.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::api::Api;
use crate::config::{ConfigError, FromSettings, PollerConfig, ReaderConfig};
use crate::contact_flow::ContactFlowLookup;
use crate::poller::{Pacing, Poller};
use crate::secrets::{CachedSecret, SecretsManagerSource};
use crate::sink::kinesis::KinesisSink;
use crate::source::QueueSource;
use crate::source::connect::ConnectSource;
use crate::source::symbee::SymbeeSource;
use crate::store::SnapshotReader;
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
        let drop_amazon = config.connect.is_some();
        sources.push(Arc::new(SymbeeSource::new(
            symbee.clone(),
            Arc::new(key),
            drop_amazon,
        )?));
    }
    if let Some(connect) = &config.connect {
        source_timeout = source_timeout.max(connect.timeout);
        let client = aws_sdk_connect::Client::from_conf(ConnectSource::client_config(sdk));
        sources.push(Arc::new(ConnectSource::new(client, connect.clone())));
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

/// A DynamoDB reader whose every call is bounded (attempts and the whole
/// operation), for functions that answer callers waiting on them.
fn bounded_reader(config: &ReaderConfig, sdk: &SdkConfig) -> Arc<DynamoSnapshotStore> {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(config.read_timeout.min(Duration::from_secs(1)))
        .operation_attempt_timeout(config.read_timeout / 2)
        .operation_timeout(config.read_timeout)
        .build();
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    Arc::new(DynamoSnapshotStore::new(
        aws_sdk_dynamodb::Client::from_conf(dynamodb),
        &config.table,
        Duration::from_secs(config.history_retention_hours * 3600),
    ))
}

/// One cheap read at cold start, so the first caller does not pay for
/// credentials, DNS and the TLS handshake. Its outcome does not matter.
async fn warm_up(store: &DynamoSnapshotStore, config: &ReaderConfig) {
    let _ = tokio::time::timeout(config.read_timeout, store.latest_summary()).await;
}

pub async fn build_api(config: ReaderConfig, sdk: &SdkConfig) -> Api {
    let store = bounded_reader(&config, sdk);
    warm_up(&store, &config).await;
    Api::new(store, config)
}

pub async fn build_contact_flow(config: ReaderConfig, sdk: &SdkConfig) -> ContactFlowLookup {
    let store = bounded_reader(&config, sdk);
    warm_up(&store, &config).await;
    ContactFlowLookup::new(store, config)
}

pub async fn api_from_env() -> Result<Api, WiringError> {
    let config = ReaderConfig::from_env()?;
    Ok(build_api(config, &crate::aws::load_sdk_config().await).await)
}

pub async fn contact_flow_from_env() -> Result<ContactFlowLookup, WiringError> {
    let config = ReaderConfig::from_env()?;
    Ok(build_contact_flow(config, &crate::aws::load_sdk_config().await).await)
}
