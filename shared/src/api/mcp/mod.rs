//! `POST /mcp`: the snapshot for AI assistants over the Model Context
//! Protocol (Streamable HTTP, stateless, JSON responses).
//!
//! One invocation answers one POST, so nothing is kept between requests:
//! the 2026-07-28 revision is stateless by design, and the older revisions'
//! `initialize` is answered without a session id, which those revisions
//! allow ("the server MAY assign a session ID").
//!
//! Message types are the official Rust SDK's (`rmcp`, model only, with no
//! default features): its `Tool`, `CallToolResult`, `DiscoverResult` and
//! error codes track the specification, while its server runtime (a
//! long-lived service loop over a transport, sessions, macros) has nothing
//! to do in a Lambda invocation. The envelope checks the revision asks of
//! an HTTP server (headers against `_meta`, the order of its errors) are
//! ours, in [`protocol`], because they are HTTP-shaped and the SDK keeps
//! them inside that runtime.

pub mod protocol;
pub mod tools;

use rmcp::model::{
    CacheScope, CallToolResult, DiscoverResult, ErrorCode, Implementation, InitializeResult,
    ListToolsResult, ProtocolVersion, ServerCapabilities, ToolsCapability,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Api, HttpRequest, HttpResponse};
use protocol::{Call, Era, Incoming, Rejection};

/// How long a client may keep the tool list: it changes only with a deploy.
const TOOLS_TTL_MS: u64 = 60 * 60 * 1000;

const INSTRUCTIONS: &str = "Realtime contact-center queue statistics from the latest stored snapshot \
(Symbee Connect, Amazon Connect, 8x8, Clarity Connect). Start with list_queues (worst first) or \
source_health; a queue id two sources share needs its source. Figures are as fresh as the last \
poll: check observedAt and stale.";

impl Api {
    /// Answers one request to `/mcp`.
    pub(super) async fn mcp(&self, request: &HttpRequest) -> HttpResponse {
        if !request.method.eq_ignore_ascii_case("POST") {
            // No GET stream and no sessions to DELETE in any revision we serve.
            let mut response = rejection(&Rejection::new(
                405,
                None,
                ErrorCode::INVALID_REQUEST,
                format!(
                    "{} is not allowed on /mcp; send each JSON-RPC request as a POST",
                    protocol::clip(&request.method)
                ),
            ));
            response
                .headers
                .push(("allow".to_owned(), "POST".to_owned()));
            return response;
        }
        if let Some(origin) = request.header("origin")
            && !same_origin(origin, request.header("host"))
        {
            return rejection(&Rejection::new(
                403,
                None,
                ErrorCode::INVALID_REQUEST,
                "the Origin header does not name this server",
            ));
        }
        if let Some(kind) = request.header("content-type")
            && !kind
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        {
            return rejection(&Rejection::new(
                415,
                None,
                ErrorCode::INVALID_REQUEST,
                "send the JSON-RPC message as Content-Type: application/json",
            ));
        }
        match protocol::parse(&request.headers, &request.body) {
            Err(rejected) => rejection(&rejected),
            Ok(Incoming::Notification) => HttpResponse {
                status: 202,
                headers: Vec::new(),
                body: Vec::new(),
            },
            Ok(Incoming::Request(call)) => match self.dispatch(&call).await {
                Ok(result) => result_response(&call, result),
                Err(rejected) => rejection(&rejected),
            },
        }
    }

    async fn dispatch(&self, call: &Call) -> Result<Value, Rejection> {
        match (call.era, call.method.as_str()) {
            (Era::Modern, "server/discover") => {
                let mut result = DiscoverResult::new(supported(), capabilities())
                    .with_server_info(server_info())
                    .with_ttl_ms(TOOLS_TTL_MS)
                    .with_cache_scope(CacheScope::Public);
                result.instructions = Some(INSTRUCTIONS.to_owned());
                Ok(to_value(result))
            }
            (Era::Legacy(_), "initialize") => {
                let mut result = InitializeResult::new(capabilities())
                    .with_server_info(server_info())
                    .with_instructions(INSTRUCTIONS);
                result.protocol_version = version(protocol::negotiate(&call.params));
                Ok(to_value(result))
            }
            (Era::Legacy(_), "ping") => Ok(json!({})),
            (_, "tools/list") => {
                let mut result = ListToolsResult::with_all_items(tools::definitions().to_vec());
                if call.era == Era::Modern {
                    result = result
                        .with_ttl_ms(TOOLS_TTL_MS)
                        .with_cache_scope(CacheScope::Public);
                }
                Ok(to_value(result))
            }
            (_, "tools/call") => self.tools_call(call).await,
            (_, method) => Err(Rejection::new(
                // As the 2026-07-28 transport asks, and for the handshake
                // revisions too: their clients read the JSON-RPC body of
                // any status, and one rule is simpler to rely on.
                404,
                Some(&call.id),
                ErrorCode::METHOD_NOT_FOUND,
                format!("method {:?} is not served here", protocol::clip(method)),
            )),
        }
    }

    async fn tools_call(&self, call: &Call) -> Result<Value, Rejection> {
        let invalid = |message: String| {
            Rejection::new(200, Some(&call.id), ErrorCode::INVALID_PARAMS, message)
        };
        let Some(name) = call.params.get("name").and_then(Value::as_str) else {
            return Err(invalid(
                "tools/call needs params.name, the tool's name".to_owned(),
            ));
        };
        let empty = Map::new();
        let arguments = match call.params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(arguments)) => arguments,
            Some(_) => return Err(invalid("params.arguments must be an object".to_owned())),
        };
        let result: CallToolResult = self.call_tool(name, arguments).await.ok_or_else(|| {
            invalid(format!(
                "unknown tool {:?}; tools/list names the five this server has",
                protocol::clip(name)
            ))
        })?;
        Ok(to_value(result))
    }
}

fn version(name: &str) -> ProtocolVersion {
    serde_json::from_value(json!(name)).unwrap_or_default()
}

fn supported() -> Vec<ProtocolVersion> {
    protocol::SUPPORTED.iter().map(|v| version(v)).collect()
}

/// Tools only, and a list that changes with a deploy alone.
fn capabilities() -> ServerCapabilities {
    let mut capabilities = ServerCapabilities::default();
    capabilities.tools = Some(ToolsCapability::default());
    capabilities
}

fn server_info() -> Implementation {
    Implementation::new("queue-stats", env!("CARGO_PKG_VERSION"))
        .with_title("Realtime queue statistics")
}

fn to_value(result: impl Serialize) -> Value {
    serde_json::to_value(result).unwrap_or_else(|_| json!({}))
}

/// The JSON-RPC result for `call` in its revision's shape: a modern result
/// says it is complete; a handshake-era client gets none of the fields its
/// revision lacks (strict clients refuse a result with unknown ones).
fn result_response(call: &Call, mut result: Value) -> HttpResponse {
    if let Value::Object(fields) = &mut result {
        match call.era {
            Era::Modern => {
                fields
                    .entry("resultType")
                    .or_insert_with(|| Value::from("complete"));
            }
            Era::Legacy(_) => {
                for field in ["resultType", "ttlMs", "cacheScope"] {
                    fields.remove(field);
                }
            }
        }
    }
    json_response(
        200,
        &json!({ "jsonrpc": "2.0", "id": call.id, "result": result }),
    )
}

fn rejection(rejected: &Rejection) -> HttpResponse {
    json_response(rejected.status, &rejected.body())
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("cache-control".to_owned(), "no-store".to_owned()),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// Whether an `Origin` names the host the request was sent to: a page of
/// this server's own origin (the wallboard) may call it, a page elsewhere
/// may not (MCP "Security": validate Origin, 403 when invalid).
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let authority = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    host.is_some_and(|host| authority.eq_ignore_ascii_case(host.trim()))
}
