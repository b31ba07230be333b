//! What the functions tell operators: logging set-up, and each poll
//! cycle's log line and metrics.
//!
//! Logging follows Lambda's advanced logging controls: the function's
//! `LoggingConfig` sets `AWS_LAMBDA_LOG_FORMAT` (JSON: one object per line,
//! each field queryable in CloudWatch Logs Insights) and
//! `AWS_LAMBDA_LOG_LEVEL`; `RUST_LOG` still works where those are unset.

use crate::model::SourceState;
use crate::poller::{CycleObserver, CycleReport};

/// Installs the log subscriber, honouring the controls as
/// `lambda_runtime::tracing::init_default_subscriber` does (level from
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO; JSON when
/// `AWS_LAMBDA_LOG_FORMAT` is JSON), with one difference: a JSON line keeps
/// its fields at the top level and carries no span list, so Logs Insights
/// reads `queues`, not `fields.queues`, and a cycle line stays one line.
pub fn init() {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|text| text.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
        .with_target(false)
        .with_ansi(false)
        .without_time(); // Lambda stamps every line itself.
    let _ = if json {
        subscriber
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        subscriber.try_init()
    };
}

/// How cycles are reported: always a log line; with a function name (in
/// Lambda), also a metrics line in Embedded Metric Format.
#[derive(Clone, Debug, Default)]
pub struct CycleTelemetry {
    /// The function name metrics are reported under; none outside Lambda.
    pub function_name: Option<String>,
}

impl CycleTelemetry {
    /// Metrics under the Lambda function's own name, when there is one.
    pub fn from_env() -> Self {
        Self {
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        }
    }
}

impl CycleObserver for CycleTelemetry {
    fn record(&self, report: &CycleReport) {
        log_cycle(report);
        if let Some(function) = &self.function_name {
            // Lambda sends stdout to CloudWatch Logs, which extracts EMF.
            println!("{}", metrics_line(report, function));
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
                    {"Name": "CycleDuration", "Unit": "Milliseconds"},
                    {"Name": "EventsSent", "Unit": "Count"},
                    {"Name": "EventsRefused", "Unit": "Count"},
                    {"Name": "EventsPending", "Unit": "Count"}
                ]
            }]
        },
        "FunctionName": function,
        "SnapshotsWritten": written,
        "Queues": report.queues,
        "StaleQueues": report.stale_queues,
        "SourceErrors": source_errors,
        "RecordsFailed": report.records_failed,
        "CycleDuration": report.duration_ms,
        "EventsSent": report.events.events_sent,
        "EventsRefused": report.events.events_refused,
        "EventsPending": report.events.events_pending
    })
    .to_string()
}

/// One flat log line per cycle, every field queryable on its own in
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
                eventsSent = report.events.events_sent,
                eventsRefused = report.events.events_refused,
                eventsPending = report.events.events_pending,
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
    use crate::model::{SourceName, SourceStatus};
    use chrono::Utc;

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
                instance: None,
                status: SourceState::Error,
                error: None,
                latency_ms: 1,
                queue_count: 2,
            }],
            store: "written".into(),
            store_error: None,
            store_failure: None,
            records_sent: 7,
            records_failed: 0,
            put_records_calls: 1,
            failed_records: vec![],
            events: Default::default(),
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
