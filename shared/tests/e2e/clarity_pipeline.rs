//! End to end: the Clarity stand-in (NTLM token endpoint, Web API v2,
//! SignalR pushes) → the poller built by the binary's wiring → DynamoDB and
//! Kinesis on moto, beside Symbee, Connect and 8x8.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
use queue_stats::model::{QueueStats, SourceState};
use queue_stats::poller::{CycleReport, Poller};
use standins::clarity::{ClarityFault, ClarityQueue};

struct World {
    harness: Harness,
    clarity: ClarityWorld,
}

impl World {
    async fn new() -> Self {
        let harness = Harness::new().await;
        harness.standin.set_queues(symbee_queues(3)).await;
        let clarity = ClarityWorld::start(&harness.sdk).await;
        Self { harness, clarity }
    }

    /// Symbee and Clarity on, plus `extra` settings.
    fn poller(&self, extra: &[(&str, &str)]) -> (Poller, std::sync::Arc<CountingSecrets>) {
        self.harness.poller_plus(&self.clarity.settings(), extra)
    }

    async fn clarity_queues(&self) -> Vec<QueueStats> {
        self.harness.stored_queues("clarity").await
    }

    /// Cycles until `done` holds after a cycle (a push or a dropped
    /// socket reaches the source on its own time), at most 20 cycles;
    /// returns the last report.
    async fn cycle_until(
        &self,
        poller: &Poller,
        mut done: impl AsyncFnMut(&CycleReport) -> bool,
    ) -> CycleReport {
        let mut report = poller.run_cycle().await;
        for _ in 0..20 {
            if done(&report).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            report = poller.run_cycle().await;
        }
        report
    }

    /// Cycles until the source has opened its `connections`th socket.
    async fn reconnected(&self, poller: &Poller, connections: usize) -> CycleReport {
        self.cycle_until(poller, async |_| {
            self.clarity.standin.count("connect", 101).await >= connections
        })
        .await
    }

    /// Drops every socket and waits until the stand-in has closed them.
    async fn drop_sockets(&self) {
        self.clarity.standin.drop_sockets().await;
        assert!(
            eventually(Duration::from_secs(5), || async {
                self.clarity.standin.sockets().await == 0
            })
            .await,
            "the sockets stayed open"
        );
    }

    /// Asserts the latest snapshot holds every queue the stand-in serves,
    /// once, with its figures.
    async fn assert_every_queue_stored(&self) {
        let served = self.clarity.standin.queues().await;
        let stored = self.clarity_queues().await;
        assert_eq!(stored.len(), served.len());
        let by_id: HashMap<&str, &QueueStats> =
            stored.iter().map(|q| (q.queue_id.as_str(), q)).collect();
        for queue in &served {
            assert_converted(by_id[queue.id.to_string().as_str()], queue);
        }
    }
}

/// Asserts a queue says what the stand-in served. Oldest ages may have
/// grown by a second while the test ran: waiting sessions age between pushes.
fn assert_converted(queue: &QueueStats, served: &ClarityQueue) {
    assert_eq!(queue.queue_name, served.name);
    assert_eq!(queue.delivery_provider.as_str(), "CLARITY");
    assert_eq!(queue.task_type.as_str(), "CLARITY_ANY");
    let (items, oldest) = served.expected();
    let c = &queue.counters;
    assert_eq!(c.items_in_queue, Some(items), "{}", served.id);
    let stored_oldest = c.oldest_item.unwrap();
    assert!(
        (oldest..=oldest + 2).contains(&stored_oldest),
        "{}: oldest {stored_oldest}, served {oldest}",
        served.id
    );
    assert_eq!(c.agents_available, served.agents_available);
    assert_eq!(c.agents_staffed, served.agents_staffed);
    let channels = queue.channels.as_ref().expect("a breakdown by modality");
    let voice = served.queued("audio").count() as u64;
    assert_eq!(channels["VOICE"].items_in_queue, Some(voice));
    let chat = served.queued("instantMessage").count() as u64;
    let expected_chat = served
        .sessions
        .contains_key("instantMessage")
        .then_some(chat);
    assert_eq!(channels["CHAT"].items_in_queue, expected_chat);
}

#[tokio::test]
async fn four_sources_in_one_cycle_every_clarity_queue_once_with_its_figures() {
    let world = World::new().await;
    let eight = EightWorld::start(&world.harness.sdk).await;
    let (connect_standin, connect_sdk) = connect_standin(
        5,
        standins::connect::ServiceLimits {
            metrics_rate: 200.0,
            metrics_burst: 8.0,
            other_rate: 200.0,
            other_burst: 5.0,
        },
    )
    .await;
    let clarity_settings = world.clarity.settings();
    let eight_settings = eight.settings();
    let mut extra = pairs(&clarity_settings);
    extra.extend(pairs(&eight_settings));
    extra.extend([
        ("CONNECT_METRICS_RATE", "200"),
        ("CONNECT_OTHER_RATE", "200"),
    ]);
    let poller = world.harness.poller_with_connect(&connect_sdk, &extra);

    let report = poller.run_cycle().await;

    assert!(report.wrote_everything(), "{report:?}");
    for source in ["symbee", "connect", "8x8", "clarity"] {
        assert_eq!(
            status_of(&report, source).status,
            SourceState::Ok,
            "{report:?}"
        );
    }
    world.assert_every_queue_stored().await;
    let records = world.harness.records().await;
    let served = world.clarity.standin.queues().await.len();
    let eights = eight
        .standin
        .queues()
        .await
        .iter()
        .filter(|q| !q.deleted)
        .count();
    assert_eq!(
        records.len(),
        3 + connect_standin.queues().await.len() + eights + served
    );
    for (key, record) in records.iter().filter(|(_, r)| r["source"] == "clarity") {
        assert_eq!(key, record["queue"]["queueId"].as_str().unwrap());
        assert_matches_record_schema(record);
    }
    poller.close().await;
}

#[tokio::test]
async fn pushes_between_cycles_are_reported_and_the_subscription_is_deleted_at_the_end() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;
    world.assert_every_queue_stored().await;

    // WHEN the floor changes: sessions answered, added, a queue's agents
    let mut queues = world.clarity.standin.queues().await;
    let mut rng = fastrand::Rng::with_seed(7);
    standins::clarity::advance(&mut queues, 5, &mut rng);
    queues[0].agents_available = Some(9);
    let pushed = queues[0].id.to_string();
    world.clarity.standin.set_queues(queues).await;
    let report = world
        .cycle_until(&poller, async |_| {
            world
                .clarity_queues()
                .await
                .iter()
                .any(|q| q.queue_id == pushed && q.counters.agents_available == Some(9))
        })
        .await;

    // THEN the next cycle reports the pushed state, from the same subscription
    assert_eq!(status_of(&report, "clarity").status, SourceState::Ok);
    world.assert_every_queue_stored().await;
    let standin = &world.clarity.standin;
    assert_eq!(standin.count("subscribe", 200).await, 1);
    assert_eq!(standin.count("connect", 101).await, 1);

    // WHEN the invocation ends
    poller.close().await;

    // THEN the subscription is deleted and the connection aborted
    assert_eq!(standin.count("unsubscribe", 204).await, 1);
    assert_eq!(standin.count("abort", 200).await, 1);
    assert_eq!(standin.subscriptions().await, 0);
    assert!(
        eventually(Duration::from_secs(5), || async {
            standin.sockets().await == 0
        })
        .await
    );
}

#[tokio::test]
async fn a_dropped_socket_is_reopened_and_resubscribed_within_the_invocation() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;

    // WHEN the socket drops (an IIS recycle) and the floor moves meanwhile
    world.drop_sockets().await;
    let mut queues = world.clarity.standin.queues().await;
    standins::clarity::advance(&mut queues, 3, &mut fastrand::Rng::with_seed(3));
    world.clarity.standin.set_queues(queues).await;
    let report = world.reconnected(&poller, 2).await;
    let standin = &world.clarity.standin;

    // THEN the cycle is whole, from a new connection's fresh state
    assert_eq!(
        status_of(&report, "clarity").status,
        SourceState::Ok,
        "{report:?}"
    );
    world.assert_every_queue_stored().await;
    assert_eq!(standin.count("connect", 101).await, 2);
    assert_eq!(standin.count("subscribe", 200).await, 2);
    assert_eq!(standin.count("token", 200).await, 1, "the JWT was reused");
    poller.close().await;
    assert_eq!(standin.subscriptions().await, 0);
}

#[tokio::test]
async fn a_cycle_with_no_live_subscription_reports_the_source_failed_and_carries_its_queues() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[("CLARITY_TIMEOUT_MS", "400")]);
    poller.run_cycle().await;
    let good = world.clarity_queues().await.len();

    for (fault, code) in [
        (ClarityFault::Status { status: 500 }, "UPSTREAM_STATUS"),
        (ClarityFault::Status { status: 503 }, "UPSTREAM_STATUS"),
        (ClarityFault::Status { status: 429 }, "THROTTLED"),
        (ClarityFault::Delay { millis: 1_000 }, "TIMEOUT"),
    ] {
        world.clarity.standin.inject([fault.clone()]).await;
        world.drop_sockets().await;
        // The first cycle after the drop may still read the old link.
        let report = world
            .cycle_until(&poller, async |r| {
                status_of(r, "clarity").status != SourceState::Ok
            })
            .await;

        let clarity = status_of(&report, "clarity");
        assert_eq!(clarity.status, SourceState::Error, "{fault:?}");
        assert_eq!(clarity.error.as_ref().unwrap().code, code, "{fault:?}");
        assert_eq!(status_of(&report, "symbee").status, SourceState::Ok);
        let carried = world.clarity_queues().await;
        assert_eq!(carried.len(), good, "{fault:?}");
        assert!(carried.iter().all(|q| q.stale), "{fault:?}");

        // The next cycle subscribes again.
        let report = poller.run_cycle().await;
        assert_eq!(
            status_of(&report, "clarity").status,
            SourceState::Ok,
            "{fault:?}"
        );
    }
    poller.close().await;
}

#[tokio::test]
async fn a_server_without_web_sockets_is_reported_as_unsupported_not_as_a_status() {
    // GIVEN Clarity's IIS without its WebSocket Protocol feature
    let world = World::new().await;
    world.clarity.standin.set_web_sockets(false);
    let (poller, _) = world.poller(&[]);

    // WHEN a cycle runs
    let report = poller.run_cycle().await;

    // THEN the source failed with a code that says what to fix, and the
    // other sources are written
    let clarity = status_of(&report, "clarity");
    assert_eq!(clarity.status, SourceState::Error);
    let error = clarity.error.as_ref().unwrap();
    assert_eq!(error.code, "UNSUPPORTED_UPSTREAM", "{error:?}");
    assert!(error.message.contains("WebSocket"), "{error:?}");
    assert_eq!(status_of(&report, "symbee").status, SourceState::Ok);
    poller.close().await;
}

#[tokio::test]
async fn a_socket_that_goes_silent_is_replaced_after_signalrs_keep_alive_timeout() {
    let world = World::new().await;
    world.clarity.standin.set_keep_alive(Duration::from_secs(1));
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;

    // WHEN the socket stays open but nothing comes, not even keep-alives
    world.clarity.standin.mute_sockets().await;
    // Not a wait for a condition: SignalR's keep-alive timeout (1 s here)
    // must pass for silence to mean anything.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let report = poller.run_cycle().await;

    // THEN the source noticed and subscribed again on a new connection
    assert_eq!(
        status_of(&report, "clarity").status,
        SourceState::Ok,
        "{report:?}"
    );
    assert_eq!(world.clarity.standin.count("connect", 101).await, 2);
    world.assert_every_queue_stored().await;
    poller.close().await;
}

#[tokio::test]
async fn the_jwt_is_renewed_when_it_nears_expiry_and_once_on_a_401() {
    let world = World::new().await;
    // 61 s: a second after issue it is inside the one-minute margin.
    world
        .clarity
        .standin
        .set_token_ttl(Duration::from_secs(61))
        .await;
    let (poller, secrets) = world.poller(&[]);
    poller.run_cycle().await;
    assert_eq!(world.clarity.standin.count("token", 200).await, 1);
    // Not a wait for a condition: the token must age into its renewal
    // margin (issued for 61 s, renewed with under 60 s left).
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // WHEN the socket drops after the token is due: reopening renews it
    world.drop_sockets().await;
    let report = world.reconnected(&poller, 2).await;
    assert_eq!(status_of(&report, "clarity").status, SourceState::Ok);
    assert_eq!(world.clarity.standin.count("token", 200).await, 2);

    // WHEN Clarity revokes every token early: one 401, one login, one retry
    world
        .clarity
        .standin
        .set_token_ttl(Duration::from_secs(3600))
        .await;
    world.clarity.standin.expire_tokens().await;
    world.drop_sockets().await;
    let report = world.reconnected(&poller, 3).await;
    assert_eq!(
        status_of(&report, "clarity").status,
        SourceState::Ok,
        "{report:?}"
    );
    assert_eq!(world.clarity.standin.count("token", 200).await, 3);
    assert_eq!(
        world.clarity.standin.count("info", 401).await,
        2,
        "the first bare call, then the revoked token"
    );
    // Symbee's key and the service account: read once each.
    assert_eq!(secrets.fetch_count(), 2);
    // Every login was a real three-legged NTLM handshake.
    let legs: Vec<u8> = world
        .clarity
        .standin
        .log()
        .await
        .iter()
        .filter(|l| l.operation == "token")
        .map(|l| l.leg)
        .collect();
    assert_eq!(legs, vec![0, 1, 3, 0, 1, 3, 0, 1, 3]);
    poller.close().await;
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized_and_the_others_are_still_written() {
    let world = World::new().await;
    world
        .clarity
        .store_secret(&world.harness.sdk, "not-the-password")
        .await;
    let (poller, secrets) = world.poller(&[]);

    let report = poller.run_cycle().await;

    let clarity = status_of(&report, "clarity");
    assert_eq!(clarity.status, SourceState::Error);
    assert_eq!(clarity.error.as_ref().unwrap().code, "UNAUTHORIZED");
    assert_eq!(status_of(&report, "symbee").status, SourceState::Ok);
    assert!(report.store_error.is_none());
    assert_eq!(world.harness.records().await.len(), 3);
    // One read, one re-read after the refused handshake, and no more.
    assert_eq!(secrets.fetch_count(), 3);
    assert_eq!(
        world.clarity.standin.count("token", 401).await,
        6,
        "two handshakes of three legs, each refused at the last"
    );
    assert_eq!(world.clarity.standin.count("token", 200).await, 0);

    // WHEN the secret is corrected (a rotation), the next cycle logs in
    world
        .clarity
        .store_secret(&world.harness.sdk, &world.clarity.accepted.password.clone())
        .await;
    let report = poller.run_cycle().await;
    assert_eq!(
        status_of(&report, "clarity").status,
        SourceState::Ok,
        "{report:?}"
    );
    poller.close().await;
}

#[tokio::test]
async fn configured_queues_and_modalities_are_what_is_subscribed() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[
        ("CLARITY_QUEUE_IDS", "202,204"),
        ("CLARITY_MODALITIES", "audio"),
    ]);
    let report = poller.run_cycle().await;
    assert_eq!(status_of(&report, "clarity").status, SourceState::Ok);
    let stored = world.clarity_queues().await;
    let ids: Vec<&str> = stored.iter().map(|q| q.queue_id.as_str()).collect();
    assert_eq!(ids, vec!["202", "204"]);
    assert!(
        stored
            .iter()
            .all(|q| q.task_type.as_str() == "CALL" && q.channels.is_none())
    );
    assert_eq!(
        world.clarity.standin.count("mbu", 200).await,
        0,
        "no discovery when told"
    );
    poller.close().await;
}

#[tokio::test]
async fn no_clarity_password_or_token_reaches_a_log_even_at_trace_level() {
    let captured = captured_logs();
    let world = World::new().await;
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;
    world.clarity.standin.expire_tokens().await;
    world.drop_sockets().await;
    world.reconnected(&poller, 2).await;
    // Clarity now wants a password the secret does not hold.
    let mut moved_on = world.clarity.accepted.clone();
    moved_on.password = "server-side-Clar1ty-POIU".into();
    world.clarity.standin.set_accepted(moved_on).await;
    world
        .clarity
        .store_secret(&world.harness.sdk, "wrong-Clar1ty-ZXCV")
        .await;
    world.clarity.standin.expire_tokens().await;
    world.drop_sockets().await;
    // It cannot sign in again: the cycle that notices the drop fails.
    world
        .cycle_until(&poller, async |r| {
            status_of(r, "clarity").status != SourceState::Ok
        })
        .await;
    poller.close().await;

    let logs = captured.text();
    assert!(
        logs.contains("poll cycle"),
        "the test must capture the poller's logs"
    );
    assert!(logs.contains("UNAUTHORIZED"));
    for secret in [
        world.clarity.accepted.password.as_str(),
        "wrong-Clar1ty-ZXCV",
        "server-side-Clar1ty-POIU",
        // Every JWT the stand-in issues starts with this header.
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        "TlRMTVNTUA",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
