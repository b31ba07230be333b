//! An EventBridge bus that answers PutEvents and nothing else, after a
//! set delay: the bench's bus, where a real one takes tens of milliseconds
//! a call and moto's own pace would be measured instead of ours.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

struct Shared {
    delay: Duration,
    calls: AtomicU64,
    entries: AtomicU64,
}

#[derive(Clone)]
pub struct BusStandin {
    url: String,
    shared: Arc<Shared>,
}

impl BusStandin {
    /// Serves on `bind` (port 0 picks one); each call is answered `delay` later.
    pub async fn start(bind: std::net::SocketAddr, delay: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            delay,
            calls: AtomicU64::new(0),
            entries: AtomicU64::new(0),
        });
        let app = Router::new()
            .fallback(put_events)
            .with_state(shared.clone());
        let url = format!("http://{}", crate::serve(bind, app).await?);
        Ok(Self { url, shared })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// PutEvents calls and entries taken so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.shared.calls.load(Ordering::Relaxed),
            self.shared.entries.load(Ordering::Relaxed),
        )
    }
}

async fn put_events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("x-amz-target").and_then(|v| v.to_str().ok()) != Some("AWSEvents.PutEvents") {
        return (StatusCode::BAD_REQUEST, "PutEvents only").into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    tokio::time::sleep(shared.delay).await;
    let n = request["Entries"].as_array().map_or(0, Vec::len);
    let call = shared.calls.fetch_add(1, Ordering::Relaxed);
    shared.entries.fetch_add(n as u64, Ordering::Relaxed);
    let entries: Vec<Value> = (0..n)
        .map(|i| json!({"EventId": format!("{call:08x}-{i:04x}")}))
        .collect();
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"FailedEntryCount": 0, "Entries": entries}).to_string(),
    )
        .into_response()
}
