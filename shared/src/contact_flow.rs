//! "How busy is this queue right now?" for Amazon Connect contact flows.
//!
//! A flow invokes the function synchronously and branches on flat string
//! attributes, so [`ContactFlowLookup::answer`] always returns the full set
//! of keys and never an error: an unknown queue is `found=false` /
//! `status=not_found`, a store failure is `status=unavailable`. Connect
//! waits at most 8 seconds; every read here is bounded far inside that.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;

use crate::config::ReaderConfig;
use crate::model::format_rfc3339;
use crate::store::SnapshotReader;

/// Every attribute the function returns, in the contract's order.
pub const ATTRIBUTES: [&str; 14] = [
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
];

/// Longest queue id we look up (an ARN is about 130 bytes).
const MAX_QUEUE_ID_BYTES: usize = 512;

pub type Attributes = BTreeMap<String, String>;

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

fn count(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

impl ContactFlowLookup {
    pub fn new(reader: Arc<dyn SnapshotReader>, config: ReaderConfig) -> Self {
        Self { reader, config }
    }

    pub async fn answer(&self, event: &Value) -> Attributes {
        let mut attributes: Attributes = ATTRIBUTES
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect();
        let mut set = |key: &str, value: String| {
            attributes.insert(key.to_owned(), value);
        };
        set("found", "false".into());
        set("stale", "false".into());

        let Some(queue_id) = requested_queue(event) else {
            set("status", "not_found".into());
            return attributes;
        };
        let valid = queue_id.len() <= MAX_QUEUE_ID_BYTES && !queue_id.chars().any(char::is_control);
        set(
            "queueId",
            if valid {
                queue_id.clone()
            } else {
                String::new()
            },
        );
        if !valid {
            set("status", "not_found".into());
            return attributes;
        }

        let latest = match tokio::time::timeout(
            self.config.read_timeout,
            self.reader.latest_queue(&queue_id),
        )
        .await
        {
            Ok(Ok(latest)) => latest,
            Ok(Err(error)) => {
                tracing::error!(code = error.code(), error = %error, "contact-flow lookup could not read the store");
                set("status", "unavailable".into());
                return attributes;
            }
            Err(_) => {
                tracing::error!(
                    timeout_ms = self.config.read_timeout.as_millis() as u64,
                    "contact-flow lookup timed out"
                );
                set("status", "unavailable".into());
                return attributes;
            }
        };
        let Some(latest) = latest else {
            set("status", "not_found".into());
            return attributes;
        };

        let queue = &latest.queue;
        // Carried-over figures are as old as their own observation.
        let observed_at = queue.as_of.unwrap_or(latest.observed_at);
        let age = (Utc::now() - observed_at).num_seconds().max(0);
        let stale = queue.stale || age > self.config.stale_after.as_secs() as i64;
        set("found", "true".into());
        set("queueId", queue.queue_id.clone());
        set("queueName", queue.queue_name.clone());
        set("openClosedState", queue.open_closed_state.to_string());
        set("itemsInQueue", count(queue.counters.items_in_queue));
        set("oldestItem", count(queue.counters.oldest_item));
        set("agentsAvailable", count(queue.counters.agents_available));
        set("agentsStaffed", count(queue.counters.agents_staffed));
        set("agentsWorking", count(queue.counters.agents_working));
        set("agentsInWrap", count(queue.counters.agents_in_wrap));
        set("observedAt", format_rfc3339(&observed_at));
        set("ageSeconds", age.to_string());
        set("stale", stale.to_string());
        set("status", if stale { "stale" } else { "ok" }.into());
        attributes
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
}
