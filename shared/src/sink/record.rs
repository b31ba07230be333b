//! The Kinesis record contract: envelope + `QueueStats` (docs/kinesis-record.schema.json).

use bytes::Bytes;
use serde::Serialize;
use uuid::Uuid;

use crate::model::{QueueStats, Snapshot, SourceName, format_rfc3339};
use crate::sink::Tenant;

pub const EVENT_TYPE: &str = "QUEUE_STATS";
pub const EVENT_VERSION: u32 = 1;

/// Namespace of our deterministic event ids (UUID v5).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a7e_5d3b_4c19_9e0a_b8f4_1d27_c356);

/// Kinesis limits partition keys to 256 Unicode characters.
const PARTITION_KEY_LIMIT: usize = 256;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRecord<'a> {
    pub event_type: &'static str,
    pub event_version: u32,
    pub event_id: String,
    pub event_timestamp: String,
    pub company_code: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub snapshot_id: &'a str,
    pub source: &'a SourceName,
    pub queue: &'a QueueStats,
}

/// A record ready for PutRecords: its key, its bytes, and what it describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedRecord {
    pub queue_id: String,
    pub partition_key: String,
    pub data: Bytes,
}

impl PreparedRecord {
    /// What the record counts against PutRecords' 5 MiB request limit.
    pub fn billed_size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// The same snapshot, source and queue always give the same id, so a
/// resend is recognisable as a duplicate downstream.
pub fn event_id(snapshot_id: &str, source: &SourceName, queue_id: &str) -> String {
    let name = format!("{snapshot_id}\n{source}\n{queue_id}");
    Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes()).to_string()
}

fn partition_key(queue_id: &str) -> String {
    match queue_id.char_indices().nth(PARTITION_KEY_LIMIT) {
        // Only routing depends on the key: a shared prefix is harmless.
        Some((cut, _)) => queue_id[..cut].to_owned(),
        None if queue_id.is_empty() => "-".to_owned(),
        None => queue_id.to_owned(),
    }
}

/// One record per queue of the snapshot.
pub fn records_for(snapshot: &Snapshot, tenant: Option<&Tenant>) -> Vec<PreparedRecord> {
    let event_timestamp = format_rfc3339(&snapshot.observed_at);
    snapshot
        .queues
        .iter()
        .map(|queue| {
            let record = QueueRecord {
                event_type: EVENT_TYPE,
                event_version: EVENT_VERSION,
                event_id: event_id(&snapshot.snapshot_id, &queue.source, &queue.queue_id),
                event_timestamp: event_timestamp.clone(),
                company_code: tenant.map(|t: &Tenant| t.company_code.as_str()),
                environment: tenant.map(|t| t.environment.as_str()),
                snapshot_id: &snapshot.snapshot_id,
                source: &queue.source,
                queue,
            };
            PreparedRecord {
                queue_id: queue.queue_id.clone(),
                partition_key: partition_key(&queue.queue_id),
                data: serde_json::to_vec(&record)
                    .expect("records serialize")
                    .into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_deterministic_and_distinct() {
        let a = event_id("snap-1", &SourceName::Symbee, "q1");
        assert_eq!(a, event_id("snap-1", &SourceName::Symbee, "q1"));
        assert_ne!(a, event_id("snap-2", &SourceName::Symbee, "q1"));
        assert_ne!(a, event_id("snap-1", &SourceName::Connect, "q1"));
        assert_ne!(a, event_id("snap-1", &SourceName::Symbee, "q2"));
    }

    #[test]
    fn partition_keys_respect_the_kinesis_limit() {
        let long = "é".repeat(300);
        assert_eq!(partition_key(&long).chars().count(), 256);
        assert_eq!(partition_key("q1"), "q1");
        assert_eq!(partition_key(""), "-");
    }
}
