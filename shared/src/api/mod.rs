//! The HTTP API over the latest snapshot, free of API Gateway types.
//!
//! [`Api::handle`] takes a plain [`HttpRequest`] and always returns an
//! [`HttpResponse`]: client mistakes are 4xx with a JSON error, a store
//! failure is a 503, and nothing the client sends can panic it. The Lambda
//! adapter (`handlers::api`) and the local server both call it, so the same
//! code answers behind API Gateway and on localhost. `docs/openapi.json`
//! describes every answer, and a test holds the code to it.

pub mod mcp;
pub mod request;
pub mod response;
pub mod stored;
pub mod wallboard;

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::config::ReaderConfig;
use crate::model::names_queue;
use crate::model::{QueueStats, Snapshot, SourceName, SourceStatus, format_rfc3339};
use crate::store::layout::shard_of;
use crate::store::{QueueMatch, SnapshotReader, SnapshotSummary, StoreError};
use request::{Params, Route, params, route, single};
use stored::{AnswerCache, StoredAnswer};
use wallboard::Wallboard;

/// A request as any HTTP front end can give it.
#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    pub method: String,
    /// The path, still percent-encoded.
    pub raw_path: String,
    /// The query string without `?`, still percent-encoded.
    pub raw_query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from base64 when the gateway sent it so (only
    /// `POST /mcp` reads one).
    pub body: Vec<u8>,
}

/// A header's value by case-insensitive name.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A response as any HTTP front end can send it. `body` is the bytes to
/// send (gzip'd when `content-encoding: gzip` is among the headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A client or server error with its status, code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// What failed, finer than the code, for a store failure
    /// (`TableMissing`, `AccessDenied`, `Throttled`, `Timeout`, ...).
    pub reason: Option<&'static str>,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reason: None,
            headers: Vec::new(),
        }
    }

    /// A transient store failure invites a retry; a misconfigured store
    /// does not, since nothing changes until an operator acts.
    fn store(error: &StoreError) -> Self {
        // The cause chain goes to the log once; the answer names the reason.
        tracing::warn!(
            code = error.code(),
            reason = error.reason(),
            error = %crate::aws::describe_error(error),
            "the snapshot store failed"
        );
        let answer = if error.is_transient() {
            Self::new(
                503,
                error.code(),
                "the snapshot store is unavailable; try again shortly",
            )
            .with_header("retry-after", "1")
        } else {
            Self::new(
                503,
                error.code(),
                "the snapshot store cannot be used as configured; an operator must fix it",
            )
        };
        Self {
            reason: Some(error.reason()),
            ..answer
        }
    }

    fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The API service: a snapshot reader and the reader settings.
pub struct Api {
    reader: Arc<dyn SnapshotReader>,
    config: ReaderConfig,
    answers: AnswerCache,
    /// Assembled on the first request for the page, not at cold start:
    /// most invocations only ever serve data.
    wallboard: OnceLock<Wallboard>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueBody<'a> {
    snapshot_id: &'a str,
    observed_at: String,
    queue: &'a QueueStats,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryPointBody<'a> {
    observed_at: String,
    snapshot_id: &'a str,
    queue: &'a QueueStats,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HealthBody<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    age_seconds: Option<i64>,
    stale_after_seconds: u64,
    sources: &'a [SourceStatus],
}

impl Api {
    pub fn new(reader: Arc<dyn SnapshotReader>, config: ReaderConfig) -> Self {
        Self {
            reader,
            wallboard: OnceLock::new(),
            config,
            answers: AnswerCache::default(),
        }
    }

    /// Answers one request. Never fails: every error is a response.
    pub async fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let mut response = match self.route(request).await {
            Ok(response) => response,
            Err(error) => {
                if error.status >= 500 {
                    tracing::error!(status = error.status, code = error.code, path = %request::sanitize(&request.raw_path), "api request failed");
                }
                response::error(request, &error)
            }
        };
        if request.method.eq_ignore_ascii_case("HEAD") {
            // The headers a GET would get, its length included (RFC 9110
            // §9.3.2), without the body.
            response
                .headers
                .push(("content-length".to_owned(), response.body.len().to_string()));
            response.body.clear();
        }
        response
    }

    async fn route(&self, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
        let route = route(&request.raw_path)?;
        if route == Route::Mcp {
            // JSON-RPC answers its own errors, every method and query included.
            return Ok(self.mcp(request).await);
        }
        if !matches!(request.method.to_ascii_uppercase().as_str(), "GET" | "HEAD") {
            return Err(ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!(
                    "{} is not allowed on {}; use GET",
                    request::sanitize(&request.method),
                    route.template()
                ),
            )
            .with_header("allow", "GET, HEAD"));
        }
        let params = params(&route, &request.raw_query)?;
        match route {
            Route::Snapshot => self.snapshot(request, &params).await,
            Route::Queue(id) => self.queue(request, &id, &params).await,
            Route::QueueHistory(id) => self.history(request, &id, &params).await,
            Route::Health => self.health(request).await,
            Route::Mcp => unreachable!("/mcp is answered before the read routes"),
            Route::Wallboard => Ok(self
                .wallboard
                .get_or_init(|| Wallboard::new(&self.config))
                .respond(request)),
        }
    }

    async fn read<T>(
        &self,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ApiError> {
        self.bounded(future).await.map_err(|e| ApiError::store(&e))
    }

    /// One store read, within the read timeout.
    pub(crate) async fn bounded<T>(
        &self,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.config.read_timeout, future)
            .await
            .unwrap_or_else(|_| Err(StoreError::timed_out(self.config.read_timeout)))
    }

    /// The latest snapshot with the HTTP filters applied (reading only
    /// the shards a `queueId` filter needs); `None` before the first poll.
    /// `/v1/snapshot?...` and the MCP `list_queues` tool both answer it.
    pub(crate) async fn filtered_snapshot(
        &self,
        params: &Params,
    ) -> Result<Option<Snapshot>, StoreError> {
        let Some(summary) = self.bounded(self.reader.latest_summary()).await? else {
            return Ok(None);
        };
        let only: Option<Vec<u32>> = params
            .get("queueId")
            .map(|ids| ids.iter().map(|id| shard_of(id)).collect());
        let shards = self
            .bounded(self.reader.snapshot_shards(&summary, only.as_deref()))
            .await?;
        let mut queues = Vec::new();
        for shard in &shards {
            queues.extend(shard.decode()?);
        }
        let mut snapshot = Snapshot {
            snapshot_id: summary.snapshot_id,
            observed_at: summary.observed_at,
            sources: summary.sources,
            queues,
        };
        filter_queues(&mut snapshot, params);
        Ok(Some(snapshot))
    }

    /// A queue's points since `since`, as `/history` and the MCP
    /// `queue_history` tool answer them: all of one source, or why not.
    pub(crate) async fn queue_points(
        &self,
        queue_id: &str,
        source: Option<&SourceName>,
        since: DateTime<Utc>,
    ) -> Result<QueuePoints, StoreError> {
        let points = self
            .bounded(self.reader.queue_history(queue_id, source, since))
            .await?;
        let mut sources: Vec<SourceName> = points.iter().map(|p| p.queue.source.clone()).collect();
        sources.sort();
        sources.dedup();
        if sources.len() > 1 {
            return Ok(QueuePoints::Ambiguous(sources));
        }
        if points.is_empty() {
            // No points: a queue with no history yet, or no such queue.
            match self
                .bounded(self.reader.latest_queue(queue_id, source))
                .await?
            {
                QueueMatch::NotFound => return Ok(QueuePoints::NotFound),
                QueueMatch::Ambiguous(sources) => return Ok(QueuePoints::Ambiguous(sources)),
                QueueMatch::Found(_) => {}
            }
        }
        Ok(QueuePoints::Points {
            source: sources.into_iter().next().or_else(|| source.cloned()),
            points,
        })
    }

    /// `max-age` is what is left of the current poll interval: a cache never
    /// holds a snapshot past the moment a newer one is due.
    fn cache_control(&self, observed_at: &DateTime<Utc>) -> String {
        let interval = self.config.poll_interval.as_secs() as i64;
        let age = (Utc::now() - *observed_at).num_seconds().max(0);
        format!("private, max-age={}", (interval - age).clamp(0, interval))
    }

    async fn snapshot(
        &self,
        request: &HttpRequest,
        params: &Params,
    ) -> Result<HttpResponse, ApiError> {
        if params.is_empty() {
            let Some(summary) = self.read(self.reader.latest_summary()).await? else {
                return Err(no_snapshot_yet());
            };
            return self.whole_snapshot(request, summary).await;
        }
        let Some(snapshot) = self
            .filtered_snapshot(params)
            .await
            .map_err(|e| ApiError::store(&e))?
        else {
            return Err(no_snapshot_yet());
        };
        Ok(response::json_ok(
            request,
            &snapshot,
            self.cache_control(&snapshot.observed_at),
        ))
    }

    /// The whole snapshot, served as stored: a conditional request is
    /// answered from the head alone, and the body is built once per
    /// snapshot from the stored blocks.
    async fn whole_snapshot(
        &self,
        request: &HttpRequest,
        summary: SnapshotSummary,
    ) -> Result<HttpResponse, ApiError> {
        let mut headers = match response::validated(
            request,
            StoredAnswer::etag(&summary.snapshot_id),
            self.cache_control(&summary.observed_at),
        ) {
            Ok(headers) => headers,
            Err(not_modified) => return Ok(not_modified),
        };
        let answer = match self.answers.get(&summary.snapshot_id) {
            Some(answer) => answer,
            None => {
                let shards = self
                    .read(self.reader.snapshot_shards(&summary, None))
                    .await?;
                let answer = Arc::new(StoredAnswer::new(&summary, shards));
                self.answers.put(answer.clone());
                answer
            }
        };
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        let body = if response::wants_gzip(request, answer.plain_len()) {
            headers.push(("content-encoding".to_owned(), "gzip".to_owned()));
            answer.gzip().to_vec()
        } else {
            answer.plain().map_err(|err| corrupt(&err))?.to_vec()
        };
        Ok(HttpResponse {
            status: 200,
            headers,
            body,
        })
    }

    async fn queue(
        &self,
        request: &HttpRequest,
        queue_id: &str,
        params: &Params,
    ) -> Result<HttpResponse, ApiError> {
        let source = source_param(params)?;
        let latest = exactly_one(
            self.read(self.reader.latest_queue(queue_id, source.as_ref()))
                .await?,
            queue_id,
            source.as_ref(),
        )?;
        let body = QueueBody {
            snapshot_id: &latest.snapshot_id,
            observed_at: format_rfc3339(&latest.observed_at),
            queue: &latest.queue,
        };
        Ok(response::json_ok(
            request,
            &body,
            self.cache_control(&latest.observed_at),
        ))
    }

    async fn history(
        &self,
        request: &HttpRequest,
        queue_id: &str,
        params: &Params,
    ) -> Result<HttpResponse, ApiError> {
        let max_minutes = self.config.history_retention_hours * 60;
        let minutes = match single(params, "minutes")? {
            None => 60.min(max_minutes),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|m| (1..=max_minutes).contains(m))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "INVALID_PARAMETER",
                        format!(
                            "minutes must be a whole number from 1 to {max_minutes} (the retention), not {:?}",
                            request::sanitize(text)
                        ),
                    )
                })?,
        };
        let source = source_param(params)?;
        let since = Utc::now() - chrono::Duration::minutes(minutes as i64);
        let (points, found) = match self
            .queue_points(queue_id, source.as_ref(), since)
            .await
            .map_err(|e| ApiError::store(&e))?
        {
            QueuePoints::Points { points, source } => (points, source),
            QueuePoints::Ambiguous(sources) => return Err(ambiguous_queue(queue_id, &sources)),
            QueuePoints::NotFound => return Err(queue_not_found(queue_id, source.as_ref())),
        };
        let observed_at = points.last().map(|p| p.observed_at).unwrap_or(since);
        let body = json!({
            "queueId": queue_id,
            "source": found,
            "minutes": minutes,
            "points": points
                .iter()
                .map(|p| HistoryPointBody {
                    observed_at: format_rfc3339(&p.observed_at),
                    snapshot_id: &p.snapshot_id,
                    queue: &p.queue,
                })
                .collect::<Vec<_>>(),
        });
        Ok(response::json_ok(
            request,
            &body,
            self.cache_control(&observed_at),
        ))
    }

    async fn health(&self, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
        let stale_after = self.config.stale_after.as_secs();
        let summary = self.read(self.reader.latest_summary()).await?;
        let Some(summary) = summary else {
            let body = HealthBody {
                status: "no_snapshot",
                snapshot_id: None,
                observed_at: None,
                age_seconds: None,
                stale_after_seconds: stale_after,
                sources: &[],
            };
            return Ok(response::json_status(request, 503, &body, Vec::new()));
        };
        let age = (Utc::now() - summary.observed_at).num_seconds().max(0);
        let fresh = age <= stale_after as i64;
        let body = HealthBody {
            status: if fresh { "ok" } else { "stale" },
            snapshot_id: Some(&summary.snapshot_id),
            observed_at: Some(format_rfc3339(&summary.observed_at)),
            age_seconds: Some(age),
            stale_after_seconds: stale_after,
            sources: &summary.sources,
        };
        if fresh {
            // ETag on every 200; health is never cached.
            Ok(response::json_ok(request, &body, "no-store".to_owned()))
        } else {
            Ok(response::json_status(request, 503, &body, Vec::new()))
        }
    }
}

/// A stored shard this build cannot read.
fn corrupt(detail: &str) -> ApiError {
    ApiError::store(&StoreError::corrupt(detail))
}

fn no_snapshot_yet() -> ApiError {
    ApiError::new(
        503,
        "NO_SNAPSHOT_YET",
        "no snapshot has been written yet; the poller may not have run",
    )
    .with_header("retry-after", "10")
}

fn queue_not_found(queue_id: &str, source: Option<&SourceName>) -> ApiError {
    let whose = source.map(|s| format!(" from {s}")).unwrap_or_default();
    ApiError::not_found(
        "QUEUE_NOT_FOUND",
        format!(
            "no queue {:?}{whose} in the latest snapshot",
            request::sanitize(queue_id)
        ),
    )
}

/// The queue a lookup found, or the answer for none (404) or several (409).
fn exactly_one(
    found: QueueMatch,
    queue_id: &str,
    source: Option<&SourceName>,
) -> Result<Box<crate::store::LatestQueue>, ApiError> {
    match found {
        QueueMatch::Found(latest) => Ok(latest),
        QueueMatch::NotFound => Err(queue_not_found(queue_id, source)),
        QueueMatch::Ambiguous(sources) => Err(ambiguous_queue(queue_id, &sources)),
    }
}

/// A queue's history, as [`Api::queue_points`] found it.
pub(crate) enum QueuePoints {
    /// The points (possibly none yet), all of one source.
    Points {
        points: Vec<crate::store::HistoryPoint>,
        source: Option<SourceName>,
    },
    /// The id is several sources' queue, and none was given.
    Ambiguous(Vec<SourceName>),
    NotFound,
}

/// 409: the id names a queue in several sources and none was given.
fn ambiguous_queue(queue_id: &str, sources: &[SourceName]) -> ApiError {
    let names: Vec<&str> = sources.iter().map(SourceName::as_str).collect();
    ApiError::new(
        409,
        "AMBIGUOUS_QUEUE",
        format!(
            "queue {:?} is reported by {}: ask with ?source= one of them",
            request::sanitize(queue_id),
            names.join(" and ")
        ),
    )
}

/// The `source` a queue lookup is narrowed to, if any.
fn source_param(params: &Params) -> Result<Option<SourceName>, ApiError> {
    Ok(single(params, "source")?.map(SourceName::from))
}

/// Keeps the queues every given filter matches (values of one filter are
/// alternatives; different filters all apply).
pub(crate) fn filter_queues(snapshot: &mut Snapshot, params: &Params) {
    let matches = |name: &str, value: &str| {
        params
            .get(name)
            .is_none_or(|wanted| wanted.iter().any(|w| w == value))
    };
    snapshot.queues.retain(|q| {
        matches("source", q.source.as_str())
            && matches("taskType", q.task_type.as_str())
            && matches("deliveryProvider", q.delivery_provider.as_str())
            // A Connect instance's queues; other sources' queues have none.
            && params.get("instanceId").is_none_or(|wanted| {
                q.instance
                    .as_ref()
                    .is_some_and(|i| wanted.contains(&i.instance_id))
            })
            && params
                .get("queueId")
                .is_none_or(|ids| ids.iter().any(|id| names_queue(id, &q.queue_id)))
    });
}
