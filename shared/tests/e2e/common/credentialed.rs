//! The stand-in worlds of the sources that sign in with credentials kept
//! in a secret (8x8's OAuth login, Clarity's NTLM handshake), and what the
//! shared suite (`credentialed_sources.rs`) needs of each. A new provider
//! of this kind adds its world here, implements [`CredentialedWorld`],
//! and adds one line to that suite.

use std::collections::HashMap;

use async_trait::async_trait;
use queue_stats::model::{QueueStats, SourceState};
use queue_stats::poller::CycleReport;

use super::*;

/// Sign-ins a stand-in has answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignIns {
    pub accepted: usize,
    pub refused: usize,
}

impl SignIns {
    /// From the statuses of the requests that decide a sign-in: 200
    /// accepted, anything else refused.
    fn of(statuses: &[u16]) -> Self {
        let accepted = statuses.iter().filter(|s| **s == 200).count();
        Self {
            accepted,
            refused: statuses.len() - accepted,
        }
    }
}

/// A credentialed source's stand-in and its secret. Not `Send`: its
/// futures wait on the poller in the test's own task.
#[async_trait(?Send)]
pub trait CredentialedWorld: Sized {
    /// The source's name in reports and on stored queues.
    const SOURCE: &'static str;

    /// The stand-in serving its synthetic floor, the secret on moto.
    async fn start(sdk: &SdkConfig) -> Self;

    /// The settings that turn the source on against this stand-in.
    fn settings(&self) -> Vec<(&'static str, String)>;

    /// Writes the credentials secret with `password`.
    async fn store_secret(&self, sdk: &SdkConfig, password: &str);

    /// The password the stand-in accepts now.
    async fn password(&self) -> String;

    /// The stand-in accepts `password` from now on, and no other (a
    /// rotation on the vendor's side).
    async fn accept_password(&self, password: &str);

    async fn sign_ins(&self) -> SignIns;

    /// Calls other than sign-ins answered 401.
    async fn unauthorized_calls(&self) -> usize;

    /// Every token stops working and the source is made to meet it; cycles
    /// until the source has signed in again or failed to, and returns that
    /// cycle's report.
    async fn revoke_tokens(&self, poller: &Poller) -> CycleReport;

    /// Asserts `stored` holds each queue the stand-in serves (deleted ones
    /// aside) exactly once, with its figures; returns how many.
    async fn assert_every_queue_stored(&self, stored: &[QueueStats]) -> usize;

    /// Beside the passwords, what must never reach a log: keys, and the
    /// marks every token or handshake of this vendor carries.
    async fn never_logged(&self) -> Vec<String>;
}

/// A credentialed source's world beside Symbee's three queues, in one
/// harness: what every credentialed suite starts from.
pub struct SourceWorld<W> {
    pub harness: Harness,
    pub source: W,
}

impl<W: CredentialedWorld> SourceWorld<W> {
    pub async fn new() -> Self {
        let harness = Harness::new().await;
        harness.standin.set_queues(symbee_queues(3)).await;
        let source = W::start(&harness.sdk).await;
        Self { harness, source }
    }

    /// Symbee and this source on, plus `extra` settings.
    pub fn poller(&self, extra: &[(&str, &str)]) -> (Poller, Arc<CountingSecrets>) {
        self.harness.poller_plus(&self.source.settings(), extra)
    }

    /// This source's queues in the latest snapshot.
    pub async fn stored(&self) -> Vec<QueueStats> {
        self.harness.stored_queues(W::SOURCE).await
    }

    /// See [`CredentialedWorld::assert_every_queue_stored`].
    pub async fn assert_every_queue_stored(&self) -> usize {
        self.source
            .assert_every_queue_stored(&self.stored().await)
            .await
    }

    /// Writes the credentials secret with `password`.
    pub async fn store_secret(&self, password: &str) {
        self.source.store_secret(&self.harness.sdk, password).await;
    }
}

/// Runs cycles until `done` holds after one (a push, a dropped socket or a
/// new sign-in reaches a source on its own time), at most 20 more; returns
/// the last report.
pub async fn cycle_until(
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

pub const EIGHT_PBX: &str = "pbxStandin01";

/// An 8x8 stand-in and the credentials secret it accepts, on moto in the
/// function's own region (the source's default secrets region).
pub struct EightWorld {
    pub standin: standins::eight_by_eight::EightByEightStandin,
    pub secret_id: String,
    pub accepted: standins::eight_by_eight::Accepted,
}

#[async_trait(?Send)]
impl CredentialedWorld for EightWorld {
    const SOURCE: &'static str = "8x8";

    async fn start(sdk: &SdkConfig) -> Self {
        let accepted = standins::eight_by_eight::Accepted {
            api_key: format!("apikey-{}", uuid::Uuid::new_v4().simple()),
            username: "wallboard@example.com".into(),
            password: "Pa55-word-v1-QWERTY".into(),
        };
        let standin = standins::eight_by_eight::EightByEightStandin::start(
            "127.0.0.1:0".parse().unwrap(),
            EIGHT_PBX,
            accepted.clone(),
        )
        .await
        .unwrap();
        standin
            .set_queues(standins::eight_by_eight::synthetic_queues(14))
            .await;
        let world = Self {
            standin,
            secret_id: unique("EIGHTX8_WORK_ANALYTICS"),
            accepted,
        };
        world
            .store_secret(sdk, &world.accepted.password.clone())
            .await;
        world
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("EIGHTX8_PBX_ID", EIGHT_PBX.to_owned()),
            ("EIGHTX8_SECRET_ID", self.secret_id.clone()),
            ("EIGHTX8_BASE_URL", self.standin.base_url()),
            ("EIGHTX8_TIMEOUT_MS", "1000".to_owned()),
        ]
    }

    async fn store_secret(&self, sdk: &SdkConfig, password: &str) {
        let json = serde_json::json!({
            "apiKey": self.accepted.api_key,
            "username": self.accepted.username,
            "password": password,
        });
        put_secret(sdk, &self.secret_id, &json.to_string()).await;
    }

    async fn password(&self) -> String {
        self.standin.sign_in().accepted().await.password
    }

    async fn accept_password(&self, password: &str) {
        let mut accepted = self.accepted.clone();
        accepted.password = password.to_owned();
        self.standin.set_accepted(accepted).await;
    }

    async fn sign_ins(&self) -> SignIns {
        let log = self.standin.log().await;
        let logins: Vec<u16> = log
            .iter()
            .filter(|l| l.operation == "token")
            .map(|l| l.status)
            .collect();
        SignIns::of(&logins)
    }

    async fn unauthorized_calls(&self) -> usize {
        self.standin
            .count_where(|l| l.operation != "token" && l.status == 401)
            .await
    }

    async fn revoke_tokens(&self, poller: &Poller) -> CycleReport {
        self.standin.expire_tokens().await;
        poller.run_cycle().await
    }

    async fn assert_every_queue_stored(&self, stored: &[QueueStats]) -> usize {
        self.assert_stored_by(stored, |q| &q.id).await
    }

    async fn never_logged(&self) -> Vec<String> {
        // Every token the stand-in issues starts so.
        vec![self.accepted.api_key.clone(), "eyJ.".to_owned()]
    }
}

impl EightWorld {
    /// As [`CredentialedWorld::assert_every_queue_stored`], each queue
    /// found under `id_of` (the deprecated endpoint names queues by
    /// extension).
    pub async fn assert_stored_by(
        &self,
        stored: &[QueueStats],
        id_of: fn(&standins::eight_by_eight::EightQueue) -> &String,
    ) -> usize {
        let served: Vec<_> = self
            .standin
            .queues()
            .await
            .into_iter()
            .filter(|q| !q.deleted)
            .collect();
        assert_eq!(stored.len(), served.len(), "deleted queues are dropped");
        let by_id: HashMap<&str, &QueueStats> =
            stored.iter().map(|q| (q.queue_id.as_str(), q)).collect();
        for queue in &served {
            assert_eight_converted(by_id[id_of(queue).as_str()], queue);
        }
        served.len()
    }
}

/// Asserts a queue says what the 8x8 stand-in served, converted to the model.
fn assert_eight_converted(queue: &QueueStats, served: &standins::eight_by_eight::EightQueue) {
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

/// The Clarity stand-in with its service account's secret on moto.
pub struct ClarityWorld {
    pub standin: standins::clarity::ClarityStandin,
    pub secret_id: String,
    pub accepted: standins::clarity::Accepted,
}

#[async_trait(?Send)]
impl CredentialedWorld for ClarityWorld {
    const SOURCE: &'static str = "clarity";

    async fn start(sdk: &SdkConfig) -> Self {
        let accepted = standins::clarity::Accepted {
            username: "CORP\\svc-wallboard".into(),
            password: "Clar1ty-Pa55-v1-LKJH".into(),
            client_id: "0224C392-3845-4AC0-B1A0-D63706181BA7".into(),
        };
        let standin = standins::clarity::ClarityStandin::start(
            "127.0.0.1:0".parse().unwrap(),
            accepted.clone(),
        )
        .await
        .unwrap();
        standin
            .set_queues(standins::clarity::synthetic_queues(6))
            .await;
        let world = Self {
            standin,
            secret_id: unique("CLARITY_CONNECT_SERVICE_ACCOUNT"),
            accepted,
        };
        world
            .store_secret(sdk, &world.accepted.password.clone())
            .await;
        world
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CLARITY_BASE_URL", self.standin.base_url()),
            ("CLARITY_CLIENT_ID", self.accepted.client_id.clone()),
            ("CLARITY_SECRET_ID", self.secret_id.clone()),
            ("CLARITY_TIMEOUT_MS", "2000".to_owned()),
        ]
    }

    async fn store_secret(&self, sdk: &SdkConfig, password: &str) {
        let json = serde_json::json!({
            "username": self.accepted.username,
            "password": password,
        });
        put_secret(sdk, &self.secret_id, &json.to_string()).await;
    }

    async fn password(&self) -> String {
        self.standin.sign_in().accepted().await.password
    }

    async fn accept_password(&self, password: &str) {
        let mut accepted = self.accepted.clone();
        accepted.password = password.to_owned();
        self.standin.set_accepted(accepted).await;
    }

    /// A sign-in is a three-legged NTLM handshake: its last leg says
    /// whether it was accepted.
    async fn sign_ins(&self) -> SignIns {
        let log = self.standin.log().await;
        let last_legs: Vec<u16> = log
            .iter()
            .filter(|l| l.operation == "token" && l.leg == 3)
            .map(|l| l.status)
            .collect();
        SignIns::of(&last_legs)
    }

    async fn unauthorized_calls(&self) -> usize {
        self.standin
            .count_where(|l| l.operation != "token" && l.status == 401)
            .await
    }

    /// The subscription's socket outlives its token: the source meets the
    /// revocation when it must open a new one.
    async fn revoke_tokens(&self, poller: &Poller) -> CycleReport {
        let connections = self.standin.count("connect", 101).await;
        self.standin.expire_tokens().await;
        self.drop_sockets().await;
        cycle_until(poller, async |report| {
            status_of(report, Self::SOURCE).status != SourceState::Ok
                || self.standin.count("connect", 101).await > connections
        })
        .await
    }

    async fn assert_every_queue_stored(&self, stored: &[QueueStats]) -> usize {
        let served = self.standin.queues().await;
        assert_eq!(stored.len(), served.len());
        let by_id: HashMap<&str, &QueueStats> =
            stored.iter().map(|q| (q.queue_id.as_str(), q)).collect();
        for queue in &served {
            assert_clarity_converted(by_id[queue.id.to_string().as_str()], queue);
        }
        served.len()
    }

    async fn never_logged(&self) -> Vec<String> {
        vec![
            // Every JWT the stand-in issues starts with this header.
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9".to_owned(),
            // Every NTLM message, base64.
            "TlRMTVNTUA".to_owned(),
        ]
    }
}

impl ClarityWorld {
    /// The source alone, built from [`Self::settings`] plus `extra`.
    pub fn source(
        &self,
        deps: &SourceDeps,
        extra: &[(&'static str, &str)],
    ) -> Arc<dyn queue_stats::source::QueueSource> {
        use queue_stats::source::SourceConfig;
        let settings = self.settings();
        let mut pairs = pairs(&settings);
        pairs.extend_from_slice(extra);
        queue_stats::source::clarity::ClarityConfig::from_settings(
            &queue_stats::config::Settings::from_pairs(&pairs),
        )
        .unwrap()
        .unwrap()
        .build(deps)
        .unwrap()
    }

    /// Drops every socket and waits until the stand-in has closed them.
    pub async fn drop_sockets(&self) {
        self.standin.drop_sockets().await;
        assert!(
            eventually(Duration::from_secs(5), || async {
                self.standin.sockets().await == 0
            })
            .await,
            "the sockets stayed open"
        );
    }

    /// Cycles until the source has opened its `connections`th socket.
    pub async fn reconnected(&self, poller: &Poller, connections: usize) -> CycleReport {
        cycle_until(poller, async |_| {
            self.standin.count("connect", 101).await >= connections
        })
        .await
    }
}

/// Asserts a queue says what the Clarity stand-in served. Oldest ages may
/// have grown by a second while the test ran: waiting sessions age between
/// pushes.
fn assert_clarity_converted(queue: &QueueStats, served: &standins::clarity::ClarityQueue) {
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
