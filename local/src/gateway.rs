//! A local stand-in for API Gateway HTTP API (payload 2.0) in front of the
//! API function, plus a route to invoke the contact-flow function.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

use crate::runtime::Function;

pub struct Functions {
    pub api: Function,
    pub contact_flow: Function,
}

/// Lambda's limit on a synchronous invocation's payload.
const MAX_INVOKE_BYTES: usize = 6 * 1024 * 1024;

pub fn router(functions: Arc<Functions>) -> Router {
    Router::new()
        .route("/_invoke/contact-flow", post(contact_flow))
        .fallback(api)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_INVOKE_BYTES))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(functions)
}

/// Every error this gateway answers itself (a body over the limit, a
/// function that failed) in the API's error shape, as JSON: a client never
/// has to parse two kinds of error.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "REQUEST_TOO_LARGE",
        StatusCode::BAD_GATEWAY => "FUNCTION_FAILED",
        _ if status.is_client_error() => "BAD_REQUEST",
        _ => "GATEWAY_ERROR",
    };
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        message
    };
    let mut response = (
        status,
        [("content-type", "application/json")],
        json!({ "error": { "code": code, "message": message } }).to_string(),
    )
        .into_response();
    for (name, value) in parts.headers.iter() {
        if name != "content-type" && name != "content-length" {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

/// The event API Gateway would send for this request.
pub fn gateway_event(request: &Request) -> Value {
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), json!(v.to_str().ok()?))))
        .collect();
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.uri().path(),
        "rawQueryString": request.uri().query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": request.method().as_str(),
                "path": request.uri().path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": request.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("")
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "isBase64Encoded": false
    })
}

/// API Gateway's half of the contract: the function's JSON answer to HTTP.
pub fn http_response(answer: &[u8]) -> Response {
    let Ok(answer) = serde_json::from_slice::<Value>(answer) else {
        return (StatusCode::BAD_GATEWAY, "the function's answer is not JSON").into_response();
    };
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match answer["body"].as_str() {
        None => Vec::new(),
        Some(text) if answer["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            HeaderName::try_from(name.as_str()),
            value.as_str().map(HeaderValue::try_from),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn api(State(functions): State<Arc<Functions>>, request: Request) -> Response {
    if !loopback_host(request.headers().get("host").and_then(|v| v.to_str().ok())) {
        // The local run is open (no authorizer): a page that rebinds its
        // own name to 127.0.0.1 must not read it (MCP "Security").
        return (
            StatusCode::FORBIDDEN,
            [("content-type", "application/json")],
            json!({ "error": { "code": "FORBIDDEN_HOST", "message": "the local gateway answers requests for localhost only" } }).to_string(),
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_INVOKE_BYTES).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is over Lambda's 6 MB",
        )
            .into_response();
    };
    let request = Request::from_parts(parts, Body::empty());
    let mut event = gateway_event(&request);
    if !body.is_empty() {
        // As API Gateway does for a body it may not pass as text.
        event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
        event["isBase64Encoded"] = json!(true);
    }
    match functions.api.invoke(&event, Duration::from_secs(10)).await {
        Ok(answer) => http_response(&answer),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            format!("the API function failed: {error}\n"),
        )
            .into_response(),
    }
}

/// Whether a `Host` header names this machine's loopback (any port).
fn loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return true; // HTTP/1.0 without Host: nothing to rebind
    };
    let name = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .map_or(host, |(name, _)| name)
            .to_owned()
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "[::1]"
    )
}

/// Invokes the contact-flow function with the body as its payload, byte
/// for byte, as Lambda's Invoke API would: the function answers anything.
async fn contact_flow(State(functions): State<Arc<Functions>>, body: Bytes) -> Response {
    match functions
        .contact_flow
        .invoke_raw(body.to_vec(), Duration::from_secs(8))
        .await
    {
        Ok(answer) => ([("content-type", "application/json")], answer).into_response(),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            format!("the contact-flow function failed: {error}\n"),
        )
            .into_response(),
    }
}
