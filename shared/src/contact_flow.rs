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
use crate::model::{QueueStats, SourceName, format_rfc3339, split_source};
use crate::store::{LatestQueue, QueueAsk, QueueMatch, SnapshotReader};

/// Every attribute the function returns, in the contract's order.
pub const ATTRIBUTES: [&str; 20] = [
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
    "estimatedWaitTime",
    "bestQueueId",
    "bestQueueName",
    "bestEstimatedWaitTime",
    "bestWaitPercent",
];

/// The most queues one `queueIds` question may name; more are ignored.
pub const MAX_QUEUE_IDS: usize = 10;

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
    /// The id names a queue in several sources: pass `source` too.
    Ambiguous,
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
    /// Seconds, for the contact's own channel when the queue has a figure
    /// for it, else the queue's.
    #[serde(serialize_with = "count_text")]
    pub estimated_wait_time: Option<u64>,
    /// Of the `queueIds` asked about: the found, fresh queue with the
    /// shortest estimated wait for the contact's channel. Empty when none.
    pub best_queue_id: String,
    pub best_queue_name: String,
    #[serde(serialize_with = "count_text")]
    pub best_estimated_wait_time: Option<u64>,
    /// The best queue's wait as a percentage of this queue's (a flow's
    /// check blocks compare with constants: "less than 50" = under half).
    #[serde(serialize_with = "count_text")]
    pub best_wait_percent: Option<u64>,
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

/// The queues a `queueIds` parameter asks about (comma-separated, at most
/// [`MAX_QUEUE_IDS`], each as valid as a `queueId`), in order, once each.
pub fn requested_queues(event: &Value) -> Vec<String> {
    let Some(list) = event
        .pointer("/Details/Parameters/queueIds")
        .and_then(Value::as_str)
    else {
        return Vec::new();
    };
    let mut ids: Vec<String> = Vec::new();
    for id in list
        .split(',')
        .map(str::trim)
        .filter(|id| valid_queue_id(id))
    {
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids.truncate(MAX_QUEUE_IDS);
    ids
}

/// The source the flow narrows its queues to (`Details.Parameters.source`:
/// `symbee`, `connect`, `8x8`, `clarity`), when two sources share an id.
pub fn requested_source(event: &Value) -> Option<SourceName> {
    event
        .pointer("/Details/Parameters/source")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(SourceName::from)
}

/// One queue asked about: `"<source>:<queueId>"` names its source, else
/// the flow's `source` parameter does, else any source may have it.
pub fn ask(id: &str, source: Option<&SourceName>) -> QueueAsk {
    let (prefix, queue_id) = split_source(id);
    QueueAsk {
        queue_id: queue_id.to_owned(),
        source: prefix.or_else(|| source.cloned()),
    }
}

/// The contact's channel (`VOICE`, `CHAT`, `TASK`, `EMAIL`), if Connect says.
pub fn contact_channel(event: &Value) -> Option<String> {
    event
        .pointer("/Details/ContactData/Channel")
        .and_then(Value::as_str)
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
}

pub fn valid_queue_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_QUEUE_ID_BYTES && !id.chars().any(char::is_control)
}

/// A queue's estimated wait for `channel`: its channel's figure where it
/// has one, else its own.
pub fn wait_for(queue: &QueueStats, channel: Option<&str>) -> Option<u64> {
    channel
        .and_then(|c| queue.channels.as_ref()?.get(c)?.estimated_wait_time)
        .or(queue.counters.estimated_wait_time)
}

/// Waiting contacts per free agent: the tie-break between equal waits.
fn crowding(queue: &QueueStats) -> f64 {
    match (
        queue.counters.items_in_queue,
        queue.counters.agents_available,
    ) {
        (Some(waiting), Some(free)) if free > 0 => waiting as f64 / free as f64,
        (Some(0), _) => 0.0,
        _ => f64::INFINITY,
    }
}

/// How old a queue's figures are, and whether that makes them stale.
pub fn freshness(latest: &LatestQueue, stale_after: std::time::Duration) -> (u64, bool) {
    // Carried-over figures are as old as their own observation.
    let observed_at = latest.queue.as_of.unwrap_or(latest.observed_at);
    let age = (Utc::now() - observed_at).num_seconds().max(0) as u64;
    (age, latest.queue.stale || age > stale_after.as_secs())
}

/// The routing rule, shared by the contact flow and the MCP `best_queue`
/// tool: of the candidates with fresh figures and a wait for `channel`,
/// the shortest wait, then the fewest waiting per free agent.
pub fn best_of<'a>(
    candidates: &'a [LatestQueue],
    channel: Option<&str>,
    stale_after: std::time::Duration,
) -> Option<(u64, &'a QueueStats)> {
    candidates
        .iter()
        .filter(|latest| !freshness(latest, stale_after).1)
        .filter_map(|latest| {
            let wait = wait_for(&latest.queue, channel)?;
            Some((wait, crowding(&latest.queue), &latest.queue))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map(|(wait, _, queue)| (wait, queue))
}

impl ContactFlowLookup {
    pub fn new(reader: Arc<dyn SnapshotReader>, config: ReaderConfig) -> Self {
        Self { reader, config }
    }

    pub async fn answer(&self, event: &Value) -> Attributes {
        let mut answer = Attributes::default();
        let asked = requested_queue(event).filter(|id| valid_queue_id(id));
        let candidates = requested_queues(event);
        if asked.is_none() && candidates.is_empty() {
            return answer;
        }
        answer.queue_id = asked.clone().unwrap_or_default();
        let source = requested_source(event);
        // One read for everything: the head and the shards the queues live in.
        let asks: Vec<QueueAsk> = asked
            .iter()
            .chain(&candidates)
            .map(|id| ask(id, source.as_ref()))
            .collect();
        let read = async {
            match asks.as_slice() {
                [one] => self
                    .reader
                    .latest_queue(&one.queue_id, one.source.as_ref())
                    .await
                    .map(|q| vec![q]),
                many => self.reader.latest_queues(many).await,
            }
        };
        let mut found = match tokio::time::timeout(self.config.read_timeout, read).await {
            Ok(Ok(found)) => found.into_iter(),
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
        let channel = contact_channel(event);
        if asked.is_some() {
            match found.next() {
                Some(QueueMatch::Found(latest)) => {
                    answer = self.describe(&latest, channel.as_deref())
                }
                Some(QueueMatch::Ambiguous(_)) => answer.status = Status::Ambiguous,
                _ => {}
            }
        }
        // A candidate two sources share, asked without its source, is
        // no candidate: the flow could not route to "either".
        let candidates: Vec<LatestQueue> = found.filter_map(QueueMatch::found).collect();
        if let Some((wait, queue)) =
            best_of(&candidates, channel.as_deref(), self.config.stale_after)
        {
            answer.best_queue_id = queue.queue_id.clone();
            answer.best_queue_name = queue.queue_name.clone();
            answer.best_estimated_wait_time = Some(wait);
            answer.best_wait_percent = answer
                .estimated_wait_time
                .filter(|own| *own > 0)
                .map(|own| (wait * 100 + own / 2) / own);
        }
        answer
    }

    fn freshness(&self, latest: &LatestQueue) -> (u64, bool) {
        freshness(latest, self.config.stale_after)
    }

    fn describe(&self, latest: &LatestQueue, channel: Option<&str>) -> Attributes {
        let queue = &latest.queue;
        let (age, stale) = self.freshness(latest);
        let observed_at = queue.as_of.unwrap_or(latest.observed_at);
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
            estimated_wait_time: if stale {
                None
            } else {
                wait_for(queue, channel)
            },
            ..Attributes::default()
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
    fn queue_ids_are_trimmed_deduplicated_validated_and_at_most_ten() {
        let many: Vec<String> = (0..14).map(|i| format!("q{i}")).collect();
        let event = json!({"Details": {"Parameters": {"queueIds": format!(" a ,b,,a,\u{1}x,{}", many.join(","))}}});
        let ids = requested_queues(&event);
        assert_eq!(ids.len(), MAX_QUEUE_IDS);
        assert_eq!(&ids[..3], ["a", "b", "q0"]);
        assert!(requested_queues(&json!({"Details": {"Parameters": {"queueIds": 7}}})).is_empty());
        let chat = json!({"Details": {"ContactData": {"Channel": "chat"}}});
        assert_eq!(contact_channel(&chat).as_deref(), Some("CHAT"));
        assert_eq!(contact_channel(&json!({})), None);
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
