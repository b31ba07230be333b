//! Where queue statistics come from: one trait, one module per provider.
//!
//! A source answers one question, "give me the queues now". Everything
//! provider-specific (settings, URLs, auth, paging, throttling) stays inside
//! its module (`source/<provider>/`) and surfaces only as [`SourceError`],
//! whose code lands in the snapshot's per-source status. The poller learns
//! which sources exist from one list, [`registry::PROVIDERS`]: adding a
//! provider is a module and a line there (docs/adding-a-source.md).

pub mod clarity;
pub mod connect;
pub mod eight_by_eight;
pub mod http;
pub mod registry;
pub mod symbee;
pub mod token;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use thiserror::Error;

use crate::model::{DeliveryProvider, ErrorInfo, InstanceRef, QueueStats, SourceName};
use crate::secrets::{SecretSource, SecretsManagerSource};
use crate::sink::Tenant;

/// Any error kept as the cause of another.
pub use crate::errors::BoxError;

/// Why a source produced no queues this poll. Messages never contain a
/// secret, and the underlying error is kept as the `source()`.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("the upstream rejected our credentials (HTTP {status}) even after fresh ones")]
    Unauthorized { status: u16 },
    #[error("the upstream is throttling us (HTTP {status})")]
    Throttled { status: u16 },
    #[error("the upstream answered HTTP {status}: {detail}")]
    UpstreamStatus { status: u16, detail: String },
    /// One HTTP request (one attempt) got no answer in time.
    #[error("a request got no answer within {timeout_ms} ms")]
    RequestTimeout { timeout_ms: u64 },
    /// The source's whole cycle, every request and retry, ran out of time.
    #[error("the source did not finish within its cycle budget of {timeout_ms} ms")]
    CycleTimeout { timeout_ms: u64 },
    #[error("could not reach the upstream: {detail}")]
    Transport {
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("the upstream's answer is not what its API documents: {detail}")]
    MalformedResponse {
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("could not read the credentials: {0}")]
    Secret(#[from] crate::secrets::SecretError),
    /// The upstream answers, but lacks what we need to read it (Clarity's
    /// SignalR without WebSockets): no retry fixes it, an admin must.
    #[error("the upstream cannot serve us: {detail}")]
    Unsupported { detail: String },
}

impl SourceError {
    /// Whether asking again later may well succeed: throttling, a timeout,
    /// a dropped connection, a 5xx. Credentials, configuration and answers
    /// we cannot read stay wrong until someone changes something.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. }
            | Self::RequestTimeout { .. }
            | Self::CycleTimeout { .. }
            | Self::Transport { .. } => true,
            Self::UpstreamStatus { status, .. } => *status >= 500,
            Self::Unauthorized { .. }
            | Self::MalformedResponse { .. }
            | Self::Secret(_)
            | Self::Unsupported { .. } => false,
        }
    }

    /// A stable code for dashboards and alarms.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "UNAUTHORIZED",
            Self::Throttled { .. } => "THROTTLED",
            Self::UpstreamStatus { .. } => "UPSTREAM_STATUS",
            Self::RequestTimeout { .. } | Self::CycleTimeout { .. } => "TIMEOUT",
            Self::Transport { .. } => "TRANSPORT",
            Self::MalformedResponse { .. } => "MALFORMED_RESPONSE",
            Self::Secret(_) => "SECRET_UNAVAILABLE",
            Self::Unsupported { .. } => "UNSUPPORTED_UPSTREAM",
        }
    }

    pub fn info(&self) -> ErrorInfo {
        ErrorInfo {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }

    /// An answer we cannot read, with no underlying error to keep.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::MalformedResponse {
            detail: detail.into(),
            source: None,
        }
    }

    /// An answer we cannot read, keeping the parser's or client's error.
    pub fn malformed_by(detail: impl Into<String>, cause: impl Into<BoxError>) -> Self {
        Self::MalformedResponse {
            detail: detail.into(),
            source: Some(cause.into()),
        }
    }

    /// The upstream could not be reached, keeping the client's error.
    pub fn transport(detail: impl Into<String>, cause: impl Into<BoxError>) -> Self {
        Self::Transport {
            detail: detail.into(),
            source: Some(cause.into()),
        }
    }
}

/// A provider of realtime queue statistics.
#[async_trait]
pub trait QueueSource: Send + Sync {
    /// The name queues from this source carry.
    fn name(&self) -> SourceName;

    /// The Amazon Connect instance this source polls, when it is one of
    /// several feeds of the same provider: the poller keeps its status,
    /// its carried-over queues and its outage events apart from the
    /// others'. Read after each poll (the alias may arrive with the first).
    fn instance(&self) -> Option<InstanceRef> {
        None
    }

    /// Every queue this source reports, as of now. Zero queues is a valid
    /// answer; an error means "this source failed this poll".
    async fn fetch_queues(&self) -> Result<Vec<QueueStats>, SourceError>;

    /// The delivery provider whose queues this source reports first-hand,
    /// if any. Another source's copies of those queues are dropped, so each
    /// queue has exactly one source (Connect: Amazon queues, which Symbee
    /// also reports when asked).
    fn reports_directly(&self) -> Option<DeliveryProvider> {
        None
    }

    /// Called once when the invocation ends, for sources that hold
    /// something open upstream between cycles (a subscription, a socket).
    async fn close(&self) {}
}

/// Where secrets of a given region are read.
pub type SecretsByRegion = Arc<dyn Fn(&str) -> Arc<dyn SecretSource> + Send + Sync>;

/// What a source's `build` may use: the SDK configuration, and where to read
/// secrets in a given region (Secrets Manager in production; tests wrap it
/// to count reads).
#[derive(Clone)]
pub struct SourceDeps {
    pub sdk: SdkConfig,
    secrets: SecretsByRegion,
    /// Another SDK configuration for one source's own AWS client (tests
    /// point Connect at its stand-in and everything else at moto, as
    /// `AWS_ENDPOINT_URL_CONNECT` does in a local run).
    sdk_overrides: Vec<(SourceName, SdkConfig)>,
}

impl SourceDeps {
    /// Secrets from AWS Secrets Manager, in whatever region a source names.
    pub fn aws(sdk: &SdkConfig) -> Self {
        let for_region = sdk.clone();
        Self {
            sdk: sdk.clone(),
            secrets: Arc::new(move |region: &str| {
                Arc::new(SecretsManagerSource::in_region(&for_region, region))
                    as Arc<dyn SecretSource>
            }),
            sdk_overrides: Vec::new(),
        }
    }

    /// `source` builds its AWS client from `sdk` instead.
    pub fn with_sdk_for(mut self, source: SourceName, sdk: SdkConfig) -> Self {
        self.sdk_overrides.push((source, sdk));
        self
    }

    /// The SDK configuration `source`'s own AWS client is built from.
    pub fn sdk_for(&self, source: &SourceName) -> &SdkConfig {
        self.sdk_overrides
            .iter()
            .find(|(name, _)| name == source)
            .map_or(&self.sdk, |(_, sdk)| sdk)
    }

    /// The same SDK configuration with another secret source.
    pub fn with_secrets(
        mut self,
        secrets: impl Fn(&str) -> Arc<dyn SecretSource> + Send + Sync + 'static,
    ) -> Self {
        self.secrets = Arc::new(secrets);
        self
    }

    /// Where a source reads secrets kept in `region`.
    pub fn secrets_in(&self, region: &str) -> Arc<dyn SecretSource> {
        (self.secrets)(region)
    }

    /// A source's credentials secret, cached for `ttl`, read in `region`
    /// or, when that is `None`, in the function's own Region.
    pub fn cached_secret(
        &self,
        region: Option<&str>,
        secret_id: &str,
        ttl: std::time::Duration,
    ) -> Arc<crate::secrets::CachedSecret> {
        let region = region.map_or_else(
            || crate::aws::region_or_default(self.sdk.region()),
            str::to_owned,
        );
        Arc::new(crate::secrets::CachedSecret::new(
            self.secrets_in(&region),
            secret_id,
            ttl,
        ))
    }
}

/// A source could not be built from valid settings.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// One provider's validated settings, able to build its source. Each
/// provider module has one, read by its own `from_settings`.
pub trait SourceConfig: fmt::Debug + Send + Sync {
    fn name(&self) -> SourceName;

    /// The longest one cycle of this source may take, retries included:
    /// the poller cuts the source off after it.
    fn cycle_budget(&self) -> Duration;

    /// The tenant stamped on every record, from a source that knows it.
    fn tenant(&self) -> Option<Tenant> {
        None
    }

    fn build(&self, deps: &SourceDeps) -> Result<Arc<dyn QueueSource>, BuildError>;

    /// Every source these settings make: one, except for a provider whose
    /// settings name several feeds (Amazon Connect instances).
    fn build_all(&self, deps: &SourceDeps) -> Result<Vec<Arc<dyn QueueSource>>, BuildError> {
        Ok(vec![self.build(deps)?])
    }
}

#[cfg(test)]
mod tests {
    use super::SourceError;

    #[test]
    fn only_what_may_pass_on_its_own_is_transient() {
        let transient = [
            SourceError::Throttled { status: 429 },
            SourceError::RequestTimeout { timeout_ms: 3_000 },
            SourceError::CycleTimeout { timeout_ms: 8_000 },
            SourceError::transport("connection reset", "reset by peer"),
            SourceError::UpstreamStatus {
                status: 503,
                detail: "unavailable".into(),
            },
        ];
        let lasting = [
            SourceError::Unauthorized { status: 401 },
            SourceError::UpstreamStatus {
                status: 403,
                detail: "AccessDeniedException".into(),
            },
            SourceError::malformed("not JSON"),
            SourceError::Unsupported {
                detail: "no WebSockets".into(),
            },
        ];
        for error in &transient {
            assert!(error.is_transient(), "{error}");
        }
        for error in &lasting {
            assert!(!error.is_transient(), "{error}");
        }
    }
}
