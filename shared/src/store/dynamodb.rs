//! [`SnapshotWriter`] and [`SnapshotReader`] on DynamoDB.
//!
//! A poll's shards are written first, as immutable items under their
//! history partitions (`BatchWriteItem`, unprocessed items resent with
//! backoff). Only when every one is in does the head item flip to point at
//! them, with the condition "no newer snapshot is here", so an older poll
//! never replaces a newer one and a reader that follows the head can only
//! find shards of that one poll.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::layout::*;
use super::{
    HistoryPoint, PutOutcome, SnapshotReader, SnapshotSummary, SnapshotWriter, StoreError,
    StoreReason,
};
use crate::aws::describe_error;
use crate::backoff::Backoff;
use crate::gzip::Block;
use crate::model::{Snapshot, SourceName, SourceStatus, is_queue};

type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_LIMIT: usize = 25;

/// How long a write or read of many items may keep resending what
/// DynamoDB hands back unprocessed.
const BATCH_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct DynamoSnapshotStore {
    client: Client,
    table: String,
    history_retention: Duration,
    backoff: Backoff,
}

impl DynamoSnapshotStore {
    pub fn new(client: Client, table: impl Into<String>, history_retention: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            history_retention,
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

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

    /// Creates a table with this layout (pk/sk strings, on-demand, TTL on
    /// `expiresAt`), as template.yaml does in AWS: for local runs and tests.
    pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let fail = |err: &(dyn std::error::Error + 'static)| StoreError::Unavailable {
            reason: StoreReason::Unavailable,
            detail: describe_error(err),
            source: None,
        };
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set")
        };
        let key = |n: &str, t| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .expect("name and type are set")
        };
        client
            .create_table()
            .table_name(name)
            .attribute_definitions(attr(ATTR_PK))
            .attribute_definitions(attr(ATTR_SK))
            .key_schema(key(ATTR_PK, KeyType::Hash))
            .key_schema(key(ATTR_SK, KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| fail(&e))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(ATTR_EXPIRES_AT)
            .enabled(true)
            .build()
            .expect("name and flag are set");
        match client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Some emulators (dynalite) have no TTL. Readers ignore expired
            // history anyway; only storage would grow, and only locally.
            Err(err) if err.code() == Some("UnknownOperationException") => Ok(()),
            Err(err) => Err(fail(&err)),
        }
    }
}

/// The requests DynamoDB did not process for `table` (empty when all went in).
pub fn unprocessed_requests(
    unprocessed: Option<&HashMap<String, Vec<WriteRequest>>>,
    table: &str,
) -> Vec<WriteRequest> {
    unprocessed
        .and_then(|by_table| by_table.get(table))
        .cloned()
        .unwrap_or_default()
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn common_attrs(pk: &str, sk: &str, snapshot: &Snapshot) -> Item {
    HashMap::from([
        (ATTR_PK.to_owned(), s(pk)),
        (ATTR_SK.to_owned(), s(sk)),
        (ATTR_SNAPSHOT_ID.to_owned(), s(snapshot.snapshot_id.clone())),
        (
            ATTR_OBSERVED_AT_MS.to_owned(),
            n(snapshot.observed_at.timestamp_millis()),
        ),
        (ATTR_FORMAT.to_owned(), s(FORMAT_DEFLATE_JSON)),
    ])
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks string attribute {name}")))
}

fn get_millis(item: &Item) -> Result<DateTime<Utc>, StoreError> {
    let ms: i64 = item
        .get(ATTR_OBSERVED_AT_MS)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks number {ATTR_OBSERVED_AT_MS}")))?;
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("{ATTR_OBSERVED_AT_MS} out of range: {ms}")))
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks number attribute {name}")))
}

/// A shard item of this build's format, as stored.
fn stored_shard(shard: u32, item: &Item) -> Result<StoredShard, StoreError> {
    let format = get_s(item, ATTR_FORMAT)?;
    if format != FORMAT_DEFLATE_JSON {
        return Err(StoreError::Corrupt(format!(
            "shard {shard:02} has body format {format:?}, not {FORMAT_DEFLATE_JSON}"
        )));
    }
    let body = item
        .get(ATTR_BODY)
        .and_then(|v| v.as_b().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks binary {ATTR_BODY}")))?;
    Ok(StoredShard {
        shard,
        queue_count: get_n(item, ATTR_QUEUE_COUNT)?,
        body: Block {
            block: body.as_ref().to_vec(),
            crc32: get_n(item, ATTR_BODY_CRC32)?,
            len: get_n(item, ATTR_BODY_LENGTH)?,
        },
    })
}

/// The queues of a history item, in this build's format or an earlier one.
fn history_queues(shard: u32, item: &Item) -> Result<Vec<crate::model::QueueStats>, StoreError> {
    if get_s(item, ATTR_FORMAT)? == FORMAT_GZIP_JSON {
        let body = item
            .get(ATTR_BODY)
            .and_then(|v| v.as_b().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("item lacks binary {ATTR_BODY}")))?;
        return decode_legacy_body(body.as_ref()).map_err(StoreError::Corrupt);
    }
    stored_shard(shard, item)?
        .decode()
        .map_err(StoreError::Corrupt)
}

fn summary_of(head: &Item) -> Result<SnapshotSummary, StoreError> {
    let sources: Vec<SourceStatus> = serde_json::from_str(get_s(head, ATTR_SOURCES)?)
        .map_err(|err| StoreError::Corrupt(format!("head sources: {err}")))?;
    // Heads of earlier builds name no shard set; the next poll replaces them.
    let shards = head
        .get(ATTR_SHARDS)
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| {
            StoreError::Corrupt(
                "the latest snapshot was written by an earlier build; the next poll replaces it"
                    .to_owned(),
            )
        })?
        .iter()
        .map(|v| {
            v.as_n()
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|shard| *shard < SHARDS)
                .ok_or_else(|| StoreError::Corrupt(format!("head names a bad shard: {v:?}")))
        })
        .collect::<Result<Vec<u32>, _>>()?;
    Ok(SnapshotSummary {
        snapshot_id: get_s(head, ATTR_SNAPSHOT_ID)?.to_owned(),
        observed_at: get_millis(head)?,
        sources,
        queue_count: get_n(head, ATTR_QUEUE_COUNT)?,
        shards,
    })
}

#[async_trait]
impl SnapshotWriter for DynamoSnapshotStore {
    async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<PutOutcome, StoreError> {
        let shards = encode_shards(&snapshot.queues);
        if let Some(shard) = shards
            .iter()
            .find(|shard| shard.body.block.len() > MAX_BODY_BYTES)
        {
            return Err(StoreError::TooLarge(format!(
                "shard {} is {} bytes compressed, over the {MAX_BODY_BYTES}-byte item budget",
                shard.shard,
                shard.body.block.len()
            )));
        }
        // Shards first, head last: until the head flips, readers keep
        // following the previous head to the previous, complete set.
        self.write_shards(snapshot, &shards).await?;
        self.write_head(snapshot, &shards).await
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
                    StoreError::Corrupt(format!(
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

/// An SDK failure, told apart by whether retrying can fix it: a missing
/// table or a denied call needs an operator, everything else may pass.
pub(crate) fn sdk_failure<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = describe_error(&err);
    let reason = StoreReason::of_aws(err.code(), matches!(err, SdkError::TimeoutError(_)));
    let permanent = matches!(
        reason,
        StoreReason::TableMissing | StoreReason::AccessDenied
    );
    if permanent {
        StoreError::Misconfigured {
            reason,
            detail,
            source: Some(Box::new(err)),
        }
    } else {
        StoreError::Unavailable {
            reason,
            detail,
            source: Some(Box::new(err)),
        }
    }
}
