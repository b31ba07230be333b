//! Partial failures that moto cannot produce, on the real SDK clients with
//! scripted responses (aws-smithy-mocks): Kinesis `FailedRecordCount`,
//! DynamoDB `UnprocessedItems` / `UnprocessedKeys` and failed conditional
//! writes. Our sink and store code run unchanged; only the service's
//! answers are scripted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::Region;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, ProvisionedThroughputExceededException,
};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use aws_sdk_kinesis::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use chrono::Utc;
use queue_stats::backoff::Backoff;
use queue_stats::model::{
    DeliveryProvider, OpenClosedState, QueueStats, Snapshot, SourceName, TaskType,
};
use queue_stats::sink::StreamRef;
use queue_stats::sink::kinesis::KinesisSink;
use queue_stats::sink::record::records_for;
use queue_stats::sink::{PreparedRecord, RecordSink};
use queue_stats::store::dynamodb::DynamoSnapshotStore;
use queue_stats::store::{PutOutcome, SnapshotReader, SnapshotWriter};

fn fast_backoff() -> Backoff {
    Backoff {
        max_attempts: 4,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    }
}

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

/// A client of one SDK crate whose every call is answered by `rules`.
macro_rules! mocked_client {
    ($sdk:ident, $name:ident) => {
        fn $name(rules: &[&Rule]) -> $sdk::Client {
            let config = $sdk::Config::builder()
                .behavior_version_latest()
                .region(Region::new("us-east-1"))
                .credentials_provider($sdk::config::Credentials::new("t", "t", None, None, "test"))
                .http_client(create_mock_http_client())
                .interceptor(interceptor(rules))
                .build();
            $sdk::Client::from_conf(config)
        }
    };
}

mocked_client!(aws_sdk_kinesis, kinesis);
mocked_client!(aws_sdk_dynamodb, dynamodb);
mocked_client!(aws_sdk_eventbridge, eventbridge);

fn snapshot(n: usize) -> Snapshot {
    let queues = (0..n)
        .map(|i| {
            QueueStats::new(
                SourceName::Symbee,
                format!("q{i}"),
                format!("Queue {i}"),
                DeliveryProvider::Symbee,
                TaskType::Sms,
                OpenClosedState::ForcedOpen,
            )
        })
        .collect();
    Snapshot {
        snapshot_id: "snap".into(),
        observed_at: Utc::now(),
        sources: vec![],
        queues,
    }
}

fn records(n: usize) -> Vec<PreparedRecord> {
    records_for(&snapshot(n), None)
}

fn accepted() -> PutRecordsResultEntry {
    PutRecordsResultEntry::builder()
        .sequence_number("49590338271490256608559692538361571095921575989136588898")
        .shard_id("shardId-000000000000")
        .build()
}

fn throttled() -> PutRecordsResultEntry {
    PutRecordsResultEntry::builder()
        .error_code("ProvisionedThroughputExceededException")
        .error_message("Rate exceeded for shard shardId-000000000000")
        .build()
}

/// Answers each entry by its partition key and records what each call sent.
fn put_records_rule(
    fails: impl Fn(&str, usize) -> bool + Send + Sync + 'static,
    calls: Arc<Mutex<Vec<Vec<String>>>>,
) -> Rule {
    mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(move |input| {
        let mut log = calls.lock().unwrap();
        let keys: Vec<String> = input
            .records()
            .iter()
            .map(|r| r.partition_key().to_owned())
            .collect();
        let call = log.len();
        let entries: Vec<PutRecordsResultEntry> = keys
            .iter()
            .map(|k| {
                if fails(k, call) {
                    throttled()
                } else {
                    accepted()
                }
            })
            .collect();
        log.push(keys);
        let failed = entries.iter().filter(|e| e.error_code().is_some()).count() as i32;
        PutRecordsOutput::builder()
            .failed_record_count(failed)
            .set_records(Some(entries))
            .build()
            .unwrap()
    })
}

#[tokio::test]
async fn given_a_partial_failure_when_publishing_then_only_failed_entries_are_resent() {
    // GIVEN Kinesis throttles q1 once
    let calls = Arc::new(Mutex::new(Vec::new()));
    let rule = put_records_rule(|key, call| key == "q1" && call == 0, calls.clone());
    let sink = KinesisSink::new(
        kinesis(&[&rule]),
        StreamRef::Name("s".into()),
        Duration::from_secs(5),
    )
    .with_backoff(fast_backoff());

    // WHEN three records go out
    let report = sink.publish(records(3)).await;

    // THEN all three are in, and the second call carried q1 alone
    assert_eq!(report.sent, 3);
    assert!(report.failed.is_empty());
    assert_eq!(report.calls, 2);
    let calls = calls.lock().unwrap();
    assert_eq!(calls[0], vec!["q0", "q1", "q2"]);
    assert_eq!(calls[1], vec!["q1"]);
}

#[tokio::test]
async fn given_a_record_that_keeps_failing_then_it_is_reported_not_dropped() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let rule = put_records_rule(|key, _| key == "q2", calls.clone());
    let sink = KinesisSink::new(
        kinesis(&[&rule]),
        StreamRef::Name("s".into()),
        Duration::from_secs(5),
    )
    .with_backoff(fast_backoff());

    let report = sink.publish(records(4)).await;

    assert_eq!(report.sent, 3);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].queue_id, "q2");
    assert_eq!(
        report.failed[0].code,
        "ProvisionedThroughputExceededException"
    );
    // Bounded: one call and three resends, as the backoff allows.
    assert_eq!(report.calls, 4);
}

#[tokio::test]
async fn given_the_stream_is_gone_then_every_record_is_reported_failed() {
    let rule = mock!(aws_sdk_kinesis::Client::put_records).then_error(|| {
        PutRecordsError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Stream s not found")
                // As on the wire: the error's code travels in its metadata.
                .meta(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .message("Stream s not found")
                        .build(),
                )
                .build(),
        )
    });
    let sink = KinesisSink::new(
        kinesis(&[&rule]),
        StreamRef::Name("s".into()),
        Duration::from_secs(5),
    )
    .with_backoff(fast_backoff());

    let report = sink.publish(records(2)).await;

    assert_eq!(report.sent, 0);
    assert_eq!(report.failed.len(), 2);
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.code == "ResourceNotFoundException")
    );
}

#[tokio::test]
async fn a_record_over_one_mebibyte_is_reported_and_the_rest_still_go() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let rule = put_records_rule(|_, _| false, calls.clone());
    let sink = KinesisSink::new(
        kinesis(&[&rule]),
        StreamRef::Name("s".into()),
        Duration::from_secs(5),
    );
    let mut batch = records(2);
    batch.push(PreparedRecord {
        queue_id: "huge".into(),
        partition_key: "huge".into(),
        data: vec![b'x'; 1024 * 1024 + 1].into(),
    });

    let report = sink.publish(batch).await;

    assert_eq!(report.sent, 2);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].code, "RecordTooLarge");
}

fn head_ok() -> Rule {
    mock!(aws_sdk_dynamodb::Client::put_item).then_output(|| PutItemOutput::builder().build())
}

fn store(rules: &[&Rule]) -> DynamoSnapshotStore {
    DynamoSnapshotStore::new(dynamodb(rules), "snapshots", Duration::from_secs(3600))
        .with_backoff(fast_backoff())
}

#[tokio::test]
async fn given_unprocessed_history_items_then_they_are_resent_until_in() {
    // GIVEN DynamoDB hands back the first history batch as unprocessed once
    let calls = Arc::new(Mutex::new(Vec::<usize>::new()));
    let log = calls.clone();
    let batch =
        mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(move |input| {
            let mut log = log.lock().unwrap();
            let requests = input.request_items().unwrap()["snapshots"].clone();
            log.push(requests.len());
            let builder = BatchWriteItemOutput::builder();
            if log.len() == 1 {
                builder
                    .unprocessed_items("snapshots", requests[..2].to_vec())
                    .build()
            } else {
                builder.build()
            }
        });
    let head = head_ok();
    let store = store(&[&head, &batch]);

    // WHEN a snapshot is written
    let outcome = store.put_snapshot(&snapshot(40)).await.unwrap();

    // THEN the two unprocessed items went again, alone
    assert_eq!(outcome, PutOutcome::Written);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1], 2);
}

#[tokio::test]
async fn given_history_items_that_stay_unprocessed_then_the_store_says_so() {
    let batch = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(|input| {
        let requests = input.request_items().unwrap()["snapshots"].clone();
        BatchWriteItemOutput::builder()
            .unprocessed_items("snapshots", requests)
            .build()
    });
    let head = head_ok();
    let store = store(&[&head, &batch]);

    let err = store.put_snapshot(&snapshot(3)).await.unwrap_err();

    assert_eq!(err.code(), "HISTORY_UNPROCESSED");
    // A set that is not all in is never named by the head: readers keep
    // the previous, complete snapshot.
    assert_eq!(head.num_calls(), 0);
}

fn head_refused(error: fn() -> PutItemError) -> Rule {
    mock!(aws_sdk_dynamodb::Client::put_item).then_error(error)
}

fn batch_ok() -> Rule {
    mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .then_output(|| BatchWriteItemOutput::builder().build())
}

#[tokio::test]
async fn a_conditional_check_failure_means_a_newer_snapshot_is_there() {
    let head = head_refused(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .build(),
        )
    });
    let batch = batch_ok();
    let store = store(&[&head, &batch]);
    assert_eq!(
        store.put_snapshot(&snapshot(1)).await.unwrap(),
        PutOutcome::Superseded
    );
}

#[tokio::test]
async fn a_throttled_head_write_is_an_error_not_a_silent_skip() {
    let head = head_refused(|| {
        PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("Rate exceeded")
                .build(),
        )
    });
    let batch = batch_ok();
    let store = store(&[&head, &batch]);
    let err = store.put_snapshot(&snapshot(1)).await.unwrap_err();
    assert_eq!(err.code(), "STORE_UNAVAILABLE");
    assert!(err.is_transient());
}

/// A head naming shards 0..16 of snapshot "snap" at time 1000.
fn head_item() -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        let n = |v: &str| AttributeValue::N(v.to_owned());
        let s = |v: &str| AttributeValue::S(v.to_owned());
        GetItemOutput::builder()
            .item("pk", s("latest"))
            .item("sk", s("head"))
            .item("snapshotId", s("snap"))
            .item("observedAtMs", n("1000"))
            .item("sources", s("[]"))
            .item("queueCount", n("16"))
            .item("format", s("deflate-json-v2"))
            .item(
                "shards",
                AttributeValue::L((0..16).map(|i| n(&i.to_string())).collect()),
            )
            .build()
    })
}

/// Answers each shard key with a one-queue shard of snapshot "snap".
fn shard_item(
    key: &std::collections::HashMap<String, AttributeValue>,
) -> std::collections::HashMap<String, AttributeValue> {
    let pk = key["pk"].as_s().unwrap().clone();
    let shard: u32 = pk.trim_start_matches("history#").parse().unwrap();
    let queue = snapshot(1).queues.remove(0);
    let stored = queue_stats::store::layout::StoredShard::encode(shard, &[&queue]);
    let mut item = key.clone();
    for (name, value) in [
        ("snapshotId", AttributeValue::S("snap".into())),
        ("observedAtMs", AttributeValue::N("1000".into())),
        ("format", AttributeValue::S("deflate-json-v2".into())),
        ("queueCount", AttributeValue::N("1".into())),
        (
            "bodyCrc32",
            AttributeValue::N(stored.body.crc32.to_string()),
        ),
        ("bodyLength", AttributeValue::N(stored.body.len.to_string())),
        (
            "body",
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(stored.body.block)),
        ),
    ] {
        item.insert(name.to_owned(), value);
    }
    item
}

#[tokio::test]
async fn given_unprocessed_keys_when_reading_the_snapshot_then_they_are_asked_for_again() {
    // GIVEN DynamoDB answers half of the 16 shard keys at first
    let calls = Arc::new(Mutex::new(Vec::<usize>::new()));
    let log = calls.clone();
    let batch = mock!(aws_sdk_dynamodb::Client::batch_get_item).then_compute_output(move |input| {
        let mut log = log.lock().unwrap();
        let asked = input.request_items().unwrap()["snapshots"].clone();
        assert_eq!(
            asked.consistent_read(),
            Some(true),
            "shards are read consistently"
        );
        let keys = asked.keys().to_vec();
        log.push(keys.len());
        let (answered, left) = if log.len() == 1 {
            keys.split_at(keys.len() / 2)
        } else {
            keys.split_at(keys.len())
        };
        let mut output = BatchGetItemOutput::builder()
            .responses("snapshots", answered.iter().map(shard_item).collect());
        if !left.is_empty() {
            output = output.unprocessed_keys(
                "snapshots",
                KeysAndAttributes::builder()
                    .set_keys(Some(left.to_vec()))
                    .build()
                    .unwrap(),
            );
        }
        output.build()
    });
    let head = head_item();
    let store = store(&[&head, &batch]);

    // WHEN the whole snapshot is read
    let snapshot = store.latest_snapshot().await.unwrap().unwrap();

    // THEN every shard arrived, the second call asking for the rest alone
    assert_eq!(snapshot.queues.len(), 16);
    assert_eq!(*calls.lock().unwrap(), vec![16, 8]);
}

#[tokio::test]
async fn given_a_shard_the_head_names_is_missing_then_the_read_fails_clearly() {
    let batch = mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .then_output(|| BatchGetItemOutput::builder().build());
    let head = head_item();
    let store = store(&[&head, &batch]);
    let err = store.latest_snapshot().await.unwrap_err();
    assert_eq!(err.code(), "STORE_CORRUPT");
    assert!(err.to_string().contains("HISTORY_RETENTION_HOURS"), "{err}");
}

/// An announcer whose PutEvents calls `rule` answers, its announced
/// state on a DynamoDB that takes every write.
fn announcer_on(rule: &Rule, budget: Duration) -> queue_stats::events::Announcer {
    use aws_sdk_dynamodb::operation::query::QueryOutput;
    use queue_stats::events::dynamodb::DynamoAnnouncedStore;
    use queue_stats::events::eventbridge::EventBridgePublisher;
    use queue_stats::events::{AnnounceSettings, Announcer};
    let query =
        mock!(aws_sdk_dynamodb::Client::query).then_output(|| QueryOutput::builder().build());
    let put =
        mock!(aws_sdk_dynamodb::Client::put_item).then_output(|| PutItemOutput::builder().build());
    let delete = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .then_output(|| BatchWriteItemOutput::builder().build());
    Announcer::new(
        Box::new(EventBridgePublisher::new(eventbridge(&[rule]), "bus")),
        Box::new(DynamoAnnouncedStore::new(
            dynamodb(&[&query, &put, &delete]),
            "snapshots",
        )),
        AnnounceSettings {
            hold_cycles: 1,
            budget,
            concurrency: 1,
        },
    )
}

/// `n` queues, all at `level`.
fn leveled(n: usize, level: queue_stats::levels::Level) -> Arc<Snapshot> {
    let mut snapshot = snapshot(n);
    for queue in &mut snapshot.queues {
        queue.level = Some(level);
    }
    snapshot.snapshot_id = format!("{}-{level:?}", snapshot.snapshot_id);
    Arc::new(snapshot)
}

#[tokio::test]
async fn given_eventbridge_refuses_some_entries_then_only_those_are_sent_again() {
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use queue_stats::levels::Level;

    // GIVEN EventBridge throttles one of twelve entries once
    let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let log = calls.clone();
    let rule = mock!(aws_sdk_eventbridge::Client::put_events).then_compute_output(move |input| {
        let mut log = log.lock().unwrap();
        let ids: Vec<String> = input
            .entries()
            .iter()
            .map(|e| {
                let detail: serde_json::Value = serde_json::from_str(e.detail().unwrap()).unwrap();
                detail["queueId"].as_str().unwrap().to_owned()
            })
            .collect();
        let first_call = log.is_empty();
        let entries: Vec<PutEventsResultEntry> = ids
            .iter()
            .enumerate()
            .map(|(i, _)| {
                if first_call && i == 1 {
                    PutEventsResultEntry::builder()
                        .error_code("ThrottlingException")
                        .error_message("Rate exceeded")
                        .build()
                } else {
                    PutEventsResultEntry::builder().event_id("id").build()
                }
            })
            .collect();
        log.push(ids);
        let failed = entries.iter().filter(|e| e.error_code().is_some()).count() as i32;
        PutEventsOutput::builder()
            .failed_entry_count(failed)
            .set_entries(Some(entries))
            .build()
    });
    let announcer = announcer_on(&rule, Duration::from_secs(5));
    announcer.announce(leveled(12, Level::Normal)).await;

    // WHEN twelve queues turn critical
    let report = announcer.announce(leveled(12, Level::Critical)).await;

    // THEN ten and two go out, then the refused one alone, after a backoff
    let calls = calls.lock().unwrap();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 2, 1], "PutEvents takes ten entries a call");
    assert_eq!(calls[2], vec![calls[0][1].clone()]);
    assert_eq!(
        (
            report.events_sent,
            report.events_refused,
            report.events_pending
        ),
        (12, 1, 0)
    );
}

#[tokio::test]
async fn given_eventbridge_denies_every_call_then_events_stay_pending_and_are_counted() {
    use aws_sdk_eventbridge::operation::put_events::PutEventsError;
    use queue_stats::levels::Level;

    // GIVEN a bus this function may not put events on
    let calls = Arc::new(Mutex::new(0usize));
    let count = calls.clone();
    let rule = mock!(aws_sdk_eventbridge::Client::put_events).then_error(move || {
        *count.lock().unwrap() += 1;
        PutEventsError::generic(
            aws_sdk_eventbridge::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: events:PutEvents")
                .build(),
        )
    });
    let announcer = announcer_on(&rule, Duration::from_secs(1));
    announcer.announce(leveled(25, Level::Normal)).await;

    // WHEN 25 queues turn warning
    let report = announcer.announce(leveled(25, Level::Warning)).await;

    // THEN every entry is counted refused and still pending, and retries back
    // off instead of hammering the bus: far fewer calls than a tight loop
    assert_eq!(report.events_sent, 0);
    assert!(report.events_refused >= 25, "{report:?}");
    assert_eq!(report.events_pending, 25);
    let calls = *calls.lock().unwrap();
    assert!((4..30).contains(&calls), "{calls} calls in a 1 s budget");
}
