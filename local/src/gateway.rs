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

pub fn router(functions: Arc<Functions>) -> Router {
    Router::new()
        .route("/_invoke/contact-flow", post(contact_flow))
        .fallback(api)
        .with_state(functions)
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
    let event = gateway_event(&request);
    match functions.api.invoke(&event, Duration::from_secs(10)).await {
        Ok(answer) => http_response(&answer),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            format!("the API function failed: {error}\n"),
        )
            .into_response(),
    }
}

async fn contact_flow(State(functions): State<Arc<Functions>>, body: Bytes) -> Response {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "send a contact-flow event as JSON\n",
        )
            .into_response();
    };
    match functions
        .contact_flow
        .invoke(&event, Duration::from_secs(8))
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
