//! A stand-in for the Symbee Connect Realtime Queue Statistics API.
//!
//! It checks what the real service checks (the five `X-sc-*` headers, the
//! tenant, the API key as currently stored in Secrets Manager), honours
//! `includeAmazonQueues` and `queuesInterested`, serves whatever queues it
//! is given, and injects faults: statuses, delays, malformed and truncated
//! bodies. Control it in-process through [`SymbeeStandin`] or over HTTP
//! under `/_standin/` (see [`router`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::control::{Faults, faults_route};

pub const PATH: &str =
    "/symbee-connect-stats-service/svc/rs/RealtimeStatsService/retrieveQueueInfo";

/// `n` Symbee skill queues in the wire format, each with distinct figures:
/// the load for tests, benchmarks and the local demo.
pub fn synthetic_queues(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "queueInfo": {
                    "queueId": format!("skill-queue-{i:05}"),
                    "queueName": format!("Skill Queue {i}"),
                    "deliveryProvider": "SYMBEE",
                    "taskType": "ROUTED_EMAIL"
                },
                "openClosedState": "OPERATING_HOURS_OPEN",
                "agentsStaffed": i % 40 + 1,
                "agentsAvailable": i % 5,
                "agentsWorking": i % 7,
                "agentsInWrap": i % 3,
                "agentsInError": 0,
                "agentsUnavailable": i % 4,
                "itemsInQueue": i % 50,
                "itemsScheduled": 0,
                "itemsBeingDelivered": i % 2,
                "oldestItem": i % 600
            })
        })
        .collect()
}

/// Installs the API key secret, or gives it a new value if it exists: what
/// Symbee's CloudFormation does once and its rotation does after.
pub async fn install_or_rotate_key(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    value: &str,
) -> Result<(), String> {
    let created = client
        .create_secret()
        .name(secret_id)
        .secret_string(value)
        .send()
        .await;
    if created.is_ok() {
        return Ok(());
    }
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("put secret {secret_id}: {e:?}"))
}

/// Where the stand-in reads the key it expects.
#[derive(Clone, Debug)]
pub enum ExpectedKey {
    /// A fixed value (unit tests of the stand-in itself).
    Fixed(String),
    /// The current SecretString of a secret, read on every request, so a
    /// rotation in Secrets Manager takes effect at once, as with Symbee.
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
}

#[derive(Clone, Debug)]
pub struct Tenant {
    pub company_code: String,
    pub environment: String,
    pub secrets_region: String,
}

/// One injected fault, applied to one request.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status and a short text body.
    Status { status: u16 },
    /// Wait this long before answering normally.
    Delay { millis: u64 },
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Answer 200 with the real body cut in half.
    Truncated,
    /// Answer 200 with a JSON object where an array belongs.
    WrongShape,
}

struct Shared {
    tenant: Tenant,
    key: ExpectedKey,
    queues: Mutex<Vec<Value>>,
    faults: Faults<Fault>,
    requests: AtomicU64,
    unauthorized: AtomicU64,
    last_body: Mutex<Option<Value>>,
}

/// A running stand-in.
#[derive(Clone)]
pub struct SymbeeStandin {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl SymbeeStandin {
    /// Serves on `bind` (port 0 picks a free one) until the runtime stops.
    pub async fn start(
        bind: SocketAddr,
        tenant: Tenant,
        key: ExpectedKey,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            tenant,
            key,
            queues: Mutex::new(Vec::new()),
            faults: Faults::default(),
            requests: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            last_body: Mutex::new(None),
        });
        let app = router(shared.clone());
        let addr = crate::serve(bind, app).await?;
        Ok(Self { addr, shared })
    }

    /// `http://127.0.0.1:PORT`, the value for `SYMBEE_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the queues served, as Symbee's response objects.
    pub async fn set_queues(&self, queues: Vec<Value>) {
        *self.shared.queues.lock().await = queues;
    }

    /// Requests answered so far, rejected ones included.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests rejected for a wrong key.
    pub fn unauthorized_count(&self) -> u64 {
        self.shared.unauthorized.load(Ordering::SeqCst)
    }

    /// The last request body that passed authentication.
    pub async fn last_body(&self) -> Option<Value> {
        self.shared.last_body.lock().await.clone()
    }
}

crate::controls!(SymbeeStandin { faults: Fault });

/// The API route plus `/_standin/queues` (PUT, a JSON array) and
/// `/_standin/faults` (POST, a JSON array of [`Fault`]) for control from
/// scripts.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(PATH, post(retrieve_queue_info))
        .route("/_standin/queues", put(put_queues))
        .route("/_standin/faults", faults_route(|s: &Shared| &s.faults))
        .with_state(shared)
}

async fn put_queues(
    State(shared): State<Arc<Shared>>,
    Json(queues): Json<Vec<Value>>,
) -> StatusCode {
    *shared.queues.lock().await = queues;
    StatusCode::NO_CONTENT
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn current_key(key: &ExpectedKey) -> Result<String, String> {
    match key {
        ExpectedKey::Fixed(value) => Ok(value.clone()),
        ExpectedKey::SecretsManager { client, secret_id } => client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|err| format!("stand-in could not read the key: {err}"))?
            .secret_string()
            .map(str::to_owned)
            .ok_or_else(|| "the key secret has no SecretString".to_owned()),
    }
}

async fn retrieve_queue_info(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let fault = shared.faults.next().await;
    if let Some(Fault::Delay { millis }) = fault {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    if let Some(Fault::Status { status }) = fault {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, "injected fault");
    }

    // Authentication: the five headers, as documented.
    let tenant = &shared.tenant;
    let expected = [
        ("X-sc-platform-code", "AWS Connect"),
        ("X-sc-company-code", tenant.company_code.as_str()),
        ("X-sc-company-environment", tenant.environment.as_str()),
        ("X-sc-secrets-region", tenant.secrets_region.as_str()),
    ];
    for (name, want) in expected {
        match header(&headers, name) {
            None => return error(StatusCode::BAD_REQUEST, &format!("missing header {name}")),
            Some(got) if got != want => {
                return error(
                    StatusCode::FORBIDDEN,
                    &format!("header {name} does not match this environment"),
                );
            }
            Some(_) => {}
        }
    }
    let Some(given_key) = header(&headers, "X-sc-company-api-key") else {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing header X-sc-company-api-key",
        );
    };
    match current_key(&shared.key).await {
        Ok(key) if key == given_key => {}
        Ok(_) => {
            shared.unauthorized.fetch_add(1, Ordering::SeqCst);
            return error(StatusCode::UNAUTHORIZED, "invalid API key");
        }
        Err(message) => return error(StatusCode::INTERNAL_SERVER_ERROR, &message),
    }

    // The payload: tenant must agree with the headers.
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {err}")),
    };
    let tenant_json = &request["tenant"];
    let tenant_ok = tenant_json["platformCode"] == "AWS Connect"
        && tenant_json["companyCode"] == tenant.company_code.as_str()
        && tenant_json["environment"] == tenant.environment.as_str();
    if !tenant_ok {
        return error(StatusCode::BAD_REQUEST, "tenant does not match the headers");
    }
    let Some(include_amazon) = request["includeAmazonQueues"].as_bool() else {
        return error(
            StatusCode::BAD_REQUEST,
            "includeAmazonQueues must be a boolean",
        );
    };
    let interested: Option<Vec<String>> = match &request["queuesInterested"] {
        Value::Null => None,
        Value::Array(items) => {
            let ids: Option<Vec<String>> = items
                .iter()
                .map(|item| item["queueId"].as_str().map(str::to_owned))
                .collect();
            match ids {
                Some(ids) => Some(ids),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "queuesInterested items need a string queueId",
                    );
                }
            }
        }
        _ => return error(StatusCode::BAD_REQUEST, "queuesInterested must be a list"),
    };
    *shared.last_body.lock().await = Some(request.clone());

    let queues: Vec<Value> = shared
        .queues
        .lock()
        .await
        .iter()
        .filter(|q| include_amazon || q["queueInfo"]["deliveryProvider"] != "AMAZON")
        .filter(|q| {
            interested.as_ref().is_none_or(|ids| {
                q["queueInfo"]["queueId"]
                    .as_str()
                    .is_some_and(|id| ids.iter().any(|i| i == id))
            })
        })
        .cloned()
        .collect();
    let body = serde_json::to_vec(&queues).expect("values serialize");
    let body = match fault {
        Some(Fault::Malformed) => b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        Some(Fault::Truncated) => body[..body.len() / 2].to_vec(),
        Some(Fault::WrongShape) => br#"{"queues": "not what the API documents"}"#.to_vec(),
        _ => body,
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
