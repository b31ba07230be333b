//! The poller's Lambda handler, driven with the fixture event AWS sends, on
//! the configuration-built function (as `functions/poller` wires it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;
use lambda_runtime::{Context, LambdaEvent};
use queue_stats::handlers::poller::{ScheduledEvent, handle};
use queue_stats::model::SourceState;
use queue_stats::store::SnapshotReader;
use queue_stats::wiring::build_poller;
use standins::symbee::Fault;

fn scheduled_event(deadline_in: Duration) -> LambdaEvent<ScheduledEvent> {
    let payload: ScheduledEvent =
        serde_json::from_value(fixture("events/scheduled-event.json")).unwrap();
    let mut context = Context::default();
    context.request_id = "test-invocation".into();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now_ms + deadline_in.as_millis() as u64;
    LambdaEvent::new(payload, context)
}

const FAST: &[(&str, &str)] = &[
    ("POLL_INTERVAL_SECONDS", "1"),
    ("SYMBEE_TIMEOUT_MS", "200"),
    ("WRITE_TIMEOUT_MS", "500"),
    ("POLL_SAFETY_MARGIN_MS", "100"),
];

#[tokio::test]
async fn given_a_scheduled_event_then_cycles_run_every_interval_until_the_deadline() {
    // GIVEN a poller built from its environment, and 3.5 s left in the invocation
    let harness = Harness::new().await;
    harness.standin.set_queues(symbee_queues(5)).await;
    let poller = build_poller(&harness.config(FAST), &harness.deps().0).unwrap();

    // WHEN the schedule fires
    let deadline = chrono::Utc::now() + chrono::Duration::milliseconds(3_500);
    let summary = handle(scheduled_event(Duration::from_millis(3_500)), &poller)
        .await
        .unwrap();

    // THEN more than one cycle ran, each wrote everything, and (from the
    // cycles' own start times, not from how fast this machine is) each
    // began one interval after the last and none began past the deadline
    // less the safety margin.
    assert!(summary.cycles >= 2, "{summary:?}");
    assert_eq!(summary.cycles_with_writes, summary.cycles);
    assert_eq!(summary.records_sent, 5 * summary.cycles);
    // kinesalite (the second emulator pass) may show a batch it took a
    // moment after it answered: wait for the count, then hold it to it.
    let sent = 5 * summary.cycles;
    eventually(Duration::from_secs(5), || async {
        harness.records().await.len() >= sent
    })
    .await;
    let records = harness.records().await;
    assert_eq!(records.len(), sent);
    let mut starts: Vec<chrono::DateTime<chrono::Utc>> = records
        .iter()
        .map(|(_, r)| r["eventTimestamp"].as_str().unwrap().parse().unwrap())
        .collect();
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), summary.cycles);
    for pair in starts.windows(2) {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        assert!(gap >= 990, "cycles {gap} ms apart with a 1 s interval");
    }
    let last = *starts.last().unwrap();
    assert!(
        last < deadline - chrono::Duration::milliseconds(100),
        "{last} after the deadline"
    );
}

#[tokio::test]
async fn given_an_interval_longer_than_the_invocation_then_one_cycle_runs() {
    let harness = Harness::new().await;
    let (poller, _) = harness.poller(&[("POLL_INTERVAL_SECONDS", "900")]);

    let summary = handle(scheduled_event(Duration::from_secs(60)), &poller)
        .await
        .unwrap();

    assert_eq!(summary.cycles, 1);
}

#[tokio::test]
async fn given_a_failing_source_then_the_invocation_still_succeeds() {
    let harness = Harness::new().await;
    harness
        .standin
        .inject([Fault::Status { status: 500 }])
        .await;
    let (poller, _) = harness.poller(&[("POLL_INTERVAL_SECONDS", "900")]);

    let summary = handle(scheduled_event(Duration::from_secs(30)), &poller)
        .await
        .unwrap();

    assert_eq!(summary.cycles_with_writes, 1);
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.sources[0].status, SourceState::Error);
}

#[tokio::test]
async fn given_nothing_can_be_written_then_the_invocation_fails() {
    // GIVEN a table and a stream that do not exist
    let harness = Harness::new().await;
    harness.standin.set_queues(symbee_queues(2)).await;
    let config = harness.config(&[
        ("POLL_INTERVAL_SECONDS", "900"),
        ("SNAPSHOT_TABLE", "no-such-table"),
        ("SNAPSHOT_STREAM", "no-such-stream"),
    ]);
    let poller = build_poller(&config, &harness.deps().0).unwrap();

    let err = handle(scheduled_event(Duration::from_secs(30)), &poller)
        .await
        .unwrap_err();

    assert!(err.to_string().contains("could write anything"), "{err}");
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    // The error type says what failed: the table is missing.
    assert_eq!(
        diagnostic.error_type,
        "PollerError.NothingWritten.TableMissing"
    );
}

#[tokio::test]
async fn the_api_key_never_reaches_a_log_even_at_trace_level() {
    let captured = captured_logs();

    // GIVEN rotation, rejection and failure: every path that handles the key
    let harness = Harness::new().await;
    harness.standin.set_queues(symbee_queues(2)).await;
    let poller = build_poller(&harness.config(&[]), &harness.deps().0).unwrap();
    poller.run_cycle().await;
    harness.rotate_key("rotated-key-v2-ZXCVBNM").await;
    poller.run_cycle().await;
    harness
        .standin
        .inject([Fault::Status { status: 401 }, Fault::Status { status: 403 }])
        .await;
    poller.run_cycle().await;
    harness
        .standin
        .inject([Fault::Status { status: 500 }])
        .await;
    poller.run_cycle().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("poll cycle"),
        "the test must capture the poller's logs"
    );
    assert!(logs.contains("UNAUTHORIZED"));
    for key in ["key-v1", "rotated-key-v2-ZXCVBNM"] {
        assert!(!logs.contains(key), "the key {key} leaked into the logs");
    }
}
