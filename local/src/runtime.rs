//! A local Lambda Runtime API, so the real function binaries run here as
//! they do in Lambda: each polls `/2018-06-01/runtime/invocation/next`,
//! answers on `/response` or `/error`, and `lambda_runtime` cannot tell
//! the difference.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, Notify, oneshot};

/// What a function answered: its response body, or its error body.
type Outcome = Result<Vec<u8>, String>;

struct Pending {
    request_id: String,
    deadline_ms: u64,
    body: Vec<u8>,
}

struct Host {
    name: String,
    queue: Mutex<VecDeque<Pending>>,
    arrived: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
}

/// One function: its runtime API and its process.
pub struct Function {
    host: Arc<Host>,
    child: Mutex<Child>,
}

impl Function {
    /// Starts the runtime API on a free loopback port and the binary
    /// against it, with `env` on top of this process's environment.
    pub async fn start(
        name: &str,
        binary: &Path,
        env: &[(String, String)],
    ) -> std::io::Result<Self> {
        let host = Arc::new(Host {
            name: name.to_owned(),
            queue: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            waiting: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // Lambda takes responses of up to 6 MB from a function.
            .layer(axum::extract::DefaultBodyLimit::max(6 * 1024 * 1024))
            .with_state(host.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let child = Command::new(binary)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            // As the template's LoggingConfig sets them in AWS.
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", binary.display())))?;
        Ok(Self {
            host,
            child: Mutex::new(child),
        })
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        self.invoke_raw(
            serde_json::to_vec(event).expect("events serialize"),
            timeout,
        )
        .await
    }

    /// Invokes the function with `body` as the payload, byte for byte (an
    /// invoker may send anything), and waits for its answer.
    pub async fn invoke_raw(&self, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, String> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let deadline_ms = (chrono::Utc::now() + timeout).timestamp_millis() as u64;
        let (tx, rx) = oneshot::channel();
        self.host
            .waiting
            .lock()
            .await
            .insert(request_id.clone(), tx);
        self.host.queue.lock().await.push_back(Pending {
            request_id: request_id.clone(),
            deadline_ms,
            body,
        });
        self.host.arrived.notify_one();
        // A little grace past the deadline for the answer to travel.
        match tokio::time::timeout(timeout + Duration::from_secs(2), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(format!(
                "{}: the runtime dropped the invocation",
                self.host.name
            )),
            Err(_) => {
                self.host.waiting.lock().await.remove(&request_id);
                Err(format!(
                    "{}: timed out after {} s",
                    self.host.name,
                    timeout.as_secs()
                ))
            }
        }
    }

    /// The function process's id, while it runs.
    pub async fn pid(&self) -> Option<u32> {
        self.child.lock().await.id()
    }

    pub async fn stop(&self) {
        let _ = self.child.lock().await.kill().await;
    }
}

async fn next(State(host): State<Arc<Host>>) -> Response {
    loop {
        if let Some(pending) = host.queue.lock().await.pop_front() {
            return (
                [
                    ("lambda-runtime-aws-request-id", pending.request_id),
                    (
                        "lambda-runtime-deadline-ms",
                        pending.deadline_ms.to_string(),
                    ),
                    (
                        "lambda-runtime-invoked-function-arn",
                        format!(
                            "arn:aws:lambda:us-east-1:000000000000:function:{}",
                            host.name
                        ),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000".to_owned(),
                    ),
                    ("content-type", "application/json".to_owned()),
                ],
                pending.body,
            )
                .into_response();
        }
        host.arrived.notified().await;
    }
}

async fn finish(host: &Host, id: &str, result: Outcome) -> StatusCode {
    match host.waiting.lock().await.remove(id) {
        Some(tx) => {
            let _ = tx.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(
    State(host): State<Arc<Host>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(&host, &id, Ok(body.to_vec())).await
}

async fn error(
    State(host): State<Arc<Host>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(&host, &id, Err(String::from_utf8_lossy(&body).into_owned())).await
}

async fn init_error(State(host): State<Arc<Host>>, body: Bytes) -> StatusCode {
    eprintln!(
        "{} failed to start: {}",
        host.name,
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}
