//! "How busy is this queue right now?" for Amazon Connect contact flows.
//!
//! A flow invokes the function synchronously and branches on flat string
//! attributes, so [`ContactFlowLookup::answer`] always returns the full set
//! of keys and never an error: an unknown queue is `found=false` /
//! `status=not_found`, a store failure is `status=unavailable`. Connect
//! waits at most 8 seconds; every read here is bounded far inside that.

use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use crate::config::ReaderConfig;
use crate::levels::Level;
use crate::model::format_rfc3339;
use crate::store::SnapshotReader;

/// Every attribute the function returns, in the contract's order.
pub const ATTRIBUTES: [&str; 15] = [
    "found",
    "queueId",
    "queueName",
    "openClosedState",
    "itemsInQueue",
    "oldestItem",
    "agentsAvailable",
    "agentsStaffed",
    "agentsWorking",
    "agentsInWrap",
    "observedAt",
    "ageSeconds",
    "stale",
    "status",
    "level",
];

/// Longest queue id we look up (an ARN is about 130 bytes).
const MAX_QUEUE_ID_BYTES: usize = 512;

/// What a flow branches on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    #[default]
    NotFound,
    Stale,
    Unavailable,
}

/// The answer: the attribute contract as a type. Connect wants a flat map
/// of strings, so every field serializes as one; a figure the source does
/// not have is an empty string, never a made-up 0.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attributes {
    #[serde(serialize_with = "as_text")]
    pub found: bool,
    pub queue_id: String,
    pub queue_name: String,
    pub open_closed_state: String,
    #[serde(serialize_with = "count_text")]
    pub items_in_queue: Option<u64>,
    #[serde(serialize_with = "count_text")]
    pub oldest_item: Option<u64>,
    #[serde(serialize_with = "count_text")]
    pub agents_available: Option<u64>,
    #[serde(serialize_with = "count_text")]
    pub agents_staffed: Option<u64>,
    #[serde(serialize_with = "count_text")]
    pub agents_working: Option<u64>,
    #[serde(serialize_with = "count_text")]
    pub agents_in_wrap: Option<u64>,
    /// RFC 3339, empty when nothing was found.
    pub observed_at: String,
    #[serde(serialize_with = "count_text")]
    pub age_seconds: Option<u64>,
    #[serde(serialize_with = "as_text")]
    pub stale: bool,
    pub status: Status,
    /// `normal`, `warning`, `critical`, or `unknown` (not found, stale, or
    /// no figure the `QUEUE_LEVELS` rules look at).
    pub level: Level,
}

fn as_text<S: serde::Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if *value { "true" } else { "false" })
}

fn count_text<S: serde::Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_str(""),
    }
}

pub struct ContactFlowLookup {
    reader: Arc<dyn SnapshotReader>,
    config: ReaderConfig,
}

/// The queue a contact-flow event asks about: the `queueId` parameter,
/// else the contact's current queue. Read by JSON pointer rather than
/// through a typed event: Connect sends `null` for parts a typed event
/// requires (a task has no customer endpoint), and a flow must still get
/// its answer.
pub fn requested_queue(event: &Value) -> Option<String> {
    [
        "/Details/Parameters/queueId",
        "/Details/ContactData/Queue/ARN",
    ]
    .iter()
    .filter_map(|pointer| event.pointer(pointer).and_then(Value::as_str))
    .map(str::trim)
    .find(|id| !id.is_empty())
    .map(str::to_owned)
}

impl ContactFlowLookup {
    pub fn new(reader: Arc<dyn SnapshotReader>, config: ReaderConfig) -> Self {
        Self { reader, config }
    }

    pub async fn answer(&self, event: &Value) -> Attributes {
        let mut answer = Attributes::default();
        let Some(queue_id) = requested_queue(event) else {
            return answer;
        };
        let valid = queue_id.len() <= MAX_QUEUE_ID_BYTES && !queue_id.chars().any(char::is_control);
        if !valid {
            return answer;
        }
        answer.queue_id = queue_id.clone();

        let latest = match tokio::time::timeout(
            self.config.read_timeout,
            self.reader.latest_queue(&queue_id),
        )
        .await
        {
            Ok(Ok(latest)) => latest,
            Ok(Err(error)) => {
                tracing::error!(code = error.code(), transient = error.is_transient(), error = %error, "contact-flow lookup could not read the store");
                answer.status = Status::Unavailable;
                return answer;
            }
            Err(_) => {
                tracing::error!(
                    timeout_ms = self.config.read_timeout.as_millis() as u64,
                    "contact-flow lookup timed out"
                );
                answer.status = Status::Unavailable;
                return answer;
            }
        };
        let Some(latest) = latest else {
            return answer;
        };

        let queue = &latest.queue;
        // Carried-over figures are as old as their own observation.
        let observed_at = queue.as_of.unwrap_or(latest.observed_at);
        let age = (Utc::now() - observed_at).num_seconds().max(0) as u64;
        let stale = queue.stale || age > self.config.stale_after.as_secs();
        let counters = &queue.counters;
        Attributes {
            found: true,
            queue_id: queue.queue_id.clone(),
            queue_name: queue.queue_name.clone(),
            open_closed_state: queue.open_closed_state.to_string(),
            items_in_queue: counters.items_in_queue,
            oldest_item: counters.oldest_item,
            agents_available: counters.agents_available,
            agents_staffed: counters.agents_staffed,
            agents_working: counters.agents_working,
            agents_in_wrap: counters.agents_in_wrap,
            observed_at: format_rfc3339(&observed_at),
            age_seconds: Some(age),
            stale,
            status: if stale { Status::Stale } else { Status::Ok },
            level: if stale {
                Level::Unknown
            } else {
                queue.level.unwrap_or_default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_parameter_wins_over_the_contacts_queue() {
        let event = json!({"Details": {
            "Parameters": {"queueId": " email-care "},
            "ContactData": {"Queue": {"ARN": "arn:aws:connect:x:1:instance/i/queue/q"}}
        }});
        assert_eq!(requested_queue(&event).as_deref(), Some("email-care"));
    }

    #[test]
    fn without_a_parameter_the_contacts_queue_is_used() {
        let event = json!({"Details": {
            "Parameters": {"queueId": ""},
            "ContactData": {"Queue": {"ARN": "arn:aws:connect:x:1:instance/i/queue/q", "Name": "Q"}}
        }});
        assert_eq!(
            requested_queue(&event).as_deref(),
            Some("arn:aws:connect:x:1:instance/i/queue/q")
        );
        for event in [
            json!({}),
            json!({"Details": {"ContactData": {"Queue": null}}}),
            json!([1, 2]),
            json!("x"),
        ] {
            assert_eq!(requested_queue(&event), None);
        }
    }

    #[test]
    fn the_answer_serializes_to_exactly_the_contracts_strings() {
        let value = serde_json::to_value(Attributes::default()).unwrap();
        let map = value.as_object().unwrap();
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let mut expected = ATTRIBUTES.to_vec();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
        assert!(map.values().all(Value::is_string));
        assert_eq!(map["found"], "false");
        assert_eq!(map["itemsInQueue"], "");
        assert_eq!(map["status"], "not_found");
        let found = Attributes {
            found: true,
            items_in_queue: Some(27),
            status: Status::Stale,
            ..Attributes::default()
        };
        let value = serde_json::to_value(found).unwrap();
        assert_eq!(value["found"], "true");
        assert_eq!(value["itemsInQueue"], "27");
        assert_eq!(value["status"], "stale");
    }
}
