//! A living contact-center floor for the local demo: contacts arrive and
//! wait, agents log in, answer, wrap up, take breaks and log out, callers
//! abandon, so the numbers the stand-ins serve move like a real floor's.
//! Deterministic for a seed: the same seed and steps give the same floor.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

use crate::connect::StandinQueue;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Agent {
    Offline,
    Available,
    Working { until: f64 },
    Wrap { until: f64 },
    Break { until: f64 },
}

#[derive(Clone, Debug)]
enum Kind {
    Symbee {
        task_type: &'static str,
        open_state: &'static str,
    },
    Connect {
        arn: String,
        channel: &'static str,
    },
}

#[derive(Clone, Debug)]
struct SimQueue {
    id: String,
    name: String,
    kind: Kind,
    agents: Vec<Agent>,
    /// Waiting contacts, oldest first.
    waiting: VecDeque<Waiting>,
    arrivals_per_second: f64,
    mean_handle_seconds: f64,
    patience_seconds: f64,
    handled_today: u64,
    abandoned_today: u64,
    answered_within_20: u64,
    answered_within_60: u64,
    handle_seconds_total: f64,
    answer_seconds_total: f64,
}

/// A contact waiting in a queue.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Waiting {
    /// When it entered this queue (floor seconds).
    enqueued: f64,
    contact: u64,
}

/// What happened to a contact in a Connect queue, as Amazon Connect's
/// contact events tell it (recorded after [`Floor::record_contact_events`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ContactMove {
    pub kind: MoveKind,
    pub contact_id: String,
    pub queue_arn: String,
    pub channel: &'static str,
    /// When it entered the queue (floor seconds).
    pub enqueued_at: f64,
    /// When this happened (floor seconds).
    pub at: f64,
}

/// Connect's names: a transfer is a `QUEUED` into another queue, an
/// abandoned contact is `DISCONNECTED` from its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoveKind {
    Queued,
    ConnectedToAgent,
    Disconnected,
}

impl MoveKind {
    pub fn event_type(self) -> &'static str {
        match self {
            MoveKind::Queued => "QUEUED",
            MoveKind::ConnectedToAgent => "CONNECTED_TO_AGENT",
            MoveKind::Disconnected => "DISCONNECTED",
        }
    }
}

/// The whole simulated floor.
pub struct Floor {
    rng: fastrand::Rng,
    seed: u64,
    now: f64,
    queues: Vec<SimQueue>,
    next_contact: u64,
    /// Answered contacts, when recorded: (queue index, arrival time, wait).
    answered: Option<Vec<(usize, f64, f64)>>,
    /// Contact events of the Connect queues, when recorded.
    moves: Option<Vec<ContactMove>>,
}

/// A waiting contact in a Connect queue moves to another queue of its
/// instance at this rate a second (about one contact in twenty).
const TRANSFERS_PER_SECOND: f64 = 0.001;

/// What a source reports of one queue at one moment: the estimator's
/// inputs, as the stand-ins serve them.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub queue: usize,
    pub items_in_queue: u64,
    /// Age of the oldest waiting contact, whole seconds.
    pub oldest_item: u64,
    pub agents_available: u64,
    pub agents_staffed: u64,
    /// Today's average handle time so far (Connect's intraday figure).
    pub avg_handle_time: Option<f64>,
}

/// How hard the floor is driven: offered load per agent logged in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// About half the agents' capacity.
    Low,
    /// About 85%: queues form and clear.
    Normal,
    /// About 115%: queues grow until callers give up.
    Overloaded,
}

impl Load {
    pub const ALL: [Load; 3] = [Load::Low, Load::Normal, Load::Overloaded];

    pub fn name(self) -> &'static str {
        match self {
            Load::Low => "low",
            Load::Normal => "normal",
            Load::Overloaded => "overloaded",
        }
    }

    fn utilisation(self) -> f64 {
        match self {
            Load::Low => 0.5,
            Load::Normal => 0.85,
            Load::Overloaded => 1.15,
        }
    }
}

const SYMBEE_TASK_TYPES: [&str; 6] = [
    "ROUTED_EMAIL",
    "WEBCHAT",
    "SMS_PINPOINT",
    "SOCIAL_WHATSAPP",
    "GENERIC_TASK",
    "PREVIEW_DIAL",
];
const CONNECT_CHANNELS: [&str; 3] = ["VOICE", "CHAT", "TASK"];

impl Floor {
    /// `queues` queues, a third Symbee skill queues and the rest Amazon
    /// Connect queues, dealt in turn to the instances of `instance_arns`.
    /// The first two Symbee queues carry the ids of Symbee's documented
    /// example, so the fixture events work.
    pub fn new<S: AsRef<str>>(seed: u64, queues: usize, instance_arns: &[S]) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let symbee_count = queues.div_ceil(3).max(2.min(queues));
        let queues = (0..queues)
            .map(|i| {
                let agents = rng.usize(3..25);
                let kind = if i < symbee_count {
                    Kind::Symbee {
                        task_type: SYMBEE_TASK_TYPES[i % SYMBEE_TASK_TYPES.len()],
                        open_state: if i % 7 == 6 {
                            "FORCED_CLOSED"
                        } else {
                            "OPERATING_HOURS_OPEN"
                        },
                    }
                } else {
                    let id = format!("{:08x}-5a1e-4c0d-9e11-{:012x}", seed as u32, i);
                    Kind::Connect {
                        arn: format!(
                            "{}/queue/{id}",
                            instance_arns[i % instance_arns.len().max(1)].as_ref()
                        ),
                        channel: CONNECT_CHANNELS[i % 3],
                    }
                };
                let (id, name) = match (&kind, i) {
                    (Kind::Symbee { .. }, 0) => (
                        "email-customer-care".to_owned(),
                        "Email Customer Care".to_owned(),
                    ),
                    (Kind::Symbee { .. }, 1) => (
                        "sms-customer-care".to_owned(),
                        "SMS Customer Care".to_owned(),
                    ),
                    (Kind::Symbee { .. }, _) => {
                        (format!("skill-queue-{i:04}"), format!("Skill Queue {i}"))
                    }
                    (Kind::Connect { arn, .. }, _) => (
                        arn.rsplit('/').next().unwrap_or_default().to_owned(),
                        format!("Connect Queue {i}"),
                    ),
                };
                SimQueue {
                    id,
                    name,
                    kind,
                    agents: (0..agents)
                        .map(|_| {
                            if rng.f64() < 0.8 {
                                Agent::Available
                            } else {
                                Agent::Offline
                            }
                        })
                        .collect(),
                    waiting: VecDeque::new(),
                    arrivals_per_second: 0.02 + rng.f64() * 0.25,
                    mean_handle_seconds: 60.0 + rng.f64() * 300.0,
                    patience_seconds: 90.0 + rng.f64() * 400.0,
                    handled_today: 0,
                    abandoned_today: 0,
                    answered_within_20: 0,
                    answered_within_60: 0,
                    handle_seconds_total: 0.0,
                    answer_seconds_total: 0.0,
                }
            })
            .collect();
        Self {
            rng,
            seed,
            now: 0.0,
            queues,
            next_contact: 0,
            answered: None,
            moves: None,
        }
    }

    /// From now on, keeps every Connect contact's events for
    /// [`Floor::take_contact_events`].
    pub fn record_contact_events(&mut self) {
        self.moves.get_or_insert_with(Vec::new);
    }

    /// The Connect contact events since the last call, in order.
    pub fn take_contact_events(&mut self) -> Vec<ContactMove> {
        self.moves.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// A contact's event in a Connect queue; its id shaped as Connect's
    /// (a UUID), unique on this floor.
    fn contact_move(
        seed: u64,
        (queue_arn, channel): (&str, &'static str),
        kind: MoveKind,
        waiting: Waiting,
        at: f64,
    ) -> ContactMove {
        ContactMove {
            kind,
            contact_id: format!(
                "{:08x}-c0de-4000-8000-{:012x}",
                seed as u32, waiting.contact
            ),
            queue_arn: queue_arn.to_owned(),
            channel,
            enqueued_at: waiting.enqueued,
            at,
        }
    }

    /// A floor whose arrivals offer `load` of what its logged-in agents can
    /// handle (handle time plus the average wrap-up), recording every
    /// answered contact's true wait for [`Floor::take_answered`].
    pub fn with_load(seed: u64, queues: usize, instance_arn: &str, load: Load) -> Self {
        let mut floor = Self::new(seed, queues, &[instance_arn]);
        for queue in &mut floor.queues {
            let agents = queue
                .agents
                .iter()
                .filter(|a| **a != Agent::Offline)
                .count()
                .max(1);
            let per_contact = queue.mean_handle_seconds + 35.0;
            queue.arrivals_per_second = load.utilisation() * agents as f64 / per_contact;
        }
        floor.answered = Some(Vec::new());
        floor
    }

    /// Seconds since the floor started.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// What a source would report of every queue now.
    pub fn observe(&self) -> Vec<Observation> {
        self.queues
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let c = q.counts(self.now);
                Observation {
                    queue: i,
                    items_in_queue: q.waiting.len() as u64,
                    oldest_item: c.oldest,
                    agents_available: c.available as u64,
                    agents_staffed: c.staffed as u64,
                    avg_handle_time: (q.handled_today > 0)
                        .then(|| q.handle_seconds_total / q.handled_today as f64),
                }
            })
            .collect()
    }

    /// The contacts answered since the last call: (queue index, arrival
    /// time, true wait in seconds). Empty unless built by [`Floor::with_load`].
    pub fn take_answered(&mut self) -> Vec<(usize, f64, f64)> {
        self.answered
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Advances the floor by `seconds`, in steps of at most one second.
    pub fn advance(&mut self, seconds: f64) {
        let mut left = seconds;
        while left > 0.0 {
            let step = left.min(1.0);
            self.step(step);
            left -= step;
        }
    }

    fn step(&mut self, dt: f64) {
        self.now += dt;
        let now = self.now;
        let seed = self.seed;
        let rng = &mut self.rng;
        let moves = &mut self.moves;
        let next_contact = &mut self.next_contact;
        let mut transfers = Vec::new();
        for (index, queue) in self.queues.iter_mut().enumerate() {
            let connect = match &queue.kind {
                Kind::Connect { arn, channel } if moves.is_some() => Some((arn.clone(), *channel)),
                _ => None,
            };
            let mut record = |kind: MoveKind, waiting: Waiting, at: f64| {
                if let (Some(moves), Some((arn, channel))) = (moves.as_mut(), &connect) {
                    moves.push(Self::contact_move(seed, (arn, channel), kind, waiting, at));
                }
            };
            // Arrivals (Poisson, thinned per step).
            let mut expected = queue.arrivals_per_second * dt;
            let mut arrived = Vec::new();
            while expected > 0.0 {
                if rng.f64() < expected.min(1.0) {
                    arrived.push(now - rng.f64() * dt);
                }
                expected -= 1.0;
            }
            // In the order drawn, as ever: the floor stays the same for a seed.
            for enqueued in arrived {
                *next_contact += 1;
                let waiting = Waiting {
                    enqueued,
                    contact: *next_contact,
                };
                record(MoveKind::Queued, waiting, enqueued);
                queue.waiting.push_back(waiting);
            }
            // Callers who waited past their patience hang up.
            while queue
                .waiting
                .front()
                .is_some_and(|w| now - w.enqueued > queue.patience_seconds * (0.5 + rng.f64()))
            {
                if let Some(gone) = queue.waiting.pop_front() {
                    record(MoveKind::Disconnected, gone, now);
                }
                queue.abandoned_today += 1;
            }
            // Now and then a Connect contact is sent to another queue.
            if connect.is_some() {
                let mut i = 0;
                while i < queue.waiting.len() {
                    if rng.f64() < TRANSFERS_PER_SECOND * dt {
                        if let Some(moving) = queue.waiting.remove(i) {
                            transfers.push((index, moving));
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            // Agents move on.
            for agent in &mut queue.agents {
                *agent = match *agent {
                    Agent::Working { until } if until <= now => {
                        let wrap = 10.0 + rng.f64() * 50.0;
                        // Connect's handle time includes after-contact work.
                        queue.handle_seconds_total += wrap;
                        Agent::Wrap { until: now + wrap }
                    }
                    Agent::Wrap { until } if until <= now => Agent::Available,
                    Agent::Break { until } if until <= now => Agent::Available,
                    Agent::Available if rng.f64() < 0.002 * dt => Agent::Break {
                        until: now + 300.0 + rng.f64() * 600.0,
                    },
                    Agent::Available if rng.f64() < 0.0005 * dt => Agent::Offline,
                    Agent::Offline if rng.f64() < 0.003 * dt => Agent::Available,
                    other => other,
                };
            }
            // Waiting contacts go to available agents, oldest first.
            for agent in &mut queue.agents {
                if *agent != Agent::Available {
                    continue;
                }
                let Some(taken) = queue.waiting.pop_front() else {
                    break;
                };
                record(MoveKind::ConnectedToAgent, taken, now);
                let arrived = taken.enqueued;
                let handle = queue.mean_handle_seconds * (0.5 + rng.f64());
                let waited = now - arrived;
                if let Some(answered) = self.answered.as_mut() {
                    answered.push((index, arrived, waited));
                }
                queue.handled_today += 1;
                queue.handle_seconds_total += handle;
                queue.answer_seconds_total += waited;
                queue.answered_within_20 += u64::from(waited < 20.0);
                queue.answered_within_60 += u64::from(waited < 60.0);
                *agent = Agent::Working {
                    until: now + handle,
                };
            }
        }
        for (from, moving) in transfers {
            self.transfer(from, moving, now);
        }
    }

    /// Sends a waiting Connect contact to the next Connect queue of its
    /// instance: a `QUEUED` there, with a new enqueue time, takes it out of
    /// the one it left (as Connect's transfer to a queue does).
    fn transfer(&mut self, from: usize, moving: Waiting, now: f64) {
        let instance_of = |q: &SimQueue| match &q.kind {
            Kind::Connect { arn, .. } => arn.split("/queue/").next().map(str::to_owned),
            Kind::Symbee { .. } => None,
        };
        let instance = instance_of(&self.queues[from]);
        let count = self.queues.len();
        let to = (1..count)
            .map(|step| (from + step) % count)
            .find(|&i| instance.is_some() && instance_of(&self.queues[i]) == instance)
            .unwrap_or(from);
        let waiting = Waiting {
            enqueued: now,
            contact: moving.contact,
        };
        let queue = &mut self.queues[to];
        if let (Some(moves), Kind::Connect { arn, channel }) = (self.moves.as_mut(), &queue.kind) {
            moves.push(Self::contact_move(
                self.seed,
                (arn, channel),
                MoveKind::Queued,
                waiting,
                now,
            ));
        }
        queue.waiting.push_back(waiting);
    }

    /// Symbee's response body for its skill queues (and, as Symbee does
    /// with `includeAmazonQueues`, its copies of the Connect queues).
    pub fn symbee_queues(&self) -> Vec<Value> {
        self.queues
            .iter()
            .map(|q| {
                let c = q.counts(self.now);
                let (provider, task_type, open_state, id) = match &q.kind {
                    Kind::Symbee { task_type, open_state } => ("SYMBEE", *task_type, *open_state, q.id.clone()),
                    Kind::Connect { arn, .. } => ("AMAZON", "AMAZON_ANY", "OPERATING_HOURS_UNKNOWN", arn.clone()),
                };
                json!({
                    "queueInfo": { "queueId": id, "queueName": q.name, "deliveryProvider": provider, "taskType": task_type },
                    "openClosedState": open_state,
                    "agentsStaffed": c.staffed, "agentsAvailable": c.available, "agentsWorking": c.working,
                    "agentsInWrap": c.wrap, "agentsInError": 0, "agentsUnavailable": c.on_break,
                    "itemsInQueue": q.waiting.len(), "itemsScheduled": 0, "itemsBeingDelivered": 0,
                    // Symbee reports 0 for its own queues today (its docs say so).
                    "oldestItem": if provider == "AMAZON" { c.oldest } else { 0 }
                })
            })
            .collect()
    }

    /// The Connect stand-in's view of the Connect queues.
    pub fn connect_queues(&self) -> Vec<StandinQueue> {
        self.queues
            .iter()
            .filter_map(|q| {
                let Kind::Connect { arn, channel } = &q.kind else {
                    return None;
                };
                let c = q.counts(self.now);
                let totals: BTreeMap<String, f64> = [
                    ("AGENTS_ONLINE", c.staffed),
                    ("AGENTS_AVAILABLE", c.available),
                    ("AGENTS_ON_CONTACT", c.working),
                    ("AGENTS_STAFFED", c.staffed),
                    ("AGENTS_AFTER_CONTACT_WORK", c.wrap),
                    ("AGENTS_NON_PRODUCTIVE", c.on_break),
                    ("AGENTS_ERROR", 0.0),
                    ("CONTACTS_IN_QUEUE", q.waiting.len() as f64),
                    ("OLDEST_CONTACT_AGE", c.oldest as f64),
                    ("CONTACTS_SCHEDULED", 0.0),
                    ("SLOTS_ACTIVE", c.working),
                    ("SLOTS_AVAILABLE", c.available),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                let handled = q.handled_today.max(1) as f64;
                let intraday = [
                    ("CONTACTS_HANDLED", q.handled_today as f64),
                    ("CONTACTS_ABANDONED", q.abandoned_today as f64),
                    ("HANDLE_TIME", q.handle_seconds_total / handled),
                    ("QUEUE_ANSWER_TIME", q.answer_seconds_total / handled),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                let agents = q
                    .agents
                    .iter()
                    .filter(|a| **a != Agent::Offline)
                    .map(|a| match a {
                        Agent::Available => ("Available".to_owned(), 0, 1, 1),
                        Agent::Break { .. } => ("Break".to_owned(), 0, 0, 1),
                        _ => ("Available".to_owned(), 1, 0, 1),
                    })
                    .collect();
                Some(StandinQueue {
                    id: q.id.clone(),
                    arn: arn.clone(),
                    name: q.name.clone(),
                    idle: c.staffed == 0.0 && q.waiting.is_empty(),
                    channels: BTreeMap::from([((*channel).to_owned(), {
                        // Connect's own estimate on its channel: one handle
                        // time per staffed agent for each waiting contact.
                        let mut figures = totals.clone();
                        let per_answer = (q.handle_seconds_total / handled) / c.staffed.max(1.0);
                        let estimate = (q.waiting.len() as f64 + 0.5) * per_answer;
                        figures.insert(
                            "ESTIMATED_WAIT_TIME".to_owned(),
                            if q.waiting.is_empty() {
                                0.0
                            } else {
                                estimate.round()
                            },
                        );
                        figures
                    })]),
                    totals,
                    intraday,
                    agents,
                })
            })
            .collect()
    }
}

struct Counts {
    staffed: f64,
    available: f64,
    working: f64,
    wrap: f64,
    on_break: f64,
    oldest: u64,
}

impl SimQueue {
    fn counts(&self, now: f64) -> Counts {
        let count = |f: fn(&Agent) -> bool| self.agents.iter().filter(|a| f(a)).count() as f64;
        Counts {
            staffed: count(|a| *a != Agent::Offline),
            available: count(|a| *a == Agent::Available),
            working: count(|a| matches!(a, Agent::Working { .. })),
            wrap: count(|a| matches!(a, Agent::Wrap { .. })),
            on_break: count(|a| matches!(a, Agent::Break { .. })),
            oldest: self
                .waiting
                .front()
                .map_or(0, |w| (now - w.enqueued).max(0.0) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_floor() {
        let mut a = Floor::new(7, 30, &["arn:aws:connect:us-east-1:1:instance/i"]);
        let mut b = Floor::new(7, 30, &["arn:aws:connect:us-east-1:1:instance/i"]);
        a.advance(600.0);
        b.advance(600.0);
        assert_eq!(a.symbee_queues(), b.symbee_queues());
        assert_eq!(a.connect_queues(), b.connect_queues());
    }

    /// Replaying the recorded events on the figures before them gives the
    /// figures after them, queue by queue: what the poller's ledger does.
    #[test]
    fn contact_events_account_for_every_move_of_the_connect_queues() {
        let instances = [
            "arn:aws:connect:us-east-1:1:instance/a",
            "arn:aws:connect:us-west-2:1:instance/b",
        ];
        // Recording from the empty dawn: a transfer names only the queue it
        // goes to, so the replay must know where every contact waited.
        let mut floor = Floor::new(3, 60, &instances);
        let waiting = |floor: &Floor| -> BTreeMap<String, i64> {
            floor
                .connect_queues()
                .into_iter()
                .map(|q| (q.arn, q.totals["CONTACTS_IN_QUEUE"] as i64))
                .collect()
        };
        let mut replayed = waiting(&floor);
        floor.record_contact_events();
        floor.advance(1800.0);
        let events = floor.take_contact_events();
        let mut kinds = std::collections::HashMap::new();
        let mut where_waiting: std::collections::HashMap<String, String> = Default::default();
        for e in &events {
            *kinds.entry(e.kind).or_insert(0) += 1;
            // A contact leaves the queue it was in (the event's own queue
            // for one that waited before recording began).
            let was = where_waiting
                .remove(&e.contact_id)
                .or_else(|| (e.kind != MoveKind::Queued).then(|| e.queue_arn.clone()));
            if let Some(was) = was {
                *replayed.get_mut(&was).unwrap() -= 1;
            }
            if e.kind == MoveKind::Queued {
                *replayed.get_mut(&e.queue_arn).unwrap() += 1;
                where_waiting.insert(e.contact_id.clone(), e.queue_arn.clone());
            }
            assert!(e.enqueued_at <= e.at, "{e:?}");
        }
        assert_eq!(replayed, waiting(&floor));
        assert!(
            kinds.len() == 3 && kinds.values().all(|n| *n > 10),
            "{kinds:?}"
        );
        // Transfers stay in their instance.
        let transfers = events
            .iter()
            .filter(|e| e.kind == MoveKind::Queued && e.enqueued_at == e.at)
            .count();
        assert!(transfers > 0);
        assert!(floor.take_contact_events().is_empty());
    }

    #[test]
    fn the_floor_moves() {
        let mut floor = Floor::new(1, 30, &["arn:aws:connect:us-east-1:1:instance/i"]);
        let before = floor.symbee_queues();
        floor.advance(900.0);
        assert_ne!(before, floor.symbee_queues());
        assert_eq!(floor.symbee_queues().len(), 30);
        assert_eq!(floor.connect_queues().len(), 20);
        assert_eq!(
            floor.symbee_queues()[0]["queueInfo"]["queueId"],
            "email-customer-care"
        );
    }
}
