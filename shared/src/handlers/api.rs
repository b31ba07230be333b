//! The API behind API Gateway HTTP API (payload format 2.0).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::api::{Api, ApiError, HttpRequest, HttpResponse, response};

/// Answers one API Gateway event. The event arrives as plain JSON so that
/// a malformed one is a 400 from us, not a deserialization failure (and a
/// 500) in the runtime.
pub async fn handle(
    event: LambdaEvent<Value>,
    api: &Api,
) -> Result<ApiGatewayV2httpResponse, lambda_runtime::Error> {
    let response = match serde_json::from_value::<ApiGatewayV2httpRequest>(event.payload) {
        Ok(request) => api.handle(&from_gateway(&request)).await,
        Err(err) => {
            tracing::warn!(error = %err, "malformed API Gateway event");
            let error = ApiError::bad_request(
                "MALFORMED_EVENT",
                "the request event is not an API Gateway HTTP API (2.0) event",
            );
            response::error(&HttpRequest::default(), &error)
        }
    };
    Ok(to_gateway(response))
}

pub fn from_gateway(request: &ApiGatewayV2httpRequest) -> HttpRequest {
    HttpRequest {
        method: request.request_context.http.method.as_str().to_owned(),
        raw_path: request
            .raw_path
            .clone()
            .or_else(|| request.request_context.http.path.clone())
            .unwrap_or_default(),
        raw_query: request.raw_query_string.clone().unwrap_or_default(),
        body: match &request.body {
            None => Vec::new(),
            Some(text) if request.is_base64_encoded => {
                use base64::Engine;
                // Undecodable base64 reads as an empty body: a parse error.
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default()
            }
            Some(text) => text.as_bytes().to_vec(),
        },
        headers: request
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
    }
}

pub fn to_gateway(response: HttpResponse) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(name, value);
        }
    }
    let gzipped = response.header("content-encoding") == Some("gzip");
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(response.status);
    out.headers = headers;
    out.is_base64_encoded = gzipped;
    out.body = match (response.body.is_empty(), gzipped) {
        (true, _) => None,
        // Binary bodies are base64'd on the way out, as API Gateway expects.
        (false, true) => Some(Body::Binary(response.body)),
        (false, false) => Some(Body::Text(
            String::from_utf8(response.body).unwrap_or_default(),
        )),
    };
    out
}
