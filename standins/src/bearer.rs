//! Bearer tokens as the vendors' token endpoints issue them: the table of
//! live tokens and their expiry that the 8x8 and Clarity stand-ins keep,
//! the check every data call makes, and the token endpoint's answer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Live tokens, each until its expiry; tokens issued from now on live `ttl`.
pub struct Tokens {
    ttl: Mutex<Duration>,
    live: Mutex<HashMap<String, Instant>>,
}

impl Tokens {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl: Mutex::new(ttl),
            live: Mutex::new(HashMap::new()),
        }
    }

    pub async fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock().await = ttl;
    }

    /// Every token issued so far stops working, as at expiry.
    pub async fn expire_all(&self) {
        self.live.lock().await.clear();
    }

    /// Makes `value` live for the current lifetime and answers with it as a
    /// token endpoint does (`access_token`, `token_type`, `expires_in`).
    pub async fn issue(&self, value: String) -> Response {
        let ttl = *self.ttl.lock().await;
        self.live
            .lock()
            .await
            .insert(value.clone(), Instant::now() + ttl);
        Json(json!({"access_token": value, "token_type": "bearer", "expires_in": ttl.as_secs()}))
            .into_response()
    }

    /// The lifetime of tokens issued now (a JWT's `exp` needs it first).
    pub async fn ttl(&self) -> Duration {
        *self.ttl.lock().await
    }

    /// Whether the request carries `Authorization: Bearer` with a live token.
    pub async fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.live
            .lock()
            .await
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }
}

/// A JSON answer with this status: the stand-ins' errors.
pub fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}
