//! Clarity Connect (Web API v2) as a [`QueueSource`]: queue metrics pushed
//! over SignalR, kept in memory, reported each cycle.
//!
//! Clarity answers no "queues now" GET: it pushes. So for the life of an
//! invocation the source holds a subscription ([`Link`]): a SignalR
//! connection, a queue subscription bound to it, and a task that applies
//! every push to a [`QueueBook`]. A cycle reports the book. A cycle that
//! finds the link dead (socket dropped, keep-alives stopped, the server
//! said disconnect, a push it could not read) opens a new one, which
//! starts from a fresh state; if it cannot, the source failed that cycle.
//! [`QueueSource::close`] deletes the subscription and aborts the
//! connection when the invocation ends.
//!
//! Auth ([`auth`]) is a JWT earned by NTLM as the service account, reused
//! until a minute before it expires; a 401 renews it once.

mod auth;
mod config;
pub mod signalr;
pub mod wire;

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

pub use config::ClarityConfig;
use wire::QueueBook;

use crate::model::{DeliveryProvider, QueueStats, SourceName};
use crate::secrets::{CachedSecret, SecretValue};
use crate::source::{QueueSource, SourceError, http};
use auth::Auth;
use signalr::{Frame, Negotiation};

/// Session properties a subscription asks for: what the mapping reads.
const SESSION_PROPERTIES: [&str; 4] = ["SessionType", "QueueId", "SessionStatus", "QueuedMs"];
/// Queue metrics a subscription asks for.
const METRIC_PROPERTIES: [&str; 1] = ["QueuedCount"];

/// The Info response fields we read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    #[serde(default)]
    signal_r_transports: Option<Vec<String>>,
}

/// The MBU structure's queues (when no queue ids are configured).
#[derive(Deserialize)]
struct Mbu {
    #[serde(default)]
    queues: Vec<MbuQueue>,
}

#[derive(Deserialize)]
struct MbuQueue {
    id: Value,
}

/// How a link's reader task is doing.
#[derive(Clone, Debug, Default)]
struct LinkStatus {
    /// Pushes applied so far.
    pushes: u64,
    /// Why the connection ended, once it has.
    ended: Option<String>,
}

/// One live subscription: its SignalR connection and the book its pushes
/// fill.
struct Link {
    subscription_id: Option<String>,
    book: Arc<StdMutex<QueueBook>>,
    /// `None` for an idle link: the account sees no queues, so there is
    /// nothing to connect for.
    connection: Option<Connection>,
}

/// A SignalR connection and the task applying its pushes.
struct Connection {
    negotiation: Negotiation,
    status: watch::Receiver<LinkStatus>,
    reader: JoinHandle<()>,
}

impl Link {
    fn idle() -> Self {
        Self {
            subscription_id: None,
            book: Arc::default(),
            connection: None,
        }
    }

    /// Why the connection ended, once it has (an idle link has none to lose).
    fn ended(&self) -> Option<String> {
        self.connection.as_ref()?.status.borrow().ended.clone()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(connection) = &self.connection {
            connection.reader.abort();
        }
    }
}

pub struct ClaritySource {
    http: reqwest::Client,
    config: ClarityConfig,
    auth: Auth,
    api_root: String,
    link: Mutex<Option<Link>>,
}

impl ClaritySource {
    pub fn new(
        config: ClarityConfig,
        credentials: Arc<CachedSecret>,
    ) -> Result<Self, reqwest::Error> {
        // HTTP/1.1 only: NTLM authenticates a connection, and the SignalR
        // WebSocket is an HTTP/1.1 upgrade.
        let http = reqwest::Client::builder()
            .http1_only()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        // The socket lives for the invocation: no whole-request timeout.
        Ok(Self {
            auth: Auth::new(
                http.clone(),
                config.client_id.clone(),
                config.secret_id.clone(),
                config.request_timeout,
                credentials,
            ),
            api_root: format!("{}/webapi/api", config.base_url),
            http,
            config,
            link: Mutex::new(None),
        })
    }

    /// One authorized call: with the cached token, or a new one if the API
    /// answers 401 (which also names the Authentication Service); a second
    /// 401 is the source's answer.
    async fn authorized(
        &self,
        send: impl Fn(&SecretValue) -> Result<reqwest::RequestBuilder, SourceError>,
    ) -> Result<reqwest::Response, SourceError> {
        let token = match self.auth.cached().await {
            Some(token) => Some(token),
            None if self.auth.knows_service().await => Some(self.auth.token(None).await?),
            // No token yet: a bare request, whose 401 names the service.
            None => None,
        };
        let bare = SecretValue::new("");
        let response = self.send(send(token.as_ref().unwrap_or(&bare))?).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.auth.learn_token_url(response.headers()).await;
        let renewed = self.auth.token(token.as_ref()).await?;
        let response = self.send(send(&renewed)?).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(SourceError::Unauthorized { status: 401 });
        }
        Ok(response)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SourceError> {
        request
            .send()
            .await
            .map_err(|err| http::request_error(err, self.config.request_timeout))
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        token: &SecretValue,
    ) -> Result<reqwest::RequestBuilder, SourceError> {
        let mut request = self
            .http
            .request(method, url)
            .header(header::ACCEPT, "application/json")
            .header(header::ACCEPT_ENCODING, "gzip");
        if !token.expose().is_empty() {
            request = request.header(header::AUTHORIZATION, auth::bearer(token)?);
        }
        Ok(request)
    }

    /// The body of a successful answer; any other status is an error.
    async fn body(&self, response: reqwest::Response, what: &str) -> Result<Vec<u8>, SourceError> {
        let status = response.status();
        let gzipped = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        let body = http::read_body(response, self.config.request_timeout).await?;
        // Clarity requires `Accept-Encoding: gzip` on every call, and our
        // client has no automatic decompression: inflate here.
        let body = if gzipped { gunzip(&body, what)? } else { body };
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(SourceError::Throttled { status: 429 });
        }
        if !status.is_success() {
            return Err(SourceError::UpstreamStatus {
                status: status.as_u16(),
                detail: format!("{what}: {}", http::error_detail(&body, &[])),
            });
        }
        Ok(body)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<T, SourceError> {
        let response = self
            .authorized(|token| self.request(Method::GET, url, token))
            .await?;
        let body = self.body(response, what).await?;
        serde_json::from_slice(&body).map_err(|err| {
            SourceError::malformed_by(format!("{what} is not the documented JSON"), err)
        })
    }

    /// The queues to subscribe to: the configured ones, else every queue
    /// the service account may see.
    async fn queue_ids(&self) -> Result<Vec<String>, SourceError> {
        if !self.config.queue_ids.is_empty() {
            return Ok(self.config.queue_ids.clone());
        }
        let mbu: Mbu = self
            .get_json(
                &format!("{}/v2/profile/mbu", self.api_root),
                "the MBU structure",
            )
            .await?;
        let mut ids: Vec<String> = mbu
            .queues
            .iter()
            .filter_map(|q| match &q.id {
                Value::Number(n) => n.as_u64().map(|n| n.to_string()),
                Value::String(s) if s.parse::<u64>().is_ok() => Some(s.clone()),
                _ => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Opens a subscription: Info, the queues, SignalR's negotiate /
    /// connect / start, the subscription, and its first state.
    /// Opens a link, one step after another: the site's transports, the
    /// queues to follow, SignalR's negotiate, the socket, its first frame,
    /// start, and the subscription.
    async fn open(&self) -> Result<Link, SourceError> {
        let info: Info = self
            .get_json(&format!("{}/info", self.api_root), "Info")
            .await?;
        offers_web_sockets(&info)?;
        let queue_ids = self.queue_ids().await?;
        if queue_ids.is_empty() {
            return Ok(Link::idle());
        }
        let data = signalr::connection_data(&self.config.hub);
        let negotiation = self.negotiate(&data).await?;
        let query = signalr::transport_query(&negotiation, &data);
        let mut socket = self.connect_socket(&query).await?;
        initialized(&mut socket, self.config.request_timeout).await?;
        let start_url = format!("{}/start", self.config.signalr_url);
        let response = self
            .authorized(|token| Ok(self.request(Method::GET, &start_url, token)?.query(&query)))
            .await?;
        self.body(response, "SignalR start").await?;

        let book: Arc<StdMutex<QueueBook>> = Arc::default();
        let (status_tx, status) = watch::channel(LinkStatus::default());
        let reader = tokio::spawn(pump(
            socket,
            book.clone(),
            status_tx,
            self.config.hub.clone(),
            self.config.method.clone(),
            negotiation.silence_limit(),
        ));
        let mut link = Link {
            subscription_id: None,
            book,
            connection: Some(Connection {
                negotiation,
                status,
                reader,
            }),
        };
        match self.subscribe(&mut link, &queue_ids).await {
            Ok(()) => Ok(link),
            Err(err) => {
                self.release(link).await;
                Err(err)
            }
        }
    }

    /// SignalR's negotiate: the connection's token and timings, and
    /// whether WebSockets are on at all.
    async fn negotiate(&self, data: &str) -> Result<Negotiation, SourceError> {
        let negotiate_url = format!("{}/negotiate", self.config.signalr_url);
        let response = self
            .authorized(|token| {
                Ok(self.request(Method::GET, &negotiate_url, token)?.query(&[
                    ("clientProtocol", signalr::CLIENT_PROTOCOL),
                    ("connectionData", data),
                ]))
            })
            .await?;
        let body = self.body(response, "SignalR negotiate").await?;
        let negotiation: Negotiation = serde_json::from_slice(&body).map_err(|err| {
            SourceError::malformed_by("SignalR's negotiate answer is not what SignalR sends", err)
        })?;
        if negotiation.try_web_sockets == Some(false) {
            return Err(SourceError::Unsupported {
                detail: "SignalR's negotiate says WebSockets are not available: enable IIS's \
                         WebSocket Protocol feature on the Clarity web services host"
                    .to_owned(),
            });
        }
        Ok(negotiation)
    }

    /// The socket, with one retry on a fresh token when the first is
    /// refused (it may have expired between negotiate and connect).
    async fn connect_socket(&self, query: &[(&str, &str)]) -> Result<signalr::Socket, SourceError> {
        let url = format!("{}/connect", self.config.signalr_url);
        let mut connect_query = query.to_vec();
        connect_query.push(("tid", "0"));
        let mut refused = None;
        for attempt in 0..2 {
            let token = self.auth.token(refused.as_ref()).await?;
            match signalr::open_socket(
                &self.http,
                &url,
                &connect_query,
                auth::bearer(&token)?,
                self.config.request_timeout,
            )
            .await?
            {
                Ok(opened) => return Ok(opened),
                Err(status) if attempt == 0 => {
                    tracing::info!(
                        status,
                        "Clarity refused the SignalR socket's token; renewing it"
                    );
                    refused = Some(token);
                }
                Err(status) => return Err(SourceError::Unauthorized { status }),
            }
        }
        Err(SourceError::Unauthorized { status: 401 })
    }

    /// Subscribes the link's connection to `queue_ids` and waits, within
    /// one request timeout, for every queue's first state.
    async fn subscribe(&self, link: &mut Link, queue_ids: &[String]) -> Result<(), SourceError> {
        let Some(connection) = &link.connection else {
            return Ok(());
        };
        let connection_id = connection.negotiation.connection_id.clone();
        let mut status = connection.status.clone();
        let url = format!("{}/v2/subscriptions/queues", self.api_root);
        let ids = queue_ids.join(",");
        let modalities = self
            .config
            .modalities
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let body = json!({
            "connectionId": connection_id,
            "metricProperties": METRIC_PROPERTIES,
            "sessionProperties": SESSION_PROPERTIES,
        });
        let response = self
            .authorized(|token| {
                Ok(self
                    .request(Method::POST, &url, token)?
                    .query(&[
                        ("queueIds", ids.as_str()),
                        ("modalities", modalities.as_str()),
                    ])
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.to_string()))
            })
            .await?;
        let answer = self.body(response, "the queue subscription").await?;
        link.subscription_id = subscription_id(&answer);
        if link.subscription_id.is_none() {
            tracing::warn!(
                "Clarity's subscription answer names no subscription id; it cannot be deleted at the end"
            );
        }

        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            if let Some(reason) = status.borrow().ended.clone() {
                return Err(SourceError::Transport {
                    detail: format!(
                        "the SignalR connection ended before the first state: {reason}"
                    ),
                    source: None,
                });
            }
            let seen = {
                let book = link.book.lock().unwrap_or_else(|p| p.into_inner());
                queue_ids.iter().filter(|id| book.has(id)).count()
            };
            if seen == queue_ids.len() {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, status.changed())
                .await
                .is_err()
            {
                // Queues Clarity sent nothing for are left out, not invented.
                tracing::warn!(
                    seen,
                    subscribed = queue_ids.len(),
                    "not every subscribed Clarity queue had a first state in time"
                );
                return Ok(());
            }
        }
    }

    /// Deletes the link's subscription and aborts its connection, best
    /// effort: each step is bounded by the request timeout, and a failure
    /// is logged, never raised (the server drops both with the socket).
    async fn release(&self, mut link: Link) {
        let Some(Connection {
            negotiation,
            reader,
            ..
        }) = link.connection.take()
        else {
            return;
        };
        reader.abort();
        if let Some(id) = link.subscription_id.take() {
            let url = format!("{}/v2/subscriptions/{id}", self.api_root);
            let body = json!({ "connectionId": negotiation.connection_id });
            let deleted = self
                .authorized(|token| {
                    Ok(self
                        .request(Method::DELETE, &url, token)?
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(body.to_string()))
                })
                .await;
            match deleted {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(
                        status = response.status().as_u16(),
                        "Clarity refused to delete the subscription"
                    )
                }
                Err(err) => {
                    tracing::warn!(code = err.code(), error = %err, "could not delete the Clarity subscription")
                }
            }
        }
        let data = signalr::connection_data(&self.config.hub);
        let query = signalr::transport_query(&negotiation, &data);
        let url = format!("{}/abort", self.config.signalr_url);
        if let Err(err) = self
            .authorized(|token| Ok(self.request(Method::POST, &url, token)?.query(&query)))
            .await
        {
            tracing::info!(code = err.code(), "could not abort the SignalR connection");
        }
    }
}

/// A gzip body inflated; a body that is not gzip is malformed.
/// Whether the site's `info` offers SignalR over WebSockets, the one
/// transport we speak (a site that lists none is tried anyway).
fn offers_web_sockets(info: &Info) -> Result<(), SourceError> {
    match &info.signal_r_transports {
        Some(transports)
            if !transports
                .iter()
                .any(|t| t.eq_ignore_ascii_case(signalr::TRANSPORT)) =>
        {
            Err(SourceError::Unsupported {
                detail: format!(
                    "this Clarity offers SignalR over {transports:?}; only webSockets is supported"
                ),
            })
        }
        _ => Ok(()),
    }
}

/// Waits, within `limit`, for the server's first frame: the transport is up.
async fn initialized(socket: &mut signalr::Socket, limit: Duration) -> Result<(), SourceError> {
    loop {
        let frame = tokio::time::timeout(limit, socket.next())
            .await
            .map_err(|_| SourceError::RequestTimeout {
                timeout_ms: limit.as_millis() as u64,
            })?;
        match frame {
            Some(Ok(Message::Text(text))) => match signalr::parse_frame(&text) {
                Ok(Frame::Initialized) => return Ok(()),
                Ok(_) => continue,
                Err(err) => return Err(SourceError::malformed_by("SignalR's first frame", err)),
            },
            Some(Ok(Message::Close(_))) | None => {
                return Err(SourceError::Transport {
                    detail: "the SignalR socket closed before it was initialized".to_owned(),
                    source: None,
                });
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(SourceError::transport("the SignalR socket failed", err)),
        }
    }
}

fn gunzip(body: &[u8], what: &str) -> Result<Vec<u8>, SourceError> {
    crate::gzip::decode(body)
        .map_err(|err| SourceError::malformed_by(format!("{what} says gzip but is not"), err))
}

/// The id in a subscription answer: `{"subscriptionId": ...}`, `{"id": ...}`
/// or a bare JSON string (the API document shows no body).
fn subscription_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let id = match &value {
        Value::Object(map) => map.get("subscriptionId").or_else(|| map.get("id"))?,
        other => other,
    };
    match id {
        Value::String(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Some(s.clone())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads the socket until it ends, applying the hub's pushes to `book`.
async fn pump(
    mut socket: signalr::Socket,
    book: Arc<StdMutex<QueueBook>>,
    status: watch::Sender<LinkStatus>,
    hub: String,
    method: String,
    silence: Option<Duration>,
) {
    let end = |reason: String| {
        status.send_modify(|s| s.ended = Some(reason));
    };
    loop {
        let next = match silence {
            Some(limit) => match tokio::time::timeout(limit, socket.next()).await {
                Ok(next) => next,
                Err(_) => return end(format!("no frame, not even a keep-alive, for {limit:?}")),
            },
            None => socket.next().await,
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => return end("the socket was closed".to_owned()),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return end(format!("the socket failed: {err}")),
        };
        let invocations = match signalr::parse_frame(&text) {
            Ok(Frame::Messages(invocations)) => invocations,
            Ok(Frame::Disconnect) => return end("the server disconnected".to_owned()),
            Ok(Frame::Reconnect) => return end("the server asked for a reconnect".to_owned()),
            Ok(_) => continue,
            Err(err) => return end(format!("a frame could not be read: {err}")),
        };
        for invocation in invocations {
            if !invocation.hub.eq_ignore_ascii_case(&hub)
                || !invocation.method.eq_ignore_ascii_case(&method)
            {
                continue;
            }
            for argument in &invocation.args {
                let applied = wire::parse_update(argument).and_then(|updates| {
                    let mut book = book.lock().unwrap_or_else(|p| p.into_inner());
                    book.apply(updates, Instant::now().into_std())
                });
                if let Err(err) = applied {
                    // The copy may now be wrong: start over from a fresh state.
                    return end(format!("a push could not be applied: {err}"));
                }
            }
            status.send_modify(|s| s.pushes += 1);
        }
    }
}

#[async_trait]
impl QueueSource for ClaritySource {
    fn name(&self) -> SourceName {
        SourceName::Clarity
    }

    fn reports_directly(&self) -> Option<DeliveryProvider> {
        Some(DeliveryProvider::Clarity)
    }

    async fn fetch_queues(&self) -> Result<Vec<QueueStats>, SourceError> {
        let mut slot = self.link.lock().await;
        let dead = match slot.as_ref() {
            None => true,
            Some(link) => match link.ended() {
                Some(reason) => {
                    tracing::info!(
                        reason,
                        "the Clarity subscription was lost; opening a new one"
                    );
                    true
                }
                None => false,
            },
        };
        if dead {
            // A dead connection takes its subscription with it (SignalR
            // ends both after its disconnect timeout): nothing to release
            // upstream, and the cycle's time goes to the new one.
            *slot = None;
            *slot = Some(self.open().await?);
        }
        let link = slot.as_ref().expect("a link was just opened");
        let book = link.book.lock().unwrap_or_else(|p| p.into_inner());
        Ok(book.queues(&self.config.modalities, Instant::now().into_std()))
    }

    async fn close(&self) {
        if let Some(link) = self.link.lock().await.take() {
            self.release(link).await;
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_site_without_web_sockets_is_unsupported_not_an_upstream_status() {
        let info = |transports: Option<&[&str]>| Info {
            signal_r_transports: transports.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
        };
        assert!(offers_web_sockets(&info(None)).is_ok());
        assert!(offers_web_sockets(&info(Some(&["longPolling", "WebSockets"]))).is_ok());
        match offers_web_sockets(&info(Some(&["longPolling", "serverSentEvents"]))) {
            Err(SourceError::Unsupported { detail }) => assert!(detail.contains("longPolling")),
            other => panic!("{other:?}"),
        }
    }
    use super::*;

    #[test]
    fn a_gzipped_answer_is_inflated_and_a_false_one_is_malformed() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(br#"{"queues":[]}"#).unwrap();
        let gzipped = encoder.finish().unwrap();
        assert_eq!(gunzip(&gzipped, "MBU").unwrap(), br#"{"queues":[]}"#);
        let err = gunzip(b"{}", "MBU").unwrap_err();
        assert_eq!(err.code(), "MALFORMED_RESPONSE");
    }

    #[test]
    fn subscription_ids_are_read_from_every_shape_the_answer_may_take() {
        assert_eq!(
            subscription_id(br#"{"subscriptionId":"abc123"}"#).as_deref(),
            Some("abc123")
        );
        assert_eq!(subscription_id(br#"{"id":7}"#).as_deref(), Some("7"));
        assert_eq!(subscription_id(br#""sub-1""#).as_deref(), Some("sub-1"));
        assert_eq!(subscription_id(br#"{"id":"a b"}"#), None);
        assert_eq!(subscription_id(b""), None);
    }
}
