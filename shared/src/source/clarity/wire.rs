//! Clarity's queue data as it arrives (Realtime Data Responses pushed over
//! SignalR) and the in-memory copy the source keeps of it.
//!
//! The first push after a subscription carries each queue's state; later
//! pushes carry what changed. The API document does not say which fields a
//! change repeats, so every push is applied the same way, which is right
//! for both: metrics are merged key by key, `sessions` and `addedSessions`
//! are upserted by `sessionId`, `removedSessions` are removed.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{Counters, DeliveryProvider, OpenClosedState, QueueStats, SourceName, TaskType};

/// A Clarity modality (its metric and session bags are keyed by these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Modality {
    Audio,
    Message,
    InstantMessage,
}

impl Modality {
    pub const ALL: [Modality; 3] = [Self::Audio, Self::Message, Self::InstantMessage];

    /// The name in Clarity's query strings and bags.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Message => "message",
            Self::InstantMessage => "instantMessage",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }

    /// The key of this modality in a queue's `channels`, in the words the
    /// other sources use (Connect's VOICE and CHAT).
    pub fn channel(self) -> &'static str {
        match self {
            Self::Audio => "VOICE",
            Self::Message => "EMAIL",
            Self::InstantMessage => "CHAT",
        }
    }

    fn task_type(modalities: &[Modality]) -> TaskType {
        match modalities {
            [Self::Audio] => TaskType::Call,
            [Self::InstantMessage] => TaskType::InstantMessage,
            [Self::Message] => TaskType::RoutedEmail,
            _ => TaskType::Other("CLARITY_ANY".to_owned()),
        }
    }
}

/// One entity of a push: a Realtime Data Response. Fields we do not use
/// (breakdowns, status history) are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityUpdate {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub id: Value,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub metrics: Option<HashMap<String, Value>>,
    #[serde(default)]
    pub sessions: Option<HashMap<String, SessionChanges>>,
}

/// A modality's entry of the session bag.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionChanges {
    #[serde(default)]
    pub added_sessions: Vec<Session>,
    #[serde(default)]
    pub sessions: Vec<Session>,
    #[serde(default)]
    pub removed_sessions: Vec<Session>,
}

/// The Session Model fields we read.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub session_id: Value,
    #[serde(default)]
    pub session_status: Option<String>,
    #[serde(default)]
    pub queued_ms: Option<f64>,
}

/// Why a push could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the push is not Realtime Data Responses: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a pushed {0} has no usable id")]
    MissingId(&'static str),
}

/// A push's argument: one Realtime Data Response or a list of them.
pub fn parse_update(argument: &Value) -> Result<Vec<EntityUpdate>, WireError> {
    let entities = match argument {
        Value::Array(items) => items
            .iter()
            .map(EntityUpdate::deserialize)
            .collect::<Result<Vec<_>, _>>()?,
        other => vec![EntityUpdate::deserialize(other)?],
    };
    Ok(entities)
}

/// An id Clarity sends as a number (sometimes as a string): `"201"`.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) if n.is_u64() => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
        _ => None,
    }
}

#[derive(Clone, Debug)]
struct KnownSession {
    queued: bool,
    queued_ms: f64,
    /// When the push that last told us its `queuedMs` arrived: a session
    /// still queued has waited that much longer since.
    seen: Instant,
}

#[derive(Clone, Debug, Default)]
struct QueueState {
    name: Option<String>,
    /// Metric bag by modality (`agnostic` included), merged key by key.
    metrics: HashMap<String, serde_json::Map<String, Value>>,
    sessions: HashMap<Modality, HashMap<String, KnownSession>>,
}

/// The latest state of every subscribed queue, kept from the pushes.
#[derive(Debug, Default)]
pub struct QueueBook {
    queues: BTreeMap<String, QueueState>,
}

impl QueueBook {
    pub fn clear(&mut self) {
        self.queues.clear();
    }

    /// How many queues have had a push.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    pub fn has(&self, queue_id: &str) -> bool {
        self.queues.contains_key(queue_id)
    }

    /// Applies one push, received at `now`. Agent entities are skipped.
    pub fn apply(&mut self, updates: Vec<EntityUpdate>, now: Instant) -> Result<(), WireError> {
        for update in updates {
            if update
                .kind
                .as_deref()
                .is_some_and(|k| !k.eq_ignore_ascii_case("queue"))
            {
                continue;
            }
            let id = id_text(&update.id).ok_or(WireError::MissingId("queue"))?;
            let state = self.queues.entry(id).or_default();
            if let Some(name) = update.name.filter(|n| !n.is_empty()) {
                state.name = Some(name);
            }
            for (bag, metrics) in update.metrics.unwrap_or_default() {
                if let Value::Object(metrics) = metrics {
                    state.metrics.entry(bag).or_default().extend(metrics);
                }
            }
            for (bag, changes) in update.sessions.unwrap_or_default() {
                let Some(modality) = Modality::parse(&bag) else {
                    continue;
                };
                let known = state.sessions.entry(modality).or_default();
                for session in changes.sessions.into_iter().chain(changes.added_sessions) {
                    let id = id_text(&session.session_id).ok_or(WireError::MissingId("session"))?;
                    known.insert(
                        id,
                        KnownSession {
                            queued: session
                                .session_status
                                .as_deref()
                                .is_some_and(|s| s.eq_ignore_ascii_case("queued")),
                            queued_ms: session
                                .queued_ms
                                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                                .unwrap_or(0.0),
                            seen: now,
                        },
                    );
                }
                for session in changes.removed_sessions {
                    if let Some(id) = id_text(&session.session_id) {
                        known.remove(&id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Every queue as of `now`, for the subscribed `modalities`.
    pub fn queues(&self, modalities: &[Modality], now: Instant) -> Vec<QueueStats> {
        self.queues
            .iter()
            .map(|(id, state)| state.stats(id, modalities, now))
            .collect()
    }
}

/// A count from a metric bag: a number, never negative.
fn metric(bag: Option<&serde_json::Map<String, Value>>, names: &[&str]) -> Option<u64> {
    let bag = bag?;
    names.iter().find_map(|name| {
        bag.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_f64())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v.round() as u64)
    })
}

impl QueueState {
    fn modality_counters(&self, modality: Modality, now: Instant) -> Counters {
        let sessions = self.sessions.get(&modality);
        let queued: Vec<&KnownSession> = sessions
            .map(|s| s.values().filter(|s| s.queued).collect())
            .unwrap_or_default();
        let bag = self.metrics.get(modality.as_str());
        let counted = metric(bag, &["queuedCount"]);
        let oldest = queued
            .iter()
            .map(|s| s.queued_ms / 1000.0 + now.saturating_duration_since(s.seen).as_secs_f64())
            .fold(None, |max: Option<f64>, age| {
                Some(max.map_or(age, |m| m.max(age)))
            });
        Counters {
            // The metric where Clarity sends it, else the sessions we hold.
            items_in_queue: counted.or(sessions.map(|_| queued.len() as u64)),
            oldest_item: match (oldest, sessions) {
                (Some(age), _) => Some(age.floor() as u64),
                // Sessions known and none queued: nothing is waiting.
                (None, Some(_)) => Some(0),
                (None, None) => None,
            },
            ..Counters::default()
        }
    }

    fn stats(&self, id: &str, modalities: &[Modality], now: Instant) -> QueueStats {
        let mut stats = QueueStats::new(
            SourceName::Clarity,
            id,
            self.name.clone().unwrap_or_else(|| id.to_owned()),
            DeliveryProvider::Clarity,
            Modality::task_type(modalities),
            OpenClosedState::OperatingHoursUnknown,
        );
        let mut channels = BTreeMap::new();
        let mut items: Option<u64> = None;
        let mut oldest: Option<u64> = None;
        for &modality in modalities {
            let counters = self.modality_counters(modality, now);
            if let Some(n) = counters.items_in_queue {
                items = Some(items.unwrap_or(0) + n);
            }
            if let Some(age) = counters.oldest_item {
                oldest = Some(oldest.map_or(age, |o| o.max(age)));
            }
            channels.insert(modality.channel().to_owned(), counters);
        }
        let c = &mut stats.counters;
        c.items_in_queue = items;
        c.oldest_item = oldest;
        // Agents are not broken down by modality; the seed names no agent
        // metric of a queue, so these are read only where Clarity sends them.
        let agnostic = self.metrics.get("agnostic");
        c.agents_available = metric(agnostic, &["availableAgentCount", "availableAgents"]);
        c.agents_staffed = metric(agnostic, &["staffedAgentCount", "staffedAgents"]);
        c.agents_working = metric(agnostic, &["busyAgentCount", "busyAgents"]);
        if modalities.len() > 1 {
            stats.channels = Some(channels);
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn book_with(pushes: &[Value], at: Instant) -> QueueBook {
        let mut book = QueueBook::default();
        for push in pushes {
            book.apply(parse_update(push).unwrap(), at).unwrap();
        }
        book
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../fixtures/clarity/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn the_first_state_maps_queued_sessions_and_metrics() {
        let now = Instant::now();
        let book = book_with(&[fixture("initial-state.json")], now);
        let queues = book.queues(&Modality::ALL, now);
        assert_eq!(queues.len(), 2);
        let sales = &queues[0];
        assert_eq!(
            (sales.queue_id.as_str(), sales.queue_name.as_str()),
            ("201", "Sales")
        );
        assert_eq!(sales.source, SourceName::Clarity);
        assert_eq!(sales.delivery_provider, DeliveryProvider::Clarity);
        // audio: the queuedCount metric (3) wins over the two sessions held;
        // instantMessage: no metric, one queued session.
        assert_eq!(sales.counters.items_in_queue, Some(4));
        assert_eq!(sales.counters.oldest_item, Some(34));
        assert_eq!(sales.counters.agents_available, Some(2));
        assert_eq!(sales.counters.agents_staffed, Some(7));
        let channels = sales.channels.as_ref().unwrap();
        assert_eq!(channels["VOICE"].items_in_queue, Some(3));
        assert_eq!(channels["VOICE"].oldest_item, Some(34));
        assert_eq!(channels["CHAT"].items_in_queue, Some(1));
        assert_eq!(channels["CHAT"].oldest_item, Some(12));
        // No sessions and no metric for a modality: unknown, not 0.
        assert_eq!(channels["EMAIL"].items_in_queue, None);
        let support = &queues[1];
        assert_eq!(support.counters.agents_available, None, "not sent");
        assert_eq!(support.counters.items_in_queue, Some(0));
        assert_eq!(support.counters.oldest_item, Some(0));
    }

    #[test]
    fn diffs_add_update_and_remove_sessions_and_merge_metrics() {
        let now = Instant::now();
        let book = book_with(&[fixture("initial-state.json"), fixture("diff.json")], now);
        let sales = &book.queues(&[Modality::Audio], now)[0];
        // 8001 answered (Active), 8002 removed, 8005 added; queuedCount 2.
        assert_eq!(sales.counters.items_in_queue, Some(2));
        assert_eq!(sales.counters.oldest_item, Some(5));
        assert_eq!(sales.counters.agents_available, Some(1), "merged");
        assert_eq!(sales.counters.agents_staffed, Some(7), "kept");
        assert_eq!(sales.task_type, TaskType::Call);
        assert_eq!(sales.channels, None, "one modality: no breakdown");
    }

    #[test]
    fn a_waiting_session_ages_between_pushes() {
        let then = Instant::now();
        let book = book_with(&[fixture("initial-state.json")], then);
        let later = then + Duration::from_secs(10);
        let sales = &book.queues(&[Modality::Audio], later)[0];
        assert_eq!(sales.counters.oldest_item, Some(44));
    }

    #[test]
    fn agents_and_unknown_entities_are_skipped_and_bad_ids_refused() {
        let now = Instant::now();
        let book = book_with(
            &[
                json!([{"type": "agent", "id": 5, "name": "Picard"}, {"type": "Queue", "id": "9", "name": "Nine"}]),
            ],
            now,
        );
        assert_eq!(book.len(), 1);
        assert!(book.has("9"));
        let mut book = QueueBook::default();
        for bad in [
            json!({"type": "queue", "id": -1}),
            json!({"id": null}),
            json!("text"),
        ] {
            let result = parse_update(&bad).and_then(|u| book.apply(u, now));
            assert!(result.is_err(), "{bad}");
        }
    }
}
