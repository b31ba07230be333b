//! [`RecordSink`] on Kinesis Data Streams `PutRecords`.
//!
//! PutRecords succeeds as a call while failing some of its entries, so the
//! SDK never reports them: [`failed_entries`] reads them out of the output,
//! and only those are resent, with backoff, until they are in or the
//! attempts run out. What is still failing then is reported per queue.

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use tokio::time::Instant;

use super::{FailedRecord, PreparedRecord, PublishReport, RecordSink};
use crate::aws::describe_error;
use crate::backoff::Backoff;
use crate::sink::StreamRef;

/// PutRecords accepts at most 500 records per call...
pub const MAX_RECORDS_PER_CALL: usize = 500;
/// ...and at most 5 MiB per call, data and partition keys together...
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;
/// ...and at most 1 MiB per record.
pub const MAX_BYTES_PER_RECORD: usize = 1024 * 1024;

#[derive(Clone, Debug)]
pub struct KinesisSink {
    client: Client,
    stream: StreamRef,
    backoff: Backoff,
    /// How long one publish may take, retries included.
    budget: Duration,
}

impl KinesisSink {
    pub fn new(client: Client, stream: StreamRef, budget: Duration) -> Self {
        Self {
            client,
            stream,
            backoff: Backoff::default(),
            budget,
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sends one batch, resending failed entries; returns what finally failed.
    async fn send_batch(
        &self,
        batch: &[PreparedRecord],
        deadline: Instant,
        report: &mut PublishReport,
    ) -> Vec<FailedRecord> {
        // Indexes into `batch` of what still has to go out.
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut last_errors: Vec<(String, String)> =
            vec![(String::new(), String::new()); batch.len()];
        let mut attempt = 0;
        loop {
            let entries: Vec<PutRecordsRequestEntry> = pending
                .iter()
                .map(|&i| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(batch[i].data.to_vec()))
                        .partition_key(&batch[i].partition_key)
                        .build()
                        .expect("data and partition key are set")
                })
                .collect();
            let request = self.client.put_records().set_records(Some(entries));
            let request = match &self.stream {
                StreamRef::Name(name) => request.stream_name(name),
                StreamRef::Arn(arn) => request.stream_arn(arn),
            };
            report.calls += 1;
            match request.send().await {
                Ok(output) => {
                    let failed = failed_entries(&output);
                    report.sent += pending.len() - failed.len();
                    let still: Vec<usize> = failed
                        .into_iter()
                        .map(|(position, code, message)| {
                            let index = pending[position];
                            last_errors[index] = (code, message);
                            index
                        })
                        .collect();
                    pending = still;
                }
                Err(err) => {
                    // The whole call failed (the SDK already retried what it
                    // deems transient): every pending entry keeps its place.
                    use aws_sdk_kinesis::error::ProvideErrorMetadata;
                    let code = err.code().unwrap_or("PutRecordsFailed").to_owned();
                    let message = describe_error(&err);
                    for &index in &pending {
                        last_errors[index] = (code.clone(), message.clone());
                    }
                }
            }
            if pending.is_empty() {
                return Vec::new();
            }
            attempt += 1;
            if !self.backoff.pause(attempt, deadline).await {
                return pending
                    .into_iter()
                    .map(|index| {
                        let (code, message) = std::mem::take(&mut last_errors[index]);
                        FailedRecord {
                            queue_id: batch[index].queue_id.clone(),
                            code,
                            message,
                        }
                    })
                    .collect();
            }
        }
    }
}

/// Positions (in the request), error codes and messages of the entries a
/// PutRecords call did not accept. An entry failed when it carries an
/// error code; `FailedRecordCount` alone does not say which.
pub fn failed_entries(output: &PutRecordsOutput) -> Vec<(usize, String, String)> {
    if output.failed_record_count() == Some(0) {
        return Vec::new();
    }
    output
        .records()
        .iter()
        .enumerate()
        .filter_map(|(position, entry)| {
            entry.error_code().map(|code| {
                (
                    position,
                    code.to_owned(),
                    entry.error_message().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect()
}

/// Splits records into PutRecords calls within the count and byte limits.
/// Records over the per-record limit are left out of every batch; the
/// caller reports them.
pub fn plan_batches(records: &[PreparedRecord]) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, record) in records.iter().enumerate() {
        let size = record.billed_size();
        if index > start
            && (index - start == MAX_RECORDS_PER_CALL || bytes + size > MAX_BYTES_PER_CALL)
        {
            batches.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < records.len() {
        batches.push(start..records.len());
    }
    batches
}

#[async_trait]
impl RecordSink for KinesisSink {
    async fn publish(&self, records: Vec<PreparedRecord>) -> PublishReport {
        let deadline = Instant::now() + self.budget;
        let mut report = PublishReport::default();
        let (sendable, oversized): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|r| r.billed_size() <= MAX_BYTES_PER_RECORD);
        report
            .failed
            .extend(oversized.into_iter().map(|r| FailedRecord {
                message: format!(
                    "record is {} bytes, over Kinesis' {MAX_BYTES_PER_RECORD}-byte limit",
                    r.billed_size()
                ),
                queue_id: r.queue_id,
                code: "RecordTooLarge".to_owned(),
            }));
        for range in plan_batches(&sendable) {
            let failed = self
                .send_batch(&sendable[range], deadline, &mut report)
                .await;
            report.failed.extend(failed);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kinesis::types::PutRecordsResultEntry;

    fn record(size: usize) -> PreparedRecord {
        PreparedRecord {
            queue_id: "q".into(),
            partition_key: "q".into(),
            data: vec![b'x'; size - 1].into(),
        }
    }

    #[test]
    fn batches_respect_the_record_count() {
        let records: Vec<_> = (0..1201).map(|_| record(10)).collect();
        assert_eq!(plan_batches(&records), vec![0..500, 500..1000, 1000..1201]);
        assert!(plan_batches(&[]).is_empty());
    }

    #[test]
    fn batches_respect_the_byte_limit() {
        let records: Vec<_> = (0..12).map(|_| record(1024 * 1024)).collect();
        let batches = plan_batches(&records);
        assert_eq!(batches, vec![0..5, 5..10, 10..12]);
    }

    #[test]
    fn failed_entries_are_read_from_the_output() {
        let ok = PutRecordsResultEntry::builder()
            .sequence_number("1")
            .shard_id("shardId-000000000000")
            .build();
        let throttled = PutRecordsResultEntry::builder()
            .error_code("ProvisionedThroughputExceededException")
            .error_message("Rate exceeded for shard")
            .build();
        let output = PutRecordsOutput::builder()
            .failed_record_count(1)
            .records(ok.clone())
            .records(throttled)
            .records(ok)
            .build()
            .unwrap();
        let failed = failed_entries(&output);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, 1);
        assert_eq!(failed[0].1, "ProvisionedThroughputExceededException");
    }
}
