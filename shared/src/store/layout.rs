//! The DynamoDB item layout, as pure functions (no SDK here).
//!
//! Queues are spread over a fixed number of shards by a stable hash of their
//! key. The latest snapshot is one head item plus one item per shard under a
//! single partition key, so the whole snapshot is one `Query` and one queue
//! is one `GetItem`. Shard bodies are gzip'd JSON: DynamoDB bills writes per
//! KiB, and queue statistics compress about tenfold. History repeats the
//! shard items under a partition per shard with a TTL. See
//! `docs/dynamodb-layout.md` for the why and the cost.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::model::{QueueStats, fnv1a, queue_key};

/// How many shards queues are spread over. Part of the stored format:
/// readers and writers must agree, so it is a constant, not a setting.
/// 16 keeps a 10,000-queue snapshot's shards near 100 KB compressed, far
/// inside DynamoDB's 400 KB item limit, and the whole write inside one
/// 100-action transaction.
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
/// The table's TTL attribute (epoch seconds).
pub const ATTR_EXPIRES_AT: &str = "expiresAt";

/// The one body format this build writes: gzip'd JSON array of `QueueStats`.
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

pub fn shard_sk(shard: u32) -> String {
    format!("shard#{shard:02}")
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

/// gzip'd JSON of a shard's queues. The fast level: at these sizes it
/// compresses nearly as well as the default at a fraction of the CPU.
pub fn encode_body(queues: &[&QueueStats]) -> Vec<u8> {
    // Serialize first, compress in one write: serde's many small writes
    // straight into the deflater cost ten times the CPU.
    let json = serde_json::to_vec(queues).expect("queue stats always serialize");
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
    encoder
        .write_all(&json)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

pub fn decode_body(body: &[u8]) -> Result<Vec<QueueStats>, String> {
    let mut json = Vec::with_capacity(body.len() * 8);
    GzDecoder::new(body)
        .read_to_end(&mut json)
        .map_err(|err| format!("shard body is not gzip: {err}"))?;
    serde_json::from_slice(&json).map_err(|err| format!("shard body is not queue JSON: {err}"))
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
    fn history_keys_sort_by_time() {
        assert!(history_sk(999, "b") < history_sk(1000, "a"));
        assert!(history_sk_from(1000) <= history_sk(1000, "a"));
        assert!(history_sk_from(1001) > history_sk(1000, "zzz"));
    }
}
