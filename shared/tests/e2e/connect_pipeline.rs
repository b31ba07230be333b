//! End to end: the Connect stand-in (restJson1, reached by the real
//! aws-sdk-connect client) → poller → DynamoDB and Kinesis on moto.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::*;
use queue_stats::model::{EstimateSource, QueueStats, SourceState};
use queue_stats::source::QueueSource;
use queue_stats::store::SnapshotReader;
use standins::connect::{ConnectFault, ServiceLimits, StandinQueue};

const FAST_CLIENT: &[(&str, &str)] = &[
    ("CONNECT_METRICS_RATE", "200"),
    ("CONNECT_OTHER_RATE", "200"),
];

/// Asserts a normalized Connect queue says what the stand-in served.
fn assert_matches_standin(queue: &QueueStats, served: &StandinQueue) {
    assert_eq!(queue.queue_id, served.arn);
    assert_eq!(queue.queue_name, served.name);
    assert_eq!(queue.delivery_provider.as_str(), "AMAZON");
    assert_eq!(queue.task_type.as_str(), "AMAZON_ANY");
    assert_eq!(queue.open_closed_state.as_str(), "OPERATING_HOURS_UNKNOWN");
    let figure = |name: &str| {
        if served.idle {
            Some(0)
        } else {
            Some(served.totals[name] as u64)
        }
    };
    let c = &queue.counters;
    assert_eq!(c.agents_staffed, figure("AGENTS_STAFFED"), "{}", served.id);
    assert_eq!(c.agents_available, figure("AGENTS_AVAILABLE"));
    assert_eq!(c.agents_working, figure("AGENTS_ON_CONTACT"));
    assert_eq!(c.agents_in_wrap, figure("AGENTS_AFTER_CONTACT_WORK"));
    assert_eq!(c.agents_in_error, figure("AGENTS_ERROR"));
    assert_eq!(c.agents_unavailable, figure("AGENTS_NON_PRODUCTIVE"));
    assert_eq!(c.items_in_queue, figure("CONTACTS_IN_QUEUE"));
    assert_eq!(c.items_scheduled, figure("CONTACTS_SCHEDULED"));
    // Grouped by queue, Connect sends seconds: they arrive unchanged.
    assert_eq!(c.oldest_item, figure("OLDEST_CONTACT_AGE"));
    assert_eq!(
        c.items_being_delivered, None,
        "Connect has no such metric: null, not 0"
    );
    assert_eq!(queue.agents_online, figure("AGENTS_ONLINE"));
    assert_eq!(queue.slots_active, figure("SLOTS_ACTIVE"));
    assert_eq!(queue.slots_available, figure("SLOTS_AVAILABLE"));
    let channels = queue.channels.as_ref().expect("a channel breakdown");
    assert_eq!(
        channels.keys().collect::<Vec<_>>(),
        vec!["CHAT", "TASK", "VOICE"]
    );
    for (channel, counters) in channels {
        let expected = served.channels.get(channel).filter(|_| !served.idle);
        let want = |name: &str| Some(expected.map_or(0, |f| f[name] as u64));
        assert_eq!(
            counters.items_in_queue,
            want("CONTACTS_IN_QUEUE"),
            "{} {channel}",
            served.id
        );
        assert_eq!(counters.agents_staffed, want("AGENTS_STAFFED"));
        assert_eq!(counters.oldest_item, want("OLDEST_CONTACT_AGE"));
        // Connect's own estimate where it has a row for the channel, ours
        // (from the same figures) where it has none.
        match expected {
            Some(f) => {
                assert_eq!(
                    counters.estimated_wait_time,
                    Some(f["ESTIMATED_WAIT_TIME"] as u64)
                );
                assert_eq!(counters.estimated_wait_source, Some(EstimateSource::Vendor));
            }
            None => assert_eq!(counters.estimated_wait_source, Some(EstimateSource::Model)),
        }
    }
    // The queue's estimate is its worst channel's.
    let worst = channels
        .values()
        .filter_map(|c| c.estimated_wait_time)
        .max();
    assert_eq!(c.estimated_wait_time, worst, "{}", served.id);
    let intraday = queue.intraday.as_ref().expect("today's figures");
    assert_eq!(
        intraday.contacts_handled,
        Some(served.intraday["CONTACTS_HANDLED"] as u64)
    );
    assert_eq!(
        intraday.contacts_abandoned,
        Some(served.intraday["CONTACTS_ABANDONED"] as u64)
    );
    assert_eq!(
        intraday.avg_handle_time,
        Some(served.intraday["HANDLE_TIME"])
    );
    assert_eq!(
        intraday.avg_queue_answer_time,
        Some(served.intraday["QUEUE_ANSWER_TIME"])
    );
    assert_eq!(
        intraday.service_level.keys().collect::<Vec<_>>(),
        vec!["20", "60"]
    );
    assert_eq!(intraday.service_level["20"], Some(51.0));
}

async fn assert_each_queue_once(harness: &Harness, served: &[StandinQueue], symbee: usize) {
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    let connect: Vec<&QueueStats> = snapshot
        .queues
        .iter()
        .filter(|q| q.source.as_str() == "connect")
        .collect();
    assert_eq!(connect.len(), served.len());
    assert_eq!(snapshot.queues.len(), served.len() + symbee);
    let ids: HashSet<&str> = snapshot
        .queues
        .iter()
        .map(|q| q.queue_id.as_str())
        .collect();
    assert_eq!(ids.len(), snapshot.queues.len(), "every queue exactly once");
    let by_id: std::collections::HashMap<&str, &&QueueStats> =
        connect.iter().map(|q| (q.queue_id.as_str(), q)).collect();
    for served in served {
        assert_matches_standin(by_id[served.arn.as_str()], served);
    }
    let records = harness.records().await;
    assert_eq!(records.len(), served.len() + symbee);
    for (_, record) in records.iter().step_by(97) {
        assert_matches_record_schema(record);
    }
}

#[tokio::test]
async fn two_hundred_fifty_queues_every_one_once_with_its_figures() {
    // GIVEN Connect with 250 queues (every tenth idle, so without rows)
    let harness = Harness::new().await;
    let (standin, connect_sdk) = connect_standin(250, FAST_CONNECT).await;
    let source = connect_source(&connect_sdk, FAST_CLIENT);
    let poller = harness.poller_with(vec![Arc::new(source)], Duration::from_secs(10));

    // WHEN one cycle runs
    let report = poller.run_cycle().await;

    // THEN every queue is in the store and on the stream once, as served
    assert!(report.wrote_everything(), "{report:?}");
    assert_eq!(report.sources[0].status, SourceState::Ok);
    assert_each_queue_once(&harness, &standin.queues().await, 0).await;

    // AND no request named more than 100 queues, and pages were followed
    let requests = standin.log().await;
    assert!(requests.iter().all(|r| r.queues_in_filter <= 100));
    let current: Vec<_> = requests
        .iter()
        .filter(|r| r.operation == "GetCurrentMetricData")
        .collect();
    assert!(
        current.iter().any(|r| r.next_token.is_some()),
        "the channel breakdown spans pages"
    );
    assert!(current.iter().all(|r| r.groupings[0] == "QUEUE"));
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.operation == "GetMetricData")
            .count(),
        3
    );
}

#[tokio::test]
async fn five_thousand_queues_beside_symbee_within_the_budget() {
    // GIVEN Connect with 5,000 queues and Symbee reporting its skill queues
    // plus its copy of an Amazon queue
    let harness = Harness::new().await;
    harness
        .standin
        .set_queues(
            fixture("symbee/retrieve-queue-info.seed-example.json")
                .as_array()
                .unwrap()
                .clone(),
        )
        .await;
    let limits = ServiceLimits {
        metrics_rate: 100.0,
        metrics_burst: 8.0,
        other_rate: 50.0,
        other_burst: 5.0,
    };
    let (standin, connect_sdk) = connect_standin(5_000, limits).await;
    // (built by the binary's own wiring, which applies one queue, one source)
    let poller = harness.poller_with_connect(
        &connect_sdk,
        &[
            ("CONNECT_METRICS_RATE", "100"),
            ("CONNECT_METRICS_BURST", "8"),
            ("CONNECT_OTHER_RATE", "50"),
            ("CONNECT_OTHER_BURST", "5"),
            ("CONNECT_TIMEOUT_SECONDS", "60"),
            ("WRITE_TIMEOUT_MS", "60000"),
            // The budget is under test, not Symbee's pace on a loaded machine.
            ("SYMBEE_TIMEOUT_MS", "20000"),
        ],
    );

    // WHEN one cycle runs
    let report = poller.run_cycle().await;

    // THEN both sources are in one snapshot, each queue once: the Amazon
    // queue comes from Connect, Symbee's copy is dropped
    assert!(report.wrote_everything(), "{report:?}");
    assert!(
        report.sources.iter().all(|s| s.status == SourceState::Ok),
        "{report:?}"
    );
    assert_each_queue_once(&harness, &standin.queues().await, 2).await;

    // AND the client paced itself: Connect never had to throttle it
    let requests = standin.log().await;
    assert!(
        requests.iter().all(|r| r.status != 429),
        "the stand-in throttled us"
    );
    assert!(requests.iter().all(|r| r.queues_in_filter <= 100));
    let metric_calls = requests
        .iter()
        .filter(|r| r.operation != "ListQueues" && r.operation != "GetCurrentUserData")
        .count();
    assert!(
        metric_calls >= 150,
        "50 batches, totals and the breakdown: {metric_calls}"
    );
}

#[tokio::test]
async fn at_connects_real_rates_the_limiter_keeps_inside_the_budget() {
    // GIVEN the stand-in enforcing Connect's documented limits (5/s burst 8
    // for metrics, 2/s for the rest) and the client at its defaults
    let harness = Harness::new().await;
    let (standin, connect_sdk) = connect_standin(250, ServiceLimits::default()).await;
    let source = connect_source(&connect_sdk, &[]);
    let calls = source.calls();
    let poller = harness.poller_with(vec![Arc::new(source)], Duration::from_secs(10));

    let report = poller.run_cycle().await;

    assert!(report.wrote_everything(), "{report:?}");
    assert!(standin.log().await.iter().all(|r| r.status != 429));
    assert_eq!(calls.throttled.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn throttling_is_absorbed_without_losing_a_queue() {
    let harness = Harness::new().await;
    let (standin, connect_sdk) = connect_standin(250, FAST_CONNECT).await;
    standin
        .inject([
            ConnectFault::Throttle,
            ConnectFault::Throttle,
            ConnectFault::Throttle,
            ConnectFault::InternalError,
        ])
        .await;
    let source = connect_source(&connect_sdk, FAST_CLIENT);
    let calls = source.calls();
    let poller = harness.poller_with(vec![Arc::new(source)], Duration::from_secs(10));

    let report = poller.run_cycle().await;

    assert_eq!(report.sources[0].status, SourceState::Ok, "{report:?}");
    assert_eq!(calls.throttled.load(Ordering::Relaxed), 3);
    assert_each_queue_once(&harness, &standin.queues().await, 0).await;
}

#[tokio::test]
async fn a_connect_failure_is_reported_while_symbee_is_still_written() {
    let harness = Harness::new().await;
    harness.standin.set_queues(symbee_queues(3)).await;
    let (standin, connect_sdk) = connect_standin(20, FAST_CONNECT).await;
    standin
        .inject(std::iter::repeat_n(ConnectFault::InternalError, 50))
        .await;
    let poller = harness.poller_with_connect(&connect_sdk, FAST_CLIENT);

    let report = poller.run_cycle().await;

    let connect = report
        .sources
        .iter()
        .find(|s| s.source.as_str() == "connect")
        .unwrap();
    assert_eq!(connect.status, SourceState::Error);
    assert_eq!(connect.error.as_ref().unwrap().code, "UPSTREAM_STATUS");
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.queues.len(), 3);
    assert!(
        snapshot
            .queues
            .iter()
            .all(|q| q.source.as_str() == "symbee")
    );
    assert_eq!(harness.records().await.len(), 3);
}

#[tokio::test]
async fn a_slow_connect_times_out_and_is_reported() {
    let harness = Harness::new().await;
    let (standin, connect_sdk) = connect_standin(20, FAST_CONNECT).await;
    standin
        .inject([ConnectFault::Delay { millis: 3_000 }])
        .await;
    let source = connect_source(&connect_sdk, &[("CONNECT_TIMEOUT_SECONDS", "1")]);
    let poller = harness.poller_with(vec![Arc::new(source)], Duration::from_secs(10));

    let report = poller.run_cycle().await;

    assert_eq!(report.sources[0].status, SourceState::Error);
    assert_eq!(report.sources[0].error.as_ref().unwrap().code, "TIMEOUT");
}

#[tokio::test]
async fn discovery_and_intraday_are_not_repeated_every_cycle() {
    let harness = Harness::new().await;
    let (standin, connect_sdk) = connect_standin(30, FAST_CONNECT).await;
    let poller = harness.poller_with(
        vec![Arc::new(connect_source(&connect_sdk, FAST_CLIENT))],
        Duration::from_secs(10),
    );

    poller.run_cycle().await;
    let first = standin.log().await.len();
    let second = poller.run_cycle().await;

    assert!(second.wrote_everything());
    let later: Vec<_> = standin.log().await.into_iter().skip(first).collect();
    assert!(
        later.iter().all(|r| r.operation == "GetCurrentMetricData"),
        "{later:?}"
    );
    // Today's figures are still reported from the last refresh.
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert!(snapshot.queues.iter().all(|q| q.intraday.is_some()));
}

#[tokio::test]
async fn an_explicit_queue_list_narrows_what_is_polled() {
    let (standin, connect_sdk) = connect_standin(30, FAST_CONNECT).await;
    let served = standin.queues().await;
    let list = format!("{},{}", served[3].id, served[7].arn);
    let source = connect_source(
        &connect_sdk,
        &[("CONNECT_QUEUE_IDS", &list), FAST_CLIENT[0], FAST_CLIENT[1]],
    );

    let queues = source.fetch_queues().await.unwrap();

    let ids: Vec<&str> = queues.iter().map(|q| q.queue_id.as_str()).collect();
    assert_eq!(ids, vec![served[3].arn.as_str(), served[7].arn.as_str()]);
}

#[tokio::test]
async fn agent_detail_rotates_through_queues_within_its_call_budget() {
    let harness = Harness::new().await;
    let (standin, connect_sdk) = connect_standin(12, FAST_CONNECT).await;
    let source = connect_source(
        &connect_sdk,
        &[
            ("CONNECT_AGENT_DETAIL", "true"),
            ("CONNECT_AGENT_DETAIL_CALLS_PER_CYCLE", "5"),
            FAST_CLIENT[0],
            FAST_CLIENT[1],
        ],
    );
    let poller = harness.poller_with(vec![Arc::new(source)], Duration::from_secs(10));

    poller.run_cycle().await;
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();

    let user_calls = standin
        .log()
        .await
        .iter()
        .filter(|r| r.operation == "GetCurrentUserData")
        .count();
    assert_eq!(user_calls, 5);
    let with_detail: Vec<&QueueStats> = snapshot
        .queues
        .iter()
        .filter(|q| q.agents.is_some())
        .collect();
    assert_eq!(with_detail.len(), 5);
    let served = standin.queues().await;
    for queue in with_detail {
        let served = served.iter().find(|s| s.arn == queue.queue_id).unwrap();
        let detail = queue.agents.as_ref().unwrap();
        assert_eq!(
            detail.by_state.values().sum::<u64>(),
            served.agents.len() as u64
        );
        let available = served.agents.iter().filter(|a| a.0 == "Available").count() as u64;
        assert_eq!(
            detail.by_state.get("Available").copied().unwrap_or(0),
            available
        );
    }
    // The next cycle covers the next five.
    poller.run_cycle().await;
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert_eq!(
        snapshot
            .queues
            .iter()
            .filter(|q| q.agents.is_some())
            .count(),
        10
    );
}

#[tokio::test]
async fn the_stand_in_enforces_connects_hundred_queue_limit() {
    // The stand-in must refuse what Connect refuses, or the tests above
    // would prove nothing about batching.
    let (standin, connect_sdk) = connect_standin(150, FAST_CONNECT).await;
    let client = aws_sdk_connect::Client::new(&connect_sdk);
    let ids: Vec<String> = standin
        .queues()
        .await
        .iter()
        .map(|q| q.id.clone())
        .collect();
    let err = client
        .get_current_metric_data()
        .instance_id(CONNECT_INSTANCE)
        .filters(
            aws_sdk_connect::types::Filters::builder()
                .set_queues(Some(ids))
                .build(),
        )
        .current_metrics(
            aws_sdk_connect::types::CurrentMetric::builder()
                .name(aws_sdk_connect::types::CurrentMetricName::ContactsInQueue)
                .unit(aws_sdk_connect::types::Unit::Count)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_parameter_exception()),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_stand_in_refuses_an_estimated_wait_without_queue_and_channel_grouping() {
    // As Connect does: ESTIMATED_WAIT_TIME needs QUEUE and CHANNEL
    // groupings and a channel filter, which only the breakdown's calls have.
    let (standin, connect_sdk) = connect_standin(3, FAST_CONNECT).await;
    let client = aws_sdk_connect::Client::new(&connect_sdk);
    let queue = standin.queues().await.remove(1);
    use aws_sdk_connect::types::{
        Channel, CurrentMetric, CurrentMetricName, Filters, Grouping, Unit,
    };
    let ask = |groupings: Vec<Grouping>, channels: bool| {
        let mut filters = Filters::builder().queues(&queue.id);
        if channels {
            filters = filters.channels(Channel::Voice).channels(Channel::Chat);
        }
        client
            .get_current_metric_data()
            .instance_id(CONNECT_INSTANCE)
            .filters(filters.build())
            .set_groupings(Some(groupings))
            .current_metrics(
                CurrentMetric::builder()
                    .name(CurrentMetricName::EstimatedWaitTime)
                    .unit(Unit::Seconds)
                    .build(),
            )
            .send()
    };
    for (groupings, channels) in [
        (vec![Grouping::Queue], true),
        (vec![Grouping::Queue, Grouping::Channel], false),
        (vec![], true),
    ] {
        let err = ask(groupings.clone(), channels).await.unwrap_err();
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_invalid_parameter_exception()),
            "{groupings:?} {channels}: {err:?}"
        );
    }
    let output = ask(vec![Grouping::Queue, Grouping::Channel], true)
        .await
        .unwrap();
    assert_eq!(output.metric_results().len(), 2, "one row per channel");
}

#[tokio::test]
async fn with_the_breakdown_off_every_estimate_is_the_models() {
    let harness = Harness::new().await;
    let (standin, connect_sdk) = connect_standin(20, FAST_CONNECT).await;
    let poller = harness.poller_with_connect(
        &connect_sdk,
        &[
            ("CONNECT_CHANNEL_BREAKDOWN", "false"),
            ("CONNECT_METRICS_RATE", "200"),
            ("CONNECT_OTHER_RATE", "200"),
        ],
    );
    let report = poller.run_cycle().await;
    assert!(report.wrote_everything(), "{report:?}");
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    let connect: Vec<&QueueStats> = snapshot
        .queues
        .iter()
        .filter(|q| q.source.as_str() == "connect")
        .collect();
    assert_eq!(connect.len(), 20);
    for queue in connect {
        assert!(queue.channels.is_none());
        assert_eq!(
            queue.counters.estimated_wait_source,
            Some(EstimateSource::Model),
            "{}",
            queue.queue_id
        );
        assert!(queue.counters.estimated_wait_time.is_some());
    }
    let requests = standin.log().await;
    assert!(
        requests
            .iter()
            .filter(|r| r.operation == "GetCurrentMetricData")
            .all(|r| r.groupings == vec!["QUEUE"])
    );
}

#[tokio::test]
async fn ungrouped_oldest_contact_age_comes_in_milliseconds_as_from_connect() {
    let (standin, connect_sdk) = connect_standin(3, FAST_CONNECT).await;
    let client = aws_sdk_connect::Client::new(&connect_sdk);
    let queue = standin.queues().await.remove(1);
    let output = client
        .get_current_metric_data()
        .instance_id(CONNECT_INSTANCE)
        .filters(
            aws_sdk_connect::types::Filters::builder()
                .queues(&queue.id)
                .build(),
        )
        .current_metrics(
            aws_sdk_connect::types::CurrentMetric::builder()
                .name(aws_sdk_connect::types::CurrentMetricName::OldestContactAge)
                .unit(aws_sdk_connect::types::Unit::Seconds)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let value = output.metric_results()[0].collections()[0].value().unwrap();
    assert_eq!(value, queue.totals["OLDEST_CONTACT_AGE"] * 1000.0);
    assert_eq!(
        queue_stats::source::connect::mapping::age_seconds(value, false),
        queue.totals["OLDEST_CONTACT_AGE"] as u64
    );
}
