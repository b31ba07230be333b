//! [`SnapshotWriter`] and [`SnapshotReader`] on DynamoDB.
//!
//! A poll's shards are written first, as immutable items under their
//! history partitions (`BatchWriteItem`, unprocessed items resent with
//! backoff). Only when every one is in does the head item flip to point at
//! them, with the condition "no newer snapshot is here", so an older poll
//! never replaces a newer one and a reader that follows the head can only
//! find shards of that one poll.
//!
//! One file a concern: `writer.rs` (shards, then the head), `reader.rs`
//! (the head, its shards, history), `table.rs` (the layout's table, for
//! local runs and tests), `codec.rs` (items to and from the model), and
//! here the store itself and how an SDK failure becomes a [`StoreError`].

mod codec;
mod reader;
mod table;
mod writer;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};

use crate::aws::describe_error;
use crate::backoff::Backoff;
use crate::store::{StoreError, StoreReason};

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
