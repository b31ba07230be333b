//! Connect contact events between polls, end to end: the real SQS client
//! against moto's SQS, the wired poller against the Connect stand-in, the
//! API reading what the interim snapshots wrote.

use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, SecondsFormat, Utc};
use queue_stats::wiring::build_api;
use serde_json::Value;
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
    let poller = harness.poller_with_connect(
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
    let report = world.poller.run_cycle().await;
    assert!(report.wrote_everything(), "{report:?}");
    let drained = world
        .poller
        .between_cycles(Instant::now() + Duration::from_millis(1_200))
        .await;
    assert!(drained.queue_errors > 0, "{drained:?}");
    assert!(drained.last_error.is_some());
    let report = world.poller.run_cycle().await;
    assert!(report.wrote_everything(), "{report:?}");
    assert_eq!(world.figures().await["updatedBy"], "poll");
}
