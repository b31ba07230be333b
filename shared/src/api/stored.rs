//! The unfiltered `GET /v1/snapshot` answer, assembled from the stored
//! shards without parsing them.
//!
//! The store keeps each shard as the JSON fragment this answer needs,
//! compressed as a deflate block that ends on a sync flush. A gzip answer
//! is then our few bytes of envelope around the blocks as stored (see
//! [`crate::gzip`]); a plain answer only inflates them. The answer is a
//! pure function of the snapshot id (shards never change once written),
//! so it is kept until the next snapshot and its ETag needs no body.

use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use crate::gzip::GzipWriter;
use crate::model::{SourceStatus, fnv1a, format_rfc3339};
use crate::store::SnapshotSummary;
use crate::store::layout::StoredShard;

/// The answer for one snapshot, in both encodings.
pub struct StoredAnswer {
    pub snapshot_id: String,
    /// The gzip member, built when the answer is.
    gzip: Vec<u8>,
    /// The plain JSON, built on the first request that does not take gzip.
    plain: OnceLock<Result<Vec<u8>, String>>,
    /// The plain JSON's length, known without inflating.
    plain_len: usize,
    /// The head's fields up to `"queues":[`; [`SUFFIX`] closes the answer.
    prefix: Vec<u8>,
    shards: Vec<StoredShard>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    snapshot_id: &'a str,
    observed_at: String,
    sources: &'a [SourceStatus],
}

const SUFFIX: &[u8] = b"]}";

impl StoredAnswer {
    pub fn new(summary: &SnapshotSummary, shards: Vec<StoredShard>) -> Self {
        let mut prefix = serde_json::to_vec(&Envelope {
            snapshot_id: &summary.snapshot_id,
            observed_at: format_rfc3339(&summary.observed_at),
            sources: &summary.sources,
        })
        .expect("statuses serialize");
        // `{…}` becomes `{…,"queues":[`: the queues follow as stored.
        prefix.pop();
        prefix.extend_from_slice(br#","queues":["#);
        let body_len: u64 = shards.iter().map(|s| s.body.len).sum();
        let plain_len =
            prefix.len() + body_len as usize + shards.len().saturating_sub(1) + SUFFIX.len();
        let mut gzip = GzipWriter::with_capacity(
            prefix.len() + shards.iter().map(|s| s.body.block.len() + 8).sum::<usize>(),
        );
        gzip.literal(&prefix);
        for (i, shard) in shards.iter().enumerate() {
            if i > 0 {
                gzip.literal(b",");
            }
            gzip.block(&shard.body);
        }
        gzip.literal(SUFFIX);
        Self {
            snapshot_id: summary.snapshot_id.clone(),
            gzip: gzip.finish(),
            plain: OnceLock::new(),
            plain_len,
            prefix,
            shards,
        }
    }

    /// The ETag of this snapshot's unfiltered answer: its id names it.
    pub fn etag(snapshot_id: &str) -> String {
        let mut named = b"snapshot:".to_vec();
        named.extend_from_slice(snapshot_id.as_bytes());
        format!("\"{:016x}\"", fnv1a(&named))
    }

    pub fn gzip(&self) -> &[u8] {
        &self.gzip
    }

    pub fn plain_len(&self) -> usize {
        self.plain_len
    }

    /// The plain JSON, inflated once. An error means a stored block is
    /// damaged (it fails its length or CRC-32).
    pub fn plain(&self) -> Result<&[u8], String> {
        self.plain
            .get_or_init(|| {
                let mut out = Vec::with_capacity(self.plain_len);
                out.extend_from_slice(&self.prefix);
                for (i, shard) in self.shards.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&shard.fragment()?);
                }
                out.extend_from_slice(SUFFIX);
                Ok(out)
            })
            .as_deref()
            .map_err(Clone::clone)
    }
}

/// The last answer built, reused while the snapshot stays the latest.
#[derive(Default)]
pub struct AnswerCache(Mutex<Option<Arc<StoredAnswer>>>);

impl AnswerCache {
    pub fn get(&self, snapshot_id: &str) -> Option<Arc<StoredAnswer>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .filter(|answer| answer.snapshot_id == snapshot_id)
            .cloned()
    }

    pub fn put(&self, answer: Arc<StoredAnswer>) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(answer);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::model::{DeliveryProvider, OpenClosedState, QueueStats, SourceName, TaskType};
    use crate::store::layout::encode_shards;

    #[test]
    fn both_encodings_are_the_snapshot_json() {
        let queues: Vec<QueueStats> = (0..300)
            .map(|i| {
                QueueStats::new(
                    SourceName::Symbee,
                    format!("q-{i}"),
                    format!("Queue {i}"),
                    DeliveryProvider::Symbee,
                    TaskType::Webchat,
                    OpenClosedState::ForcedOpen,
                )
            })
            .collect();
        let summary = SnapshotSummary {
            snapshot_id: "s-1".into(),
            observed_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            sources: vec![],
            queue_count: queues.len(),
            shards: vec![],
        };
        let answer = StoredAnswer::new(&summary, encode_shards(&queues));
        let plain = answer.plain().unwrap().to_vec();
        assert_eq!(plain.len(), answer.plain_len());
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(answer.gzip())
            .read_to_end(&mut gunzipped)
            .unwrap();
        assert_eq!(gunzipped, plain);
        let parsed: crate::model::Snapshot = serde_json::from_slice(&plain).unwrap();
        assert_eq!(parsed.snapshot_id, "s-1");
        assert_eq!(parsed.queues.len(), 300);

        let empty = StoredAnswer::new(&summary, Vec::new());
        let parsed: crate::model::Snapshot =
            serde_json::from_slice(empty.plain().unwrap()).unwrap();
        assert!(parsed.queues.is_empty());
    }
}
