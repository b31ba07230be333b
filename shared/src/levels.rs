//! Queue levels: `normal`, `warning`, `critical` or `unknown`, from the
//! `QUEUE_LEVELS` rules (the contract is "Estimated wait and levels" in
//! DESIGN.md).
//!
//! A rule compares one figure with a warning and a critical threshold,
//! `above` (value >= threshold, the default) or `below` (value <=
//! threshold). A queue's own rules replace the default rules; its level is
//! the worst of its rules; a rule whose figure is null does not count, and
//! a queue with no counting rule, or stale figures, is `unknown`.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::model::Level;
use crate::model::{QueueStats, SourceName, queue_key, split_source};
use crate::settings::{ConfigError, Settings};

pub const SETTING: &str = "QUEUE_LEVELS";

/// The figures a rule may look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    OldestItem,
    ItemsInQueue,
    ItemsScheduled,
    ItemsBeingDelivered,
    EstimatedWaitTime,
    AgentsAvailable,
    AgentsStaffed,
    AgentsWorking,
    AgentsInWrap,
    AgentsInError,
    AgentsUnavailable,
    AgentsOnline,
}

impl Metric {
    /// The queue's figure, `None` where its source has none.
    fn of(self, queue: &QueueStats) -> Option<f64> {
        let c = &queue.counters;
        let value = match self {
            Self::OldestItem => c.oldest_item,
            Self::ItemsInQueue => c.items_in_queue,
            Self::ItemsScheduled => c.items_scheduled,
            Self::ItemsBeingDelivered => c.items_being_delivered,
            Self::EstimatedWaitTime => c.estimated_wait_time,
            Self::AgentsAvailable => c.agents_available,
            Self::AgentsStaffed => c.agents_staffed,
            Self::AgentsWorking => c.agents_working,
            Self::AgentsInWrap => c.agents_in_wrap,
            Self::AgentsInError => c.agents_in_error,
            Self::AgentsUnavailable => c.agents_unavailable,
            Self::AgentsOnline => queue.agents_online,
        };
        value.map(|v| v as f64)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    #[default]
    Above,
    Below,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub metric: Metric,
    #[serde(default)]
    pub warning: Option<f64>,
    #[serde(default)]
    pub critical: Option<f64>,
    #[serde(default)]
    pub when: When,
}

impl Rule {
    /// This rule's level for `queue`, `None` when its figure is null.
    fn level(&self, queue: &QueueStats) -> Option<Level> {
        let value = self.metric.of(queue)?;
        let reached = |threshold: Option<f64>| {
            threshold.is_some_and(|t| match self.when {
                When::Above => value >= t,
                When::Below => value <= t,
            })
        };
        Some(if reached(self.critical) {
            Level::Critical
        } else if reached(self.warning) {
            Level::Warning
        } else {
            Level::Normal
        })
    }
}

/// The rules, validated at cold start.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelRules {
    default: Vec<Rule>,
    /// A queue's own rules for that id in any source (`"<queueId>"`), by
    /// queue key (an ARN and its bare id agree).
    queues: BTreeMap<String, Vec<Rule>>,
    /// Rules for one source's queue (`"<source>:<queueId>"`): they win
    /// over the any-source ones (DESIGN, "A queue is (source, queueId)").
    source_queues: BTreeMap<SourceName, BTreeMap<String, Vec<Rule>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesDocument {
    #[serde(default)]
    default: Option<Vec<Rule>>,
    #[serde(default)]
    queues: BTreeMap<String, Vec<Rule>>,
}

impl Default for LevelRules {
    /// `oldestItem` 60 / 180 seconds, above.
    fn default() -> Self {
        Self {
            default: vec![Rule {
                metric: Metric::OldestItem,
                warning: Some(60.0),
                critical: Some(180.0),
                when: When::Above,
            }],
            queues: BTreeMap::new(),
            source_queues: BTreeMap::new(),
        }
    }
}

impl LevelRules {
    pub fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
        match settings.optional(SETTING) {
            None => Ok(Self::default()),
            Some(text) => Self::parse(&text).map_err(|why| ConfigError::new(SETTING, why)),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let document: RulesDocument = serde_json::from_str(text).map_err(|err| {
            format!(
                "must be JSON like {{\"default\": [{{\"metric\": \"oldestItem\", \"warning\": 60, \"critical\": 180}}], \"queues\": {{}}}}: {err}"
            )
        })?;
        let defaults = Self::default();
        let mut rules = Self {
            default: document.default.unwrap_or(defaults.default),
            queues: BTreeMap::new(),
            source_queues: BTreeMap::new(),
        };
        for (whose, rule) in rules.default.iter().map(|r| ("default", r)).chain(
            document
                .queues
                .iter()
                .flat_map(|(id, rs)| rs.iter().map(move |r| (id.as_str(), r))),
        ) {
            if rule.warning.is_none() && rule.critical.is_none() {
                return Err(format!(
                    "a rule for {whose} on {:?} has neither a warning nor a critical threshold",
                    rule.metric
                ));
            }
            if let (Some(w), Some(c)) = (rule.warning, rule.critical) {
                let ordered = match rule.when {
                    When::Above => w <= c,
                    When::Below => w >= c,
                };
                if !ordered {
                    return Err(format!(
                        "a rule for {whose} on {:?} has its critical threshold ({c}) before its warning one ({w})",
                        rule.metric
                    ));
                }
            }
        }
        for (id, queue_rules) in document.queues {
            match split_source(&id) {
                (Some(source), queue_id) => {
                    rules
                        .source_queues
                        .entry(source)
                        .or_default()
                        .insert(queue_key(queue_id).to_owned(), queue_rules);
                }
                (None, queue_id) => {
                    rules
                        .queues
                        .insert(queue_key(queue_id).to_owned(), queue_rules);
                }
            }
        }
        Ok(rules)
    }

    /// The queue's level: the worst of its rules; `unknown` when its
    /// figures are stale or no rule's figure is there.
    pub fn level_of(&self, queue: &QueueStats) -> Level {
        if queue.stale {
            return Level::Unknown;
        }
        let key = queue_key(&queue.queue_id);
        let rules = self
            .source_queues
            .get(&queue.source)
            .and_then(|queues| queues.get(key))
            .or_else(|| self.queues.get(key))
            .unwrap_or(&self.default);
        rules
            .iter()
            .filter_map(|rule| rule.level(queue))
            .max()
            .unwrap_or(Level::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryProvider, OpenClosedState, SourceName, TaskType};

    fn queue(id: &str, oldest: Option<u64>, available: Option<u64>) -> QueueStats {
        let mut q = QueueStats::new(
            SourceName::Connect,
            id,
            id,
            DeliveryProvider::Amazon,
            TaskType::AmazonAny,
            OpenClosedState::OperatingHoursOpen,
        );
        q.counters.oldest_item = oldest;
        q.counters.agents_available = available;
        q
    }

    #[test]
    fn the_default_rule_is_oldest_item_60_and_180() {
        let rules = LevelRules::default();
        assert_eq!(rules.level_of(&queue("q", Some(59), None)), Level::Normal);
        assert_eq!(rules.level_of(&queue("q", Some(60), None)), Level::Warning);
        assert_eq!(
            rules.level_of(&queue("q", Some(180), None)),
            Level::Critical
        );
        assert_eq!(rules.level_of(&queue("q", None, None)), Level::Unknown);
    }

    #[test]
    fn the_worst_rule_wins_and_below_counts_down() {
        let rules = LevelRules::parse(
            r#"{"default": [
                {"metric": "oldestItem", "warning": 60, "critical": 180},
                {"metric": "agentsAvailable", "warning": 1, "critical": 0, "when": "below"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            rules.level_of(&queue("q", Some(10), Some(5))),
            Level::Normal
        );
        assert_eq!(
            rules.level_of(&queue("q", Some(10), Some(1))),
            Level::Warning
        );
        assert_eq!(
            rules.level_of(&queue("q", Some(70), Some(0))),
            Level::Critical
        );
        // A rule whose figure is null does not count.
        assert_eq!(rules.level_of(&queue("q", Some(70), None)), Level::Warning);
    }

    #[test]
    fn a_source_prefixed_rule_is_for_that_sources_queue_alone() {
        let rules = LevelRules::parse(
            r#"{"queues": {
                "7": [{"metric": "itemsInQueue", "warning": 1, "critical": 2}],
                "8x8:7": [{"metric": "itemsInQueue", "warning": 100, "critical": 200}]
            }}"#,
        )
        .unwrap();
        let mut symbee = queue("7", None, None);
        symbee.source = SourceName::Symbee;
        symbee.counters.items_in_queue = Some(5);
        let mut eight = symbee.clone();
        eight.source = SourceName::EightByEight;
        assert_eq!(
            rules.level_of(&symbee),
            Level::Critical,
            "the any-source rule"
        );
        assert_eq!(rules.level_of(&eight), Level::Normal, "8x8's own rule wins");
        // An ARN is an id, not a source named "arn".
        let arn = "arn:aws:connect:us-east-1:1:instance/i/queue/q";
        let rules = LevelRules::parse(&format!(
            r#"{{"queues": {{"{arn}": [{{"metric": "itemsInQueue", "warning": 1}}]}}}}"#
        ))
        .unwrap();
        let mut connect = queue("q", None, None);
        connect.counters.items_in_queue = Some(3);
        assert_eq!(rules.level_of(&connect), Level::Warning);
    }

    #[test]
    fn a_queues_own_rules_replace_the_default_by_arn_or_bare_id() {
        let arn = "arn:aws:connect:us-east-1:1:instance/i/queue/vip";
        let rules = LevelRules::parse(&format!(
            r#"{{"queues": {{"{arn}": [{{"metric": "oldestItem", "warning": 10, "critical": 20}}]}}}}"#
        ))
        .unwrap();
        assert_eq!(
            rules.level_of(&queue("vip", Some(25), None)),
            Level::Critical
        );
        assert_eq!(rules.level_of(&queue(arn, Some(15), None)), Level::Warning);
        // Other queues keep the default rules.
        assert_eq!(
            rules.level_of(&queue("other", Some(25), None)),
            Level::Normal
        );
    }

    #[test]
    fn stale_figures_are_unknown() {
        let mut q = queue("q", Some(500), None);
        q.stale = true;
        assert_eq!(LevelRules::default().level_of(&q), Level::Unknown);
    }

    #[test]
    fn bad_rules_fail_naming_the_setting() {
        for bad in [
            "not json",
            r#"{"default": [{"metric": "mood", "warning": 1}]}"#,
            r#"{"default": [{"metric": "oldestItem"}]}"#,
            r#"{"default": [{"metric": "oldestItem", "warning": 100, "critical": 50}]}"#,
            r#"{"default": [{"metric": "oldestItem", "warning": 1, "when": "sideways"}]}"#,
            r#"{"defaults": []}"#,
        ] {
            let settings = Settings::from_pairs(&[(SETTING, bad)]);
            let err = LevelRules::from_settings(&settings).unwrap_err();
            assert!(err.to_string().contains(SETTING), "{bad}: {err}");
        }
    }
}
