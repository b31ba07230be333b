//! Writing a snapshot: its shards first, then the head that names them.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use tokio::time::Instant;

use crate::model::Snapshot;
use crate::store::layout::*;
use crate::store::{PutOutcome, SnapshotWriter, StoreError};

use super::codec::*;
use super::*;

impl DynamoSnapshotStore {
    /// The head: points readers at this snapshot's shards. Written last,
    /// and only over an older snapshot (or a retry of this one).
    async fn write_head(
        &self,
        snapshot: &Snapshot,
        shards: &[StoredShard],
    ) -> Result<PutOutcome, StoreError> {
        let sources = serde_json::to_string(&snapshot.sources).expect("statuses serialize");
        let mut head = common_attrs(LATEST_PK, HEAD_SK, snapshot);
        head.insert(ATTR_SOURCES.into(), s(sources));
        head.insert(ATTR_QUEUE_COUNT.into(), n(snapshot.queues.len()));
        head.insert(ATTR_SHARD_COUNT.into(), n(SHARDS));
        head.insert(
            ATTR_SHARDS.into(),
            AttributeValue::L(shards.iter().map(|shard| n(shard.shard)).collect()),
        );
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(head))
            // Newer-or-same wins: a retry of this very snapshot succeeds,
            // an older poll arriving late does not.
            .condition_expression("attribute_not_exists(#pk) OR #t < :t OR #id = :id")
            .expression_attribute_names("#pk", ATTR_PK)
            .expression_attribute_names("#t", ATTR_OBSERVED_AT_MS)
            .expression_attribute_names("#id", ATTR_SNAPSHOT_ID)
            .expression_attribute_values(":t", n(snapshot.observed_at.timestamp_millis()))
            .expression_attribute_values(":id", s(snapshot.snapshot_id.clone()))
            .send()
            .await;
        match written {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(PutOutcome::Superseded)
            }
            Err(err) => Err(sdk_failure(err)),
        }
    }

    /// The snapshot's shards, each one immutable item under its history
    /// partition: the set the head will point at, and the history.
    async fn write_shards(
        &self,
        snapshot: &Snapshot,
        shards: &[StoredShard],
    ) -> Result<(), StoreError> {
        let expires_at = (snapshot.observed_at
            + chrono::Duration::from_std(self.history_retention)
                .unwrap_or(chrono::Duration::days(1)))
        .timestamp();
        let sk = history_sk(
            snapshot.observed_at.timestamp_millis(),
            &snapshot.snapshot_id,
        );
        let requests: Vec<WriteRequest> = shards
            .iter()
            .map(|shard| {
                let mut item = common_attrs(&history_pk(shard.shard), &sk, snapshot);
                item.insert(
                    ATTR_BODY.into(),
                    AttributeValue::B(Blob::new(shard.body.block.clone())),
                );
                item.insert(ATTR_BODY_CRC32.into(), n(shard.body.crc32));
                item.insert(ATTR_BODY_LENGTH.into(), n(shard.body.len));
                item.insert(ATTR_QUEUE_COUNT.into(), n(shard.queue_count));
                item.insert(ATTR_EXPIRES_AT.into(), n(expires_at));
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .expect("item is set");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let deadline = Instant::now() + BATCH_DEADLINE;
        let writes = requests
            .chunks(BATCH_WRITE_LIMIT)
            .map(|chunk| self.batch_write(chunk.to_vec(), deadline));
        futures::future::try_join_all(writes).await?;
        Ok(())
    }

    /// One BatchWriteItem, resending whatever DynamoDB hands back as
    /// unprocessed until it is all in or the backoff gives up.
    async fn batch_write(
        &self,
        mut pending: Vec<WriteRequest>,
        deadline: Instant,
    ) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await
                .map_err(sdk_failure)?;
            pending = unprocessed_requests(output.unprocessed_items(), &self.table);
            if pending.is_empty() {
                return Ok(());
            }
            attempt += 1;
            if !self.backoff.pause(attempt, deadline).await {
                return Err(StoreError::Unprocessed {
                    attempts: attempt,
                    items: pending.len(),
                });
            }
        }
    }
}

#[async_trait]
impl SnapshotWriter for DynamoSnapshotStore {
    async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<PutOutcome, StoreError> {
        let shards = encode_shards(&snapshot.queues);
        if let Some(shard) = shards
            .iter()
            .find(|shard| shard.body.block.len() > MAX_BODY_BYTES)
        {
            return Err(StoreError::TooLarge {
                shard: shard.shard,
                bytes: shard.body.block.len(),
                limit: MAX_BODY_BYTES,
            });
        }
        // Shards first, head last: until the head flips, readers keep
        // following the previous head to the previous, complete set.
        self.write_shards(snapshot, &shards).await?;
        self.write_head(snapshot, &shards).await
    }
}
