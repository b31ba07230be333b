//! Where queue statistics come from: one trait, one module per provider.
//!
//! A source answers one question, "give me the queues now". Everything
//! provider-specific (URLs, auth, paging, throttling) stays inside its module
//! and surfaces only as [`SourceError`], whose code lands in the snapshot's
//! per-source status.

pub mod connect;
pub mod symbee;

use async_trait::async_trait;
use thiserror::Error;

use crate::model::{ErrorInfo, QueueStats, SourceName};

/// Why a source produced no queues this poll. Messages never contain a secret.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("the upstream rejected our credentials (HTTP {status}) even after a fresh key")]
    Unauthorized { status: u16 },
    #[error("the upstream is throttling us (HTTP {status})")]
    Throttled { status: u16 },
    #[error("the upstream answered HTTP {status}: {detail}")]
    UpstreamStatus { status: u16, detail: String },
    #[error("no answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("could not reach the upstream: {0}")]
    Transport(String),
    #[error("the upstream's answer is not what its API documents: {0}")]
    MalformedResponse(String),
    #[error("could not read the API key: {0}")]
    Secret(#[from] crate::secrets::SecretError),
}

impl SourceError {
    /// A stable code for dashboards and alarms.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "UNAUTHORIZED",
            Self::Throttled { .. } => "THROTTLED",
            Self::UpstreamStatus { .. } => "UPSTREAM_STATUS",
            Self::Timeout { .. } => "TIMEOUT",
            Self::Transport(_) => "TRANSPORT",
            Self::MalformedResponse(_) => "MALFORMED_RESPONSE",
            Self::Secret(_) => "SECRET_UNAVAILABLE",
        }
    }

    pub fn info(&self) -> ErrorInfo {
        ErrorInfo {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

/// A provider of realtime queue statistics.
#[async_trait]
pub trait QueueSource: Send + Sync {
    /// The name queues from this source carry.
    fn name(&self) -> SourceName;

    /// Every queue this source reports, as of now. Zero queues is a valid
    /// answer; an error means "this source failed this poll".
    async fn fetch_queues(&self) -> Result<Vec<QueueStats>, SourceError>;
}
