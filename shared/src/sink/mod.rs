//! Where per-queue records go: one trait, Kinesis the implementation.
//!
//! Records sit beside Symbee's interaction event feed, so each carries an
//! envelope consumers can filter (`eventType`) and deduplicate (`eventId`).
//! Partial failure is normal for PutRecords and is reported per record,
//! never silently dropped.

pub mod kinesis;
pub mod record;

use async_trait::async_trait;

pub use record::{PreparedRecord, QueueRecord};

/// A record that could not be delivered, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRecord {
    pub queue_id: String,
    pub code: String,
    pub message: String,
}

/// What became of one batch of records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub sent: usize,
    pub failed: Vec<FailedRecord>,
    /// PutRecords calls made, retries included.
    pub calls: usize,
}

#[async_trait]
pub trait RecordSink: Send + Sync {
    /// Delivers every record it can; what it cannot is listed in the report.
    async fn publish(&self, records: Vec<PreparedRecord>) -> PublishReport;
}
