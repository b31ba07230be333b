//! A stand-in for Clarity Connect's Web API v2, its Authentication Service
//! and its ASP.NET SignalR (2.x) endpoint.
//!
//! It does what Clarity does to a subscriber: every API and SignalR call
//! needs a live bearer JWT, and a 401 names the token URL in
//! `WWW-Authenticate`; the token endpoint really challenges with NTLM
//! (Devolutions' `sspi` on the server side: a wrong password fails the
//! handshake) and keeps the handshake per TCP connection, as IIS does;
//! SignalR's negotiate, WebSocket connect (with the `S:1` init frame and
//! `{}` keep-alives), start and abort; queue subscriptions bound to a
//! connection, answered with each queue's state and then pushed diffs
//! whenever [`ClarityStandin::set_queues`] changes the floor. Faults:
//! statuses, token expiry, dropped sockets, refused logins.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use sspi::{
    AuthIdentity, BufferType, CredentialUse, DataRepresentation, Ntlm, SecurityBuffer,
    SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
};
use tokio::sync::{Mutex, mpsc};

use crate::bearer::error;
use crate::control::{Faults, Logs, RequestLog, SignIn, faults_route};

/// The hub and method the stand-in pushes on (SignalR names are not
/// case-sensitive; this casing differs from the source's default on purpose).
pub const HUB: &str = "SubscriptionHub";
pub const METHOD: &str = "update";
const MODALITIES: [&str; 3] = ["audio", "message", "instantMessage"];

/// One session waiting in or handled by a queue.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaritySession {
    pub id: u64,
    /// `Queued`, `Active`, ...
    pub status: String,
    pub queued_ms: u64,
}

/// One queue as the stand-in knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClarityQueue {
    pub id: u64,
    pub name: String,
    /// Sessions by modality (`audio`, `message`, `instantMessage`).
    pub sessions: BTreeMap<String, Vec<ClaritySession>>,
    /// The `agnostic` agent metrics, where this queue sends them.
    pub agents_available: Option<u64>,
    pub agents_staffed: Option<u64>,
}

impl ClarityQueue {
    /// Queued sessions of one modality.
    pub fn queued(&self, modality: &str) -> impl Iterator<Item = &ClaritySession> {
        self.sessions
            .get(modality)
            .into_iter()
            .flatten()
            .filter(|s| s.status == "Queued")
    }

    /// What a subscriber should report: waiting items and the oldest wait
    /// in seconds, over every modality.
    pub fn expected(&self) -> (u64, u64) {
        let mut items = 0;
        let mut oldest = 0;
        for modality in MODALITIES {
            for session in self.queued(modality) {
                items += 1;
                oldest = oldest.max(session.queued_ms / 1000);
            }
        }
        (items, oldest)
    }

    fn metrics(&self) -> Value {
        let mut metrics = serde_json::Map::new();
        for modality in MODALITIES {
            if self.sessions.contains_key(modality) {
                metrics.insert(
                    modality.to_owned(),
                    json!({ "queuedCount": self.queued(modality).count(), "answeredCount": self.id % 50 }),
                );
            }
        }
        if let (Some(available), Some(staffed)) = (self.agents_available, self.agents_staffed) {
            metrics.insert(
                "agnostic".to_owned(),
                json!({ "availableAgentCount": available, "staffedAgentCount": staffed }),
            );
        }
        Value::Object(metrics)
    }
}

fn session_json(queue: u64, s: &ClaritySession) -> Value {
    json!({
        "sessionId": s.id, "sessionType": "Queued", "queueId": queue,
        "sessionStatus": s.status, "queuedMs": s.queued_ms,
        "activeMs": if s.status == "Active" { 1500 } else { 0 }
    })
}

/// A queue's whole state, as pushed right after a subscription.
fn full_state(q: &ClarityQueue) -> Value {
    let sessions: serde_json::Map<String, Value> = q
        .sessions
        .iter()
        .map(|(modality, list)| {
            let list: Vec<Value> = list.iter().map(|s| session_json(q.id, s)).collect();
            (modality.clone(), json!({ "sessions": list }))
        })
        .collect();
    json!({ "type": "Queue", "id": q.id, "name": q.name, "metrics": q.metrics(), "sessions": sessions })
}

/// What changed from `old` to `new`: sessions added, changed and removed,
/// and the metrics again.
fn diff(old: &ClarityQueue, new: &ClarityQueue) -> Option<Value> {
    if old == new {
        return None;
    }
    let mut sessions = serde_json::Map::new();
    for modality in MODALITIES {
        let before: HashMap<u64, &ClaritySession> = old
            .sessions
            .get(modality)
            .into_iter()
            .flatten()
            .map(|s| (s.id, s))
            .collect();
        let after = new.sessions.get(modality).cloned().unwrap_or_default();
        let added: Vec<Value> = after
            .iter()
            .filter(|s| !before.contains_key(&s.id))
            .map(|s| session_json(new.id, s))
            .collect();
        let changed: Vec<Value> = after
            .iter()
            .filter(|s| before.get(&s.id).is_some_and(|b| *b != *s))
            .map(|s| session_json(new.id, s))
            .collect();
        let removed: Vec<Value> = before
            .keys()
            .filter(|id| !after.iter().any(|s| s.id == **id))
            .map(|id| json!({ "sessionId": id }))
            .collect();
        if !(added.is_empty() && changed.is_empty() && removed.is_empty()) {
            sessions.insert(
                modality.to_owned(),
                json!({ "addedSessions": added, "sessions": changed, "removedSessions": removed }),
            );
        }
    }
    Some(
        json!({ "type": "Queue", "id": new.id, "name": new.name, "metrics": new.metrics(), "sessions": sessions }),
    )
}

/// `n` queues with distinct figures: audio everywhere, chat on every other
/// queue, agent metrics on two queues of three.
pub fn synthetic_queues(n: usize) -> Vec<ClarityQueue> {
    (0..n)
        .map(|i| {
            let id = 201 + i as u64;
            let mut sessions = BTreeMap::new();
            let audio: Vec<ClaritySession> = (0..(i % 5) as u64)
                .map(|k| ClaritySession {
                    id: id * 1000 + k,
                    status: if k == 0 && i % 3 == 0 {
                        "Active"
                    } else {
                        "Queued"
                    }
                    .to_owned(),
                    queued_ms: 4_000 + 9_731 * k + 1_117 * i as u64,
                })
                .collect();
            sessions.insert("audio".to_owned(), audio);
            if i % 2 == 1 {
                sessions.insert(
                    "instantMessage".to_owned(),
                    vec![ClaritySession {
                        id: id * 1000 + 900,
                        status: "Queued".to_owned(),
                        queued_ms: 2_500 + 700 * i as u64,
                    }],
                );
            }
            ClarityQueue {
                id,
                name: format!("Clarity Queue {id}"),
                sessions,
                agents_available: (i % 3 != 2).then_some((i % 4) as u64),
                agents_staffed: (i % 3 != 2).then_some((i % 9 + 4) as u64),
            }
        })
        .collect()
}

/// Moves a floor on by `seconds`: waiting sessions age, one is answered
/// and a new one arrives here and there. For the local run.
pub fn advance(queues: &mut [ClarityQueue], seconds: u64, rng: &mut fastrand::Rng) {
    for q in queues.iter_mut() {
        for list in q.sessions.values_mut() {
            list.retain(|s| s.status == "Queued");
            for s in list.iter_mut() {
                s.queued_ms += seconds * 1000;
            }
            if !list.is_empty() && rng.u8(..4) == 0 {
                list.remove(0);
            }
            if rng.u8(..3) == 0 {
                let id = q.id * 1_000_000 + rng.u64(..999_999);
                list.push(ClaritySession {
                    id,
                    status: "Queued".to_owned(),
                    queued_ms: 0,
                });
            }
        }
    }
}

/// One injected fault, applied to the next request of its kind.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClarityFault {
    /// The next API or SignalR HTTP call answers this status.
    Status { status: u16 },
    /// The next token request answers this status.
    TokenStatus { status: u16 },
    /// The next API or SignalR HTTP call waits this long first.
    Delay { millis: u64 },
}

/// A request the stand-in answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// `token`, `info`, `mbu`, `subscribe`, `unsubscribe`, `negotiate`,
    /// `connect`, `start` or `abort`.
    pub operation: &'static str,
    pub status: u16,
    /// A token request's NTLM leg: 0 bare, 1 NEGOTIATE, 3 AUTHENTICATE.
    pub leg: u8,
}

/// The Windows account and API client the stand-in accepts.
#[derive(Clone, Debug)]
pub struct Accepted {
    /// `DOMAIN\user`.
    pub username: String,
    pub password: String,
    pub client_id: String,
}

enum Outgoing {
    Text(String),
    Close,
    /// Stop sending anything, keep-alives included, with the socket open:
    /// a half-dead connection only the keep-alive timeout reveals.
    Mute,
}

struct Connection {
    id: String,
    tx: Option<mpsc::UnboundedSender<Outgoing>>,
}

struct Subscription {
    connection_token: String,
    queue_ids: Vec<u64>,
    modalities: Vec<String>,
}

struct Shared {
    sign_in: SignIn<Accepted>,
    /// NTLM handshakes in progress, by client connection.
    handshakes: std::sync::Mutex<HashMap<SocketAddr, Ntlm>>,
    queues: Mutex<Vec<ClarityQueue>>,
    faults: Faults<ClarityFault>,
    log: RequestLog<Logged>,
    connections: Mutex<HashMap<String, Connection>>,
    subscriptions: Mutex<HashMap<String, Subscription>>,
    keep_alive: std::sync::Mutex<Duration>,
    /// Negotiate answers `TryWebSockets: false` while set (a server whose
    /// IIS has no WebSocket Protocol feature).
    no_web_sockets: std::sync::atomic::AtomicBool,
    next: AtomicU64,
    addr: SocketAddr,
}

#[derive(Clone)]
pub struct ClarityStandin {
    shared: Arc<Shared>,
}

impl ClarityStandin {
    pub async fn start(bind: SocketAddr, accepted: Accepted) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            // Tokens live an hour unless a test says otherwise.
            sign_in: SignIn::new(accepted, Duration::from_secs(3600)),
            handshakes: std::sync::Mutex::new(HashMap::new()),
            queues: Mutex::new(Vec::new()),
            faults: Faults::default(),
            log: RequestLog::default(),
            connections: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
            keep_alive: std::sync::Mutex::new(Duration::from_secs(20)),
            no_web_sockets: std::sync::atomic::AtomicBool::new(false),
            next: AtomicU64::new(1),
            addr,
        });
        let app = Router::new()
            .route("/webauth/token", post(token))
            .route("/webapi/api/info", get(info))
            .route("/webapi/api/v2/profile/mbu", get(mbu))
            .route("/webapi/api/v2/subscriptions/queues", post(subscribe))
            .route("/webapi/api/v2/subscriptions/{id}", delete(unsubscribe))
            .route("/signalr/negotiate", get(negotiate))
            .route("/signalr/connect", get(connect))
            .route("/signalr/start", get(start_transport))
            .route("/signalr/abort", post(abort))
            .route("/_standin/faults", faults_route(|s: &Shared| &s.faults))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Ok(Self { shared })
    }

    /// `http://127.0.0.1:PORT`, the value for `CLARITY_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Changes the floor and pushes the differences to every subscriber.
    pub async fn set_queues(&self, queues: Vec<ClarityQueue>) {
        let old = std::mem::replace(&mut *self.shared.queues.lock().await, queues.clone());
        let subscriptions = self.shared.subscriptions.lock().await;
        for subscription in subscriptions.values() {
            let changes: Vec<Value> = queues
                .iter()
                .filter(|q| subscription.queue_ids.contains(&q.id))
                .filter_map(|q| match old.iter().find(|o| o.id == q.id) {
                    Some(o) => diff(o, q),
                    None => Some(full_state(q)),
                })
                .map(|v| only_modalities(v, &subscription.modalities))
                .collect();
            if !changes.is_empty() {
                push(&self.shared, &subscription.connection_token, changes).await;
            }
        }
    }

    pub async fn queues(&self) -> Vec<ClarityQueue> {
        self.shared.queues.lock().await.clone()
    }

    /// Closes every SignalR socket, as a network blip or a recycled IIS
    /// app pool does; their subscriptions go with them.
    pub async fn drop_sockets(&self) {
        let mut connections = self.shared.connections.lock().await;
        for connection in connections.values_mut() {
            if let Some(tx) = connection.tx.take() {
                let _ = tx.send(Outgoing::Close);
            }
        }
        connections.clear();
        self.shared.subscriptions.lock().await.clear();
    }

    /// The `KeepAliveTimeout` negotiations announce from now on (SignalR's
    /// default is 20 s; keep-alives go out every third of it).
    /// Whether negotiate offers WebSockets (IIS without its WebSocket
    /// feature offers only the transports we do not speak).
    pub fn set_web_sockets(&self, available: bool) {
        self.shared
            .no_web_sockets
            .store(!available, Ordering::Relaxed);
    }

    pub fn set_keep_alive(&self, timeout: Duration) {
        *self
            .shared
            .keep_alive
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = timeout;
    }

    /// Every socket goes silent but stays open.
    pub async fn mute_sockets(&self) {
        for connection in self.shared.connections.lock().await.values() {
            if let Some(tx) = &connection.tx {
                let _ = tx.send(Outgoing::Mute);
            }
        }
    }

    /// Subscriptions alive now.
    pub async fn subscriptions(&self) -> usize {
        self.shared.subscriptions.lock().await.len()
    }

    /// Open SignalR sockets now.
    pub async fn sockets(&self) -> usize {
        self.shared
            .connections
            .lock()
            .await
            .values()
            .filter(|c| c.tx.as_ref().is_some_and(|tx| !tx.is_closed()))
            .count()
    }

    /// Requests of one operation answered with `status`.
    pub async fn count(&self, operation: &str, status: u16) -> usize {
        self.count_where(|l| l.operation == operation && l.status == status)
            .await
    }
}

/// Keeps only the subscribed modalities of a pushed entity.
fn only_modalities(mut entity: Value, modalities: &[String]) -> Value {
    for bag in ["metrics", "sessions"] {
        if let Some(Value::Object(map)) = entity.get_mut(bag) {
            map.retain(|k, _| k == "agnostic" || modalities.iter().any(|m| m == k));
        }
    }
    entity
}

async fn push(shared: &Shared, connection_token: &str, entities: Vec<Value>) {
    let cursor = shared.next.fetch_add(1, Ordering::Relaxed);
    let frame = json!({ "C": format!("d-{cursor:X},0|1,0"), "M": [{ "H": HUB, "M": METHOD, "A": [entities] }] });
    if let Some(connection) = shared.connections.lock().await.get(connection_token)
        && let Some(tx) = &connection.tx
    {
        let _ = tx.send(Outgoing::Text(frame.to_string()));
    }
}

async fn record(shared: &Shared, operation: &'static str, leg: u8, response: Response) -> Response {
    shared
        .log
        .record(Logged {
            operation,
            status: response.status().as_u16(),
            leg,
        })
        .await;
    response
}

/// The 401 of an API or SignalR call: it names the Authentication Service.
fn unauthorized(shared: &Shared) -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        json!({"message": "Authorization has been denied for this request."}),
    );
    let challenge = format!(
        "http://{}/webauth/token,grant_type=\"urn:connect.auth:windows\"",
        shared.addr
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).expect("ascii"),
    );
    response
}

crate::controls!(ClarityStandin {
    faults: ClarityFault,
    log: Logged,
    sign_in: Accepted
});

/// An API or SignalR call: the gate first, `answer` only if the call gets
/// through, and the log either way.
async fn gated(
    shared: &Shared,
    headers: &HeaderMap,
    operation: &'static str,
    answer: impl Future<Output = Response>,
) -> Response {
    let response = match gate(shared, headers).await {
        Some(refused) => refused,
        None => answer.await,
    };
    record(shared, operation, 0, response).await
}

/// A queued fault, the bearer check: what every API and SignalR call does first.
async fn gate(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let fault = shared
        .faults
        .next_if(|f| !matches!(f, ClarityFault::TokenStatus { .. }))
        .await;
    match fault {
        Some(ClarityFault::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Some(error(status, json!({"message": "injected fault"})));
        }
        Some(ClarityFault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
        }
        _ => {}
    }
    let live = shared.sign_in.tokens.admits(headers).await;
    (!live).then(|| unauthorized(shared))
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
}

async fn token(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (leg, response) = issue_token(&shared, peer, &headers, form).await;
    record(&shared, "token", leg, response).await
}

fn ntlm_challenge(token: Option<&[u8]>) -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        json!({"message": "401 - Unauthorized: Access is denied due to invalid credentials."}),
    );
    let headers = response.headers_mut();
    match token {
        Some(token) => {
            let value = format!(
                "NTLM {}",
                base64::engine::general_purpose::STANDARD.encode(token)
            );
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&value).expect("base64"),
            );
        }
        None => {
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Negotiate"),
            );
            headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("NTLM"));
        }
    }
    response
}

/// One server step of NTLM: the CHALLENGE for a NEGOTIATE, or whether an
/// AUTHENTICATE proves the password.
fn accept(
    ntlm: &mut Ntlm,
    accepted: &Accepted,
    input: Vec<u8>,
) -> Result<(SecurityStatus, Vec<u8>), sspi::Error> {
    let username = Username::parse(&accepted.username)
        .map_err(|e| sspi::Error::new(sspi::ErrorKind::InvalidParameter, e.to_string()))?;
    let identity = AuthIdentity {
        username,
        password: accepted.password.clone().into(),
    };
    let mut credentials = ntlm
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Inbound)
        .with_auth_data(&identity)
        .execute(ntlm)?
        .credentials_handle;
    let mut input = vec![SecurityBuffer::new(input, BufferType::Token)];
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = ntlm
        .accept_security_context()
        .with_credentials_handle(&mut credentials)
        .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    let result = ntlm
        .accept_security_context_impl(builder)?
        .resolve_to_result()?;
    if matches!(
        result.status,
        SecurityStatus::CompleteAndContinue | SecurityStatus::CompleteNeeded
    ) {
        ntlm.complete_auth_token(&mut output)?;
    }
    Ok((result.status, std::mem::take(&mut output[0].buffer)))
}

async fn issue_token(
    shared: &Shared,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> (u8, Response) {
    let accepted = shared.sign_in.accepted().await;
    let message = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("NTLM ")
                .or_else(|| v.strip_prefix("Negotiate "))
        })
        .and_then(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .ok()
        });
    let Some(message) = message else {
        return (0, ntlm_challenge(None));
    };
    let kind = message.get(8).copied().unwrap_or(0);
    if !message.starts_with(b"NTLMSSP\0") || !(kind == 1 || kind == 3) {
        return (
            kind,
            error(
                StatusCode::BAD_REQUEST,
                json!({"message": "not an NTLM message"}),
            ),
        );
    }
    if kind == 1 {
        let mut ntlm = Ntlm::new();
        return match accept(&mut ntlm, &accepted, message) {
            Ok((_, challenge)) => {
                shared
                    .handshakes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(peer, ntlm);
                (1, ntlm_challenge(Some(&challenge)))
            }
            Err(_) => (1, ntlm_challenge(None)),
        };
    }
    // AUTHENTICATE: only on the connection that was challenged.
    let handshake = shared
        .handshakes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&peer);
    let Some(mut ntlm) = handshake else {
        return (3, ntlm_challenge(None));
    };
    if accept(&mut ntlm, &accepted, message).is_err() {
        return (3, ntlm_challenge(None));
    }
    if let Some(ClarityFault::TokenStatus { status }) = shared
        .faults
        .next_if(|f| matches!(f, ClarityFault::TokenStatus { .. }))
        .await
    {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (3, error(status, json!({"error": "injected"})));
    }
    let Ok(Form(form)) = form else {
        return (
            3,
            error(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"})),
        );
    };
    if form.grant_type.as_deref() != Some("urn:connect.auth:windows") {
        return (
            3,
            error(
                StatusCode::BAD_REQUEST,
                json!({"error": "unsupported_grant_type"}),
            ),
        );
    }
    if form.client_id.as_deref() != Some(accepted.client_id.as_str()) {
        return (
            3,
            error(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_clientId", "error_description": "client_id is not valid"}),
            ),
        );
    }
    let ttl = shared.sign_in.tokens.ttl().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let value = format!(
        "{}.{}.{}",
        b64(json!({"typ": "JWT", "alg": "HS256"})),
        b64(json!({
            "connect_agent_id": "5", "iss": format!("http://{}/webauth/token", shared.addr),
            "aud": accepted.client_id, "exp": now + ttl.as_secs(), "nbf": now,
            "jti": format!("{:016x}", fastrand::u64(..)),
        })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(fastrand::u64(..).to_le_bytes()),
    );
    (3, shared.sign_in.tokens.issue(value).await)
}

async fn info(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    gated(&shared, &headers, "info", async {
            Json(json!({
            "connectVersion": "4.1.1.0",
            "apiVersions": [{"version": "1.0", "relativeUrl": "/v1.0"}, {"version": "2", "relativeUrl": "/v2"}],
            "signalRTransports": ["webSockets", "serverSentEvents", "longPolling"]
        }))
        .into_response()
    })
    .await
}

async fn mbu(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    gated(&shared, &headers, "mbu", async {
            let queues: Vec<Value> = shared
                .queues
                .lock()
                .await
                .iter()
                .map(|q| json!({"type": "Queue", "id": q.id, "name": q.name, "businessUnitId": 1, "teamIds": [1]}))
                .collect();
            Json(json!({"agents": [], "queues": queues, "teams": [], "groups": [], "businessUnits": []}))
                .into_response()
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribeQuery {
    queue_ids: Option<String>,
    modalities: Option<String>,
}

async fn subscribe(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<SubscribeQuery>,
    body: axum::body::Bytes,
) -> Response {
    let response = create_subscription(&shared, &headers, query, &body).await;
    record(&shared, "subscribe", 0, response).await
}

async fn create_subscription(
    shared: &Shared,
    headers: &HeaderMap,
    query: SubscribeQuery,
    body: &[u8],
) -> Response {
    if let Some(refused) = gate(shared, headers).await {
        return refused;
    }
    let Some(ids) = query.queue_ids.filter(|s| !s.is_empty()) else {
        // As documented: no entity id is a 401.
        return unauthorized(shared);
    };
    let Ok(queue_ids) = ids
        .split(',')
        .map(str::parse::<u64>)
        .collect::<Result<Vec<_>, _>>()
    else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"message": "queueIds must be numbers"}),
        );
    };
    let modalities: Vec<String> = match query.modalities {
        Some(m) => m.split(',').map(str::to_owned).collect(),
        None => MODALITIES.iter().map(|m| (*m).to_owned()).collect(),
    };
    let connection_id = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.get("connectionId")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let Some(connection_id) = connection_id else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"message": "connectionId is required"}),
        );
    };
    let connection_token = {
        let connections = shared.connections.lock().await;
        connections
            .iter()
            .find(|(_, c)| c.id == connection_id && c.tx.is_some())
            .map(|(token, _)| token.clone())
    };
    let Some(connection_token) = connection_token else {
        return error(
            StatusCode::NOT_FOUND,
            json!({"message": "no such SignalR connection"}),
        );
    };
    let id = format!("sub-{:x}", shared.next.fetch_add(1, Ordering::Relaxed));
    let state: Vec<Value> = shared
        .queues
        .lock()
        .await
        .iter()
        .filter(|q| queue_ids.contains(&q.id))
        .map(|q| only_modalities(full_state(q), &modalities))
        .collect();
    shared.subscriptions.lock().await.insert(
        id.clone(),
        Subscription {
            connection_token: connection_token.clone(),
            queue_ids,
            modalities,
        },
    );
    // The subscription's first push: every queue's state.
    push(shared, &connection_token, state).await;
    Json(json!({ "subscriptionId": id })).into_response()
}

async fn unsubscribe(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    gated(&shared, &headers, "unsubscribe", async {
        match shared.subscriptions.lock().await.remove(&id) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                json!({"message": "no such subscription"}),
            ),
        }
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransportQuery {
    connection_token: Option<String>,
    connection_data: Option<String>,
    transport: Option<String>,
}

fn hub_is_ours(data: Option<&str>) -> bool {
    data.and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|v| v.get(0)?.get("name")?.as_str().map(str::to_owned))
        .is_some_and(|name| name.eq_ignore_ascii_case(HUB))
}

async fn negotiate(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<TransportQuery>,
) -> Response {
    gated(&shared, &headers, "negotiate", async {
        if !hub_is_ours(query.connection_data.as_deref()) {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "unknown hub"}),
            );
        }
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{n:08x}-e9f5-47a5-bfea-01b949ff9247");
        let token = format!("AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAA{n:x}==");
        shared.connections.lock().await.insert(
            token.clone(),
            Connection {
                id: id.clone(),
                tx: None,
            },
        );
        Json(json!({
            "Url": "/signalr", "ConnectionToken": token, "ConnectionId": id,
            "KeepAliveTimeout": keep_alive(&shared).as_secs_f64(), "DisconnectTimeout": 30.0,
            "ConnectionTimeout": 110.0,
            "TryWebSockets": !shared.no_web_sockets.load(Ordering::Relaxed),
            "ProtocolVersion": "1.5",
            "TransportConnectTimeout": 5.0, "LongPollDelay": 0.0
        }))
        .into_response()
    })
    .await
}

async fn connect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<TransportQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let response = open_transport(&shared, &headers, query, upgrade).await;
    record(&shared, "connect", 0, response).await
}

async fn open_transport(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    query: TransportQuery,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    if let Some(refused) = gate(shared, headers).await {
        return refused;
    }
    let Ok(upgrade) = upgrade else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"message": "not a WebSocket request"}),
        );
    };
    if query.transport.as_deref() != Some("webSockets") {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"message": "unknown transport"}),
        );
    }
    let Some(token) = query.connection_token else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"message": "no connection token"}),
        );
    };
    let (tx, rx) = mpsc::unbounded_channel();
    {
        let mut connections = shared.connections.lock().await;
        let Some(connection) = connections.get_mut(&token) else {
            return error(
                StatusCode::FORBIDDEN,
                json!({"message": "unknown connection token"}),
            );
        };
        connection.tx = Some(tx);
    }
    let keep_alive = keep_alive(shared);
    upgrade.on_upgrade(move |socket| serve_socket(socket, rx, keep_alive))
}

fn keep_alive(shared: &Shared) -> Duration {
    *shared.keep_alive.lock().unwrap_or_else(|p| p.into_inner())
}

async fn serve_socket(
    mut socket: WebSocket,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    keep_alive: Duration,
) {
    let init = json!({"C": "s-0,0", "S": 1, "M": []}).to_string();
    if socket.send(Message::Text(init.into())).await.is_err() {
        return;
    }
    // SignalR sends a keep-alive every third of the timeout.
    let mut ticker = tokio::time::interval(keep_alive / 3);
    ticker.tick().await;
    let mut muted = false;
    loop {
        tokio::select! {
            outgoing = rx.recv() => match outgoing {
                Some(Outgoing::Text(_)) if muted => {}
                Some(Outgoing::Text(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(Outgoing::Mute) => muted = true,
                Some(Outgoing::Close) | None => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            _ = ticker.tick(), if !muted => {
                if socket.send(Message::Text("{}".into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn start_transport(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<TransportQuery>,
) -> Response {
    gated(&shared, &headers, "start", async {
        let known = match &query.connection_token {
            Some(token) => shared
                .connections
                .lock()
                .await
                .get(token)
                .is_some_and(|c| c.tx.is_some()),
            None => false,
        };
        if known {
            Json(json!({"Response": "started"})).into_response()
        } else {
            error(
                StatusCode::BAD_REQUEST,
                json!({"message": "the transport is not connected"}),
            )
        }
    })
    .await
}

async fn abort(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<TransportQuery>,
) -> Response {
    gated(&shared, &headers, "abort", async {
        if let Some(token) = &query.connection_token
            && let Some(mut connection) = shared.connections.lock().await.remove(token)
        {
            if let Some(tx) = connection.tx.take() {
                let _ = tx.send(Outgoing::Close);
            }
            shared
                .subscriptions
                .lock()
                .await
                .retain(|_, s| &s.connection_token != token);
        }
        StatusCode::OK.into_response()
    })
    .await
}
