//! 8x8 Work Analytics' call-queue responses and their mapping to the model,
//! as pure functions.
//!
//! Two endpoints, two shapes of the same figures: the successor
//! (`call-queue-metrics`) prefixes its live metrics with `ongoing` and
//! reports durations in seconds (8x8's public docs: "Durations are in
//! seconds"); the deprecated realtime endpoint has no prefix and reports
//! durations in milliseconds (the seed document). Both map to one model.

use serde::Deserialize;

use crate::model::{
    DeliveryProvider, OpenClosedState, QueueStats, SourceName, TaskType, VendorAverages,
};

use super::config::Endpoint;

/// `POST /v1/oauth/token`'s answer.
pub use crate::source::token::TokenResponse;

#[derive(Deserialize)]
struct Envelope<M> {
    #[serde(rename = "callQueues")]
    call_queues: Vec<WireQueue<M>>,
}

#[derive(Deserialize)]
struct WireQueue<M> {
    #[serde(default, deserialize_with = "text_or_number")]
    id: Option<String>,
    name: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    extension: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    site: Option<String>,
    #[serde(default)]
    deleted: bool,
    metrics: Option<M>,
}

/// 8x8's documents disagree on these fields' types: the reference's
/// example sends `"extension": 1000`, its guide `"1000"`. Either is read
/// as the text it spells, so one queue's spelling never makes the whole
/// answer unreadable.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(Option::<Text>::deserialize(d)?.map(|t| match t {
        Text::Text(text) => text,
        Text::Number(number) => number.to_string(),
    }))
}

/// The successor's live figures (only the `ongoing*` ones: the rest are
/// the day's totals, never live).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ongoing {
    ongoing_waiting_calls: Option<f64>,
    ongoing_longest_waiting_time: Option<f64>,
    ongoing_available_agents: Option<f64>,
    ongoing_eligible_agents: Option<f64>,
    ongoing_wrapping_up_agents: Option<f64>,
    ongoing_handling_calls: Option<f64>,
    ongoing_avg_waiting_time: Option<f64>,
    ongoing_avg_handling_time: Option<f64>,
    ongoing_avg_talking_time: Option<f64>,
}

/// The deprecated realtime endpoint's figures.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Realtime {
    waiting_calls: Option<f64>,
    longest_waiting_time: Option<f64>,
    available_agents: Option<f64>,
    eligible_agents: Option<f64>,
    wrapping_up_agents: Option<f64>,
    handling_calls: Option<f64>,
    avg_waiting_time: Option<f64>,
    avg_handling_time: Option<f64>,
    avg_talking_time: Option<f64>,
}

/// One queue's figures whatever the endpoint, durations in seconds.
struct Figures {
    waiting: Option<f64>,
    longest_wait: Option<f64>,
    available: Option<f64>,
    eligible: Option<f64>,
    wrapping_up: Option<f64>,
    handling: Option<f64>,
    averages: [Option<f64>; 3],
}

impl From<Ongoing> for Figures {
    fn from(m: Ongoing) -> Self {
        Self {
            waiting: m.ongoing_waiting_calls,
            longest_wait: m.ongoing_longest_waiting_time,
            available: m.ongoing_available_agents,
            eligible: m.ongoing_eligible_agents,
            wrapping_up: m.ongoing_wrapping_up_agents,
            handling: m.ongoing_handling_calls,
            averages: [
                m.ongoing_avg_waiting_time,
                m.ongoing_avg_handling_time,
                m.ongoing_avg_talking_time,
            ],
        }
    }
}

impl From<Realtime> for Figures {
    fn from(m: Realtime) -> Self {
        let seconds = |ms: Option<f64>| ms.map(|v| v / 1000.0);
        Self {
            waiting: m.waiting_calls,
            longest_wait: seconds(m.longest_waiting_time),
            available: m.available_agents,
            eligible: m.eligible_agents,
            wrapping_up: m.wrapping_up_agents,
            handling: m.handling_calls,
            averages: [
                seconds(m.avg_waiting_time),
                seconds(m.avg_handling_time),
                seconds(m.avg_talking_time),
            ],
        }
    }
}

/// A count: 8x8 sends numbers, sometimes as `2.0`; negative or absurd
/// values are treated as absent rather than trusted.
fn count(value: Option<f64>) -> Option<u64> {
    value
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v.round() as u64)
}

/// Why a body could not be read as queues.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the body is not the documented JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a call queue has no {0}")]
    MissingId(&'static str),
}

/// Every live, not deleted queue in a response of `endpoint`.
pub fn parse_queues(endpoint: Endpoint, body: &[u8]) -> Result<Vec<QueueStats>, WireError> {
    match endpoint {
        Endpoint::CallQueueMetrics => map_all::<Ongoing>(body, true),
        Endpoint::Realtime => map_all::<Realtime>(body, false),
    }
}

fn map_all<'de, M>(body: &'de [u8], has_ids: bool) -> Result<Vec<QueueStats>, WireError>
where
    M: Deserialize<'de> + Default + Into<Figures>,
{
    let envelope: Envelope<M> = serde_json::from_slice(body)?;
    envelope
        .call_queues
        .into_iter()
        .filter(|q| !q.deleted)
        .map(|q| {
            // The successor names queues by id; the realtime endpoint has
            // none, so its extension is the id there.
            let queue_id = if has_ids {
                q.id.clone().ok_or(WireError::MissingId("id"))?
            } else {
                q.extension
                    .clone()
                    .ok_or(WireError::MissingId("extension"))?
            };
            if queue_id.is_empty() {
                return Err(WireError::MissingId(if has_ids {
                    "id"
                } else {
                    "extension"
                }));
            }
            let name = q.name.clone().unwrap_or_else(|| queue_id.clone());
            let figures: Figures = q.metrics.unwrap_or_default().into();
            let mut stats = QueueStats::new(
                SourceName::EightByEight,
                queue_id,
                name,
                DeliveryProvider::EightByEight,
                TaskType::Call,
                OpenClosedState::OperatingHoursUnknown,
            );
            let c = &mut stats.counters;
            c.items_in_queue = count(figures.waiting);
            c.oldest_item = count(figures.longest_wait);
            c.agents_available = count(figures.available);
            c.agents_staffed = count(figures.eligible);
            c.agents_in_wrap = count(figures.wrapping_up);
            c.agents_working = count(figures.handling);
            stats.site = q.site;
            let [waiting_time, handling_time, talking_time] = figures.averages;
            if figures.averages.iter().any(Option::is_some) {
                stats.vendor_averages = Some(VendorAverages {
                    waiting_time,
                    handling_time,
                    talking_time,
                });
            }
            Ok(stats)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_maps_its_ongoing_figures_in_seconds() {
        let body = br#"{"callQueues": [
            {"pbx": "acme", "site": "SanJose", "id": "q1", "name": "Support CQ", "deleted": false,
             "extension": "1000", "metrics": {"enteredCalls": 128, "ongoingWaitingCalls": 2,
             "ongoingLongestWaitingTime": 95.4, "ongoingAvailableAgents": 4,
             "ongoingEligibleAgents": 9, "ongoingWrappingUpAgents": 1, "ongoingHandlingCalls": 6,
             "ongoingAvgWaitingTime": 40.5, "somethingNew": "x"}},
            {"id": "q2", "name": "Gone", "deleted": true, "metrics": {}}
        ], "metricsSummary": {"enteredCalls": 128}}"#;
        let queues = parse_queues(Endpoint::CallQueueMetrics, body).unwrap();
        assert_eq!(queues.len(), 1, "deleted queues are dropped");
        let q = &queues[0];
        assert_eq!(
            (q.queue_id.as_str(), q.queue_name.as_str()),
            ("q1", "Support CQ")
        );
        assert_eq!(q.source, SourceName::EightByEight);
        assert_eq!(q.delivery_provider.as_str(), "8X8");
        assert_eq!(q.task_type.as_str(), "CALL");
        let c = &q.counters;
        assert_eq!(c.items_in_queue, Some(2));
        assert_eq!(c.oldest_item, Some(95));
        assert_eq!(c.agents_available, Some(4));
        assert_eq!(c.agents_staffed, Some(9));
        assert_eq!(c.agents_in_wrap, Some(1));
        assert_eq!(c.agents_working, Some(6));
        assert_eq!(c.agents_unavailable, None, "8x8 has no such figure");
        assert_eq!(c.items_scheduled, None);
        assert_eq!(q.site.as_deref(), Some("SanJose"));
        assert_eq!(q.vendor_averages.as_ref().unwrap().waiting_time, Some(40.5));
    }

    #[test]
    fn numeric_ids_and_extensions_read_as_their_text() {
        let body = br#"{"callQueues": [
            {"id": 8800, "name": "Sales", "extension": 1000, "site": 12, "metrics": {"ongoingWaitingCalls": 3}},
            {"id": "8801", "name": "Care", "extension": "1001", "metrics": {"ongoingWaitingCalls": 1}}
        ]}"#;
        let queues = parse_queues(Endpoint::CallQueueMetrics, body).unwrap();
        let ids: Vec<&str> = queues.iter().map(|q| q.queue_id.as_str()).collect();
        assert_eq!(ids, ["8800", "8801"]);
        let body = br#"{"callQueues": [{"name": "Narbo", "extension": 153964, "metrics": {"waitingCalls": 1}}]}"#;
        let queues = parse_queues(Endpoint::Realtime, body).unwrap();
        assert_eq!(queues[0].queue_id, "153964");
    }

    #[test]
    fn the_realtime_endpoint_is_in_milliseconds_and_named_by_extension() {
        let body = br#"{"callQueues": [{"name": "Narbo", "extension": "153964",
            "pbx": "core", "site": "SanJose-Onel", "metrics": {"waitingCalls": 3,
            "longestWaitingTime": 85276, "avgWaitingTime": 28425.0}}]}"#;
        let queues = parse_queues(Endpoint::Realtime, body).unwrap();
        let q = &queues[0];
        assert_eq!(q.queue_id, "153964");
        assert_eq!(q.counters.items_in_queue, Some(3));
        assert_eq!(q.counters.oldest_item, Some(85));
        assert_eq!(
            q.counters.agents_available, None,
            "not asked, not sent: null"
        );
        assert_eq!(
            q.vendor_averages.as_ref().unwrap().waiting_time,
            Some(28.425)
        );
    }

    #[test]
    fn what_is_not_the_documented_shape_is_an_error() {
        for body in [
            &b"<html>502</html>"[..],
            br#"{"callQueues": [{"id": "q1", "metrics": {"ongoingWaitingCalls": "two"}}]}"#,
            br#"{"callQueues": [{"name": "no id"}]}"#,
            br#"{"callQueues": "#,
            br#"{"queues": []}"#,
        ] {
            assert!(parse_queues(Endpoint::CallQueueMetrics, body).is_err());
        }
        assert!(parse_queues(Endpoint::Realtime, br#"{"callQueues": [{"id": "x"}]}"#).is_err());
        let empty = parse_queues(Endpoint::CallQueueMetrics, br#"{"callQueues": []}"#).unwrap();
        assert!(empty.is_empty());
    }
}
