//! The JSON-RPC envelope of one MCP POST: what it asks, in which revision,
//! or the protocol's answer when it cannot be served.
//!
//! Pure: headers and body in, a [`Call`] or a [`Rejection`] out. Every
//! way a client can get the envelope wrong ends here as the error the
//! specification names, with the HTTP status it names, and the request's
//! id whenever the id could be read.
//!
//! Two eras share the endpoint (MCP 2026-07-28, "Versioning"):
//! - **modern** (2026-07-28): every request carries its protocol version
//!   and client capabilities in `params._meta`, mirrored into the
//!   `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers;
//! - **legacy** (2025-11-25, 2025-06-18): the client opens with
//!   `initialize` and sends `MCP-Protocol-Version` afterwards. We answer
//!   without minting a session id, so every legacy request stands alone
//!   as well.

// A rejection is made at most once per request, on its way out: boxing
// it would buy nothing clippy's size rule is about.
#![allow(clippy::result_large_err)]

use base64::Engine;
use rmcp::model::ErrorCode;
use serde_json::{Map, Value, json};

/// The revision that needs no handshake.
pub const MODERN: &str = "2026-07-28";
/// The handshake revisions we serve, newest first.
pub const LEGACY: [&str; 2] = ["2025-11-25", "2025-06-18"];
/// Every revision we serve, newest first (`server/discover`'s list).
pub const SUPPORTED: [&str; 3] = [MODERN, LEGACY[0], LEGACY[1]];
/// Largest body we read. A tools/call of ours is well under 2 KiB; API
/// Gateway would pass up to 10 MB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// Which revision a request is served under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    Modern,
    /// The revision the client speaks (for `initialize`: the one we agree to).
    Legacy(&'static str),
}

/// A request to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// A string or an integer, never null (MCP "Requests").
    pub id: Value,
    pub method: String,
    /// `params` without `_meta`; empty when absent.
    pub params: Map<String, Value>,
    pub era: Era,
}

/// What one POST carries.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    Request(Call),
    /// Accepted and answered 202 with no body.
    Notification,
}

/// A JSON-RPC error answer and the HTTP status it goes out with.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub status: u16,
    pub id: Option<Value>,
    pub code: ErrorCode,
    pub message: String,
    pub data: Option<Value>,
}

impl Rejection {
    pub fn new(
        status: u16,
        id: Option<&Value>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            id: id.cloned(),
            code,
            message: message.into(),
            data: None,
        }
    }

    fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The JSON-RPC error response body.
    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code.0, "message": self.message });
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        let mut body = json!({ "jsonrpc": "2.0", "error": error });
        if let Some(id) = &self.id {
            body["id"] = id.clone();
        }
        body
    }
}

/// A header's value by case-insensitive name.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn invalid_request(id: Option<&Value>, message: impl Into<String>) -> Rejection {
    Rejection::new(400, id, ErrorCode::INVALID_REQUEST, message)
}

fn header_mismatch(id: &Value, message: impl Into<String>) -> Rejection {
    Rejection::new(400, Some(id), ErrorCode::HEADER_MISMATCH, message)
}

/// UnsupportedProtocolVersionError, listing what we do support.
pub fn unsupported_version(id: Option<&Value>, requested: &str) -> Rejection {
    Rejection::new(
        400,
        id,
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        format!(
            "protocol version {:?} is not supported; use one of {}",
            clip(requested),
            SUPPORTED.join(", ")
        ),
    )
    .with_data(json!({ "supported": SUPPORTED, "requested": requested }))
}

/// Client text echoed in a message, bounded and free of control characters.
pub fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// Reads one POST body and its headers.
pub fn parse(headers: &[(String, String)], body: &[u8]) -> Result<Incoming, Rejection> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Rejection::new(
            413,
            None,
            ErrorCode::INVALID_REQUEST,
            format!("the request body is over {MAX_BODY_BYTES} bytes"),
        ));
    }
    let message: Value = serde_json::from_slice(body).map_err(|err| {
        Rejection::new(
            400,
            None,
            ErrorCode::PARSE_ERROR,
            format!("the body is not JSON: {err}"),
        )
    })?;
    let Value::Object(message) = message else {
        let what = if message.is_array() {
            "a batch (JSON-RPC batching was removed in MCP 2025-06-18)"
        } else {
            "not a JSON object"
        };
        return Err(invalid_request(
            None,
            format!("the body is {what}; send one request"),
        ));
    };
    // The id, when it is one we may echo.
    let id = match message.get("id") {
        None => None,
        Some(id @ Value::String(_)) => Some(id.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(Value::Number(n.clone())),
        Some(_) => {
            return Err(invalid_request(
                None,
                "id must be a string or an integer (MCP forbids null)",
            ));
        }
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid_request(id.as_ref(), "jsonrpc must be \"2.0\""));
    }
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        let what = if message.contains_key("result") || message.contains_key("error") {
            "a response; this server takes requests and notifications only"
        } else {
            "missing a method name"
        };
        return Err(invalid_request(
            id.as_ref(),
            format!("the message is {what}"),
        ));
    };
    let mut params = match message.get("params") {
        None => Map::new(),
        Some(Value::Object(params)) => params.clone(),
        Some(_) => {
            return Err(invalid_request(id.as_ref(), "params must be an object"));
        }
    };
    let Some(id) = id else {
        // The revision defines no client notification over HTTP and an
        // older client's (notifications/initialized, sent after the
        // handshake with the agreed version's header) needs nothing from
        // us: accept it, as the transport asks, when it names a revision
        // we speak.
        return match header(headers, "mcp-protocol-version") {
            Some(version) if SUPPORTED.contains(&version) => Ok(Incoming::Notification),
            Some(version) => Err(unsupported_version(None, version)),
            None => Err(Rejection::new(
                400,
                None,
                ErrorCode::HEADER_MISMATCH,
                "the MCP-Protocol-Version header is required",
            )),
        };
    };
    let meta = params.remove("_meta");
    let era = era(headers, &id, method, meta.as_ref(), &params)?;
    Ok(Incoming::Request(Call {
        id,
        method: method.to_owned(),
        params,
        era,
    }))
}

/// Decides the revision and checks what that revision requires of the
/// headers and `_meta`, in the order the specification's checks imply:
/// a malformed `_meta` before a header mismatch, a mismatch before an
/// unsupported version.
fn era(
    headers: &[(String, String)],
    id: &Value,
    method: &str,
    meta: Option<&Value>,
    params: &Map<String, Value>,
) -> Result<Era, Rejection> {
    let header_version = header(headers, "mcp-protocol-version");
    let meta_version = meta.and_then(|m| m.get(META_VERSION));
    if meta_version.is_none() && header_version != Some(MODERN) {
        return legacy(header_version, id, method);
    }
    // Modern: `_meta` must say which version and what the client can do.
    let invalid_meta = |what: &str| {
        Rejection::new(
            400,
            Some(id),
            ErrorCode::INVALID_PARAMS,
            format!("params._meta must carry {what} on every {MODERN} request"),
        )
    };
    let Some(Value::Object(meta)) = meta else {
        return Err(invalid_meta(&format!(
            "{META_VERSION} and {META_CAPABILITIES}"
        )));
    };
    let Some(version) = meta.get(META_VERSION).and_then(Value::as_str) else {
        return Err(invalid_meta(&format!("{META_VERSION} (a string)")));
    };
    if !meta.get(META_CAPABILITIES).is_some_and(Value::is_object) {
        return Err(invalid_meta(&format!("{META_CAPABILITIES} (an object)")));
    }
    match header_version {
        None => {
            return Err(header_mismatch(
                id,
                "the MCP-Protocol-Version header is required",
            ));
        }
        Some(h) if h != version => {
            return Err(header_mismatch(
                id,
                format!(
                    "Header mismatch: MCP-Protocol-Version {:?} does not match _meta {:?}",
                    clip(h),
                    clip(version)
                ),
            ));
        }
        Some(_) => {}
    }
    if version != MODERN {
        return Err(unsupported_version(Some(id), version));
    }
    match header(headers, "mcp-method") {
        Some(h) if h == method => {}
        Some(h) => {
            return Err(header_mismatch(
                id,
                format!(
                    "Header mismatch: Mcp-Method {:?} does not match method {:?}",
                    clip(h),
                    clip(method)
                ),
            ));
        }
        None => return Err(header_mismatch(id, "the Mcp-Method header is required")),
    }
    if let Some(field) = named_by(method) {
        let body = params.get(field).and_then(Value::as_str);
        match header(headers, "mcp-name") {
            None => {
                return Err(header_mismatch(
                    id,
                    format!("the Mcp-Name header is required for {method}"),
                ));
            }
            Some(h) if decode_name(h).as_deref() != body => {
                return Err(header_mismatch(
                    id,
                    format!(
                        "Header mismatch: Mcp-Name {:?} does not match params.{field}",
                        clip(h)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(Era::Modern)
}

/// A request of the handshake era: `initialize` agrees on a version; every
/// later request names it in `MCP-Protocol-Version`.
fn legacy(header_version: Option<&str>, id: &Value, method: &str) -> Result<Era, Rejection> {
    if method == "initialize" {
        // Answered by the caller from the params' protocolVersion.
        return Ok(Era::Legacy(LEGACY[0]));
    }
    match header_version {
        Some(version) => LEGACY
            .iter()
            .find(|v| **v == version)
            .map(|v| Era::Legacy(v))
            .ok_or_else(|| unsupported_version(Some(id), version)),
        // Clients before 2025-06-18 sent no header; we do not serve them.
        None => Err(header_mismatch(
            id,
            format!(
                "the MCP-Protocol-Version header is required (one of {})",
                SUPPORTED.join(", ")
            ),
        )),
    }
}

/// The params field `Mcp-Name` mirrors, for the methods that have one.
fn named_by(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// An `Mcp-Name` value, decoded from the `=?base64?…?=` form when in it.
pub fn decode_name(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(value.to_owned()),
    }
}

/// The version `initialize` agrees to: the client's when we speak it, else
/// our newest handshake revision (the client may then disconnect).
pub fn negotiate(params: &Map<String, Value>) -> &'static str {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    LEGACY
        .iter()
        .find(|v| Some(**v) == asked)
        .copied()
        .unwrap_or(LEGACY[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope fixtures (`fixtures/mcp/envelopes.json`): every
    /// revision's request shapes and every error path. Here, what the
    /// envelope alone decides; the e2e suite sends the same table through
    /// the whole API.
    fn cases() -> Vec<Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/mcp/envelopes.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    pub fn request_parts(case: &Value) -> (Vec<(String, String)>, Vec<u8>) {
        let headers = case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_owned()))
            .collect();
        let body = match case.get("raw") {
            Some(raw) => raw.as_str().unwrap().as_bytes().to_vec(),
            None => serde_json::to_vec(&case["body"]).unwrap(),
        };
        (headers, body)
    }

    #[test]
    fn every_fixture_envelope_is_read_as_its_revision_asks() {
        let cases = cases();
        assert!(cases.len() > 40);
        for case in &cases {
            let name = case["name"].as_str().unwrap();
            let status = case["expect"]["status"].as_u64().unwrap();
            if case["method"] != "POST" || status == 403 || status == 415 {
                continue; // the HTTP layer's, not the envelope's
            }
            let (headers, body) = request_parts(case);
            let parsed = parse(&headers, &body);
            match (status, parsed) {
                (400 | 413, Err(rejected)) => {
                    assert_eq!(u64::from(rejected.status), status, "{name}");
                    assert_eq!(json!(rejected.code.0), case["expect"]["code"], "{name}");
                    // The id is echoed whenever it could be read.
                    if let Some(id) = case["body"]
                        .get("id")
                        .filter(|id| id.is_string() || id.is_u64())
                    {
                        assert_eq!(rejected.id.as_ref(), Some(id), "{name}");
                    }
                }
                (202, Ok(Incoming::Notification)) => {}
                (200 | 404, Ok(Incoming::Request(call))) => match case["expect"]
                    .get("era")
                    .and_then(Value::as_str)
                {
                    Some("modern") => assert_eq!(call.era, Era::Modern, "{name}"),
                    Some(_) | None => {
                        if case["headers"]
                            .get("MCP-Protocol-Version")
                            .and_then(Value::as_str)
                            == Some(MODERN)
                        {
                            assert_eq!(call.era, Era::Modern, "{name}");
                        } else {
                            assert!(matches!(call.era, Era::Legacy(_)), "{name}: {:?}", call.era);
                        }
                    }
                },
                (status, other) => panic!("{name}: expected {status}, parsed {other:?}"),
            }
        }
    }

    #[test]
    fn an_oversized_body_is_refused_before_it_is_read() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let rejected = parse(&[], &body).unwrap_err();
        assert_eq!(
            (rejected.status, rejected.code),
            (413, ErrorCode::INVALID_REQUEST)
        );
    }

    #[test]
    fn an_unsupported_version_lists_what_is_supported_and_echoes_the_request() {
        let rejected = unsupported_version(Some(&json!(7)), "v999.0.0");
        let body = rejected.body();
        assert_eq!(body["id"], 7);
        assert_eq!(body["error"]["code"], -32022);
        assert_eq!(body["error"]["data"]["requested"], "v999.0.0");
        assert_eq!(body["error"]["data"]["supported"], json!(SUPPORTED));
    }

    #[test]
    fn mcp_name_decodes_the_base64_sentinel_and_refuses_bad_base64() {
        assert_eq!(
            decode_name("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_name("list_queues").as_deref(), Some("list_queues"));
        assert_eq!(decode_name("=?base64?***?="), None);
    }

    #[test]
    fn initialize_agrees_to_the_clients_version_or_our_newest_handshake() {
        let asked = |v: &str| negotiate(json!({ "protocolVersion": v }).as_object().unwrap());
        assert_eq!(asked("2025-06-18"), "2025-06-18");
        assert_eq!(asked("2025-11-25"), "2025-11-25");
        assert_eq!(asked("2024-11-05"), "2025-11-25");
        assert_eq!(asked(MODERN), "2025-11-25");
    }
}
