//! [`SnapshotWriter`] and [`SnapshotReader`] on DynamoDB.
//!
//! The latest snapshot is written as one transaction (head + every shard)
//! whose head carries the condition "no newer snapshot is here", so readers
//! never see a mix of two polls and an older poll never overwrites a newer
//! one. History items are written beside it with `BatchWriteItem`, resending
//! unprocessed items with backoff.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::layout::{self, *};
use super::{
    HistoryPoint, LatestQueue, PutOutcome, SnapshotReader, SnapshotSummary, SnapshotWriter,
    StoreError,
};
use crate::aws::describe_error;
use crate::backoff::Backoff;
use crate::model::{Snapshot, SourceStatus, names_queue};

type Item = HashMap<String, AttributeValue>;

/// One shard's queues, compressed once and written to both latest and history.
struct EncodedShard {
    body: Vec<u8>,
    queue_count: usize,
}

/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_LIMIT: usize = 25;

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

    fn latest_items(
        &self,
        snapshot: &Snapshot,
        bodies: &[EncodedShard],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let observed_ms = snapshot.observed_at.timestamp_millis();
        let sources = serde_json::to_string(&snapshot.sources).expect("statuses serialize");
        let mut head = common_attrs(LATEST_PK, HEAD_SK, snapshot);
        head.insert(ATTR_SOURCES.into(), s(sources));
        head.insert(ATTR_QUEUE_COUNT.into(), n(snapshot.queues.len()));
        head.insert(ATTR_SHARD_COUNT.into(), n(SHARDS));
        let head_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(head))
            // Newer-or-same wins: a retry of this very snapshot succeeds,
            // an older poll arriving late does not.
            .condition_expression("attribute_not_exists(#pk) OR #t < :t OR #id = :id")
            .expression_attribute_names("#pk", ATTR_PK)
            .expression_attribute_names("#t", ATTR_OBSERVED_AT_MS)
            .expression_attribute_names("#id", ATTR_SNAPSHOT_ID)
            .expression_attribute_values(":t", n(observed_ms))
            .expression_attribute_values(":id", s(snapshot.snapshot_id.clone()))
            .build()
            .map_err(|err| unavailable(err.to_string(), err))?;
        let mut items = vec![TransactWriteItem::builder().put(head_put).build()];
        for (shard, EncodedShard { body, .. }) in bodies.iter().enumerate() {
            let mut item = common_attrs(LATEST_PK, &shard_sk(shard as u32), snapshot);
            item.insert(ATTR_BODY.into(), AttributeValue::B(Blob::new(body.clone())));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(|err| unavailable(err.to_string(), err))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(items)
    }

    async fn write_latest(
        &self,
        snapshot: &Snapshot,
        bodies: &[EncodedShard],
    ) -> Result<PutOutcome, StoreError> {
        let items = self.latest_items(snapshot, bodies)?;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
                    err.as_service_error()
                {
                    let superseded = cancel
                        .cancellation_reasons()
                        .iter()
                        .any(|reason| reason.code() == Some("ConditionalCheckFailed"));
                    if superseded {
                        return Ok(PutOutcome::Superseded);
                    }
                }
                Err(sdk_failure(err))
            }
        }
    }

    async fn write_history(
        &self,
        snapshot: &Snapshot,
        bodies: &[EncodedShard],
    ) -> Result<(), StoreError> {
        let observed_ms = snapshot.observed_at.timestamp_millis();
        let expires_at = (snapshot.observed_at
            + chrono::Duration::from_std(self.history_retention)
                .unwrap_or(chrono::Duration::days(1)))
        .timestamp();
        let sk = history_sk(observed_ms, &snapshot.snapshot_id);
        let requests: Vec<WriteRequest> = bodies
            .iter()
            .enumerate()
            // An empty shard has nothing to remember.
            .filter(|(_, shard)| shard.queue_count > 0)
            .map(|(shard, EncodedShard { body, .. })| {
                let mut item = common_attrs(&history_pk(shard as u32), &sk, snapshot);
                item.insert(ATTR_BODY.into(), AttributeValue::B(Blob::new(body.clone())));
                item.insert(ATTR_EXPIRES_AT.into(), n(expires_at));
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .expect("item is set");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        for chunk in requests.chunks(BATCH_WRITE_LIMIT) {
            self.batch_write(chunk.to_vec(), deadline).await?;
        }
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
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| fail(&e))?;
        Ok(())
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
        (ATTR_FORMAT.to_owned(), s(FORMAT_GZIP_JSON)),
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

fn get_queues(item: &Item) -> Result<Vec<crate::model::QueueStats>, StoreError> {
    if let Some(format) = item.get(ATTR_FORMAT).and_then(|v| v.as_s().ok())
        && format != FORMAT_GZIP_JSON
    {
        return Err(StoreError::Corrupt(format!(
            "unknown body format {format:?}"
        )));
    }
    let body = item
        .get(ATTR_BODY)
        .and_then(|v| v.as_b().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks binary {ATTR_BODY}")))?;
    decode_body(body.as_ref()).map_err(StoreError::Corrupt)
}

fn summary_of(head: &Item) -> Result<SnapshotSummary, StoreError> {
    let sources: Vec<SourceStatus> = serde_json::from_str(get_s(head, ATTR_SOURCES)?)
        .map_err(|err| StoreError::Corrupt(format!("head sources: {err}")))?;
    let queue_count = head
        .get(ATTR_QUEUE_COUNT)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(SnapshotSummary {
        snapshot_id: get_s(head, ATTR_SNAPSHOT_ID)?.to_owned(),
        observed_at: get_millis(head)?,
        sources,
        queue_count,
    })
}

#[async_trait]
impl SnapshotWriter for DynamoSnapshotStore {
    async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<PutOutcome, StoreError> {
        let bodies: Vec<EncodedShard> = layout::partition(&snapshot.queues)
            .iter()
            .map(|shard| EncodedShard {
                body: encode_body(shard),
                queue_count: shard.len(),
            })
            .collect();
        if let Some((shard, encoded)) = bodies
            .iter()
            .enumerate()
            .find(|(_, e)| e.body.len() > MAX_BODY_BYTES)
        {
            return Err(StoreError::TooLarge(format!(
                "shard {shard} is {} bytes compressed, over the {MAX_BODY_BYTES}-byte item budget",
                encoded.body.len()
            )));
        }
        // Latest and history are independent items: write them together.
        let (latest, history) = tokio::join!(
            self.write_latest(snapshot, &bodies),
            self.write_history(snapshot, &bodies)
        );
        let outcome = latest?;
        history?;
        Ok(outcome)
    }
}

#[async_trait]
impl SnapshotReader for DynamoSnapshotStore {
    async fn latest_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        // The head and its shards were written in one transaction; a
        // strongly consistent read sees all of one snapshot.
        let items = self.query_all(LATEST_PK, None, true).await?;
        let Some(head) = items
            .iter()
            .find(|i| get_s(i, ATTR_SK).ok() == Some(HEAD_SK))
        else {
            return Ok(None);
        };
        let summary = summary_of(head)?;
        let snapshot_id = summary.snapshot_id;
        let mut queues = Vec::new();
        for item in items
            .iter()
            .filter(|i| get_s(i, ATTR_SK).is_ok_and(|sk| sk != HEAD_SK))
        {
            if get_s(item, ATTR_SNAPSHOT_ID)? != snapshot_id {
                return Err(StoreError::Corrupt(format!(
                    "shard {} belongs to another snapshot than the head",
                    get_s(item, ATTR_SK)?
                )));
            }
            queues.extend(get_queues(item)?);
        }
        crate::model::sort_canonical(&mut queues);
        Ok(Some(Snapshot {
            snapshot_id,
            observed_at: summary.observed_at,
            sources: summary.sources,
            queues,
        }))
    }

    async fn latest_summary(&self) -> Result<Option<SnapshotSummary>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ATTR_PK, s(LATEST_PK))
            .key(ATTR_SK, s(HEAD_SK))
            .send()
            .await
            .map_err(sdk_failure)?;
        output.item().map(summary_of).transpose()
    }

    async fn latest_queue(&self, queue_id: &str) -> Result<Option<LatestQueue>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ATTR_PK, s(LATEST_PK))
            .key(ATTR_SK, s(shard_sk(shard_of(queue_id))))
            .send()
            .await
            .map_err(sdk_failure)?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let queue = get_queues(item)?
            .into_iter()
            .find(|q| names_queue(queue_id, &q.queue_id));
        Ok(match queue {
            Some(queue) => Some(LatestQueue {
                snapshot_id: get_s(item, ATTR_SNAPSHOT_ID)?.to_owned(),
                observed_at: get_millis(item)?,
                queue,
            }),
            None => None,
        })
    }

    async fn queue_history(
        &self,
        queue_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        let from = history_sk_from(since.timestamp_millis());
        let items = self
            .query_all(&history_pk(shard_of(queue_id)), Some(&from), false)
            .await?;
        let now = Utc::now().timestamp();
        let mut points = Vec::new();
        for item in &items {
            // TTL deletion lags by up to days: expired items are not history.
            let expired = item
                .get(ATTR_EXPIRES_AT)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|at| at < now);
            if expired {
                continue;
            }
            if let Some(queue) = get_queues(item)?
                .into_iter()
                .find(|q| names_queue(queue_id, &q.queue_id))
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
fn unavailable(detail: String, cause: impl Into<crate::source::BoxError>) -> StoreError {
    StoreError::Unavailable {
        detail,
        source: Some(cause.into()),
    }
}

/// An SDK failure, told apart by whether retrying can fix it: a missing
/// table or a denied call needs an operator, everything else may pass.
fn sdk_failure<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = describe_error(&err);
    let permanent = matches!(
        err.code(),
        Some(
            "ResourceNotFoundException"
                | "AccessDeniedException"
                | "UnrecognizedClientException"
                | "MissingAuthenticationTokenException"
        )
    );
    if permanent {
        StoreError::Misconfigured {
            detail,
            source: Some(Box::new(err)),
        }
    } else {
        unavailable(detail, err)
    }
}
