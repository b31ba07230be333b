//! What a failed source's queues were at its last good poll.
//!
//! DESIGN: a source that fails does not vanish from the snapshot; its
//! queues from its last good poll are carried over, marked `stale` with
//! their own `asOf`. After a cold start the memory is empty, so it is
//! seeded from the latest stored snapshot the first time it is needed.
//! Each Connect instance is a feed of its own: one failing instance
//! carries over only its own queues.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::{InstanceRef, QueueStats, Snapshot, SourceName};

/// What a snapshot's queues came from: a source, and for Connect the
/// instance within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Feed {
    pub source: SourceName,
    pub instance_id: Option<String>,
}

impl Feed {
    pub fn new(source: &SourceName, instance: Option<&InstanceRef>) -> Self {
        Self {
            source: source.clone(),
            instance_id: instance.map(|i| i.instance_id.clone()),
        }
    }

    /// The feed a stored queue came from.
    pub fn of(queue: &QueueStats) -> Self {
        Self::new(&queue.source, queue.instance.as_ref())
    }

    /// A source with one feed (every provider but a Connect instance).
    pub fn source(source: SourceName) -> Self {
        Self {
            source,
            instance_id: None,
        }
    }
}

/// Queues a source reported at its last good poll.
#[derive(Clone, Debug)]
struct LastGood {
    observed_at: DateTime<Utc>,
    queues: Vec<QueueStats>,
}

/// Each source's last good queues.
#[derive(Clone, Debug, Default)]
pub struct CarryOver {
    by_feed: HashMap<Feed, LastGood>,
}

impl CarryOver {
    /// What the latest stored snapshot says each source last reported.
    /// Queues already stale there keep their own `asOf`.
    pub fn seeded_from(snapshot: Snapshot) -> Self {
        let mut carry = Self::default();
        for queue in snapshot.queues {
            carry
                .by_feed
                .entry(Feed::of(&queue))
                .or_insert_with(|| LastGood {
                    observed_at: snapshot.observed_at,
                    queues: Vec::new(),
                })
                .queues
                .push(queue);
        }
        carry
    }

    /// A feed answered: its queues are the ones to carry from now on.
    pub fn remember(&mut self, feed: Feed, observed_at: DateTime<Utc>, queues: &[QueueStats]) {
        self.by_feed.insert(
            feed,
            LastGood {
                observed_at,
                queues: queues.to_vec(),
            },
        );
    }

    /// A feed failed: its last good queues, stale, each with the time it
    /// was really observed. Empty when the source never answered.
    pub fn carried(&self, feed: &Feed) -> Vec<QueueStats> {
        let Some(good) = self.by_feed.get(feed) else {
            return Vec::new();
        };
        good.queues
            .iter()
            .cloned()
            .map(|mut queue| {
                queue.stale = true;
                queue.as_of = Some(queue.as_of.unwrap_or(good.observed_at));
                queue
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryProvider, OpenClosedState, TaskType};

    fn queue(source: SourceName, id: &str) -> QueueStats {
        QueueStats::new(
            source,
            id,
            id,
            DeliveryProvider::Symbee,
            TaskType::Webchat,
            OpenClosedState::ForcedOpen,
        )
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn nothing_is_carried_for_a_source_never_seen() {
        assert!(
            CarryOver::default()
                .carried(&Feed::source(SourceName::Symbee))
                .is_empty()
        );
    }

    #[test]
    fn the_last_good_queues_come_back_stale_with_their_time() {
        let mut carry = CarryOver::default();
        carry.remember(
            Feed::source(SourceName::Symbee),
            at(0),
            &[queue(SourceName::Symbee, "a")],
        );
        carry.remember(
            Feed::source(SourceName::Symbee),
            at(10),
            &[queue(SourceName::Symbee, "b")],
        );
        let carried = carry.carried(&Feed::source(SourceName::Symbee));
        assert_eq!(carried.len(), 1);
        assert_eq!(carried[0].queue_id, "b");
        assert!(carried[0].stale);
        assert_eq!(carried[0].as_of, Some(at(10)));
        assert!(carry.carried(&Feed::source(SourceName::Connect)).is_empty());
    }

    #[test]
    fn a_seeded_queue_already_stale_keeps_its_own_as_of() {
        let mut old = queue(SourceName::Connect, "c");
        old.stale = true;
        old.as_of = Some(at(-60));
        let snapshot = Snapshot {
            snapshot_id: "s".into(),
            observed_at: at(0),
            sources: vec![],
            queues: vec![queue(SourceName::Symbee, "a"), old],
        };
        let carry = CarryOver::seeded_from(snapshot);
        assert_eq!(
            carry.carried(&Feed::source(SourceName::Symbee))[0].as_of,
            Some(at(0))
        );
        assert_eq!(
            carry.carried(&Feed::source(SourceName::Connect))[0].as_of,
            Some(at(-60))
        );
    }
}

#[cfg(test)]
mod instance_tests {
    use super::*;
    use crate::model::{DeliveryProvider, OpenClosedState, TaskType};

    fn connect_queue(instance: &str, id: &str) -> QueueStats {
        let mut queue = QueueStats::new(
            SourceName::Connect,
            id,
            id,
            DeliveryProvider::Amazon,
            TaskType::AmazonAny,
            OpenClosedState::OperatingHoursUnknown,
        );
        queue.instance = Some(InstanceRef {
            instance_id: instance.into(),
            region: "us-east-1".into(),
            instance_alias: instance.into(),
        });
        queue
    }

    #[test]
    fn each_connect_instance_carries_only_its_own_queues() {
        let snapshot = Snapshot {
            snapshot_id: "s".into(),
            observed_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            sources: vec![],
            queues: vec![
                connect_queue("east", "q1"),
                connect_queue("west", "q2"),
                connect_queue("west", "q3"),
            ],
        };
        let carry = CarryOver::seeded_from(snapshot);
        let feed = |id: &str| Feed {
            source: SourceName::Connect,
            instance_id: Some(id.into()),
        };
        let east: Vec<String> = carry
            .carried(&feed("east"))
            .into_iter()
            .map(|q| q.queue_id)
            .collect();
        assert_eq!(east, vec!["q1"]);
        assert_eq!(carry.carried(&feed("west")).len(), 2);
        assert!(carry.carried(&Feed::source(SourceName::Connect)).is_empty());
    }
}
