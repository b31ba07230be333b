//! End to end, what is Clarity's own: SignalR pushes between cycles, the
//! subscription's life (dropped, silent and missing sockets, a server
//! without WebSockets), the JWT renewed on reconnecting, the queues and
//! modalities subscribed. What every credentialed source does (sign-in,
//! revocation, rotation, a wrong password, the logs) is in
//! `credentialed_sources.rs`.

use std::time::Duration;

use crate::common::*;
use queue_stats::model::SourceState;
use standins::clarity::ClarityFault;

type World = SourceWorld<ClarityWorld>;

#[tokio::test]
async fn pushes_between_cycles_are_reported_and_the_subscription_is_deleted_at_the_end() {
    let world = World::new().await;
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;
    world.assert_every_queue_stored().await;

    // WHEN the floor changes: sessions answered, added, a queue's agents
    let mut queues = world.source.standin.queues().await;
    let mut rng = fastrand::Rng::with_seed(7);
    standins::clarity::advance(&mut queues, 5, &mut rng);
    queues[0].agents_available = Some(9);
    let pushed = queues[0].id.to_string();
    world.source.standin.set_queues(queues).await;
    let report = cycle_until(&poller, async |_| {
        world
            .stored()
            .await
            .iter()
            .any(|q| q.queue_id == pushed && q.counters.agents_available == Some(9))
    })
    .await;

    // THEN the next cycle reports the pushed state, from the same subscription
    assert_eq!(status_of(&report, "clarity").status, SourceState::Ok);
    world.assert_every_queue_stored().await;
    let standin = &world.source.standin;
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
    world.source.drop_sockets().await;
    let mut queues = world.source.standin.queues().await;
    standins::clarity::advance(&mut queues, 3, &mut fastrand::Rng::with_seed(3));
    world.source.standin.set_queues(queues).await;
    let report = world.source.reconnected(&poller, 2).await;
    let standin = &world.source.standin;

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
    let good = world.stored().await.len();

    for (fault, code) in [
        (ClarityFault::Status { status: 500 }, "UPSTREAM_STATUS"),
        (ClarityFault::Status { status: 503 }, "UPSTREAM_STATUS"),
        (ClarityFault::Status { status: 429 }, "THROTTLED"),
        (ClarityFault::Delay { millis: 1_000 }, "TIMEOUT"),
    ] {
        world.source.standin.inject([fault.clone()]).await;
        world.source.drop_sockets().await;
        // The first cycle after the drop may still read the old link.
        let report = cycle_until(&poller, async |r| {
            status_of(r, "clarity").status != SourceState::Ok
        })
        .await;

        let clarity = status_of(&report, "clarity");
        assert_eq!(clarity.status, SourceState::Error, "{fault:?}");
        assert_eq!(clarity.error.as_ref().unwrap().code, code, "{fault:?}");
        assert_eq!(status_of(&report, "symbee").status, SourceState::Ok);
        let carried = world.stored().await;
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
    world.source.standin.set_web_sockets(false);
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
    world.source.standin.set_keep_alive(Duration::from_secs(1));
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;

    // WHEN the socket stays open but nothing comes, not even keep-alives
    world.source.standin.mute_sockets().await;
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
    assert_eq!(world.source.standin.count("connect", 101).await, 2);
    world.assert_every_queue_stored().await;
    poller.close().await;
}

#[tokio::test]
async fn the_jwt_is_renewed_when_it_nears_expiry_on_reconnecting() {
    let world = World::new().await;
    // 61 s: a second after issue it is inside the one-minute margin.
    world
        .source
        .standin
        .set_token_ttl(Duration::from_secs(61))
        .await;
    let (poller, secrets) = world.poller(&[]);
    poller.run_cycle().await;
    assert_eq!(world.source.standin.count("token", 200).await, 1);
    // Not a wait for a condition: the token must age into its renewal
    // margin (issued for 61 s, renewed with under 60 s left).
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // WHEN the socket drops after the token is due: reopening renews it
    world.source.drop_sockets().await;
    let report = world.source.reconnected(&poller, 2).await;
    assert_eq!(status_of(&report, "clarity").status, SourceState::Ok);
    assert_eq!(world.source.standin.count("token", 200).await, 2);
    // Every sign-in was a real three-legged NTLM handshake, from the
    // service account's secret read once.
    let legs: Vec<u8> = world
        .source
        .standin
        .log()
        .await
        .iter()
        .filter(|l| l.operation == "token")
        .map(|l| l.leg)
        .collect();
    assert_eq!(legs, vec![0, 1, 3, 0, 1, 3]);
    assert_eq!(secrets.fetch_count(), 2);
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
    let stored = world.stored().await;
    let ids: Vec<&str> = stored.iter().map(|q| q.queue_id.as_str()).collect();
    assert_eq!(ids, vec!["202", "204"]);
    assert!(
        stored
            .iter()
            .all(|q| q.task_type.as_str() == "CALL" && q.channels.is_none())
    );
    assert_eq!(
        world.source.standin.count("mbu", 200).await,
        0,
        "no discovery when told"
    );
    poller.close().await;
}
