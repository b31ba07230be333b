//! A stand-in for 8x8 Work Analytics: the token endpoint and both
//! call-queue endpoints (the successor `call-queue-metrics`, seconds; the
//! deprecated `real-time`, milliseconds).
//!
//! It checks what 8x8 checks: the `8x8-apikey` header on every call, the
//! form login (400 `invalid_grant` for a wrong user or password, 401 for a
//! wrong key), and a live bearer token on data calls (401 once expired or
//! revoked). Faults are queued per request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::bearer::error;
use crate::control::{Faults, Logs, RequestLog, SignIn, faults_route};

/// One call queue as the stand-in knows it; durations in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct EightQueue {
    pub id: String,
    pub name: String,
    pub extension: String,
    pub site: String,
    pub deleted: bool,
    pub waiting: u64,
    pub longest_wait_secs: u64,
    pub available: u64,
    pub eligible: u64,
    pub wrapping_up: u64,
    pub handling: u64,
    pub avg_wait_secs: f64,
}

/// `n` queues with distinct figures, every seventh one deleted.
pub fn synthetic_queues(n: usize) -> Vec<EightQueue> {
    (0..n)
        .map(|i| EightQueue {
            id: format!("cq{i:05}Xa8"),
            name: format!("8x8 Queue {i}"),
            extension: format!("{}", 1000 + i),
            site: if i % 2 == 0 { "SanJose" } else { "London" }.to_owned(),
            deleted: i % 7 == 6,
            waiting: (i % 9) as u64,
            longest_wait_secs: (i * 13 % 400) as u64,
            available: (i % 4) as u64,
            eligible: (i % 12 + 2) as u64,
            wrapping_up: (i % 3) as u64,
            handling: (i % 6) as u64,
            avg_wait_secs: (i * 7 % 200) as f64 + 0.5,
        })
        .collect()
}

/// One injected fault, applied to the next request of its kind.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EightFault {
    /// The next data call answers this status.
    Status { status: u16 },
    /// The next data call waits this long first.
    Delay { millis: u64 },
    /// The next data call answers 200 with HTML.
    Malformed,
    /// The next data call answers 200 with half its body.
    Truncated,
    /// The next login answers this status.
    TokenStatus { status: u16 },
}

/// A request the stand-in answered: for tests to count logins and retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// `token`, `call-queue-metrics` or `realtime`.
    pub operation: &'static str,
    pub status: u16,
    pub query: HashMap<String, String>,
}

/// What the stand-in accepts as credentials.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub api_key: String,
    pub username: String,
    pub password: String,
}

struct Shared {
    pbx_id: String,
    sign_in: SignIn<Accepted>,
    queues: Mutex<Vec<EightQueue>>,
    faults: Faults<EightFault>,
    log: RequestLog<Logged>,
}

#[derive(Clone)]
pub struct EightByEightStandin {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl EightByEightStandin {
    pub async fn start(
        bind: SocketAddr,
        pbx_id: &str,
        accepted: Accepted,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            pbx_id: pbx_id.to_owned(),
            // Tokens live 1800 s, as 8x8's do, unless a test says otherwise.
            sign_in: SignIn::new(accepted, Duration::from_secs(1800)),
            queues: Mutex::new(Vec::new()),
            faults: Faults::default(),
            log: RequestLog::default(),
        });
        let app = Router::new()
            .route("/v1/oauth/token", post(token))
            .route(
                "/v2/pbxes/{pbx}/call-queue-metrics",
                get(call_queue_metrics),
            )
            .route("/v2/call-queues/real-time/pbxes/{pbx}", get(realtime))
            .route("/_standin/faults", faults_route(|s: &Shared| &s.faults))
            .with_state(shared.clone());
        let addr = crate::serve(bind, app).await?;
        Ok(Self { addr, shared })
    }

    /// `http://127.0.0.1:PORT`, the value for `EIGHTX8_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn set_queues(&self, queues: Vec<EightQueue>) {
        *self.shared.queues.lock().await = queues;
    }

    pub async fn queues(&self) -> Vec<EightQueue> {
        self.shared.queues.lock().await.clone()
    }

    /// Requests of one operation, answered with any status.
    pub async fn count(&self, operation: &str) -> usize {
        self.count_where(|l| l.operation == operation).await
    }
}

crate::controls!(EightByEightStandin {
    faults: EightFault,
    log: Logged,
    sign_in: Accepted
});

async fn record(
    shared: &Shared,
    operation: &'static str,
    query: HashMap<String, String>,
    response: Response,
) -> Response {
    shared
        .log
        .record(Logged {
            operation,
            status: response.status().as_u16(),
            query,
        })
        .await;
    response
}

#[derive(Deserialize)]
struct Login {
    username: Option<String>,
    password: Option<String>,
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<Login>, axum::extract::rejection::FormRejection>,
) -> Response {
    let response = issue_token(&shared, &headers, form).await;
    record(&shared, "token", HashMap::new(), response).await
}

async fn issue_token(
    shared: &Shared,
    headers: &HeaderMap,
    form: Result<Form<Login>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(EightFault::TokenStatus { status }) = shared
        .faults
        .next_if(|f| matches!(f, EightFault::TokenStatus { .. }))
        .await
    {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, json!({"error": "injected"}));
    }
    let accepted = shared.sign_in.accepted().await;
    if headers.get("8x8-apikey").and_then(|v| v.to_str().ok()) != Some(accepted.api_key.as_str()) {
        return error(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
    }
    let Ok(Form(login)) = form else {
        return error(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}));
    };
    if login.username.as_deref() != Some(accepted.username.as_str())
        || login.password.as_deref() != Some(accepted.password.as_str())
    {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "Bad credentials"}),
        );
    }
    let value = format!("eyJ.{:016x}.sig", fastrand::u64(..));
    shared.sign_in.tokens.issue(value).await
}

async fn call_queue_metrics(
    State(shared): State<Arc<Shared>>,
    Path(pbx): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let response = data(&shared, &pbx, &query, &headers, true).await;
    record(&shared, "call-queue-metrics", query, response).await
}

async fn realtime(
    State(shared): State<Arc<Shared>>,
    Path(pbx): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let response = data(&shared, &pbx, &query, &headers, false).await;
    record(&shared, "realtime", query, response).await
}

async fn data(
    shared: &Shared,
    pbx: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    successor: bool,
) -> Response {
    let fault = shared
        .faults
        .next_if(|f| !matches!(f, EightFault::TokenStatus { .. }))
        .await;
    if let Some(EightFault::Delay { millis }) = fault {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    if let Some(EightFault::Status { status }) = fault {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, json!({"message": "injected fault"}));
    }
    let api_key = shared.sign_in.accepted().await.api_key;
    if headers.get("8x8-apikey").and_then(|v| v.to_str().ok()) != Some(api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"message": "invalid API key"}),
        );
    }
    if !shared.sign_in.tokens.admits(headers).await {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"message": "token expired or invalid"}),
        );
    }
    if pbx != shared.pbx_id {
        return error(StatusCode::NOT_FOUND, json!({"message": "unknown pbx"}));
    }
    if successor && (query.contains_key("startDate") || query.contains_key("endDate")) {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"message": "live figures take no date range"}),
        );
    }
    let wanted = |key: &str| -> Option<Vec<String>> {
        query
            .get(key)
            .map(|v| v.split(',').map(str::to_owned).collect())
    };
    let (sites, ids) = (wanted("siteIds"), wanted("queueIds"));
    let queues: Vec<Value> = shared
        .queues
        .lock()
        .await
        .iter()
        .filter(|q| sites.as_ref().is_none_or(|s| s.contains(&q.site)))
        .filter(|q| ids.as_ref().is_none_or(|s| s.contains(&q.id)))
        // The deprecated endpoint knows only live queues.
        .filter(|q| successor || !q.deleted)
        .map(|q| render(q, successor))
        .collect();
    let body = serde_json::to_vec(&json!({"callQueues": queues})).expect("values serialize");
    let body = match fault {
        Some(EightFault::Malformed) => b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        Some(EightFault::Truncated) => body[..body.len() / 2].to_vec(),
        _ => body,
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// 8x8's reference example spells an extension as a number, its guide as
/// text: the stand-in sends odd extensions as numbers and even ones as
/// text, so every answer carries both spellings.
fn extension(q: &EightQueue) -> Value {
    match q.extension.parse::<u64>() {
        Ok(number) if number % 2 == 1 => json!(number),
        _ => json!(q.extension),
    }
}

fn render(q: &EightQueue, successor: bool) -> Value {
    if successor {
        json!({
            "pbx": "standin", "site": q.site, "id": q.id, "name": q.name,
            "deleted": q.deleted, "extension": extension(q),
            "metrics": {
                // A day's total beside the live figures: never to be read as live.
                "enteredCalls": q.waiting * 40 + 7,
                "ongoingWaitingCalls": q.waiting,
                "ongoingLongestWaitingTime": q.longest_wait_secs,
                "ongoingAvailableAgents": q.available,
                "ongoingEligibleAgents": q.eligible,
                "ongoingWrappingUpAgents": q.wrapping_up,
                "ongoingHandlingCalls": q.handling,
                "ongoingAvgWaitingTime": q.avg_wait_secs
            }
        })
    } else {
        json!({
            "name": q.name, "extension": extension(q), "pbx": "standin", "site": q.site,
            "metrics": {
                "waitingCalls": q.waiting,
                "longestWaitingTime": q.longest_wait_secs * 1000,
                "availableAgents": q.available,
                "eligibleAgents": q.eligible,
                "wrappingUpAgents": q.wrapping_up,
                "handlingCalls": q.handling,
                "avgWaitingTime": q.avg_wait_secs * 1000.0
            }
        })
    }
}
