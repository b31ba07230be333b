//! The contact-flow Lambda end to end: Connect events (from the fixture) →
//! handler → DynamoDB on moto, with snapshots written by the real store.

use crate::common::*;
use aws_config::SdkConfig;
use chrono::Duration;
use lambda_runtime::{Context, LambdaEvent};
use queue_stats::contact_flow::{ATTRIBUTES, Attributes, ContactFlowLookup};
use queue_stats::handlers::contact_flow::handle;
use queue_stats::model::Snapshot;
use queue_stats::wiring::build_contact_flow;
use serde_json::{Value, json};

async fn lookup_over(snapshots: &[Snapshot]) -> (SdkConfig, ContactFlowLookup) {
    let sdk = sdk_config().await;
    let table = table_with(&sdk, snapshots).await;
    let lookup = build_contact_flow(reader_config(&table, &[]), &sdk).await;
    (sdk, lookup)
}

fn event_for(queue_id: Option<&str>) -> Value {
    let mut event = fixture("events/connect-contact-flow.json");
    match queue_id {
        Some(id) => event["Details"]["Parameters"]["queueId"] = json!(id),
        None => {
            event["Details"]["Parameters"]
                .as_object_mut()
                .unwrap()
                .remove("queueId");
        }
    }
    event
}

async fn invoke(
    lookup: &ContactFlowLookup,
    event: Value,
) -> std::collections::BTreeMap<String, String> {
    let answer: Attributes = handle(LambdaEvent::new(event, Context::default()), lookup)
        .await
        .unwrap();
    // What Lambda sends back to Connect: the answer as JSON.
    let attributes: std::collections::BTreeMap<String, String> =
        serde_json::from_value(serde_json::to_value(answer).unwrap()).unwrap();
    // Every attribute, always, so a flow can reference any of them.
    let keys: Vec<&str> = attributes.keys().map(String::as_str).collect();
    let mut expected = ATTRIBUTES.to_vec();
    expected.sort();
    assert_eq!(keys, expected);
    attributes
}

#[test]
fn the_fixture_is_the_event_shape_aws_documents() {
    let event: aws_lambda_events::connect::ConnectEvent =
        serde_json::from_value(fixture("events/connect-contact-flow.json")).unwrap();
    assert_eq!(event.details.parameters["queueId"], "email-customer-care");
}

#[tokio::test]
async fn a_known_queue_is_answered_with_its_figures() {
    let snapshot = seed_snapshot(Duration::seconds(2));
    let (_, lookup) = lookup_over(std::slice::from_ref(&snapshot)).await;

    let answer = invoke(&lookup, event_for(Some("email-customer-care"))).await;

    assert_eq!(answer["found"], "true");
    assert_eq!(answer["status"], "ok");
    assert_eq!(answer["stale"], "false");
    assert_eq!(answer["queueId"], "email-customer-care");
    assert_eq!(answer["queueName"], "Email Customer Care");
    assert_eq!(answer["openClosedState"], "OPERATING_HOURS_OPEN");
    assert_eq!(answer["itemsInQueue"], "27");
    assert_eq!(answer["oldestItem"], "0");
    assert_eq!(answer["agentsAvailable"], "0");
    assert_eq!(answer["agentsStaffed"], "10");
    assert_eq!(answer["agentsWorking"], "5");
    assert_eq!(answer["agentsInWrap"], "2");
    assert_eq!(
        answer["observedAt"],
        queue_stats::model::format_rfc3339(&snapshot.observed_at)
    );
    assert!(answer["ageSeconds"].parse::<u64>().unwrap() <= 3);
    // Written without levels (as before they existed): unknown, never a guess.
    assert_eq!(answer["level"], "unknown");
}

#[tokio::test]
async fn the_queues_level_is_answered_and_stale_figures_are_unknown() {
    use queue_stats::levels::Level;
    let mut fresh = seed_snapshot(Duration::seconds(2));
    for queue in &mut fresh.queues {
        queue.level = Some(Level::Critical);
    }
    let (_, lookup) = lookup_over(std::slice::from_ref(&fresh)).await;
    let answer = invoke(&lookup, event_for(Some("email-customer-care"))).await;
    assert_eq!(answer["level"], "critical");

    let mut old = seed_snapshot(Duration::minutes(10));
    for queue in &mut old.queues {
        queue.level = Some(Level::Critical);
    }
    let (_, lookup) = lookup_over(std::slice::from_ref(&old)).await;
    let answer = invoke(&lookup, event_for(Some("email-customer-care"))).await;
    assert_eq!(answer["status"], "stale");
    assert_eq!(answer["level"], "unknown");
}

#[tokio::test]
async fn without_a_parameter_the_contacts_current_queue_is_used() {
    let (_, lookup) = lookup_over(&[seed_snapshot(Duration::seconds(1))]).await;

    let answer = invoke(&lookup, event_for(None)).await;

    assert_eq!(answer["found"], "true");
    assert_eq!(answer["queueId"], SEED_ARN);
    assert_eq!(answer["queueName"], "Customer Care Inbound");
    assert_eq!(answer["itemsInQueue"], "5");
    assert_eq!(answer["oldestItem"], "125");
}

#[tokio::test]
async fn a_bare_connect_queue_id_finds_the_arn() {
    let (_, lookup) = lookup_over(&[seed_snapshot(Duration::seconds(1))]).await;
    let bare = SEED_ARN.rsplit('/').next().unwrap();

    let answer = invoke(&lookup, event_for(Some(bare))).await;

    assert_eq!(answer["found"], "true");
    assert_eq!(answer["queueId"], SEED_ARN);
}

#[tokio::test]
async fn an_unknown_queue_is_not_found_not_an_error() {
    let (_, lookup) = lookup_over(&[seed_snapshot(Duration::seconds(1))]).await;

    let answer = invoke(&lookup, event_for(Some("no-such-queue"))).await;

    assert_eq!(answer["found"], "false");
    assert_eq!(answer["status"], "not_found");
    assert_eq!(answer["queueId"], "no-such-queue");
    assert_eq!(answer["itemsInQueue"], "");
}

#[tokio::test]
async fn old_figures_are_stale() {
    let (_, lookup) = lookup_over(&[seed_snapshot(Duration::minutes(5))]).await;

    let answer = invoke(&lookup, event_for(Some("email-customer-care"))).await;

    assert_eq!(answer["found"], "true");
    assert_eq!(answer["status"], "stale");
    assert_eq!(answer["stale"], "true");
    assert!(answer["ageSeconds"].parse::<u64>().unwrap() >= 300);
}

#[tokio::test]
async fn figures_carried_over_from_a_failed_source_are_stale_with_their_own_age() {
    let mut snapshot = seed_snapshot(Duration::seconds(1));
    let as_of = snapshot.observed_at - Duration::minutes(10);
    for queue in &mut snapshot.queues {
        queue.stale = true;
        queue.as_of = Some(as_of);
    }
    let (_, lookup) = lookup_over(&[snapshot]).await;

    let answer = invoke(&lookup, event_for(Some("sms-customer-care"))).await;

    assert_eq!(answer["status"], "stale");
    assert_eq!(
        answer["observedAt"],
        queue_stats::model::format_rfc3339(&as_of)
    );
    assert!(answer["ageSeconds"].parse::<u64>().unwrap() >= 600);
}

#[tokio::test]
async fn a_store_failure_is_unavailable() {
    let sdk = sdk_config().await;
    let lookup = build_contact_flow(reader_config(&unique("no-such-table"), &[]), &sdk).await;

    let answer = invoke(&lookup, event_for(Some("email-customer-care"))).await;

    assert_eq!(answer["found"], "false");
    assert_eq!(answer["status"], "unavailable");
}

#[tokio::test]
async fn malformed_events_are_answered_not_found_never_a_panic() {
    let (_, lookup) = lookup_over(&[seed_snapshot(Duration::seconds(1))]).await;
    let mut null_queue = event_for(None);
    null_queue["Details"]["ContactData"]["Queue"] = Value::Null;
    let mut numeric_param = event_for(None);
    numeric_param["Details"]["Parameters"]["queueId"] = json!(42);
    numeric_param["Details"]["ContactData"]["Queue"] = Value::Null;
    let long = "q".repeat(2000);
    for event in [
        json!({}),
        json!([]),
        json!(null),
        json!({"Details": "nope"}),
        null_queue,
        numeric_param,
        event_for(Some("   ")).pointer("/Details").cloned().unwrap(),
        event_for(Some(&long)),
        event_for(Some("bad\u{0}id")),
    ] {
        let answer = invoke(&lookup, event.clone()).await;
        assert_eq!(answer["status"], "not_found", "{event}");
        assert_eq!(answer["found"], "false");
    }
}

#[tokio::test]
async fn a_hung_store_is_unavailable_within_the_read_timeout() {
    let sdk = black_hole_sdk().await;
    let lookup = build_contact_flow(
        reader_config("snapshots", &[("READ_TIMEOUT_MS", "300")]),
        &sdk,
    )
    .await;

    // A watchdog, not a speed assertion: a broken bound would hang the test.
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        invoke(&lookup, event_for(Some("email-customer-care"))),
    )
    .await
    .expect("the lookup must not hang");

    assert_eq!(answer["status"], "unavailable");
}

/// Payloads the Lambda runtime cannot parse into JSON at all.
fn unreadable_payloads() -> Vec<(&'static str, Vec<u8>)> {
    let fixture = serde_json::to_vec(&fixture("events/connect-contact-flow.json")).unwrap();
    vec![
        ("empty", Vec::new()),
        ("truncated", fixture[..fixture.len() / 2].to_vec()),
        ("invalid UTF-8", b"{\"Details\":\"\xff\xfe\"}".to_vec()),
        ("nested past the depth limit", {
            let mut deep = "[".repeat(10_000).into_bytes();
            deep.extend("]".repeat(10_000).into_bytes());
            deep
        }),
        ("not JSON", b"Details=1".to_vec()),
    ]
}

#[test]
fn the_guard_flags_exactly_what_the_runtime_cannot_parse() {
    use queue_stats::handlers::contact_flow::readable;
    for (what, payload) in unreadable_payloads() {
        assert!(serde_json::from_slice::<Value>(&payload).is_err(), "{what}");
        assert!(readable(&payload).is_err(), "{what}");
    }
    let fixture = serde_json::to_vec(&fixture("events/connect-contact-flow.json")).unwrap();
    assert!(readable(&fixture).is_ok());
    // Nesting the runtime still parses is let through untouched.
    let within = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(serde_json::from_slice::<Value>(within.as_bytes()).is_ok());
    assert!(readable(within.as_bytes()).is_ok());
}

#[tokio::test]
async fn an_unreadable_event_still_gets_the_full_attribute_map() {
    use lambda_runtime::tower::{Layer, Service, ServiceExt, service_fn};
    use lambda_runtime::{Context, LambdaInvocation};
    use queue_stats::handlers::contact_flow::AnyPayloadLayer;
    use std::sync::{Arc, Mutex};

    let (_, lookup) = lookup_over(&[seed_snapshot(Duration::seconds(1))]).await;
    let lookup = Arc::new(lookup);
    for (what, payload) in unreadable_payloads() {
        // The inner service stands where the runtime's own parsing and our
        // handler sit: it parses the body as the runtime would.
        let answered = Arc::new(Mutex::new(None));
        let (seen, lookup) = (answered.clone(), lookup.clone());
        let inner = service_fn(move |invocation: LambdaInvocation| {
            let (seen, lookup) = (seen.clone(), lookup.clone());
            async move {
                let event: Value = serde_json::from_slice(&invocation.body)?;
                *seen.lock().unwrap() = Some(invoke(&lookup, event).await);
                Ok::<(), lambda_runtime::Error>(())
            }
        });
        let invocation = LambdaInvocation {
            parts: aws_lambda_events::http::Response::new(()).into_parts().0,
            body: payload.into(),
            context: Context::default(),
        };
        AnyPayloadLayer
            .layer(inner)
            .ready()
            .await
            .unwrap()
            .call(invocation)
            .await
            .unwrap_or_else(|err| panic!("{what}: {err}"));
        let answer = answered.lock().unwrap().take().expect("answered");
        assert_eq!(answer["status"], "not_found", "{what}");
        assert_eq!(answer["found"], "false", "{what}");
    }
}

/// A fresh snapshot of queues named by id, each with its estimated wait
/// (`None`: no estimate), waiting contacts and free agents.
fn snapshot_of(queues: &[(&str, Option<u64>, u64, u64)]) -> Snapshot {
    use queue_stats::model::{
        DeliveryProvider, EstimateSource, OpenClosedState, QueueStats, SourceName, TaskType,
    };
    let mut snapshot = seed_snapshot(Duration::seconds(1));
    snapshot.queues = queues
        .iter()
        .map(|(id, wait, waiting, free)| {
            let mut q = QueueStats::new(
                SourceName::Connect,
                *id,
                format!("Queue {id}"),
                DeliveryProvider::Amazon,
                TaskType::AmazonAny,
                OpenClosedState::OperatingHoursOpen,
            );
            q.counters.items_in_queue = Some(*waiting);
            q.counters.agents_available = Some(*free);
            q.counters.estimated_wait_time = *wait;
            q.counters.estimated_wait_source = wait.map(|_| EstimateSource::Model);
            q
        })
        .collect();
    snapshot
}

fn event_with(parameters: Value, channel: &str) -> Value {
    let mut event = fixture("events/connect-contact-flow.json");
    event["Details"]["Parameters"] = parameters;
    event["Details"]["ContactData"]["Channel"] = json!(channel);
    event
}

#[tokio::test]
async fn the_estimated_wait_is_the_contacts_own_channels_for_voice_and_chat() {
    use queue_stats::model::Counters;
    let mut snapshot = snapshot_of(&[("sales", Some(90), 7, 0)]);
    let channel = |wait| Counters {
        estimated_wait_time: Some(wait),
        ..Counters::default()
    };
    snapshot.queues[0].channels = Some(
        [
            ("VOICE".to_owned(), channel(40)),
            ("CHAT".to_owned(), channel(90)),
        ]
        .into(),
    );
    let (_, lookup) = lookup_over(&[snapshot]).await;

    for (channel, wait) in [("VOICE", "40"), ("CHAT", "90"), ("TASK", "90"), ("", "90")] {
        let answer = invoke(&lookup, event_with(json!({"queueId": "sales"}), channel)).await;
        assert_eq!(answer["estimatedWaitTime"], wait, "{channel}");
        assert_eq!(answer["bestQueueId"], "", "no queueIds asked: no best");
    }
}

#[tokio::test]
async fn the_best_of_several_queues_skips_unknown_stale_and_unestimated_ones() {
    let mut snapshot = snapshot_of(&[
        ("a", Some(120), 9, 1),
        ("b", Some(10), 0, 3),
        ("c", Some(45), 4, 1),
        ("d", None, 0, 5),
        ("e", Some(45), 4, 4),
    ]);
    // b's figures are carried over from a failed poll: never the best.
    snapshot.queues[1].stale = true;
    snapshot.queues[1].as_of = Some(snapshot.observed_at - Duration::minutes(10));
    let (_, lookup) = lookup_over(&[snapshot]).await;

    let answer = invoke(
        &lookup,
        event_with(
            json!({"queueId": "a", "queueIds": "a, b,c,d, no-such-queue ,e,c"}),
            "VOICE",
        ),
    )
    .await;

    // queueId keeps its meaning.
    assert_eq!(answer["queueId"], "a");
    assert_eq!(answer["estimatedWaitTime"], "120");
    // c and e tie on 45 s; e has fewer waiting per free agent.
    assert_eq!(answer["bestQueueId"], "e");
    assert_eq!(answer["bestQueueName"], "Queue e");
    assert_eq!(answer["bestEstimatedWaitTime"], "45");
    assert_eq!(
        answer["bestWaitPercent"], "38",
        "45 s of this queue's 120 s"
    );

    // Without queueId, the contact's queue is answered (not in this
    // snapshot), and the best still comes from the list.
    let answer = invoke(&lookup, event_with(json!({"queueIds": "a,c"}), "CHAT")).await;
    assert_eq!(answer["found"], "false");
    assert_eq!(answer["bestQueueId"], "c");

    // Nothing usable: empty, never a guess.
    let answer = invoke(&lookup, event_with(json!({"queueIds": "b,d,zzz"}), "CHAT")).await;
    assert_eq!(answer["bestQueueId"], "");
    assert_eq!(answer["bestEstimatedWaitTime"], "");
}
