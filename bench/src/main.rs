//! The speed programme's harness (run by `scripts/bench.sh`).
//!
//! `bench world FILE` sets up what the functions need on the emulator the
//! environment points at (tables with stored snapshots of 100 and 10,000
//! queues, a stream, the Symbee key), starts the stand-ins in this process,
//! writes their settings to FILE as `NAME=value` lines and serves until
//! killed. It runs beside the probe, never under valgrind, so its work is
//! not counted.
//!
//! `bench probe SCENARIO REPS` does one function's work the way the
//! function does it, configured by the environment like the function:
//! `init-poller`, `init-api`, `init-contact-flow` (cold start up to ready
//! for the first event), `poll` (REPS poll cycles), `snapshot-gzip`,
//! `snapshot-plain` (REPS `GET /v1/snapshot` through the API Gateway
//! adapter), `snapshot-new` (the same, a fresh API each time, so every
//! answer is built from the store), `queue` (`GET /v1/queues/{id}`) and
//! `contact-flow` (the contact-flow handler on the fixture event),
//! `announce` (10,000 level changes on a slow bus) and `contact-events`
//! (contact events applied to 1,000 polled Connect queues). It
//! prints `warm_cpu_ms` (process CPU per repetition after the first) and
//! `peak_rss_mb`. `scripts/bench.sh` counts instructions by running a
//! scenario under callgrind with 1 and with 1 + K repetitions: the
//! difference divided by K is one warm repetition, free of start-up cost.
//!
//! `bench lag CONTACTS` measures how soon a contact that starts waiting
//! shows in the API (see `lag.rs`).

mod lag;

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use queue_stats::api::Api;
use queue_stats::config::{FromSettings, ReaderConfig};
use queue_stats::model::{Snapshot, sort_canonical};
use queue_stats::store::dynamodb::DynamoSnapshotStore;
use queue_stats::store::{SnapshotReader, SnapshotWriter};
use serde_json::{Value, json};
use standins::connect::{ConnectStandin, ServiceLimits};
use standins::symbee::{ExpectedKey, SymbeeStandin, Tenant};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["world", file] => world(file).await,
        ["lag", contacts] => match contacts.parse::<usize>() {
            Ok(contacts) if contacts > 0 => lag::run(contacts).await,
            _ => Err("CONTACTS must be a whole number above 0".into()),
        },
        ["probe", scenario, reps] => match reps.parse::<u32>() {
            Ok(reps) if reps > 0 => probe(scenario, reps).await,
            _ => Err("REPS must be a whole number above 0".into()),
        },
        _ => Err("usage: bench world FILE | bench probe SCENARIO REPS | bench lag CONTACTS".into()),
    };
    if let Err(err) = result {
        eprintln!("bench: {err}");
        std::process::exit(1);
    }
}

/// Reader tables hold a snapshot of this many Symbee queues each.
const READER_SIZES: [usize; 2] = [100, 10_000];
/// Connect stand-ins with this many queues each.
const CONNECT_SIZES: [usize; 2] = [100, 1_000];
/// The Symbee stand-in's queue count.
const SYMBEE_QUEUES: usize = 10_000;
const SECRET_ID: &str = "bench/symbee-api-key";

async fn world(file: &str) -> Result<(), Error> {
    let sdk = queue_stats::aws::load_sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let mut env = vec![("BENCH_STREAM".to_owned(), "bench-stream".to_owned())];
    aws_sdk_kinesis::Client::new(&sdk)
        .create_stream()
        .stream_name("bench-stream")
        .shard_count(4)
        .send()
        .await?;
    DynamoSnapshotStore::create_table(&dynamodb, "bench-poll").await?;
    env.push(("BENCH_POLL_TABLE".into(), "bench-poll".into()));
    for n in READER_SIZES {
        let table = format!("bench-{n}");
        DynamoSnapshotStore::create_table(&dynamodb, &table).await?;
        let store = DynamoSnapshotStore::new(dynamodb.clone(), &table, Duration::from_secs(86_400));
        let body = serde_json::to_vec(&standins::symbee::synthetic_queues(n))?;
        let mut queues = queue_stats::source::symbee::wire::parse_response(&body)?;
        sort_canonical(&mut queues);
        store
            .put_snapshot(&Snapshot {
                snapshot_id: format!("bench-snapshot-{n}"),
                observed_at: chrono::Utc::now(),
                sources: vec![],
                queues,
            })
            .await?;
        env.push((format!("BENCH_TABLE_{n}"), table));
    }

    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    standins::symbee::install_or_rotate_key(&secrets, SECRET_ID, "bench-key").await?;
    let symbee = SymbeeStandin::start(
        "127.0.0.1:0".parse()?,
        Tenant {
            company_code: "bench".into(),
            environment: "prod".into(),
            secrets_region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        },
        ExpectedKey::SecretsManager {
            client: secrets,
            secret_id: SECRET_ID.into(),
        },
    )
    .await?;
    symbee
        .set_queues(standins::symbee::synthetic_queues(SYMBEE_QUEUES))
        .await;
    env.push(("BENCH_SYMBEE_URL".into(), symbee.base_url()));
    env.push(("BENCH_SYMBEE_SECRET".into(), SECRET_ID.into()));

    // Connect's real limits would make the probe wait, not work: the
    // stand-ins here do not throttle, and the probe lifts our limiter.
    let unthrottled = ServiceLimits {
        metrics_rate: 1e6,
        metrics_burst: 1e6,
        other_rate: 1e6,
        other_burst: 1e6,
    };
    let mut connects = Vec::new();
    for n in CONNECT_SIZES {
        let instance = format!("00000000-0000-4000-8000-{n:012}");
        let arn = format!("arn:aws:connect:us-east-1:123456789012:instance/{instance}");
        let connect = ConnectStandin::start("127.0.0.1:0".parse()?, &instance, unthrottled).await?;
        connect
            .set_queues(standins::connect::synthetic_queues(&arn, n))
            .await;
        env.push((format!("BENCH_CONNECT_{n}_INSTANCE"), arn));
        env.push((format!("BENCH_CONNECT_{n}_ENDPOINT"), connect.endpoint()));
        connects.push(connect);
    }

    // A bus that takes 50 ms a PutEvents call, as a real one does.
    let bus =
        standins::eventbridge::BusStandin::start("127.0.0.1:0".parse()?, Duration::from_millis(50))
            .await?;
    env.push(("BENCH_EVENTS_ENDPOINT".into(), bus.url().to_owned()));

    let lines: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(file, lines)?;
    eprintln!("bench world ready: {file}");
    std::future::pending::<()>().await;
    Ok(())
}

async fn probe(scenario: &str, reps: u32) -> Result<(), Error> {
    queue_stats::telemetry::init();
    let mut meter = Meter::default();
    match scenario {
        "init-poller" => drop(queue_stats::wiring::poller_from_env().await?),
        "init-api" => drop(queue_stats::wiring::api_from_env().await?),
        "init-contact-flow" => drop(queue_stats::wiring::contact_flow_from_env().await?),
        "poll" => {
            let poller = queue_stats::wiring::poller_from_env().await?;
            for _ in 0..reps {
                let report = poller.run_cycle().await;
                if !report.sources.iter().all(|s| s.error.is_none()) {
                    return Err(format!("a source failed: {:?}", report.sources).into());
                }
                meter.rep();
            }
        }
        "snapshot-gzip" | "snapshot-plain" | "queue" => {
            let api = queue_stats::wiring::api_from_env().await?;
            let event = api_event(scenario);
            for _ in 0..reps {
                api_answer(&api, &event).await?;
                meter.rep();
            }
        }
        "snapshot-new" => {
            let config = ReaderConfig::from_env()?;
            let sdk = queue_stats::aws::load_sdk_config().await;
            let store: Arc<dyn SnapshotReader> = Arc::new(DynamoSnapshotStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &config.table,
                Duration::from_secs(3600),
            ));
            let event = api_event("snapshot-gzip");
            for _ in 0..reps {
                // A fresh API holds no answer: each one is built from the store.
                let api = Api::new(store.clone(), config.clone());
                api_answer(&api, &event).await?;
                meter.rep();
            }
        }
        "contact-flow" => {
            let lookup = queue_stats::wiring::contact_flow_from_env().await?;
            let mut event = fixture("events/connect-contact-flow.json")?;
            event["Details"]["Parameters"]["queueId"] = json!(wanted_queue());
            for _ in 0..reps {
                let answer = queue_stats::handlers::contact_flow::handle(
                    LambdaEvent::new(event.clone(), Context::default()),
                    &lookup,
                )
                .await?;
                let answer = serde_json::to_value(&answer)?;
                if answer["found"] != "true" {
                    return Err(format!("the contact flow did not find the queue: {answer}").into());
                }
                meter.rep();
            }
        }
        "announce" => announce(reps, &mut meter).await?,
        "contact-events" => lag::apply_events(reps, &mut meter).await?,
        other => return Err(format!("unknown scenario {other:?}").into()),
    }
    meter.report();
    Ok(())
}

/// Queues that turn critical at once in the `announce` scenario.
const BURST: usize = 10_000;

/// A first deploy on a big tenant, REPS times: 10,000 queues adopted as
/// normal, then all critical at once, announced cycle after cycle (the
/// default budget and concurrency) on a bus that takes 50 ms a call, with
/// the announced state journalled in a table of its own. Prints how long
/// each burst took to drain and how many cycles.
async fn announce(reps: u32, meter: &mut Meter) -> Result<(), Error> {
    use queue_stats::events::dynamodb::DynamoAnnouncedStore;
    use queue_stats::events::eventbridge::EventBridgePublisher;
    use queue_stats::events::{AnnounceSettings, Announcer};
    use queue_stats::levels::Level;
    let sdk = queue_stats::aws::load_sdk_config().await;
    let bus = std::env::var("BENCH_EVENTS_ENDPOINT")?;
    let eventbridge = aws_sdk_eventbridge::config::Builder::from(&sdk)
        .endpoint_url(bus)
        .build();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("bench-announce-{}", uuid::Uuid::new_v4().simple());
    DynamoSnapshotStore::create_table(&dynamodb, &table).await?;
    let announcer = Announcer::new(
        Box::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::from_conf(eventbridge),
            "default",
        )),
        Box::new(DynamoAnnouncedStore::new(dynamodb, &table)),
        AnnounceSettings {
            hold_cycles: 1,
            budget: Duration::from_millis(4_000),
            concurrency: 10,
        },
    );
    let body = serde_json::to_vec(&standins::symbee::synthetic_queues(BURST))?;
    let queues = queue_stats::source::symbee::wire::parse_response(&body)?;
    for rep in 0..reps {
        let snapshot = |level: Level, n: u32| {
            let mut queues = queues.clone();
            for queue in &mut queues {
                // Each repetition's queues are new to the announcer.
                queue.queue_id = format!("{}-{rep}", queue.queue_id);
                queue.level = Some(level);
            }
            Arc::new(Snapshot {
                snapshot_id: format!("bench-{rep}-{n}"),
                observed_at: chrono::Utc::now(),
                sources: vec![],
                queues,
            })
        };
        announcer.announce(snapshot(Level::Normal, 0)).await;
        let started = std::time::Instant::now();
        let (mut sent, mut cycles) = (0, 0);
        loop {
            cycles += 1;
            let report = announcer.announce(snapshot(Level::Critical, cycles)).await;
            sent += report.events_sent;
            if report.events_pending == 0 {
                break;
            }
        }
        if sent != BURST {
            return Err(format!("{sent} of {BURST} events announced").into());
        }
        eprintln!(
            "announce_drain_s={:.2} announce_cycles={cycles}",
            started.elapsed().as_secs_f64()
        );
        meter.rep();
    }
    Ok(())
}

/// The queue the one-queue scenarios ask for: one from the middle.
fn wanted_queue() -> String {
    let n: usize = std::env::var("BENCH_QUEUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    format!("skill-queue-{:05}", n / 2)
}

fn fixture(path: &str) -> Result<Value, Error> {
    let root = std::env::var("BENCH_FIXTURES").unwrap_or_else(|_| "fixtures".into());
    Ok(serde_json::from_slice(&std::fs::read(format!(
        "{root}/{path}"
    ))?)?)
}

fn api_event(scenario: &str) -> Value {
    let mut event = fixture("events/apigw-get-snapshot.json").expect("the API Gateway fixture");
    let headers = event["headers"].as_object_mut().expect("headers");
    headers.remove("accept-encoding");
    match scenario {
        "snapshot-gzip" => {
            headers.insert("accept-encoding".into(), json!("gzip, br"));
        }
        "queue" => {
            let path = format!("/v1/queues/{}", wanted_queue());
            event["rawPath"] = json!(path);
            event["requestContext"]["http"]["path"] = json!(path);
        }
        _ => {}
    }
    event
}

async fn api_answer(api: &Api, event: &Value) -> Result<(), Error> {
    let response = queue_stats::handlers::api::handle(
        LambdaEvent::new(event.clone(), Context::default()),
        api,
    )
    .await?;
    if response.status_code != 200 {
        return Err(format!(
            "the API answered {}: {:?}",
            response.status_code, response.body
        )
        .into());
    }
    Ok(())
}

/// Process CPU time, from the first repetition's end on, and peak memory.
#[derive(Default)]
pub(crate) struct Meter {
    reps: u32,
    first: Option<Duration>,
}

impl Meter {
    pub(crate) fn rep(&mut self) {
        self.reps += 1;
        if self.reps == 1 {
            self.first = Some(cpu_time());
        }
    }

    fn report(&self) {
        let warm = match (self.first, self.reps) {
            (Some(first), reps) if reps > 1 => {
                format!(
                    "{:.2}",
                    (cpu_time() - first).as_secs_f64() * 1000.0 / f64::from(reps - 1)
                )
            }
            _ => "-".into(),
        };
        eprintln!(
            "warm_cpu_ms={warm} peak_rss_mb={:.1}",
            peak_rss_kb() as f64 / 1024.0
        );
    }
}

/// User + system time of this process, from /proc (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which sits in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
