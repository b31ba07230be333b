//! Several Amazon Connect instances in several Regions, one stack: the
//! Connect stand-in holding three instances (two in us-east-1, one in
//! us-west-2) and refusing requests signed for the wrong Region → the
//! poller built by the binary's own wiring from `CONNECT_INSTANCES` →
//! DynamoDB and Kinesis on moto → the contact flow's lookup.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::common::*;
use lambda_runtime::{Context, LambdaEvent};
use queue_stats::contact_flow::Attributes;
use queue_stats::handlers::contact_flow::handle;
use queue_stats::model::{QueueStats, Snapshot, SourceState};
use queue_stats::poller::Poller;
use queue_stats::store::SnapshotReader;
use queue_stats::wiring::build_contact_flow;
use serde_json::json;
use standins::connect::{ConnectStandin, ServiceLimits, StandinInstance, synthetic_queues};

const ACCOUNT: &str = "123456789012";

/// (id, Region, alias) of each instance, in `CONNECT_INSTANCES` order.
const INSTANCES: [(&str, &str, &str); 3] = [
    (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "us-east-1",
        "sales-east",
    ),
    (
        "bbbbbbbb-0000-4000-8000-000000000002",
        "us-east-1",
        "support-east",
    ),
    (
        "cccccccc-0000-4000-8000-000000000003",
        "us-west-2",
        "support-west",
    ),
];

fn instance_arn(id: &str, region: &str) -> String {
    format!("arn:aws:connect:{region}:{ACCOUNT}:instance/{id}")
}

fn instances_setting() -> String {
    INSTANCES
        .iter()
        .map(|(id, region, _)| instance_arn(id, region))
        .collect::<Vec<_>>()
        .join(",")
}

/// Three instances with `queues` queues each (ids unique across them, as
/// Connect's UUIDs are), behind one endpoint that checks each request's
/// Region.
async fn three_instances(
    queues: usize,
    limits: ServiceLimits,
) -> (ConnectStandin, aws_config::SdkConfig) {
    let standin = ConnectStandin::start_instances(
        "127.0.0.1:0".parse().unwrap(),
        INSTANCES
            .iter()
            .map(|(id, region, alias)| StandinInstance::new(id, region, alias))
            .collect(),
        limits,
    )
    .await
    .unwrap();
    for (id, region, _) in INSTANCES {
        let arn = instance_arn(id, region);
        let served = synthetic_queues(&arn, queues)
            .into_iter()
            .map(|mut queue| {
                queue.id = format!("{}{}", &id[..8], &queue.id[8..]);
                queue.arn = format!("{arn}/queue/{}", queue.id);
                queue
            })
            .collect();
        standin.set_instance_queues(id, served).await;
    }
    // The function's own Region is a third one: every client must sign
    // for its instance's Region, never the function's.
    let sdk = sdk_at(&standin.endpoint(), "eu-west-1").await;
    (standin, sdk)
}

fn poller(harness: &Harness, sdk: &aws_config::SdkConfig, extra: &[(&str, &str)]) -> Poller {
    let instances = instances_setting();
    let mut settings = vec![
        ("CONNECT_INSTANCES", instances.as_str()),
        ("CONNECT_TIME_ZONE", zone_in_daytime()),
        ("CONNECT_TIMEOUT_SECONDS", "30"),
    ];
    settings.extend_from_slice(extra);
    harness.poller_with_connect_settings(sdk, &settings)
}

const FAST: &[(&str, &str)] = &[
    ("CONNECT_METRICS_RATE", "200"),
    ("CONNECT_METRICS_BURST", "20"),
    ("CONNECT_OTHER_RATE", "200"),
    ("CONNECT_OTHER_BURST", "20"),
];

fn fast_limits() -> ServiceLimits {
    ServiceLimits {
        metrics_rate: 400.0,
        metrics_burst: 40.0,
        other_rate: 400.0,
        other_burst: 40.0,
    }
}

/// The Connect instances' entries of a cycle (the harness's Symbee source
/// is beside the point here, and slow on a loaded machine).
fn connect_statuses(
    report: &queue_stats::poller::CycleReport,
) -> impl Iterator<Item = &queue_stats::model::SourceStatus> {
    report.sources.iter().filter(|s| s.instance.is_some())
}

/// All three instances answered this cycle.
fn every_instance_ok(report: &queue_stats::poller::CycleReport) -> bool {
    let statuses: Vec<_> = connect_statuses(report).collect();
    statuses.len() == INSTANCES.len() && statuses.iter().all(|s| s.status == SourceState::Ok)
}

fn connect_queues(snapshot: &Snapshot) -> Vec<&QueueStats> {
    snapshot
        .queues
        .iter()
        .filter(|q| q.source.as_str() == "connect")
        .collect()
}

#[tokio::test]
async fn three_instances_in_two_regions_are_one_snapshot() {
    // GIVEN three instances in two Regions, 40 queues each
    let harness = Harness::new().await;
    let (standin, sdk) = three_instances(40, fast_limits()).await;
    let poller = poller(&harness, &sdk, FAST);

    // WHEN one cycle runs
    let report = poller.run_cycle().await;

    // THEN one snapshot holds every queue of every instance once, each
    // with its ARN, instance, Region and alias
    assert!(report.wrote_everything(), "{report:?}");
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    let connect = connect_queues(&snapshot);
    assert_eq!(connect.len(), 3 * 40);
    for (id, region, alias) in INSTANCES {
        let served = standin.instance_queues(id).await;
        let mine: HashMap<&str, &&QueueStats> = connect
            .iter()
            .filter(|q| q.instance.as_ref().unwrap().instance_id == id)
            .map(|q| (q.queue_id.as_str(), q))
            .collect();
        assert_eq!(mine.len(), 40, "{id}");
        for queue in &served {
            let stats = mine[queue.arn.as_str()];
            assert!(stats.queue_id.starts_with(&instance_arn(id, region)));
            let instance = stats.instance.as_ref().unwrap();
            assert_eq!(
                (instance.region.as_str(), instance.instance_alias.as_str()),
                (region, alias)
            );
            assert_eq!(stats.queue_name, queue.name);
        }
        // AND one `sources` entry per instance, each ok
        let entries: Vec<_> = snapshot
            .sources
            .iter()
            .filter(|s| s.instance.as_ref().is_some_and(|i| i.instance_id == id))
            .collect();
        assert_eq!(entries.len(), 1, "{id}");
        assert_eq!(entries[0].status, SourceState::Ok);
        assert_eq!(entries[0].queue_count, 40);
        assert_eq!(entries[0].instance.as_ref().unwrap().region, region);
    }

    // AND every request was signed for its instance's Region (the stand-in
    // refuses any other with 403), none went astray
    let requests = standin.log().await;
    assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");
    for (id, region, _) in INSTANCES {
        assert!(
            requests
                .iter()
                .filter(|r| r.instance == id)
                .all(|r| r.region == region)
        );
        // DescribeInstance once per instance
        assert_eq!(
            requests
                .iter()
                .filter(|r| r.instance == id && r.operation == "DescribeInstance")
                .count(),
            1
        );
    }

    // AND the records carry the instance too
    let records = harness.records().await;
    assert_eq!(records.len(), 3 * 40);
    let west = records
        .iter()
        .find(|(_, r)| r["queue"]["region"] == "us-west-2")
        .expect("a record of the us-west-2 instance");
    assert_eq!(west.1["queue"]["instanceAlias"], "support-west");
    assert_matches_record_schema(&west.1);
}

#[tokio::test]
async fn a_failing_instance_carries_only_its_own_queues() {
    // GIVEN a first good cycle of all three instances
    let harness = Harness::new().await;
    let (standin, sdk) = three_instances(10, fast_limits()).await;
    let poller = poller(
        &harness,
        &sdk,
        &[FAST, &[("CONNECT_TIMEOUT_SECONDS", "3")]].concat(),
    );
    assert!(poller.run_cycle().await.wrote_everything());

    // WHEN the us-west-2 instance answers 500 to everything
    let (west, _, _) = INSTANCES[2];
    standin.set_instance_down(west, true).await;
    let report = poller.run_cycle().await;

    // THEN only its entry is an error, only its queues are stale (carried
    // with their own time), and the other instances are fresh
    assert!(report.wrote_everything(), "{report:?}");
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    for status in snapshot.sources.iter().filter(|s| s.instance.is_some()) {
        let id = &status.instance.as_ref().unwrap().instance_id;
        let expected = if id == west {
            SourceState::Error
        } else {
            SourceState::Ok
        };
        assert_eq!(status.status, expected, "{id}");
        assert_eq!(status.queue_count, 10, "{id}");
    }
    let west_status = snapshot
        .sources
        .iter()
        .find(|s| s.instance.as_ref().is_some_and(|i| i.instance_id == west))
        .unwrap();
    // (its retries answered 500 until the cycle's budget ended them)
    let code = &west_status.error.as_ref().unwrap().code;
    assert!(code == "UPSTREAM_STATUS" || code == "TIMEOUT", "{code}");
    for queue in connect_queues(&snapshot) {
        let is_west = queue.instance.as_ref().unwrap().instance_id == west;
        assert_eq!(queue.stale, is_west, "{}", queue.queue_id);
        assert_eq!(queue.as_of.is_some(), is_west);
    }

    // AND /v1/health names each instance
    let api =
        queue_stats::wiring::build_api(reader_config(&harness.table, &[]), &harness.sdk).await;
    let health = api_get(&api, "/v1/health", "").await;
    let instances: Vec<(String, String)> = health["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["source"] == "connect")
        .map(|s| {
            (
                s["instanceId"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(instances.len(), 3);
    assert!(instances.contains(&(west.to_owned(), "error".to_owned())));

    // AND ?instanceId= narrows the snapshot to those instances' queues
    let (east, _, _) = INSTANCES[0];
    let only = api_get(
        &api,
        "/v1/snapshot",
        &format!("instanceId={east}&instanceId={west}"),
    )
    .await;
    let queues = only["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 20);
    assert!(
        queues
            .iter()
            .all(|q| q["instanceId"] == east || q["instanceId"] == west)
    );

    // AND when it is back its queues are fresh again
    standin.set_instance_down(west, false).await;
    let report = poller.run_cycle().await;
    assert!(every_instance_ok(&report), "{report:?}");
}

#[tokio::test]
async fn instances_in_one_region_share_its_budget() {
    // GIVEN the stand-in enforcing Connect's documented limits per Region
    // (5/s burst 8 for metrics, 2/s burst 5 for the rest) and the client
    // at its defaults (4.5/s burst 6, 1.8/s burst 2): two instances in
    // us-east-1 would exceed it together if each paced itself alone
    let harness = Harness::new().await;
    let (standin, sdk) = three_instances(250, ServiceLimits::default()).await;
    let poller = poller(
        &harness,
        &sdk,
        &[
            ("CONNECT_TIMEOUT_SECONDS", "60"),
            ("WRITE_TIMEOUT_MS", "30000"),
        ],
    );

    // WHEN one cycle runs
    let report = poller.run_cycle().await;

    // THEN every instance answered and Connect never had to throttle us
    assert!(every_instance_ok(&report), "{report:?}");
    let requests = standin.log().await;
    assert!(
        requests.iter().all(|r| r.status != 429),
        "the stand-in throttled us"
    );
    // AND in no one-second window did one Region's metrics requests exceed
    // Connect's rate plus its burst (counted at the stand-in)
    for region in ["us-east-1", "us-west-2"] {
        let times: Vec<std::time::Instant> = requests
            .iter()
            .filter(|r| r.region == region && r.operation.contains("MetricData"))
            .map(|r| r.at)
            .collect();
        assert!(
            times.len() > 8,
            "{region}: enough requests to test the budget"
        );
        let busiest = times
            .iter()
            .map(|start| {
                times
                    .iter()
                    .filter(|t| **t >= *start && t.duration_since(*start) < Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap();
        assert!(
            busiest <= 5 + 8,
            "{region}: {busiest} requests in one second"
        );
    }
}

#[tokio::test]
async fn without_describe_instance_the_alias_is_the_id_and_polling_goes_on() {
    // GIVEN a role without connect:DescribeInstance
    let harness = Harness::new().await;
    let (standin, sdk) = three_instances(5, fast_limits()).await;
    standin.deny_describe(true);
    let poller = poller(&harness, &sdk, FAST);

    // WHEN two cycles run
    assert!(poller.run_cycle().await.wrote_everything());
    let report = poller.run_cycle().await;

    // THEN every instance is polled, named by its id, and the refusal is
    // not asked again every cycle
    assert!(every_instance_ok(&report), "{report:?}");
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    for queue in connect_queues(&snapshot) {
        let instance = queue.instance.as_ref().unwrap();
        assert_eq!(instance.instance_alias, instance.instance_id);
    }
    let describes = standin
        .log()
        .await
        .iter()
        .filter(|r| r.operation == "DescribeInstance")
        .count();
    assert_eq!(describes, 3, "once per instance, not per cycle");
}

#[tokio::test]
async fn the_contact_flow_answers_for_a_queue_of_the_second_region() {
    // GIVEN a snapshot of all three instances
    let harness = Harness::new().await;
    let (standin, sdk) = three_instances(5, fast_limits()).await;
    assert!(
        poller(&harness, &sdk, FAST)
            .run_cycle()
            .await
            .wrote_everything()
    );
    let (west, west_region, _) = INSTANCES[2];
    let queue = standin.instance_queues(west).await.remove(3);

    // WHEN a contact flow of that instance asks for one of its queues,
    // by ARN and by bare id
    let lookup = build_contact_flow(reader_config(&harness.table, &[]), &harness.sdk).await;
    for asked in [queue.arn.as_str(), queue.id.as_str()] {
        let mut event = fixture("events/connect-contact-flow.json");
        event["Details"]["Parameters"] = json!({ "queueId": asked });
        let answer: Attributes = handle(LambdaEvent::new(event, Context::default()), &lookup)
            .await
            .unwrap();
        let answer: BTreeMap<String, String> =
            serde_json::from_value(serde_json::to_value(answer).unwrap()).unwrap();

        // THEN it is found, with that queue's figures
        assert_eq!(answer["found"], "true", "{asked}: {answer:?}");
        assert_eq!(answer["queueId"], queue.arn);
        assert!(answer["queueId"].contains(west_region));
        assert_eq!(answer["queueName"], queue.name);
    }
}

#[tokio::test]
async fn an_instance_connect_does_not_have_and_a_wrong_region_fail_alone() {
    // GIVEN the three instances, plus one the account does not have, plus
    // one of them named by bare id: a bare id is in the function's Region
    // (eu-west-1 here), so its requests are signed for the wrong Region
    let harness = Harness::new().await;
    let (standin, sdk) = three_instances(5, fast_limits()).await;
    let missing = "dddddddd-0000-4000-8000-000000000004";
    let (east, _, _) = INSTANCES[0];
    let (west, west_region, _) = INSTANCES[2];
    let instances = format!(
        "{},{},{}",
        instance_arn(east, "us-east-1"),
        instance_arn(missing, "us-east-1"),
        west
    );
    let poller = harness.poller_with_connect_settings(
        &sdk,
        &[
            &[
                ("CONNECT_INSTANCES", instances.as_str()),
                ("CONNECT_TIME_ZONE", zone_in_daytime()),
                ("CONNECT_TIMEOUT_SECONDS", "30"),
            ],
            FAST,
        ]
        .concat(),
    );

    // WHEN one cycle runs
    let report = poller.run_cycle().await;

    // THEN Connect's answers reach the snapshot as each instance's own
    // error: 404 for the missing instance, 403 for the wrong signing Region
    let status = |id: &str| {
        report
            .sources
            .iter()
            .find(|s| s.instance.as_ref().is_some_and(|i| i.instance_id == id))
            .unwrap()
    };
    assert_eq!(status(east).status, SourceState::Ok);
    for (id, http) in [(missing, "404"), (west, "403")] {
        let error = status(id).error.as_ref().expect("an error");
        assert_eq!(error.code, "UPSTREAM_STATUS", "{id}");
        assert!(error.message.contains(http), "{id}: {}", error.message);
    }
    // (the stand-in saw the bare id signed for the function's Region)
    let requests = standin.log().await;
    assert!(
        requests
            .iter()
            .filter(|r| r.instance == west)
            .all(|r| r.region == "eu-west-1" && r.region != west_region && r.status == 403)
    );
    // AND the instance that works is written in full
    let snapshot = harness.store().latest_snapshot().await.unwrap().unwrap();
    assert_eq!(connect_queues(&snapshot).len(), 5);
}
