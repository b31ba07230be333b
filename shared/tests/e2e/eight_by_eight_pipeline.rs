//! End to end, what is 8x8's own: the token's lifetime, each fault of its
//! endpoints, the deprecated realtime endpoint, site and queue filters.
//! What every credentialed source does (sign-in, rotation, a wrong
//! password, the logs) is in `credentialed_sources.rs`.

use std::time::Duration;

use crate::common::*;
use queue_stats::model::SourceState;
use standins::eight_by_eight::EightFault;

type World = SourceWorld<EightWorld>;

#[tokio::test]
async fn a_token_near_its_expiry_is_renewed_before_it_is_used() {
    let world = World::new().await;
    // 8x8 says 30 s: inside the one-minute margin, so every cycle logs in.
    world
        .source
        .standin
        .set_token_ttl(Duration::from_secs(30))
        .await;
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;
    poller.run_cycle().await;
    assert_eq!(world.source.standin.count("token").await, 2);
    let log = world.source.standin.log().await;
    assert!(
        log.iter().all(|l| l.status == 200),
        "never sent an expired token: {log:?}"
    );
}

#[tokio::test]
async fn each_fault_is_reported_with_its_code_and_the_last_good_queues_carried_stale() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[("EIGHTX8_TIMEOUT_MS", "300")]);
    let first = poller.run_cycle().await;
    assert_eq!(status_of(&first, "8x8").status, SourceState::Ok);
    let good = world.stored().await.len();

    for (fault, code) in [
        (EightFault::Status { status: 500 }, "UPSTREAM_STATUS"),
        (EightFault::Status { status: 503 }, "UPSTREAM_STATUS"),
        (EightFault::Status { status: 429 }, "THROTTLED"),
        (EightFault::Delay { millis: 1_000 }, "TIMEOUT"),
        (EightFault::Malformed, "MALFORMED_RESPONSE"),
        (EightFault::Truncated, "MALFORMED_RESPONSE"),
        (EightFault::TokenStatus { status: 500 }, "UPSTREAM_STATUS"),
    ] {
        if matches!(fault, EightFault::TokenStatus { .. }) {
            world.source.standin.expire_tokens().await;
        }
        world.source.standin.inject([fault.clone()]).await;
        let report = poller.run_cycle().await;

        let eight = status_of(&report, "8x8");
        assert_eq!(eight.status, SourceState::Error, "{fault:?}");
        assert_eq!(eight.error.as_ref().unwrap().code, code, "{fault:?}");
        assert_eq!(status_of(&report, "symbee").status, SourceState::Ok);
        let carried = world.stored().await;
        assert_eq!(carried.len(), good, "{fault:?}");
        assert!(
            carried.iter().all(|q| q.stale && q.as_of.is_some()),
            "{fault:?}"
        );
        world.source.standin.clear_faults().await;
    }
    let recovered = poller.run_cycle().await;
    assert_eq!(status_of(&recovered, "8x8").status, SourceState::Ok);
    assert!(world.stored().await.iter().all(|q| !q.stale));
}

#[tokio::test]
async fn the_deprecated_realtime_endpoint_maps_milliseconds_and_extensions() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[("EIGHTX8_ENDPOINT", "realtime")]);
    let report = poller.run_cycle().await;
    assert_eq!(
        status_of(&report, "8x8").status,
        SourceState::Ok,
        "{report:?}"
    );
    // The realtime endpoint has no id: the extension names the queue.
    world
        .source
        .assert_stored_by(&world.stored().await, |q| &q.extension)
        .await;
    assert_eq!(world.source.standin.count("realtime").await, 1);
}

#[tokio::test]
async fn site_and_queue_filters_reach_8x8() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[
        ("EIGHTX8_SITE_IDS", "SanJose"),
        ("EIGHTX8_QUEUE_IDS", "cq00000Xa8,cq00002Xa8,cq00001Xa8"),
    ]);
    poller.run_cycle().await;
    let ids: Vec<String> = world
        .stored()
        .await
        .into_iter()
        .map(|q| q.queue_id)
        .collect();
    assert_eq!(ids, vec!["cq00000Xa8", "cq00002Xa8"]);
    let log = world.source.standin.log().await;
    let query = &log
        .iter()
        .find(|l| l.operation == "call-queue-metrics")
        .unwrap()
        .query;
    assert_eq!(query["siteIds"], "SanJose");
    assert_eq!(query["includeSummary"], "false");
    // Live figures only: no date range was asked for.
    assert!(log.iter().all(|l| !l.query.contains_key("startDate")));
}
