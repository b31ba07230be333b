//! Our own estimate of how long a contact joining a queue now will wait,
//! for queues whose vendor gives none. The model, its inputs per source
//! and its accuracy on the simulated floor are in docs/estimated-wait.md.
//!
//! A contact joining a queue with `L` contacts waiting is answered after
//! the `L` ahead of it and, on average, half an answer interval more. The
//! answer interval is the time between two answers: one handle time
//! (talk, hold and after-contact work) shared among the staffed agents,
//! where the source reports a handle time (Connect's intraday figures,
//! 8x8's live averages). Where it does not, the interval is learnt from
//! the queue itself: a queue of `L` whose oldest contact has waited `A`
//! took in one contact every `A / L` seconds, and in a queue that neither
//! grows nor empties that is also how often one is answered; the guess is
//! then the oldest age plus a fraction of that interval (the head is still
//! waiting too), which is the naive "oldest item" guess with its bias
//! (always too short) taken out. With nobody waiting, the wait is 0 while
//! an agent is free, else a fraction of one answer interval.
//!
//! The constants below were chosen on the simulation (the floor in
//! `standins::simulation`); `scripts/estimate-accuracy.sh` reruns it.

use std::collections::HashMap;

use crate::model::{Counters, EstimateSource, Fnv1a, QueueStats, fnv1a};

/// How much of a new reading goes into the learnt answer interval.
const SMOOTHING: f64 = 0.3;
/// Answer intervals a joining contact waits beyond the `L` ahead of it.
const BEYOND_THE_QUEUE: f64 = 0.5;
/// With no handle time: answer intervals added to the oldest age.
const BEYOND_THE_HEAD: f64 = 0.3;
/// With nobody waiting and every agent busy: the share of an answer
/// interval until an agent frees up (most are already part-way through).
const UNTIL_AN_AGENT_FREES: f64 = 0.3;
/// The longest wait the model predicts, and how long a reading stays
/// useful: a queue not seen for longer starts afresh.
const CAP_SECONDS: f64 = 3600.0;
const FORGET_AFTER_SECONDS: f64 = 600.0;

/// What the model remembers of one queue (or one channel of a queue).
#[derive(Clone, Debug, Default)]
struct History {
    /// When it was last read.
    seen: f64,
    /// Smoothed seconds between arrivals while contacts waited (`A / L`).
    interval: Option<f64>,
}

impl History {
    fn observe(&mut self, at: f64, figures: &Counters) {
        if at - self.seen > FORGET_AFTER_SECONDS {
            self.interval = None;
        }
        self.seen = at;
        if let (Some(waiting), Some(oldest)) = (figures.items_in_queue, figures.oldest_item)
            && waiting > 0
            && oldest > 0
        {
            let interval = oldest as f64 / waiting as f64;
            self.interval = Some(
                self.interval
                    .map_or(interval, |old| old + SMOOTHING * (interval - old)),
            );
        }
    }

    fn predict(&self, figures: &Counters, handle_time: Option<f64>) -> Option<f64> {
        let waiting = figures.items_in_queue?;
        // One handle time shared among the staffed agents, where both are known.
        let by_staff = handle_time
            .filter(|h| h.is_finite() && *h > 0.0)
            .zip(figures.agents_staffed.filter(|n| *n > 0))
            .map(|(handle, staffed)| handle / staffed as f64);
        if waiting == 0 {
            if figures.agents_available.is_none_or(|free| free > 0) {
                return Some(0.0);
            }
            return Some(UNTIL_AN_AGENT_FREES * by_staff.or(self.interval).unwrap_or(0.0));
        }
        if let Some(interval) = by_staff {
            return Some((waiting as f64 + BEYOND_THE_QUEUE) * interval);
        }
        // Waiting contacts with no age (Symbee's own queues): too little to go on.
        let oldest = figures.oldest_item.filter(|age| *age > 0)? as f64;
        let interval = self.interval.unwrap_or(oldest / waiting as f64);
        Some(oldest + BEYOND_THE_HEAD * interval)
    }
}

/// Estimates per queue (or queue and channel), remembering each one's
/// recent readings between polls.
#[derive(Debug, Default)]
pub struct WaitEstimator {
    /// By the FNV-1a hash of `source/queueId[/channel]`: a poll of
    /// thousands of queues formats no key strings.
    histories: HashMap<u64, History>,
}

impl WaitEstimator {
    /// Takes a reading of `key` at `at` (seconds on any steady clock) and
    /// says how long a contact joining it now would wait, in seconds;
    /// `None` when the figures say too little (no queue length, or
    /// contacts waiting with neither an age nor a handle time).
    /// `handle_time` is the queue's average handle time in seconds, after-
    /// contact work included, where its source reports one.
    pub fn observe(
        &mut self,
        key: &str,
        at: f64,
        figures: &Counters,
        handle_time: Option<f64>,
    ) -> Option<u64> {
        self.observe_hashed(fnv1a(key.as_bytes()), at, figures, handle_time)
    }

    fn observe_hashed(
        &mut self,
        key: u64,
        at: f64,
        figures: &Counters,
        handle_time: Option<f64>,
    ) -> Option<u64> {
        let history = self.histories.entry(key).or_default();
        history.observe(at, figures);
        history
            .predict(figures, handle_time)
            .map(|seconds| seconds.clamp(0.0, CAP_SECONDS).round() as u64)
    }

    /// Fills in the estimate of a queue and of each of its channels where
    /// the vendor gave none, taking a reading of each. The queue's own
    /// figure is the largest of its channels' where it has channels. A
    /// stale queue (carried over from an earlier poll) keeps none.
    pub fn fill(&mut self, queue: &mut QueueStats, at: f64) {
        if queue.stale {
            clear(&mut queue.counters);
            for counters in queue.channels.iter_mut().flat_map(|c| c.values_mut()) {
                clear(counters);
            }
            return;
        }
        // Talk, hold and after-contact work, where the source reports it.
        let handle_time = queue
            .intraday
            .as_ref()
            .and_then(|i| i.avg_handle_time)
            .or_else(|| queue.vendor_averages.as_ref().and_then(|v| v.handling_time));
        let key = Fnv1a::new()
            .write(queue.source.as_str().as_bytes())
            .write(b"/")
            .write(queue.queue_id.as_bytes());
        if let Some(channels) = queue.channels.as_mut() {
            for (channel, counters) in channels.iter_mut() {
                let key = key.write(b"/").write(channel.as_bytes()).finish();
                self.fill_counters(key, at, counters, handle_time);
            }
            let worst = channels
                .values()
                .filter_map(|c| Some((c.estimated_wait_time?, c.estimated_wait_source?)))
                .max_by_key(|(seconds, _)| *seconds);
            if let Some((seconds, source)) = worst {
                queue.counters.estimated_wait_time = Some(seconds);
                queue.counters.estimated_wait_source = Some(source);
                return;
            }
        }
        self.fill_counters(key.finish(), at, &mut queue.counters, handle_time);
    }

    fn fill_counters(
        &mut self,
        key: u64,
        at: f64,
        counters: &mut Counters,
        handle_time: Option<f64>,
    ) {
        if counters.estimated_wait_time.is_some() {
            counters
                .estimated_wait_source
                .get_or_insert(EstimateSource::Vendor);
            return;
        }
        counters.estimated_wait_time = self.observe_hashed(key, at, counters, handle_time);
        counters.estimated_wait_source =
            counters.estimated_wait_time.map(|_| EstimateSource::Model);
    }

    /// Forgets queues not read for a while (they left the configuration).
    pub fn forget_older_than(&mut self, at: f64) {
        self.histories
            .retain(|_, h| at - h.seen <= FORGET_AFTER_SECONDS);
    }
}

fn clear(counters: &mut Counters) {
    counters.estimated_wait_time = None;
    counters.estimated_wait_source = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(waiting: u64, oldest: u64, available: u64) -> Counters {
        Counters {
            items_in_queue: Some(waiting),
            oldest_item: Some(oldest),
            agents_available: Some(available),
            agents_staffed: Some(5),
            ..Counters::default()
        }
    }

    #[test]
    fn an_empty_queue_with_a_free_agent_is_no_wait() {
        let mut model = WaitEstimator::default();
        assert_eq!(model.observe("q", 0.0, &figures(0, 0, 2), None), Some(0));
        assert_eq!(
            model.observe("q", 10.0, &figures(0, 0, 2), Some(300.0)),
            Some(0)
        );
    }

    #[test]
    fn with_a_handle_time_the_queue_is_worked_through_by_the_staff() {
        let mut model = WaitEstimator::default();
        // Four ahead, 300 s per contact shared by 5 agents: an answer a minute.
        assert_eq!(
            model.observe("q", 0.0, &figures(4, 40, 0), Some(300.0)),
            Some(270)
        );
        // Nobody waiting, nobody free: part of one answer interval.
        assert_eq!(
            model.observe("q", 10.0, &figures(0, 0, 0), Some(300.0)),
            Some(18)
        );
    }

    #[test]
    fn without_one_the_oldest_age_is_lengthened_by_what_the_queue_shows() {
        let mut model = WaitEstimator::default();
        // Four waiting, the head 40 s old: one arrival every 10 s.
        assert_eq!(model.observe("q", 0.0, &figures(4, 40, 0), None), Some(43));
        // The learnt interval carries over to an empty, busy queue.
        assert_eq!(model.observe("q", 10.0, &figures(0, 0, 0), None), Some(3));
    }

    #[test]
    fn too_little_to_go_on_is_none_not_a_guess() {
        let mut model = WaitEstimator::default();
        assert_eq!(model.observe("q", 0.0, &Counters::default(), None), None);
        // Waiting, but the source reports no age (Symbee's own queues).
        let no_age = Counters {
            items_in_queue: Some(3),
            oldest_item: Some(0),
            ..Counters::default()
        };
        assert_eq!(model.observe("s", 0.0, &no_age, None), None);
    }

    #[test]
    fn vendor_figures_are_kept_the_rest_modelled_and_the_queue_gets_the_worst_channel() {
        use crate::model::{DeliveryProvider, OpenClosedState, SourceName, TaskType};
        let mut queue = QueueStats::new(
            SourceName::Connect,
            "q",
            "Q",
            DeliveryProvider::Amazon,
            TaskType::AmazonAny,
            OpenClosedState::OperatingHoursOpen,
        );
        let mut voice = figures(2, 30, 0);
        voice.estimated_wait_time = Some(45);
        voice.estimated_wait_source = Some(EstimateSource::Vendor);
        let chat = figures(6, 120, 0);
        queue.channels = Some([("VOICE".to_owned(), voice), ("CHAT".to_owned(), chat)].into());
        let mut model = WaitEstimator::default();
        model.fill(&mut queue, 0.0);
        let channels = queue.channels.as_ref().unwrap();
        assert_eq!(channels["VOICE"].estimated_wait_time, Some(45));
        assert_eq!(
            channels["VOICE"].estimated_wait_source,
            Some(EstimateSource::Vendor)
        );
        assert_eq!(
            channels["CHAT"].estimated_wait_source,
            Some(EstimateSource::Model)
        );
        let chat = channels["CHAT"].estimated_wait_time.unwrap();
        assert!(chat > 120);
        assert_eq!(queue.counters.estimated_wait_time, Some(chat));
        assert_eq!(
            queue.counters.estimated_wait_source,
            Some(EstimateSource::Model)
        );

        queue.stale = true;
        model.fill(&mut queue, 10.0);
        assert_eq!(queue.counters.estimated_wait_time, None);
        assert!(
            queue
                .channels
                .unwrap()
                .values()
                .all(|c| c.estimated_wait_time.is_none())
        );
    }

    #[test]
    fn a_queue_unseen_for_long_is_forgotten() {
        let mut model = WaitEstimator::default();
        model.observe("q", 0.0, &figures(4, 40, 0), None);
        model.forget_older_than(1_000.0);
        assert!(model.histories.is_empty());
    }
}
