//! The wait estimator against the simulated floor, which knows every
//! answered contact's true wait: mean absolute error and bias of the model
//! and of the naive "oldest item" guess, at low, normal and overloaded
//! traffic. A deterministic simulation, not a timing: the same seeds give
//! the same table. `scripts/estimate-accuracy.sh` prints the full report
//! that docs/estimated-wait.md quotes.

use queue_stats::estimate::WaitEstimator;
use queue_stats::model::Counters;
use standins::simulation::{Floor, Load};

const INTERVAL: f64 = 10.0;

#[derive(Default)]
struct Score {
    contacts: u64,
    model_abs: f64,
    model_bias: f64,
    naive_abs: f64,
    naive_bias: f64,
    /// Contacts the model had no estimate for (the naive guess stood in).
    fallbacks: u64,
}

impl Score {
    fn add(&mut self, other: &Score) {
        self.contacts += other.contacts;
        self.model_abs += other.model_abs;
        self.model_bias += other.model_bias;
        self.naive_abs += other.naive_abs;
        self.naive_bias += other.naive_bias;
        self.fallbacks += other.fallbacks;
    }
    fn mae(&self) -> (f64, f64) {
        let n = self.contacts.max(1) as f64;
        (self.model_abs / n, self.naive_abs / n)
    }
    fn bias(&self) -> (f64, f64) {
        let n = self.contacts.max(1) as f64;
        (self.model_bias / n, self.naive_bias / n)
    }
}

/// Runs one floor for `minutes` after a half-hour warm-up, polling every
/// ten seconds as the poller does, and scores each answered contact
/// against the estimates of the last poll before it arrived.
/// `handle_time`: the model is given each queue's average handle time, as
/// Connect's intraday figures give it; else only ages, lengths and staff.
fn score(load: Load, seed: u64, queues: usize, minutes: u64, handle_time: bool) -> Score {
    let mut floor = Floor::with_load(seed, queues, "arn:aws:connect:us-east-1:1:instance/i", load);
    let mut model = WaitEstimator::default();
    floor.advance(1800.0);
    floor.take_answered();
    let start = floor.now();
    let polls = (minutes * 60) as usize / INTERVAL as usize;
    // estimates[poll][queue] = (model, naive)
    let mut estimates: Vec<Vec<(Option<u64>, u64)>> = Vec::with_capacity(polls);
    let mut score = Score::default();
    for _ in 0..polls {
        let at = floor.now();
        let row = floor
            .observe()
            .into_iter()
            .map(|o| {
                let figures = Counters {
                    items_in_queue: Some(o.items_in_queue),
                    oldest_item: Some(o.oldest_item),
                    agents_available: Some(o.agents_available),
                    agents_staffed: Some(o.agents_staffed),
                    ..Counters::default()
                };
                let key = o.queue.to_string();
                let handle = o.avg_handle_time.filter(|_| handle_time);
                (model.observe(&key, at, &figures, handle), o.oldest_item)
            })
            .collect();
        estimates.push(row);
        floor.advance(INTERVAL);
        for (queue, arrived, waited) in floor.take_answered() {
            if arrived < start {
                continue;
            }
            let poll = ((arrived - start) / INTERVAL) as usize;
            let Some((estimate, naive)) = estimates.get(poll).map(|row| row[queue]) else {
                continue;
            };
            let model_guess = estimate.unwrap_or_else(|| {
                score.fallbacks += 1;
                naive
            }) as f64;
            score.contacts += 1;
            score.model_abs += (model_guess - waited).abs();
            score.model_bias += model_guess - waited;
            score.naive_abs += (naive as f64 - waited).abs();
            score.naive_bias += naive as f64 - waited;
        }
    }
    score
}

#[test]
fn the_estimate_beats_the_oldest_item_guess_at_every_load() {
    for load in Load::ALL {
        let s = score(load, 1, 40, 60, true);
        let (model, naive) = s.mae();
        assert!(
            s.contacts > 500,
            "{}: too few contacts ({})",
            load.name(),
            s.contacts
        );
        assert!(
            model < naive * 0.95,
            "{}: model MAE {model:.1} s is not clearly below the naive guess's {naive:.1} s",
            load.name()
        );
        // Without a handle time it is the naive guess, less its bias: never worse.
        let s = score(load, 1, 40, 60, false);
        let (model, naive) = s.mae();
        assert!(
            model <= naive * 1.01,
            "{}: {model:.1} s vs {naive:.1} s",
            load.name()
        );
        let (model_bias, naive_bias) = s.bias();
        assert!(model_bias.abs() < naive_bias.abs(), "{}", load.name());
    }
}

/// The table of docs/estimated-wait.md: `scripts/estimate-accuracy.sh`.
#[test]
#[ignore = "a report, run by scripts/estimate-accuracy.sh"]
fn report() {
    println!(
        "| load | inputs | contacts | model MAE (s) | model bias (s) | oldest-item MAE (s) | oldest-item bias (s) | no estimate |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (load, handle_time) in Load::ALL
        .into_iter()
        .flat_map(|load| [(load, true), (load, false)])
    {
        let mut total = Score::default();
        for seed in 1..=5 {
            total.add(&score(load, seed, 60, 240, handle_time));
        }
        let (model_mae, naive_mae) = total.mae();
        let (model_bias, naive_bias) = total.bias();
        println!(
            "| {} | {} | {} | {model_mae:.1} | {model_bias:+.1} | {naive_mae:.1} | {naive_bias:+.1} | {:.1}% |",
            load.name(),
            if handle_time {
                "with handle time"
            } else {
                "age and length only"
            },
            total.contacts,
            100.0 * total.fallbacks as f64 / total.contacts.max(1) as f64
        );
    }
}
