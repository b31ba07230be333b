//! Where snapshots are kept: the latest one for readers, and history.
//!
//! Two capabilities, two traits: the poller writes ([`SnapshotWriter`]),
//! the API and the contact flow read ([`SnapshotReader`]). DynamoDB is the
//! one implementation; its layout is described in `docs/dynamodb-layout.md`.
//!
//! A reader first reads the latest snapshot's summary (the head), then the
//! stored shards that summary names. A poll's shards are written before
//! its head and never change, so whatever a reader gets belongs to exactly
//! one poll.

pub mod cache;
pub mod dynamodb;
pub mod layout;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::model::{QueueStats, Snapshot, SourceName, SourceStatus, is_queue, sort_canonical};
use layout::{StoredShard, shard_of};

/// Why the store could not serve or keep a snapshot. The SDK's error, when
/// there is one, is kept as the `source()`.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A failure that may pass: throttling, a timeout, a 5xx, the network.
    #[error("the snapshot store is unavailable: {detail}")]
    Unavailable {
        reason: StoreReason,
        detail: String,
        #[source]
        source: Option<crate::errors::BoxError>,
    },
    /// A failure no retry fixes: the table does not exist, or this function
    /// may not use it. An operator must act.
    #[error("the snapshot store is misconfigured: {detail}")]
    Misconfigured {
        reason: StoreReason,
        detail: String,
        #[source]
        source: Option<crate::errors::BoxError>,
    },
    /// What the store holds cannot be read by this build (an item lacks
    /// an attribute, a body is not what was written); the decoder's error,
    /// when there is one, is the `source()`.
    #[error("the snapshot store holds data this build cannot read: {detail}")]
    Corrupt {
        detail: String,
        #[source]
        source: Option<crate::errors::BoxError>,
    },
    /// One shard is over DynamoDB's item budget even compressed.
    #[error(
        "the snapshot does not fit the store: shard {shard} is {bytes} bytes compressed, over the {limit}-byte item budget"
    )]
    TooLarge {
        shard: u32,
        bytes: usize,
        limit: usize,
    },
    #[error("history items were still unprocessed after {attempts} attempts ({items} items)")]
    Unprocessed { attempts: u32, items: usize },
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "STORE_UNAVAILABLE",
            Self::Misconfigured { .. } => "STORE_MISCONFIGURED",
            Self::Corrupt { .. } => "STORE_CORRUPT",
            Self::TooLarge { .. } => "SNAPSHOT_TOO_LARGE",
            Self::Unprocessed { .. } => "HISTORY_UNPROCESSED",
        }
    }

    /// What failed, finer than [`StoreError::code`] (which the API's
    /// answers keep): the poller's Lambda `errorType` names it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unavailable { reason, .. } | Self::Misconfigured { reason, .. } => {
                reason.as_str()
            }
            Self::Corrupt { .. } => "Corrupt",
            Self::TooLarge { .. } => "TooLarge",
            Self::Unprocessed { .. } => "Unprocessed",
        }
    }

    /// Whether trying again later may succeed (no operator needed).
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Misconfigured { .. } | Self::Corrupt { .. })
    }

    /// Data this build cannot read, said in words.
    pub fn corrupt(detail: impl Into<String>) -> Self {
        Self::Corrupt {
            detail: detail.into(),
            source: None,
        }
    }

    /// Data this build cannot read, with the decoder's error as the cause.
    pub fn corrupt_by(
        detail: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Corrupt {
            detail: detail.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A store that did not answer within `timeout`.
    pub fn timed_out(timeout: std::time::Duration) -> Self {
        Self::Unavailable {
            reason: StoreReason::Timeout,
            detail: format!("no answer within {} ms", timeout.as_millis()),
            source: None,
        }
    }
}

/// Why the store failed, as an operator would put it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreReason {
    /// The table does not exist (ResourceNotFoundException).
    TableMissing,
    /// This function may not use it, or its credentials are refused.
    AccessDenied,
    /// DynamoDB throttled the call.
    Throttled,
    /// No answer in time.
    Timeout,
    /// Anything else that may pass: a 5xx, the network.
    Unavailable,
}

impl StoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TableMissing => "TableMissing",
            Self::AccessDenied => "AccessDenied",
            Self::Throttled => "Throttled",
            Self::Timeout => "Timeout",
            Self::Unavailable => "Unavailable",
        }
    }

    /// From an AWS error code (and whether the call timed out).
    pub fn of_aws(code: Option<&str>, timed_out: bool) -> Self {
        match code {
            Some("ResourceNotFoundException") => Self::TableMissing,
            Some(
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "MissingAuthenticationTokenException",
            ) => Self::AccessDenied,
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded",
            ) => Self::Throttled,
            _ if timed_out => Self::Timeout,
            _ => Self::Unavailable,
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

/// What a lookup of one queue found in the latest snapshot.
#[derive(Clone, Debug, PartialEq)]
pub enum QueueMatch {
    /// Boxed: a queue is large beside the other answers.
    Found(Box<LatestQueue>),
    NotFound,
    /// The id names a queue in each of these sources, and none was given
    /// (DESIGN, "A queue is (source, queueId)").
    Ambiguous(Vec<SourceName>),
}

impl QueueMatch {
    /// The queue, when exactly one matched.
    pub fn found(self) -> Option<LatestQueue> {
        match self {
            Self::Found(latest) => Some(*latest),
            _ => None,
        }
    }

    /// The match for `queue_id` (of `source`, when given) among `queues`.
    pub fn among(
        queues: &[QueueStats],
        queue_id: &str,
        source: Option<&SourceName>,
        summary: &SnapshotSummary,
    ) -> Self {
        let mut matches = queues.iter().filter(|q| is_queue(queue_id, source, q));
        let Some(first) = matches.next() else {
            return Self::NotFound;
        };
        let others: Vec<SourceName> = matches.map(|q| q.source.clone()).collect();
        if others.is_empty() {
            return Self::Found(Box::new(LatestQueue {
                snapshot_id: summary.snapshot_id.clone(),
                observed_at: summary.observed_at,
                queue: first.clone(),
            }));
        }
        let mut sources = vec![first.source.clone()];
        sources.extend(others);
        sources.sort();
        sources.dedup();
        Self::Ambiguous(sources)
    }
}

/// One queue asked for: its id (ARN or bare id) and, optionally, its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueAsk {
    pub queue_id: String,
    pub source: Option<SourceName>,
}

/// The latest snapshot without its queues: what health checks need, and
/// where its queues are kept.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotSummary {
    pub snapshot_id: String,
    pub observed_at: DateTime<Utc>,
    pub sources: Vec<SourceStatus>,
    pub queue_count: usize,
    /// The shards that hold this snapshot's queues, ascending.
    pub shards: Vec<u32>,
}

impl SnapshotSummary {
    /// The shards of this snapshot that hold queues: all of them, or those
    /// of `only`.
    pub fn shards_among(&self, only: Option<&[u32]>) -> Vec<u32> {
        self.shards
            .iter()
            .copied()
            .filter(|shard| only.is_none_or(|only| only.contains(shard)))
            .collect()
    }

    /// The shard that would hold `queue_id`, if this snapshot has it.
    pub fn shard_for(&self, queue_id: &str) -> Option<u32> {
        let shard = shard_of(queue_id);
        self.shards.contains(&shard).then_some(shard)
    }
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
    /// The latest snapshot's id, time, source statuses and shards, without
    /// queues, or `None` before the first poll.
    async fn latest_summary(&self) -> Result<Option<SnapshotSummary>, StoreError>;

    /// The stored shards of the snapshot `summary` describes: all of them,
    /// or those of `only` that hold queues. Every shard returned belongs to
    /// that snapshot.
    async fn snapshot_shards(
        &self,
        summary: &SnapshotSummary,
        only: Option<&[u32]>,
    ) -> Result<Vec<StoredShard>, StoreError>;

    /// A queue's observations since `since`, oldest first: those of
    /// every source that reported `queue_id`, or of `source` alone.
    async fn queue_history(
        &self,
        queue_id: &str,
        source: Option<&SourceName>,
        since: DateTime<Utc>,
    ) -> Result<Vec<HistoryPoint>, StoreError>;

    /// The whole latest snapshot, queues in canonical order, or `None`
    /// before the first poll.
    async fn latest_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        let Some(summary) = self.latest_summary().await? else {
            return Ok(None);
        };
        let mut queues = Vec::with_capacity(summary.queue_count);
        for shard in self.snapshot_shards(&summary, None).await? {
            queues.extend(shard.decode()?);
        }
        sort_canonical(&mut queues);
        Ok(Some(Snapshot {
            snapshot_id: summary.snapshot_id,
            observed_at: summary.observed_at,
            sources: summary.sources,
            queues,
        }))
    }

    /// One shard's queues, decoded (`None` when the snapshot has no such
    /// shard). Readers that keep what they read override it.
    async fn shard_queues(
        &self,
        summary: &SnapshotSummary,
        shard: u32,
    ) -> Result<Option<Arc<Vec<QueueStats>>>, StoreError> {
        match self
            .snapshot_shards(summary, Some(&[shard]))
            .await?
            .into_iter()
            .next()
        {
            Some(stored) => Ok(Some(Arc::new(stored.decode()?))),
            None => Ok(None),
        }
    }

    /// Several queues of the latest snapshot at once, in the order asked:
    /// the head and one batch read of the shards they live in, however
    /// many queues are asked for. (A queue's shard is a hash of its id
    /// alone, so every source's queue of one id is in the same shard.)
    async fn latest_queues(&self, asks: &[QueueAsk]) -> Result<Vec<QueueMatch>, StoreError> {
        let Some(summary) = self.latest_summary().await? else {
            return Ok(vec![QueueMatch::NotFound; asks.len()]);
        };
        let mut shards: Vec<u32> = asks
            .iter()
            .filter_map(|ask| summary.shard_for(&ask.queue_id))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        let mut queues = Vec::new();
        if !shards.is_empty() {
            for stored in self.snapshot_shards(&summary, Some(&shards)).await? {
                queues.extend(stored.decode()?);
            }
        }
        Ok(asks
            .iter()
            .map(|ask| QueueMatch::among(&queues, &ask.queue_id, ask.source.as_ref(), &summary))
            .collect())
    }

    /// One queue of the latest snapshot, by queue id, queue ARN or bare
    /// Connect queue id, of `source` when given: the head and one shard.
    async fn latest_queue(
        &self,
        queue_id: &str,
        source: Option<&SourceName>,
    ) -> Result<QueueMatch, StoreError> {
        let Some(summary) = self.latest_summary().await? else {
            return Ok(QueueMatch::NotFound);
        };
        let Some(shard) = summary.shard_for(queue_id) else {
            return Ok(QueueMatch::NotFound);
        };
        let Some(queues) = self.shard_queues(&summary, shard).await? else {
            return Ok(QueueMatch::NotFound);
        };
        Ok(QueueMatch::among(&queues, queue_id, source, &summary))
    }
}
