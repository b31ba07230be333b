//! What every HTTP source does the same way with reqwest: turning its
//! errors into [`SourceError`]s, reading a body, and quoting an error body
//! for the operator without the credentials it might echo.

use std::time::Duration;

use crate::secrets::SecretValue;
use crate::source::SourceError;

/// How much of an error body we keep for the operator: enough to diagnose,
/// too little to flood a log line.
pub const ERROR_DETAIL_LIMIT: usize = 200;

/// A failed request: a timeout of `timeout` (the client's per-request
/// bound), or a transport failure with reqwest's error kept as the cause.
pub fn request_error(err: reqwest::Error, timeout: Duration) -> SourceError {
    if err.is_timeout() {
        SourceError::RequestTimeout {
            timeout_ms: timeout.as_millis() as u64,
        }
    } else {
        // Without the URL (a query could name ids) and without headers:
        // reqwest's Display never includes request headers.
        let err = err.without_url();
        SourceError::transport(crate::aws::describe_error(&err), err)
    }
}

/// The whole body; a body cut off mid-way is malformed, a slow one a timeout.
pub async fn read_body(
    response: reqwest::Response,
    timeout: Duration,
) -> Result<Vec<u8>, SourceError> {
    response.bytes().await.map(|b| b.to_vec()).map_err(|err| {
        if err.is_timeout() {
            request_error(err, timeout)
        } else {
            SourceError::malformed_by("the body could not be read", err.without_url())
        }
    })
}

/// The start of an error body with every occurrence of each secret
/// removed, in case an upstream echoes what it rejected.
pub fn error_detail(body: &[u8], secrets: &[&SecretValue]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for secret in secrets {
        if !secret.expose().is_empty() {
            text = text.replace(secret.expose(), "<redacted>");
        }
    }
    let mut detail: String = text.chars().take(ERROR_DETAIL_LIMIT).collect();
    if text.chars().count() > ERROR_DETAIL_LIMIT {
        detail.push('…');
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_details_are_bounded_and_never_hold_a_secret() {
        let key = SecretValue::new("s3cr3t-key");
        let password = SecretValue::new("pa55");
        let body = format!("bad key s3cr3t-key and pa55 {}", "x".repeat(500));
        let detail = error_detail(body.as_bytes(), &[&key, &password]);
        assert!(!detail.contains("s3cr3t-key") && !detail.contains("pa55"));
        assert!(detail.contains("<redacted>"));
        assert_eq!(detail.chars().count(), ERROR_DETAIL_LIMIT + 1);
        assert_eq!(error_detail(b"short", &[&SecretValue::new("")]), "short");
    }
}
