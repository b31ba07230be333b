//! End to end: Symbee stand-in → poller → DynamoDB and Kinesis on moto,
//! read back through the AWS SDK.

use crate::common::*;
use queue_stats::model::{SourceName, SourceState};
use queue_stats::store::SnapshotReader;
use serde_json::{Value, json};
use standins::symbee::Fault;

const COUNTERS: [&str; 10] = [
    "agentsStaffed",
    "agentsAvailable",
    "agentsWorking",
    "agentsInWrap",
    "agentsInError",
    "agentsUnavailable",
    "itemsInQueue",
    "itemsScheduled",
    "itemsBeingDelivered",
    "oldestItem",
];

/// Asserts a normalized queue (as JSON) says what the wire object said.
fn assert_same_queue(normalized: &Value, wire: &Value) {
    let info = &wire["queueInfo"];
    assert_eq!(normalized["source"], "symbee");
    for (ours, theirs) in [
        ("queueId", "queueId"),
        ("queueName", "queueName"),
        ("deliveryProvider", "deliveryProvider"),
        ("taskType", "taskType"),
    ] {
        assert_eq!(normalized[ours], info[theirs], "{ours}");
    }
    assert_eq!(normalized["openClosedState"], wire["openClosedState"]);
    for counter in COUNTERS {
        let expected = wire[counter].as_f64().map(|f| f as u64);
        assert_eq!(normalized[counter].as_u64(), expected, "{counter}");
    }
}

#[tokio::test]
async fn given_the_seed_example_when_polled_then_store_and_stream_hold_it_field_by_field() {
    // GIVEN Symbee serving the documented example response
    let harness = Harness::new().await;
    let wire = fixture("symbee/retrieve-queue-info.seed-example.json");
    let wire = wire.as_array().unwrap().clone();
    harness.standin.set_queues(wire.clone()).await;
    let (poller, key) = harness.poller(&[]);

    // WHEN one cycle runs
    let report = poller.run_cycle().await;

    // THEN the snapshot is in DynamoDB, every queue as Symbee said it
    assert!(report.wrote_everything(), "{report:?}");
    assert_eq!(key.fetch_count(), 1);
    let store = harness.store();
    let snapshot = store.latest_snapshot().await.unwrap().expect("a snapshot");
    assert_eq!(snapshot.snapshot_id, report.snapshot_id);
    assert_eq!(snapshot.sources.len(), 1);
    assert_eq!(snapshot.sources[0].status, SourceState::Ok);
    assert_eq!(snapshot.sources[0].queue_count, 3);
    assert_eq!(snapshot.queues.len(), 3);
    for wire_queue in &wire {
        let id = wire_queue["queueInfo"]["queueId"].as_str().unwrap();
        let stored = snapshot.queues.iter().find(|q| q.queue_id == id).unwrap();
        let stored = serde_json::to_value(stored).unwrap();
        assert_same_queue(&stored, wire_queue);
        assert_eq!(stored["stale"], false);
    }

    // AND one queue is one read, by ARN or by bare Connect queue id
    let arn = wire[0]["queueInfo"]["queueId"].as_str().unwrap();
    let by_arn = store
        .latest_queue(arn, None)
        .await
        .unwrap()
        .found()
        .unwrap();
    assert_eq!(by_arn.queue.queue_id, arn);
    let bare = arn.rsplit('/').next().unwrap();
    assert_eq!(
        store
            .latest_queue(bare, None)
            .await
            .unwrap()
            .found()
            .unwrap()
            .queue,
        by_arn.queue
    );
    assert!(
        store
            .latest_queue("no-such-queue", None)
            .await
            .unwrap()
            .found()
            .is_none()
    );

    // AND Kinesis has one record per queue with the documented envelope
    let records = harness.records().await;
    assert_eq!(records.len(), 3);
    for (partition_key, record) in &records {
        assert_matches_record_schema(record);
        assert_eq!(record["eventType"], "QUEUE_STATS");
        assert_eq!(record["eventVersion"], 1);
        assert_eq!(record["companyCode"], COMPANY);
        assert_eq!(record["environment"], ENVIRONMENT);
        assert_eq!(record["snapshotId"], report.snapshot_id.as_str());
        assert_eq!(record["source"], "symbee");
        assert_eq!(
            record["eventTimestamp"],
            queue_stats::model::format_rfc3339(&snapshot.observed_at)
        );
        assert_eq!(partition_key, record["queue"]["queueId"].as_str().unwrap());
        let wire_queue = wire
            .iter()
            .find(|w| w["queueInfo"]["queueId"] == record["queue"]["queueId"])
            .unwrap();
        assert_same_queue(&record["queue"], wire_queue);
        let expected_id = queue_stats::sink::record::event_id(
            &report.snapshot_id,
            &SourceName::Symbee,
            partition_key,
        );
        assert_eq!(record["eventId"], expected_id.as_str());
    }

    // AND the request carried the tenant as documented
    let body = harness.standin.last_body().await.unwrap();
    assert_eq!(
        body["tenant"],
        json!({"platformCode": "AWS Connect", "companyCode": COMPANY, "environment": ENVIRONMENT})
    );
    assert_eq!(body["includeAmazonQueues"], true);
    assert!(body.get("queuesInterested").is_none());
}

#[tokio::test]
async fn given_queue_ids_and_no_amazon_queues_when_polled_then_the_request_filters() {
    let harness = Harness::new().await;
    let wire = fixture("symbee/retrieve-queue-info.seed-example.json");
    harness
        .standin
        .set_queues(wire.as_array().unwrap().clone())
        .await;
    let (poller, _) = harness.poller(&[
        ("SYMBEE_QUEUE_IDS", "email-customer-care, no-such-queue"),
        ("SYMBEE_INCLUDE_AMAZON_QUEUES", "false"),
    ]);

    let report = poller.run_cycle().await;

    let body = harness.standin.last_body().await.unwrap();
    assert_eq!(
        body["queuesInterested"],
        json!([{"queueId": "email-customer-care"}, {"queueId": "no-such-queue"}])
    );
    assert_eq!(body["includeAmazonQueues"], false);
    assert_eq!(report.queues, 1);
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.queues[0].queue_id, "email-customer-care");
}

#[tokio::test]
async fn given_unknown_enum_values_when_polled_then_they_are_kept_as_strings() {
    let harness = Harness::new().await;
    let wire = fixture("symbee/retrieve-queue-info.unknown-values.json");
    harness
        .standin
        .set_queues(wire.as_array().unwrap().clone())
        .await;
    let (poller, _) = harness.poller(&[]);

    let report = poller.run_cycle().await;

    assert!(report.wrote_everything(), "{report:?}");
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    let queue = serde_json::to_value(&snapshot.queues[0]).unwrap();
    assert_eq!(queue["taskType"], "SOCIAL_MASTODON");
    assert_eq!(queue["openClosedState"], "HOLIDAY_MODE");
    assert_eq!(queue["deliveryProvider"], "SYMBEE_PARTNER");
    assert_eq!(queue["agentsStaffed"], 4);
    // A figure Symbee sent as null stays null, never a made-up zero.
    assert_eq!(queue["itemsScheduled"], Value::Null);
    assert_eq!(queue["oldestItem"], 42);
    for (_, record) in harness.records().await {
        assert_matches_record_schema(&record);
    }
}

#[tokio::test]
async fn given_zero_queues_when_polled_then_an_empty_snapshot_is_ok() {
    let harness = Harness::new().await;
    let (poller, _) = harness.poller(&[]);

    let report = poller.run_cycle().await;

    assert!(report.wrote_everything(), "{report:?}");
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert!(snapshot.queues.is_empty());
    assert_eq!(snapshot.sources[0].status, SourceState::Ok);
    assert!(harness.records().await.is_empty());
}

#[tokio::test]
async fn given_a_rotated_key_when_polled_then_one_refetch_and_one_retry_succeed() {
    let harness = Harness::new().await;
    harness.standin.set_queues(symbee_queues(3)).await;
    let (poller, key) = harness.poller(&[]);
    assert!(poller.run_cycle().await.wrote_everything());
    assert_eq!(key.fetch_count(), 1);
    let requests_before = harness.standin.request_count();

    // WHEN Symbee rotates the key behind our cache
    harness.rotate_key("key-v2").await;
    let report = poller.run_cycle().await;

    // THEN exactly one extra secret read and one retried request
    assert_eq!(report.sources[0].status, SourceState::Ok, "{report:?}");
    assert_eq!(key.fetch_count(), 2);
    assert_eq!(harness.standin.request_count() - requests_before, 2);
    assert_eq!(harness.standin.unauthorized_count(), 1);

    // AND the fresh key is cached: the next cycle costs no read
    poller.run_cycle().await;
    assert_eq!(key.fetch_count(), 2);
}

#[tokio::test]
async fn given_a_key_symbee_keeps_rejecting_when_polled_then_unauthorized_after_one_retry() {
    let harness = Harness::new().await;
    let (poller, key) = harness.poller(&[]);
    harness
        .standin
        .inject([
            Fault::Status { status: 403 },
            Fault::Status { status: 403 },
            Fault::Status { status: 403 },
        ])
        .await;

    let report = poller.run_cycle().await;

    let status = &report.sources[0];
    assert_eq!(status.status, SourceState::Error);
    assert_eq!(status.error.as_ref().unwrap().code, "UNAUTHORIZED");
    // One read, exactly one refresh, two requests: never a loop.
    assert_eq!(key.fetch_count(), 2);
    assert_eq!(harness.standin.request_count(), 2);
}

async fn assert_failure_is_reported(fault: Fault, code: &str) {
    // GIVEN a good first poll
    let harness = Harness::new().await;
    let wire = symbee_queues(4);
    harness.standin.set_queues(wire.clone()).await;
    let (poller, _) = harness.poller(&[]);
    let first = poller.run_cycle().await;
    assert!(first.wrote_everything());

    // WHEN the next request meets the fault
    harness.standin.inject([fault]).await;
    let report = poller.run_cycle().await;

    // THEN the source is reported failed with its code, and its last good
    // queues are carried over marked stale, not dropped and not passed off as fresh
    assert_eq!(report.sources[0].status, SourceState::Error);
    assert_eq!(report.sources[0].error.as_ref().unwrap().code, code);
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.snapshot_id, report.snapshot_id);
    assert_eq!(snapshot.queues.len(), 4);
    for queue in &snapshot.queues {
        assert!(queue.stale);
        assert_eq!(queue.as_of, Some(first.observed_at));
    }
    // AND the stream still got one (stale) record per queue for this poll
    let records = harness.records().await;
    assert_eq!(records.len(), 8);
    let stale = records
        .iter()
        .filter(|(_, r)| r["snapshotId"] == report.snapshot_id.as_str());
    assert!(stale.clone().count() == 4 && stale.clone().all(|(_, r)| r["queue"]["stale"] == true));
    for (_, record) in &records {
        assert_matches_record_schema(record);
    }
}

#[tokio::test]
async fn a_503_is_reported_and_nothing_is_lost() {
    assert_failure_is_reported(Fault::Status { status: 503 }, "UPSTREAM_STATUS").await;
}

#[tokio::test]
async fn a_500_is_reported_and_nothing_is_lost() {
    assert_failure_is_reported(Fault::Status { status: 500 }, "UPSTREAM_STATUS").await;
}

#[tokio::test]
async fn a_429_is_reported_as_throttling() {
    assert_failure_is_reported(Fault::Status { status: 429 }, "THROTTLED").await;
}

#[tokio::test]
async fn a_slow_upstream_times_out() {
    assert_failure_is_reported(Fault::Delay { millis: 2_500 }, "TIMEOUT").await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_malformed() {
    assert_failure_is_reported(Fault::Malformed, "MALFORMED_RESPONSE").await;
}

#[tokio::test]
async fn a_truncated_body_is_malformed() {
    assert_failure_is_reported(Fault::Truncated, "MALFORMED_RESPONSE").await;
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_malformed() {
    assert_failure_is_reported(Fault::WrongShape, "MALFORMED_RESPONSE").await;
}

#[tokio::test]
async fn given_a_cold_start_and_a_failing_source_then_the_last_snapshot_is_carried_over() {
    let harness = Harness::new().await;
    harness.standin.set_queues(symbee_queues(2)).await;
    let (warm, _) = harness.poller(&[]);
    let first = warm.run_cycle().await;

    // WHEN a fresh container (no memory) meets a failing source
    let (cold, _) = harness.poller(&[]);
    harness
        .standin
        .inject([Fault::Status { status: 502 }])
        .await;
    let report = cold.run_cycle().await;

    // THEN the queues of the stored snapshot come back stale
    assert_eq!(report.queues, 2);
    assert_eq!(report.stale_queues, 2);
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert!(
        snapshot
            .queues
            .iter()
            .all(|q| q.stale && q.as_of == Some(first.observed_at))
    );
}

#[tokio::test]
async fn given_a_failing_source_and_no_earlier_poll_then_only_its_error_shows() {
    let harness = Harness::new().await;
    let (poller, _) = harness.poller(&[]);
    harness
        .standin
        .inject([Fault::Status { status: 500 }])
        .await;

    let report = poller.run_cycle().await;

    assert_eq!(report.queues, 0);
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.sources[0].status, SourceState::Error);
    assert!(snapshot.queues.is_empty());
}

#[tokio::test]
async fn ten_thousand_queues_are_stored_and_read_back() {
    let harness = Harness::new().await;
    let wire = symbee_queues(10_000);
    harness.standin.set_queues(wire.clone()).await;
    // Storage is under test, not the upstream's pace: a loaded machine
    // must not turn 10,000 queues into a timed-out source.
    let (poller, _) = harness.poller(&[
        ("WRITE_TIMEOUT_MS", "30000"),
        ("SYMBEE_TIMEOUT_MS", "20000"),
    ]);

    let report = poller.run_cycle().await;

    assert!(report.wrote_everything(), "{report:?}");
    assert!(
        report.sources.iter().all(|s| s.error.is_none()),
        "{:?}",
        report.sources
    );
    assert_eq!(report.records_sent, 10_000);
    // 500 records per PutRecords call at most
    assert!(report.put_records_calls >= 20);
    let store = harness.store();
    let snapshot = store.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.queues.len(), 10_000);
    for (stored, wire) in snapshot.queues.iter().zip(&wire) {
        assert_same_queue(&serde_json::to_value(stored).unwrap(), wire);
    }
    let one = store
        .latest_queue("skill-queue-09999", None)
        .await
        .unwrap()
        .found()
        .unwrap();
    assert_eq!(one.queue.queue_name, "Skill Queue 9999");
}

#[tokio::test]
async fn the_record_schema_rejects_what_the_contract_forbids() {
    let harness = Harness::new().await;
    harness.standin.set_queues(symbee_queues(1)).await;
    let (poller, _) = harness.poller(&[]);
    poller.run_cycle().await;
    let (_, good) = harness.records().await.remove(0);
    assert!(record_schema_errors(&good).is_empty());

    let mut no_type = good.clone();
    no_type.as_object_mut().unwrap().remove("eventType");
    let mut negative = good.clone();
    negative["queue"]["itemsInQueue"] = json!(-1);
    let mut string_version = good.clone();
    string_version["eventVersion"] = json!("1");
    for bad in [no_type, negative, string_version] {
        assert!(!record_schema_errors(&bad).is_empty(), "{bad}");
    }
}

#[tokio::test]
async fn every_queue_gets_its_level_from_the_rules_in_the_store_and_the_stream() {
    let harness = Harness::new().await;
    let wire = fixture("symbee/retrieve-queue-info.seed-example.json");
    harness
        .standin
        .set_queues(wire.as_array().unwrap().clone())
        .await;
    let arn = "arn:aws:connect:us-east-1:xxxxx:instance/xxxx-xxxx-xxx-xxxx-xxxxxxx/queue/xxxxx-xxxx-xxxx-xxxx-xxxxxx";
    let levels = |snapshot: &queue_stats::model::Snapshot| -> Vec<(String, String)> {
        snapshot
            .queues
            .iter()
            .map(|q| {
                let level = q.level.map(|l| l.as_str()).unwrap_or("none");
                (q.queue_id.clone(), level.to_owned())
            })
            .collect()
    };

    // The default rule, oldestItem 60 / 180: the Connect queue's 125 s warns.
    let (poller, _) = harness.poller(&[]);
    assert!(poller.run_cycle().await.wrote_everything());
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    let mut got = levels(&snapshot);
    got.sort();
    assert_eq!(
        got,
        vec![
            (arn.to_owned(), "warning".to_owned()),
            ("email-customer-care".to_owned(), "normal".to_owned()),
            ("sms-customer-care".to_owned(), "normal".to_owned()),
        ]
    );

    // Rules of our own: items waiting by default, and for one queue its own
    // rule counting down (agents available at or below the threshold).
    let rules = r#"{"default": [{"metric": "itemsInQueue", "warning": 10, "critical": 25}],
        "queues": {"sms-customer-care": [{"metric": "agentsAvailable", "warning": 3, "critical": 1, "when": "below"}]}}"#;
    let (poller, _) = harness.poller(&[("QUEUE_LEVELS", rules)]);
    let report = poller.run_cycle().await;
    assert!(report.wrote_everything());
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    let mut got = levels(&snapshot);
    got.sort();
    assert_eq!(
        got,
        vec![
            (arn.to_owned(), "normal".to_owned()),
            ("email-customer-care".to_owned(), "critical".to_owned()),
            ("sms-customer-care".to_owned(), "warning".to_owned()),
        ]
    );
    // The stream's records carry the same levels.
    let records = read_records(&harness.sdk, &harness.stream).await;
    let email = records
        .iter()
        .rev()
        .find(|(_, r)| {
            r["snapshotId"] == report.snapshot_id && r["queue"]["queueId"] == "email-customer-care"
        })
        .expect("the email queue's record of the second cycle");
    assert_eq!(email.1["queue"]["level"], "critical");
    assert_matches_record_schema(&email.1);
}

#[test]
fn bad_level_rules_fail_the_cold_start_naming_the_setting() {
    use queue_stats::config::{FromSettings, Settings};
    let settings = Settings::from_pairs(&[
        ("SNAPSHOT_TABLE", "t"),
        ("SNAPSHOT_STREAM", "s"),
        (
            "QUEUE_LEVELS",
            r#"{"default": [{"metric": "oldestItem", "warning": "soon"}]}"#,
        ),
    ]);
    let err = queue_stats::config::PipelineConfig::from_settings(&settings).unwrap_err();
    assert!(err.to_string().contains("QUEUE_LEVELS"), "{err}");
}
