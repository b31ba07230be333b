//! The DynamoDB item layout, as pure functions (no SDK here).
//!
//! Queues are spread over a fixed number of shards by a stable hash of their
//! key. Each poll writes one immutable item per non-empty shard, keyed by
//! time and snapshot under its shard's history partition, and only then
//! flips a small head item to point at that set. A reader follows the head
//! to one set of items that all belong to one poll, so it can never see
//! half a poll. Shard bodies are the JSON the API sends, compressed as raw
//! deflate blocks that can be laid end to end (see [`crate::gzip`]).
//! See `docs/dynamodb-layout.md` for the why and the cost.

use crate::gzip::Block;
use crate::model::{QueueStats, fnv1a, queue_key};
use crate::store::StoreError;

/// How many shards queues are spread over. Part of the stored format:
/// readers and writers must agree, so it is a constant, not a setting.
/// 16 keeps a 10,000-queue snapshot's shards near 30 KB compressed, far
/// inside DynamoDB's 400 KB item limit, and a whole snapshot inside one
/// 100-key `BatchGetItem`.
pub const SHARDS: u32 = 16;

pub const ATTR_PK: &str = "pk";
pub const ATTR_SK: &str = "sk";
pub const ATTR_SNAPSHOT_ID: &str = "snapshotId";
pub const ATTR_OBSERVED_AT_MS: &str = "observedAtMs";
pub const ATTR_SOURCES: &str = "sources";
pub const ATTR_QUEUE_COUNT: &str = "queueCount";
pub const ATTR_SHARD_COUNT: &str = "shardCount";
pub const ATTR_BODY: &str = "body";
pub const ATTR_FORMAT: &str = "format";
/// The head's list of the shards that hold queues (L of N).
pub const ATTR_SHARDS: &str = "shards";
/// CRC-32 and length of a shard body's uncompressed bytes.
pub const ATTR_BODY_CRC32: &str = "bodyCrc32";
pub const ATTR_BODY_LENGTH: &str = "bodyLength";
/// The table's TTL attribute (epoch seconds).
pub const ATTR_EXPIRES_AT: &str = "expiresAt";

/// The body format this build writes: the queues' JSON objects joined by
/// commas (an array without its brackets), as a raw deflate block ending
/// on a sync flush.
pub const FORMAT_DEFLATE_JSON: &str = "deflate-json-v2";
/// The format of earlier builds (gzip'd JSON array), still read in history.
pub const FORMAT_GZIP_JSON: &str = "gzip-json-v1";

pub const LATEST_PK: &str = "latest";
pub const HEAD_SK: &str = "head";

/// DynamoDB's item limit is 400 KB including names; leave headroom.
pub const MAX_BODY_BYTES: usize = 380 * 1024;

/// Which shard a queue lives in: FNV-1a of its key, stable across builds
/// and platforms (unlike std's randomly seeded hasher).
pub fn shard_of(queue_id: &str) -> u32 {
    (fnv1a(queue_key(queue_id).as_bytes()) % u64::from(SHARDS)) as u32
}

pub fn history_pk(shard: u32) -> String {
    format!("history#{shard:02}")
}

/// History sort keys order by time: zero-padded epoch millis, then the
/// snapshot id so two snapshots in the same millisecond both survive.
pub fn history_sk(observed_at_ms: i64, snapshot_id: &str) -> String {
    format!("{observed_at_ms:015}#{snapshot_id}")
}

/// The lowest history sort key at or after `observed_at_ms`.
pub fn history_sk_from(observed_at_ms: i64) -> String {
    format!("{observed_at_ms:015}#")
}

/// Splits queues by shard, keeping each shard's queues in input order.
pub fn partition(queues: &[QueueStats]) -> Vec<Vec<&QueueStats>> {
    let mut shards: Vec<Vec<&QueueStats>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for queue in queues {
        shards[shard_of(&queue.queue_id) as usize].push(queue);
    }
    shards
}

/// One shard of one poll as stored: its number, its queue count and its
/// body, the compressed JSON fragment an answer is assembled from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredShard {
    pub shard: u32,
    pub queue_count: usize,
    pub body: Block,
}

impl StoredShard {
    /// Serializes a shard's queues once, as the fragment every reader needs.
    pub fn encode(shard: u32, queues: &[&QueueStats]) -> Self {
        // Serialize first, compress in one pass: serde's many small writes
        // straight into a compressor cost ten times the CPU.
        let json = serde_json::to_vec(queues).expect("queue stats always serialize");
        // `[a,b]` without its brackets: fragments join with commas.
        let fragment = &json[1..json.len() - 1];
        Self {
            shard,
            queue_count: queues.len(),
            body: Block::compress(fragment),
        }
    }

    /// The uncompressed fragment: queue objects joined by commas.
    pub fn fragment(&self) -> Result<Vec<u8>, String> {
        self.body
            .inflate()
            .map_err(|err| format!("shard {:02} body: {err}", self.shard))
    }

    pub fn decode(&self) -> Result<Vec<QueueStats>, StoreError> {
        let fragment = self.fragment().map_err(StoreError::corrupt)?;
        let mut json = Vec::with_capacity(fragment.len() + 2);
        json.push(b'[');
        json.extend_from_slice(&fragment);
        json.push(b']');
        serde_json::from_slice(&json).map_err(|err| {
            StoreError::corrupt_by(
                format!("shard {:02} body is not queue JSON", self.shard),
                err,
            )
        })
    }
}

/// Encodes every non-empty shard of a snapshot's queues.
pub fn encode_shards(queues: &[QueueStats]) -> Vec<StoredShard> {
    partition(queues)
        .iter()
        .enumerate()
        .filter(|(_, queues)| !queues.is_empty())
        .map(|(shard, queues)| StoredShard::encode(shard as u32, queues))
        .collect()
}

/// Reads a body in the format of earlier builds: a gzip'd JSON array.
pub fn decode_legacy_body(body: &[u8]) -> Result<Vec<QueueStats>, StoreError> {
    let json = crate::gzip::decode(body)
        .map_err(|err| StoreError::corrupt_by("shard body is not gzip", err))?;
    serde_json::from_slice(&json)
        .map_err(|err| StoreError::corrupt_by("shard body is not queue JSON", err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arn_and_its_bare_id_share_a_shard() {
        let arn = "arn:aws:connect:us-east-1:123456789012:instance/abc/queue/0d6b-42";
        assert_eq!(shard_of(arn), shard_of("0d6b-42"));
    }

    #[test]
    fn the_shard_hash_is_stable() {
        // Stored data depends on these values: changing the hash is a
        // format change, not a refactor.
        // Known answers: FNV-1a("a") = 0xaf63dc4c8601ec8c, ("foobar") =
        // 0x85944171f73967e8; the shard is the hash modulo 16.
        assert_eq!(shard_of("a"), 0xc);
        assert_eq!(shard_of("foobar"), 0x8);
        assert_eq!(
            shard_of("email-customer-care"),
            shard_of("email-customer-care")
        );
        let spread: std::collections::HashSet<u32> =
            (0..1000).map(|i| shard_of(&format!("queue-{i}"))).collect();
        assert_eq!(spread.len(), SHARDS as usize);
        assert_eq!(shard_of(""), (0xcbf2_9ce4_8422_2325u64 % 16) as u32);
    }

    #[test]
    fn a_stored_shard_decodes_to_its_queues() {
        let queues: Vec<QueueStats> = (0..50)
            .map(|i| {
                crate::model::QueueStats::new(
                    crate::model::SourceName::Symbee,
                    format!("queue-{i}"),
                    format!("Queue {i}"),
                    crate::model::DeliveryProvider::Symbee,
                    crate::model::TaskType::Call,
                    crate::model::OpenClosedState::ForcedOpen,
                )
            })
            .collect();
        let shards = encode_shards(&queues);
        assert!(shards.iter().all(|s| s.queue_count > 0));
        let mut decoded: Vec<QueueStats> =
            shards.iter().flat_map(|s| s.decode().unwrap()).collect();
        crate::model::sort_canonical(&mut decoded);
        let mut expected = queues.clone();
        crate::model::sort_canonical(&mut expected);
        assert_eq!(decoded, expected);
    }

    #[test]
    fn history_keys_sort_by_time() {
        assert!(history_sk(999, "b") < history_sk(1000, "a"));
        assert!(history_sk_from(1000) <= history_sk(1000, "a"));
        assert!(history_sk_from(1001) > history_sk(1000, "zzz"));
    }
}
