//! `soak`: the local pipeline under faults and reader load, for minutes or
//! hours (run by `scripts/soak.sh`, which starts moto and checks the report).
//!
//! The real functions run as in the local run, with the AWS endpoint pointed
//! at a fault-injecting front for moto (`standins::aws_front`). Faults cycle
//! one phase at a time: Symbee 5xx, 429 and timeouts, Connect throttling,
//! 8x8 token expiry, Kinesis partial failures, DynamoDB throttling, failed
//! conditions and unprocessed items, a slow and partly refusing EventBridge
//! and one that denies every PutEvents, with quiet phases between.
//! Meanwhile:
//!
//! - a consumer reads the stream straight from moto and counts records per
//!   (snapshot, queue);
//! - readers load the API (`/v1/snapshot` with and without If-None-Match,
//!   one queue, health) and check every answer: a whole snapshot holds every
//!   queue, time never goes back, and a 5xx is only ever a declared,
//!   retryable unavailability;
//! - the resident memory of every process is sampled;
//! - every level and source event that reached the bus is recorded by
//!   the front, for `scripts/soak.sh` to prove each change went out once.
//!
//! It writes `target/soak/report.json`; the poller's cycle lines (stdout)
//! say what each cycle sent, and `scripts/soak.sh` holds the two together.
//!
//! Settings: SOAK_MINUTES (default 3), SOAK_PHASE_SECONDS (20),
//! SOAK_PROXY_PORT (the port `AWS_ENDPOINT_URL` names), MOTO_ENDPOINT (moto
//! itself), MOTO_PID (to sample its memory), and the local run's own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use local_run::{Running, Settings, invoke_poller, start};
use serde_json::{Value, json};
use standins::aws_front::{AwsFault, EventsFault, EventsMode, FaultProxy};
use standins::connect::ConnectFault;
use standins::control::{Controlled, SignsIn};
use standins::eight_by_eight::EightFault;
use standins::symbee::Fault;
use tokio::sync::Mutex;

#[derive(Clone, Copy, Debug)]
enum Phase {
    Quiet,
    Symbee5xx,
    Symbee429,
    SymbeeTimeout,
    ConnectThrottle,
    TokenExpiry,
    KinesisPartial,
    DynamoThrottle,
    DynamoConditional,
    DynamoUnprocessed,
    /// PutEvents takes 300 ms a call and refuses every third entry.
    EventsSlow,
    /// Every PutEvents call is denied.
    EventsDenied,
}

/// CI's three minutes run the first nine: a Symbee outage and both
/// EventBridge faults among them.
const PHASES: [Phase; 15] = [
    Phase::Quiet,
    Phase::Symbee5xx,
    Phase::EventsSlow,
    Phase::KinesisPartial,
    Phase::Symbee429,
    Phase::EventsDenied,
    Phase::DynamoThrottle,
    Phase::SymbeeTimeout,
    Phase::Quiet,
    Phase::ConnectThrottle,
    Phase::DynamoConditional,
    Phase::TokenExpiry,
    Phase::DynamoUnprocessed,
    Phase::EventsSlow,
    Phase::Quiet,
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let minutes = env_number("SOAK_MINUTES", 3);
    let phase = Duration::from_secs(env_number("SOAK_PHASE_SECONDS", 20));
    let moto = std::env::var("MOTO_ENDPOINT").expect("MOTO_ENDPOINT: moto itself");
    let proxy_port = env_number("SOAK_PROXY_PORT", 0) as u16;
    let proxy = FaultProxy::start(([127, 0, 0, 1], proxy_port).into(), &moto)
        .await
        .expect("the fault proxy");
    let settings = Settings::from_env().expect("settings");
    let running = Arc::new(start(&settings).await.expect("the local pipeline"));
    let expected = settings.expected_queues();
    eprintln!(
        "[soak] {expected} queues, {minutes} min, phases of {} s, AWS through {}",
        phase.as_secs(),
        proxy.url()
    );

    let done = Arc::new(AtomicBool::new(false));
    // The consumer stops only after the poller's last invocation ended.
    let stream_done = Arc::new(AtomicBool::new(false));
    let consumer = tokio::spawn(consume(
        moto.clone(),
        settings.stream.clone(),
        stream_done.clone(),
    ));
    let readers: Vec<_> = (0..3)
        .map(|i| tokio::spawn(read(i, running.api_url.clone(), expected, done.clone())))
        .collect();
    let memory = tokio::spawn(sample_memory(running.clone(), done.clone()));
    let poller = {
        let (running, done) = (running.clone(), done.clone());
        let timeout = Duration::from_secs(settings.poller_timeout_seconds);
        tokio::spawn(async move {
            let mut invocations = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let summary = invoke_poller(&running, timeout).await;
                eprintln!("[soak] poller invocation: {summary:?}");
                invocations.push(summary.map_err(|e| e.to_string()));
            }
            invocations
        })
    };

    // The fault cycle.
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let mut phases_run: Vec<String> = Vec::new();
    for phase_kind in PHASES.iter().cycle() {
        if Instant::now() >= deadline {
            break;
        }
        eprintln!("[soak] phase {phase_kind:?}");
        phases_run.push(format!("{phase_kind:?}"));
        apply(&running, &proxy, *phase_kind).await;
        tokio::time::sleep(phase.min(deadline.saturating_duration_since(Instant::now()))).await;
        clear(&running, &proxy).await;
    }
    // A last quiet stretch, so every queue's latest state is written.
    clear(&running, &proxy).await;
    tokio::time::sleep(Duration::from_secs(settings.poll_interval_seconds * 2)).await;
    done.store(true, Ordering::Relaxed);
    let invocations = poller.await.expect("poller task");
    stream_done.store(true, Ordering::Relaxed);
    let records = consumer.await.expect("consumer task");
    let mut reads = Vec::new();
    for reader in readers {
        reads.push(reader.await.expect("reader task"));
    }
    let memory = memory.await.expect("memory task");

    let report = json!({
        "minutes": minutes,
        "expectedQueues": expected,
        "phases": phases_run,
        "faultsInjectedByProxy": proxy.injected(),
        "invocations": invocations.iter().map(|r| match r {
            Ok(summary) => summary.clone(),
            Err(error) => json!({"error": error}),
        }).collect::<Vec<_>>(),
        "records": records,
        "events": proxy.forwarded_events(),
        "readers": reads,
        "memory": memory,
    });
    std::fs::create_dir_all("target/soak").expect("target/soak");
    std::fs::write(
        "target/soak/report.json",
        serde_json::to_vec_pretty(&report).expect("report"),
    )
    .expect("report written");
    running.stop().await;
    eprintln!("[soak] report written to target/soak/report.json");
}

async fn apply(running: &Running, proxy: &FaultProxy, phase: Phase) {
    let many = |fault: Fault| std::iter::repeat_n(fault, 50).collect::<Vec<_>>();
    match phase {
        Phase::Quiet => {}
        Phase::Symbee5xx => {
            running
                .symbee
                .inject(many(Fault::Status { status: 503 }))
                .await
        }
        Phase::Symbee429 => {
            running
                .symbee
                .inject(many(Fault::Status { status: 429 }))
                .await
        }
        Phase::SymbeeTimeout => {
            running
                .symbee
                .inject(many(Fault::Delay { millis: 30_000 }))
                .await
        }
        Phase::ConnectThrottle => {
            running
                .connect
                .inject(std::iter::repeat_n(ConnectFault::Throttle, 40))
                .await
        }
        Phase::TokenExpiry => {
            if let Some(eight) = &running.eight_by_eight {
                eight.expire_tokens().await;
                eight
                    .inject([
                        EightFault::Status { status: 401 },
                        EightFault::Status { status: 500 },
                    ])
                    .await;
            }
        }
        Phase::KinesisPartial => proxy.set(AwsFault::KinesisPartial).await,
        Phase::DynamoThrottle => proxy.set(AwsFault::DynamoThrottle).await,
        Phase::DynamoConditional => proxy.set(AwsFault::DynamoConditional).await,
        Phase::DynamoUnprocessed => proxy.set(AwsFault::DynamoUnprocessed).await,
        Phase::EventsSlow => {
            proxy
                .set_events(EventsFault {
                    delay: Duration::from_millis(300),
                    mode: EventsMode::Partial,
                })
                .await
        }
        Phase::EventsDenied => {
            proxy
                .set_events(EventsFault {
                    delay: Duration::from_millis(50),
                    mode: EventsMode::Denied,
                })
                .await
        }
    }
}

async fn clear(running: &Running, proxy: &FaultProxy) {
    proxy.set(AwsFault::None).await;
    proxy.set_events(EventsFault::default()).await;
    running.symbee.clear_faults().await;
    running.connect.clear_faults().await;
    if let Some(eight) = &running.eight_by_eight {
        eight.clear_faults().await;
    }
}

/// Reads the stream from moto directly (never through the faults) and
/// counts records per snapshot: distinct queues and duplicates.
async fn consume(moto: String, stream: String, done: Arc<AtomicBool>) -> Value {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto)
        .load()
        .await;
    let client = aws_sdk_kinesis::Client::new(&sdk);
    let shards = client
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .expect("list shards");
    let mut iterators = Vec::new();
    for shard in shards.shards() {
        let iterator = client
            .get_shard_iterator()
            .stream_name(&stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("shard iterator")
            .shard_iterator
            .unwrap_or_default();
        iterators.push(iterator);
    }
    let mut seen: HashMap<(String, String), u32> = HashMap::new();
    let mut total = 0u64;
    let mut quiet_since: Option<Instant> = None;
    loop {
        let mut got = 0;
        for iterator in iterators.iter_mut() {
            let Ok(output) = client
                .get_records()
                .shard_iterator(iterator.clone())
                .limit(10_000)
                .send()
                .await
            else {
                continue;
            };
            for record in output.records() {
                let Ok(body) = serde_json::from_slice::<Value>(record.data().as_ref()) else {
                    continue;
                };
                let snapshot = body["snapshotId"].as_str().unwrap_or("").to_owned();
                let queue = body
                    .pointer("/queue/queueId")
                    .and_then(Value::as_str)
                    .unwrap_or(record.partition_key())
                    .to_owned();
                *seen.entry((snapshot, queue)).or_default() += 1;
                got += 1;
            }
            if let Some(next) = output.next_shard_iterator() {
                *iterator = next.to_owned();
            }
        }
        total += got;
        if done.load(Ordering::Relaxed) {
            // Drain: stop once nothing new came for three seconds.
            if got == 0 {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(3) {
                    break;
                }
            } else {
                quiet_since = None;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut per_snapshot: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for ((snapshot, _), count) in &seen {
        let entry = per_snapshot.entry(snapshot.clone()).or_default();
        entry.0 += 1;
        entry.1 += count - 1;
    }
    json!({
        "total": total,
        "snapshots": per_snapshot.iter().map(|(id, (distinct, duplicates))| {
            (id.clone(), json!({"queues": distinct, "duplicates": duplicates}))
        }).collect::<serde_json::Map<_, _>>(),
    })
}

/// Loads the API and checks every answer.
async fn read(reader: usize, api: String, expected: usize, done: Arc<AtomicBool>) -> Value {
    let http = reqwest::Client::new();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    let mut last_observed = String::new();
    let mut etag: Option<String> = None;
    let mut requests = 0u64;
    // One queue to ask about, taken from the first whole snapshot.
    let mut one_queue: Option<String> = None;
    while !done.load(Ordering::Relaxed) {
        let queue_path = one_queue.as_ref().map(|id| format!("/v1/queues/{id}"));
        let path = match (requests % 4, &queue_path) {
            (0 | 1, _) => "/v1/snapshot",
            (2, Some(path)) => path.as_str(),
            _ => "/v1/health",
        };
        let mut request = http.get(format!("{api}{path}"));
        if path == "/v1/snapshot"
            && requests % 4 == 1
            && let Some(tag) = &etag
        {
            request = request.header("if-none-match", tag);
        }
        requests += 1;
        let Ok(response) = request.send().await else {
            problems.push(format!("{path}: no answer"));
            continue;
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let tag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = response
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("");
        *statuses
            .entry(if code.is_empty() {
                status.to_string()
            } else {
                format!("{status} {code}")
            })
            .or_default() += 1;
        match (path, status) {
            ("/v1/snapshot", 200) => {
                let queues = body["queues"].as_array().map_or(0, Vec::len);
                if queues != expected {
                    problems.push(format!("a snapshot with {queues} of {expected} queues"));
                }
                let observed = body["observedAt"].as_str().unwrap_or("").to_owned();
                if observed < last_observed {
                    problems.push(format!("went back from {last_observed} to {observed}"));
                }
                last_observed = observed;
                etag = tag;
                if one_queue.is_none() {
                    one_queue = body["queues"][queues / 2]["queueId"]
                        .as_str()
                        .map(|id| id.replace('/', "%2F").replace(':', "%3A"));
                }
            }
            // Declared unavailability: retryable, and said so.
            (_, 503) if matches!(code, "STORE_UNAVAILABLE" | "NO_SNAPSHOT_YET") && retry_after => {}
            // Health's own 503: no snapshot yet, or stale data.
            ("/v1/health", 503)
                if matches!(body["status"].as_str(), Some("stale" | "no_snapshot")) => {}
            (_, status) if status >= 500 => {
                let message = body["error"]["message"].as_str().unwrap_or("");
                problems.push(format!("{path}: {status} {code} {message}"));
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50 + reader as u64 * 10)).await;
    }
    problems.truncate(50);
    json!({"reader": reader, "requests": requests, "statuses": statuses, "problems": problems})
}

fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident memory of every process, every five seconds.
async fn sample_memory(running: Arc<Running>, done: Arc<AtomicBool>) -> Value {
    let mut pids: Vec<(&str, u32)> = vec![("soak (stand-ins, gateway)", std::process::id())];
    if let Some(pid) = running.poller.pid().await {
        pids.push(("poller", pid));
    }
    if let Some(pid) = running.functions.api.pid().await {
        pids.push(("api", pid));
    }
    if let Some(pid) = running.functions.contact_flow.pid().await {
        pids.push(("contact-flow", pid));
    }
    if let Some(pid) = std::env::var("MOTO_PID").ok().and_then(|p| p.parse().ok()) {
        pids.push(("moto", pid));
    }
    let samples: Mutex<BTreeMap<&str, Vec<u64>>> = Mutex::new(BTreeMap::new());
    while !done.load(Ordering::Relaxed) {
        for (name, pid) in &pids {
            if let Some(kb) = rss_kb(*pid) {
                samples.lock().await.entry(name).or_default().push(kb);
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let samples = samples.into_inner();
    samples
        .into_iter()
        .map(|(name, kb)| (name.to_owned(), json!(kb)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}
