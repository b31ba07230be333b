//! One suite every source that signs in with credentials from a secret
//! runs (8x8, Clarity), end to end: its stand-in → the poller built by the
//! binary's wiring → DynamoDB and Kinesis on moto, beside Symbee. Sign-in,
//! token reuse and revocation, rotation, a wrong password and the logs
//! behave alike whatever the vendor's handshake; what is the vendor's own
//! (8x8's endpoints and filters, Clarity's pushes and sockets) stays in
//! its pipeline suite. A new provider of this kind implements
//! `CredentialedWorld` (common/credentialed.rs) and adds one line to
//! `credentialed_suite!` at the end.

use crate::common::*;
use queue_stats::model::SourceState;
use queue_stats::poller::CycleReport;

fn status(report: &CycleReport, source: &str) -> SourceState {
    status_of(report, source).status
}

/// Every queue once, with its figures, in the store and on the stream.
async fn every_queue_once_with_its_figures<W: CredentialedWorld>() {
    let world = SourceWorld::<W>::new().await;
    let (poller, _) = world.poller(&[]);

    let report = poller.run_cycle().await;

    assert!(report.wrote_everything(), "{report:?}");
    assert_eq!(status(&report, W::SOURCE), SourceState::Ok, "{report:?}");
    assert_eq!(status(&report, "symbee"), SourceState::Ok);
    let served = world.assert_every_queue_stored().await;
    let records = world.harness.records().await;
    assert_eq!(records.len(), 3 + served);
    for (key, record) in records.iter().filter(|(_, r)| r["source"] == W::SOURCE) {
        assert_eq!(key, record["queue"]["queueId"].as_str().unwrap());
        assert_matches_record_schema(record);
    }
    poller.close().await;
}

/// One sign-in serves cycle after cycle; a revoked token costs one 401,
/// one sign-in and no secret read.
async fn the_token_is_reused_and_renewed_once_when_revoked<W: CredentialedWorld>() {
    let world = SourceWorld::<W>::new().await;
    let (poller, secrets) = world.poller(&[]);
    for _ in 0..3 {
        let report = poller.run_cycle().await;
        assert_eq!(status(&report, W::SOURCE), SourceState::Ok, "{report:?}");
    }
    assert_eq!(
        world.source.sign_ins().await,
        SignIns {
            accepted: 1,
            refused: 0
        },
        "one sign-in for three cycles"
    );
    // Symbee's key and this source's credentials: one read each.
    assert_eq!(secrets.fetch_count(), 2);
    let refused_before = world.source.unauthorized_calls().await;

    // WHEN the vendor revokes every token mid-invocation
    let report = world.source.revoke_tokens(&poller).await;

    // THEN one 401, one new sign-in, and the cycle is whole
    assert_eq!(status(&report, W::SOURCE), SourceState::Ok, "{report:?}");
    assert_eq!(
        world.source.unauthorized_calls().await,
        refused_before + 1,
        "the revoked token was sent once"
    );
    assert_eq!(world.source.sign_ins().await.accepted, 2);
    assert_eq!(secrets.fetch_count(), 2, "a token renewal reads no secret");
    poller.close().await;
}

/// A rotation (the secret first, then the vendor) costs one refused
/// sign-in and one read of the secret.
async fn rotated_credentials_are_read_again_once<W: CredentialedWorld>() {
    let world = SourceWorld::<W>::new().await;
    let (poller, secrets) = world.poller(&[]);
    poller.run_cycle().await;
    assert_eq!(secrets.fetch_count(), 2);

    // WHEN the password rotates, as rotation does: the secret, then the vendor
    world.store_secret("Rotated-Pa55-v2-ASDFGH").await;
    world.source.accept_password("Rotated-Pa55-v2-ASDFGH").await;
    let report = world.source.revoke_tokens(&poller).await;

    // THEN the refused sign-in reads the secret again, once, and succeeds
    assert_eq!(status(&report, W::SOURCE), SourceState::Ok, "{report:?}");
    assert_eq!(secrets.fetch_count(), 3);
    assert_eq!(
        world.source.sign_ins().await,
        SignIns {
            accepted: 2,
            refused: 1
        }
    );
    poller.close().await;
}

/// A wrong password fails this source alone, costs one re-read, and the
/// cycle after the secret is corrected signs in.
async fn a_wrong_password_is_unauthorized_and_the_others_are_still_written<W: CredentialedWorld>() {
    let world = SourceWorld::<W>::new().await;
    world.store_secret("not-the-password").await;
    let (poller, secrets) = world.poller(&[]);

    let report = poller.run_cycle().await;

    let source = status_of(&report, W::SOURCE);
    assert_eq!(source.status, SourceState::Error);
    assert_eq!(source.error.as_ref().unwrap().code, "UNAUTHORIZED");
    assert_eq!(status(&report, "symbee"), SourceState::Ok);
    assert!(report.store_error.is_none());
    assert_eq!(world.harness.records().await.len(), 3);
    // One read, one re-read after the refusal, and no more.
    assert_eq!(secrets.fetch_count(), 3);
    assert_eq!(
        world.source.sign_ins().await,
        SignIns {
            accepted: 0,
            refused: 2
        }
    );

    // WHEN the secret is corrected, the next cycle signs in
    world.store_secret(&world.source.password().await).await;
    let report = poller.run_cycle().await;
    assert_eq!(status(&report, W::SOURCE), SourceState::Ok, "{report:?}");
    world.assert_every_queue_stored().await;
    poller.close().await;
}

/// No password, key, token or handshake reaches a log, at trace level,
/// through a renewal and a refused sign-in.
async fn no_credential_or_token_reaches_a_log<W: CredentialedWorld>() {
    let captured = captured_logs();
    let world = SourceWorld::<W>::new().await;
    let (poller, _) = world.poller(&[]);
    poller.run_cycle().await;
    let password = world.source.password().await;
    world.source.revoke_tokens(&poller).await;
    // The vendor now wants a password the secret does not hold.
    let server_side = format!("server-side-{}-POIU", W::SOURCE);
    let wrong = format!("wrong-{}-ZXCV", W::SOURCE);
    world.source.accept_password(&server_side).await;
    world.store_secret(&wrong).await;
    let report = world.source.revoke_tokens(&poller).await;
    assert_eq!(status(&report, W::SOURCE), SourceState::Error);
    poller.close().await;

    let logs = captured.text();
    assert!(
        logs.contains("poll cycle"),
        "the test must capture the poller's logs"
    );
    assert!(logs.contains("UNAUTHORIZED"));
    let mut secrets = vec![password, server_side, wrong];
    secrets.extend(world.source.never_logged().await);
    for secret in secrets {
        assert!(!logs.contains(&secret), "{secret} leaked into the logs");
    }
}

/// Every source in one cycle: each written whole, each credentialed
/// source's queues once.
#[tokio::test]
async fn every_source_in_one_cycle() {
    let harness = Harness::new().await;
    harness.standin.set_queues(symbee_queues(3)).await;
    let (eight, clarity) = tokio::join!(
        EightWorld::start(&harness.sdk),
        ClarityWorld::start(&harness.sdk)
    );
    let (connect_standin, connect_sdk) = connect_standin(5, FAST_CONNECT).await;
    let (eight_settings, clarity_settings) = (eight.settings(), clarity.settings());
    let mut extra = pairs(&eight_settings);
    extra.extend(pairs(&clarity_settings));
    extra.extend([
        ("CONNECT_METRICS_RATE", "200"),
        ("CONNECT_OTHER_RATE", "200"),
    ]);
    let poller = harness.poller_with_connect(&connect_sdk, &extra);

    let report = poller.run_cycle().await;

    assert!(report.wrote_everything(), "{report:?}");
    for source in ["symbee", "connect", "8x8", "clarity"] {
        assert_eq!(status(&report, source), SourceState::Ok, "{report:?}");
    }
    let stored = |source| harness.stored_queues(source);
    let eights = CredentialedWorld::assert_every_queue_stored(&eight, &stored("8x8").await).await;
    let claritys =
        CredentialedWorld::assert_every_queue_stored(&clarity, &stored("clarity").await).await;
    let connects = connect_standin.queues().await.len();
    assert_eq!(stored("connect").await.len(), connects);
    assert_eq!(
        harness.records().await.len(),
        3 + connects + eights + claritys
    );
    poller.close().await;
}

/// Each test of this suite, once per credentialed source.
macro_rules! credentialed_suite {
    ($($module:ident: $world:ty),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn every_queue_once_with_its_figures() {
                super::every_queue_once_with_its_figures::<$world>().await;
            }

            #[tokio::test]
            async fn the_token_is_reused_and_renewed_once_when_revoked() {
                super::the_token_is_reused_and_renewed_once_when_revoked::<$world>().await;
            }

            #[tokio::test]
            async fn rotated_credentials_are_read_again_once() {
                super::rotated_credentials_are_read_again_once::<$world>().await;
            }

            #[tokio::test]
            async fn a_wrong_password_is_unauthorized_and_the_others_are_still_written() {
                super::a_wrong_password_is_unauthorized_and_the_others_are_still_written::<$world>()
                    .await;
            }

            #[tokio::test]
            async fn no_credential_or_token_reaches_a_log_even_at_trace_level() {
                super::no_credential_or_token_reaches_a_log::<$world>().await;
            }
        }
    )*};
}

credentialed_suite! {
    eight_by_eight: EightWorld,
    clarity: ClarityWorld,
}
