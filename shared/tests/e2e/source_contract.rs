//! One contract every queue source passes, run against each real source
//! and its stand-in: what the poller relies on, whichever vendor it is.
//! A new provider adds a `ContractWorld` here and nothing else.

use std::collections::HashSet;
use std::sync::Arc;

use crate::common::*;
use async_trait::async_trait;
use queue_stats::model::{Snapshot, SourceName};
use queue_stats::sink::record::records_for;
use queue_stats::source::QueueSource;

/// A source wired to a stand-in the test controls.
#[async_trait]
trait ContractWorld: Send + Sync {
    /// The source, with the stand-in serving `n` queues.
    async fn source_serving(&self, n: usize) -> Arc<dyn QueueSource>;
    /// Makes the upstream fail until `recover` is called.
    async fn break_upstream(&self);
    /// The code the source reports while the upstream is broken so.
    fn broken_code(&self) -> &'static str {
        "UPSTREAM_STATUS"
    }
    async fn recover(&self);
}

struct SymbeeWorld(Harness);

#[async_trait]
impl ContractWorld for SymbeeWorld {
    async fn source_serving(&self, n: usize) -> Arc<dyn QueueSource> {
        self.0.standin.set_queues(symbee_queues(n)).await;
        Arc::new(self.0.symbee_source())
    }
    async fn break_upstream(&self) {
        self.0
            .standin
            .inject(std::iter::repeat_n(
                standins::symbee::Fault::Status { status: 502 },
                4,
            ))
            .await;
    }
    async fn recover(&self) {
        self.0.standin.clear_faults().await;
    }
}

struct ConnectWorld(standins::connect::ConnectStandin, aws_config::SdkConfig);

#[async_trait]
impl ContractWorld for ConnectWorld {
    async fn source_serving(&self, n: usize) -> Arc<dyn QueueSource> {
        self.0
            .set_queues(standins::connect::synthetic_queues(CONNECT_INSTANCE_ARN, n))
            .await;
        Arc::new(connect_source(
            &self.1,
            &[
                ("CONNECT_METRICS_RATE", "200"),
                ("CONNECT_OTHER_RATE", "200"),
            ],
        ))
    }
    async fn break_upstream(&self) {
        self.0
            .inject(std::iter::repeat_n(
                standins::connect::ConnectFault::InternalError,
                40,
            ))
            .await;
    }
    async fn recover(&self) {
        self.0.clear_faults().await;
    }
}

struct EightByEightWorld(Harness, EightWorld);

#[async_trait]
impl ContractWorld for EightByEightWorld {
    async fn source_serving(&self, n: usize) -> Arc<dyn QueueSource> {
        // Live queues only: the successor also lists deleted ones, which the
        // source drops.
        let live = standins::eight_by_eight::synthetic_queues(n)
            .into_iter()
            .map(|mut q| {
                q.deleted = false;
                q
            })
            .collect();
        self.1.standin.set_queues(live).await;
        let settings = self.1.settings();
        let pairs = pairs(&settings);
        let config = queue_stats::source::eight_by_eight::EightByEightConfig::from_settings(
            &queue_stats::config::Settings::from_pairs(&pairs),
        )
        .unwrap()
        .unwrap();
        use queue_stats::source::SourceConfig;
        config.build(&self.0.deps().0).unwrap()
    }
    async fn break_upstream(&self) {
        self.1
            .standin
            .inject(std::iter::repeat_n(
                standins::eight_by_eight::EightFault::Status { status: 502 },
                4,
            ))
            .await;
    }
    async fn recover(&self) {
        self.1.standin.clear_faults().await;
    }
}

struct ClarityContractWorld(Harness, ClarityWorld);

#[async_trait]
impl ContractWorld for ClarityContractWorld {
    async fn source_serving(&self, n: usize) -> Arc<dyn QueueSource> {
        self.1
            .standin
            .set_queues(standins::clarity::synthetic_queues(n))
            .await;
        self.1.source(&self.0.deps().0, &[])
    }
    async fn break_upstream(&self) {
        // The socket drops and every call to reopen it fails.
        self.1
            .standin
            .inject(std::iter::repeat_n(
                standins::clarity::ClarityFault::Status { status: 503 },
                8,
            ))
            .await;
        self.1.standin.drop_sockets().await;
        // Let the source's reader see the close.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    async fn recover(&self) {
        self.1.standin.clear_faults().await;
    }
}

async fn contract(world: &dyn ContractWorld) {
    // Every queue it serves, once, under its own name, fresh.
    let source = world.source_serving(37).await;
    let queues = source
        .fetch_queues()
        .await
        .expect("a healthy upstream answers");
    assert_eq!(queues.len(), 37);
    let ids: HashSet<&str> = queues.iter().map(|q| q.queue_id.as_str()).collect();
    assert_eq!(ids.len(), 37, "queue ids are unique");
    assert!(
        queues
            .iter()
            .all(|q| !q.queue_id.is_empty() && !q.queue_name.is_empty())
    );
    assert!(queues.iter().all(|q| q.source == source.name()));
    assert!(queues.iter().all(|q| !q.stale && q.as_of.is_none()));

    // Its queues make valid records.
    let snapshot = Snapshot {
        snapshot_id: "contract".into(),
        observed_at: chrono::Utc::now(),
        sources: vec![],
        queues: queues.clone(),
    };
    for record in records_for(&snapshot, None) {
        assert_matches_record_schema(&serde_json::from_slice(&record.data).unwrap());
    }

    // Concurrent polls agree: the same queues, by source, id and name.
    let named = |queues: Vec<queue_stats::model::QueueStats>| {
        let mut named: Vec<(SourceName, String, String)> = queues
            .into_iter()
            .map(|q| (q.source, q.queue_id, q.queue_name))
            .collect();
        named.sort();
        named
    };
    let (a, b) = tokio::join!(source.fetch_queues(), source.fetch_queues());
    let (a, b) = (named(a.unwrap()), named(b.unwrap()));
    assert_eq!(a, b);
    assert_eq!(a, named(queues.clone()), "and the same as one poll alone");

    // A failing upstream is an error with a code, never a panic, and the
    // source recovers when the upstream does.
    world.break_upstream().await;
    let error = source
        .fetch_queues()
        .await
        .expect_err("a broken upstream is an error");
    assert_eq!(error.code(), world.broken_code(), "{error}");
    assert_eq!(
        error.info().code,
        error.code(),
        "the snapshot carries the same code"
    );
    world.recover().await;
    assert_eq!(source.fetch_queues().await.unwrap().len(), 37);

    // Zero queues is a valid answer, not an error.
    let empty = world.source_serving(0).await;
    assert!(empty.fetch_queues().await.unwrap().is_empty());
}

#[tokio::test]
async fn symbee_honours_the_source_contract() {
    let world = SymbeeWorld(Harness::new().await);
    contract(&world).await;
    assert_eq!(world.source_serving(1).await.name(), SourceName::Symbee);
}

#[tokio::test]
async fn connect_honours_the_source_contract() {
    let (standin, sdk) = connect_standin(0, FAST_CONNECT).await;
    let world = ConnectWorld(standin, sdk);
    contract(&world).await;
    assert_eq!(world.source_serving(1).await.name(), SourceName::Connect);
}

#[tokio::test]
async fn eight_by_eight_honours_the_source_contract() {
    let harness = Harness::new().await;
    let eight = EightWorld::start(&harness.sdk).await;
    let world = EightByEightWorld(harness, eight);
    contract(&world).await;
    assert_eq!(
        world.source_serving(1).await.name(),
        SourceName::EightByEight
    );
}

#[tokio::test]
async fn clarity_honours_the_source_contract() {
    let harness = Harness::new().await;
    let clarity = ClarityWorld::start(&harness.sdk).await;
    let world = ClarityContractWorld(harness, clarity);
    contract(&world).await;
    assert_eq!(world.source_serving(1).await.name(), SourceName::Clarity);
}
