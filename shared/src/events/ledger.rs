//! What has been announced, what is on its way, and what is due: the pure
//! half of announcing, with no I/O and no clock of its own.
//!
//! Each cycle [`Ledger::observe`] compares a snapshot with what was last
//! announced and adds the changes that have held for `hold` cycles to the
//! outbox (`due`), building each event once, when it falls due. The sender
//! takes ready entries in the order they fell due ([`Ledger::take_ready`]),
//! and reports each call's outcome back ([`Ledger::settle`]): an accepted
//! entry becomes the announced state at once and is returned as a delta to
//! be journalled, a refused one waits out a backoff. What did not go out
//! stays due, so a backlog drains over the next cycles by itself.
//!
//! Two kinds of subject: a queue, keyed by [`queue_hash`] of its source and
//! id, and a source (for Connect, each instance: `connect:<instanceId>`). `unknown` is never
//! announced for a queue: a failing source is one `Source Status Changed`
//! event, and its queues keep their announced levels through the outage.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::levels::Level;
use crate::model::{
    InstanceRef, QueueStats, Snapshot, SourceState, SourceStatus, format_rfc3339, queue_hash,
};

pub const LEVEL_DETAIL_TYPE: &str = "Queue Level Changed";
pub const SOURCE_DETAIL_TYPE: &str = "Source Status Changed";

/// What an announcement is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A queue, by [`queue_hash`] of its source and id.
    Queue(u64),
    /// A source (its name; a Connect instance's adds its id).
    Source(String),
}

/// What was announced for a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announced {
    Level(Level),
    Source(SourceState),
}

/// Everything announced so far, as kept in the table. `legacy` holds
/// levels written by builds that keyed queues by id alone; a queue takes
/// its legacy level the first time it is seen, so an upgrade neither
/// repeats nor loses a change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnnouncedState {
    pub levels: HashMap<u64, Level>,
    pub sources: HashMap<String, SourceState>,
    pub legacy: HashMap<u64, Level>,
}

impl AnnouncedState {
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty() && self.sources.is_empty() && self.legacy.is_empty()
    }

    fn set(&mut self, subject: &Subject, value: Announced) {
        match (subject, value) {
            (Subject::Queue(key), Announced::Level(level)) => {
                self.levels.insert(*key, level);
            }
            (Subject::Source(name), Announced::Source(state)) => {
                self.sources.insert(name.clone(), state);
            }
            // A subject and a value of different kinds are never built.
            _ => {}
        }
    }
}

/// One event ready to put on the bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// Stable across resends, so consumers can drop duplicates.
    pub event_id: String,
    pub detail_type: &'static str,
    /// The `detail` JSON.
    pub detail: String,
}

/// What the bus said of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Accepted,
    /// Refused, with the bus's error code (a whole failed call refuses
    /// each of its entries with the call's code).
    Refused(String),
}

#[derive(Clone, Debug)]
struct Due {
    to: Announced,
    event: Outgoing,
    /// When it fell due: entries go out oldest first.
    seq: u64,
    attempts: u32,
    not_before: Option<Instant>,
    in_flight: bool,
}

#[derive(Clone, Debug)]
struct Held {
    level: Level,
    cycles: u32,
    /// The snapshot in which this level was first seen: part of the event
    /// id, so a resend in a later cycle carries the same id.
    since: String,
}

#[derive(Clone, Debug)]
struct Failing {
    cycles: u32,
    since: String,
}

/// A batch taken for one call: the subjects, in the order of the events.
#[derive(Debug)]
pub struct Batch {
    pub subjects: Vec<Subject>,
    pub events: Vec<Outgoing>,
}

/// How refused entries wait before they are tried again.
const RETRY_BASE: Duration = Duration::from_millis(200);
const RETRY_CAP: Duration = Duration::from_secs(60);

fn retry_delay(attempts: u32) -> Duration {
    // Exponential with jitter in its upper half: a refused entry is not
    // tried again within the same burst, and a bus that is down (a missing
    // bus, AccessDenied) is asked about once a minute at most.
    let ceiling = RETRY_BASE
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(RETRY_CAP);
    ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// Where a snapshot comes from: a poll of every source, or contact events
/// moving the last poll's Connect figures between polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotKind {
    Poll,
    Interim,
}

/// The announcer's memory: announced state, changes being held, the outbox.
#[derive(Debug, Default)]
pub struct Ledger {
    announced: AnnouncedState,
    held: HashMap<u64, Held>,
    failing: HashMap<String, Failing>,
    due: HashMap<Subject, Due>,
    next_seq: u64,
    /// `announced` changed in ways the journal does not hold (queues
    /// adopted silently, legacy levels migrated, a journal write failed).
    unsaved: bool,
}

impl Ledger {
    pub fn new(announced: AnnouncedState) -> Self {
        Self {
            announced,
            ..Self::default()
        }
    }

    pub fn announced(&self) -> &AnnouncedState {
        &self.announced
    }

    /// Events due but not yet accepted.
    pub fn pending(&self) -> usize {
        self.due.len()
    }

    pub fn unsaved(&self) -> bool {
        self.unsaved
    }

    pub fn mark_unsaved(&mut self, unsaved: bool) {
        self.unsaved = unsaved;
    }

    /// Takes a snapshot of this kind: see [`Ledger::observe`] and
    /// [`Ledger::observe_interim`].
    pub fn observe_as(&mut self, kind: SnapshotKind, snapshot: &Snapshot, hold: u32) {
        match kind {
            SnapshotKind::Poll => self.observe(snapshot, hold),
            SnapshotKind::Interim => self.observe_interim(snapshot, hold),
        }
    }

    /// Takes one poll's snapshot: adopts new normal queues, holds changes,
    /// and puts the ones that held long enough in the outbox.
    pub fn observe(&mut self, snapshot: &Snapshot, hold: u32) {
        let hold = hold.max(1);
        for queue in &snapshot.queues {
            self.observe_queue(queue, snapshot, hold, SnapshotKind::Poll);
        }
        for status in &snapshot.sources {
            self.observe_source(status, snapshot, hold);
        }
    }

    /// Takes an interim snapshot (contact events between polls, up to one
    /// a second). The hold stays counted in polls: an interim snapshot can
    /// start a change's hold, or end it by going back, but only a poll
    /// advances it, so a hold of two still means a poll confirmed the
    /// change, and a hold of one announces it from the events at once.
    /// Sources are the last poll's: their outages are counted by polls only.
    pub fn observe_interim(&mut self, snapshot: &Snapshot, hold: u32) {
        let hold = hold.max(1);
        for queue in &snapshot.queues {
            self.observe_queue(queue, snapshot, hold, SnapshotKind::Interim);
        }
    }

    fn observe_queue(
        &mut self,
        queue: &QueueStats,
        snapshot: &Snapshot,
        hold: u32,
        kind: SnapshotKind,
    ) {
        let level = queue.level.unwrap_or_default();
        let key = queue_hash(&queue.source, &queue.queue_id);
        // Stale or no figures: nothing to say about this queue. Its
        // source's outage is announced once, as the source's.
        if level == Level::Unknown {
            self.held.remove(&key);
            return;
        }
        let subject = Subject::Queue(key);
        let announced = match self.announced.levels.get(&key) {
            Some(level) => Some(*level),
            None => self.migrate_legacy(key, &queue.queue_id),
        };
        match announced {
            // First seen and normal: adopted without a word.
            None if level == Level::Normal => {
                self.announced.levels.insert(key, Level::Normal);
                self.unsaved = true;
                return;
            }
            Some(current) if current == level => {
                self.held.remove(&key);
                // Back where it was announced before its change went out.
                self.drop_due_unless_in_flight(&subject);
                return;
            }
            _ => {}
        }
        let held = self
            .held
            .entry(key)
            .and_modify(|h| {
                if h.level == level {
                    // Only a poll advances a hold (see observe_interim).
                    h.cycles += u32::from(kind == SnapshotKind::Poll);
                } else {
                    *h = Held {
                        level,
                        cycles: 1,
                        since: snapshot.snapshot_id.clone(),
                    };
                }
            })
            .or_insert_with(|| Held {
                level,
                cycles: 1,
                since: snapshot.snapshot_id.clone(),
            });
        if held.cycles < hold {
            return;
        }
        let since = held.since.clone();
        self.held.remove(&key);
        let to = Announced::Level(level);
        if let Some(due) = self.due.get(&subject)
            && (due.to == to || due.in_flight)
        {
            // Already on its way; an entry in flight is settled first.
            return;
        }
        let event = level_event(queue, key, announced, level, &since, snapshot);
        self.enqueue(subject, to, event);
    }

    /// A queue's level from a build that keyed by id alone, moved to its
    /// (source, id) key the first time the queue is seen.
    fn migrate_legacy(&mut self, key: u64, queue_id: &str) -> Option<Level> {
        if self.announced.legacy.is_empty() {
            return None;
        }
        let legacy_key = crate::model::fnv1a(crate::model::queue_key(queue_id).as_bytes());
        // Left in place: another source's queue with the same id had the
        // same state under the old keys and takes it too.
        let level = *self.announced.legacy.get(&legacy_key)?;
        self.announced.levels.insert(key, level);
        self.unsaved = true;
        Some(level)
    }

    fn observe_source(&mut self, status: &SourceStatus, snapshot: &Snapshot, hold: u32) {
        let name = source_subject(status);
        let subject = Subject::Source(name.clone());
        let announced = self
            .announced
            .sources
            .get(&name)
            .copied()
            .unwrap_or(SourceState::Ok);
        match status.status {
            SourceState::Ok => {
                self.failing.remove(&name);
                if announced == SourceState::Ok {
                    // Failed and back before its outage was announced.
                    self.drop_due_unless_in_flight(&subject);
                    return;
                }
                let to = Announced::Source(SourceState::Ok);
                if self
                    .due
                    .get(&subject)
                    .is_some_and(|d| d.to == to || d.in_flight)
                {
                    return;
                }
                let event =
                    source_event(status, SourceState::Error, &snapshot.snapshot_id, snapshot);
                self.enqueue(subject, to, event);
            }
            SourceState::Error => {
                let failing = self.failing.entry(name).or_insert_with(|| Failing {
                    cycles: 0,
                    since: snapshot.snapshot_id.clone(),
                });
                failing.cycles += 1;
                if failing.cycles < hold || announced == SourceState::Error {
                    if announced == SourceState::Error {
                        // Still down: a recovery that had not gone out yet is moot.
                        self.drop_due_unless_in_flight(&subject);
                    }
                    return;
                }
                let since = failing.since.clone();
                let to = Announced::Source(SourceState::Error);
                if self
                    .due
                    .get(&subject)
                    .is_some_and(|d| d.to == to || d.in_flight)
                {
                    return;
                }
                let event = source_event(status, SourceState::Ok, &since, snapshot);
                self.enqueue(subject, to, event);
            }
        }
    }

    fn drop_due_unless_in_flight(&mut self, subject: &Subject) {
        if self.due.get(subject).is_some_and(|d| !d.in_flight) {
            self.due.remove(subject);
        }
    }

    fn enqueue(&mut self, subject: Subject, to: Announced, event: Outgoing) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.due.insert(
            subject,
            Due {
                to,
                event,
                seq,
                attempts: 0,
                not_before: None,
                in_flight: false,
            },
        );
    }

    /// Up to `size` due entries that may go out at `now`, oldest first,
    /// marked in flight until [`Ledger::settle`] hears of them.
    pub fn take_ready(&mut self, now: Instant, size: usize) -> Option<Batch> {
        let mut ready: Vec<(u64, &Subject)> = self
            .due
            .iter()
            .filter(|(_, d)| !d.in_flight && d.not_before.is_none_or(|t| t <= now))
            .map(|(s, d)| (d.seq, s))
            .collect();
        if ready.is_empty() {
            return None;
        }
        if ready.len() > size {
            ready.select_nth_unstable(size - 1);
            ready.truncate(size);
        }
        ready.sort_unstable();
        let subjects: Vec<Subject> = ready.into_iter().map(|(_, s)| s.clone()).collect();
        let events = subjects
            .iter()
            .map(|s| {
                let due = self.due.get_mut(s).expect("taken from due");
                due.in_flight = true;
                due.event.clone()
            })
            .collect();
        Some(Batch { subjects, events })
    }

    /// Takes one call's outcome. Accepted entries are announced from now
    /// on and returned as the delta to journal; refused ones wait.
    pub fn settle(
        &mut self,
        batch: &Batch,
        deliveries: &[Delivery],
        now: Instant,
    ) -> (AnnouncedState, Settled) {
        let mut delta = AnnouncedState::default();
        let mut settled = Settled::default();
        // One pause for the whole call's refusals: they were refused
        // together and go out together again, not one by one. A call the
        // bus took in part is a busy bus: a short pause. A call refused
        // whole (throttled, denied, no such bus) backs off further each
        // time, up to a minute.
        let took_some = deliveries.contains(&Delivery::Accepted);
        let attempts = if took_some {
            1
        } else {
            batch
                .subjects
                .iter()
                .filter_map(|s| self.due.get(s))
                .map(|d| d.attempts + 1)
                .max()
                .unwrap_or(1)
        };
        let retry_at = now + retry_delay(attempts);
        for (index, subject) in batch.subjects.iter().enumerate() {
            let delivery = deliveries
                .get(index)
                .cloned()
                .unwrap_or_else(|| Delivery::Refused("NoResult".to_owned()));
            match delivery {
                Delivery::Accepted => {
                    if let Some(due) = self.due.remove(subject) {
                        self.announced.set(subject, due.to);
                        delta.set(subject, due.to);
                    }
                    settled.accepted += 1;
                }
                Delivery::Refused(code) => {
                    if let Some(due) = self.due.get_mut(subject) {
                        due.in_flight = false;
                        due.attempts += 1;
                        due.not_before = Some(retry_at);
                    }
                    settled.refused += 1;
                    settled.code.get_or_insert(code);
                }
            }
        }
        (delta, settled)
    }

    /// The soonest a refused entry may be tried again.
    pub fn next_retry(&self) -> Option<Instant> {
        self.due
            .values()
            .filter(|d| !d.in_flight)
            .filter_map(|d| d.not_before)
            .min()
    }
}

/// How many of one call's entries were taken, and the first refusal's code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub accepted: usize,
    pub refused: usize,
    pub code: Option<String>,
}

/// A source's subject: its name, and for a Connect instance its id too
/// (`connect:<instanceId>`), so each instance's outage is its own event.
pub fn source_subject(status: &SourceStatus) -> String {
    match &status.instance {
        Some(instance) => format!("{}:{}", status.source.as_str(), instance.instance_id),
        None => status.source.as_str().to_owned(),
    }
}

fn event_id(parts: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, parts.as_bytes()).to_string()
}

fn source_name(state: SourceState) -> &'static str {
    match state {
        SourceState::Ok => "ok",
        SourceState::Error => "error",
    }
}

/// Adds a Connect instance's `instanceId`, `region` and `instanceAlias` to
/// an event's detail (DESIGN: events name the instance).
fn name_instance(detail: &mut serde_json::Value, instance: Option<&InstanceRef>) {
    if let Some(instance) = instance {
        detail["instanceId"] = json!(instance.instance_id);
        detail["region"] = json!(instance.region);
        detail["instanceAlias"] = json!(instance.instance_alias);
    }
}

/// A `Queue Level Changed` event, built once, when the change falls due.
pub fn level_event(
    queue: &QueueStats,
    key: u64,
    from: Option<Level>,
    to: Level,
    since: &str,
    snapshot: &Snapshot,
) -> Outgoing {
    let from_name = from.map(Level::as_str);
    // The id names the change (queue, from, to, when it began), not the send.
    let event_id = event_id(&format!(
        "{key:016x}|{}|{}|{since}",
        from_name.unwrap_or(""),
        to.as_str()
    ));
    let c = &queue.counters;
    let mut detail = json!({
        "eventId": event_id,
        "queueId": queue.queue_id,
        "queueName": queue.queue_name,
        "source": queue.source,
        "from": from_name,
        "to": to.as_str(),
        "observedAt": format_rfc3339(&snapshot.observed_at),
        "snapshotId": snapshot.snapshot_id,
        "figures": {
            "itemsInQueue": c.items_in_queue,
            "oldestItem": c.oldest_item,
            "estimatedWaitTime": c.estimated_wait_time,
            "agentsAvailable": c.agents_available,
            "agentsStaffed": c.agents_staffed,
            "agentsWorking": c.agents_working,
        },
    });
    name_instance(&mut detail, queue.instance.as_ref());
    Outgoing {
        event_id,
        detail_type: LEVEL_DETAIL_TYPE,
        detail: detail.to_string(),
    }
}

/// A `Source Status Changed` event: `from` the state announced before.
pub fn source_event(
    status: &SourceStatus,
    from: SourceState,
    since: &str,
    snapshot: &Snapshot,
) -> Outgoing {
    let to = status.status;
    let subject = source_subject(status);
    let event_id = event_id(&format!(
        "source|{subject}|{}|{}|{since}",
        source_name(from),
        source_name(to)
    ));
    let mut detail = json!({
        "eventId": event_id,
        "source": status.source,
        "from": source_name(from),
        "to": source_name(to),
        "queueCount": status.queue_count,
        "observedAt": format_rfc3339(&snapshot.observed_at),
        "snapshotId": snapshot.snapshot_id,
    });
    name_instance(&mut detail, status.instance.as_ref());
    if let Some(error) = &status.error {
        detail["error"] = json!({"code": error.code, "message": error.message});
    }
    Outgoing {
        event_id,
        detail_type: SOURCE_DETAIL_TYPE,
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryProvider, ErrorInfo, OpenClosedState, SourceName, TaskType};

    fn queue(source: SourceName, id: &str, level: Level) -> QueueStats {
        let mut q = QueueStats::new(
            source,
            id,
            id,
            DeliveryProvider::Symbee,
            TaskType::RoutedEmail,
            OpenClosedState::OperatingHoursOpen,
        );
        q.level = Some(level);
        q
    }

    fn snapshot(n: u32, queues: Vec<QueueStats>, sources: Vec<SourceStatus>) -> Snapshot {
        Snapshot {
            snapshot_id: format!("s{n}"),
            observed_at: chrono::Utc::now(),
            sources,
            queues,
        }
    }

    fn status(source: SourceName, ok: bool, queues: usize) -> SourceStatus {
        SourceStatus {
            source,
            instance: None,
            status: if ok {
                SourceState::Ok
            } else {
                SourceState::Error
            },
            error: (!ok).then(|| ErrorInfo {
                code: "UPSTREAM_5XX".into(),
                message: "503".into(),
            }),
            latency_ms: 1,
            queue_count: queues,
        }
    }

    /// Sends everything ready, accepting all; returns the details sent.
    fn drain(ledger: &mut Ledger) -> Vec<serde_json::Value> {
        let now = Instant::now();
        let mut sent = Vec::new();
        while let Some(batch) = ledger.take_ready(now, 10) {
            let ok = vec![Delivery::Accepted; batch.events.len()];
            sent.extend(
                batch
                    .events
                    .iter()
                    .map(|e| serde_json::from_str(&e.detail).unwrap()),
            );
            ledger.settle(&batch, &ok, now);
        }
        sent
    }

    #[test]
    fn a_held_change_falls_due_once_and_a_blip_never() {
        let mut ledger = Ledger::default();
        use Level::*;
        let mut sent = Vec::new();
        for (n, level) in [Normal, Critical, Normal, Critical, Critical, Critical]
            .into_iter()
            .enumerate()
        {
            let s = snapshot(
                n as u32,
                vec![queue(SourceName::Symbee, "q", level)],
                vec![],
            );
            ledger.observe(&s, 2);
            sent.extend(drain(&mut ledger));
        }
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(
            (sent[0]["from"].as_str(), sent[0]["to"].as_str()),
            (Some("normal"), Some("critical"))
        );
        assert_eq!(sent[0]["snapshotId"], "s4");
    }

    #[test]
    fn interim_snapshots_start_and_end_a_hold_but_only_polls_advance_it() {
        use Level::*;
        let q = |level| vec![queue(SourceName::Connect, "q", level)];
        let down = || vec![status(SourceName::Connect, false, 1)];
        // Hold 2: any number of interim sightings, then one poll. The
        // interim snapshots carry a failing source: they never count its
        // cycles, so no outage is announced either.
        let mut ledger = Ledger::default();
        ledger.observe(&snapshot(0, q(Normal), vec![]), 2);
        for n in 1..=5 {
            ledger.observe_interim(&snapshot(n, q(Critical), down()), 2);
            assert!(drain(&mut ledger).is_empty(), "interim {n} announced");
        }
        ledger.observe(&snapshot(6, q(Critical), vec![]), 2);
        let sent = drain(&mut ledger);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["to"], "critical");
        assert_eq!(sent[0]["snapshotId"], "s6");
        // A blip the events saw come and go before a poll: nothing.
        ledger.observe_interim(&snapshot(7, q(Warning), vec![]), 2);
        ledger.observe_interim(&snapshot(8, q(Critical), vec![]), 2);
        ledger.observe(&snapshot(9, q(Warning), vec![]), 2);
        assert!(drain(&mut ledger).is_empty());
        assert_eq!(ledger.pending(), 0);
        // Hold 1: the events' own sighting is enough.
        let mut ledger = Ledger::default();
        ledger.observe(&snapshot(0, q(Normal), vec![]), 1);
        ledger.observe_interim(&snapshot(1, q(Critical), vec![]), 1);
        let sent = drain(&mut ledger);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["snapshotId"], "s1");
    }

    #[test]
    fn unknown_is_never_announced_for_a_queue_and_levels_survive_an_outage() {
        let mut ledger = Ledger::default();
        let q = |level| vec![queue(SourceName::Symbee, "q", level)];
        ledger.observe(
            &snapshot(
                0,
                q(Level::Critical),
                vec![status(SourceName::Symbee, true, 1)],
            ),
            1,
        );
        assert_eq!(
            drain(&mut ledger).len(),
            1,
            "a new critical queue is announced"
        );
        let mut sent = Vec::new();
        for n in 1..=4 {
            ledger.observe(
                &snapshot(
                    n,
                    q(Level::Unknown),
                    vec![status(SourceName::Symbee, false, 1)],
                ),
                2,
            );
            sent.extend(drain(&mut ledger));
        }
        ledger.observe(
            &snapshot(
                5,
                q(Level::Critical),
                vec![status(SourceName::Symbee, true, 1)],
            ),
            2,
        );
        sent.extend(drain(&mut ledger));
        let types: Vec<(&str, &str)> = sent
            .iter()
            .map(|d| (d["from"].as_str().unwrap(), d["to"].as_str().unwrap()))
            .collect();
        assert_eq!(types, [("ok", "error"), ("error", "ok")], "{sent:?}");
        assert_eq!(
            sent[0]["snapshotId"], "s2",
            "announced after two failing cycles"
        );
        assert_eq!(sent[0]["error"]["code"], "UPSTREAM_5XX");
        assert_eq!(sent[0]["queueCount"], 1);
    }

    #[test]
    fn a_source_back_before_its_outage_held_is_no_news() {
        let mut ledger = Ledger::default();
        ledger.observe(
            &snapshot(0, vec![], vec![status(SourceName::Symbee, false, 0)]),
            2,
        );
        ledger.observe(
            &snapshot(1, vec![], vec![status(SourceName::Symbee, true, 0)]),
            2,
        );
        ledger.observe(
            &snapshot(2, vec![], vec![status(SourceName::Symbee, false, 0)]),
            2,
        );
        assert!(drain(&mut ledger).is_empty());
        assert_eq!(ledger.pending(), 0);
    }

    #[test]
    fn each_connect_instance_is_its_own_outage_named_in_the_event() {
        let instance = |id: &str| InstanceRef {
            instance_id: id.into(),
            region: "us-west-2".into(),
            instance_alias: format!("alias-{id}"),
        };
        let statuses = |west_ok: bool| {
            let mut east = status(SourceName::Connect, true, 4);
            east.instance = Some(instance("east"));
            let mut west = status(SourceName::Connect, west_ok, 3);
            west.instance = Some(instance("west"));
            vec![east, west]
        };
        let mut ledger = Ledger::default();
        let mut sent = Vec::new();
        for (n, west_ok) in [true, false, false, false, true].into_iter().enumerate() {
            ledger.observe(&snapshot(n as u32, vec![], statuses(west_ok)), 2);
            sent.extend(drain(&mut ledger));
        }
        // One down and one up, both about the failing instance alone.
        let moves: Vec<(&str, &str, &str)> = sent
            .iter()
            .map(|e| {
                (
                    e["instanceId"].as_str().unwrap(),
                    e["from"].as_str().unwrap(),
                    e["to"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            moves,
            vec![("west", "ok", "error"), ("west", "error", "ok")]
        );
        assert_eq!(sent[0]["instanceAlias"], "alias-west");
        assert_eq!(sent[0]["region"], "us-west-2");
        assert_eq!(sent[0]["queueCount"], 3);
    }

    #[test]
    fn two_sources_with_one_id_are_two_queues() {
        let mut ledger = Ledger::default();
        ledger.observe(
            &snapshot(
                0,
                vec![
                    queue(SourceName::Symbee, "7", Level::Normal),
                    queue(SourceName::EightByEight, "7", Level::Normal),
                ],
                vec![],
            ),
            1,
        );
        ledger.observe(
            &snapshot(
                1,
                vec![
                    queue(SourceName::Symbee, "7", Level::Normal),
                    queue(SourceName::EightByEight, "7", Level::Critical),
                ],
                vec![],
            ),
            1,
        );
        let sent = drain(&mut ledger);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["source"], "8x8");
    }

    #[test]
    fn accepted_entries_are_announced_at_once_and_refused_ones_wait() {
        let mut ledger = Ledger::default();
        let queues = (0..25)
            .map(|i| queue(SourceName::Symbee, &format!("q{i}"), Level::Warning))
            .collect();
        ledger.observe(&snapshot(0, queues, vec![]), 1);
        assert_eq!(ledger.pending(), 25);
        let now = Instant::now();
        let first = ledger.take_ready(now, 10).unwrap();
        let second = ledger.take_ready(now, 10).unwrap();
        assert_eq!(
            ledger.take_ready(now, 10).unwrap().events.len(),
            5,
            "the rest"
        );
        assert!(ledger.take_ready(now, 10).is_none(), "all in flight");
        let (delta, settled) = ledger.settle(&first, &vec![Delivery::Accepted; 10], now);
        assert_eq!((delta.levels.len(), settled.accepted), (10, 10));
        let mut outcome = vec![Delivery::Accepted; 10];
        outcome[3] = Delivery::Refused("ThrottlingException".into());
        let (delta, settled) = ledger.settle(&second, &outcome, now);
        assert_eq!((delta.levels.len(), settled.refused), (9, 1));
        assert_eq!(settled.code.as_deref(), Some("ThrottlingException"));
        assert_eq!(ledger.announced().levels.len(), 19);
        assert_eq!(ledger.pending(), 6);
        assert!(
            ledger.take_ready(now, 10).is_none(),
            "the refused one backs off"
        );
        let retry = ledger.next_retry().unwrap();
        assert!(retry > now);
        let again = ledger.take_ready(retry, 10).unwrap();
        assert_eq!(again.subjects, vec![second.subjects[3].clone()]);
        assert_eq!(
            again.events[0].event_id, second.events[3].event_id,
            "same id on resend"
        );
    }

    #[test]
    fn a_change_that_goes_back_before_it_is_sent_is_dropped() {
        let mut ledger = Ledger::default();
        ledger.observe(
            &snapshot(
                0,
                vec![queue(SourceName::Symbee, "q", Level::Normal)],
                vec![],
            ),
            1,
        );
        ledger.observe(
            &snapshot(
                1,
                vec![queue(SourceName::Symbee, "q", Level::Warning)],
                vec![],
            ),
            1,
        );
        assert_eq!(ledger.pending(), 1);
        ledger.observe(
            &snapshot(
                2,
                vec![queue(SourceName::Symbee, "q", Level::Normal)],
                vec![],
            ),
            1,
        );
        assert_eq!(ledger.pending(), 0);
    }

    #[test]
    fn legacy_levels_keyed_by_id_are_adopted_by_every_source_with_that_id() {
        let legacy_key = crate::model::fnv1a(b"7");
        let mut ledger = Ledger::new(AnnouncedState {
            legacy: HashMap::from([(legacy_key, Level::Critical)]),
            ..AnnouncedState::default()
        });
        ledger.observe(
            &snapshot(
                0,
                vec![
                    queue(SourceName::Symbee, "7", Level::Critical),
                    queue(SourceName::EightByEight, "7", Level::Warning),
                ],
                vec![],
            ),
            1,
        );
        let sent = drain(&mut ledger);
        assert_eq!(sent.len(), 1, "only the real difference: {sent:?}");
        assert_eq!(
            (sent[0]["source"].as_str(), sent[0]["from"].as_str()),
            (Some("8x8"), Some("critical"))
        );
        assert!(ledger.unsaved());
        assert_eq!(ledger.announced().levels.len(), 2);
    }
}
