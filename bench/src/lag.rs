//! Contact events, measured.
//!
//! `bench lag CONTACTS`: the lag from a contact's `QUEUED` event reaching
//! the SQS queue to the API answering with it, over CONTACTS contacts of
//! the simulated floor (DESIGN's target: 95 % within 2 s with
//! `POLL_INTERVAL_SECONDS=10`). Everything but the emulator runs in this
//! process: the floor behind the Connect stand-in, its events sent as
//! EventBridge's SQS target sends them, the wired poller invoked back to
//! back as the schedule invokes it, and the API's handler read every 100 ms.
//! A contact shows when its queue's `updatedAt` (the newest event or poll
//! its figures include) reaches the contact's enqueue time.
//!
//! `bench probe contact-events REPS`: 5,000 `QUEUED`/`CONNECTED_TO_AGENT`
//! events a repetition, ten a receive, applied to a poll of 1,000 Connect
//! queues, with an interim snapshot built every 100 events (one a second
//! at 100 events a second); no AWS calls, so the count is the poller's own
//! work per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use queue_stats::config::{FromSettings, ReaderConfig};
use queue_stats::model::{
    DeliveryProvider, OpenClosedState, QueueStats, Snapshot, SourceName, TaskType,
};
use queue_stats::source::SourceDeps;
use queue_stats::source::connect::contact_events::feed::ContactEventFeed;
use queue_stats::source::connect::contact_events::{EventQueue, QueueError, QueuedMessage};
use queue_stats::store::dynamodb::DynamoSnapshotStore;
use queue_stats::wiring::PollerConfig;
use serde_json::Value;
use standins::connect::{ConnectStandin, ServiceLimits};
use standins::contact_events::{ContactEventSpec, EventSender, contact_event, take_events};
use standins::simulation::{Floor, MoveKind};

use crate::{Error, Meter};

/// The floor: 150 queues, 100 of them Connect's, about 15 contacts
/// arriving a second (some 30 events a second with the answers and the
/// abandons): a large tenant's busiest hour, and about what moto's SQS
/// serves one receiver (50 ms a call here, where SQS takes 10 to 20).
const FLOOR_QUEUES: usize = 150;
/// A contact not shown after this long counts as never shown.
const GIVE_UP: Duration = Duration::from_secs(30);

struct Pending {
    queue_id: String,
    enqueued: DateTime<Utc>,
    on_queue: Instant,
}

pub async fn run(contacts: usize) -> Result<(), Error> {
    queue_stats::telemetry::init();
    let sdk = queue_stats::aws::load_sdk_config().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("bench-lag-{id}");
    DynamoSnapshotStore::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &name).await?;
    aws_sdk_kinesis::Client::new(&sdk)
        .create_stream()
        .stream_name(&name)
        .shard_count(1)
        .send()
        .await?;
    let sender = EventSender::create(aws_sdk_sqs::Client::new(&sdk), &name).await?;

    let instance = "00000000-0000-4000-8000-00000000a001";
    let arn = format!("arn:aws:connect:us-east-1:123456789012:instance/{instance}");
    let mut floor = Floor::new(7, FLOOR_QUEUES, &[&arn]);
    floor.advance(1800.0);
    floor.record_contact_events();
    let unthrottled = ServiceLimits {
        metrics_rate: 1e6,
        metrics_burst: 1e6,
        other_rate: 1e6,
        other_burst: 1e6,
    };
    let connect = ConnectStandin::start("127.0.0.1:0".parse()?, instance, unthrottled).await?;
    connect.set_queues(floor.connect_queues()).await;

    let settings: HashMap<&str, String> = HashMap::from([
        ("SNAPSHOT_TABLE", name.clone()),
        ("SNAPSHOT_STREAM", name.clone()),
        ("CONNECT_INSTANCE_ID", arn.clone()),
        ("CONNECT_CONTACT_EVENTS_QUEUE_URL", sender.url().to_owned()),
        ("POLL_INTERVAL_SECONDS", "10".to_owned()),
        ("CONNECT_METRICS_RATE", "1000".to_owned()),
        ("CONNECT_METRICS_BURST", "1000".to_owned()),
        ("CONNECT_OTHER_RATE", "1000".to_owned()),
        ("CONNECT_OTHER_BURST", "1000".to_owned()),
    ]);
    let config = PollerConfig::from_lookup(|k| settings.get(k).cloned())?;
    let connect_sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(connect.endpoint())
        .load()
        .await;
    let deps = SourceDeps::aws(&sdk).with_sdk_for(SourceName::Connect, connect_sdk);
    let poller = Arc::new(queue_stats::wiring::build_poller(&config, &deps)?);
    let reader = ReaderConfig::from_lookup(|k| settings.get(k).cloned())?;
    let api = queue_stats::wiring::build_api(reader, &sdk).await;

    // The schedule: invocations back to back, each as long as the
    // template's default timeout allows.
    let invocations = {
        let poller = poller.clone();
        tokio::spawn(async move {
            loop {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                if let Err(error) = poller.run_until(deadline).await {
                    eprintln!("bench lag: an invocation wrote nothing: {error}");
                }
            }
        })
    };

    // The floor, five steps a second; its contacts' events to the queue.
    let pending: Arc<Mutex<Vec<Pending>>> = Arc::default();
    let floor_task = {
        let pending = pending.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                floor.advance(0.2);
                connect.set_queues(floor.connect_queues()).await;
                let events = take_events(&mut floor, 1.0);
                let on_queue = match sender.send(&events).await {
                    Ok(on_queue) => on_queue,
                    Err(error) => {
                        eprintln!("bench lag: {error}");
                        continue;
                    }
                };
                let mut pending = pending.lock().unwrap();
                for (event, on_queue) in events.iter().zip(on_queue) {
                    let detail = &event["detail"];
                    if detail["eventType"] != "QUEUED" {
                        continue;
                    }
                    let (Some(queue), Some(enqueued)) = (
                        detail["queueInfo"]["queueArn"].as_str(),
                        detail["queueInfo"]["enqueueTimestamp"].as_str(),
                    ) else {
                        continue;
                    };
                    pending.push(Pending {
                        // Connect queues are known by their ARN.
                        queue_id: queue.to_owned(),
                        enqueued: parse_time(enqueued).unwrap_or_default(),
                        on_queue,
                    });
                }
            }
        })
    };

    // The reader: what the API answers, every 50 ms.
    let event = crate::api_event("snapshot-plain");
    let started = Instant::now();
    let (mut lags, mut never) = (Vec::new(), 0usize);
    while lags.len() + never < contacts {
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(format!("only {} contacts measured in 30 minutes", lags.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let response = queue_stats::handlers::api::handle(
            LambdaEvent::new(event.clone(), Context::default()),
            &api,
        )
        .await?;
        if response.status_code != 200 {
            if started.elapsed() > GIVE_UP {
                return Err(format!(
                    "the API answers {}: {:?}",
                    response.status_code, response.body
                )
                .into());
            }
            continue; // nothing written yet
        }
        let body: Value = match &response.body {
            Some(aws_lambda_events::encodings::Body::Text(text)) => serde_json::from_str(text)?,
            _ => continue,
        };
        let now = Instant::now();
        let shown: HashMap<&str, DateTime<Utc>> = body["queues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| {
                Some((
                    q["queueId"].as_str()?,
                    parse_time(q["updatedAt"].as_str()?)?,
                ))
            })
            .collect();
        pending.lock().unwrap().retain(|p| {
            if shown
                .get(p.queue_id.as_str())
                .is_some_and(|at| *at >= p.enqueued)
            {
                lags.push(now.saturating_duration_since(p.on_queue));
                false
            } else if now.saturating_duration_since(p.on_queue) > GIVE_UP {
                never += 1;
                false
            } else {
                true
            }
        });
    }
    invocations.abort();
    floor_task.abort();
    // What one interim write costs on this emulator, alone: the same
    // snapshot stored five times, the median taken.
    let store = DynamoSnapshotStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &name,
        Duration::from_secs(3600),
    );
    let latest = queue_stats::store::SnapshotReader::latest_snapshot(&store)
        .await?
        .ok_or("nothing was written")?;
    let mut writes = Vec::new();
    for _ in 0..5 {
        let mut again = latest.clone();
        again.snapshot_id = uuid::Uuid::now_v7().to_string();
        let started = Instant::now();
        queue_stats::store::SnapshotWriter::put_snapshot(&store, &again).await?;
        writes.push(started.elapsed());
    }
    writes.sort();
    lags.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let within = lags
        .iter()
        .filter(|d| **d <= Duration::from_secs(2))
        .count();
    eprintln!(
        "lag_contacts={} lag_median_ms={:.0} lag_p95_ms={:.0} lag_max_ms={:.0} lag_within_2s_pct={:.1} lag_never={never} lag_write_ms={:.0}",
        lags.len() + never,
        ms(at(0.5)),
        ms(at(0.95)),
        ms(lags.last().copied().unwrap_or_default()),
        100.0 * within as f64 / (lags.len() + never).max(1) as f64,
        ms(writes[2]),
    );
    Ok(())
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Messages served from memory, ten a receive.
struct Messages(Mutex<Vec<QueuedMessage>>);

#[async_trait]
impl EventQueue for Messages {
    async fn receive(&self, _wait: Duration) -> Result<Vec<QueuedMessage>, QueueError> {
        let mut left = self.0.lock().unwrap();
        let take = left.len().min(10);
        Ok(left.drain(..take).collect())
    }

    async fn delete(&self, _receipts: Vec<String>) -> Result<(), QueueError> {
        Ok(())
    }
}

/// Events a repetition of the `contact-events` probe.
const EVENTS_PER_REP: usize = 5_000;
const PROBE_QUEUES: usize = 1_000;

pub async fn apply_events(reps: u32, meter: &mut Meter) -> Result<(), Error> {
    let arn =
        "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-4000-8000-00000000b001";
    let polled_at = Utc::now();
    let queues: Vec<QueueStats> = (0..PROBE_QUEUES)
        .map(|i| {
            let mut queue = QueueStats::new(
                SourceName::Connect,
                format!("{arn}/queue/q{i:05}"),
                format!("Queue {i}"),
                DeliveryProvider::Amazon,
                TaskType::AmazonAny,
                OpenClosedState::OperatingHoursUnknown,
            );
            queue.counters.items_in_queue = Some(3);
            queue.counters.oldest_item = Some(40);
            queue
        })
        .collect();
    // Every repetition's messages are built first, and always at least
    // two repetitions' worth: the runs of 1 and 2 repetitions then build
    // the same, and their difference is the poller's work alone.
    let mut prepared: Vec<Vec<QueuedMessage>> = (0..reps.max(2))
        .map(|rep| {
            // Half the contacts arrive, the other half of them are answered.
            (0..EVENTS_PER_REP)
                .map(|n| {
                    let contact = format!("{rep:04}-{:08}", n / 2);
                    let queue_arn = format!("{arn}/queue/q{:05}", (n / 2) % PROBE_QUEUES);
                    let enqueued = polled_at + chrono::Duration::milliseconds(1 + n as i64);
                    let kind = if n % 2 == 0 {
                        MoveKind::Queued
                    } else {
                        MoveKind::ConnectedToAgent
                    };
                    let body = contact_event(&ContactEventSpec {
                        kind,
                        contact_id: &contact,
                        queue_arn: &queue_arn,
                        channel: "VOICE",
                        enqueued,
                        at: enqueued + chrono::Duration::milliseconds(i64::from(n % 2 == 1) * 500),
                    });
                    QueuedMessage {
                        body: body.to_string(),
                        receipt: n.to_string(),
                    }
                })
                .collect()
        })
        .collect();
    for rep in 0..reps {
        let mut snapshot = Snapshot {
            snapshot_id: format!("probe-{rep}"),
            observed_at: polled_at,
            sources: vec![],
            queues: queues.clone(),
        };
        let bodies = std::mem::take(&mut prepared[rep as usize]);
        let feed = ContactEventFeed::new(Arc::new(Messages(Mutex::new(bodies))));
        feed.polled(&mut snapshot);
        feed.baseline(Arc::new(snapshot));
        let (mut applied, mut built) = (0, 0);
        let start = tokio::time::Instant::now();
        for batch in 0..EVENTS_PER_REP / 10 {
            applied += feed.receive_once(Duration::ZERO).await.applied;
            if (batch + 1) % 10 == 0 {
                let at = start + Duration::from_secs(batch as u64);
                built += usize::from(feed.interim(Utc::now(), at).is_some());
            }
        }
        if applied != EVENTS_PER_REP || built == 0 {
            return Err(
                format!("{applied} of {EVENTS_PER_REP} events applied, {built} snapshots").into(),
            );
        }
        meter.rep();
    }
    Ok(())
}
