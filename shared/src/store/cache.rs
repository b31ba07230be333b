//! A reader that keeps what it read of the latest snapshot.
//!
//! A snapshot's shards never change once written, so anything read for a
//! snapshot id is valid for as long as that id is the latest. A warm API or
//! contact-flow function answers many requests per poll interval; with this
//! cache each of them costs one head read, and a shard is fetched and
//! decoded once per poll instead of once per request. Only the latest
//! snapshot's shards are kept: memory is bounded by one snapshot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::layout::StoredShard;
use super::{HistoryPoint, SnapshotReader, SnapshotSummary, StoreError};
use crate::model::{QueueStats, SourceName};

pub struct CachingReader {
    inner: Arc<dyn SnapshotReader>,
    cached: Mutex<Cached>,
}

/// The shards read so far of one snapshot, as stored and decoded.
#[derive(Default)]
struct Cached {
    snapshot_id: String,
    stored: HashMap<u32, StoredShard>,
    decoded: HashMap<u32, Arc<Vec<QueueStats>>>,
}

impl CachingReader {
    pub fn new(inner: Arc<dyn SnapshotReader>) -> Self {
        Self {
            inner,
            cached: Mutex::new(Cached::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cache, emptied first if it holds another snapshot.
    fn for_snapshot(&self, snapshot_id: &str) -> std::sync::MutexGuard<'_, Cached> {
        let mut cached = self.lock();
        if cached.snapshot_id != snapshot_id {
            *cached = Cached {
                snapshot_id: snapshot_id.to_owned(),
                ..Cached::default()
            };
        }
        cached
    }
}

#[async_trait]
impl SnapshotReader for CachingReader {
    async fn latest_summary(&self) -> Result<Option<SnapshotSummary>, StoreError> {
        // Never cached: the head is how a reader learns of a new poll.
        self.inner.latest_summary().await
    }

    async fn snapshot_shards(
        &self,
        summary: &SnapshotSummary,
        only: Option<&[u32]>,
    ) -> Result<Vec<StoredShard>, StoreError> {
        let wanted = summary.shards_among(only);
        let missing: Vec<u32> = {
            let cached = self.for_snapshot(&summary.snapshot_id);
            wanted
                .iter()
                .copied()
                .filter(|shard| !cached.stored.contains_key(shard))
                .collect()
        };
        if !missing.is_empty() {
            let fetched = self.inner.snapshot_shards(summary, Some(&missing)).await?;
            let mut cached = self.for_snapshot(&summary.snapshot_id);
            for shard in fetched {
                cached.stored.insert(shard.shard, shard);
            }
        }
        let cached = self.for_snapshot(&summary.snapshot_id);
        Ok(wanted
            .iter()
            .filter_map(|shard| cached.stored.get(shard).cloned())
            .collect())
    }

    async fn queue_history(
        &self,
        queue_id: &str,
        source: Option<&SourceName>,
        since: DateTime<Utc>,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        self.inner.queue_history(queue_id, source, since).await
    }

    /// Decoded once per snapshot: later lookups in the same poll only scan.
    async fn shard_queues(
        &self,
        summary: &SnapshotSummary,
        shard: u32,
    ) -> Result<Option<Arc<Vec<QueueStats>>>, StoreError> {
        if let Some(queues) = self.for_snapshot(&summary.snapshot_id).decoded.get(&shard) {
            return Ok(Some(queues.clone()));
        }
        let Some(stored) = self
            .snapshot_shards(summary, Some(&[shard]))
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let queues = Arc::new(stored.decode()?);
        self.for_snapshot(&summary.snapshot_id)
            .decoded
            .insert(shard, queues.clone());
        Ok(Some(queues))
    }
}
