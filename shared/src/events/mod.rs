//! Level changes and source outages as EventBridge events (`source`
//! `queue-stats`): `Queue Level Changed` for a queue whose level differs
//! from the one last announced for `LEVEL_HOLD_CYCLES` polls in a row, and
//! `Source Status Changed` when a source has failed that long, and when it
//! is back (DESIGN, "Level events at production scale").
//!
//! Announcing is an outbox that cannot lose or repeat:
//! - [`ledger`] (pure) decides what is due, building each event once;
//! - the sender puts due events on the bus ten to a call, a bounded number
//!   of calls at a time, until its own budget is spent; what did not fit
//!   stays due for the next cycle, so a backlog drains by itself;
//! - each call's accepted entries are recorded as announced the moment it
//!   returns, in memory and in the table's journal ([`dynamodb`]);
//! - the sender runs as its own task: a cycle that stops waiting for it
//!   (a timeout) does not cut it off between a call and its record.
//!
//! The only entries that can reach the bus twice are those of a call in
//! flight at the instant the process dies: EventBridge has no idempotency
//! key. They carry the same `eventId`, so a consumer can drop them.
//!
//! Two capabilities, one trait each: where events go ([`EventPublisher`],
//! PutEvents in [`eventbridge`]) and where the announced state is kept
//! ([`AnnouncedStore`], the snapshot table in [`dynamodb`]).

pub mod dynamodb;
pub mod eventbridge;
pub mod ledger;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use tokio::time::Instant;

use crate::model::Snapshot;
use crate::store::StoreError;
pub use ledger::{
    AnnouncedState, Delivery, LEVEL_DETAIL_TYPE, Outgoing, SOURCE_DETAIL_TYPE, SnapshotKind,
};
use ledger::{Batch, Ledger};

pub const EVENT_SOURCE: &str = "queue-stats";

/// PutEvents takes at most ten entries a call.
pub const ENTRIES_PER_CALL: usize = 10;

/// Where events go: one PutEvents call of at most [`ENTRIES_PER_CALL`]
/// entries, and what became of each, in order.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn put(&self, events: &[Outgoing]) -> Vec<Delivery>;
}

/// Where the announced state is kept between invocations.
#[async_trait]
pub trait AnnouncedStore: Send + Sync {
    /// Everything announced so far (base and journal).
    async fn load(&self) -> Result<AnnouncedState, StoreError>;
    /// Records what one call got accepted, before anything else happens.
    async fn append(&self, delta: &AnnouncedState) -> Result<(), StoreError>;
    /// Keeps `whole` as the base and lets the journal go.
    async fn fold(&self, whole: &AnnouncedState) -> Result<(), StoreError>;
    /// Journal entries not yet folded.
    async fn journal_len(&self) -> usize;
}

/// How announcing is paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnounceSettings {
    /// Consecutive polls a change must hold (`LEVEL_HOLD_CYCLES`).
    pub hold_cycles: u32,
    /// How long one cycle may keep starting calls (`EVENTS_BUDGET_MS`);
    /// calls already under way finish and are recorded.
    pub budget: Duration,
    /// PutEvents calls under way at once (`EVENTS_CONCURRENCY`).
    pub concurrency: usize,
}

/// What one cycle's announcing did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnounceReport {
    /// Entries the bus accepted this cycle.
    pub events_sent: usize,
    /// Entries the bus refused this cycle (each is tried again, with backoff).
    pub events_refused: usize,
    /// Events due and not yet accepted when the cycle's send ended.
    pub events_pending: usize,
}

/// Watches levels and source statuses cycle after cycle and announces
/// the changes that hold.
#[derive(Clone)]
pub struct Announcer {
    inner: Arc<Inner>,
}

struct Inner {
    publisher: Box<dyn EventPublisher>,
    store: Box<dyn AnnouncedStore>,
    settings: AnnounceSettings,
    /// `None` until the announced state is read from the table.
    ledger: std::sync::Mutex<Option<Ledger>>,
    /// One send at a time: the next cycle's waits for the last one's end.
    sending: tokio::sync::Mutex<()>,
}

/// Fold the journal into the base once it holds this many entries, even
/// while a backlog is still draining (loading stays one small query).
const FOLD_AFTER_ENTRIES: usize = 200;

impl Announcer {
    pub fn new(
        publisher: Box<dyn EventPublisher>,
        store: Box<dyn AnnouncedStore>,
        settings: AnnounceSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                publisher,
                store,
                settings: AnnounceSettings {
                    hold_cycles: settings.hold_cycles.max(1),
                    concurrency: settings.concurrency.max(1),
                    ..settings
                },
                ledger: std::sync::Mutex::new(None),
                sending: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Takes one snapshot and sends what is due within the budget. Never
    /// fails the cycle. The work runs as its own task: dropping this
    /// future leaves it to finish, so no accepted entry goes unrecorded.
    pub async fn announce(&self, snapshot: Arc<Snapshot>) -> AnnounceReport {
        self.announce_as(SnapshotKind::Poll, snapshot).await
    }

    /// As [`Announcer::announce`], for a snapshot of this kind: only polls
    /// advance a change's hold ([`Ledger::observe_interim`]).
    pub async fn announce_as(&self, kind: SnapshotKind, snapshot: Arc<Snapshot>) -> AnnounceReport {
        let inner = self.inner.clone();
        match tokio::spawn(async move { inner.run(kind, &snapshot).await }).await {
            Ok(report) => report,
            Err(err) => {
                tracing::error!(error = %err, "the level-event sender stopped");
                AnnounceReport::default()
            }
        }
    }

    /// Events due and not yet accepted (`None` before the first load).
    pub fn pending(&self) -> Option<usize> {
        self.inner.lock().as_ref().map(Ledger::pending)
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Ledger>> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(&self, kind: SnapshotKind, snapshot: &Snapshot) -> AnnounceReport {
        let _one_at_a_time = self.sending.lock().await;
        let deadline = Instant::now() + self.settings.budget;
        if self.lock().is_none() {
            match tokio::time::timeout(self.settings.budget, self.store.load()).await {
                Ok(Ok(announced)) => *self.lock() = Some(Ledger::new(announced)),
                Ok(Err(err)) => {
                    // Without it a restart could repeat an event: wait.
                    tracing::warn!(code = err.code(), error = %err, "could not read the announced levels; no events this cycle");
                    return AnnounceReport::default();
                }
                Err(_) => {
                    tracing::warn!("reading the announced levels timed out; no events this cycle");
                    return AnnounceReport::default();
                }
            }
        }
        let hold = self.settings.hold_cycles;
        self.with_ledger(|ledger| ledger.observe_as(kind, snapshot, hold));
        // Folding changes no entry's fate: the pending count stands.
        let report = self.send_until(deadline).await;
        self.fold_if_due(report.events_pending).await;
        report
    }

    fn with_ledger<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> T {
        let mut slot = self.lock();
        f(slot.as_mut().expect("loaded before use"))
    }

    /// Starts calls while the budget lasts, `concurrency` at a time, then
    /// lets the ones under way finish.
    async fn send_until(&self, deadline: Instant) -> AnnounceReport {
        let mut report = AnnounceReport::default();
        let mut in_flight = FuturesUnordered::new();
        let mut failure_logged = false;
        loop {
            while in_flight.len() < self.settings.concurrency && Instant::now() < deadline {
                let now = Instant::now();
                let Some(batch) = self.with_ledger(|l| l.take_ready(now, ENTRIES_PER_CALL)) else {
                    break;
                };
                in_flight.push(self.send(batch));
            }
            if in_flight.is_empty() {
                // Nothing ready: wait for a refused entry's retry if it
                // comes within the budget.
                if Instant::now() >= deadline {
                    break;
                }
                match self.with_ledger(|l| l.next_retry()) {
                    Some(at) if at < deadline => {
                        tokio::time::sleep_until(at).await;
                        continue;
                    }
                    _ => break,
                }
            }
            if let Some(settled) = in_flight.next().await {
                report.events_sent += settled.accepted;
                report.events_refused += settled.refused;
                if let Some(code) = settled.code
                    && !failure_logged
                {
                    // Once a cycle: a bus that is down refuses every call.
                    tracing::warn!(code = %code, "EventBridge refused events; they are sent again with backoff");
                    failure_logged = true;
                }
            }
        }
        report.events_pending = self.with_ledger(|l| l.pending());
        report
    }

    /// One call: put, then record what was accepted before returning.
    async fn send(&self, batch: Batch) -> ledger::Settled {
        let deliveries = self.publisher.put(&batch.events).await;
        let (delta, settled) = self.with_ledger(|l| l.settle(&batch, &deliveries, Instant::now()));
        if !delta.is_empty()
            && let Err(err) = self.store.append(&delta).await
        {
            // Announced in memory; the fold at the end of this send
            // writes it. Only a cold start before then could repeat it.
            tracing::warn!(code = err.code(), error = %err, "could not journal announced events");
            self.with_ledger(|l| l.mark_unsaved(true));
        }
        settled
    }

    /// Folds the journal into the base when the backlog is gone, when the
    /// journal is long, or when the state changed outside it.
    async fn fold_if_due(&self, pending: usize) {
        let journal = self.store.journal_len().await;
        let unsaved = self.with_ledger(|l| l.unsaved());
        if !(unsaved || journal >= FOLD_AFTER_ENTRIES || (pending == 0 && journal > 0)) {
            return;
        }
        let whole = self.with_ledger(|l| l.announced().clone());
        match tokio::time::timeout(self.settings.budget, self.store.fold(&whole)).await {
            Ok(Ok(())) => self.with_ledger(|l| l.mark_unsaved(false)),
            Ok(Err(err)) => {
                tracing::warn!(code = err.code(), error = %err, "could not save the announced levels; tried again next cycle")
            }
            Err(_) => {
                tracing::warn!("saving the announced levels timed out; tried again next cycle")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::Level;
    use crate::model::{DeliveryProvider, OpenClosedState, QueueStats, SourceName, TaskType};
    use std::sync::Mutex as StdMutex;

    /// A bus that takes every entry after `delay`, refusing the first
    /// `refuse` entries; and a table in memory.
    #[derive(Clone, Default)]
    struct World {
        sent: Arc<StdMutex<Vec<Outgoing>>>,
        refuse: Arc<StdMutex<usize>>,
        delay: Duration,
        saved: Arc<StdMutex<AnnouncedState>>,
        journal: Arc<StdMutex<Vec<AnnouncedState>>>,
    }

    #[async_trait]
    impl EventPublisher for World {
        async fn put(&self, events: &[Outgoing]) -> Vec<Delivery> {
            tokio::time::sleep(self.delay).await;
            let mut refuse = self.refuse.lock().unwrap();
            events
                .iter()
                .map(|e| {
                    if *refuse > 0 {
                        *refuse -= 1;
                        Delivery::Refused("InternalFailure".into())
                    } else {
                        self.sent.lock().unwrap().push(e.clone());
                        Delivery::Accepted
                    }
                })
                .collect()
        }
    }

    #[async_trait]
    impl AnnouncedStore for World {
        async fn load(&self) -> Result<AnnouncedState, StoreError> {
            let mut state = self.saved.lock().unwrap().clone();
            for delta in self.journal.lock().unwrap().iter() {
                state.levels.extend(delta.levels.clone());
                state.sources.extend(delta.sources.clone());
            }
            Ok(state)
        }
        async fn append(&self, delta: &AnnouncedState) -> Result<(), StoreError> {
            self.journal.lock().unwrap().push(delta.clone());
            Ok(())
        }
        async fn fold(&self, whole: &AnnouncedState) -> Result<(), StoreError> {
            *self.saved.lock().unwrap() = whole.clone();
            self.journal.lock().unwrap().clear();
            Ok(())
        }
        async fn journal_len(&self) -> usize {
            self.journal.lock().unwrap().len()
        }
    }

    fn snapshot(n: u32, queues: usize, level: Level) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            snapshot_id: format!("s{n}"),
            observed_at: chrono::Utc::now(),
            sources: vec![],
            queues: (0..queues)
                .map(|i| {
                    let mut q = QueueStats::new(
                        SourceName::Symbee,
                        format!("q{i}"),
                        format!("q{i}"),
                        DeliveryProvider::Symbee,
                        TaskType::RoutedEmail,
                        OpenClosedState::OperatingHoursOpen,
                    );
                    q.level = Some(level);
                    q
                })
                .collect(),
        })
    }

    fn announcer(world: &World, budget_ms: u64, concurrency: usize) -> Announcer {
        Announcer::new(
            Box::new(world.clone()),
            Box::new(world.clone()),
            AnnounceSettings {
                hold_cycles: 1,
                budget: Duration::from_millis(budget_ms),
                concurrency,
            },
        )
    }

    fn ids(world: &World) -> Vec<String> {
        world
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.event_id.clone())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlog_bigger_than_the_budget_drains_over_cycles_once_each() {
        let world = World {
            delay: Duration::from_millis(50),
            ..World::default()
        };
        // 10 calls at once, 50 ms each, 500 ms budget: about 1,000 events a cycle.
        let announcer = announcer(&world, 500, 10);
        announcer.announce(snapshot(0, 3000, Level::Normal)).await;
        let first = announcer.announce(snapshot(1, 3000, Level::Critical)).await;
        assert!(
            first.events_sent > 0 && first.events_sent < 3000,
            "{first:?}"
        );
        assert_eq!(
            first.events_pending,
            3000 - first.events_sent,
            "what did not fit is pending"
        );
        let mut cycles = 1;
        while announcer.pending() != Some(0) {
            announcer
                .announce(snapshot(1 + cycles, 3000, Level::Critical))
                .await;
            cycles += 1;
            assert!(cycles < 10, "the backlog drains");
        }
        let mut sent = ids(&world);
        assert_eq!(sent.len(), 3000);
        sent.sort();
        sent.dedup();
        assert_eq!(sent.len(), 3000, "each announced once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cycle_that_stops_waiting_loses_and_repeats_nothing() {
        let world = World {
            delay: Duration::from_millis(50),
            ..World::default()
        };
        let announcer = announcer(&world, 10_000, 4);
        announcer.announce(snapshot(0, 400, Level::Normal)).await;
        // The cycle gives up after 120 ms (three rounds of four calls).
        let cut = tokio::time::timeout(
            Duration::from_millis(120),
            announcer.announce(snapshot(1, 400, Level::Warning)),
        )
        .await;
        assert!(cut.is_err(), "cut off");
        // The sender carried on by itself; the next cycle waits for it.
        let report = announcer.announce(snapshot(2, 400, Level::Warning)).await;
        let mut sent = ids(&world);
        assert_eq!(sent.len(), 400, "{report:?}");
        sent.sort();
        sent.dedup();
        assert_eq!(sent.len(), 400, "none twice");
        assert_eq!(report.events_pending, 0);
    }

    #[test]
    fn a_process_stopped_mid_send_is_resumed_by_the_next_without_repeats() {
        let world = World {
            delay: Duration::from_millis(5),
            ..World::default()
        };
        let first = world.clone();
        let (started, stop) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(tokio::sync::Notify::new()),
        );
        let (started_tx, stop_rx) = (started.clone(), stop.clone());
        let process = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                let announcer = announcer(&first, 60_000, 2);
                announcer.announce(snapshot(0, 500, Level::Normal)).await;
                started_tx.notify_one();
                tokio::select! {
                    _ = announcer.announce(snapshot(1, 500, Level::Critical)) => {}
                    _ = stop_rx.notified() => {}
                }
            });
            // Dropping the runtime ends every task where it stands: the
            // process is gone.
            drop(runtime);
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            started.notified().await;
            // Wait until part of the burst is out, then stop the process.
            while ids(&world).len() < 100 {
                tokio::task::yield_now().await;
                std::thread::yield_now();
            }
            stop.notify_one();
        });
        process.join().unwrap();
        let before = ids(&world).len();
        assert!(before < 500, "stopped mid-way ({before})");
        runtime.block_on(async {
            let next = announcer(&world, 60_000, 2);
            let report = next.announce(snapshot(2, 500, Level::Critical)).await;
            assert_eq!(report.events_sent, 500 - before, "{report:?}");
        });
        let mut sent = ids(&world);
        sent.sort();
        sent.dedup();
        assert_eq!(sent.len(), 500, "every change once");
        assert_eq!(ids(&world).len(), 500, "none twice");
    }

    #[tokio::test(start_paused = true)]
    async fn refused_entries_are_counted_and_sent_again_with_the_same_id() {
        let world = World::default();
        *world.refuse.lock().unwrap() = 3;
        let announcer = announcer(&world, 5_000, 2);
        announcer.announce(snapshot(0, 5, Level::Normal)).await;
        let report = announcer.announce(snapshot(1, 5, Level::Warning)).await;
        assert_eq!(report.events_refused, 3);
        assert_eq!(report.events_sent, 5, "retried within the budget");
        assert_eq!(report.events_pending, 0);
        assert_eq!(ids(&world).len(), 5);
    }
}
