//! Turning a raw path and query string into a route and typed parameters.
//!
//! Pure functions: everything the client controls passes through here
//! first, and every way it can be wrong becomes an [`ApiError`] (a 4xx),
//! never a panic.

use std::collections::BTreeMap;

use super::ApiError;

/// Longest path we look at; API Gateway allows far longer, queue ids don't.
pub const MAX_PATH_BYTES: usize = 2048;
/// Longest parameter value (a queue ARN is about 130 bytes).
pub const MAX_PARAM_BYTES: usize = 512;
/// Most values one repeatable parameter may have.
pub const MAX_PARAM_VALUES: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Snapshot,
    Queue(String),
    QueueHistory(String),
    Health,
    /// The MCP endpoint (JSON-RPC over POST).
    Mcp,
    /// The wallboard page; its query string is the page's own (filters,
    /// the sign-in callback) and is read by its script, not here.
    Wallboard,
}

impl Route {
    /// The OpenAPI path template this route answers (for logs and docs).
    pub fn template(&self) -> &'static str {
        match self {
            Route::Snapshot => "/v1/snapshot",
            Route::Queue(_) => "/v1/queues/{queueId}",
            Route::QueueHistory(_) => "/v1/queues/{queueId}/history",
            Route::Health => "/v1/health",
            Route::Wallboard => "/wallboard",
            Route::Mcp => "/mcp",
        }
    }

    /// The parameters each route accepts; anything else is a 400.
    fn allowed_params(&self) -> &'static [&'static str] {
        match self {
            Route::Snapshot => &[
                "source",
                "taskType",
                "deliveryProvider",
                "queueId",
                "instanceId",
            ],
            Route::QueueHistory(_) => &["minutes", "source"],
            Route::Queue(_) => &["source"],
            Route::Health | Route::Wallboard | Route::Mcp => &[],
        }
    }
}

/// Decodes `%XX` escapes; `plus_is_space` for query strings.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-encoding at byte {i}"))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoding decodes to invalid UTF-8".to_owned())
}

/// Resolves a raw path (as API Gateway passes it, still percent-encoded)
/// to a route. A queue id may be percent-encoded (`arn%3Aaws%3A…%2Fqueue%2F…`)
/// or spelled out with its slashes.
pub fn route(raw_path: &str) -> Result<Route, ApiError> {
    if raw_path.len() > MAX_PATH_BYTES {
        return Err(ApiError::bad_request(
            "PATH_TOO_LONG",
            format!("the path is over {MAX_PATH_BYTES} bytes"),
        ));
    }
    let trimmed = raw_path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(raw_path);
    let raw_segments: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    let segments: Vec<String> = raw_segments
        .iter()
        .map(|s| percent_decode(s, false))
        .collect::<Result<_, _>>()
        .map_err(|problem| {
            ApiError::bad_request("INVALID_PATH", format!("the path is not valid: {problem}"))
        })?;
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["v1", "snapshot"] => Ok(Route::Snapshot),
        ["v1", "health"] => Ok(Route::Health),
        ["wallboard"] => Ok(Route::Wallboard),
        ["mcp"] => Ok(Route::Mcp),
        ["v1", "queues", rest @ ..] if !rest.is_empty() => {
            let (id_parts, history) = match rest {
                [id @ .., "history"] if !id.is_empty() => (id, true),
                id => (id, false),
            };
            let queue_id = id_parts.join("/");
            if queue_id.trim().is_empty() || id_parts.iter().any(|p| p.is_empty()) {
                return Err(ApiError::bad_request(
                    "INVALID_QUEUE_ID",
                    "the queue id is empty",
                ));
            }
            if queue_id.chars().any(char::is_control) {
                return Err(ApiError::bad_request(
                    "INVALID_QUEUE_ID",
                    "the queue id has control characters",
                ));
            }
            if queue_id.len() > MAX_PARAM_BYTES {
                return Err(ApiError::bad_request(
                    "INVALID_QUEUE_ID",
                    format!("the queue id is over {MAX_PARAM_BYTES} bytes"),
                ));
            }
            Ok(if history {
                Route::QueueHistory(queue_id)
            } else {
                Route::Queue(queue_id)
            })
        }
        _ => Err(ApiError::not_found(
            "ROUTE_NOT_FOUND",
            format!("no route for {}", sanitize(raw_path)),
        )),
    }
}

/// Parameters by name, each with all its values in order.
pub type Params = BTreeMap<String, Vec<String>>;

/// Parses a raw query string, rejecting what `route` does not accept.
pub fn params(route: &Route, raw_query: &str) -> Result<Params, ApiError> {
    let mut params = Params::new();
    if *route == Route::Wallboard {
        // The page is the same whatever its query; its script reads it.
        return Ok(params);
    }
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(raw_name, true).map_err(|p| {
            ApiError::bad_request(
                "INVALID_PARAMETER",
                format!("a parameter name is not valid: {p}"),
            )
        })?;
        if !route.allowed_params().contains(&name.as_str()) {
            let allowed = route.allowed_params();
            let hint = if allowed.is_empty() {
                "this route takes no parameters".to_owned()
            } else {
                format!("allowed: {}", allowed.join(", "))
            };
            return Err(ApiError::bad_request(
                "UNKNOWN_PARAMETER",
                format!("unknown parameter {:?} ({hint})", sanitize(&name)),
            ));
        }
        let value = percent_decode(raw_value, true).map_err(|p| {
            ApiError::bad_request("INVALID_PARAMETER", format!("parameter {name}: {p}"))
        })?;
        if value.is_empty() {
            return Err(ApiError::bad_request(
                "INVALID_PARAMETER",
                format!("parameter {name} is empty"),
            ));
        }
        if value.len() > MAX_PARAM_BYTES {
            return Err(ApiError::bad_request(
                "PARAMETER_TOO_LONG",
                format!("parameter {name} is over {MAX_PARAM_BYTES} bytes"),
            ));
        }
        // As in a path: no id, source or type holds a control character.
        if value.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "INVALID_PARAMETER",
                format!("parameter {name} has control characters"),
            ));
        }
        let values = params.entry(name.clone()).or_default();
        if values.len() == MAX_PARAM_VALUES {
            return Err(ApiError::bad_request(
                "TOO_MANY_VALUES",
                format!("parameter {name} has more than {MAX_PARAM_VALUES} values"),
            ));
        }
        values.push(value);
    }
    Ok(params)
}

/// The single value of a parameter that may appear at most once.
pub fn single<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, ApiError> {
    match params.get(name).map(Vec::as_slice) {
        None | Some([]) => Ok(None),
        Some([one]) => Ok(Some(one)),
        Some(_) => Err(ApiError::bad_request(
            "DUPLICATE_PARAMETER",
            format!("parameter {name} may be given once"),
        )),
    }
}

/// Client text quoted in an error message: bounded and printable.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(120).collect();
    if text.chars().count() > 120 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:connect:us-east-1:123456789012:instance/abc/queue/def";

    #[test]
    fn routes_resolve_with_and_without_encoding() {
        assert_eq!(route("/v1/snapshot"), Ok(Route::Snapshot));
        assert_eq!(route("/v1/snapshot/"), Ok(Route::Snapshot));
        assert_eq!(route("/v1/health"), Ok(Route::Health));
        assert_eq!(
            route("/v1/queues/email-care"),
            Ok(Route::Queue("email-care".into()))
        );
        let encoded =
            "arn%3Aaws%3Aconnect%3Aus-east-1%3A123456789012%3Ainstance%2Fabc%2Fqueue%2Fdef";
        assert_eq!(
            route(&format!("/v1/queues/{encoded}")),
            Ok(Route::Queue(ARN.into()))
        );
        assert_eq!(
            route(&format!("/v1/queues/{ARN}")),
            Ok(Route::Queue(ARN.into()))
        );
        assert_eq!(
            route(&format!("/v1/queues/{encoded}/history")),
            Ok(Route::QueueHistory(ARN.into()))
        );
        assert_eq!(
            route(&format!("/v1/queues/{ARN}/history")),
            Ok(Route::QueueHistory(ARN.into()))
        );
    }

    #[test]
    fn bad_paths_are_client_errors() {
        for path in [
            "/",
            "/v2/snapshot",
            "/v1/queues",
            "/v1/queues/",
            "/v1/snapshots",
            "",
        ] {
            assert_eq!(route(path).unwrap_err().status, 404, "{path}");
        }
        for path in [
            "/v1/queues/%ZZ",
            "/v1/queues/%C3%28",
            "/v1/queues/a%00b",
            "/v1/queues/a//b",
        ] {
            assert_eq!(route(path).unwrap_err().status, 400, "{path}");
        }
        assert_eq!(
            route(&format!("/v1/queues/{}", "a".repeat(3000)))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn params_are_checked_per_route() {
        let p = params(&Route::Snapshot, "queueId=a&queueId=b%2Fc&source=symbee").unwrap();
        assert_eq!(p["queueId"], vec!["a", "b/c"]);
        assert_eq!(
            params(&Route::Snapshot, "sorce=x").unwrap_err().code,
            "UNKNOWN_PARAMETER"
        );
        assert_eq!(
            params(&Route::Health, "x=1").unwrap_err().code,
            "UNKNOWN_PARAMETER"
        );
        assert_eq!(
            params(&Route::Snapshot, "source=").unwrap_err().code,
            "INVALID_PARAMETER"
        );
        let long = format!("queueId={}", "q".repeat(600));
        assert_eq!(
            params(&Route::Snapshot, &long).unwrap_err().code,
            "PARAMETER_TOO_LONG"
        );
        let many: Vec<String> = (0..101).map(|i| format!("queueId=q{i}")).collect();
        assert_eq!(
            params(&Route::Snapshot, &many.join("&")).unwrap_err().code,
            "TOO_MANY_VALUES"
        );
        let history = Route::QueueHistory("q".into());
        let p = params(&history, "minutes=5&minutes=6").unwrap();
        assert_eq!(
            single(&p, "minutes").unwrap_err().code,
            "DUPLICATE_PARAMETER"
        );
    }
}
