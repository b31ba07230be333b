//! Level changes end to end: the poller built by the binary's wiring →
//! EventBridge on moto → a rule → an SQS queue, read back. The announced
//! levels live in the table, so a new poller (a cold start) neither
//! repeats nor loses a change.

mod common;

use common::*;
use queue_stats::poller::Poller;
use serde_json::{Value, json};

/// `itemsInQueue` 5 / 10: queue levels the test sets by queue length.
const RULES: &str = r#"{"default": [{"metric": "itemsInQueue", "warning": 5, "critical": 10}]}"#;

/// An SQS queue on moto that a rule on the bus `bus` feeds with every
/// `queue-stats` event. SQS is spoken as JSON over reqwest: moto needs no
/// signature, only the service named in the credential scope.
struct Inbox {
    http: reqwest::Client,
    url: String,
}

impl Inbox {
    async fn sqs(http: &reqwest::Client, action: &str, body: Value) -> Value {
        let response = http
            .post(moto_endpoint())
            .header("X-Amz-Target", format!("AmazonSQS.{action}"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{action}: {}",
            response.status()
        );
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null)
    }

    async fn subscribe(sdk: &aws_config::SdkConfig, bus: &str) -> Self {
        let http = reqwest::Client::new();
        let name = unique("levels");
        let created = Self::sqs(&http, "CreateQueue", json!({"QueueName": name})).await;
        let url = created["QueueUrl"].as_str().unwrap().to_owned();
        let attributes = Self::sqs(
            &http,
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
        )
        .await;
        let arn = attributes["Attributes"]["QueueArn"]
            .as_str()
            .unwrap()
            .to_owned();
        let events = aws_sdk_eventbridge::Client::new(sdk);
        let rule = unique("level-changes");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(bus)
            .event_pattern(
                json!({"source": ["queue-stats"], "detail-type": ["Queue Level Changed"]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("inbox")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Self { http, url }
    }

    /// Every event delivered so far (each is read once).
    async fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let received = Self::sqs(
                &self.http,
                "ReceiveMessage",
                json!({"QueueUrl": self.url, "MaxNumberOfMessages": 10}),
            )
            .await;
            let messages = received["Messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for message in messages {
                all.push(serde_json::from_str(message["Body"].as_str().unwrap()).unwrap());
                Self::sqs(
                    &self.http,
                    "DeleteMessage",
                    json!({"QueueUrl": self.url, "ReceiptHandle": message["ReceiptHandle"]}),
                )
                .await;
            }
        }
    }
}

/// Symbee queues q0..q3 with these lengths.
async fn serve(harness: &Harness, lengths: [u64; 4]) {
    let mut queues = symbee_queues(4);
    for (queue, length) in queues.iter_mut().zip(lengths) {
        queue["itemsInQueue"] = json!(length);
    }
    harness.standin.set_queues(queues).await;
}

fn poller(harness: &Harness, extra: &[(&str, &str)]) -> Poller {
    let mut settings = vec![("QUEUE_LEVELS", RULES)];
    settings.extend_from_slice(extra);
    harness.poller(&settings).0
}

async fn create_bus(sdk: &aws_config::SdkConfig) -> String {
    let bus = unique("queue-stats");
    aws_sdk_eventbridge::Client::new(sdk)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    bus
}

#[tokio::test]
async fn a_held_change_is_announced_once_and_a_cold_start_does_not_repeat_it() {
    let harness = Harness::new().await;
    let bus = create_bus(&harness.sdk).await;
    let inbox = Inbox::subscribe(&harness.sdk, &bus).await;
    let settings = [("EVENT_BUS_NAME", bus.as_str())];
    let first = poller(&harness, &settings);

    // All normal: adopted without a word.
    serve(&harness, [0, 1, 2, 3]).await;
    first.run_cycle().await;
    // q1 goes critical for one poll only: a blip, not a change.
    serve(&harness, [0, 12, 2, 3]).await;
    first.run_cycle().await;
    serve(&harness, [0, 1, 2, 3]).await;
    first.run_cycle().await;
    assert!(
        inbox.events().await.is_empty(),
        "no event for a one-poll blip"
    );

    // q2 goes critical and stays: announced on the second poll, once.
    serve(&harness, [0, 1, 12, 3]).await;
    for _ in 0..4 {
        first.run_cycle().await;
    }
    let events = inbox.events().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["source"], "queue-stats");
    assert_eq!(event["detail-type"], "Queue Level Changed");
    let detail = &event["detail"];
    assert_eq!(detail["queueId"], "skill-queue-00002");
    assert_eq!(
        (detail["from"].as_str(), detail["to"].as_str()),
        (Some("normal"), Some("critical"))
    );
    assert_eq!(detail["source"], "symbee");
    assert_eq!(detail["figures"]["itemsInQueue"], 12);
    assert!(detail["eventId"].as_str().is_some_and(|id| id.len() == 36));

    // A cold start: a new poller reads the announced levels from the table.
    let second = poller(&harness, &settings);
    for _ in 0..3 {
        second.run_cycle().await;
    }
    assert!(
        inbox.events().await.is_empty(),
        "not repeated after a cold start"
    );

    // A change under way at a cold start is not lost: its hold starts again.
    serve(&harness, [0, 1, 12, 6]).await;
    let third = poller(&harness, &settings);
    let report = third.run_cycle().await;
    assert_eq!(report.events.events_sent, 0);
    let report = third.run_cycle().await;
    assert_eq!(report.events.events_sent, 1);
    let events = inbox.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["queueId"], "skill-queue-00003");
    assert_eq!(events[0]["detail"]["to"], "warning");
}

#[tokio::test]
async fn with_events_off_nothing_is_sent_or_kept() {
    let harness = Harness::new().await;
    let off = poller(
        &harness,
        &[("EVENT_BUS_NAME", ""), ("LEVEL_HOLD_CYCLES", "1")],
    );
    serve(&harness, [0, 1, 2, 3]).await;
    off.run_cycle().await;
    serve(&harness, [20, 20, 20, 20]).await;
    for _ in 0..3 {
        let report = off.run_cycle().await;
        assert_eq!(
            (report.events.events_sent, report.events.events_refused),
            (0, 0)
        );
    }
    // No announcer ran: the table holds no announced levels.
    let item = aws_sdk_dynamodb::Client::new(&harness.sdk)
        .get_item()
        .table_name(&harness.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("levels".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("announced".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(item.item().is_none());
}

#[tokio::test]
async fn a_new_queue_that_is_not_normal_is_announced_from_null() {
    let harness = Harness::new().await;
    let bus = create_bus(&harness.sdk).await;
    let inbox = Inbox::subscribe(&harness.sdk, &bus).await;
    let poller = poller(
        &harness,
        &[("EVENT_BUS_NAME", bus.as_str()), ("LEVEL_HOLD_CYCLES", "1")],
    );
    serve(&harness, [0, 7, 2, 3]).await;
    poller.run_cycle().await;
    let events = inbox.events().await;
    assert_eq!(events.len(), 1);
    assert!(events[0]["detail"]["from"].is_null());
    assert_eq!(events[0]["detail"]["to"], "warning");
}

#[tokio::test]
async fn an_unreachable_bus_loses_nothing_events_follow_when_it_is_back() {
    let harness = Harness::new().await;
    let bus = create_bus(&harness.sdk).await;
    let inbox = Inbox::subscribe(&harness.sdk, &bus).await;
    // A bus that does not exist: EventBridge refuses every entry.
    let missing = unique("no-such-bus");
    serve(&harness, [0, 1, 2, 3]).await;
    let broken = poller(
        &harness,
        &[
            ("EVENT_BUS_NAME", missing.as_str()),
            ("LEVEL_HOLD_CYCLES", "1"),
        ],
    );
    broken.run_cycle().await;
    serve(&harness, [11, 1, 2, 3]).await;
    let report = broken.run_cycle().await;
    assert_eq!(report.events.events_sent, 0);
    assert!(
        report.wrote_everything(),
        "the snapshot is written regardless"
    );
    // Back on a good bus (a redeploy): the change not yet announced is.
    let fixed = poller(
        &harness,
        &[("EVENT_BUS_NAME", bus.as_str()), ("LEVEL_HOLD_CYCLES", "1")],
    );
    let report = fixed.run_cycle().await;
    assert_eq!(report.events.events_sent, 1);
    assert_eq!(inbox.events().await.len(), 1);
}
