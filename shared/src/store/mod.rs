//! Where snapshots are kept: the latest one for readers, and history.
//!
//! Two capabilities, two traits: the poller writes ([`SnapshotWriter`]),
//! the API and the contact flow read ([`SnapshotReader`]). DynamoDB is the
//! one implementation; its layout is described in `docs/dynamodb-layout.md`.

pub mod dynamodb;
pub mod layout;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::model::{QueueStats, Snapshot, SourceStatus};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the snapshot store is unavailable: {0}")]
    Unavailable(String),
    #[error("the snapshot store holds data this build cannot read: {0}")]
    Corrupt(String),
    #[error("the snapshot does not fit the store: {0}")]
    TooLarge(String),
    #[error("history items were still unprocessed after {attempts} attempts ({items} items)")]
    Unprocessed { attempts: u32, items: usize },
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "STORE_UNAVAILABLE",
            Self::Corrupt(_) => "STORE_CORRUPT",
            Self::TooLarge(_) => "SNAPSHOT_TOO_LARGE",
            Self::Unprocessed { .. } => "HISTORY_UNPROCESSED",
        }
    }
}

/// What happened to a snapshot we asked the store to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// It is now the latest snapshot, and its history is kept.
    Written,
    /// A newer snapshot was already there; the latest was left alone (its
    /// history was still kept, since it is a true past observation).
    Superseded,
}

/// One queue from the latest snapshot, with when it was observed.
#[derive(Clone, Debug, PartialEq)]
pub struct LatestQueue {
    pub snapshot_id: String,
    pub observed_at: DateTime<Utc>,
    pub queue: QueueStats,
}

/// The latest snapshot without its queues: what health checks need.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotSummary {
    pub snapshot_id: String,
    pub observed_at: DateTime<Utc>,
    pub sources: Vec<SourceStatus>,
    pub queue_count: usize,
}

/// One past observation of a queue.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryPoint {
    pub snapshot_id: String,
    pub observed_at: DateTime<Utc>,
    pub queue: QueueStats,
}

#[async_trait]
pub trait SnapshotWriter: Send + Sync {
    /// Keeps `snapshot` as the latest (unless a newer one is there) and in history.
    async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<PutOutcome, StoreError>;
}

#[async_trait]
pub trait SnapshotReader: Send + Sync {
    /// The whole latest snapshot, or `None` before the first poll.
    async fn latest_snapshot(&self) -> Result<Option<Snapshot>, StoreError>;

    /// The latest snapshot's id, time and source statuses, without queues.
    async fn latest_summary(&self) -> Result<Option<SnapshotSummary>, StoreError>;

    /// One queue of the latest snapshot, by queue id, queue ARN or bare
    /// Connect queue id.
    async fn latest_queue(&self, queue_id: &str) -> Result<Option<LatestQueue>, StoreError>;

    /// A queue's observations since `since`, oldest first.
    async fn queue_history(
        &self,
        queue_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<HistoryPoint>, StoreError>;
}
