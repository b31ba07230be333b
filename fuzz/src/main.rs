//! Mutation fuzzing of every parser of outside input, on stable Rust.
//!
//! `fuzz [--seconds N] [--seed N] [TARGET...]` runs each target for N
//! seconds (default 10): inputs start from the seed files in `fixtures/`,
//! are mutated (bit flips, byte and token insertions, deletions,
//! duplications, splices of two inputs, truncation, deep nesting) and fed
//! to the target; an input that makes the target answer in a way not seen
//! before joins the corpus. A panic is the one failure: the input is saved
//! under `target/fuzz/crashes/` and the run exits 1.
//!
//! Not coverage-guided (cargo-fuzz needs a nightly toolchain); the outcome
//! classes (which error, how many queues) stand in for coverage, and the
//! seeds are real responses, so mutations stay close to the shapes that
//! reach deep into each parser.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use queue_stats::api::request::{params, route};
use queue_stats::api::response::{accepts_gzip, none_match};
use queue_stats::source::eight_by_eight::Endpoint;

/// A parser under test: takes raw bytes, says what it made of them.
type Target = fn(&[u8]) -> String;

struct Spec {
    name: &'static str,
    run: Target,
    /// Seed files, relative to `fixtures/`.
    seeds: &'static [&'static str],
}

const TARGETS: &[Spec] = &[
    Spec {
        name: "symbee-response",
        run: symbee_response,
        seeds: &[
            "symbee/retrieve-queue-info.seed-example.json",
            "symbee/retrieve-queue-info.unknown-values.json",
        ],
    },
    Spec {
        name: "8x8-call-queue-metrics",
        run: eight_by_eight_metrics,
        seeds: &["8x8/call-queue-metrics.json"],
    },
    Spec {
        name: "8x8-realtime",
        run: eight_by_eight_realtime,
        seeds: &["8x8/realtime.json"],
    },
    Spec {
        name: "8x8-token",
        run: eight_by_eight_token,
        seeds: &["8x8/token.json"],
    },
    Spec {
        name: "clarity-push",
        run: clarity_push,
        seeds: &["clarity/initial-state.json", "clarity/diff.json"],
    },
    Spec {
        name: "signalr-frame",
        run: signalr_frame,
        seeds: &["clarity/signalr-update-frame.json"],
    },
    Spec {
        name: "api-request",
        run: api_request,
        seeds: &[],
    },
    Spec {
        name: "apigw-event",
        run: apigw_event,
        seeds: &["events/apigw-get-snapshot.json"],
    },
    Spec {
        name: "contact-flow-event",
        run: contact_flow_event,
        seeds: &["events/connect-contact-flow.json"],
    },
    Spec {
        name: "mcp-request",
        run: mcp_request,
        seeds: &["mcp/seeds/tools-call.json", "mcp/seeds/initialize.json"],
    },
];

fn symbee_response(input: &[u8]) -> String {
    outcome(queue_stats::source::symbee::wire::parse_response(input))
}

fn eight_by_eight_metrics(input: &[u8]) -> String {
    outcome(queue_stats::source::eight_by_eight::wire::parse_queues(
        Endpoint::CallQueueMetrics,
        input,
    ))
}

fn eight_by_eight_realtime(input: &[u8]) -> String {
    outcome(queue_stats::source::eight_by_eight::wire::parse_queues(
        Endpoint::Realtime,
        input,
    ))
}

fn eight_by_eight_token(input: &[u8]) -> String {
    match serde_json::from_slice::<queue_stats::source::eight_by_eight::wire::TokenResponse>(input)
    {
        Ok(token) => format!("token {}", token.access_token.len().min(64)),
        Err(err) => classify(&err.to_string()),
    }
}

/// One pushed Realtime Data Response (or a list), applied to a fresh
/// book and read back, as the Clarity source's reader does.
fn clarity_push(input: &[u8]) -> String {
    use queue_stats::source::clarity::wire::{Modality, QueueBook, parse_update};
    let argument: serde_json::Value = match serde_json::from_slice(input) {
        Ok(value) => value,
        Err(err) => return classify(&err.to_string()),
    };
    let now = std::time::Instant::now();
    let mut book = QueueBook::default();
    match parse_update(&argument).and_then(|updates| book.apply(updates, now)) {
        Ok(()) => format!("ok {}", book.queues(&Modality::ALL, now).len().min(16)),
        Err(err) => classify(&err.to_string()),
    }
}

/// A SignalR text frame, and every hub call's arguments in it applied as
/// Clarity pushes.
fn signalr_frame(input: &[u8]) -> String {
    use queue_stats::source::clarity::signalr::{Frame, parse_frame};
    match parse_frame(&String::from_utf8_lossy(input)) {
        Ok(Frame::Messages(invocations)) => {
            let applied: Vec<String> = invocations
                .iter()
                .flat_map(|i| &i.args)
                .map(|arg| clarity_push(arg.to_string().as_bytes()))
                .collect();
            format!("messages {}", applied.join(","))
        }
        Ok(other) => format!("{other:?}"),
        Err(err) => classify(&err.to_string()),
    }
}

/// A raw request line's parts as API Gateway passes them: path, query and
/// the two headers we interpret, split on newlines.
fn api_request(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    let mut parts = text.split('\n');
    let (path, query) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (encoding, tag) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let gzip = accepts_gzip(encoding);
    let matched = none_match(tag, "\"0123456789abcdef\"");
    match route(path) {
        Ok(route) => match params(&route, query) {
            Ok(params) => format!("{} {} {gzip} {matched}", route.template(), params.len()),
            Err(err) => format!("params {} {gzip}", err.code),
        },
        Err(err) => format!("route {}", err.code),
    }
}

fn apigw_event(input: &[u8]) -> String {
    use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
    match serde_json::from_slice::<ApiGatewayV2httpRequest>(input) {
        Ok(event) => {
            let request = queue_stats::handlers::api::from_gateway(&event);
            let routed = route(&request.raw_path).map(|r| r.template());
            format!("{} {:?}", request.method, routed.map_err(|e| e.code))
        }
        Err(err) => classify(&err.to_string()),
    }
}

fn contact_flow_event(input: &[u8]) -> String {
    match queue_stats::handlers::contact_flow::readable(input) {
        Err(err) => classify(&err.to_string()),
        Ok(()) => {
            let event: serde_json::Value =
                serde_json::from_slice(input).expect("readable means the runtime can parse it");
            let queue = queue_stats::contact_flow::requested_queue(&event);
            let queues = queue_stats::contact_flow::requested_queues(&event);
            let channel = queue_stats::contact_flow::contact_channel(&event);
            format!(
                "queue {} of {} on {}",
                queue.map_or(0, |q| q.len().min(8)),
                queues.len(),
                channel.map_or(0, |c| c.len().min(8))
            )
        }
    }
}

/// A POST to /mcp with the headers a 2026-07-28 client sends for the seed's
/// tools/call: what the envelope parser makes of the mutated body.
fn mcp_request(input: &[u8]) -> String {
    use queue_stats::api::mcp::protocol::{Incoming, parse};
    let headers: Vec<(String, String)> = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "list_queues"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    match parse(&headers, input) {
        Err(rejected) => {
            // Whatever the body, the answer is a 4xx with a protocol code.
            assert!((400..500).contains(&rejected.status), "{rejected:?}");
            format!("rejected {} {}", rejected.status, rejected.code.0)
        }
        Ok(Incoming::Notification) => "notification".to_owned(),
        Ok(Incoming::Request(call)) => format!("{:?} {}", call.era, call.method.len().min(12)),
    }
}

fn outcome<T, E: std::fmt::Display>(result: Result<Vec<T>, E>) -> String {
    match result {
        Ok(queues) => format!("ok {}", queues.len().min(16)),
        Err(err) => classify(&err.to_string()),
    }
}

/// An error message without its positions and quoted values: the kind of
/// answer, not the exact input.
fn classify(message: &str) -> String {
    let head = message.split(" at line").next().unwrap_or(message);
    head.split(['`', '"'])
        .step_by(2)
        .collect::<Vec<_>>()
        .join("_")
}

/// Tokens that steer mutations into JSON's corners.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"-0.0",
    b"18446744073709551616",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b"\xff",
    b"\xc3\x28",
    b"%00",
    b"%2F",
    b"%",
    b"/",
    b"\n",
    b"queueId=",
    b"&",
    b"=",
    b"gzip;q=0",
    b"*",
    b"W/",
];

fn mutate(input: &[u8], corpus: &[Vec<u8>], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let len = out.len();
        match rng.u8(0..9) {
            0 if len > 0 => {
                let i = rng.usize(0..len);
                out[i] ^= 1 << rng.u8(0..8);
            }
            1 if len > 0 => {
                let i = rng.usize(0..len);
                out[i] = rng.u8(..);
            }
            2 => {
                let token = TOKENS[rng.usize(0..TOKENS.len())];
                let at = rng.usize(0..=len);
                out.splice(at..at, token.iter().copied());
            }
            3 if len > 0 => {
                let start = rng.usize(0..len);
                let end = (start + rng.usize(1..=16)).min(len);
                out.drain(start..end);
            }
            4 if len > 0 => {
                let start = rng.usize(0..len);
                let end = (start + rng.usize(1..=64)).min(len);
                let chunk = out[start..end].to_vec();
                let at = rng.usize(0..=out.len());
                out.splice(at..at, chunk);
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.usize(0..corpus.len())];
                let cut = rng.usize(0..=len);
                let from = rng.usize(0..=other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            6 => out.truncate(rng.usize(0..=len)),
            7 => {
                let depth = rng.usize(1..=300);
                let at = rng.usize(0..=len);
                let open = if rng.bool() { b'[' } else { b'{' };
                out.splice(at..at, std::iter::repeat_n(open, depth));
            }
            _ => {
                // A number where a number goes, far outside its range.
                let number = ["-1", "1e308", "4294967296", "NaN", "0.5"][rng.usize(0..5)];
                let at = rng.usize(0..=len);
                out.splice(at..at, number.bytes());
            }
        }
    }
    out
}

fn seeds(spec: &Spec, fixtures: &Path) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = spec
        .seeds
        .iter()
        .map(|file| {
            std::fs::read(fixtures.join(file))
                .unwrap_or_else(|err| panic!("seed fixtures/{file}: {err}"))
        })
        .collect();
    if spec.name == "api-request" {
        for seed in [
            "/v1/snapshot\nsource=symbee&queueId=a&taskType=SMS\ngzip, br\n\"x\"",
            "/v1/queues/arn%3Aaws%3Aconnect%3Aus-east-1%3A1%3Ainstance%2Fi%2Fqueue%2Fq/history\nminutes=15\n*;q=0\nW/\"0123456789abcdef\"",
            "/v1/health\n\nidentity\n*",
        ] {
            seeds.push(seed.as_bytes().to_vec());
        }
    }
    seeds
}

fn run(spec: &Spec, fixtures: &Path, budget: Duration, seed: u64) -> Result<(u64, usize), PathBuf> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut corpus = seeds(spec, fixtures);
    let mut seen: HashSet<String> = HashSet::new();
    let started = Instant::now();
    let mut executions = 0u64;
    let mut next = 0usize;
    while started.elapsed() < budget {
        let input = if executions < corpus.len() as u64 {
            corpus[executions as usize].clone()
        } else {
            next = (next + 1) % corpus.len();
            mutate(&corpus[next], &corpus, &mut rng)
        };
        executions += 1;
        match catch_unwind(AssertUnwindSafe(|| (spec.run)(&input))) {
            Ok(answer) => {
                if seen.insert(answer) && corpus.len() < 4096 {
                    corpus.push(input);
                }
            }
            Err(_) => {
                let dir = PathBuf::from("target/fuzz/crashes");
                std::fs::create_dir_all(&dir).expect("a crash directory");
                let file = dir.join(format!(
                    "{}-{:016x}",
                    spec.name,
                    queue_stats::model::fnv1a(&input)
                ));
                std::fs::write(&file, &input).expect("the crashing input saved");
                return Err(file);
            }
        }
    }
    Ok((executions, corpus.len()))
}

fn main() {
    let mut seconds = 10u64;
    let mut seed = 20_261_122u64;
    let mut wanted: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            "--list" => {
                TARGETS.iter().for_each(|t| println!("{}", t.name));
                return;
            }
            name => wanted.push(name.to_owned()),
        }
    }
    for name in &wanted {
        if !TARGETS.iter().any(|t| t.name == name) {
            eprintln!("fuzz: unknown target {name:?} (fuzz --list names them)");
            std::process::exit(2);
        }
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    // Panics are the findings; their default report would flood the log.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for spec in TARGETS
        .iter()
        .filter(|t| wanted.is_empty() || wanted.iter().any(|w| w == t.name))
    {
        match run(spec, &fixtures, Duration::from_secs(seconds), seed) {
            Ok((executions, corpus)) => println!(
                "ok    {:24} {executions:>9} inputs, {corpus:>4} kept, 0 panics",
                spec.name
            ),
            Err(file) => {
                failed = true;
                println!(
                    "FAIL  {:24} panicked; input saved to {}",
                    spec.name,
                    file.display()
                );
            }
        }
    }
    std::process::exit(i32::from(failed));
}
