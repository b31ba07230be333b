//! The client side of ASP.NET SignalR 2.x (protocol 1.5) over WebSockets,
//! as much as a subscriber needs: negotiate, connect, start, abort, and
//! reading the server's frames.
//!
//! The WebSocket is opened by reqwest as an HTTP/1.1 upgrade, so TLS,
//! proxies and trusted roots are those of every other request; tungstenite
//! only frames it. Frame parsing is pure ([`parse_frame`]) and fuzzed.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::source::{SourceError, http};

/// The protocol version we speak (ASP.NET SignalR 2.1 and later).
pub const CLIENT_PROTOCOL: &str = "1.5";
/// The only transport implemented: the one Clarity's Info lists first.
pub const TRANSPORT: &str = "webSockets";

/// The socket once upgraded.
pub type Socket = WebSocketStream<reqwest::Upgraded>;

/// The answer to `negotiate`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Negotiation {
    pub connection_token: String,
    pub connection_id: String,
    /// Seconds without a frame after which the connection counts as lost;
    /// `None` = the server sends no keep-alives.
    #[serde(default)]
    pub keep_alive_timeout: Option<f64>,
    #[serde(default)]
    pub try_web_sockets: Option<bool>,
}

impl Negotiation {
    /// How long a silent socket is trusted: the server's keep-alive
    /// timeout, bounded so a bad value neither spins nor waits forever.
    pub fn silence_limit(&self) -> Option<Duration> {
        self.keep_alive_timeout
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.clamp(1.0, 600.0)))
    }
}

/// `[{"name":"<hub>"}]`, the hubs a connection is for. SignalR matches hub
/// names without regard to case; its JavaScript client lowercases them.
pub fn connection_data(hub: &str) -> String {
    serde_json::json!([{ "name": hub.to_ascii_lowercase() }]).to_string()
}

/// The query every call after negotiate carries.
pub fn transport_query<'a>(
    negotiation: &'a Negotiation,
    data: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("transport", TRANSPORT),
        ("clientProtocol", CLIENT_PROTOCOL),
        ("connectionToken", negotiation.connection_token.as_str()),
        ("connectionData", data),
    ]
}

/// One hub method call pushed by the server.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub hub: String,
    pub method: String,
    pub args: Vec<Value>,
}

/// What one server frame says.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `{}`: the connection is alive.
    KeepAlive,
    /// `{"S":1,...}`: the transport is connected (sent once, first).
    Initialized,
    /// Hub calls (possibly none, with only a new message cursor).
    Messages(Vec<Invocation>),
    /// `{"T":1}`: the server asks the client to reconnect.
    Reconnect,
    /// `{"D":1}`: the server ended the connection.
    Disconnect,
    /// `{"I":...}`: the result of a call we made (we make none).
    CallResult,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a SignalR frame is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a SignalR frame is not an object")]
    NotAnObject,
    #[error("a SignalR message has no {0}")]
    Missing(&'static str),
}

/// Reads one text frame of the persistent connection.
pub fn parse_frame(text: &str) -> Result<Frame, FrameError> {
    let value: Value = serde_json::from_str(text)?;
    let Value::Object(frame) = value else {
        return Err(FrameError::NotAnObject);
    };
    let flag = |key: &str| frame.get(key).and_then(Value::as_i64) == Some(1);
    if frame.is_empty() {
        return Ok(Frame::KeepAlive);
    }
    if flag("D") {
        return Ok(Frame::Disconnect);
    }
    if flag("T") {
        return Ok(Frame::Reconnect);
    }
    if frame.contains_key("I") && !frame.contains_key("M") {
        return Ok(Frame::CallResult);
    }
    let mut invocations = Vec::new();
    if let Some(messages) = frame.get("M") {
        let messages = messages
            .as_array()
            .ok_or(FrameError::Missing("message list"))?;
        for message in messages {
            let text = |key: &'static str| {
                message
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or(FrameError::Missing(key))
            };
            invocations.push(Invocation {
                hub: text("H")?,
                method: text("M")?,
                args: match message.get("A") {
                    Some(Value::Array(args)) => args.clone(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(other) => vec![other.clone()],
                },
            });
        }
    }
    if flag("S") {
        return Ok(Frame::Initialized);
    }
    Ok(Frame::Messages(invocations))
}

/// A fresh `Sec-WebSocket-Key`.
fn websocket_key() -> String {
    let bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Opens the WebSocket at `url` (an `http(s)://` URL: reqwest sends the
/// upgrade) with the bearer header. A 401 is returned as `Ok(Err(401))`
/// so the caller can renew its token.
pub async fn open_socket(
    client: &reqwest::Client,
    url: &str,
    query: &[(&str, &str)],
    bearer: HeaderValue,
    timeout: Duration,
) -> Result<Result<Socket, u16>, SourceError> {
    let key = websocket_key();
    let response = client
        .get(url)
        .query(query)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, &key)
        .header(header::AUTHORIZATION, bearer)
        .send()
        .await
        .map_err(|err| http::request_error(err, timeout))?;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        return Ok(Err(401));
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(SourceError::Throttled { status: 429 });
        }
        let body = http::read_body(response, timeout).await.unwrap_or_default();
        return Err(SourceError::UpstreamStatus {
            status: status.as_u16(),
            detail: format!(
                "the SignalR WebSocket was refused: {}",
                http::error_detail(&body, &[])
            ),
        });
    }
    let expected = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let accepted = response
        .headers()
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .and_then(|v| v.to_str().ok());
    if accepted != Some(expected.as_str()) {
        return Err(SourceError::malformed(
            "the SignalR WebSocket upgrade did not prove it read our key (Sec-WebSocket-Accept)",
        ));
    }
    let upgraded = response.upgrade().await.map_err(|err| {
        SourceError::transport("the SignalR WebSocket upgrade failed", err.without_url())
    })?;
    Ok(Ok(WebSocketStream::from_raw_socket(
        upgraded,
        Role::Client,
        None,
    )
    .await))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_of_every_kind_parse() {
        assert_eq!(parse_frame("{}").unwrap(), Frame::KeepAlive);
        assert_eq!(
            parse_frame(
                r#"{"C":"s-0,2CDDE7A|1,23ADE88|2,297B01B|3,3997404|4,33239B5","S":1,"M":[]}"#
            )
            .unwrap(),
            Frame::Initialized
        );
        assert_eq!(
            parse_frame(r#"{"C":"x","D":1}"#).unwrap(),
            Frame::Disconnect
        );
        assert_eq!(parse_frame(r#"{"T":1,"M":[]}"#).unwrap(), Frame::Reconnect);
        assert_eq!(
            parse_frame(r#"{"I":"0","R":true}"#).unwrap(),
            Frame::CallResult
        );
        let frame = parse_frame(
            r#"{"C":"d-1,2","M":[{"H":"SubscriptionHub","M":"update","A":[{"type":"queue","id":201}]},{"H":"h","M":"m"}]}"#,
        )
        .unwrap();
        assert_eq!(
            frame,
            Frame::Messages(vec![
                Invocation {
                    hub: "SubscriptionHub".into(),
                    method: "update".into(),
                    args: vec![json!({"type": "queue", "id": 201})],
                },
                Invocation {
                    hub: "h".into(),
                    method: "m".into(),
                    args: vec![]
                },
            ])
        );
    }

    #[test]
    fn broken_frames_are_errors_not_panics() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"M":{}}"#,
            r#"{"M":[{"H":1,"M":"x"}]}"#,
            r#"{"M":[{"M":"x"}]}"#,
        ] {
            assert!(parse_frame(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_negotiation_and_connection_data_are_as_signalr_sends_them() {
        let negotiation: Negotiation = serde_json::from_value(json!({
            "Url": "/signalr", "ConnectionToken": "tok+/=", "ConnectionId": "c-1",
            "KeepAliveTimeout": 20.0, "DisconnectTimeout": 30.0, "ConnectionTimeout": 110.0,
            "TryWebSockets": true, "ProtocolVersion": "1.5", "TransportConnectTimeout": 5.0
        }))
        .unwrap();
        assert_eq!(negotiation.silence_limit(), Some(Duration::from_secs(20)));
        assert_eq!(
            connection_data("subscriptionHub"),
            r#"[{"name":"subscriptionhub"}]"#
        );
        let none: Negotiation = serde_json::from_value(json!({
            "ConnectionToken": "t", "ConnectionId": "c", "KeepAliveTimeout": null
        }))
        .unwrap();
        assert_eq!(none.silence_limit(), None);
    }
}
