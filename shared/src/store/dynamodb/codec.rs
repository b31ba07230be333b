//! Items to and from the model: attributes, heads and shards.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::gzip::Block;
use crate::model::{Snapshot, SourceStatus};
use crate::store::layout::*;
use crate::store::{SnapshotSummary, StoreError};

use super::*;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn common_attrs(pk: &str, sk: &str, snapshot: &Snapshot) -> Item {
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

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::corrupt(format!("item lacks string attribute {name}")))
}

pub(super) fn get_millis(item: &Item) -> Result<DateTime<Utc>, StoreError> {
    let ms: i64 = item
        .get(ATTR_OBSERVED_AT_MS)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::corrupt(format!("item lacks number {ATTR_OBSERVED_AT_MS}")))?;
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::corrupt(format!("{ATTR_OBSERVED_AT_MS} out of range: {ms}")))
}

pub(super) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::corrupt(format!("item lacks number attribute {name}")))
}

/// A shard item of this build's format, as stored.
pub(super) fn stored_shard(shard: u32, item: &Item) -> Result<StoredShard, StoreError> {
    let format = get_s(item, ATTR_FORMAT)?;
    if format != FORMAT_DEFLATE_JSON {
        return Err(StoreError::corrupt(format!(
            "shard {shard:02} has body format {format:?}, not {FORMAT_DEFLATE_JSON}"
        )));
    }
    let body = item
        .get(ATTR_BODY)
        .and_then(|v| v.as_b().ok())
        .ok_or_else(|| StoreError::corrupt(format!("item lacks binary {ATTR_BODY}")))?;
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
pub(super) fn history_queues(
    shard: u32,
    item: &Item,
) -> Result<Vec<crate::model::QueueStats>, StoreError> {
    if get_s(item, ATTR_FORMAT)? == FORMAT_GZIP_JSON {
        let body = item
            .get(ATTR_BODY)
            .and_then(|v| v.as_b().ok())
            .ok_or_else(|| StoreError::corrupt(format!("item lacks binary {ATTR_BODY}")))?;
        return decode_legacy_body(body.as_ref());
    }
    stored_shard(shard, item)?.decode()
}

pub(super) fn summary_of(head: &Item) -> Result<SnapshotSummary, StoreError> {
    let sources: Vec<SourceStatus> = serde_json::from_str(get_s(head, ATTR_SOURCES)?)
        .map_err(|err| StoreError::corrupt_by("head sources", err))?;
    // Heads of earlier builds name no shard set; the next poll replaces them.
    let shards = head
        .get(ATTR_SHARDS)
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| {
            StoreError::corrupt(
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
                .ok_or_else(|| StoreError::corrupt(format!("head names a bad shard: {v:?}")))
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
