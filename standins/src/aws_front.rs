//! A fault-injecting front for the AWS emulator, for the soak and the
//! end-to-end tests.
//!
//! moto answers every call it can; AWS does not. This proxy sits between
//! the functions and moto (`AWS_ENDPOINT_URL` points at it) and, while a
//! fault is set, answers the way DynamoDB, Kinesis, EventBridge and SQS do
//! under pressure or misconfigured: throttling, a failed condition,
//! `UnprocessedItems`, Kinesis and PutEvents partial failures, a denied
//! PutEvents or SQS queue, and a bus that takes its time (a real PutEvents
//! call takes tens of milliseconds). A refused
//! entry or an unprocessed item is never forwarded, so what the emulator
//! holds is exactly what the caller was told went in: a resend is then a
//! first write, never a duplicate. Every PutEvents entry forwarded is
//! recorded, so a test can count what reached the bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsFault {
    None,
    /// Every third PutRecords entry fails with ProvisionedThroughputExceeded.
    KinesisPartial,
    /// Every other DynamoDB call is throttled.
    DynamoThrottle,
    /// Every conditional PutItem fails its condition.
    DynamoConditional,
    /// BatchWriteItem takes half of each batch and hands the rest back.
    DynamoUnprocessed,
    /// Every SQS call is refused as a role without `sqs:*` on the queue is
    /// (403 `AccessDenied`), before the emulator sees it.
    SqsDenied,
}

/// How PutEvents is answered, independently of the other faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventsFault {
    /// Each PutEvents call waits this long before it is forwarded.
    pub delay: std::time::Duration,
    pub mode: EventsMode,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventsMode {
    #[default]
    Pass,
    /// Every third entry is refused (`ThrottlingException`), not forwarded.
    Partial,
    /// Every call is refused whole (`AccessDeniedException`).
    Denied,
    /// The first `n` calls pass; every later one is held forever and never
    /// forwarded (a bus gone silent, or a process stopped while waiting).
    StallAfter(u64),
}

struct Shared {
    upstream: String,
    /// Services served elsewhere: (`X-Amz-Target` prefix, upstream).
    routes: Vec<(String, String)>,
    http: reqwest::Client,
    fault: Mutex<AwsFault>,
    events: Mutex<EventsFault>,
    /// The `detail` of every PutEvents entry forwarded, in order.
    forwarded_events: std::sync::Mutex<Vec<Value>>,
    put_events_calls: AtomicU64,
    calls: AtomicU64,
    injected: AtomicU64,
}

#[derive(Clone)]
pub struct FaultProxy {
    url: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Serves on `bind` (port 0 picks one), forwarding to `upstream`.
    /// As [`FaultProxy::start_routed`], with every service at `upstream`.
    pub async fn start(bind: std::net::SocketAddr, upstream: &str) -> std::io::Result<Self> {
        Self::start_routed(bind, upstream, &[]).await
    }

    /// Serves on `bind`, forwarding to `upstream`, except calls whose
    /// `X-Amz-Target` starts with one of `routes`' prefixes (`DynamoDB_`,
    /// `Kinesis_`), which go to that route's upstream (another emulator).
    pub async fn start_routed(
        bind: std::net::SocketAddr,
        upstream: &str,
        routes: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            routes: routes
                .iter()
                .map(|(prefix, url)| ((*prefix).to_owned(), url.trim_end_matches('/').to_owned()))
                .collect(),
            http: reqwest::Client::new(),
            fault: Mutex::new(AwsFault::None),
            events: Mutex::new(EventsFault::default()),
            forwarded_events: std::sync::Mutex::new(Vec::new()),
            put_events_calls: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        });
        let app = Router::new()
            .fallback(proxy)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared.clone());
        let url = format!("http://{}", crate::serve(bind, app).await?);
        Ok(Self { url, shared })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn set(&self, fault: AwsFault) {
        *self.shared.fault.lock().await = fault;
    }

    pub async fn set_events(&self, events: EventsFault) {
        *self.shared.events.lock().await = events;
    }

    /// The `detail` of every event that reached the emulator's bus.
    pub fn forwarded_events(&self) -> Vec<Value> {
        self.shared
            .forwarded_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many answers were faults rather than the emulator's.
    pub fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::Relaxed)
    }
}

fn events_error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.1")],
        json!({ "__type": kind, "message": message }).to_string(),
    )
        .into_response()
}

fn aws_error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.0")],
        json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message })
            .to_string(),
    )
        .into_response()
}

/// SQS's answer, in its JSON protocol, to a caller its policies do not
/// allow: 403, the coral `AccessDeniedException`, and the query-protocol
/// code older clients read from `x-amzn-query-error`.
fn sqs_denied(target: &str) -> Response {
    let action = target.trim_start_matches("AmazonSQS.").to_ascii_lowercase();
    (
        StatusCode::FORBIDDEN,
        [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", "AccessDenied;Sender"),
        ],
        json!({
            "__type": "com.amazon.coral.service#AccessDeniedException",
            "message": format!(
                "User: arn:aws:sts::123456789012:assumed-role/poller/queue-stats is not \
                 authorized to perform: sqs:{action} because no identity-based policy \
                 allows the sqs:{action} action (injected)"
            ),
        })
        .to_string(),
    )
        .into_response()
}

async fn proxy(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let call = shared.calls.fetch_add(1, Ordering::Relaxed);
    let fault = *shared.fault.lock().await;
    let injected = || shared.injected.fetch_add(1, Ordering::Relaxed);
    if target == "AWSEvents.PutEvents" {
        let events = *shared.events.lock().await;
        let call = shared.put_events_calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(events.delay).await;
        return match events.mode {
            EventsMode::StallAfter(n) if call >= n => {
                injected();
                std::future::pending().await
            }
            EventsMode::StallAfter(_) => put_events(&shared, &parts, body, false).await,
            EventsMode::Denied => {
                injected();
                events_error(
                    "AccessDeniedException",
                    "User is not authorized to perform: events:PutEvents (injected)",
                )
            }
            EventsMode::Partial => {
                injected();
                put_events(&shared, &parts, body, true).await
            }
            EventsMode::Pass => put_events(&shared, &parts, body, false).await,
        };
    }
    match (fault, target.as_str()) {
        (AwsFault::DynamoThrottle, t) if t.starts_with("DynamoDB_") && call % 2 == 0 => {
            injected();
            aws_error(
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            )
        }
        (AwsFault::DynamoConditional, "DynamoDB_20120810.PutItem")
            if body.windows(19).any(|w| w == b"ConditionExpression") =>
        {
            injected();
            aws_error(
                "ConditionalCheckFailedException",
                "The conditional request failed",
            )
        }
        (AwsFault::DynamoUnprocessed, "DynamoDB_20120810.BatchWriteItem") => {
            injected();
            unprocessed(&shared, &parts, body).await
        }
        (AwsFault::SqsDenied, t) if t.starts_with("AmazonSQS.") => {
            injected();
            sqs_denied(t)
        }
        (AwsFault::KinesisPartial, "Kinesis_20131202.PutRecords") => {
            injected();
            partial(&shared, &parts, body).await
        }
        _ => forward(&shared, &parts, body).await,
    }
}

fn upstream_for<'a>(shared: &'a Shared, parts: &axum::http::request::Parts) -> &'a str {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    shared
        .routes
        .iter()
        .find(|(prefix, _)| target.starts_with(prefix.as_str()))
        .map_or(shared.upstream.as_str(), |(_, url)| url.as_str())
}

async fn send(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Result<(StatusCode, HeaderMap, Bytes), Response> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut request = shared.http.request(
        parts.method.clone(),
        format!("{}{path}", upstream_for(shared, parts)),
    );
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = request
        .body(body)
        .send()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())?;
    Ok((status, headers, bytes))
}

async fn forward(shared: &Shared, parts: &axum::http::request::Parts, body: Bytes) -> Response {
    match send(shared, parts, body).await {
        Ok((status, headers, bytes)) => {
            let mut response = (status, bytes).into_response();
            for name in ["content-type", "x-amzn-requestid", "x-amz-crc32"] {
                if let Some(value) = headers.get(name) {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(response) => response,
    }
}

fn json_response(status: StatusCode, content_type: &'static str, value: &Value) -> Response {
    (status, [("content-type", content_type)], value.to_string()).into_response()
}

/// Forwards half of each table's batch; the rest comes back unprocessed.
async fn unprocessed(shared: &Shared, parts: &axum::http::request::Parts, body: Bytes) -> Response {
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return forward(shared, parts, body).await;
    };
    let mut held = serde_json::Map::new();
    if let Some(tables) = request["RequestItems"].as_object_mut() {
        for (table, writes) in tables.iter_mut() {
            if let Some(list) = writes.as_array_mut() {
                let keep = list.len().div_ceil(2);
                let rest = list.split_off(keep);
                if !rest.is_empty() {
                    held.insert(table.clone(), Value::Array(rest));
                }
            }
        }
    }
    let forwarded = Bytes::from(request.to_string());
    match send(shared, parts, forwarded).await {
        Ok((status, _, bytes)) if status.is_success() => {
            let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
            let left = answer["UnprocessedItems"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let mut merged = held;
            for (table, writes) in left {
                let entry = merged.entry(table).or_insert_with(|| json!([]));
                if let (Some(list), Some(more)) = (entry.as_array_mut(), writes.as_array()) {
                    list.extend(more.iter().cloned());
                }
            }
            answer["UnprocessedItems"] = Value::Object(merged);
            json_response(StatusCode::OK, "application/x-amz-json-1.0", &answer)
        }
        Ok((status, _, bytes)) => (status, bytes).into_response(),
        Err(response) => response,
    }
}

/// Fails every third entry without forwarding it; the rest go in.
async fn partial(shared: &Shared, parts: &axum::http::request::Parts, body: Bytes) -> Response {
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return forward(shared, parts, body).await;
    };
    let records = request["Records"].as_array().cloned().unwrap_or_default();
    let failed: Vec<bool> = (0..records.len()).map(|i| i % 3 == 1).collect();
    let kept: Vec<Value> = records
        .iter()
        .zip(&failed)
        .filter(|(_, f)| !**f)
        .map(|(r, _)| r.clone())
        .collect();
    let mut accepted: Vec<Value> = Vec::new();
    if !kept.is_empty() {
        request["Records"] = Value::Array(kept);
        match send(shared, parts, Bytes::from(request.to_string())).await {
            Ok((status, _, bytes)) if status.is_success() => {
                let answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
                accepted = answer["Records"].as_array().cloned().unwrap_or_default();
            }
            Ok((status, _, bytes)) => return (status, bytes).into_response(),
            Err(response) => return response,
        }
    }
    let mut accepted = accepted.into_iter();
    let mut failed_count = 0;
    let entries: Vec<Value> = failed
        .iter()
        .map(|f| {
            if *f {
                failed_count += 1;
                json!({
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded for shard shardId-000000000000 (injected by the soak)"
                })
            } else {
                accepted.next().unwrap_or_else(|| json!({
                    "ErrorCode": "InternalFailure", "ErrorMessage": "the emulator answered fewer entries"
                }))
            }
        })
        .collect();
    let failed_count = failed_count
        + entries
            .iter()
            .filter(|e| e["ErrorCode"] == "InternalFailure")
            .count();
    json_response(
        StatusCode::OK,
        "application/x-amz-json-1.1",
        &json!({ "FailedRecordCount": failed_count, "Records": entries }),
    )
}

/// Forwards PutEvents' entries (all, or all but every third when
/// `partial`), records what went in, and answers for each entry in order.
async fn put_events(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    body: Bytes,
    partial: bool,
) -> Response {
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return forward(shared, parts, body).await;
    };
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    let refused: Vec<bool> = (0..entries.len()).map(|i| partial && i % 3 == 1).collect();
    let kept: Vec<Value> = entries
        .iter()
        .zip(&refused)
        .filter(|(_, r)| !**r)
        .map(|(e, _)| e.clone())
        .collect();
    let mut accepted: Vec<Value> = Vec::new();
    if !kept.is_empty() {
        request["Entries"] = Value::Array(kept.clone());
        match send(shared, parts, Bytes::from(request.to_string())).await {
            Ok((status, _, bytes)) if status.is_success() => {
                let answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
                accepted = answer["Entries"].as_array().cloned().unwrap_or_default();
                let mut log = shared
                    .forwarded_events
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                for (entry, result) in kept.iter().zip(&accepted) {
                    if result.get("ErrorCode").is_none() {
                        let detail = entry["Detail"]
                            .as_str()
                            .and_then(|d| serde_json::from_str(d).ok())
                            .unwrap_or(Value::Null);
                        log.push(detail);
                    }
                }
            }
            Ok((status, _, bytes)) => return (status, bytes).into_response(),
            Err(response) => return response,
        }
    }
    let mut accepted = accepted.into_iter();
    let results: Vec<Value> = refused
        .iter()
        .map(|r| {
            if *r {
                json!({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded (injected)"})
            } else {
                accepted.next().unwrap_or_else(|| json!({
                    "ErrorCode": "InternalFailure", "ErrorMessage": "the emulator answered fewer entries"
                }))
            }
        })
        .collect();
    let failed = results
        .iter()
        .filter(|r| r.get("ErrorCode").is_some())
        .count();
    json_response(
        StatusCode::OK,
        "application/x-amz-json-1.1",
        &json!({ "FailedEntryCount": failed, "Entries": results }),
    )
}
