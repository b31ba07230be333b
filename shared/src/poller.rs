//! The poll cycle and the invocation loop, free of Lambda types.
//!
//! A cycle polls every source at once (its wall time is the slowest source,
//! not the sum), builds one snapshot, and writes the store and the stream at
//! once. A failed source does not stop the others: its queues from its last
//! good poll are carried over marked `stale`. An invocation runs cycles
//! every poll interval until the next one could not finish before the
//! deadline, and fails only when nothing at all could be written.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::Tenant;
use crate::model::{QueueStats, Snapshot, SourceName, SourceState, SourceStatus};
use crate::sink::{PublishReport, RecordSink, record::records_for};
use crate::source::{QueueSource, SourceError};
use crate::store::{PutOutcome, SnapshotReader, SnapshotWriter, StoreError};

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

/// Queues a source reported at its last good poll.
#[derive(Clone, Debug)]
struct LastGood {
    observed_at: DateTime<Utc>,
    queues: Vec<QueueStats>,
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
    last_good: Mutex<Option<HashMap<SourceName, LastGood>>>,
    /// The function name metrics are reported under; none outside Lambda.
    metrics_function: Option<String>,
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
    pub records_sent: usize,
    pub records_failed: usize,
    pub put_records_calls: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_records: Vec<String>,
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
        "no cycle of this invocation could write anything ({cycles} cycles); last store error: {last_error}"
    )]
    NothingWritten { cycles: usize, last_error: String },
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
        Self {
            sources,
            writer,
            reader,
            sink,
            tenant,
            pacing,
            last_good: Mutex::new(None),
            metrics_function: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        }
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
        let mut last_error = String::new();
        let hard_stop = deadline
            .checked_sub(self.pacing.safety_margin)
            .unwrap_or(deadline);
        let mut longest = Duration::ZERO;
        let mut next_start = Instant::now();
        loop {
            tokio::time::sleep_until(next_start).await;
            let started = Instant::now();
            let report = self.run_cycle_bounded(Some(hard_stop)).await;
            longest = longest.max(started.elapsed());
            summary.cycles += 1;
            summary.queues_last_cycle = report.queues;
            summary.records_sent += report.records_sent;
            summary.records_failed += report.records_failed;
            if report.wrote_something() {
                summary.cycles_with_writes += 1;
            } else if let Some(error) = &report.store_error {
                last_error = error.clone();
            }
            // A cycle that overran the interval is followed at once.
            next_start = (next_start + self.pacing.poll_interval).max(Instant::now());
            if next_start + longest + longest / 4 > hard_stop {
                break;
            }
        }
        if summary.cycles_with_writes == 0 {
            return Err(PollerError::NothingWritten {
                cycles: summary.cycles,
                last_error,
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
        let snapshot = self.assemble(snapshot_id, observed_at, results).await;

        let records = records_for(&snapshot, self.tenant.as_ref());
        let write_timeout = self.pacing.write_timeout;
        let (stored, published) = tokio::join!(
            async {
                tokio::time::timeout(write_timeout, self.writer.put_snapshot(&snapshot))
                    .await
                    .unwrap_or_else(|_| {
                        Err(StoreError::Unavailable(format!(
                            "no answer within {} ms",
                            write_timeout.as_millis()
                        )))
                    })
            },
            // The sink bounds itself by the same budget, so it always
            // returns a full per-record report instead of being cut off.
            self.sink.publish(records)
        );
        let report = self.report(&snapshot, started, stored, published);
        log_cycle(&report);
        if let Some(function) = &self.metrics_function {
            println!("{}", metrics_line(&report, function));
        }
        report
    }

    async fn poll_source(
        &self,
        source: &dyn QueueSource,
        timeout: Duration,
    ) -> (SourceName, Duration, Result<Vec<QueueStats>, SourceError>) {
        let started = Instant::now();
        let result = match tokio::time::timeout(timeout, source.fetch_queues()).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::Timeout {
                timeout_ms: timeout.as_millis() as u64,
            }),
        };
        (source.name(), started.elapsed(), result)
    }

    /// Builds the snapshot, carrying over a failed source's last good queues.
    async fn assemble(
        &self,
        snapshot_id: String,
        observed_at: DateTime<Utc>,
        results: Vec<(SourceName, Duration, Result<Vec<QueueStats>, SourceError>)>,
    ) -> Snapshot {
        let mut last_good = self.last_good.lock().await;
        if last_good.is_none() && results.iter().any(|(_, _, r)| r.is_err()) {
            // Cold start with a failing source: what did the last poll see?
            *last_good = Some(self.seed_last_good().await);
        }
        let last_good = last_good.get_or_insert_with(HashMap::new);

        let mut sources = Vec::with_capacity(results.len());
        let mut queues = Vec::new();
        for (name, latency, result) in results {
            let latency_ms = latency.as_millis() as u64;
            match result {
                Ok(fresh) => {
                    sources.push(SourceStatus {
                        source: name.clone(),
                        status: SourceState::Ok,
                        error: None,
                        latency_ms,
                        queue_count: fresh.len(),
                    });
                    queues.extend(fresh.iter().cloned());
                    last_good.insert(
                        name,
                        LastGood {
                            observed_at,
                            queues: fresh,
                        },
                    );
                }
                Err(error) => {
                    tracing::warn!(source = %name, code = error.code(), error = %error, "source failed this cycle");
                    let carried: Vec<QueueStats> = last_good
                        .get(&name)
                        .map(|good| {
                            good.queues
                                .iter()
                                .cloned()
                                .map(|mut q| {
                                    q.stale = true;
                                    q.as_of = Some(q.as_of.unwrap_or(good.observed_at));
                                    q
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    sources.push(SourceStatus {
                        source: name,
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
        Snapshot {
            snapshot_id,
            observed_at,
            sources,
            queues,
        }
    }

    async fn seed_last_good(&self) -> HashMap<SourceName, LastGood> {
        let latest = match tokio::time::timeout(
            self.pacing.write_timeout,
            self.reader.latest_snapshot(),
        )
        .await
        {
            Ok(Ok(Some(snapshot))) => snapshot,
            Ok(Ok(None)) => return HashMap::new(),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "could not read the last snapshot to carry queues over");
                return HashMap::new();
            }
            Err(_) => return HashMap::new(),
        };
        let mut by_source: HashMap<SourceName, LastGood> = HashMap::new();
        for queue in latest.queues {
            // Queues already stale keep their own asOf through `as_of`.
            by_source
                .entry(queue.source.clone())
                .or_insert_with(|| LastGood {
                    observed_at: latest.observed_at,
                    queues: Vec::new(),
                })
                .queues
                .push(queue);
        }
        by_source
    }

    fn report(
        &self,
        snapshot: &Snapshot,
        started: Instant,
        stored: Result<PutOutcome, StoreError>,
        published: PublishReport,
    ) -> CycleReport {
        let (store, store_error) = match stored {
            Ok(PutOutcome::Written) => ("written".to_owned(), None),
            Ok(PutOutcome::Superseded) => ("superseded".to_owned(), None),
            Err(err) => (err.code().to_owned(), Some(err.to_string())),
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
            records_sent: published.sent,
            records_failed: published.failed.len(),
            put_records_calls: published.calls,
            failed_records: published
                .failed
                .iter()
                .take(20)
                .map(|f| format!("{}: {}", f.queue_id, f.code))
                .collect(),
        }
    }
}

/// The cycle's metrics in CloudWatch Embedded Metric Format: one log line
/// CloudWatch turns into metrics, no PutMetricData call (nor its IAM
/// permission, nor its latency). `SnapshotsWritten` drives the template's
/// staleness alarm.
pub fn metrics_line(report: &CycleReport, function: &str) -> String {
    let source_errors = report
        .sources
        .iter()
        .filter(|s| s.status == SourceState::Error)
        .count();
    let written = u8::from(report.store_error.is_none());
    serde_json::json!({
        "_aws": {
            "Timestamp": report.observed_at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "QueueStats",
                "Dimensions": [["FunctionName"]],
                "Metrics": [
                    {"Name": "SnapshotsWritten", "Unit": "Count"},
                    {"Name": "Queues", "Unit": "Count"},
                    {"Name": "StaleQueues", "Unit": "Count"},
                    {"Name": "SourceErrors", "Unit": "Count"},
                    {"Name": "RecordsFailed", "Unit": "Count"},
                    {"Name": "CycleDuration", "Unit": "Milliseconds"}
                ]
            }]
        },
        "FunctionName": function,
        "SnapshotsWritten": written,
        "Queues": report.queues,
        "StaleQueues": report.stale_queues,
        "SourceErrors": source_errors,
        "RecordsFailed": report.records_failed,
        "CycleDuration": report.duration_ms
    })
    .to_string()
}

/// One flat JSON log line per cycle, every field queryable on its own in
/// CloudWatch Logs Insights (`filter recordsFailed > 0`, `stats avg(durationMs)`).
fn log_cycle(report: &CycleReport) {
    let sources: Vec<String> = report
        .sources
        .iter()
        .map(|s| {
            let status = s.error.as_ref().map_or("ok", |e| e.code.as_str());
            format!("{}:{status}:{}ms:{}", s.source, s.latency_ms, s.queue_count)
        })
        .collect();
    macro_rules! cycle_event {
        ($level:ident, $message:literal) => {
            tracing::$level!(
                snapshotId = %report.snapshot_id,
                durationMs = report.duration_ms,
                queues = report.queues,
                staleQueues = report.stale_queues,
                sources = %sources.join(","),
                store = %report.store,
                storeError = report.store_error.as_deref().unwrap_or(""),
                recordsSent = report.records_sent,
                recordsFailed = report.records_failed,
                putRecordsCalls = report.put_records_calls,
                failedRecords = %report.failed_records.join(","),
                $message
            )
        };
    }
    if report.wrote_everything() {
        cycle_event!(info, "poll cycle");
    } else {
        cycle_event!(error, "poll cycle incomplete");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_embedded_metric_format() {
        let report = CycleReport {
            snapshot_id: "s".into(),
            observed_at: Utc::now(),
            duration_ms: 120,
            queues: 7,
            stale_queues: 2,
            sources: vec![SourceStatus {
                source: SourceName::Connect,
                status: SourceState::Error,
                error: None,
                latency_ms: 1,
                queue_count: 2,
            }],
            store: "written".into(),
            store_error: None,
            records_sent: 7,
            records_failed: 0,
            put_records_calls: 1,
            failed_records: vec![],
        };
        let line: serde_json::Value =
            serde_json::from_str(&metrics_line(&report, "stack-poller")).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "QueueStats");
        // Every declared metric has a value at the top level, as EMF requires.
        for metric in directive["Metrics"].as_array().unwrap() {
            assert!(
                line[metric["Name"].as_str().unwrap()].is_number(),
                "{metric}"
            );
        }
        assert_eq!(line["SnapshotsWritten"], 1);
        assert_eq!(line["SourceErrors"], 1);
        assert_eq!(line["FunctionName"], "stack-poller");
    }
}
