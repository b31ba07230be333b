//! Level changes as EventBridge events: a queue whose level differs from
//! the level last announced for it, for `LEVEL_HOLD_CYCLES` polls in a row,
//! is announced once (`source` `queue-stats`, `detail-type`
//! `Queue Level Changed`). The announced levels are kept in the table, so
//! a cold start neither repeats nor loses a change; entries EventBridge
//! did not take are sent again.
//!
//! Two capabilities, one trait each: where events go ([`EventPublisher`],
//! EventBridge's PutEvents in [`eventbridge`]) and where the announced
//! levels are kept ([`AnnouncedLevels`], the snapshot table).

pub mod eventbridge;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::levels::Level;
use crate::model::{QueueStats, Snapshot, fnv1a, queue_key};
use crate::store::StoreError;

pub const EVENT_SOURCE: &str = "queue-stats";
pub const DETAIL_TYPE: &str = "Queue Level Changed";

/// One event to send.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelEvent {
    /// Stable across resends, so consumers can drop duplicates.
    pub event_id: String,
    /// The queue's key (see [`queue_key`]) hashed, as kept in the table.
    pub queue: u64,
    pub to: Level,
    /// The `detail` JSON.
    pub detail: String,
}

/// Where events go. Returns, per event in order, whether it was taken.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[LevelEvent]) -> Vec<bool>;
}

/// Where the announced level of every queue is kept between invocations.
#[async_trait]
pub trait AnnouncedLevels: Send + Sync {
    async fn load_announced(&self) -> Result<HashMap<u64, Level>, StoreError>;
    async fn save_announced(&self, levels: &HashMap<u64, Level>) -> Result<(), StoreError>;
}

/// What one cycle's announcing did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnounceReport {
    pub events_sent: usize,
    pub events_failed: usize,
}

#[derive(Clone, Debug)]
struct Pending {
    level: Level,
    cycles: u32,
    /// The snapshot in which this level was first seen: part of the
    /// event id, so a resend in a later cycle carries the same id.
    since: String,
}

#[derive(Default)]
struct State {
    announced: HashMap<u64, Level>,
    pending: HashMap<u64, Pending>,
    /// `announced` has changed since it was last saved.
    unsaved: bool,
}

/// Watches levels cycle after cycle and announces the changes that hold.
pub struct Announcer {
    publisher: Box<dyn EventPublisher>,
    store: Box<dyn AnnouncedLevels>,
    hold_cycles: u32,
    /// `None` until the announced levels are read from the table.
    state: Mutex<Option<State>>,
}

fn hash(queue: &QueueStats) -> u64 {
    fnv1a(queue_key(&queue.queue_id).as_bytes())
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Normal => "normal",
        Level::Warning => "warning",
        Level::Critical => "critical",
        Level::Unknown => "unknown",
    }
}

impl Announcer {
    pub fn new(
        publisher: Box<dyn EventPublisher>,
        store: Box<dyn AnnouncedLevels>,
        hold_cycles: u32,
    ) -> Self {
        Self {
            publisher,
            store,
            hold_cycles: hold_cycles.max(1),
            state: Mutex::new(None),
        }
    }

    /// Takes one snapshot's levels; sends the changes that have held long
    /// enough. Never fails the cycle: what could not be sent or saved is
    /// tried again next cycle.
    pub async fn announce(&self, snapshot: &Snapshot) -> AnnounceReport {
        let mut slot = self.state.lock().await;
        if slot.is_none() {
            match self.store.load_announced().await {
                Ok(announced) => {
                    *slot = Some(State {
                        announced,
                        ..State::default()
                    })
                }
                Err(err) => {
                    // Without them a restart could repeat an event: wait.
                    tracing::warn!(code = err.code(), error = %err, "could not read the announced levels; no level events this cycle");
                    return AnnounceReport::default();
                }
            }
        }
        let state = slot.as_mut().expect("loaded above");
        let mut events = Vec::new();
        for queue in &snapshot.queues {
            let level = queue.level.unwrap_or_default();
            let key = hash(queue);
            let announced = state.announced.get(&key).copied();
            match announced {
                // First seen and normal: adopted without a word.
                None if level == Level::Normal => {
                    state.announced.insert(key, Level::Normal);
                    state.unsaved = true;
                    continue;
                }
                Some(current) if current == level => {
                    state.pending.remove(&key);
                    continue;
                }
                _ => {}
            }
            let pending = state
                .pending
                .entry(key)
                .and_modify(|p| {
                    if p.level == level {
                        p.cycles += 1;
                    } else {
                        *p = Pending {
                            level,
                            cycles: 1,
                            since: snapshot.snapshot_id.clone(),
                        };
                    }
                })
                .or_insert_with(|| Pending {
                    level,
                    cycles: 1,
                    since: snapshot.snapshot_id.clone(),
                });
            if pending.cycles >= self.hold_cycles {
                events.push(event_for(
                    queue,
                    key,
                    announced,
                    level,
                    &pending.since,
                    snapshot,
                ));
            }
        }
        let mut report = AnnounceReport::default();
        if !events.is_empty() {
            let taken = self.publisher.publish(&events).await;
            for (event, taken) in events.iter().zip(taken) {
                if taken {
                    state.announced.insert(event.queue, event.to);
                    state.pending.remove(&event.queue);
                    report.events_sent += 1;
                    state.unsaved = true;
                } else {
                    report.events_failed += 1;
                }
            }
        }
        if state.unsaved {
            match self.store.save_announced(&state.announced).await {
                Ok(()) => state.unsaved = false,
                // Sent but not saved (it is tried again next cycle): a cold
                // start before then could send these again, with the same ids.
                Err(err) => {
                    tracing::warn!(code = err.code(), error = %err, "could not save the announced levels")
                }
            }
        }
        report
    }
}

fn event_for(
    queue: &QueueStats,
    key: u64,
    from: Option<Level>,
    to: Level,
    since: &str,
    snapshot: &Snapshot,
) -> LevelEvent {
    let from_name = from.map(level_name);
    let id_source = format!(
        "{key:016x}|{}|{}|{since}",
        from_name.unwrap_or(""),
        level_name(to)
    );
    let event_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, id_source.as_bytes()).to_string();
    let c = &queue.counters;
    let detail = json!({
        "eventId": event_id,
        "queueId": queue.queue_id,
        "queueName": queue.queue_name,
        "source": queue.source,
        "from": from_name,
        "to": level_name(to),
        "observedAt": crate::model::format_rfc3339(&snapshot.observed_at),
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
    LevelEvent {
        event_id,
        queue: key,
        to,
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryProvider, OpenClosedState, SourceName, TaskType};
    use std::sync::Arc;
    use std::sync::Mutex as StdMutex;

    #[derive(Clone, Default)]
    struct Recorder {
        sent: Arc<StdMutex<Vec<LevelEvent>>>,
        /// Refuse the next this-many events.
        refuse: Arc<StdMutex<usize>>,
        saved: Arc<StdMutex<HashMap<u64, Level>>>,
    }

    #[async_trait]
    impl EventPublisher for Recorder {
        async fn publish(&self, events: &[LevelEvent]) -> Vec<bool> {
            let mut refuse = self.refuse.lock().unwrap();
            events
                .iter()
                .map(|e| {
                    if *refuse > 0 {
                        *refuse -= 1;
                        false
                    } else {
                        self.sent.lock().unwrap().push(e.clone());
                        true
                    }
                })
                .collect()
        }
    }

    #[async_trait]
    impl AnnouncedLevels for Recorder {
        async fn load_announced(&self) -> Result<HashMap<u64, Level>, StoreError> {
            Ok(self.saved.lock().unwrap().clone())
        }
        async fn save_announced(&self, levels: &HashMap<u64, Level>) -> Result<(), StoreError> {
            *self.saved.lock().unwrap() = levels.clone();
            Ok(())
        }
    }

    fn snapshot(n: u32, levels: &[(&str, Level)]) -> Snapshot {
        Snapshot {
            snapshot_id: format!("s{n}"),
            observed_at: chrono::Utc::now(),
            sources: vec![],
            queues: levels
                .iter()
                .map(|(id, level)| {
                    let mut q = QueueStats::new(
                        SourceName::Symbee,
                        *id,
                        *id,
                        DeliveryProvider::Symbee,
                        TaskType::RoutedEmail,
                        OpenClosedState::OperatingHoursOpen,
                    );
                    q.level = Some(*level);
                    q
                })
                .collect(),
        }
    }

    fn announcer(recorder: &Recorder, hold: u32) -> Announcer {
        Announcer::new(Box::new(recorder.clone()), Box::new(recorder.clone()), hold)
    }

    fn detail(event: &LevelEvent) -> serde_json::Value {
        serde_json::from_str(&event.detail).unwrap()
    }

    #[tokio::test]
    async fn a_change_is_announced_once_after_it_holds() {
        let recorder = Recorder::default();
        let announcer = announcer(&recorder, 2);
        use Level::*;
        for (n, level) in [
            Normal, Critical, Normal, Critical, Critical, Critical, Critical,
        ]
        .iter()
        .enumerate()
        {
            announcer
                .announce(&snapshot(n as u32, &[("q", *level)]))
                .await;
        }
        let sent = recorder.sent.lock().unwrap().clone();
        assert_eq!(
            sent.len(),
            1,
            "a one-cycle blip is no change; a held one is announced once"
        );
        let d = detail(&sent[0]);
        assert_eq!(
            (d["from"].as_str(), d["to"].as_str()),
            (Some("normal"), Some("critical"))
        );
        assert_eq!(d["snapshotId"], "s4");
        assert_eq!(d["eventId"], sent[0].event_id);
    }

    #[tokio::test]
    async fn a_new_queue_is_adopted_if_normal_and_announced_from_null_otherwise() {
        let recorder = Recorder::default();
        let announcer = announcer(&recorder, 1);
        announcer
            .announce(&snapshot(
                0,
                &[("calm", Level::Normal), ("busy", Level::Warning)],
            ))
            .await;
        let sent = recorder.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(detail(&sent[0])["queueId"], "busy");
        assert!(detail(&sent[0])["from"].is_null());
    }

    #[tokio::test]
    async fn a_restart_neither_repeats_nor_loses_a_change() {
        let recorder = Recorder::default();
        let first = announcer(&recorder, 1);
        first.announce(&snapshot(0, &[("q", Level::Normal)])).await;
        first
            .announce(&snapshot(1, &[("q", Level::Critical)]))
            .await;
        assert_eq!(recorder.sent.lock().unwrap().len(), 1);
        // A cold start: a new announcer reading the saved levels.
        let second = announcer(&recorder, 1);
        second
            .announce(&snapshot(2, &[("q", Level::Critical)]))
            .await;
        assert_eq!(recorder.sent.lock().unwrap().len(), 1, "not repeated");
        second.announce(&snapshot(3, &[("q", Level::Normal)])).await;
        assert_eq!(
            recorder.sent.lock().unwrap().len(),
            2,
            "the way back is a change too"
        );
    }

    #[tokio::test]
    async fn refused_events_are_sent_again_with_the_same_id() {
        let recorder = Recorder::default();
        *recorder.refuse.lock().unwrap() = 1;
        let announcer = announcer(&recorder, 1);
        announcer
            .announce(&snapshot(0, &[("q", Level::Normal)]))
            .await;
        let report = announcer
            .announce(&snapshot(1, &[("q", Level::Warning)]))
            .await;
        assert_eq!(
            report,
            AnnounceReport {
                events_sent: 0,
                events_failed: 1
            }
        );
        let report = announcer
            .announce(&snapshot(2, &[("q", Level::Warning)]))
            .await;
        assert_eq!(report.events_sent, 1);
        let sent = recorder.sent.lock().unwrap().clone();
        assert_eq!(detail(&sent[0])["snapshotId"], "s2");
        // The id names the change (queue, from, to, when it began), not the resend.
        let again = event_for(
            &snapshot(9, &[("q", Level::Warning)]).queues[0],
            sent[0].queue,
            Some(Level::Normal),
            Level::Warning,
            "s1",
            &snapshot(9, &[]),
        );
        assert_eq!(again.event_id, sent[0].event_id);
    }
}
