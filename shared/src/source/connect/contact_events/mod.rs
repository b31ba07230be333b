//! Amazon Connect contact events (EventBridge `aws.connect`, detail-type
//! `Amazon Connect Contact Event`), read and applied between polls.
//!
//! Pure: an SQS message body in, a [`ContactEvent`] out; events into a
//! [`WaitingLedger`], the poll's figures moved by what happened since the
//! poll out. The poll stays the truth (DESIGN, "Seconds-fresh Connect
//! figures from contact events"): every poll resets the baseline, and the
//! events only say what changed after it.
//!
//! Why a baseline and deltas rather than counting contacts from events
//! alone: the event stream starts whenever the stack does, so contacts
//! that were already waiting were never seen queueing. A departure still
//! names its queue and its enqueue time, so a contact the poll counted
//! can be taken out without ever having been seen coming in.

pub mod feed;
pub mod sqs;

use std::collections::{HashMap, HashSet, VecDeque};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::model::{QueueStats, UpdatedBy, queue_key};
use crate::settings::{ConfigError, Settings};

/// The most messages one receive returns (SQS's limit).
pub const MAX_RECEIVE: usize = 10;

/// Where the events wait for the poller (an SQS queue).
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Up to [`MAX_RECEIVE`] messages, waiting at most `wait` (whole
    /// seconds; zero returns at once) for one.
    async fn receive(&self, wait: std::time::Duration) -> Result<Vec<QueuedMessage>, QueueError>;
    /// Done with these: applied, or unusable.
    async fn delete(&self, receipts: Vec<String>) -> Result<(), QueueError>;
}

/// One message as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    pub body: String,
    pub receipt: String,
}

/// The queue could not be read or written (missing, denied, throttled...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

/// `CONNECT_CONTACT_EVENTS_QUEUE_URL`: the queue the stack's rule fills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactEventsConfig {
    pub queue_url: String,
}

impl ContactEventsConfig {
    /// `None` when unset or empty (the template's default).
    pub fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(url) = settings.present("CONNECT_CONTACT_EVENTS_QUEUE_URL") else {
            return Ok(None);
        };
        let url = url.trim().to_owned();
        if url.is_empty() {
            return Ok(None);
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
            return Err(ConfigError::new(
                "CONNECT_CONTACT_EVENTS_QUEUE_URL",
                format!(
                    "must be an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not {url:?}"
                ),
            ));
        }
        Ok(Some(Self { queue_url: url }))
    }
}

/// What happened to a contact.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// It started waiting in `queueInfo.queueArn`.
    Queued,
    /// An agent took it: it left the queue, after its true wait.
    ConnectedToAgent,
    /// It ended, wherever it was.
    Disconnected,
    /// Anything else (INITIATED, CONNECTED_TO_SYSTEM, ...): no queue moves.
    Other(String),
}

/// One contact event, as much of it as the figures need.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactEvent {
    pub contact_id: String,
    pub kind: EventKind,
    /// `VOICE`, `CHAT`, `TASK`, `EMAIL`.
    pub channel: Option<String>,
    /// The queue's id (the ARN's last part), when the event names a queue.
    pub queue_id: Option<String>,
    pub instance_id: Option<String>,
    pub enqueued_at: Option<DateTime<Utc>>,
    pub connected_at: Option<DateTime<Utc>>,
    /// When it happened: the event's own timestamp for its kind, else the
    /// envelope's time. Orders a contact's events.
    pub at: DateTime<Utc>,
}

/// Why a message is not a contact event we can use (it is deleted and
/// counted, never retried).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not an Amazon Connect contact event (source {origin:?}, detail-type {detail_type:?})")]
    Foreign { origin: String, detail_type: String },
    #[error("the contact event has no {0}")]
    Missing(&'static str),
    #[error("{field} is not a timestamp: {value:?}")]
    BadTime { field: &'static str, value: String },
}

fn time(value: Option<&Value>, field: &'static str) -> Result<Option<DateTime<Utc>>, EventError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| EventError::BadTime {
                field,
                value: text.chars().take(60).collect(),
            }),
        Some(other) => Err(EventError::BadTime {
            field,
            value: other.to_string().chars().take(60).collect(),
        }),
    }
}

/// Reads one SQS message body: the EventBridge event as the rule delivers it.
pub fn parse(body: &[u8]) -> Result<ContactEvent, EventError> {
    let event: Value =
        serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    let source = event["source"].as_str().unwrap_or_default();
    let detail_type = event["detail-type"].as_str().unwrap_or_default();
    if source != "aws.connect" || detail_type != "Amazon Connect Contact Event" {
        return Err(EventError::Foreign {
            origin: source.chars().take(60).collect(),
            detail_type: detail_type.chars().take(60).collect(),
        });
    }
    let detail = &event["detail"];
    let contact_id = detail["contactId"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or(EventError::Missing("detail.contactId"))?;
    let kind = match detail["eventType"].as_str() {
        None => return Err(EventError::Missing("detail.eventType")),
        Some("QUEUED") => EventKind::Queued,
        Some("CONNECTED_TO_AGENT") => EventKind::ConnectedToAgent,
        Some("DISCONNECTED") => EventKind::Disconnected,
        Some(other) => EventKind::Other(other.chars().take(40).collect()),
    };
    let queue_arn = detail["queueInfo"]["queueArn"].as_str();
    let enqueued_at = time(
        detail["queueInfo"].get("enqueueTimestamp"),
        "queueInfo.enqueueTimestamp",
    )?;
    let connected_at = time(
        detail["agentInfo"].get("connectedToAgentTimestamp"),
        "agentInfo.connectedToAgentTimestamp",
    )?;
    let disconnected_at = time(detail.get("disconnectTimestamp"), "disconnectTimestamp")?;
    let envelope_at = time(event.get("time"), "time")?;
    let at = match kind {
        EventKind::Queued => enqueued_at,
        EventKind::ConnectedToAgent => connected_at,
        EventKind::Disconnected => disconnected_at,
        EventKind::Other(_) => None,
    }
    .or(envelope_at)
    .ok_or(EventError::Missing("a timestamp"))?;
    if kind == EventKind::Queued && queue_arn.is_none() {
        return Err(EventError::Missing("detail.queueInfo.queueArn"));
    }
    Ok(ContactEvent {
        contact_id: contact_id.to_owned(),
        kind,
        channel: detail["channel"]
            .as_str()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty()),
        queue_id: queue_arn.map(|arn| queue_key(arn).to_owned()),
        instance_id: detail["instanceArn"]
            .as_str()
            .and_then(|arn| arn.rsplit('/').next())
            .map(str::to_owned),
        enqueued_at,
        connected_at,
        at,
    })
}

/// Where a contact is, as far as the events say.
#[derive(Clone, Debug, PartialEq)]
struct Contact {
    /// The queue it waits in, while it waits.
    waiting_in: Option<(String, Option<String>)>,
    enqueued_at: Option<DateTime<Utc>>,
    /// The latest of its events applied: older ones change nothing.
    last_at: DateTime<Utc>,
    /// The estimate served for its queue when it arrived (seconds).
    served_estimate: Option<u64>,
}

/// A queue's moves since the last poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueMoves {
    /// Contacts that started waiting after the poll and still wait:
    /// (contact, channel, enqueued at).
    pub arrived: Vec<(String, Option<String>, DateTime<Utc>)>,
    /// Contacts the poll counted that have left since: (channel, enqueued at).
    pub left: Vec<(Option<String>, Option<DateTime<Utc>>)>,
    /// The newest event's own time among those that moved the queue: the
    /// moment its moved figures describe (its `updatedAt`).
    pub as_of: Option<DateTime<Utc>>,
}

/// One answered contact's true wait against the estimate served when it
/// arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answered {
    pub answered_at: DateTime<Utc>,
    pub waited_seconds: f64,
    pub estimate_seconds: f64,
}

/// An applied event's identity: contact, kind and its own time.
type Fingerprint = (String, EventKind, DateTime<Utc>);

/// How the events have moved each polled queue since its last poll, with
/// duplicates and stale reorderings dropped.
#[derive(Debug, Default)]
pub struct WaitingLedger {
    contacts: HashMap<String, Contact>,
    /// (contact, kind, time) of every event applied lately: a redelivered
    /// event changes nothing twice.
    seen: HashSet<Fingerprint>,
    seen_order: VecDeque<(DateTime<Utc>, Fingerprint)>,
    /// When each queue was last polled.
    polled_at: HashMap<String, DateTime<Utc>>,
    moves: HashMap<String, QueueMoves>,
    /// Answered contacts of the last hour, per queue.
    answered: HashMap<String, VecDeque<Answered>>,
    /// The horizon of the last sweep of `contacts` and `answered`.
    swept_at: Option<DateTime<Utc>>,
}

/// What applying one event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// These queues' figures moved.
    Moved(Vec<String>),
    /// A repeat, an older event than one already applied, a queue not
    /// polled, or an event that moves nothing.
    Nothing,
}

/// How long answered contacts count towards accuracy, and how long a
/// contact or an applied event is remembered.
const WINDOW_MINUTES: i64 = 60;

impl WaitingLedger {
    /// A poll of `queue_id` observed at `at`: its figures are the truth
    /// again, and only later events move them.
    pub fn polled(&mut self, queue_id: &str, at: DateTime<Utc>) {
        let key = queue_key(queue_id).to_owned();
        self.polled_at.insert(key.clone(), at);
        let moves = self.moves.entry(key).or_default();
        moves.arrived.retain(|(_, _, enqueued)| *enqueued > at);
        moves.left.clear();
        moves.as_of = None;
    }

    /// When the queue was last polled, if it is.
    pub fn polled_at(&self, queue_id: &str) -> Option<DateTime<Utc>> {
        self.polled_at.get(queue_key(queue_id)).copied()
    }

    /// The queue's moves since its last poll.
    pub fn moves(&self, queue_id: &str) -> Option<&QueueMoves> {
        self.moves.get(queue_key(queue_id))
    }

    /// Applies one event. `estimate_now` gives the queue's estimated wait
    /// as served right now, remembered for the contact's accuracy sample.
    pub fn apply(
        &mut self,
        event: &ContactEvent,
        estimate_now: impl Fn(&str, Option<&str>) -> Option<u64>,
    ) -> Applied {
        let fingerprint = (event.contact_id.clone(), event.kind.clone(), event.at);
        if self.seen.contains(&fingerprint) {
            return Applied::Nothing;
        }
        self.remember(fingerprint, event.at);
        let known = self.contacts.get(&event.contact_id).cloned();
        if known.as_ref().is_some_and(|c| c.last_at > event.at) {
            // Older than what we know of this contact: it changes nothing.
            return Applied::Nothing;
        }
        let mut moved = Vec::new();
        // Where it waited (from the ledger, else from the event itself).
        let was_waiting = known
            .as_ref()
            .and_then(|c| c.waiting_in.clone().map(|w| (w, c.enqueued_at)))
            .or_else(|| match (&event.kind, &event.queue_id) {
                (EventKind::ConnectedToAgent | EventKind::Disconnected, Some(q)) => {
                    Some(((q.clone(), event.channel.clone()), event.enqueued_at))
                }
                _ => None,
            });
        let leaves = matches!(
            event.kind,
            EventKind::ConnectedToAgent | EventKind::Disconnected | EventKind::Queued
        );
        if leaves
            && let Some(((queue, channel), enqueued_at)) = was_waiting
            && !(event.kind == EventKind::Queued && event.queue_id.as_deref() == Some(&queue))
            && self.leave(&event.contact_id, &queue, channel, enqueued_at, event.at)
        {
            moved.push(queue);
        }
        let mut served_estimate = known.as_ref().and_then(|c| c.served_estimate);
        let mut waiting_in = None;
        let mut enqueued_at = known
            .as_ref()
            .and_then(|c| c.enqueued_at)
            .or(event.enqueued_at);
        match (&event.kind, &event.queue_id) {
            (EventKind::Queued, Some(queue)) if self.polled_at.contains_key(queue) => {
                let at = event.enqueued_at.unwrap_or(event.at);
                enqueued_at = Some(at);
                served_estimate = estimate_now(queue, event.channel.as_deref());
                waiting_in = Some((queue.clone(), event.channel.clone()));
                let moves = self.moves.entry(queue.clone()).or_default();
                if !moves.arrived.iter().any(|(c, _, _)| *c == event.contact_id)
                    && at > self.polled_at[queue]
                {
                    moves
                        .arrived
                        .push((event.contact_id.clone(), event.channel.clone(), at));
                    moved.push(queue.clone());
                }
            }
            (EventKind::ConnectedToAgent, Some(queue)) => {
                if let (Some(enqueued), Some(connected), Some(estimate)) =
                    (enqueued_at, event.connected_at, served_estimate)
                {
                    let samples = self.answered.entry(queue.clone()).or_default();
                    samples.push_back(Answered {
                        answered_at: connected,
                        waited_seconds: (connected - enqueued).num_milliseconds().max(0) as f64
                            / 1000.0,
                        estimate_seconds: estimate as f64,
                    });
                }
            }
            _ => {}
        }
        self.contacts.insert(
            event.contact_id.clone(),
            Contact {
                waiting_in,
                enqueued_at,
                last_at: event.at,
                served_estimate,
            },
        );
        self.forget_before(event.at - Duration::minutes(WINDOW_MINUTES));
        moved.dedup();
        if moved.is_empty() {
            return Applied::Nothing;
        }
        for queue in &moved {
            if let Some(moves) = self.moves.get_mut(queue) {
                moves.as_of = moves.as_of.max(Some(event.at));
            }
        }
        Applied::Moved(moved)
    }

    /// Takes a contact out of `queue`; whether that moved its figures.
    fn leave(
        &mut self,
        contact_id: &str,
        queue: &str,
        channel: Option<String>,
        enqueued_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> bool {
        let Some(polled_at) = self.polled_at.get(queue).copied() else {
            return false; // not a queue we poll
        };
        let moves = self.moves.entry(queue.to_owned()).or_default();
        if let Some(i) = moves.arrived.iter().position(|(c, _, _)| c == contact_id) {
            moves.arrived.remove(i);
            return true;
        }
        // Counted by the poll if it was waiting then and left after it.
        let counted = enqueued_at.is_none_or(|e| e <= polled_at) && at > polled_at;
        if counted {
            moves.left.push((channel, enqueued_at));
        }
        counted
    }

    fn remember(&mut self, fingerprint: Fingerprint, at: DateTime<Utc>) {
        self.seen.insert(fingerprint.clone());
        self.seen_order.push_back((at, fingerprint));
    }

    /// Drops what is older than the window: memory stays bounded however
    /// long the poller runs.
    fn forget_before(&mut self, horizon: DateTime<Utc>) {
        while self.seen_order.front().is_some_and(|(at, _)| *at < horizon) {
            if let Some((_, fingerprint)) = self.seen_order.pop_front() {
                self.seen.remove(&fingerprint);
            }
        }
        // The maps are swept once a minute, not per event: a sweep walks
        // every contact of the hour, and readers filter by time anyway.
        if self
            .swept_at
            .is_some_and(|swept| horizon < swept + Duration::minutes(1))
        {
            return;
        }
        self.swept_at = Some(horizon);
        self.contacts
            .retain(|_, c| c.last_at >= horizon || c.waiting_in.is_some());
        for samples in self.answered.values_mut() {
            while samples.front().is_some_and(|s| s.answered_at < horizon) {
                samples.pop_front();
            }
        }
    }

    /// The queue's answered contacts of the last hour before `now`.
    pub fn answered(&self, queue_id: &str, now: DateTime<Utc>) -> Vec<Answered> {
        let horizon = now - Duration::minutes(WINDOW_MINUTES);
        self.answered
            .get(queue_key(queue_id))
            .map(|s| {
                s.iter()
                    .filter(|a| a.answered_at >= horizon)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The poll's waiting count and oldest age moved by the events since:
/// (items in queue, oldest item in seconds) at `now`.
pub fn moved_figures(
    polled_items: u64,
    polled_oldest: u64,
    polled_at: DateTime<Utc>,
    moves: &QueueMoves,
    now: DateTime<Utc>,
) -> (u64, u64) {
    let items = (polled_items + moves.arrived.len() as u64).saturating_sub(moves.left.len() as u64);
    if items == 0 {
        return (0, 0);
    }
    let age = |since: DateTime<Utc>| (now - since).num_seconds().max(0) as u64;
    let since_poll = age(polled_at);
    // The poll's oldest contact, unless a departure was that contact.
    let oldest_enqueued = polled_at - Duration::seconds(polled_oldest as i64);
    let oldest_left = moves.left.iter().any(|(_, enqueued)| {
        enqueued.is_some_and(|e| (e - oldest_enqueued).num_seconds().abs() <= 1)
    });
    let poll_still_waiting = polled_items > moves.left.len() as u64;
    let from_poll = (poll_still_waiting && !oldest_left && polled_items > 0)
        .then_some(polled_oldest + since_poll);
    let from_arrivals = moves.arrived.iter().map(|(_, _, e)| age(*e)).max();
    // A contact counted by the poll whose age is unknown is at least as
    // old as the poll.
    let poll_floor = poll_still_waiting.then_some(since_poll);
    let oldest = from_poll
        .or(poll_floor)
        .into_iter()
        .chain(from_arrivals)
        .max()
        .unwrap_or(0);
    (items, oldest)
}

/// The polled `queue` moved by `moves` at `now`: its waiting count and
/// oldest age, in total and per channel, marked as moved by events.
pub fn moved_queue(
    queue: &QueueStats,
    moves: &QueueMoves,
    polled_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueueStats {
    let mut moved = queue.clone();
    let (items, oldest) = moved_figures(
        queue.counters.items_in_queue.unwrap_or(0),
        queue.counters.oldest_item.unwrap_or(0),
        polled_at,
        moves,
        now,
    );
    moved.counters.items_in_queue = Some(items);
    moved.counters.oldest_item = Some(oldest);
    if let Some(channels) = moved.channels.as_mut() {
        for (channel, counters) in channels.iter_mut() {
            let mine = |c: &Option<String>| c.as_deref() == Some(channel.as_str());
            let only = QueueMoves {
                arrived: moves
                    .arrived
                    .iter()
                    .filter(|(_, c, _)| mine(c))
                    .cloned()
                    .collect(),
                left: moves
                    .left
                    .iter()
                    .filter(|(c, _)| mine(c))
                    .cloned()
                    .collect(),
                as_of: moves.as_of,
            };
            let (items, oldest) = moved_figures(
                counters.items_in_queue.unwrap_or(0),
                counters.oldest_item.unwrap_or(0),
                polled_at,
                &only,
                now,
            );
            counters.items_in_queue = Some(items);
            counters.oldest_item = Some(oldest);
        }
    }
    moved.updated_by = Some(UpdatedBy::Events);
    // As of the newest event that moved it, as a poll's figures are as of
    // the poll: a reader can tell which contacts the figures include.
    moved.updated_at = Some(moves.as_of.unwrap_or(now));
    moved
}

/// Mean absolute error and bias (estimate minus wait: positive when the
/// estimate was too long) of the answered contacts, in seconds.
pub fn accuracy(samples: &[Answered]) -> Option<(f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    let n = samples.len() as f64;
    let mae = samples
        .iter()
        .map(|s| (s.estimate_seconds - s.waited_seconds).abs())
        .sum::<f64>()
        / n;
    let bias = samples
        .iter()
        .map(|s| s.estimate_seconds - s.waited_seconds)
        .sum::<f64>()
        / n;
    Some((mae, bias))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../fixtures/events/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::seconds(seconds)
    }

    const Q: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const OTHER: &str = "bbbbbbbb-0000-4000-8000-000000000002";

    fn event(contact: &str, kind: EventKind, queue: &str, enqueued: i64, at: i64) -> ContactEvent {
        ContactEvent {
            contact_id: contact.to_owned(),
            connected_at: (kind == EventKind::ConnectedToAgent).then(|| t(at)),
            kind,
            channel: Some("VOICE".to_owned()),
            queue_id: Some(queue.to_owned()),
            instance_id: None,
            enqueued_at: Some(t(enqueued)),
            at: t(at),
        }
    }

    fn no_estimate(_: &str, _: Option<&str>) -> Option<u64> {
        None
    }

    #[test]
    fn the_documented_events_read_as_their_kind_queue_and_times() {
        let queued = parse(&fixture("connect-contact-queued.json")).unwrap();
        assert_eq!(queued.kind, EventKind::Queued);
        assert_eq!(queued.queue_id.as_deref(), Some(Q));
        assert_eq!(queued.channel.as_deref(), Some("VOICE"));
        assert_eq!(queued.at, t(5));
        assert_eq!(
            queued.instance_id.as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        let answered = parse(&fixture("connect-contact-connected-to-agent.json")).unwrap();
        assert_eq!(
            (answered.kind, answered.enqueued_at, answered.connected_at),
            (EventKind::ConnectedToAgent, Some(t(5)), Some(t(95)))
        );
        let gone = parse(&fixture("connect-contact-disconnected.json")).unwrap();
        assert_eq!((gone.kind, gone.at), (EventKind::Disconnected, t(50)));
    }

    #[test]
    fn malformed_and_foreign_messages_say_why() {
        assert!(matches!(parse(b"{"), Err(EventError::NotJson(_))));
        assert!(matches!(
            parse(br#"{"source":"aws.ec2","detail-type":"x"}"#),
            Err(EventError::Foreign { .. })
        ));
        let mut event: Value =
            serde_json::from_slice(&fixture("connect-contact-queued.json")).unwrap();
        event["detail"]["queueInfo"]["enqueueTimestamp"] = Value::from("yesterday");
        assert!(matches!(
            parse(event.to_string().as_bytes()),
            Err(EventError::BadTime { .. })
        ));
        event["detail"]["queueInfo"] = Value::Null;
        assert_eq!(
            parse(event.to_string().as_bytes()),
            Err(EventError::Missing("detail.queueInfo.queueArn"))
        );
        event["detail"]["contactId"] = Value::from("");
        assert_eq!(
            parse(event.to_string().as_bytes()),
            Err(EventError::Missing("detail.contactId"))
        );
    }

    #[test]
    fn an_arrival_after_the_poll_adds_a_waiting_contact_and_its_age() {
        let mut ledger = WaitingLedger::default();
        ledger.polled(Q, t(0));
        assert_eq!(
            ledger.apply(&event("a", EventKind::Queued, Q, 4, 4), no_estimate),
            Applied::Moved(vec![Q.to_owned()])
        );
        // The poll saw nobody waiting: one now, 6 s old at t(10).
        assert_eq!(
            moved_figures(0, 0, t(0), ledger.moves(Q).unwrap(), t(10)),
            (1, 6)
        );
        // The poll saw 3, the oldest 100 s: 4 now, the oldest 110 s.
        assert_eq!(
            moved_figures(3, 100, t(0), ledger.moves(Q).unwrap(), t(10)),
            (4, 110)
        );
    }

    #[test]
    fn a_contact_the_poll_counted_leaves_without_having_been_seen_arriving() {
        let mut ledger = WaitingLedger::default();
        ledger.polled(Q, t(0));
        // Waiting since t(-30), answered at t(5).
        assert_eq!(
            ledger.apply(
                &event("old", EventKind::ConnectedToAgent, Q, -30, 5),
                no_estimate
            ),
            Applied::Moved(vec![Q.to_owned()])
        );
        assert_eq!(
            moved_figures(2, 30, t(0), ledger.moves(Q).unwrap(), t(10)).0,
            1
        );
        // The oldest left: the one remaining is at least as old as the poll.
        assert_eq!(
            moved_figures(2, 30, t(0), ledger.moves(Q).unwrap(), t(10)),
            (1, 10)
        );
    }

    #[test]
    fn duplicates_and_older_events_change_nothing_twice() {
        let mut ledger = WaitingLedger::default();
        ledger.polled(Q, t(0));
        let queued = event("a", EventKind::Queued, Q, 2, 2);
        let answered = event("a", EventKind::ConnectedToAgent, Q, 2, 8);
        assert_ne!(ledger.apply(&queued, no_estimate), Applied::Nothing);
        assert_eq!(
            ledger.apply(&queued, no_estimate),
            Applied::Nothing,
            "a redelivery"
        );
        assert_ne!(ledger.apply(&answered, no_estimate), Applied::Nothing);
        assert_eq!(
            ledger.apply(&answered, no_estimate),
            Applied::Nothing,
            "a redelivery"
        );
        // The QUEUED arriving again late (another id) cannot bring it back.
        assert_eq!(
            ledger.apply(
                &ContactEvent {
                    at: t(2),
                    ..queued.clone()
                },
                no_estimate
            ),
            Applied::Nothing
        );
        assert_eq!(
            moved_figures(0, 0, t(0), ledger.moves(Q).unwrap(), t(10)),
            (0, 0)
        );
    }

    #[test]
    fn out_of_order_the_later_event_wins() {
        let mut ledger = WaitingLedger::default();
        ledger.polled(Q, t(0));
        // The answer is delivered before the queueing.
        ledger.apply(
            &event("a", EventKind::ConnectedToAgent, Q, 2, 8),
            no_estimate,
        );
        assert_eq!(
            ledger.apply(&event("a", EventKind::Queued, Q, 2, 2), no_estimate),
            Applied::Nothing
        );
        assert_eq!(
            moved_figures(0, 0, t(0), ledger.moves(Q).unwrap(), t(10)),
            (0, 0)
        );
    }

    #[test]
    fn a_transfer_moves_the_contact_between_queues() {
        let mut ledger = WaitingLedger::default();
        ledger.polled(Q, t(0));
        ledger.polled(OTHER, t(0));
        ledger.apply(&event("a", EventKind::Queued, Q, 2, 2), no_estimate);
        let moved = ledger.apply(&event("a", EventKind::Queued, OTHER, 6, 6), no_estimate);
        assert_eq!(moved, Applied::Moved(vec![Q.to_owned(), OTHER.to_owned()]));
        assert_eq!(
            moved_figures(0, 0, t(0), ledger.moves(Q).unwrap(), t(10)),
            (0, 0)
        );
        assert_eq!(
            moved_figures(0, 0, t(0), ledger.moves(OTHER).unwrap(), t(10)),
            (1, 4)
        );
    }

    #[test]
    fn events_for_queues_not_polled_are_ignored() {
        let mut ledger = WaitingLedger::default();
        ledger.polled(Q, t(0));
        assert_eq!(
            ledger.apply(&event("a", EventKind::Queued, OTHER, 2, 2), no_estimate),
            Applied::Nothing
        );
        assert!(ledger.moves(OTHER).is_none());
    }

    #[test]
    fn the_next_poll_replaces_what_the_events_moved() {
        let mut ledger = WaitingLedger::default();
        ledger.polled(Q, t(0));
        ledger.apply(&event("a", EventKind::Queued, Q, 2, 2), no_estimate);
        ledger.apply(
            &event("old", EventKind::Disconnected, Q, -40, 3),
            no_estimate,
        );
        ledger.polled(Q, t(10));
        let moves = ledger.moves(Q).unwrap();
        assert!(
            moves.arrived.is_empty() && moves.left.is_empty(),
            "{moves:?}"
        );
        // A contact that arrived after the new poll still counts.
        ledger.apply(&event("b", EventKind::Queued, Q, 12, 12), no_estimate);
        assert_eq!(
            moved_figures(5, 20, t(10), ledger.moves(Q).unwrap(), t(15)),
            (6, 25)
        );
    }

    #[test]
    fn accuracy_scores_the_estimate_served_when_each_contact_arrived() {
        let mut ledger = WaitingLedger::default();
        ledger.polled(Q, t(0));
        // Served 60 s; waited 90 s. Served 30 s; waited 20 s.
        ledger.apply(&event("a", EventKind::Queued, Q, 0, 0), |_, _| Some(60));
        ledger.apply(&event("b", EventKind::Queued, Q, 10, 10), |_, _| Some(30));
        // The estimate moves on; what was served stays what is scored.
        ledger.apply(
            &event("a", EventKind::ConnectedToAgent, Q, 0, 90),
            |_, _| Some(999),
        );
        ledger.apply(
            &event("b", EventKind::ConnectedToAgent, Q, 10, 30),
            |_, _| Some(999),
        );
        let samples = ledger.answered(Q, t(100));
        assert_eq!(samples.len(), 2);
        let (mae, bias) = accuracy(&samples).unwrap();
        assert!((mae - 20.0).abs() < 1e-9, "{mae}");
        assert!((bias - -10.0).abs() < 1e-9, "{bias}");
        // An hour later they no longer count.
        assert!(ledger.answered(Q, t(100 + 3600)).is_empty());
        assert_eq!(accuracy(&[]), None);
    }
}
