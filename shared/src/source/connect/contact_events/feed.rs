//! The poller's side of contact events: drain the queue between polls,
//! keep the ledger, and say when an interim snapshot is due and what it
//! holds.
//!
//! The feed never writes; the poller does, with the same writer, sink and
//! announcer as a poll, so an interim snapshot is stored, streamed and
//! announced exactly as a poll is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};

use super::{Applied, EventQueue, WaitingLedger, accuracy, moved_queue, parse};
use crate::contact_flow::wait_for;
use crate::model::{EstimateAccuracy, QueueStats, Snapshot, SourceName, UpdatedBy, queue_key};

/// At most one interim write a second, however many events (DESIGN).
pub const MIN_INTERIM_GAP: Duration = Duration::from_secs(1);

/// What one drain did, for the log line and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub received: usize,
    /// Events that moved a polled queue.
    pub applied: usize,
    /// Repeats, older events, other instances' or unpolled queues, kinds
    /// that move nothing.
    pub ignored: usize,
    /// Not a contact event we can read: deleted, counted, never retried.
    pub malformed: usize,
    /// The queue could not be read or written (the polls go on regardless).
    pub queue_errors: usize,
    pub last_error: Option<String>,
}

impl DrainReport {
    pub fn merge(&mut self, other: DrainReport) {
        self.received += other.received;
        self.applied += other.applied;
        self.ignored += other.ignored;
        self.malformed += other.malformed;
        self.queue_errors += other.queue_errors;
        if other.last_error.is_some() {
            self.last_error = other.last_error;
        }
    }
}

#[derive(Default)]
struct State {
    ledger: WaitingLedger,
    /// The last poll's snapshot: what the events move.
    baseline: Option<Arc<Snapshot>>,
    /// Each Connect queue's index in the baseline, by queue key.
    index: HashMap<String, usize>,
    /// Queues moved since the last write (keys).
    dirty: Vec<String>,
    /// The figures last written for each moved queue, so a write streams
    /// the queues that changed only.
    written: HashMap<String, (Option<u64>, Option<u64>)>,
    last_write: Option<Instant>,
}

pub struct ContactEventFeed {
    queue: Arc<dyn EventQueue>,
    state: Mutex<State>,
}

impl ContactEventFeed {
    pub fn new(queue: Arc<dyn EventQueue>) -> Self {
        Self {
            queue,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A poll's snapshot, before it is written: its Connect queues are the
    /// truth again (`updatedBy: poll`) and carry their estimate's accuracy.
    /// Then [`ContactEventFeed::baseline`] with the snapshot as written.
    pub fn polled(&self, snapshot: &mut Snapshot) {
        let mut state = self.state();
        let now = snapshot.observed_at;
        let since = now - chrono::Duration::hours(1);
        let mut index = HashMap::new();
        for (i, queue) in snapshot.queues.iter_mut().enumerate() {
            if queue.source != SourceName::Connect {
                continue;
            }
            let key = queue_key(&queue.queue_id).to_owned();
            if !queue.stale {
                // A carried-over queue keeps its older baseline and moves.
                state.ledger.polled(&queue.queue_id, now);
            }
            let answered = state.ledger.answered(&queue.queue_id, now);
            let scored = accuracy(&answered);
            queue.estimate_accuracy = Some(EstimateAccuracy {
                mae_seconds: scored.map(|(mae, _)| round_tenth(mae)),
                bias_seconds: scored.map(|(_, bias)| round_tenth(bias)),
                contacts: answered.len() as u64,
                since,
            });
            queue.updated_by = Some(UpdatedBy::Poll);
            queue.updated_at = Some(queue.as_of.unwrap_or(now));
            state.written.remove(&key);
            index.insert(key, i);
        }
        state.index = index;
        state.dirty.clear();
    }

    /// The poll's snapshot as written (after [`ContactEventFeed::polled`]):
    /// what the events move until the next poll. Shared, not copied.
    pub fn baseline(&self, snapshot: Arc<Snapshot>) {
        self.state().baseline = Some(snapshot);
    }

    /// Receives one batch (waiting at most `wait`), applies it and deletes
    /// it. A queue that cannot be read is reported, never raised: polls
    /// do not depend on it.
    pub async fn receive_once(&self, wait: Duration) -> DrainReport {
        let mut report = DrainReport::default();
        let messages = match self.queue.receive(wait).await {
            Ok(messages) => messages,
            Err(error) => {
                report.queue_errors += 1;
                report.last_error = Some(error.0);
                return report;
            }
        };
        report.received = messages.len();
        let mut done = Vec::with_capacity(messages.len());
        {
            let mut state = self.state();
            let state = &mut *state;
            for message in messages {
                match parse(message.body.as_bytes()) {
                    Err(error) => {
                        tracing::warn!(error = %error, "contact event dropped");
                        report.malformed += 1;
                    }
                    Ok(event) => {
                        let baseline = state.baseline.clone();
                        let index = &state.index;
                        let estimate_now = |queue: &str, channel: Option<&str>| {
                            let baseline = baseline.as_ref()?;
                            let queue = &baseline.queues[*index.get(queue)?];
                            wait_for(queue, channel)
                        };
                        match state.ledger.apply(&event, estimate_now) {
                            Applied::Moved(queues) => {
                                report.applied += 1;
                                for queue in queues {
                                    if !state.dirty.contains(&queue) {
                                        state.dirty.push(queue);
                                    }
                                }
                            }
                            Applied::Nothing => report.ignored += 1,
                        }
                    }
                }
                done.push(message.receipt);
            }
        }
        if !done.is_empty()
            && let Err(error) = self.queue.delete(done).await
        {
            // Undeleted messages come back; the ledger drops repeats.
            report.queue_errors += 1;
            report.last_error = Some(error.0);
        }
        report
    }

    /// Whether something moved and is not yet written.
    pub fn pending(&self) -> bool {
        !self.state().dirty.is_empty()
    }

    /// How long until an interim write may go out (zero: now).
    pub fn next_write_in(&self, now: Instant) -> Duration {
        match self.state().last_write {
            Some(last) => (last + MIN_INTERIM_GAP).saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }

    /// The interim snapshot due now, if something moved: the baseline with
    /// the moved queues' figures, a new id and time, and the queues whose
    /// figures changed since the last write (for the stream). The caller
    /// sets levels and writes it.
    pub fn interim(&self, now: DateTime<Utc>, at: Instant) -> Option<(Snapshot, Vec<String>)> {
        let mut state = self.state();
        let baseline = state.baseline.clone()?;
        if state.dirty.is_empty()
            || state
                .last_write
                .is_some_and(|last| at < last + MIN_INTERIM_GAP)
        {
            return None;
        }
        let dirty = std::mem::take(&mut state.dirty);
        let mut snapshot = (*baseline).clone();
        snapshot.snapshot_id = uuid::Uuid::now_v7().to_string();
        snapshot.observed_at = now;
        let mut changed = Vec::new();
        // Every queue moved since the poll, not only since the last write:
        // the snapshot is whole.
        let keys: Vec<String> = state.index.keys().cloned().collect();
        for key in keys {
            let (Some(moves), Some(polled_at)) =
                (state.ledger.moves(&key), state.ledger.polled_at(&key))
            else {
                continue;
            };
            if moves.arrived.is_empty() && moves.left.is_empty() {
                continue;
            }
            let i = state.index[&key];
            let moved: QueueStats = moved_queue(&snapshot.queues[i], moves, polled_at, now);
            let figures = (moved.counters.items_in_queue, moved.counters.oldest_item);
            let polled = (
                snapshot.queues[i].counters.items_in_queue,
                snapshot.queues[i].counters.oldest_item,
            );
            let before = state.written.get(&key).copied().unwrap_or(polled);
            if figures != before || dirty.contains(&key) {
                changed.push(key.clone());
            }
            state.written.insert(key, figures);
            snapshot.queues[i] = moved;
        }
        state.last_write = Some(at);
        Some((snapshot, changed))
    }
}

fn round_tenth(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}
