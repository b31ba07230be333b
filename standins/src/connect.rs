//! A stand-in for the Amazon Connect APIs the poller calls, in Connect's
//! restJson1 wire format, so the real `aws-sdk-connect` client talks to it
//! through `AWS_ENDPOINT_URL_CONNECT`.
//!
//! It serves ListQueues, GetCurrentMetricData, GetMetricData and
//! GetCurrentUserData the way Connect does: at most 100 queues per filter
//! (Connect's error otherwise), pages with NextToken, OLDEST_CONTACT_AGE in
//! seconds when grouped and milliseconds when not, no row for an idle
//! queue, its own throttling at Connect's documented rates, and injected
//! faults (429 throttling, 5xx, delays). Every request is logged for tests.
//!
//! It can hold several instances, each in its own Region: as Connect does,
//! it answers 404 for an instance it does not have, refuses a request not
//! signed for the instance's Region (the SigV4 credential scope names it),
//! throttles per Region (the budget is per account and Region, shared by
//! that Region's instances), and serves DescribeInstance with each alias.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::control::{Faults, RequestLog, faults_route};

/// One queue as the stand-in knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct StandinQueue {
    pub id: String,
    pub arn: String,
    pub name: String,
    /// No current-metrics rows at all: Connect omits idle queues.
    pub idle: bool,
    /// Current metric name → value, queue totals.
    pub totals: BTreeMap<String, f64>,
    /// Channel → current metric name → value.
    pub channels: BTreeMap<String, BTreeMap<String, f64>>,
    /// Historical metric key (`CONTACTS_HANDLED`, `SERVICE_LEVEL_20`...) → value.
    pub intraday: BTreeMap<String, f64>,
    /// (status name, active, available, max slots on VOICE) per agent.
    pub agents: Vec<(String, u32, u32, u32)>,
}

/// `n` queues with distinct figures; every tenth is idle.
pub fn synthetic_queues(instance_arn: &str, n: usize) -> Vec<StandinQueue> {
    (0..n)
        .map(|i| {
            let id = format!("{:08x}-0000-4000-8000-{:012x}", i, i);
            let f = |m: usize| (i % m) as f64;
            let totals: BTreeMap<String, f64> = [
                ("AGENTS_ONLINE", f(30) + 5.0),
                ("AGENTS_AVAILABLE", f(5)),
                ("AGENTS_ON_CONTACT", f(11)),
                ("AGENTS_STAFFED", f(30) + 3.0),
                ("AGENTS_AFTER_CONTACT_WORK", f(3)),
                ("AGENTS_NON_PRODUCTIVE", f(4)),
                ("AGENTS_ERROR", f(2)),
                ("CONTACTS_IN_QUEUE", f(40)),
                ("OLDEST_CONTACT_AGE", f(900)),
                ("CONTACTS_SCHEDULED", f(3)),
                ("SLOTS_ACTIVE", f(12)),
                ("SLOTS_AVAILABLE", f(7)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let channels = [("VOICE", 1.0), ("CHAT", 2.0)]
                .into_iter()
                .map(|(channel, k)| {
                    let mut figures: BTreeMap<String, f64> = totals
                        .iter()
                        .map(|(name, v)| (name.clone(), (v / k).floor()))
                        .collect();
                    // Connect's own estimate, per channel (VOICE waits longer).
                    figures.insert("ESTIMATED_WAIT_TIME".to_owned(), (f(40) * 20.0 / k).floor());
                    (channel.to_owned(), figures)
                })
                .collect();
            let intraday = [
                ("CONTACTS_HANDLED", f(500) + 10.0),
                ("CONTACTS_ABANDONED", f(20)),
                ("HANDLE_TIME", 180.5 + f(60)),
                ("QUEUE_ANSWER_TIME", 12.25 + f(30)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let agents = (0..(i % 4))
                .map(|a| {
                    let state = ["Available", "Break", "Available", "Lunch"][a % 4].to_owned();
                    (state, (a % 2) as u32, 1 - (a % 2) as u32, 1)
                })
                .collect();
            StandinQueue {
                arn: format!("{instance_arn}/queue/{id}"),
                name: format!("Connect Queue {i}"),
                id,
                idle: i % 10 == 9,
                totals,
                channels,
                intraday,
                agents,
            }
        })
        .collect()
}

/// A fault applied to the next request (any operation).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectFault {
    /// 429 ThrottlingException.
    Throttle,
    /// 500 InternalServiceException.
    InternalError,
    /// Wait before answering normally.
    Delay { millis: u64 },
}

/// What one request asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRequest {
    pub operation: &'static str,
    /// The instance in the path.
    pub instance: String,
    /// The Region the request was signed for (its SigV4 credential scope).
    pub region: String,
    pub queues_in_filter: usize,
    pub groupings: Vec<String>,
    pub next_token: Option<String>,
    pub status: u16,
    pub at: Instant,
}

/// Connect's documented budget, enforced like the service does.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One instance the stand-in serves.
#[derive(Clone, Debug, PartialEq)]
pub struct StandinInstance {
    pub id: String,
    /// Requests must be signed for this Region (`None`: any Region).
    pub region: Option<String>,
    /// What DescribeInstance answers as `InstanceAlias`.
    pub alias: String,
}

impl StandinInstance {
    pub fn new(id: &str, region: &str, alias: &str) -> Self {
        Self {
            id: id.to_owned(),
            region: Some(region.to_owned()),
            alias: alias.to_owned(),
        }
    }
}

struct Instance {
    spec: StandinInstance,
    /// Shared, not copied, with each request: a 5,000-queue floor cloned
    /// per request made the stand-in, not the client, the slow part.
    queues: Arc<Vec<StandinQueue>>,
    /// Every request to this instance answers 500 while set.
    down: bool,
}

struct Shared {
    instances: Mutex<Vec<Instance>>,
    faults: Faults<ConnectFault>,
    log: RequestLog<LoggedRequest>,
    limits: ServiceLimits,
    /// Per signing Region: the metrics APIs' bucket and the others'.
    buckets: Mutex<HashMap<String, (Bucket, Bucket)>>,
    describe_denied: std::sync::atomic::AtomicBool,
}

#[derive(Clone)]
pub struct ConnectStandin {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// Connect's throttling rates, per account and Region.
#[derive(Clone, Copy, Debug)]
pub struct ServiceLimits {
    pub metrics_rate: f64,
    pub metrics_burst: f64,
    pub other_rate: f64,
    pub other_burst: f64,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            metrics_rate: 5.0,
            metrics_burst: 8.0,
            other_rate: 2.0,
            other_burst: 5.0,
        }
    }
}

impl ConnectStandin {
    /// One instance, answering requests signed for any Region.
    pub async fn start(
        bind: SocketAddr,
        instance_id: &str,
        limits: ServiceLimits,
    ) -> std::io::Result<Self> {
        let instance = StandinInstance {
            id: instance_id.to_owned(),
            region: None,
            alias: "standin".to_owned(),
        };
        Self::start_instances(bind, vec![instance], limits).await
    }

    /// Several instances, each in its own Region.
    pub async fn start_instances(
        bind: SocketAddr,
        instances: Vec<StandinInstance>,
        limits: ServiceLimits,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            instances: Mutex::new(
                instances
                    .into_iter()
                    .map(|spec| Instance {
                        spec,
                        queues: Arc::default(),
                        down: false,
                    })
                    .collect(),
            ),
            faults: Faults::default(),
            log: RequestLog::default(),
            limits,
            buckets: Mutex::new(HashMap::new()),
            describe_denied: std::sync::atomic::AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/instance/{instance}", get(describe_instance))
            .route("/queues-summary/{instance}", get(list_queues))
            .route("/metrics/current/{instance}", post(current_metric_data))
            .route("/metrics/historical/{instance}", post(metric_data))
            .route("/metrics/userdata/{instance}", post(current_user_data))
            .route("/_standin/faults", faults_route(|s: &Shared| &s.faults))
            .with_state(shared.clone());
        let addr = crate::serve(bind, app).await?;
        Ok(Self { addr, shared })
    }

    /// The value for `AWS_ENDPOINT_URL_CONNECT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The first instance's queues.
    pub async fn set_queues(&self, queues: Vec<StandinQueue>) {
        if let Some(first) = self.shared.instances.lock().await.first_mut() {
            first.queues = Arc::new(queues);
        }
    }

    pub async fn queues(&self) -> Vec<StandinQueue> {
        self.shared
            .instances
            .lock()
            .await
            .first()
            .map(|i| i.queues.to_vec())
            .unwrap_or_default()
    }

    /// One instance's queues.
    pub async fn set_instance_queues(&self, instance_id: &str, queues: Vec<StandinQueue>) {
        if let Some(instance) =
            find_instance_mut(&mut self.shared.instances.lock().await, instance_id)
        {
            instance.queues = Arc::new(queues);
        }
    }

    pub async fn instance_queues(&self, instance_id: &str) -> Vec<StandinQueue> {
        queues_of(&self.shared, instance_id).await.to_vec()
    }

    /// Every request to `instance_id` answers 500 while `down`.
    pub async fn set_instance_down(&self, instance_id: &str, down: bool) {
        if let Some(instance) =
            find_instance_mut(&mut self.shared.instances.lock().await, instance_id)
        {
            instance.down = down;
        }
    }

    /// DescribeInstance answers 403 AccessDeniedException while set, as
    /// for a role without `connect:DescribeInstance`.
    pub fn deny_describe(&self, denied: bool) {
        self.shared
            .describe_denied
            .store(denied, std::sync::atomic::Ordering::Relaxed);
    }
}

crate::controls!(ConnectStandin {
    faults: ConnectFault,
    log: LoggedRequest
});

/// The instance with this id, if the stand-in serves it.
fn find_instance<'a>(instances: &'a [Instance], id: &str) -> Option<&'a Instance> {
    instances.iter().find(|i| i.spec.id == id)
}

fn find_instance_mut<'a>(instances: &'a mut [Instance], id: &str) -> Option<&'a mut Instance> {
    instances.iter_mut().find(|i| i.spec.id == id)
}

/// The Region a SigV4 `Authorization` header's credential scope names
/// (`Credential=AKID/20261203/us-west-2/connect/aws4_request`).
fn signed_region(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(2))
        .unwrap_or("")
        .to_owned()
}

fn error(status: u16, kind: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("x-amzn-ErrorType", kind.to_owned())],
        Json(json!({ "Message": message })),
    )
        .into_response()
}

/// The checks every operation shares: faults, the instance and its
/// Region, throttling per Region, Connect's parameter limits.
async fn admit(
    shared: &Shared,
    operation: &'static str,
    metrics_api: bool,
    (instance, headers): (&str, &HeaderMap),
    body: &Value,
) -> Result<(), Response> {
    let region = signed_region(headers);
    let fault = shared.faults.next().await;
    let log = |status: u16| LoggedRequest {
        operation,
        instance: instance.to_owned(),
        region: region.clone(),
        queues_in_filter: body["Filters"]["Queues"].as_array().map_or(0, Vec::len),
        groupings: body["Groupings"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        next_token: body["NextToken"].as_str().map(str::to_owned),
        status,
        at: Instant::now(),
    };
    let rejection = match fault {
        Some(ConnectFault::Throttle) => Some(error(429, "ThrottlingException", "Rate exceeded")),
        Some(ConnectFault::InternalError) => Some(error(
            500,
            "InternalServiceException",
            "Request processing failed",
        )),
        Some(ConnectFault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            None
        }
        None => None,
    };
    let known = find_instance(&shared.instances.lock().await, instance)
        .map(|i| (i.spec.region.clone(), i.down));
    let rejection = rejection
        .or_else(|| match &known {
            None => Some(error(
                404,
                "ResourceNotFoundException",
                &format!("Instance {instance} not found"),
            )),
            Some((Some(home), _)) if *home != region => Some(error(
                403,
                "InvalidSignatureException",
                &format!("Credential should be scoped to a valid region, not '{region}'; instance {instance} is in {home}"),
            )),
            Some((_, true)) => Some(error(
                500,
                "InternalServiceException",
                "Request processing failed",
            )),
            Some(_) => None,
        });
    let rejection = match rejection {
        Some(rejection) => Some(rejection),
        None => {
            let mut buckets = shared.buckets.lock().await;
            let limits = shared.limits;
            let (metrics, other) = buckets.entry(region.clone()).or_insert_with(|| {
                (
                    Bucket::new(limits.metrics_rate, limits.metrics_burst),
                    Bucket::new(limits.other_rate, limits.other_burst),
                )
            });
            let bucket = if metrics_api { metrics } else { other };
            (!bucket.take()).then(|| error(429, "ThrottlingException", "Rate exceeded"))
        }
    };
    let queues = body["Filters"]["Queues"].as_array().map_or(0, Vec::len);
    let max = body["MaxResults"].as_u64().unwrap_or(100);
    let rejection = rejection
        .or_else(|| {
            (queues > 100).then(|| {
                error(
                    400,
                    "InvalidParameterException",
                    "1 validation error detected: Value at 'filters.queues' failed to satisfy constraint: Member must have length less than or equal to 100",
                )
            })
        })
        .or_else(|| {
            (metrics_api && (max == 0 || max > 100))
                .then(|| error(400, "InvalidParameterException", "MaxResults must be between 1 and 100"))
        });
    let status = rejection.as_ref().map_or(200, |r| r.status().as_u16());
    shared.log.record(log(status)).await;
    match rejection {
        Some(response) => Err(response),
        None => Ok(()),
    }
}

/// One instance's queues (none for an instance the stand-in lacks).
async fn queues_of(shared: &Shared, instance: &str) -> Arc<Vec<StandinQueue>> {
    find_instance(&shared.instances.lock().await, instance)
        .map(|i| Arc::clone(&i.queues))
        .unwrap_or_default()
}

async fn describe_instance(
    State(shared): State<Arc<Shared>>,
    Path(instance): Path<String>,
    headers: HeaderMap,
) -> Response {
    if shared
        .describe_denied
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        shared
            .log
            .record(LoggedRequest {
                operation: "DescribeInstance",
                instance: instance.clone(),
                region: signed_region(&headers),
                queues_in_filter: 0,
                groupings: Vec::new(),
                next_token: None,
                status: 403,
                at: Instant::now(),
            })
            .await;
        return error(
            403,
            "AccessDeniedException",
            "User is not authorized to perform: connect:DescribeInstance",
        );
    }
    if let Err(response) = admit(
        &shared,
        "DescribeInstance",
        false,
        (&instance, &headers),
        &Value::Null,
    )
    .await
    {
        return response;
    }
    let instances = shared.instances.lock().await;
    let Some(found) = find_instance(&instances, &instance) else {
        return error(404, "ResourceNotFoundException", "Instance not found");
    };
    let region = found.spec.region.as_deref().unwrap_or("us-east-1");
    Json(json!({ "Instance": {
        "Id": found.spec.id,
        "Arn": format!("arn:aws:connect:{region}:123456789012:instance/{}", found.spec.id),
        "IdentityManagementType": "CONNECT_MANAGED",
        "InstanceAlias": found.spec.alias,
        "CreatedTime": 1.7e9,
        "InstanceStatus": "ACTIVE",
        "InboundCallsEnabled": true,
        "OutboundCallsEnabled": true
    }}))
    .into_response()
}

/// A page of `items` from `token` on, with the next token if more remain.
fn page<T: Clone>(items: &[T], token: Option<&str>, size: usize) -> (Vec<T>, Option<String>) {
    let start = token
        .and_then(|t| t.strip_prefix("page-"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0usize);
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{end}"));
    (items.get(start..end).unwrap_or_default().to_vec(), next)
}

/// The queues a filter names, by id or ARN, in the stand-in's order.
fn filtered<'a>(queues: &'a [StandinQueue], body: &Value) -> Vec<&'a StandinQueue> {
    let wanted: std::collections::HashSet<&str> = body["Filters"]["Queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    queues
        .iter()
        .filter(|q| wanted.contains(q.id.as_str()) || wanted.contains(q.arn.as_str()))
        .collect()
}

fn queue_ref(queue: &StandinQueue) -> Value {
    json!({ "Id": queue.id, "Arn": queue.arn })
}

async fn list_queues(
    State(shared): State<Arc<Shared>>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let logged = json!({ "NextToken": query.get("nextToken") });
    if let Err(response) = admit(&shared, "ListQueues", false, (&instance, &headers), &logged).await
    {
        return response;
    }
    let max = query
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100usize);
    if max == 0 || max > 1000 {
        return error(
            400,
            "InvalidParameterException",
            "maxResults must be between 1 and 1000",
        );
    }
    let queues = queues_of(&shared, &instance).await;
    let all: Vec<&StandinQueue> = queues.iter().collect();
    let (queues, next) = page(&all, query.get("nextToken").map(String::as_str), max);
    let items: Vec<Value> = queues
        .iter()
        .map(|q| json!({ "Id": q.id, "Arn": q.arn, "Name": q.name, "QueueType": "STANDARD", "LastModifiedTime": 1.7e9, "LastModifiedRegion": "us-east-1" }))
        .collect();
    Json(json!({ "QueueSummaryList": items, "NextToken": next })).into_response()
}

async fn current_metric_data(
    State(shared): State<Arc<Shared>>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(response) = admit(
        &shared,
        "GetCurrentMetricData",
        true,
        (&instance, &headers),
        &body,
    )
    .await
    {
        return response;
    }
    let groupings: Vec<&str> = body["Groupings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let grouped = !groupings.is_empty();
    let by_channel = groupings.contains(&"CHANNEL");
    let metrics: Vec<(String, String)> = body["CurrentMetrics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["Name"].as_str().unwrap_or("").to_owned(),
                m["Unit"].as_str().unwrap_or("COUNT").to_owned(),
            )
        })
        .collect();
    // As Connect does: its estimate needs QUEUE and CHANNEL groupings and
    // a channel filter.
    let channel_filter = body["Filters"]["Channels"]
        .as_array()
        .is_some_and(|c| !c.is_empty());
    if metrics
        .iter()
        .any(|(name, _)| name == "ESTIMATED_WAIT_TIME")
        && !(groupings.contains(&"QUEUE") && by_channel && channel_filter)
    {
        return error(
            400,
            "InvalidParameterException",
            "ESTIMATED_WAIT_TIME requires QUEUE and CHANNEL groupings and a Channels filter",
        );
    }
    let queues = queues_of(&shared, &instance).await;
    let collections = |figures: &BTreeMap<String, f64>| -> Vec<Value> {
        metrics
            .iter()
            .filter_map(|(name, unit)| {
                let mut value = *figures.get(name)?;
                // As Connect does: milliseconds when nothing is grouped.
                if name == "OLDEST_CONTACT_AGE" && !grouped {
                    value *= 1000.0;
                }
                Some(json!({ "Metric": { "Name": name, "Unit": unit }, "Value": value }))
            })
            .collect()
    };
    let mut rows = Vec::new();
    for queue in filtered(&queues, &body).into_iter().filter(|q| !q.idle) {
        if by_channel {
            for (channel, figures) in &queue.channels {
                rows.push(json!({ "Dimensions": { "Queue": queue_ref(queue), "Channel": channel }, "Collections": collections(figures) }));
            }
        } else {
            rows.push(json!({ "Dimensions": { "Queue": queue_ref(queue) }, "Collections": collections(&queue.totals) }));
        }
    }
    let size = body["MaxResults"].as_u64().unwrap_or(100) as usize;
    let (items, next) = page(&rows, body["NextToken"].as_str(), size);
    Json(json!({ "MetricResults": items, "NextToken": next, "DataSnapshotTime": 1.7e9, "ApproximateTotalCount": rows.len() })).into_response()
}

async fn metric_data(
    State(shared): State<Arc<Shared>>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(response) = admit(&shared, "GetMetricData", true, (&instance, &headers), &body).await
    {
        return response;
    }
    let (Some(start), Some(end)) = (body["StartTime"].as_f64(), body["EndTime"].as_f64()) else {
        return error(
            400,
            "InvalidParameterException",
            "StartTime and EndTime are required",
        );
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    if start % 300.0 != 0.0 || end % 300.0 != 0.0 {
        return error(
            400,
            "InvalidParameterException",
            "StartTime and EndTime must be multiples of 5 minutes",
        );
    }
    if end <= start || end - start >= 86_400.0 || start < now - 86_400.0 {
        return error(
            400,
            "InvalidParameterException",
            "the interval must be under 24 hours, within the last 24 hours",
        );
    }
    let queues = queues_of(&shared, &instance).await;
    let rows: Vec<Value> = filtered(&queues, &body)
        .into_iter()
        .map(|queue| {
            let collections: Vec<Value> = body["HistoricalMetrics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|metric| {
                    let name = metric["Name"].as_str()?;
                    let value = match name {
                        "SERVICE_LEVEL" => {
                            let threshold = metric["Threshold"]["ThresholdValue"].as_f64()?;
                            // Higher thresholds catch more contacts.
                            (50.0 + threshold / 20.0).min(100.0)
                        }
                        other => *queue.intraday.get(other)?,
                    };
                    Some(json!({ "Metric": metric, "Value": value }))
                })
                .collect();
            json!({ "Dimensions": { "Queue": queue_ref(queue) }, "Collections": collections })
        })
        .collect();
    let size = body["MaxResults"].as_u64().unwrap_or(100) as usize;
    let (items, next) = page(&rows, body["NextToken"].as_str(), size);
    Json(json!({ "MetricResults": items, "NextToken": next })).into_response()
}

async fn current_user_data(
    State(shared): State<Arc<Shared>>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(response) = admit(
        &shared,
        "GetCurrentUserData",
        false,
        (&instance, &headers),
        &body,
    )
    .await
    {
        return response;
    }
    let queues = queues_of(&shared, &instance).await;
    let users: Vec<Value> = filtered(&queues, &body)
        .into_iter()
        .flat_map(|queue| {
            queue.agents.iter().enumerate().map(move |(n, (state, active, available, max))| {
                json!({
                    "User": { "Id": format!("{}-agent-{n}", queue.id), "Arn": format!("{}-agent-{n}", queue.arn) },
                    "Status": { "StatusName": state, "StatusArn": format!("arn:status/{state}"), "StatusStartTimestamp": 1.7e9 },
                    "ActiveSlotsByChannel": { "VOICE": active },
                    "AvailableSlotsByChannel": { "VOICE": available },
                    "MaxSlotsByChannel": { "VOICE": max },
                    "Contacts": []
                })
            })
        })
        .collect();
    let size = body["MaxResults"].as_u64().unwrap_or(100) as usize;
    let (items, next) = page(&users, body["NextToken"].as_str(), size);
    Json(json!({ "UserDataList": items, "NextToken": next, "ApproximateTotalCount": users.len() }))
        .into_response()
}
