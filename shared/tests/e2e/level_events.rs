//! Level changes end to end: the poller built by the binary's wiring →
//! EventBridge on moto → a rule → an SQS queue, read back. The announced
//! levels live in the table, so a new poller (a cold start) neither
//! repeats nor loses a change.

use crate::common::*;
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
    // Held, not due: nothing sent, refused or waiting.
    assert_eq!(
        (
            report.events.events_sent,
            report.events.events_refused,
            report.events.events_pending
        ),
        (0, 0, 0)
    );
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
    // Due and refused, not silently skipped: counted and still pending.
    assert_eq!(report.events.events_sent, 0);
    assert!(report.events.events_refused >= 1, "{:?}", report.events);
    assert_eq!(report.events.events_pending, 1);
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

// ---- At production scale: a slow bus, a cut-off process, an outage, a shared id ----

use queue_stats::poller::CycleReport;
use standins::aws_front::{EventsFault, EventsMode, FaultProxy};
use std::time::Duration;

/// A fault front before moto, an SDK whose every call goes through it,
/// and a bus on it.
async fn front() -> (FaultProxy, aws_config::SdkConfig, String) {
    let (front, sdk) = fault_front().await;
    let bus = create_bus(&sdk).await;
    (front, sdk, bus)
}

/// Symbee queues skill-queue-00000.. with these lengths.
async fn serve_lengths(harness: &Harness, lengths: impl Iterator<Item = u64>) {
    let lengths: Vec<u64> = lengths.collect();
    let mut queues = symbee_queues(lengths.len());
    for (queue, length) in queues.iter_mut().zip(lengths) {
        queue["itemsInQueue"] = json!(length);
    }
    harness.standin.set_queues(queues).await;
}

/// Queue level events by queue id, in the order they reached the bus.
fn level_events_by_queue(events: &[Value]) -> std::collections::BTreeMap<String, Vec<Value>> {
    let mut by_queue: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for event in events.iter().filter(|e| e.get("queueId").is_some()) {
        by_queue
            .entry(format!(
                "{}:{}",
                event["source"].as_str().unwrap(),
                event["queueId"].as_str().unwrap()
            ))
            .or_default()
            .push(event.clone());
    }
    by_queue
}

fn totals(reports: &[CycleReport]) -> (usize, usize) {
    (
        reports.iter().map(|r| r.events.events_sent).sum(),
        reports.iter().map(|r| r.events.events_refused).sum(),
    )
}

#[tokio::test]
async fn a_burst_of_1500_changes_on_a_slow_bus_drains_over_cycles_each_announced_once() {
    let harness = Harness::new().await;
    let (front, sdk, bus) = front().await;
    // 50 ms a PutEvents call, as a real bus; every third entry refused.
    front
        .set_events(EventsFault {
            delay: Duration::from_millis(50),
            mode: EventsMode::Partial,
        })
        .await;
    // A second of calls a cycle, ten at a time: fewer than 1,500 fit in
    // one on moto.
    let settings = [
        ("QUEUE_LEVELS", RULES),
        ("EVENT_BUS_NAME", bus.as_str()),
        ("LEVEL_HOLD_CYCLES", "1"),
        ("EVENTS_BUDGET_MS", "1000"),
        ("EVENTS_CONCURRENCY", "10"),
    ];
    let poller = harness.poller_on(&sdk, &settings);
    serve_lengths(&harness, (0..1500).map(|_| 0)).await;
    let adopted = poller.run_cycle().await;
    assert_eq!(
        adopted.events.events_pending, 0,
        "normal queues are adopted silently"
    );

    serve_lengths(&harness, (0..1500).map(|_| 12)).await;
    let mut reports = vec![poller.run_cycle().await];
    let first = &reports[0].events;
    assert!(first.events_sent > 0, "{first:?}");
    assert!(
        first.events_pending > 0,
        "the burst does not fit one cycle: {first:?}"
    );
    assert_eq!(first.events_sent + first.events_pending, 1500, "{first:?}");
    while reports.last().unwrap().events.events_pending > 0 {
        reports.push(poller.run_cycle().await);
        assert!(reports.len() < 20, "the backlog drains by itself");
    }
    // Once more: nothing is left to say.
    let quiet = poller.run_cycle().await;
    assert_eq!(
        (quiet.events.events_sent, quiet.events.events_pending),
        (0, 0)
    );

    let (sent, refused) = totals(&reports);
    assert_eq!(sent, 1500, "the cycle reports count every accepted event");
    assert!(
        refused >= 1500 / 3,
        "refused entries are counted ({refused})"
    );
    let on_bus = front.forwarded_events();
    assert_eq!(on_bus.len(), 1500, "each change reached the bus once");
    let by_queue = level_events_by_queue(&on_bus);
    assert_eq!(by_queue.len(), 1500);
    assert!(
        by_queue
            .values()
            .all(|events| events.len() == 1 && events[0]["to"] == "critical")
    );
}

#[test]
fn a_process_stopped_mid_burst_is_resumed_by_the_next_without_repeats() {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    // The world (stand-in, fault front) on a runtime of its own, which
    // outlives the processes.
    let world = runtime();
    let (harness, front, sdk, bus) = world.block_on(async {
        let harness = Harness::new().await;
        let (front, sdk, bus) = front().await;
        serve_lengths(&harness, (0..200).map(|_| 0)).await;
        (harness, front, sdk, bus)
    });
    let settings = [
        ("QUEUE_LEVELS", RULES),
        ("EVENT_BUS_NAME", bus.as_str()),
        ("LEVEL_HOLD_CYCLES", "1"),
    ];
    // The first process: five calls go through, every later one hangs.
    let process = runtime();
    process.block_on(async {
        let first = harness.poller_on(&sdk, &settings);
        first.run_cycle().await;
        front
            .set_events(EventsFault {
                delay: Duration::from_millis(20),
                mode: EventsMode::StallAfter(5),
            })
            .await;
        serve_lengths(&harness, (0..200).map(|_| 12)).await;
        let cycle = tokio::spawn(async move { first.run_cycle().await });
        // Wait until the five accepted calls are journalled, then stop the
        // process where it stands (its other calls hang at the bus).
        let journal = aws_sdk_dynamodb::Client::new(&harness.sdk);
        loop {
            let items = journal
                .query()
                .table_name(&harness.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :j)")
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S("levels".into()),
                )
                .expression_attribute_values(
                    ":j",
                    aws_sdk_dynamodb::types::AttributeValue::S("announced#".into()),
                )
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            if items.count() >= 5 {
                break;
            }
            tokio::task::yield_now().await;
        }
        cycle.abort();
    });
    // Dropping its runtime ends every task of the first process, the
    // announcer's sender among them: the process is gone.
    drop(process);
    assert_eq!(
        front.forwarded_events().len(),
        50,
        "five calls of ten reached the bus"
    );

    runtime().block_on(async {
        front.set_events(EventsFault::default()).await;
        let next = harness.poller_on(&sdk, &settings);
        let report = next.run_cycle().await;
        assert_eq!(report.events.events_sent, 150, "{:?}", report.events);
        assert_eq!(report.events.events_pending, 0);
    });
    let by_queue = level_events_by_queue(&front.forwarded_events());
    assert_eq!(by_queue.len(), 200, "no change lost");
    assert!(
        by_queue.values().all(|events| events.len() == 1),
        "none repeated"
    );
    drop(world);
}

#[tokio::test]
async fn a_source_outage_is_one_event_down_and_one_up_and_no_queue_event() {
    let harness = Harness::new().await;
    let (front, sdk, bus) = front().await;
    let poller = harness.poller_on(
        &sdk,
        &[("QUEUE_LEVELS", RULES), ("EVENT_BUS_NAME", bus.as_str())],
    );
    // Ten queues, three of them critical, announced and settled.
    serve_lengths(&harness, (0..10).map(|i| if i < 3 { 12 } else { 0 })).await;
    for _ in 0..3 {
        poller.run_cycle().await;
    }
    assert_eq!(front.forwarded_events().len(), 3);
    // Symbee fails for three cycles, then comes back unchanged.
    harness
        .standin
        .inject([
            standins::symbee::Fault::Status { status: 503 },
            standins::symbee::Fault::Status { status: 503 },
            standins::symbee::Fault::Status { status: 503 },
        ])
        .await;
    let mut reports = Vec::new();
    for _ in 0..5 {
        reports.push(poller.run_cycle().await);
    }
    let events = front.forwarded_events()[3..].to_vec();
    assert_eq!(events.len(), 2, "{events:#?}");
    let (down, up) = (&events[0], &events[1]);
    assert_eq!(
        (
            down["source"].as_str(),
            down["from"].as_str(),
            down["to"].as_str()
        ),
        (Some("symbee"), Some("ok"), Some("error"))
    );
    assert_eq!(down["error"]["code"], "UPSTREAM_STATUS");
    assert_eq!(down["queueCount"], 10, "its queues carried over stale");
    assert_eq!(
        down["snapshotId"],
        json!(reports[1].snapshot_id),
        "announced after two failing cycles"
    );
    assert_eq!(
        (up["from"].as_str(), up["to"].as_str()),
        (Some("error"), Some("ok"))
    );
    assert!(
        events.iter().all(|e| e.get("queueId").is_none()),
        "no per-queue event"
    );
    assert_eq!(totals(&reports).0, 2);

    // After the outage only real differences are announced.
    serve_lengths(&harness, (0..10).map(|i| if i < 2 { 12 } else { 0 })).await;
    poller.run_cycle().await;
    poller.run_cycle().await;
    let events = front.forwarded_events()[5..].to_vec();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["queueId"], "skill-queue-00002");
    assert_eq!(
        (events[0]["from"].as_str(), events[0]["to"].as_str()),
        (Some("critical"), Some("normal"))
    );
}

#[tokio::test]
async fn two_sources_with_one_id_are_two_queues_through_the_whole_path() {
    use queue_stats::api::HttpRequest;
    use queue_stats::contact_flow::Status;
    use queue_stats::model::SourceName;
    use queue_stats::store::{QueueMatch, SnapshotReader};

    const SHARED: &str = "skill-queue-00001";
    let harness = Harness::new().await;
    let (front, sdk, bus) = front().await;
    let eight = EightWorld::start(&harness.sdk).await;
    // 8x8's first queue has the id of a Symbee queue, and three calls waiting.
    let mut queues = standins::eight_by_eight::synthetic_queues(3);
    queues[0].id = SHARED.into();
    queues[0].waiting = 3;
    queues[0].deleted = false;
    eight.standin.set_queues(queues).await;
    serve_lengths(&harness, (0..4).map(|_| 0)).await;
    // A rule for 8x8's queue alone; Symbee's keeps the default rules.
    let rules = format!(
        r#"{{"default": [{{"metric": "itemsInQueue", "warning": 5, "critical": 10}}],
            "queues": {{"8x8:{SHARED}": [{{"metric": "itemsInQueue", "warning": 1, "critical": 2}}]}}}}"#
    );
    let eight_settings = eight.settings();
    let mut settings = pairs(&eight_settings);
    settings.extend_from_slice(&[
        ("QUEUE_LEVELS", rules.as_str()),
        ("EVENT_BUS_NAME", bus.as_str()),
        ("LEVEL_HOLD_CYCLES", "1"),
    ]);
    let poller = harness.poller_on(&sdk, &settings);

    // Snapshot and levels: two queues, each with its own level.
    let report = poller.run_cycle().await;
    assert!(report.wrote_everything(), "{report:?}");
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    let shared: Vec<_> = snapshot
        .queues
        .iter()
        .filter(|q| q.queue_id == SHARED)
        .collect();
    assert_eq!(shared.len(), 2);
    let level_of = |source: SourceName| {
        shared
            .iter()
            .find(|q| q.source == source)
            .unwrap()
            .level
            .unwrap()
    };
    assert_eq!(
        level_of(SourceName::EightByEight),
        queue_stats::levels::Level::Critical
    );
    assert_eq!(
        level_of(SourceName::Symbee),
        queue_stats::levels::Level::Normal
    );

    // Events: 8x8's queue alone, and no word of Symbee's.
    poller.run_cycle().await;
    let events = front.forwarded_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        (events[0]["source"].as_str(), events[0]["queueId"].as_str()),
        (Some("8x8"), Some(SHARED))
    );

    // The store tells them apart.
    let store = harness.store();
    assert_eq!(
        store.latest_queue(SHARED, None).await.unwrap(),
        QueueMatch::Ambiguous(vec![SourceName::Symbee, SourceName::EightByEight])
    );
    let found = store
        .latest_queue(SHARED, Some(&SourceName::EightByEight))
        .await
        .unwrap()
        .found()
        .unwrap();
    assert_eq!(found.queue.source, SourceName::EightByEight);

    // The API: 409 without a source, each queue with one.
    let api =
        queue_stats::wiring::build_api(reader_config(&harness.table, &[]), &harness.sdk).await;
    let get = |path: &str, query: &str| HttpRequest {
        method: "GET".into(),
        raw_path: path.into(),
        raw_query: query.into(),
        ..HttpRequest::default()
    };
    let path = format!("/v1/queues/{SHARED}");
    let history = format!("{path}/history");
    for route in [&path, &history] {
        let answer = api.handle(&get(route, "")).await;
        assert_eq!(answer.status, 409, "{route}");
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["error"]["code"], "AMBIGUOUS_QUEUE");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("symbee") && message.contains("8x8"),
            "{message}"
        );
    }
    for source in ["symbee", "8x8"] {
        let answer = api.handle(&get(&path, &format!("source={source}"))).await;
        assert_eq!(answer.status, 200);
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["queue"]["source"], source);
        let answer = api
            .handle(&get(&history, &format!("source={source}")))
            .await;
        assert_eq!(answer.status, 200);
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        let points = body["points"].as_array().unwrap();
        assert_eq!(points.len(), 2, "two polls");
        assert!(points.iter().all(|p| p["queue"]["source"] == source));
    }
    let answer = api.handle(&get(&path, "source=clarity")).await;
    assert_eq!(answer.status, 404);

    // The contact flow: ambiguous without a source, each queue with one.
    let flow =
        queue_stats::wiring::build_contact_flow(reader_config(&harness.table, &[]), &harness.sdk)
            .await;
    let ask = |parameters: Value| json!({"Details": {"Parameters": parameters, "ContactData": {"Channel": "VOICE"}}});
    let answer = flow.answer(&ask(json!({"queueId": SHARED}))).await;
    assert_eq!((answer.found, answer.status), (false, Status::Ambiguous));
    let answer = flow
        .answer(&ask(json!({"queueId": SHARED, "source": "8x8"})))
        .await;
    assert_eq!(
        (answer.found, answer.status, answer.items_in_queue),
        (true, Status::Ok, Some(3))
    );
    assert_eq!(answer.level, queue_stats::levels::Level::Critical);
    let answer = flow
        .answer(&ask(json!({"queueId": format!("symbee:{SHARED}")})))
        .await;
    assert_eq!((answer.found, answer.items_in_queue), (true, Some(0)));
}
