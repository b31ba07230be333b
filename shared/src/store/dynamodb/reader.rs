//! Reading: the head, the shards it names, and history.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::model::{SourceName, is_queue};
use crate::store::layout::*;
use crate::store::{HistoryPoint, SnapshotReader, SnapshotSummary, StoreError, StoreReason};

use super::codec::*;
use super::*;

impl DynamoSnapshotStore {
    /// The items of `keys` (at most 100), strongly consistent: a shard
    /// written before the head that named it is always found. Unprocessed
    /// keys are asked for again with backoff.
    async fn batch_get(&self, mut keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let deadline = Instant::now() + BATCH_DEADLINE;
        let mut items = Vec::with_capacity(keys.len());
        let mut attempt = 0;
        loop {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|err| StoreError::Unavailable {
                    reason: StoreReason::Unavailable,
                    detail: err.to_string(),
                    source: Some(Box::new(err)),
                })?;
            let mut output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(sdk_failure)?;
            if let Some(mut found) = output
                .responses
                .take()
                .and_then(|mut r| r.remove(&self.table))
            {
                items.append(&mut found);
            }
            keys = output
                .unprocessed_keys
                .take()
                .and_then(|mut left| left.remove(&self.table))
                .map(|left| left.keys)
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(items);
            }
            attempt += 1;
            if !self.backoff.pause(attempt, deadline).await {
                return Err(StoreError::Unavailable {
                    reason: StoreReason::Unavailable,
                    detail: format!(
                        "{} keys were still unprocessed after {attempt} attempts",
                        keys.len()
                    ),
                    source: None,
                });
            }
        }
    }

    /// Every item of partition `pk` (from sort key `from_sk` on), all pages.
    async fn query_all(
        &self,
        pk: &str,
        from_sk: Option<&str>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_names("#pk", ATTR_PK)
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(consistent);
        query = match from_sk {
            Some(from) => query
                .key_condition_expression("#pk = :pk AND #sk >= :from")
                .expression_attribute_names("#sk", ATTR_SK)
                .expression_attribute_values(":from", s(from)),
            None => query.key_condition_expression("#pk = :pk"),
        };
        query
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(sdk_failure)
    }
}

impl DynamoSnapshotStore {
    /// One item, strongly consistent: a reader never goes back to an older
    /// version than one it (or the poller) has already seen.
    async fn get_consistent(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ATTR_PK, s(pk))
            .key(ATTR_SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_failure)?;
        Ok(output.item)
    }
}

#[async_trait]
impl SnapshotReader for DynamoSnapshotStore {
    async fn latest_summary(&self) -> Result<Option<SnapshotSummary>, StoreError> {
        // Strongly consistent: a reader never goes back to an older head
        // than one it (or the poller) has already seen.
        self.get_consistent(LATEST_PK, HEAD_SK)
            .await?
            .as_ref()
            .map(summary_of)
            .transpose()
    }

    async fn snapshot_shards(
        &self,
        summary: &SnapshotSummary,
        only: Option<&[u32]>,
    ) -> Result<Vec<StoredShard>, StoreError> {
        let wanted = summary.shards_among(only);
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let sk = history_sk(summary.observed_at.timestamp_millis(), &summary.snapshot_id);
        let keys: Vec<Item> = wanted
            .iter()
            .map(|shard| {
                HashMap::from([
                    (ATTR_PK.to_owned(), s(history_pk(*shard))),
                    (ATTR_SK.to_owned(), s(sk.clone())),
                ])
            })
            .collect();
        let items = self.batch_get(keys).await?;
        let mut shards = Vec::with_capacity(wanted.len());
        for shard in wanted {
            let pk = history_pk(shard);
            let item = items
                .iter()
                .find(|item| get_s(item, ATTR_PK).ok() == Some(pk.as_str()))
                .ok_or_else(|| {
                    StoreError::corrupt(format!(
                        "shard {shard:02} of snapshot {} is missing (kept only for \
                         HISTORY_RETENTION_HOURS: has the poller stopped for that long?)",
                        summary.snapshot_id
                    ))
                })?;
            shards.push(stored_shard(shard, item)?);
        }
        Ok(shards)
    }

    async fn queue_history(
        &self,
        queue_id: &str,
        source: Option<&SourceName>,
        since: DateTime<Utc>,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        let shard = shard_of(queue_id);
        let from = history_sk_from(since.timestamp_millis());
        let items = self
            .query_all(&history_pk(shard), Some(&from), false)
            .await?;
        let now = Utc::now().timestamp();
        let mut points = Vec::new();
        // Each point is one immutable item, written whole: a point never
        // mixes two polls.
        for item in &items {
            // TTL deletion lags by up to days: expired items are not history.
            let expired = get_n::<i64>(item, ATTR_EXPIRES_AT).is_ok_and(|at| at < now);
            if expired {
                continue;
            }
            // Every source's queue of that id (a shard holds them all),
            // or the one source's asked for.
            for queue in history_queues(shard, item)?
                .into_iter()
                .filter(|q| is_queue(queue_id, source, q))
            {
                points.push(HistoryPoint {
                    snapshot_id: get_s(item, ATTR_SNAPSHOT_ID)?.to_owned(),
                    observed_at: get_millis(item)?,
                    queue,
                });
            }
        }
        Ok(points)
    }
}
