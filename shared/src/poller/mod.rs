//! The poll cycle and the invocation loop, free of Lambda types.
//!
//! A cycle polls every source at once (its wall time is the slowest source,
//! not the sum), builds one snapshot, and writes the store and the stream at
//! once. A failed source does not stop the others: its queues from its last
//! good poll are carried over marked `stale`. An invocation runs cycles
//! every poll interval until the next one could not finish before the
//! deadline, and fails only when nothing at all could be written.

mod carry_over;

pub use carry_over::{CarryOver, Feed};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::estimate::WaitEstimator;
use crate::events::{AnnounceReport, Announcer, SnapshotKind};
use crate::levels::LevelRules;
use crate::model::{
    DeliveryProvider, InstanceRef, QueueStats, Snapshot, SourceName, SourceState, SourceStatus,
};
use crate::sink::Tenant;
use crate::sink::{PublishReport, RecordSink, record::records_for};
use crate::source::connect::contact_events::MAX_RECEIVE;
use crate::source::connect::contact_events::feed::{ContactEventFeed, DrainReport};
use crate::source::{QueueSource, SourceError};
use crate::store::{PutOutcome, SnapshotReader, SnapshotWriter, StoreError};

/// One source's answer in one cycle, and how long it took.
struct Polled {
    name: SourceName,
    instance: Option<InstanceRef>,
    latency: Duration,
    result: Result<Vec<QueueStats>, SourceError>,
}

/// How the cycle loop is paced.
#[derive(Clone, Debug)]
pub struct Pacing {
    pub poll_interval: Duration,
    /// The longest a source may take in one cycle.
    pub source_timeout: Duration,
    /// The longest the writes of one cycle may take.
    pub write_timeout: Duration,
    /// Kept free before the deadline.
    pub safety_margin: Duration,
}

impl Pacing {
    /// The most one cycle can take: its sources, then its writes.
    pub fn cycle_budget(&self) -> Duration {
        self.source_timeout + self.write_timeout
    }
}

pub struct Poller {
    sources: Vec<Arc<dyn QueueSource>>,
    writer: Arc<dyn SnapshotWriter>,
    reader: Arc<dyn SnapshotReader>,
    sink: Arc<dyn RecordSink>,
    tenant: Option<Tenant>,
    pacing: Pacing,
    /// Survives between invocations of a warm function; seeded from the
    /// store on the first cycle after a cold start.
    carry_over: Mutex<Option<CarryOver>>,
    /// Delivery providers reported first-hand by one of the sources, and
    /// by which: another source's copies of their queues are dropped.
    direct: HashMap<DeliveryProvider, SourceName>,
    /// Told of every cycle (the telemetry logs it and publishes metrics).
    observer: Box<dyn CycleObserver>,
    /// Decides each queue's level.
    levels: LevelRules,
    /// Estimates waits where the vendor gives none, from each queue's
    /// recent polls (kept while the function is warm).
    estimator: std::sync::Mutex<WaitEstimator>,
    /// The estimator's clock: seconds since this poller was built.
    epoch: Instant,
    /// Announces level changes (`None`: events off).
    announcer: Option<Announcer>,
    /// Moves the Connect figures between polls (`None`: contact events off).
    contact_events: Option<ContactEventFeed>,
}

/// What one cycle did, logged as one structured line.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleReport {
    pub snapshot_id: String,
    #[serde(with = "crate::model::rfc3339")]
    pub observed_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub queues: usize,
    pub stale_queues: usize,
    pub sources: Vec<SourceStatus>,
    /// `written`, `superseded`, or the store error's code.
    pub store: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
    /// The store's error itself, its causes kept, for the invocation's
    /// outcome; the log line carries `store` and `storeError`.
    #[serde(skip)]
    pub store_failure: Option<Arc<StoreError>>,
    pub records_sent: usize,
    pub records_failed: usize,
    pub put_records_calls: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_records: Vec<String>,
    /// Events EventBridge took this cycle, those it refused (sent again
    /// with backoff), and those still due: `eventsSent`, `eventsRefused`,
    /// `eventsPending`.
    #[serde(flatten)]
    pub events: AnnounceReport,
}

impl CycleReport {
    /// The snapshot reached the store, or at least one record the stream.
    pub fn wrote_something(&self) -> bool {
        self.store_error.is_none() || self.records_sent > 0
    }

    /// Every queue is in the store and on the stream.
    pub fn wrote_everything(&self) -> bool {
        self.store_error.is_none() && self.records_failed == 0
    }
}

/// Told of every cycle's report. The poller owns the report; telemetry
/// (telemetry's `CycleTelemetry`: the log line and the metrics)
/// observes it, so the poll loop never depends on how it is reported.
pub trait CycleObserver: Send + Sync {
    fn record(&self, report: &CycleReport);
}

/// No observer: a poller built without wiring reports to nobody.
struct Unobserved;

impl CycleObserver for Unobserved {
    fn record(&self, _: &CycleReport) {}
}

/// What one invocation did.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationSummary {
    pub cycles: usize,
    pub cycles_with_writes: usize,
    pub queues_last_cycle: usize,
    pub records_sent: usize,
    pub records_failed: usize,
}

#[derive(Debug, Error)]
pub enum PollerError {
    #[error(
        "no cycle of this invocation could write anything ({cycles} cycles); last store error: {last}"
    )]
    NothingWritten {
        cycles: usize,
        /// The last cycle's store error, with its causes.
        #[source]
        last: Arc<StoreError>,
    },
}

impl PollerError {
    /// What failed, for the Lambda `errorType`:
    /// `PollerError.NothingWritten.TableMissing`, `.AccessDenied`,
    /// `.Throttled`, `.Timeout`, ...
    pub fn error_type(&self) -> String {
        match self {
            Self::NothingWritten { last, .. } => {
                format!("PollerError.NothingWritten.{}", last.reason())
            }
        }
    }
}

impl Poller {
    pub fn new(
        sources: Vec<Arc<dyn QueueSource>>,
        writer: Arc<dyn SnapshotWriter>,
        reader: Arc<dyn SnapshotReader>,
        sink: Arc<dyn RecordSink>,
        tenant: Option<Tenant>,
        pacing: Pacing,
    ) -> Self {
        let direct = sources
            .iter()
            .filter_map(|s| Some((s.reports_directly()?, s.name())))
            .collect();
        Self {
            sources,
            writer,
            reader,
            sink,
            tenant,
            pacing,
            carry_over: Mutex::new(None),
            direct,
            observer: Box::new(Unobserved),
            levels: LevelRules::default(),
            estimator: std::sync::Mutex::default(),
            epoch: Instant::now(),
            announcer: None,
            contact_events: None,
        }
    }

    /// Moves the Connect figures with contact events between polls.
    pub fn with_contact_events(mut self, feed: Option<ContactEventFeed>) -> Self {
        self.contact_events = feed;
        self
    }

    /// Reports each cycle with this telemetry (the wiring gives the
    /// function's name, under which metrics are published).
    /// Levels by these rules instead of the default (`oldestItem` 60 / 180).
    pub fn with_levels(mut self, levels: LevelRules) -> Self {
        self.levels = levels;
        self
    }

    /// Announces level changes with this announcer (`None`: events off).
    pub fn with_announcer(mut self, announcer: Option<Announcer>) -> Self {
        self.announcer = announcer;
        self
    }

    pub fn with_observer(mut self, observer: impl CycleObserver + 'static) -> Self {
        self.observer = Box::new(observer);
        self
    }

    /// Lets every source release what it holds upstream. Called at the end
    /// of each invocation.
    pub async fn close(&self) {
        join_all(self.sources.iter().map(|s| s.close())).await;
    }

    /// Cycles every poll interval until the next could not finish by
    /// `deadline` minus the safety margin; at least one cycle always runs.
    /// "Could finish" is judged by the longest cycle measured so far (plus a
    /// quarter), so a small floor gets many cycles a minute and a
    /// 5,000-queue Connect instance, whose cycles are paced by its API
    /// budget, gets as many as truly fit. Each cycle's sources are also cut
    /// off in time for its writes to finish before the deadline.
    pub async fn run_until(&self, deadline: Instant) -> Result<InvocationSummary, PollerError> {
        let mut summary = InvocationSummary::default();
        let mut last_failure: Option<Arc<StoreError>> = None;
        let hard_stop = deadline
            .checked_sub(self.pacing.safety_margin)
            .unwrap_or(deadline);
        let mut longest = Duration::ZERO;
        let mut next_start = Instant::now();
        loop {
            self.between_cycles(next_start).await;
            let started = Instant::now();
            let report = self.run_cycle_bounded(Some(hard_stop)).await;
            longest = longest.max(started.elapsed());
            summary.cycles += 1;
            summary.queues_last_cycle = report.queues;
            summary.records_sent += report.records_sent;
            summary.records_failed += report.records_failed;
            if report.wrote_something() {
                summary.cycles_with_writes += 1;
            } else if let Some(failure) = &report.store_failure {
                last_failure = Some(failure.clone());
            }
            // A cycle that overran the interval is followed at once.
            next_start = (next_start + self.pacing.poll_interval).max(Instant::now());
            if next_start + longest + longest / 4 > hard_stop {
                break;
            }
        }
        // No room for another poll, but contact events keep coming: drain
        // them while an interim write still fits, so the seconds before the
        // next invocation are not blind.
        if self.contact_events.is_some()
            && let Some(until) = hard_stop.checked_sub(self.pacing.write_timeout)
            && until > Instant::now()
        {
            self.between_cycles(until).await;
        }
        self.close().await;
        if summary.cycles_with_writes == 0 {
            // A cycle that wrote nothing always has a store failure.
            let last = last_failure
                .unwrap_or_else(|| Arc::new(StoreError::timed_out(self.pacing.write_timeout)));
            tracing::error!(
                cycles = summary.cycles,
                reason = last.reason(),
                error = %crate::aws::describe_error(last.as_ref()),
                "no cycle of this invocation could write anything"
            );
            return Err(PollerError::NothingWritten {
                cycles: summary.cycles,
                last,
            });
        }
        Ok(summary)
    }

    /// One poll: sources, snapshot, store and stream. Never fails as a
    /// whole; the report says what went wrong.
    pub async fn run_cycle(&self) -> CycleReport {
        self.run_cycle_bounded(None).await
    }

    /// A cycle whose sources stop in time for the writes to finish by `stop`.
    async fn run_cycle_bounded(&self, stop: Option<Instant>) -> CycleReport {
        let started = Instant::now();
        let source_timeout = match stop {
            Some(stop) => self
                .pacing
                .source_timeout
                .min(
                    stop.saturating_duration_since(started)
                        .saturating_sub(self.pacing.write_timeout),
                )
                .max(Duration::from_millis(100)),
            None => self.pacing.source_timeout,
        };
        // Millisecond precision, the precision every contract and the store
        // keep, so in-memory and stored snapshots compare equal.
        let observed_at =
            DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_else(Utc::now);
        let snapshot_id = uuid::Uuid::now_v7().to_string();

        let results = join_all(
            self.sources
                .iter()
                .map(|source| self.poll_source(source.as_ref(), source_timeout)),
        )
        .await;
        let mut snapshot = self.assemble(snapshot_id, observed_at, results).await;
        if let Some(feed) = &self.contact_events {
            feed.polled(&mut snapshot);
        }
        let snapshot = Arc::new(snapshot);
        if let Some(feed) = &self.contact_events {
            feed.baseline(snapshot.clone());
        }
        let records = records_for(&snapshot, self.tenant.as_ref());
        let (stored, published, announced) =
            self.write(SnapshotKind::Poll, &snapshot, records).await;
        let mut report = self.report(&snapshot, started, stored, published);
        report.events = announced;
        self.observer.record(&report);
        report
    }

    /// A snapshot's writes, side by side: the store, the stream (these
    /// `records`) and the announcer (a poll's, or an interim snapshot's).
    async fn write(
        &self,
        kind: SnapshotKind,
        snapshot: &Arc<Snapshot>,
        records: Vec<crate::sink::record::PreparedRecord>,
    ) -> (
        Result<PutOutcome, StoreError>,
        PublishReport,
        AnnounceReport,
    ) {
        let write_timeout = self.pacing.write_timeout;
        tokio::join!(
            async {
                tokio::time::timeout(write_timeout, self.writer.put_snapshot(snapshot))
                    .await
                    .unwrap_or_else(|_| Err(StoreError::timed_out(write_timeout)))
            },
            // The sink bounds itself by the same budget, so it always
            // returns a full per-record report instead of being cut off.
            self.sink.publish(records),
            // Level changes, beside the writes, within the announcer's own
            // budget: it runs as its own task and records every accepted
            // event as the call returns, so nothing here can cut it off
            // between a send and its record.
            async {
                match &self.announcer {
                    Some(announcer) => announcer.announce_as(kind, snapshot.clone()).await,
                    None => AnnounceReport::default(),
                }
            }
        )
    }

    /// Waits for `until`, draining contact events meanwhile when they are
    /// on: each moves the last poll's Connect figures, and what moved is
    /// written as an interim snapshot at most once a second.
    pub async fn between_cycles(&self, until: Instant) -> DrainReport {
        let mut report = DrainReport::default();
        let Some(feed) = &self.contact_events else {
            tokio::time::sleep_until(until).await;
            return report;
        };
        // The last receive came back full: more are waiting.
        let mut backlog = false;
        loop {
            let now = Instant::now();
            if feed.pending() && feed.next_write_in(now).is_zero() {
                // What arrived while the write waited for its turn goes in
                // it too, so a contact is never held for a second write.
                receive_backlog(feed, &mut report, 10).await;
                self.write_interim(feed).await;
                continue;
            }
            if now >= until {
                break;
            }
            if backlog {
                // One batch of ten per write would fall behind any busy
                // floor: short polls until the backlog is gone, a write's
                // turn checked between them.
                backlog = receive_backlog(feed, &mut report, 1).await;
                continue;
            }
            let mut wait = until - now;
            if feed.pending() {
                wait = wait.min(feed.next_write_in(now));
            }
            if wait < Duration::from_secs(1) {
                // SQS waits whole seconds; the next write or poll is sooner.
                tokio::time::sleep(wait).await;
                continue;
            }
            let drained = feed.receive_once(wait).await;
            backlog = drained.received >= MAX_RECEIVE;
            let failed = drained.queue_errors > 0;
            report.merge(drained);
            if failed {
                // A missing or denied queue: polls go on; do not spin.
                tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
            }
        }
        if report.received > 0 || report.queue_errors > 0 {
            tracing::info!(
                received = report.received,
                applied = report.applied,
                ignored = report.ignored,
                malformed = report.malformed,
                queue_errors = report.queue_errors,
                last_error = report.last_error.as_deref().unwrap_or(""),
                "contact events between polls"
            );
        }
        report
    }

    /// Writes what the events moved: the whole snapshot to the store (the
    /// latest and history), the changed queues' records to the stream,
    /// levels to the announcer, as a poll does.
    async fn write_interim(&self, feed: &ContactEventFeed) {
        let Some((mut snapshot, changed)) = feed.interim(Utc::now(), Instant::now()) else {
            return;
        };
        for queue in &mut snapshot.queues {
            if changed
                .iter()
                .any(|key| crate::model::names_queue(key, &queue.queue_id))
                && queue.source == SourceName::Connect
            {
                queue.level = Some(self.levels.level_of(queue));
            }
        }
        let snapshot = Arc::new(snapshot);
        // Only the moved queues' records; the rest of the snapshot as is,
        // without a copy of every queue.
        let moved = Snapshot {
            snapshot_id: snapshot.snapshot_id.clone(),
            observed_at: snapshot.observed_at,
            sources: snapshot.sources.clone(),
            queues: snapshot
                .queues
                .iter()
                .filter(|q| {
                    q.source == SourceName::Connect
                        && changed
                            .iter()
                            .any(|key| crate::model::names_queue(key, &q.queue_id))
                })
                .cloned()
                .collect(),
        };
        let records = records_for(&moved, self.tenant.as_ref());
        let (stored, published, _) = self.write(SnapshotKind::Interim, &snapshot, records).await;
        match stored {
            Ok(_) => tracing::info!(
                snapshot_id = %snapshot.snapshot_id,
                moved_queues = changed.len(),
                records_sent = published.sent,
                "interim snapshot from contact events"
            ),
            Err(error) => tracing::warn!(
                reason = error.reason(),
                error = %crate::aws::describe_error(&error),
                "interim snapshot not written; the next poll writes the truth"
            ),
        }
    }

    async fn poll_source(&self, source: &dyn QueueSource, timeout: Duration) -> Polled {
        let started = Instant::now();
        let result = match tokio::time::timeout(timeout, source.fetch_queues()).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::CycleTimeout {
                timeout_ms: timeout.as_millis() as u64,
            }),
        };
        Polled {
            name: source.name(),
            instance: source.instance(),
            latency: started.elapsed(),
            result,
        }
    }

    /// Builds the snapshot, carrying over a failed source's last good queues.
    async fn assemble(
        &self,
        snapshot_id: String,
        observed_at: DateTime<Utc>,
        results: Vec<Polled>,
    ) -> Snapshot {
        let mut carry_over = self.carry_over.lock().await;
        if carry_over.is_none() && results.iter().any(|p| p.result.is_err()) {
            // Cold start with a failing source: what did the last poll see?
            *carry_over = Some(self.seed_carry_over().await);
        }
        let carry_over = carry_over.get_or_insert_with(CarryOver::default);

        let mut sources = Vec::with_capacity(results.len());
        let mut queues = Vec::new();
        for polled in results {
            let Polled {
                name,
                instance,
                latency,
                result,
            } = polled;
            let feed = Feed::new(&name, instance.as_ref());
            let latency_ms = latency.as_millis() as u64;
            match result {
                Ok(mut fresh) => {
                    one_source_per_queue(&name, &mut fresh, &self.direct);
                    sources.push(SourceStatus {
                        source: name,
                        instance,
                        status: SourceState::Ok,
                        error: None,
                        latency_ms,
                        queue_count: fresh.len(),
                    });
                    carry_over.remember(feed, observed_at, &fresh);
                    queues.extend(fresh);
                }
                Err(error) => {
                    tracing::warn!(source = %name, instance = feed.instance_id.as_deref(), code = error.code(), error = %error, "source failed this cycle");
                    let carried = carry_over.carried(&feed);
                    sources.push(SourceStatus {
                        source: name,
                        instance,
                        status: SourceState::Error,
                        error: Some(error.info()),
                        latency_ms,
                        queue_count: carried.len(),
                    });
                    queues.extend(carried);
                }
            }
        }
        crate::model::sort_canonical(&mut queues);
        // Estimates first: a level rule may look at them. Carried-over
        // queues are stale, so they have no estimate and their level is unknown.
        let at = self.epoch.elapsed().as_secs_f64();
        let mut estimator = self.estimator.lock().unwrap_or_else(|p| p.into_inner());
        for queue in &mut queues {
            estimator.fill(queue, at);
            queue.level = Some(self.levels.level_of(queue));
        }
        estimator.forget_older_than(at);
        drop(estimator);
        Snapshot {
            snapshot_id,
            observed_at,
            sources,
            queues,
        }
    }

    async fn seed_carry_over(&self) -> CarryOver {
        match tokio::time::timeout(self.pacing.write_timeout, self.reader.latest_snapshot()).await {
            Ok(Ok(Some(snapshot))) => CarryOver::seeded_from(snapshot),
            Ok(Ok(None)) | Err(_) => CarryOver::default(),
            Ok(Err(err)) => {
                tracing::warn!(code = err.code(), error = %err, "could not read the last snapshot to carry queues over");
                CarryOver::default()
            }
        }
    }

    fn report(
        &self,
        snapshot: &Snapshot,
        started: Instant,
        stored: Result<PutOutcome, StoreError>,
        published: PublishReport,
    ) -> CycleReport {
        let (store, store_error, store_failure) = match stored {
            Ok(PutOutcome::Written) => ("written".to_owned(), None, None),
            Ok(PutOutcome::Superseded) => ("superseded".to_owned(), None, None),
            Err(err) => (
                err.code().to_owned(),
                Some(err.to_string()),
                Some(Arc::new(err)),
            ),
        };
        CycleReport {
            snapshot_id: snapshot.snapshot_id.clone(),
            observed_at: snapshot.observed_at,
            duration_ms: started.elapsed().as_millis() as u64,
            queues: snapshot.queues.len(),
            stale_queues: snapshot.queues.iter().filter(|q| q.stale).count(),
            sources: snapshot.sources.clone(),
            store,
            store_error,
            store_failure,
            records_sent: published.sent,
            records_failed: published.failed.len(),
            put_records_calls: published.calls,
            failed_records: published
                .failed
                .iter()
                .take(20)
                .map(|f| format!("{}: {}", f.queue_id, f.code))
                .collect(),
            events: AnnounceReport::default(),
        }
    }
}

/// Drops, from `source`'s queues, those whose delivery provider another
/// source reports first-hand (DESIGN: one queue, one source). A source
/// keeps the queues it is itself the direct reporter of.
pub fn one_source_per_queue(
    source: &SourceName,
    queues: &mut Vec<QueueStats>,
    direct: &HashMap<DeliveryProvider, SourceName>,
) {
    queues.retain(|q| {
        direct
            .get(&q.delivery_provider)
            .is_none_or(|owner| owner == source)
    });
}

/// Short polls (no wait), at most `max`, while each comes back full;
/// says whether the last one did (more are waiting). Failures are counted
/// in `report` and end the run: the caller decides how long to back off.
async fn receive_backlog(feed: &ContactEventFeed, report: &mut DrainReport, max: usize) -> bool {
    for _ in 0..max {
        let drained = feed.receive_once(Duration::ZERO).await;
        let full = drained.received >= MAX_RECEIVE;
        report.merge(drained);
        if !full {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OpenClosedState, TaskType};

    #[test]
    fn a_queue_reported_first_hand_elsewhere_is_dropped() {
        let queue = |source: SourceName, id: &str, provider: DeliveryProvider| {
            QueueStats::new(
                source,
                id,
                id,
                provider,
                TaskType::AmazonAny,
                OpenClosedState::ForcedOpen,
            )
        };
        let direct = HashMap::from([(DeliveryProvider::Amazon, SourceName::Connect)]);
        let mut symbee = vec![
            queue(SourceName::Symbee, "arn:q", DeliveryProvider::Amazon),
            queue(SourceName::Symbee, "email", DeliveryProvider::Symbee),
        ];
        one_source_per_queue(&SourceName::Symbee, &mut symbee, &direct);
        assert_eq!(symbee.len(), 1);
        assert_eq!(symbee[0].queue_id, "email");

        let mut connect = vec![queue(
            SourceName::Connect,
            "arn:q",
            DeliveryProvider::Amazon,
        )];
        one_source_per_queue(&SourceName::Connect, &mut connect, &direct);
        assert_eq!(connect.len(), 1);

        // With nobody reporting Amazon queues directly, Symbee keeps them.
        let mut alone = vec![queue(SourceName::Symbee, "arn:q", DeliveryProvider::Amazon)];
        one_source_per_queue(&SourceName::Symbee, &mut alone, &HashMap::new());
        assert_eq!(alone.len(), 1);
    }
}
