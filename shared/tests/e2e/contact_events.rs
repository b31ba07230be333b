//! Connect contact events between polls, end to end: the real SQS client
//! against moto's SQS, the wired poller against the Connect stand-in, the
//! API reading what the interim snapshots wrote.

use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, SecondsFormat, Utc};
use queue_stats::wiring::build_api;
use serde_json::Value;
use standins::aws_front::AwsFault;
use standins::connect::{ServiceLimits, StandinQueue};
use tokio::time::Instant;

const FAST: ServiceLimits = ServiceLimits {
    metrics_rate: 100.0,
    metrics_burst: 20.0,
    other_rate: 100.0,
    other_burst: 20.0,
};

struct World {
    harness: Harness,
    standin: standins::connect::ConnectStandin,
    sqs: aws_sdk_sqs::Client,
    url: String,
    poller: queue_stats::poller::Poller,
    api: queue_stats::api::Api,
    /// A queue that is not idle, with a VOICE channel.
    queue: StandinQueue,
}

async fn world_with_queue_url(url: Option<String>) -> World {
    let harness = Harness::new().await;
    let aws = harness.sdk.clone();
    world_on(harness, &aws, url).await
}

/// A world whose poller makes its AWS calls (SQS among them) through `aws`.
async fn world_on(harness: Harness, aws: &aws_config::SdkConfig, url: Option<String>) -> World {
    let (standin, connect_sdk) = connect_standin(20, FAST).await;
    let sqs = aws_sdk_sqs::Client::new(&harness.sdk);
    let url = match url {
        Some(url) => url,
        None => sqs
            .create_queue()
            .queue_name(unique("contact-events"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap(),
    };
    let poller = harness.poller_with_connect_on(
        aws,
        &connect_sdk,
        &[
            ("CONNECT_CONTACT_EVENTS_QUEUE_URL", &url),
            ("CONNECT_CHANNEL_BREAKDOWN", "true"),
        ],
    );
    let api = build_api(reader_config(&harness.table, &[]), &harness.sdk).await;
    let queue = standin.queues().await[1].clone();
    assert!(!queue.idle);
    World {
        harness,
        standin,
        sqs,
        url,
        poller,
        api,
        queue,
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A contact event as Connect sends it (the documented fixture, retargeted).
fn event(
    kind: &str,
    contact: &str,
    queue_arn: &str,
    enqueued: DateTime<Utc>,
    at: DateTime<Utc>,
) -> String {
    let mut event = fixture("events/connect-contact-queued.json");
    event["time"] = Value::from(stamp(at));
    let detail = &mut event["detail"];
    detail["eventType"] = Value::from(kind);
    detail["contactId"] = Value::from(contact);
    detail["instanceArn"] = Value::from(CONNECT_INSTANCE_ARN);
    detail["queueInfo"]["queueArn"] = Value::from(queue_arn);
    detail["queueInfo"]["enqueueTimestamp"] = Value::from(stamp(enqueued));
    match kind {
        "CONNECTED_TO_AGENT" => {
            detail["agentInfo"] = serde_json::json!({ "agentArn": format!("{CONNECT_INSTANCE_ARN}/agent/a1"), "connectedToAgentTimestamp": stamp(at) });
        }
        "DISCONNECTED" => detail["disconnectTimestamp"] = Value::from(stamp(at)),
        _ => {}
    }
    event.to_string()
}

impl World {
    async fn send(&self, bodies: &[String]) {
        for body in bodies {
            self.sqs
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
    }

    async fn figures(&self) -> Value {
        api_get(&self.api, &format!("/v1/queues/{}", self.queue.id), "").await["queue"].clone()
    }

    /// Drains until the API shows `items` waiting (or `limit` passes).
    async fn drain_until_items(&self, items: u64, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            self.poller
                .between_cycles(Instant::now() + Duration::from_millis(1_500))
                .await;
            let figures = self.figures().await;
            if figures["itemsInQueue"] == items || Instant::now() > deadline {
                return figures;
            }
        }
    }
}

#[tokio::test]
async fn contacts_queued_and_abandoned_between_polls_show_and_the_next_poll_wins() {
    let world = world_with_queue_url(None).await;
    let report = world.poller.run_cycle().await;
    assert!(report.wrote_everything(), "{report:?}");
    let polled = world.figures().await;
    assert_eq!(polled["updatedBy"], "poll");
    let truth = polled["itemsInQueue"].as_u64().unwrap();
    let now = Utc::now();
    let arn = &world.queue.arn;

    // WHEN three contacts queue after the poll and one of them abandons
    world
        .send(&[
            event("QUEUED", "c1", arn, now, now),
            event("QUEUED", "c2", arn, now, now),
            event("QUEUED", "c3", arn, now, now),
            event(
                "DISCONNECTED",
                "c3",
                arn,
                now,
                now + chrono::Duration::seconds(1),
            ),
            // AND a redelivery, another instance's queue, and a broken message
            event("QUEUED", "c1", arn, now, now),
            event(
                "QUEUED",
                "c9",
                &format!("{CONNECT_INSTANCE_ARN}/queue/not-polled"),
                now,
                now,
            ),
            "{not json".to_owned(),
        ])
        .await;

    // THEN the API shows two more waiting, moved by events
    let moved = world
        .drain_until_items(truth + 2, Duration::from_secs(20))
        .await;
    assert_eq!(moved["itemsInQueue"], truth + 2, "{moved:#}");
    assert_eq!(moved["updatedBy"], "events");
    assert!(moved["updatedAt"].is_string());

    // AND the queue is empty: every message was deleted, the broken one too
    let left = world
        .sqs
        .get_queue_attributes()
        .queue_url(&world.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let waiting = left.attributes.unwrap_or_default();
    assert_eq!(
        waiting
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .map(String::as_str),
        Some("0")
    );

    // WHEN the next poll runs, Connect's figures win again
    let report = world.poller.run_cycle().await;
    assert!(report.wrote_everything(), "{report:?}");
    let polled = world.figures().await;
    assert_eq!(polled["itemsInQueue"], truth, "{polled:#}");
    assert_eq!(polled["updatedBy"], "poll");
    drop(world.harness);
    drop(world.standin);
}

#[tokio::test]
async fn an_answered_contact_scores_the_estimate_served_when_it_arrived() {
    let world = world_with_queue_url(None).await;
    world.poller.run_cycle().await;
    let served = world.figures().await["channels"]["VOICE"]["estimatedWaitTime"]
        .as_u64()
        .expect("Connect's estimate for VOICE");
    let arrived = Utc::now();
    world
        .send(&[event("QUEUED", "a1", &world.queue.arn, arrived, arrived)])
        .await;
    world
        .poller
        .between_cycles(Instant::now() + Duration::from_millis(2_500))
        .await;
    // Answered 7 s after it queued.
    let answered = arrived + chrono::Duration::seconds(7);
    world
        .send(&[event(
            "CONNECTED_TO_AGENT",
            "a1",
            &world.queue.arn,
            arrived,
            answered,
        )])
        .await;
    world
        .poller
        .between_cycles(Instant::now() + Duration::from_millis(2_500))
        .await;
    world.poller.run_cycle().await;
    let accuracy = world.figures().await["estimateAccuracy"].clone();
    assert_eq!(accuracy["contacts"], 1, "{accuracy:#}");
    let error = served as f64 - 7.0;
    assert_eq!(accuracy["maeSeconds"], error.abs(), "{accuracy:#}");
    assert_eq!(accuracy["biasSeconds"], error, "{accuracy:#}");
}

#[tokio::test]
async fn a_missing_queue_is_reported_and_polls_go_on() {
    let world = world_with_queue_url(Some(
        "http://127.0.0.1:1/123456789012/no-such-queue".to_owned(),
    ))
    .await;
    let error = polls_go_on_beside_an_unreadable_queue(&world).await;
    assert!(error.contains("NonExistentQueue"), "{error}");
}

/// Polls, drains between cycles, and polls again: both polls write whole
/// and the figures stay the poll's while the drain reports the queue's
/// error, which it returns.
async fn polls_go_on_beside_an_unreadable_queue(world: &World) -> String {
    let report = world.poller.run_cycle().await;
    assert!(report.wrote_everything(), "{report:?}");
    let drained = world
        .poller
        .between_cycles(Instant::now() + Duration::from_millis(1_200))
        .await;
    assert!(drained.queue_errors > 0, "{drained:?}");
    assert_eq!(drained.received, 0, "{drained:?}");
    let report = world.poller.run_cycle().await;
    assert!(report.wrote_everything(), "{report:?}");
    assert_eq!(world.figures().await["updatedBy"], "poll");
    drained
        .last_error
        .expect("the drain names the queue's error")
}

/// A queue the poller's role may not read (a policy that names another
/// queue, or a key it may not use) is reported as denied, and every poll
/// still writes, on time, as it would without contact events.
#[tokio::test]
async fn a_denied_queue_is_reported_and_polls_go_on() {
    let harness = Harness::new().await;
    let (front, aws) = fault_front().await;
    let world = world_on(harness, &aws, None).await;
    front.set(AwsFault::SqsDenied).await;

    let error = polls_go_on_beside_an_unreadable_queue(&world).await;
    assert!(error.contains("AccessDenied"), "{error}");
    // Refused, the poller waits out the window instead of asking again
    // and again: one receive in its 1.2 s between the polls.
    assert_eq!(front.injected(), 1, "a denied queue is asked once per wait");

    // An event waiting on the queue all along is taken once the role may
    // read it again: a denial loses nothing.
    let now = Utc::now();
    world
        .send(&[event("QUEUED", "c1", &world.queue.arn, now, now)])
        .await;
    front.set(AwsFault::None).await;
    let drained = world
        .poller
        .between_cycles(Instant::now() + Duration::from_millis(2_500))
        .await;
    assert_eq!(drained.applied, 1, "{drained:?}");
}

/// The Connect queues of a `/v1/snapshot` answer, by queue ARN.
fn connect_queues(snapshot: &Value) -> std::collections::BTreeMap<String, Value> {
    snapshot["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| q["source"] == "connect")
        .map(|q| (q["queueId"].as_str().unwrap().to_owned(), q.clone()))
        .collect()
}

fn at(text: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// A living floor between two polls: contacts queue, are answered, abandon
/// and are transferred between queues; the events alone bring every queue
/// to what Connect itself would say, the next poll agrees, and each queue's
/// `estimateAccuracy` scores the estimates served against the true waits.
#[tokio::test]
async fn a_floor_between_polls_matches_connect_and_scores_its_estimates() {
    use standins::contact_events::{EventSender, from_move};
    use standins::simulation::{Floor, MoveKind};
    let world = world_with_queue_url(None).await;
    // Recorded from the empty dawn, so every contact's queue is known.
    let mut floor = Floor::new(5, 9, &[CONNECT_INSTANCE_ARN]);
    floor.record_contact_events();
    world.standin.set_queues(floor.connect_queues()).await;
    assert!(world.poller.run_cycle().await.wrote_everything());
    let polled_at = Utc::now();
    let served = api_get(&world.api, "/v1/snapshot", "").await;

    // WHEN five floor minutes pass, told only by their contact events
    // (placed, in order, between the poll and now)
    floor.advance(300.0);
    let moves = floor.take_contact_events();
    let span = (Utc::now() - polled_at).num_milliseconds().max(300) - 5;
    let wall =
        |t: f64| polled_at + chrono::Duration::milliseconds(1 + (t / 300.0 * span as f64) as i64);
    let bodies: Vec<Value> = moves.iter().map(|m| from_move(m, wall)).collect();
    let transfers = moves
        .iter()
        .filter(|m| m.kind == MoveKind::Queued && m.enqueued_at == m.at)
        .count();
    assert!(transfers > 0, "the floor transferred nobody");
    world.standin.set_queues(floor.connect_queues()).await;
    EventSender::new(world.sqs.clone(), &world.url)
        .send(&bodies)
        .await
        .unwrap();

    // THEN the API's figures become Connect's, queue by queue and channel
    // by channel, without a poll
    let truth: std::collections::BTreeMap<String, (u64, String)> = floor
        .connect_queues()
        .into_iter()
        .map(|q| {
            let channel = q.channels.keys().next().unwrap().clone();
            (q.arn, (q.totals["CONTACTS_IN_QUEUE"] as u64, channel))
        })
        .collect();
    let figures = |snapshot: &Value| -> std::collections::BTreeMap<String, (u64, u64)> {
        connect_queues(snapshot)
            .into_iter()
            .map(|(arn, q)| {
                let channel = &truth[&arn].1;
                let items = q["itemsInQueue"].as_u64().unwrap();
                (
                    arn,
                    (
                        items,
                        q["channels"][channel]["itemsInQueue"].as_u64().unwrap(),
                    ),
                )
            })
            .collect()
    };
    let want: std::collections::BTreeMap<String, (u64, u64)> = truth
        .iter()
        .map(|(arn, (n, _))| (arn.clone(), (*n, *n)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let moved = loop {
        world
            .poller
            .between_cycles(Instant::now() + Duration::from_millis(1_500))
            .await;
        let snapshot = api_get(&world.api, "/v1/snapshot", "").await;
        if figures(&snapshot) == want || Instant::now() > deadline {
            break snapshot;
        }
    };
    assert_eq!(figures(&moved), want);
    assert!(
        connect_queues(&moved)
            .values()
            .any(|q| q["updatedBy"] == "events")
    );

    // AND the next poll says the same, as Connect
    assert!(world.poller.run_cycle().await.wrote_everything());
    let polled = api_get(&world.api, "/v1/snapshot", "").await;
    assert_eq!(figures(&polled), want);

    // AND each queue's accuracy is the served estimate against every
    // answered contact's true wait (estimate minus wait, in seconds)
    let served = connect_queues(&served);
    let mut errors: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for body in &bodies {
        let d = &body["detail"];
        if d["eventType"] != "CONNECTED_TO_AGENT" {
            continue;
        }
        let arn = d["queueInfo"]["queueArn"].as_str().unwrap();
        let channel = d["channel"].as_str().unwrap();
        let q = &served[arn];
        let estimate = q["channels"][channel]["estimatedWaitTime"]
            .as_f64()
            .or(q["estimatedWaitTime"].as_f64())
            .expect("an estimate was served");
        let waited = (at(&d["agentInfo"]["connectedToAgentTimestamp"])
            - at(&d["queueInfo"]["enqueueTimestamp"]))
        .num_milliseconds() as f64
            / 1000.0;
        errors
            .entry(arn.to_owned())
            .or_default()
            .push(estimate - waited);
    }
    assert!(!errors.is_empty());
    for (arn, queue) in connect_queues(&polled) {
        let accuracy = &queue["estimateAccuracy"];
        let mine = errors.get(&arn).cloned().unwrap_or_default();
        assert_eq!(accuracy["contacts"], mine.len(), "{arn}: {accuracy}");
        if mine.is_empty() {
            assert!(accuracy["maeSeconds"].is_null(), "{arn}: {accuracy}");
            continue;
        }
        let n = mine.len() as f64;
        let mae = mine.iter().map(|e| e.abs()).sum::<f64>() / n;
        let bias = mine.iter().sum::<f64>() / n;
        for (field, want) in [("maeSeconds", mae), ("biasSeconds", bias)] {
            let got = accuracy[field].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 0.051,
                "{arn} {field}: {got} vs {want:.3}"
            );
        }
    }
}

/// Connect failing while its events keep coming: the carried-over queues
/// move, marked as moved by events and still stale (so their level stays
/// unknown), and the first poll that works is the truth again.
#[tokio::test]
async fn a_poll_failing_while_events_flow_moves_stale_figures() {
    let world = world_with_queue_url(None).await;
    assert!(world.poller.run_cycle().await.wrote_everything());
    let truth = world.figures().await["itemsInQueue"].as_u64().unwrap();

    // WHEN Connect is down for a poll
    world
        .standin
        .set_instance_down(CONNECT_INSTANCE, true)
        .await;
    let report = world.poller.run_cycle().await;
    assert!(
        report.sources.iter().any(|s| s.error.is_some()),
        "{report:?}"
    );
    let carried = world.figures().await;
    assert_eq!(carried["stale"], true, "{carried:#}");

    // AND a contact queues meanwhile
    let now = Utc::now();
    world
        .send(&[event("QUEUED", "d1", &world.queue.arn, now, now)])
        .await;

    // THEN it shows, on figures still marked stale
    let moved = world
        .drain_until_items(truth + 1, Duration::from_secs(20))
        .await;
    assert_eq!(moved["itemsInQueue"], truth + 1, "{moved:#}");
    assert_eq!(moved["updatedBy"], "events");
    assert_eq!(moved["stale"], true);
    assert_eq!(moved["level"], "unknown");

    // WHEN Connect is back, its figures are the truth again
    world
        .standin
        .set_instance_down(CONNECT_INSTANCE, false)
        .await;
    assert!(world.poller.run_cycle().await.wrote_everything());
    let polled = world.figures().await;
    assert_eq!(polled["itemsInQueue"], truth, "{polled:#}");
    assert_eq!(polled["updatedBy"], "poll");
    assert_eq!(polled["stale"], false);
}
