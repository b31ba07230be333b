//! The DynamoDB snapshot store on moto: ordering, history and its limits.

use crate::common::*;
use chrono::{Duration as ChronoDuration, Utc};
use queue_stats::model::{
    DeliveryProvider, OpenClosedState, QueueStats, Snapshot, SourceName, SourceState, SourceStatus,
    TaskType,
};
use queue_stats::store::{PutOutcome, SnapshotReader, SnapshotWriter};

fn queue(id: &str, in_queue: u64) -> QueueStats {
    let mut queue = QueueStats::new(
        SourceName::Symbee,
        id,
        format!("Queue {id}"),
        DeliveryProvider::Symbee,
        TaskType::Webchat,
        OpenClosedState::ForcedOpen,
    );
    queue.counters.items_in_queue = Some(in_queue);
    queue
}

fn snapshot(id: &str, minutes_ago: i64, queues: Vec<QueueStats>) -> Snapshot {
    let observed = Utc::now() - ChronoDuration::minutes(minutes_ago);
    Snapshot {
        snapshot_id: id.into(),
        observed_at: chrono::DateTime::from_timestamp_millis(observed.timestamp_millis()).unwrap(),
        sources: vec![SourceStatus {
            source: SourceName::Symbee,
            instance: None,
            status: SourceState::Ok,
            error: None,
            latency_ms: 12,
            queue_count: queues.len(),
        }],
        queues,
    }
}

async fn store() -> queue_stats::store::dynamodb::DynamoSnapshotStore {
    let sdk = sdk_config().await;
    let table = create_table(&sdk).await;
    queue_stats::store::dynamodb::DynamoSnapshotStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
        std::time::Duration::from_secs(3600),
    )
}

#[tokio::test]
async fn given_a_newer_snapshot_when_an_older_one_arrives_then_it_does_not_overwrite() {
    // GIVEN the newer poll is stored
    let store = store().await;
    let newer = snapshot("newer", 1, vec![queue("a", 5), queue("b", 7)]);
    let older = snapshot("older", 2, vec![queue("a", 1)]);
    assert_eq!(
        store.put_snapshot(&newer).await.unwrap(),
        PutOutcome::Written
    );

    // WHEN the older poll arrives late
    let outcome = store.put_snapshot(&older).await.unwrap();

    // THEN it is refused by the condition, and the newer one still stands whole
    assert_eq!(outcome, PutOutcome::Superseded);
    let latest = store.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(latest, newer);
    assert_eq!(
        store
            .latest_queue("a", None)
            .await
            .unwrap()
            .found()
            .unwrap()
            .queue
            .counters
            .items_in_queue,
        Some(5)
    );

    // AND the late poll is still history: it was a true observation
    let history = store
        .queue_history("a", None, Utc::now() - ChronoDuration::minutes(10))
        .await
        .unwrap();
    let ids: Vec<&str> = history.iter().map(|p| p.snapshot_id.as_str()).collect();
    assert_eq!(ids, vec!["older", "newer"]);
}

#[tokio::test]
async fn writing_the_same_snapshot_twice_is_idempotent() {
    let store = store().await;
    let snap = snapshot("same", 0, vec![queue("a", 1)]);
    assert_eq!(
        store.put_snapshot(&snap).await.unwrap(),
        PutOutcome::Written
    );
    assert_eq!(
        store.put_snapshot(&snap).await.unwrap(),
        PutOutcome::Written
    );
    assert_eq!(
        store
            .queue_history("a", None, Utc::now() - ChronoDuration::minutes(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_newer_snapshot_replaces_every_shard_so_vanished_queues_disappear() {
    let store = store().await;
    let many: Vec<QueueStats> = (0..64).map(|i| queue(&format!("q{i}"), i)).collect();
    store
        .put_snapshot(&snapshot("first", 2, many))
        .await
        .unwrap();

    store
        .put_snapshot(&snapshot("second", 1, vec![queue("q1", 9)]))
        .await
        .unwrap();

    let latest = store.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(latest.snapshot_id, "second");
    assert_eq!(latest.queues.len(), 1);
    assert!(
        store
            .latest_queue("q2", None)
            .await
            .unwrap()
            .found()
            .is_none()
    );
}

#[tokio::test]
async fn history_is_bounded_by_its_start_and_ordered() {
    let store = store().await;
    for minutes_ago in [50, 30, 10] {
        let id = format!("s{minutes_ago}");
        store
            .put_snapshot(&snapshot(
                &id,
                minutes_ago,
                vec![queue("a", minutes_ago as u64)],
            ))
            .await
            .unwrap();
    }

    let last_40 = store
        .queue_history("a", None, Utc::now() - ChronoDuration::minutes(40))
        .await
        .unwrap();

    let figures: Vec<Option<u64>> = last_40
        .iter()
        .map(|p| p.queue.counters.items_in_queue)
        .collect();
    assert_eq!(figures, vec![Some(30), Some(10)]);
    assert!(
        store
            .queue_history("unknown", None, Utc::now() - ChronoDuration::minutes(60))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_empty_table_has_no_snapshot() {
    let store = store().await;
    assert!(store.latest_snapshot().await.unwrap().is_none());
    assert!(
        store
            .latest_queue("a", None)
            .await
            .unwrap()
            .found()
            .is_none()
    );
}

#[tokio::test]
async fn a_missing_table_is_a_misconfigured_store_not_a_panic() {
    let sdk = sdk_config().await;
    let store = queue_stats::store::dynamodb::DynamoSnapshotStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        unique("no-such-table"),
        std::time::Duration::from_secs(3600),
    );
    let err = store
        .put_snapshot(&snapshot("x", 0, vec![queue("a", 1)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORE_MISCONFIGURED");
    assert!(!err.is_transient());
    assert!(
        std::error::Error::source(&err).is_some(),
        "the SDK error is kept"
    );
    assert_eq!(
        store.latest_snapshot().await.unwrap_err().code(),
        "STORE_MISCONFIGURED"
    );
}

/// Readers racing a writer never see half a poll: every whole snapshot, one
/// queue and API answer they get belongs to exactly one poll, and a reader
/// never goes back to an older poll than one it has seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_racing_a_writer_never_see_a_mixed_or_older_snapshot() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const QUEUES: usize = 40;
    // Each read is checked whole; a mixed or older snapshot is a fault of
    // the store's design, not a rare race, so 1,000 reads across the
    // writer's dozens of polls meet it (2,000 held CI's tests for a minute
    // of moto's CPU alone).
    const MIN_READS: usize = 1_000;
    let store = Arc::new(store().await);
    // Each poll's queues all carry the poll's number, and the id names it.
    let poll = |generation: u64| {
        let queues = (0..QUEUES)
            .map(|i| queue(&format!("q-{i:03}"), generation))
            .collect();
        let mut snapshot = snapshot(&format!("poll-{generation:05}"), 0, queues);
        snapshot.observed_at =
            chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + generation as i64 * 10_000)
                .unwrap();
        snapshot
    };
    store.put_snapshot(&poll(1)).await.unwrap();

    let writing = Arc::new(AtomicBool::new(true));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for reader in 0..6 {
        let (store, writing, reads) = (store.clone(), writing.clone(), reads.clone());
        let api = queue_stats::api::Api::new(store.clone(), reader_config("unused", &[]));
        readers.push(tokio::spawn(async move {
            let mut last_seen = 0u64;
            let mut check = |id: &str, figures: Vec<Option<u64>>| {
                let generation: u64 = id.trim_start_matches("poll-").parse().unwrap();
                assert!(
                    figures.iter().all(|f| *f == Some(generation)),
                    "reader {reader}: {id} mixes polls: {figures:?}"
                );
                assert!(generation >= last_seen, "reader {reader} went back to {id}");
                last_seen = generation;
                reads.fetch_add(1, Ordering::Relaxed);
            };
            while writing.load(Ordering::Relaxed) || reads.load(Ordering::Relaxed) < MIN_READS {
                match reader % 3 {
                    0 => {
                        let snapshot = store.latest_snapshot().await.unwrap().unwrap();
                        assert_eq!(snapshot.queues.len(), QUEUES);
                        let figures = snapshot
                            .queues
                            .iter()
                            .map(|q| q.counters.items_in_queue)
                            .collect();
                        check(&snapshot.snapshot_id, figures);
                    }
                    1 => {
                        let one = store
                            .latest_queue("q-007", None)
                            .await
                            .unwrap()
                            .found()
                            .unwrap();
                        check(&one.snapshot_id, vec![one.queue.counters.items_in_queue]);
                    }
                    _ => {
                        let request = queue_stats::api::HttpRequest {
                            method: "GET".into(),
                            raw_path: "/v1/snapshot".into(),
                            ..Default::default()
                        };
                        let answer = api.handle(&request).await;
                        assert_eq!(
                            answer.status,
                            200,
                            "{:?}",
                            String::from_utf8_lossy(&answer.body)
                        );
                        let snapshot: Snapshot = serde_json::from_slice(&answer.body).unwrap();
                        assert_eq!(snapshot.queues.len(), QUEUES);
                        let figures = snapshot
                            .queues
                            .iter()
                            .map(|q| q.counters.items_in_queue)
                            .collect();
                        check(&snapshot.snapshot_id, figures);
                    }
                }
            }
        }));
    }

    // The writer: a new poll as fast as the store takes them, with a late,
    // older poll thrown in now and then (it must never become the latest).
    let mut generation = 1;
    while reads.load(Ordering::Relaxed) < MIN_READS {
        generation += 1;
        assert_eq!(
            store.put_snapshot(&poll(generation)).await.unwrap(),
            PutOutcome::Written
        );
        if generation % 5 == 0 {
            assert_eq!(
                store.put_snapshot(&poll(generation - 3)).await.unwrap(),
                PutOutcome::Superseded
            );
        }
    }
    writing.store(false, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    let reads = reads.load(Ordering::Relaxed);
    eprintln!("{reads} reads checked across {generation} polls");
    assert!(
        generation > 5,
        "the writer kept writing during the reads ({generation} polls)"
    );
}

/// Counts the shard reads that reach the store.
struct CountingReader {
    inner: queue_stats::store::dynamodb::DynamoSnapshotStore,
    shard_reads: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl SnapshotReader for CountingReader {
    async fn latest_summary(
        &self,
    ) -> Result<Option<queue_stats::store::SnapshotSummary>, queue_stats::store::StoreError> {
        self.inner.latest_summary().await
    }
    async fn snapshot_shards(
        &self,
        summary: &queue_stats::store::SnapshotSummary,
        only: Option<&[u32]>,
    ) -> Result<Vec<queue_stats::store::layout::StoredShard>, queue_stats::store::StoreError> {
        self.shard_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.snapshot_shards(summary, only).await
    }
    async fn queue_history(
        &self,
        queue_id: &str,
        source: Option<&queue_stats::model::SourceName>,
        since: chrono::DateTime<Utc>,
    ) -> Result<Vec<queue_stats::store::HistoryPoint>, queue_stats::store::StoreError> {
        self.inner.queue_history(queue_id, source, since).await
    }
}

#[tokio::test]
async fn the_caching_reader_reads_a_shard_once_per_snapshot_and_follows_the_head() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let counting = Arc::new(CountingReader {
        inner: store().await,
        shard_reads: Default::default(),
    });
    let reader = queue_stats::store::cache::CachingReader::new(counting.clone());
    let writer = &counting.inner;
    writer
        .put_snapshot(&snapshot("first", 2, vec![queue("a", 1), queue("b", 2)]))
        .await
        .unwrap();

    for _ in 0..5 {
        let a = reader
            .latest_queue("a", None)
            .await
            .unwrap()
            .found()
            .unwrap();
        assert_eq!(
            (a.snapshot_id.as_str(), a.queue.counters.items_in_queue),
            ("first", Some(1))
        );
    }
    assert_eq!(
        counting.shard_reads.load(Ordering::Relaxed),
        1,
        "one shard read for five answers"
    );
    assert!(
        reader
            .latest_queue("nobody", None)
            .await
            .unwrap()
            .found()
            .is_none()
    );

    // A new poll: the head moves on, and so does every answer.
    writer
        .put_snapshot(&snapshot("second", 1, vec![queue("a", 10)]))
        .await
        .unwrap();
    let a = reader
        .latest_queue("a", None)
        .await
        .unwrap()
        .found()
        .unwrap();
    assert_eq!(
        (a.snapshot_id.as_str(), a.queue.counters.items_in_queue),
        ("second", Some(10))
    );
    assert!(
        reader
            .latest_queue("b", None)
            .await
            .unwrap()
            .found()
            .is_none(),
        "b left with the new poll"
    );
    let whole = reader.latest_snapshot().await.unwrap().unwrap();
    assert_eq!(whole.queues.len(), 1);
}
