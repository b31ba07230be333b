//! Test harness: real AWS SDK clients against moto server, the real Symbee
//! stand-in, and helpers to create and read back what the poller wrote.
//!
//! moto is started by `scripts/test.sh`, which exports `MOTO_ENDPOINT`.
//! Every test creates its own table, stream and secret with unique names,
//! so tests run in parallel against one moto server.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use queue_stats::config::{FromSettings, Settings};
use queue_stats::model::SourceName;
use queue_stats::poller::{Pacing, Poller};
use queue_stats::secrets::{
    CachedSecret, SecretError, SecretSource, SecretValue, SecretsManagerSource,
};
use queue_stats::sink::kinesis::KinesisSink;
use queue_stats::sink::{StreamRef, Tenant as RecordTenant};
use queue_stats::source::SourceDeps;
use queue_stats::source::symbee::{SymbeeConfig, SymbeeSource};
use queue_stats::store::dynamodb::DynamoSnapshotStore;
use queue_stats::wiring::{PollerConfig, build_poller};
use serde_json::Value;
use standins::symbee::{ExpectedKey, SymbeeStandin, Tenant};

pub const COMPANY: &str = "abc-gadgets";
pub const ENVIRONMENT: &str = "prod";
pub const SECRETS_REGION: &str = "us-west-2";

pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto server",
    )
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub async fn sdk_config() -> SdkConfig {
    sdk_config_in("us-east-1").await
}

/// The emulators' SDK configuration. Normally every service is moto at
/// `MOTO_ENDPOINT`. With `AWS_ENDPOINT_URL` set (the test script's second
/// pass), endpoints come from the environment the standard way, so
/// `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_KINESIS` can name
/// other emulators (dynalite, kinesalite) beside moto.
pub async fn sdk_config_in(region: &str) -> SdkConfig {
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        return aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .load()
            .await;
    }
    sdk_at(&moto_endpoint(), region).await
}

/// SDK configuration for a local endpoint, with credentials only a local
/// emulator accepts.
pub async fn sdk_at(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

pub fn fixture(path: &str) -> Value {
    let full = format!("{}/../fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}")))
        .unwrap_or_else(|e| panic!("{full}: {e}"))
}

pub async fn create_table(sdk: &SdkConfig) -> String {
    let name = unique("snapshots");
    DynamoSnapshotStore::create_table(&aws_sdk_dynamodb::Client::new(sdk), &name)
        .await
        .expect("create table on moto");
    name
}

pub async fn create_stream(sdk: &SdkConfig) -> String {
    let name = unique("queue-stats");
    aws_sdk_kinesis::Client::new(sdk)
        .create_stream()
        .stream_name(&name)
        .shard_count(2)
        .send()
        .await
        .expect("create stream on moto");
    name
}

/// Every record on the stream, decoded as JSON, with its partition key.
pub async fn read_records(sdk: &SdkConfig, stream: &str) -> Vec<(String, Value)> {
    let client = aws_sdk_kinesis::Client::new(sdk);
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        loop {
            let output = client
                .get_records()
                .shard_iterator(&iterator)
                .limit(10_000)
                .send()
                .await
                .unwrap();
            // Kinesis may answer an empty batch before the tip of the
            // shard: only an empty batch at the tip ends it.
            let at_tip = output
                .millis_behind_latest()
                .is_none_or(|behind| behind == 0);
            if output.records().is_empty() && at_tip {
                break;
            }
            for record in output.records() {
                let json: Value = serde_json::from_slice(record.data().as_ref()).unwrap();
                records.push((record.partition_key().to_owned(), json));
            }
            match output.next_shard_iterator() {
                Some(next) => iterator = next.to_owned(),
                None => break,
            }
        }
    }
    records
}

pub async fn put_secret(sdk: &SdkConfig, id: &str, value: &str) {
    standins::symbee::install_or_rotate_key(&aws_sdk_secretsmanager::Client::new(sdk), id, value)
        .await
        .expect("install or rotate the key on moto");
}

/// One isolated world: a table, a stream, a key in the secrets region, and
/// a Symbee stand-in that checks that key.
pub struct Harness {
    pub sdk: SdkConfig,
    pub secrets_sdk: SdkConfig,
    pub table: String,
    pub stream: String,
    pub secret_id: String,
    pub standin: SymbeeStandin,
}

impl Harness {
    pub async fn new() -> Self {
        let sdk = sdk_config().await;
        // The key lives in another region than the function, as it may in AWS.
        let secrets_sdk = sdk_config_in(SECRETS_REGION).await;
        let secret_id = unique("SYMBEE_CONNECT_API_KEY");
        put_secret(&secrets_sdk, &secret_id, "key-v1").await;
        let standin = SymbeeStandin::start(
            "127.0.0.1:0".parse().unwrap(),
            Tenant {
                company_code: COMPANY.into(),
                environment: ENVIRONMENT.into(),
                secrets_region: SECRETS_REGION.into(),
            },
            ExpectedKey::SecretsManager {
                client: aws_sdk_secretsmanager::Client::new(&secrets_sdk),
                secret_id: secret_id.clone(),
            },
        )
        .await
        .unwrap();
        let (table, stream) = tokio::join!(create_table(&sdk), create_stream(&sdk));
        Self {
            sdk,
            secrets_sdk,
            table,
            stream,
            secret_id,
            standin,
        }
    }

    /// The environment a deployed poller would have, pointing at this world.
    pub fn env(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = [
            ("SYMBEE_COMPANY_CODE", COMPANY.to_owned()),
            ("SYMBEE_ENVIRONMENT", ENVIRONMENT.to_owned()),
            ("SYMBEE_SECRETS_REGION", SECRETS_REGION.to_owned()),
            ("SYMBEE_API_KEY_SECRET_ID", self.secret_id.clone()),
            ("SYMBEE_BASE_URL", self.standin.base_url()),
            ("SYMBEE_TIMEOUT_MS", "1000".to_owned()),
            ("SNAPSHOT_TABLE", self.table.clone()),
            ("SNAPSHOT_STREAM", self.stream.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        env
    }

    pub fn config(&self, extra: &[(&str, &str)]) -> PollerConfig {
        let env = self.env(extra);
        PollerConfig::from_lookup(|k| env.get(k).cloned()).expect("valid test configuration")
    }

    /// This world's Symbee settings, as the Symbee module reads them.
    pub fn symbee_config(&self) -> SymbeeConfig {
        let env = self.env(&[]);
        SymbeeConfig::from_settings(&Settings::from_lookup(|k| env.get(k).cloned()))
            .expect("valid Symbee settings")
            .expect("Symbee is on")
    }

    pub fn store(&self) -> DynamoSnapshotStore {
        DynamoSnapshotStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.table,
            Duration::from_secs(3600),
        )
    }

    /// What the poller's sources may use here: moto for AWS, with every
    /// Secrets Manager read counted.
    pub fn deps(&self) -> (SourceDeps, Arc<CountingSecrets>) {
        self.deps_on(&self.sdk)
    }

    /// As [`Harness::deps`], with every AWS call going to `sdk`'s endpoint
    /// (a fault front before moto).
    pub fn deps_on(&self, sdk: &SdkConfig) -> (SourceDeps, Arc<CountingSecrets>) {
        let counter = Arc::new(CountingSecrets::default());
        let main = sdk.clone();
        let sdk = self.sdk.clone();
        let reads = counter.clone();
        let deps = SourceDeps::aws(&main).with_secrets(move |region| {
            Arc::new(CountingSecrets {
                inner: Some(SecretsManagerSource::in_region(&sdk, region)),
                reads: reads.reads.clone(),
            }) as Arc<dyn SecretSource>
        });
        (deps, counter)
    }

    /// The real poller, built by the same wiring as the binary from this
    /// world's settings, with a counter of the secret reads it makes.
    pub fn poller(&self, extra: &[(&str, &str)]) -> (Poller, Arc<CountingSecrets>) {
        let (deps, reads) = self.deps();
        let poller = build_poller(&self.config(extra), &deps).expect("poller builds");
        (poller, reads)
    }

    /// The real poller with every AWS call going to `sdk` (Secrets Manager
    /// reads stay on moto).
    pub fn poller_on(&self, sdk: &SdkConfig, extra: &[(&str, &str)]) -> Poller {
        let (deps, _) = self.deps_on(sdk);
        build_poller(&self.config(extra), &deps).expect("poller builds")
    }

    /// The real poller with Connect on too, its client pointed at `connect_sdk`.
    pub fn poller_with_connect(&self, connect_sdk: &SdkConfig, extra: &[(&str, &str)]) -> Poller {
        self.poller_with_connect_on(&self.sdk, connect_sdk, extra)
    }

    /// As [`Harness::poller_with_connect`], with every other AWS call going
    /// to `aws`'s endpoint (a fault front before moto).
    pub fn poller_with_connect_on(
        &self,
        aws: &SdkConfig,
        connect_sdk: &SdkConfig,
        extra: &[(&str, &str)],
    ) -> Poller {
        let mut settings = vec![
            ("CONNECT_INSTANCE_ID", CONNECT_INSTANCE_ARN),
            ("CONNECT_TIME_ZONE", zone_in_daytime()),
            ("CONNECT_TIMEOUT_SECONDS", "30"),
        ];
        settings.extend_from_slice(extra);
        self.connect_poller(aws, connect_sdk, &settings)
    }

    /// The wired poller with exactly these Connect settings (beside this
    /// world's Symbee ones), Connect's client built from `connect_sdk`.
    pub fn poller_with_connect_settings(
        &self,
        connect_sdk: &SdkConfig,
        settings: &[(&str, &str)],
    ) -> Poller {
        self.connect_poller(&self.sdk, connect_sdk, settings)
    }

    /// The wired poller from exactly `settings`: Connect's client built
    /// from `connect_sdk`, every other AWS call to `aws`'s endpoint.
    fn connect_poller(
        &self,
        aws: &SdkConfig,
        connect_sdk: &SdkConfig,
        settings: &[(&str, &str)],
    ) -> Poller {
        let (deps, _) = self.deps_on(aws);
        let deps = deps.with_sdk_for(SourceName::Connect, connect_sdk.clone());
        build_poller(&self.config(settings), &deps).expect("poller builds")
    }

    pub async fn records(&self) -> Vec<(String, Value)> {
        read_records(&self.sdk, &self.stream).await
    }

    pub async fn rotate_key(&self, value: &str) {
        put_secret(&self.secrets_sdk, &self.secret_id, value).await;
    }
}

/// The stand-ins' shared control verbs (inject, log, expire_tokens, ...).
pub use standins::control::{Controlled, Logs, SignsIn};

mod credentialed;
pub use credentialed::*;
#[allow(unused_imports)] // Not every test binary serves synthetic queues.
pub use standins::symbee::synthetic_queues as symbee_queues;

/// Fails the test when `record` does not validate against the published
/// Kinesis record schema (docs/kinesis-record.schema.json).
pub fn assert_matches_record_schema(record: &Value) {
    let errors = record_schema_errors(record);
    assert!(
        errors.is_empty(),
        "record does not match the schema: {errors:?}\n{record:#}"
    );
}

/// What the published Kinesis record schema finds wrong with `record`.
pub fn record_schema_errors(record: &Value) -> Vec<String> {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let path = format!(
            "{}/../docs/kinesis-record.schema.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the record schema is a valid JSON Schema")
    });
    validator
        .iter_errors(record)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// A snapshot of the seed example (parsed by the real Symbee code), observed
/// `age` ago, with one source status.
pub fn seed_snapshot(age: chrono::Duration) -> queue_stats::model::Snapshot {
    let body =
        serde_json::to_vec(&fixture("symbee/retrieve-queue-info.seed-example.json")).unwrap();
    let queues = queue_stats::source::symbee::wire::parse_response(&body).unwrap();
    let observed = chrono::Utc::now() - age;
    queue_stats::model::Snapshot {
        snapshot_id: uuid::Uuid::now_v7().to_string(),
        observed_at: chrono::DateTime::from_timestamp_millis(observed.timestamp_millis()).unwrap(),
        sources: vec![queue_stats::model::SourceStatus {
            source: queue_stats::model::SourceName::Symbee,
            instance: None,
            status: queue_stats::model::SourceState::Ok,
            error: None,
            latency_ms: 42,
            queue_count: queues.len(),
        }],
        queues,
    }
}

/// The seed example's Amazon Connect queue ARN.
pub const SEED_ARN: &str = "arn:aws:connect:us-east-1:xxxxx:instance/xxxx-xxxx-xxx-xxxx-xxxxxxx/queue/xxxxx-xxxx-xxxx-xxxx-xxxxxx";

/// Reader configuration for a table, as the API and contact flow read it.
pub fn reader_config(table: &str, extra: &[(&str, &str)]) -> queue_stats::config::ReaderConfig {
    let mut env: HashMap<String, String> =
        HashMap::from([("SNAPSHOT_TABLE".to_owned(), table.to_owned())]);
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    queue_stats::config::ReaderConfig::from_lookup(|k| env.get(k).cloned()).unwrap()
}

/// A fresh table holding `snapshots`, written by the real store code.
pub async fn table_with(sdk: &SdkConfig, snapshots: &[queue_stats::model::Snapshot]) -> String {
    use queue_stats::store::SnapshotWriter;
    let table = create_table(sdk).await;
    let store = DynamoSnapshotStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &table,
        Duration::from_secs(3600),
    );
    for snapshot in snapshots {
        store.put_snapshot(snapshot).await.unwrap();
    }
    table
}

/// SDK configuration pointing at a loopback port that accepts connections
/// and never answers: what a hung dependency looks like to a client.
pub async fn black_hole_sdk() -> SdkConfig {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    sdk_at(&format!("http://{addr}"), "us-east-1").await
}

pub const CONNECT_INSTANCE: &str = "11111111-2222-3333-4444-555555555555";
pub const CONNECT_INSTANCE_ARN: &str =
    "arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555";

/// An IANA zone whose local time is well inside its day right now, so
/// "today so far" has whole 5-minute intervals whenever the tests run.
pub fn zone_in_daytime() -> &'static str {
    use chrono::Timelike;
    ["UTC", "Etc/GMT-6", "Etc/GMT+6"]
        .into_iter()
        .find(|zone| {
            let tz: chrono_tz::Tz = zone.parse().unwrap();
            (1..=22).contains(&chrono::Utc::now().with_timezone(&tz).hour())
        })
        .unwrap()
}

/// Connect's budget raised far enough that a test's handful of calls is
/// never throttled (its burst still small enough to pace a big floor).
pub const FAST_CONNECT: standins::connect::ServiceLimits = standins::connect::ServiceLimits {
    metrics_rate: 200.0,
    metrics_burst: 8.0,
    other_rate: 200.0,
    other_burst: 5.0,
};

/// A Connect stand-in with `n` queues and an SDK configuration whose
/// Connect endpoint is the stand-in (as `AWS_ENDPOINT_URL_CONNECT` does).
pub async fn connect_standin(
    n: usize,
    limits: standins::connect::ServiceLimits,
) -> (standins::connect::ConnectStandin, SdkConfig) {
    let standin = standins::connect::ConnectStandin::start(
        "127.0.0.1:0".parse().unwrap(),
        CONNECT_INSTANCE,
        limits,
    )
    .await
    .unwrap();
    standin
        .set_queues(standins::connect::synthetic_queues(CONNECT_INSTANCE_ARN, n))
        .await;
    let sdk = sdk_at(&standin.endpoint(), "us-east-1").await;
    (standin, sdk)
}

/// The Connect source as configured by `extra` settings.
pub fn connect_source(
    sdk: &SdkConfig,
    extra: &[(&str, &str)],
) -> queue_stats::source::connect::ConnectSource {
    let mut env: HashMap<String, String> = HashMap::from([
        (
            "CONNECT_INSTANCE_ID".to_owned(),
            CONNECT_INSTANCE_ARN.to_owned(),
        ),
        ("CONNECT_TIME_ZONE".to_owned(), zone_in_daytime().to_owned()),
        ("CONNECT_TIMEOUT_SECONDS".to_owned(), "30".to_owned()),
        ("SNAPSHOT_TABLE".to_owned(), "t".to_owned()),
        ("SNAPSHOT_STREAM".to_owned(), "s".to_owned()),
    ]);
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let config =
        queue_stats::source::connect::ConnectConfig::from_settings(&Settings::from_lookup(|k| {
            env.get(k).cloned()
        }))
        .expect("valid Connect settings")
        .expect("Connect is on");
    let client = aws_sdk_connect::Client::from_conf(
        queue_stats::source::connect::ConnectSource::client_config(sdk),
    );
    queue_stats::source::connect::ConnectSource::new(client, config)
}

impl Harness {
    /// The real poller with the given sources, writing to this world.
    pub fn poller_with(
        &self,
        sources: Vec<Arc<dyn queue_stats::source::QueueSource>>,
        write_timeout: Duration,
    ) -> Poller {
        let store = Arc::new(self.store());
        Poller::new(
            sources,
            store.clone(),
            store,
            Arc::new(KinesisSink::new(
                aws_sdk_kinesis::Client::new(&self.sdk),
                StreamRef::Name(self.stream.clone()),
                write_timeout,
            )),
            Some(RecordTenant {
                company_code: COMPANY.into(),
                environment: ENVIRONMENT.into(),
            }),
            Pacing {
                poll_interval: Duration::from_secs(10),
                source_timeout: Duration::from_secs(60),
                write_timeout,
                safety_margin: Duration::from_millis(100),
            },
        )
        .with_observer(queue_stats::telemetry::CycleTelemetry::default())
    }

    /// The Symbee source of this world.
    pub fn symbee_source(&self) -> SymbeeSource {
        let symbee = self.symbee_config();
        let key = self.api_key(&symbee);
        SymbeeSource::new(symbee, key).unwrap()
    }

    /// The real key cache over Secrets Manager on moto.
    pub fn api_key(&self, symbee: &SymbeeConfig) -> Arc<CachedSecret> {
        Arc::new(CachedSecret::new(
            Arc::new(SecretsManagerSource::in_region(
                &self.sdk,
                &symbee.secrets_region,
            )),
            &symbee.api_key_secret_id,
            Duration::from_secs(900),
        ))
    }
}

/// A secret source that counts its reads, over Secrets Manager on moto.
#[derive(Default)]
pub struct CountingSecrets {
    inner: Option<SecretsManagerSource>,
    reads: Arc<std::sync::atomic::AtomicU64>,
}

impl CountingSecrets {
    /// Reads made by every source sharing this counter.
    pub fn fetch_count(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl SecretSource for CountingSecrets {
    async fn secret_string(&self, secret_id: &str) -> Result<SecretValue, SecretError> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner
            .as_ref()
            .expect("a counter over a real source")
            .secret_string(secret_id)
            .await
    }
}

/// A log sink shared with the subscriber.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, at trace level. Global rather than
/// per-test: tracing caches per-callsite interest process-wide, so a
/// thread-local subscriber can miss events other tests' threads saw first.
pub fn captured_logs() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        captured
    })
}

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Owned settings (a stand-in world's) as the borrowed pairs the settings
/// helpers take.
pub fn pairs<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

impl Harness {
    /// A poller with a stand-in world's settings (another source on) and
    /// `extra` on top.
    pub fn poller_plus(
        &self,
        settings: &[(&'static str, String)],
        extra: &[(&str, &str)],
    ) -> (Poller, Arc<CountingSecrets>) {
        let mut all = pairs(settings);
        all.extend_from_slice(extra);
        self.poller(&all)
    }
}

/// A GET through the API handler, as API Gateway sends it; the JSON body.
pub async fn api_get(api: &queue_stats::api::Api, path: &str, query: &str) -> Value {
    let mut event = fixture("events/apigw-get-snapshot.json");
    event["rawPath"] = serde_json::json!(path);
    event["rawQueryString"] = serde_json::json!(query);
    event["requestContext"]["http"]["path"] = serde_json::json!(path);
    event["headers"]
        .as_object_mut()
        .unwrap()
        .remove("accept-encoding");
    let response = queue_stats::handlers::api::handle(
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        api,
    )
    .await
    .unwrap();
    let wire = serde_json::to_value(&response).unwrap();
    serde_json::from_str(wire["body"].as_str().expect("a body")).expect("a JSON body")
}

/// Waits until `condition` holds, checking every 20 ms for at most
/// `limit`; says whether it did. For things that happen on their own time
/// (a socket closing, a push arriving), never a fixed sleep.
pub async fn eventually<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One source's status in a cycle's report (the test fails without it).
pub fn status_of<'a>(
    report: &'a queue_stats::poller::CycleReport,
    source: &str,
) -> &'a queue_stats::model::SourceStatus {
    report
        .sources
        .iter()
        .find(|s| s.source.as_str() == source)
        .unwrap_or_else(|| panic!("no {source} status in {report:?}"))
}

impl Harness {
    /// The latest stored snapshot's queues of one source.
    pub async fn stored_queues(&self, source: &str) -> Vec<queue_stats::model::QueueStats> {
        use queue_stats::store::SnapshotReader;
        let snapshot = self
            .store()
            .latest_snapshot()
            .await
            .unwrap()
            .expect("a snapshot was written");
        snapshot
            .queues
            .into_iter()
            .filter(|q| q.source.as_str() == source)
            .collect()
    }
}

/// A fault front before moto and an SDK whose every call goes through it.
/// DynamoDB and Kinesis calls go on to where the harness put them
/// (dynalite and kinesalite in the test script's second pass).
pub async fn fault_front() -> (standins::aws_front::FaultProxy, SdkConfig) {
    let elsewhere: Vec<(&str, String)> = [
        ("DynamoDB_", "AWS_ENDPOINT_URL_DYNAMODB"),
        ("Kinesis_", "AWS_ENDPOINT_URL_KINESIS"),
    ]
    .into_iter()
    .filter_map(|(prefix, variable)| Some((prefix, std::env::var(variable).ok()?)))
    .collect();
    let routes: Vec<(&str, &str)> = elsewhere.iter().map(|(p, u)| (*p, u.as_str())).collect();
    let front = standins::aws_front::FaultProxy::start_routed(
        "127.0.0.1:0".parse().unwrap(),
        &moto_endpoint(),
        &routes,
    )
    .await
    .unwrap();
    let sdk = sdk_at(front.url(), "us-east-1").await;
    (front, sdk)
}
