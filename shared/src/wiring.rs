//! Builds each function's dependencies from configuration, once per cold start.
//!
//! The binaries call the `*_from_env` functions; tests call the `build_*`
//! functions with settings of their own, so both run the same assembly.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::api::Api;
use crate::config::{
    ConfigError, EventsConfig, FromSettings, PipelineConfig, ReaderConfig, Settings,
};
use crate::contact_flow::ContactFlowLookup;
use crate::events::dynamodb::DynamoAnnouncedStore;
use crate::events::eventbridge::EventBridgePublisher;
use crate::events::{AnnounceSettings, Announcer};
use crate::poller::{Pacing, Poller};
use crate::sink::kinesis::KinesisSink;
use crate::source::connect::contact_events::ContactEventsConfig;
use crate::source::connect::contact_events::feed::ContactEventFeed;
use crate::source::connect::contact_events::sqs::SqsEventQueue;
use crate::source::registry::SourcesConfig;
use crate::source::{BuildError, SourceDeps};
use crate::store::SnapshotReader;
use crate::store::cache::CachingReader;
use crate::store::dynamodb::DynamoSnapshotStore;
use crate::telemetry::CycleTelemetry;

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("could not build a source: {0}")]
    Build(#[from] BuildError),
}

/// Everything the poller needs: its sources' settings and the pipeline's.
#[derive(Debug)]
pub struct PollerConfig {
    pub sources: SourcesConfig,
    pub pipeline: PipelineConfig,
    /// Connect contact events between polls (`None`: off).
    pub contact_events: Option<ContactEventsConfig>,
}

impl FromSettings for PollerConfig {
    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            sources: SourcesConfig::from_settings(settings)?,
            pipeline: PipelineConfig::from_settings(settings)?,
            contact_events: ContactEventsConfig::from_settings(settings)?,
        })
    }
}

/// The poller, built from validated configuration: every enabled source
/// from the registry, the DynamoDB store and the Kinesis sink.
pub fn build_poller(config: &PollerConfig, deps: &SourceDeps) -> Result<Poller, WiringError> {
    let pipeline = &config.pipeline;
    let sources = config.sources.build(deps)?;
    let store = Arc::new(DynamoSnapshotStore::new(
        aws_sdk_dynamodb::Client::new(&deps.sdk),
        &pipeline.table,
        Duration::from_secs(pipeline.history_retention_hours * 3600),
    ));
    let sink = Arc::new(KinesisSink::new(
        aws_sdk_kinesis::Client::new(&deps.sdk),
        pipeline.stream.clone(),
        pipeline.write_timeout,
    ));
    Ok(Poller::new(
        sources,
        store.clone(),
        store,
        sink,
        config.sources.tenant(),
        Pacing {
            poll_interval: pipeline.poll_interval,
            source_timeout: config.sources.cycle_budget(),
            write_timeout: pipeline.write_timeout,
            safety_margin: pipeline.safety_margin,
        },
    )
    .with_levels(pipeline.levels.clone())
    // The cycle line always; metrics where there is a function name.
    .with_observer(CycleTelemetry::default())
    .with_announcer(
        pipeline
            .events
            .as_ref()
            .map(|events| announcer(events, &pipeline.table, &deps.sdk)),
    )
    .with_contact_events(config.contact_events.as_ref().map(|events| {
        ContactEventFeed::new(Arc::new(SqsEventQueue::new(
            aws_sdk_sqs::Client::new(&deps.sdk),
            &events.queue_url,
        )))
    })))
}

/// The level-event announcer: PutEvents calls bounded one by one (a call
/// under way is waited for past the budget, so it must end), the
/// announced state in the snapshot table.
fn announcer(events: &EventsConfig, table: &str, sdk: &SdkConfig) -> Announcer {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build();
    let eventbridge = aws_sdk_eventbridge::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    Announcer::new(
        Box::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::from_conf(eventbridge),
            &events.bus,
        )),
        Box::new(DynamoAnnouncedStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
        )),
        AnnounceSettings {
            hold_cycles: events.hold_cycles,
            budget: events.budget,
            concurrency: events.concurrency,
        },
    )
}

/// The poller as configured by the environment: fails fast, naming the setting.
pub async fn poller_from_env() -> Result<Poller, WiringError> {
    let config = PollerConfig::from_env()?;
    let sdk = crate::aws::load_sdk_config().await;
    Ok(build_poller(&config, &SourceDeps::aws(&sdk))?.with_observer(CycleTelemetry::from_env()))
}

/// A DynamoDB reader whose every call is bounded (attempts and the whole
/// operation), for functions that answer callers waiting on them, keeping
/// what it read of the latest snapshot (see `store::cache`).
fn bounded_reader(config: &ReaderConfig, sdk: &SdkConfig) -> Arc<CachingReader> {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(config.read_timeout.min(Duration::from_secs(1)))
        .operation_attempt_timeout(config.read_timeout / 2)
        .operation_timeout(config.read_timeout)
        .build();
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    Arc::new(CachingReader::new(Arc::new(DynamoSnapshotStore::new(
        aws_sdk_dynamodb::Client::from_conf(dynamodb),
        &config.table,
        Duration::from_secs(config.history_retention_hours * 3600),
    ))))
}

/// One cheap read at cold start, so the first caller does not pay for
/// credentials, DNS and the TLS handshake. Its outcome does not matter.
async fn warm_up(store: &CachingReader, config: &ReaderConfig) {
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
