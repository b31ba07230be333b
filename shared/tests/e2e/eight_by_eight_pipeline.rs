//! End to end: the 8x8 stand-in (token endpoint and both call-queue
//! endpoints) → the poller built by the binary's wiring → DynamoDB and
//! Kinesis on moto, beside Symbee and Connect.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
use queue_stats::model::{QueueStats, SourceState};
use queue_stats::poller::Poller;
use standins::eight_by_eight::{EightFault, EightQueue};

struct World {
    harness: Harness,
    eight: EightWorld,
}

impl World {
    async fn new() -> Self {
        let harness = Harness::new().await;
        harness.standin.set_queues(symbee_queues(3)).await;
        let eight = EightWorld::start(&harness.sdk).await;
        Self { harness, eight }
    }

    /// Symbee and 8x8 on, plus `extra` settings.
    fn poller(&self, extra: &[(&str, &str)]) -> (Poller, std::sync::Arc<CountingSecrets>) {
        self.harness.poller_plus(&self.eight.settings(), extra)
    }

    /// Asserts the latest snapshot holds each live queue the stand-in
    /// serves exactly once, found under `id_of`, with its figures converted
    /// (deleted queues dropped). Returns how many that is.
    async fn assert_every_live_queue_stored(&self, id_of: fn(&EightQueue) -> &String) -> usize {
        let served: Vec<EightQueue> = self
            .eight
            .standin
            .queues()
            .await
            .into_iter()
            .filter(|q| !q.deleted)
            .collect();
        let stored = self.eight_queues().await;
        assert_eq!(stored.len(), served.len(), "deleted queues are dropped");
        let by_id: HashMap<&str, &QueueStats> =
            stored.iter().map(|q| (q.queue_id.as_str(), q)).collect();
        for queue in &served {
            assert_converted(by_id[id_of(queue).as_str()], queue);
        }
        served.len()
    }

    async fn eight_queues(&self) -> Vec<QueueStats> {
        self.harness.stored_queues("8x8").await
    }
}

/// Asserts a queue says what the stand-in served, converted to the model.
fn assert_converted(queue: &QueueStats, served: &EightQueue) {
    assert_eq!(queue.queue_name, served.name);
    assert_eq!(queue.delivery_provider.as_str(), "8X8");
    assert_eq!(queue.task_type.as_str(), "CALL");
    assert_eq!(queue.open_closed_state.as_str(), "OPERATING_HOURS_UNKNOWN");
    let c = &queue.counters;
    assert_eq!(c.items_in_queue, Some(served.waiting), "{}", served.id);
    assert_eq!(c.oldest_item, Some(served.longest_wait_secs));
    assert_eq!(c.agents_available, Some(served.available));
    assert_eq!(c.agents_staffed, Some(served.eligible));
    assert_eq!(c.agents_in_wrap, Some(served.wrapping_up));
    assert_eq!(c.agents_working, Some(served.handling));
    assert_eq!(c.agents_unavailable, None, "8x8 has no such figure: null");
    assert_eq!(c.items_scheduled, None);
    assert_eq!(queue.site.as_deref(), Some(served.site.as_str()));
    let average = queue
        .vendor_averages
        .as_ref()
        .unwrap()
        .waiting_time
        .unwrap();
    assert!((average - served.avg_wait_secs).abs() < 1e-9);
}

#[tokio::test]
async fn three_sources_in_one_cycle_every_8x8_queue_once_with_its_figures() {
    let world = World::new().await;
    let (connect_standin, connect_sdk) = connect_standin(
        12,
        standins::connect::ServiceLimits {
            metrics_rate: 200.0,
            metrics_burst: 8.0,
            other_rate: 200.0,
            other_burst: 5.0,
        },
    )
    .await;
    let settings = world.eight.settings();
    let mut extra = pairs(&settings);
    extra.extend([
        ("CONNECT_METRICS_RATE", "200"),
        ("CONNECT_OTHER_RATE", "200"),
    ]);
    let poller = world.harness.poller_with_connect(&connect_sdk, &extra);

    let report = poller.run_cycle().await;

    assert!(report.wrote_everything(), "{report:?}");
    for source in ["symbee", "connect", "8x8"] {
        assert_eq!(
            status_of(&report, source).status,
            SourceState::Ok,
            "{report:?}"
        );
    }
    let served = world.assert_every_live_queue_stored(|q| &q.id).await;
    let records = world.harness.records().await;
    let connect_count = connect_standin.queues().await.len();
    assert_eq!(records.len(), 3 + connect_count + served);
    for (key, record) in records.iter().filter(|(_, r)| r["source"] == "8x8") {
        assert_eq!(key, record["queue"]["queueId"].as_str().unwrap());
        assert_matches_record_schema(record);
    }
    // Live figures only: no date range was asked for.
    let log = world.eight.standin.log().await;
    assert!(log.iter().all(|l| !l.query.contains_key("startDate")));
}

#[tokio::test]
async fn the_token_is_reused_across_cycles_and_renewed_once_on_a_401() {
    let world = World::new().await;
    let (poller, secrets) = world.poller(&[]);
    for _ in 0..3 {
        let report = poller.run_cycle().await;
        assert_eq!(status_of(&report, "8x8").status, SourceState::Ok);
    }
    assert_eq!(
        world.eight.standin.count("token").await,
        1,
        "one login for three cycles"
    );
    // Symbee's key and 8x8's credentials: one read each.
    assert_eq!(secrets.fetch_count(), 2);

    // WHEN the token expires mid-invocation
    world.eight.standin.expire_tokens().await;
    let report = poller.run_cycle().await;

    // THEN one 401, one new login, one retry, and the cycle is whole
    assert_eq!(
        status_of(&report, "8x8").status,
        SourceState::Ok,
        "{report:?}"
    );
    assert_eq!(world.eight.standin.count("token").await, 2);
    let data: Vec<u16> = world
        .eight
        .standin
        .log()
        .await
        .iter()
        .filter(|l| l.operation == "call-queue-metrics")
        .map(|l| l.status)
        .collect();
    assert_eq!(data, vec![200, 200, 200, 401, 200]);
    assert_eq!(secrets.fetch_count(), 2, "a token renewal reads no secret");
}

#[tokio::test]
async fn a_token_near_its_expiry_is_renewed_before_it_is_used() {
    let world = World::new().await;
    // 8x8 says 30 s: inside the one-minute margin, so every cycle logs in.
    world
        .eight
        .standin
        .set_token_ttl(Duration::from_secs(30))
        .await;
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;
    poller.run_cycle().await;
    assert_eq!(world.eight.standin.count("token").await, 2);
    let log = world.eight.standin.log().await;
    assert!(
        log.iter().all(|l| l.status == 200),
        "never sent an expired token: {log:?}"
    );
}

#[tokio::test]
async fn rotated_credentials_are_read_again_once() {
    let world = World::new().await;
    let (poller, secrets) = world.poller(&[]);
    poller.run_cycle().await;
    assert_eq!(secrets.fetch_count(), 2);

    // WHEN the password rotates (secret first, as rotation does) and the token expires
    let mut rotated = world.eight.accepted.clone();
    rotated.password = "Pa55-word-v2-ASDFGH".into();
    world
        .eight
        .store_secret(&world.harness.sdk, &rotated.password)
        .await;
    world.eight.standin.set_accepted(rotated).await;
    world.eight.standin.expire_tokens().await;
    let report = poller.run_cycle().await;

    // THEN the rejected login reads the secret again, once, and succeeds
    assert_eq!(
        status_of(&report, "8x8").status,
        SourceState::Ok,
        "{report:?}"
    );
    assert_eq!(secrets.fetch_count(), 3);
    let logins: Vec<u16> = world
        .eight
        .standin
        .log()
        .await
        .iter()
        .filter(|l| l.operation == "token")
        .map(|l| l.status)
        .collect();
    assert_eq!(logins, vec![200, 400, 200]);
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized_and_the_others_are_still_written() {
    let world = World::new().await;
    world
        .eight
        .store_secret(&world.harness.sdk, "not-the-password")
        .await;
    let (poller, secrets) = world.poller(&[]);

    let report = poller.run_cycle().await;

    let eight = status_of(&report, "8x8");
    assert_eq!(eight.status, SourceState::Error);
    assert_eq!(eight.error.as_ref().unwrap().code, "UNAUTHORIZED");
    assert_eq!(status_of(&report, "symbee").status, SourceState::Ok);
    assert!(report.store_error.is_none());
    assert_eq!(world.harness.records().await.len(), 3);
    // One read, one re-read after the rejection, and no more.
    assert_eq!(secrets.fetch_count(), 3);
    assert_eq!(world.eight.standin.count("token").await, 2);
}

#[tokio::test]
async fn each_fault_is_reported_with_its_code_and_the_last_good_queues_carried_stale() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[("EIGHTX8_TIMEOUT_MS", "300")]);
    let first = poller.run_cycle().await;
    assert_eq!(status_of(&first, "8x8").status, SourceState::Ok);
    let good = world.eight_queues().await.len();

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
            world.eight.standin.expire_tokens().await;
        }
        world.eight.standin.inject([fault.clone()]).await;
        let report = poller.run_cycle().await;

        let eight = status_of(&report, "8x8");
        assert_eq!(eight.status, SourceState::Error, "{fault:?}");
        assert_eq!(eight.error.as_ref().unwrap().code, code, "{fault:?}");
        assert_eq!(status_of(&report, "symbee").status, SourceState::Ok);
        let carried = world.eight_queues().await;
        assert_eq!(carried.len(), good, "{fault:?}");
        assert!(
            carried.iter().all(|q| q.stale && q.as_of.is_some()),
            "{fault:?}"
        );
        world.eight.standin.clear_faults().await;
    }
    let recovered = poller.run_cycle().await;
    assert_eq!(status_of(&recovered, "8x8").status, SourceState::Ok);
    assert!(world.eight_queues().await.iter().all(|q| !q.stale));
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
    world.assert_every_live_queue_stored(|q| &q.extension).await;
    assert_eq!(world.eight.standin.count("realtime").await, 1);
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
        .eight_queues()
        .await
        .into_iter()
        .map(|q| q.queue_id)
        .collect();
    assert_eq!(ids, vec!["cq00000Xa8", "cq00002Xa8"]);
    let log = world.eight.standin.log().await;
    let query = &log
        .iter()
        .find(|l| l.operation == "call-queue-metrics")
        .unwrap()
        .query;
    assert_eq!(query["siteIds"], "SanJose");
    assert_eq!(query["includeSummary"], "false");
}

#[tokio::test]
async fn no_8x8_credential_or_token_reaches_a_log_even_at_trace_level() {
    let captured = captured_logs();
    let world = World::new().await;
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;
    world.eight.standin.expire_tokens().await;
    poller.run_cycle().await;
    world
        .eight
        .standin
        .inject([EightFault::Status { status: 500 }])
        .await;
    poller.run_cycle().await;
    // 8x8 now wants a password the secret does not hold: login, re-read, login.
    let mut moved_on = world.eight.accepted.clone();
    moved_on.password = "server-side-Pa55-POIU".into();
    world.eight.standin.set_accepted(moved_on).await;
    world
        .eight
        .store_secret(&world.harness.sdk, "wrong-Pa55-ZXCV")
        .await;
    world.eight.standin.expire_tokens().await;
    poller.run_cycle().await;

    let logs = captured.text();
    assert!(
        logs.contains("poll cycle"),
        "the test must capture the poller's logs"
    );
    assert!(logs.contains("UNAUTHORIZED"));
    let accepted = &world.eight.accepted;
    for secret in [
        accepted.api_key.as_str(),
        accepted.password.as_str(),
        "wrong-Pa55-ZXCV",
        "server-side-Pa55-POIU",
        "eyJ.",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
