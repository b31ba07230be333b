//! Amazon Connect's realtime APIs as a [`QueueSource`].
//!
//! Each cycle: queue discovery (ListQueues, only every discovery interval),
//! current metrics (GetCurrentMetricData, 100 queues a call, grouped by
//! queue, plus the VOICE/CHAT/TASK breakdown), today's figures
//! (GetMetricData, at most every 5 minutes) and, when enabled, agent detail
//! (GetCurrentUserData, a few queues a cycle in rotation). Connect throttles
//! per account and Region, so every request, retries included, takes a
//! token from a client-side [`RateLimiter`] first, and the SDK's own
//! retries are off so none slips past it.
//!
//! A stack may poll several instances (`CONNECT_INSTANCES`): each is a
//! [`ConnectSource`] of its own (its own discovery, intraday and agent
//! rotation, its own status in the snapshot), while the instances of one
//! Region share one client, signing for that Region, and one
//! [`RegionBudget`].

mod config;
pub mod contact_events;
pub mod mapping;

pub use config::{ConnectConfig, InstanceSpec};

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_connect::Client;
use aws_sdk_connect::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_connect::types::{
    Channel, Comparison, CurrentMetric, Filters, Grouping, HistoricalMetric, HistoricalMetricName,
    QueueType, Statistic, Threshold, Unit, UserDataFilters,
};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::limiter::RateLimiter;
use crate::model::{
    AgentDetail, DeliveryProvider, InstanceRef, Intraday, QueueStats, SlotCounts, SourceName,
};
use crate::source::{QueueSource, SourceError};
use mapping::{CHANNELS, CURRENT_METRICS};

/// GetCurrentMetricData and GetMetricData take at most 100 queues.
pub const MAX_QUEUES_PER_CALL: usize = 100;
/// Bound on one attempt of one request; the cycle as a whole is bounded by
/// `ConnectConfig::cycle_timeout`.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// GetMetricData's granularity: refreshing more often returns the same numbers.
const INTRADAY_REFRESH: Duration = Duration::from_secs(300);

/// A queue found by discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectQueue {
    pub id: String,
    pub arn: String,
    pub name: String,
}

/// Requests made, by operation (retries included), for logs and tests.
#[derive(Debug, Default)]
pub struct CallCounts {
    pub list_queues: AtomicU64,
    pub current_metrics: AtomicU64,
    pub metric_data: AtomicU64,
    pub user_data: AtomicU64,
    pub describe_instance: AtomicU64,
    pub throttled: AtomicU64,
}

/// Connect's throttling budget of one account and Region, shared by every
/// instance polled there: GetCurrentMetricData and GetMetricData draw on
/// `metrics`, the other calls on `other`.
pub struct RegionBudget {
    pub metrics: RateLimiter,
    pub other: RateLimiter,
}

impl RegionBudget {
    pub fn new(config: &ConnectConfig) -> Self {
        Self {
            metrics: RateLimiter::new(config.metrics_rate, config.metrics_burst),
            other: RateLimiter::new(config.other_rate, config.other_burst),
        }
    }
}

/// The instance's alias: its id until DescribeInstance has answered, and
/// for good when it cannot (no permission): a missing alias never stops
/// polling.
struct Alias {
    alias: String,
    settled: bool,
}

#[derive(Default)]
struct State {
    queues: Vec<ConnectQueue>,
    discovered_at: Option<Instant>,
    intraday: HashMap<String, Intraday>,
    intraday_at: Option<(Instant, DateTime<Utc>)>,
    agents: HashMap<String, AgentDetail>,
    agent_cursor: usize,
}

pub struct ConnectSource {
    client: Client,
    config: ConnectConfig,
    instance_id: String,
    region: String,
    alias: std::sync::Mutex<Alias>,
    budget: Arc<RegionBudget>,
    backoff: Backoff,
    state: Mutex<State>,
    calls: Arc<CallCounts>,
}

/// Every batch's rows as one list, or the first batch's failure.
fn all_rows(
    batches: Vec<Result<Vec<mapping::Row>, SourceError>>,
) -> Result<Vec<mapping::Row>, SourceError> {
    Ok(batches
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// Why one request failed, before it becomes a [`SourceError`].
enum Failure {
    Retryable(SourceError),
    Final(SourceError),
}

fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    err: SdkError<E, aws_sdk_connect::config::http::HttpResponse>,
) -> Failure {
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let code = err.code().unwrap_or("").to_owned();
    let message = err.message().unwrap_or("").to_owned();
    match &err {
        SdkError::TimeoutError(_) => Failure::Retryable(SourceError::RequestTimeout {
            timeout_ms: ATTEMPT_TIMEOUT.as_millis() as u64,
        }),
        SdkError::DispatchFailure(_) => Failure::Retryable(SourceError::transport(
            crate::aws::describe_error(&err),
            err,
        )),
        SdkError::ResponseError(_) => Failure::Final(SourceError::malformed_by(
            crate::aws::describe_error(&err),
            err,
        )),
        _ if status == 429
            || matches!(
                code.as_str(),
                "ThrottlingException" | "TooManyRequestsException" | "LimitExceededException"
            ) =>
        {
            Failure::Retryable(SourceError::Throttled { status: 429 })
        }
        _ if status >= 500 || code == "InternalServiceException" => {
            Failure::Retryable(SourceError::UpstreamStatus {
                status,
                detail: format!("{code}: {message}"),
            })
        }
        _ => Failure::Final(SourceError::UpstreamStatus {
            status,
            detail: format!("{code}: {message}"),
        }),
    }
}

impl ConnectSource {
    /// The first configured instance, in the client's Region, with a
    /// budget of its own. `client` should have the SDK's retries disabled
    /// ([`Self::client_config`]): ours go through the limiter.
    pub fn new(client: Client, config: ConnectConfig) -> Self {
        let region = crate::aws::region_or_default(client.config().region());
        let instance_id = config
            .instances
            .first()
            .map(|i| i.instance_id.clone())
            .unwrap_or_default();
        let budget = Arc::new(RegionBudget::new(&config));
        Self::for_instance(client, config, &instance_id, &region, budget)
    }

    /// One instance of several: `client` signs for `region`, and `budget`
    /// is shared with the other instances of that Region.
    pub fn for_instance(
        client: Client,
        config: ConnectConfig,
        instance_id: &str,
        region: &str,
        budget: Arc<RegionBudget>,
    ) -> Self {
        Self {
            client,
            instance_id: instance_id.to_owned(),
            region: region.to_owned(),
            alias: std::sync::Mutex::new(Alias {
                alias: instance_id.to_owned(),
                settled: false,
            }),
            budget,
            backoff: Backoff {
                max_attempts: 6,
                base: Duration::from_millis(200),
                cap: Duration::from_secs(3),
            },
            config,
            state: Mutex::new(State::default()),
            calls: Arc::new(CallCounts::default()),
        }
    }

    fn instance_ref(&self) -> InstanceRef {
        InstanceRef {
            instance_id: self.instance_id.clone(),
            region: self.region.clone(),
            instance_alias: self
                .alias
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .alias
                .clone(),
        }
    }

    /// DescribeInstance, once per cold start: the alias names the instance
    /// on the board and in events. A throttle or 5xx is tried again next
    /// cycle; a refusal (no `connect:DescribeInstance`) settles on the id.
    async fn describe_once(&self, deadline: Instant) {
        if self.alias.lock().unwrap_or_else(|p| p.into_inner()).settled {
            return;
        }
        let send = || {
            self.client
                .describe_instance()
                .instance_id(&self.instance_id)
                .send()
        };
        let outcome = self
            .call(
                &self.budget.other,
                &self.calls.describe_instance,
                deadline,
                send,
            )
            .await;
        let mut alias = self.alias.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(output) => {
                if let Some(name) = output.instance().and_then(|i| i.instance_alias()) {
                    alias.alias = name.to_owned();
                }
                alias.settled = true;
            }
            Err(error) => {
                // A transient failure is asked again next cycle; a denied
                // DescribeInstance names the instance by its id for good.
                alias.settled = !error.is_transient();
                tracing::warn!(instance = %self.instance_id, code = error.code(), error = %error, "the instance's alias could not be read; it is named by its id");
            }
        }
    }

    /// The Connect client configuration: shared settings, no SDK retries,
    /// bounded attempts.
    pub fn client_config(sdk: &aws_config::SdkConfig) -> aws_sdk_connect::Config {
        aws_sdk_connect::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .build()
    }

    pub fn calls(&self) -> Arc<CallCounts> {
        self.calls.clone()
    }

    /// One request with pacing and retries: a token before every attempt,
    /// jittered backoff after a throttle, a 5xx or a timeout, and nothing
    /// past `deadline`.
    async fn call<T, E, F, Fut>(
        &self,
        limiter: &RateLimiter,
        counter: &AtomicU64,
        deadline: Instant,
        send: F,
    ) -> Result<T, SourceError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, aws_sdk_connect::config::http::HttpResponse>>>,
    {
        let mut attempt = 0;
        loop {
            limiter.acquire().await;
            counter.fetch_add(1, Ordering::Relaxed);
            let remaining = deadline.saturating_duration_since(Instant::now());
            let result = match tokio::time::timeout(remaining, send()).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(SourceError::CycleTimeout {
                        timeout_ms: self.config.cycle_timeout.as_millis() as u64,
                    });
                }
            };
            let failure = match result {
                Ok(output) => return Ok(output),
                Err(err) => classify(err),
            };
            let error = match failure {
                Failure::Final(error) => return Err(error),
                Failure::Retryable(error) => error,
            };
            if matches!(error, SourceError::Throttled { .. }) {
                self.calls.throttled.fetch_add(1, Ordering::Relaxed);
            }
            attempt += 1;
            if !self.backoff.pause(attempt, deadline).await {
                return Err(error);
            }
        }
    }

    /// Every page of a paged operation: `send` makes one request from a
    /// `NextToken`, `items` takes a page apart into its items and the next
    /// token. Each page is one paced, retried [`Self::call`].
    async fn all_pages<O, T, E, F, Fut>(
        &self,
        limiter: &RateLimiter,
        counter: &AtomicU64,
        deadline: Instant,
        send: F,
        items: impl Fn(O) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, SourceError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, aws_sdk_connect::config::http::HttpResponse>>>,
    {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(limiter, counter, deadline, || send(token.clone()))
                .await?;
            let (found, next) = items(page);
            all.extend(found);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Every STANDARD queue (narrowed by `CONNECT_QUEUE_IDS`), every page.
    async fn discover(&self, deadline: Instant) -> Result<Vec<ConnectQueue>, SourceError> {
        let send = |token: Option<String>| {
            self.client
                .list_queues()
                .instance_id(&self.instance_id)
                .queue_types(QueueType::Standard)
                .max_results(1000)
                .set_next_token(token)
                .send()
        };
        let mut queues = self
            .all_pages(
                &self.budget.other,
                &self.calls.list_queues,
                deadline,
                send,
                |page| {
                    let queues = page
                        .queue_summary_list()
                        .iter()
                        .filter_map(|summary| {
                            let (id, arn) = (summary.id()?, summary.arn()?);
                            Some(ConnectQueue {
                                id: id.to_owned(),
                                arn: arn.to_owned(),
                                name: summary.name().unwrap_or(id).to_owned(),
                            })
                        })
                        .collect();
                    (queues, page.next_token().map(str::to_owned))
                },
            )
            .await?;
        if let Some(wanted) = self.config.wanted_queues(&self.instance_id) {
            queues.retain(|q| wanted.contains(&q.id));
        }
        Ok(queues)
    }

    /// The queue list, from the last discovery unless it is due again. A
    /// failed refresh keeps the previous list (logged); with none, it fails.
    async fn queues(&self, deadline: Instant) -> Result<Vec<ConnectQueue>, SourceError> {
        let due = {
            let state = self.state.lock().await;
            state
                .discovered_at
                .is_none_or(|at| at.elapsed() >= self.config.discovery_interval)
        };
        if due {
            match self.discover(deadline).await {
                Ok(queues) => {
                    let mut state = self.state.lock().await;
                    state.queues = queues;
                    state.discovered_at = Some(Instant::now());
                }
                Err(error) => {
                    let state = self.state.lock().await;
                    if state.discovered_at.is_none() {
                        return Err(error);
                    }
                    tracing::warn!(code = error.code(), error = %error, "queue discovery failed; keeping the previous list");
                }
            }
        }
        Ok(self.state.lock().await.queues.clone())
    }

    /// GetCurrentMetricData for one batch, every page.
    async fn current_metrics(
        &self,
        ids: &[String],
        by_channel: bool,
        deadline: Instant,
    ) -> Result<Vec<mapping::Row>, SourceError> {
        let estimate = by_channel.then_some(&mapping::ESTIMATED_WAIT);
        let metrics: Vec<CurrentMetric> = CURRENT_METRICS
            .iter()
            .chain(estimate)
            .map(|(name, unit)| {
                CurrentMetric::builder()
                    .name(name.clone())
                    .unit(unit.clone())
                    .build()
            })
            .collect();
        let mut filters = Filters::builder().set_queues(Some(ids.to_vec()));
        let mut groupings = vec![Grouping::Queue];
        if by_channel {
            filters = filters.set_channels(Some(CHANNELS.to_vec()));
            groupings.push(Grouping::Channel);
        }
        let filters = filters.build();
        let send = |token: Option<String>| {
            self.client
                .get_current_metric_data()
                .instance_id(&self.instance_id)
                .filters(filters.clone())
                .set_groupings(Some(groupings.clone()))
                .set_current_metrics(Some(metrics.clone()))
                .max_results(100)
                .set_next_token(token)
                .send()
        };
        self.all_pages(
            &self.budget.metrics,
            &self.calls.current_metrics,
            deadline,
            send,
            |page| {
                let rows = page
                    .metric_results()
                    .iter()
                    .filter_map(|r| mapping::current_row(r, true))
                    .collect();
                (rows, page.next_token().map(str::to_owned))
            },
        )
        .await
    }

    /// GetMetricData for one batch over today so far, every page.
    async fn intraday_batch(
        &self,
        ids: &[String],
        window: (DateTime<Utc>, DateTime<Utc>),
        deadline: Instant,
    ) -> Result<Vec<(String, Intraday)>, SourceError> {
        let metric = |name: HistoricalMetricName, statistic: Statistic, unit: Unit| {
            HistoricalMetric::builder()
                .name(name)
                .statistic(statistic)
                .unit(unit)
        };
        let mut metrics = vec![
            metric(
                HistoricalMetricName::ContactsHandled,
                Statistic::Sum,
                Unit::Count,
            )
            .build(),
            metric(
                HistoricalMetricName::ContactsAbandoned,
                Statistic::Sum,
                Unit::Count,
            )
            .build(),
            metric(
                HistoricalMetricName::HandleTime,
                Statistic::Avg,
                Unit::Seconds,
            )
            .build(),
            metric(
                HistoricalMetricName::QueueAnswerTime,
                Statistic::Avg,
                Unit::Seconds,
            )
            .build(),
        ];
        for threshold in &self.config.service_level_thresholds {
            metrics.push(
                metric(
                    HistoricalMetricName::ServiceLevel,
                    Statistic::Avg,
                    Unit::Percent,
                )
                .threshold(
                    Threshold::builder()
                        .comparison(Comparison::Lt)
                        .threshold_value(f64::from(*threshold))
                        .build(),
                )
                .build(),
            );
        }
        let filters = Filters::builder().set_queues(Some(ids.to_vec())).build();
        let start = aws_smithy_types::DateTime::from_secs(window.0.timestamp());
        let end = aws_smithy_types::DateTime::from_secs(window.1.timestamp());
        let send = |token: Option<String>| {
            self.client
                .get_metric_data()
                .instance_id(&self.instance_id)
                .start_time(start)
                .end_time(end)
                .filters(filters.clone())
                .groupings(Grouping::Queue)
                .set_historical_metrics(Some(metrics.clone()))
                .max_results(100)
                .set_next_token(token)
                .send()
        };
        self.all_pages(
            &self.budget.metrics,
            &self.calls.metric_data,
            deadline,
            send,
            |page| {
                let rows = mapping::intraday_rows(page.metric_results(), window.0);
                (rows, page.next_token().map(str::to_owned))
            },
        )
        .await
    }

    /// Refreshes today's figures when 5 minutes have passed or the day
    /// turned. A failure keeps the last figures: they are labelled with
    /// their own `since`, and current metrics matter more.
    async fn refresh_intraday(&self, batches: &[Vec<String>], deadline: Instant) {
        if !self.config.intraday {
            return;
        }
        let now = Utc::now();
        let Some(window) = mapping::intraday_window(now, &self.config.time_zone) else {
            return;
        };
        let due = {
            let state = self.state.lock().await;
            state
                .intraday_at
                .is_none_or(|(at, since)| at.elapsed() >= INTRADAY_REFRESH || since != window.0)
        };
        if !due {
            return;
        }
        let results = join_all(
            batches
                .iter()
                .map(|ids| self.intraday_batch(ids, window, deadline)),
        )
        .await;
        let mut state = self.state.lock().await;
        let mut fresh = HashMap::new();
        for result in results {
            match result {
                Ok(rows) => fresh.extend(rows),
                Err(error) => {
                    tracing::warn!(code = error.code(), error = %error, "intraday figures not refreshed");
                    return;
                }
            }
        }
        state.intraday = fresh;
        state.intraday_at = Some((Instant::now(), window.0));
    }

    /// GetCurrentUserData for a few queues per cycle, in rotation.
    async fn refresh_agent_detail(&self, queues: &[ConnectQueue], deadline: Instant) {
        if !self.config.agent_detail || queues.is_empty() {
            return;
        }
        let (start, count) = {
            let state = self.state.lock().await;
            let count = (self.config.agent_detail_calls_per_cycle as usize).min(queues.len());
            (state.agent_cursor % queues.len(), count)
        };
        for offset in 0..count {
            let queue = &queues[(start + offset) % queues.len()];
            match self.agent_detail(&queue.id, deadline).await {
                Ok(detail) => {
                    self.state
                        .lock()
                        .await
                        .agents
                        .insert(queue.id.clone(), detail);
                }
                Err(error) => {
                    tracing::warn!(queue = %queue.id, code = error.code(), "agent detail not refreshed");
                    break;
                }
            }
        }
        self.state.lock().await.agent_cursor = (start + count) % queues.len();
    }

    async fn agent_detail(
        &self,
        queue_id: &str,
        deadline: Instant,
    ) -> Result<AgentDetail, SourceError> {
        let filters = UserDataFilters::builder().queues(queue_id).build();
        let send = |token: Option<String>| {
            self.client
                .get_current_user_data()
                .instance_id(&self.instance_id)
                .filters(filters.clone())
                .max_results(100)
                .set_next_token(token)
                .send()
        };
        let users = self
            .all_pages(
                &self.budget.other,
                &self.calls.user_data,
                deadline,
                send,
                |page| {
                    let next = page.next_token().map(str::to_owned);
                    (page.user_data_list().to_vec(), next)
                },
            )
            .await?;
        let mut detail = AgentDetail {
            as_of: Utc::now(),
            ..AgentDetail::default()
        };
        for user in &users {
            let state = user
                .status()
                .and_then(|s| s.status_name())
                .unwrap_or("Unknown");
            *detail.by_state.entry(state.to_owned()).or_default() += 1;
            let mut add = |slots: Option<&HashMap<Channel, i32>>,
                           pick: fn(&mut SlotCounts) -> &mut u64| {
                for (channel, n) in slots.into_iter().flatten() {
                    let entry = detail
                        .slots_by_channel
                        .entry(channel.as_str().to_owned())
                        .or_default();
                    *pick(entry) += u64::try_from(*n).unwrap_or(0);
                }
            };
            add(user.active_slots_by_channel(), |s| &mut s.active);
            add(user.available_slots_by_channel(), |s| &mut s.available);
            add(user.max_slots_by_channel(), |s| &mut s.max);
        }
        Ok(detail)
    }
}

#[async_trait]
impl QueueSource for ConnectSource {
    fn name(&self) -> SourceName {
        SourceName::Connect
    }

    fn instance(&self) -> Option<InstanceRef> {
        Some(self.instance_ref())
    }

    fn reports_directly(&self) -> Option<DeliveryProvider> {
        Some(DeliveryProvider::Amazon)
    }

    async fn fetch_queues(&self) -> Result<Vec<QueueStats>, SourceError> {
        let deadline = Instant::now() + self.config.cycle_timeout;
        let (queues, ()) = tokio::join!(self.queues(deadline), self.describe_once(deadline));
        let queues = queues?;
        let instance = self.instance_ref();
        let ids: Vec<String> = queues.iter().map(|q| q.id.clone()).collect();
        let batches: Vec<Vec<String>> = ids
            .chunks(MAX_QUEUES_PER_CALL)
            .map(<[String]>::to_vec)
            .collect();

        // Totals and the channel breakdown for every batch at once; the
        // limiter, not the task count, sets the pace.
        let totals = join_all(
            batches
                .iter()
                .map(|b| self.current_metrics(b, false, deadline)),
        );
        let breakdown = async {
            if self.config.channel_breakdown {
                Some(
                    join_all(
                        batches
                            .iter()
                            .map(|b| self.current_metrics(b, true, deadline)),
                    )
                    .await,
                )
            } else {
                None
            }
        };
        let (totals, breakdown, (), ()) = tokio::join!(
            totals,
            breakdown,
            self.refresh_intraday(&batches, deadline),
            self.refresh_agent_detail(&queues, deadline)
        );

        let breakdown = breakdown.map(all_rows).transpose()?;
        let state = self.state.lock().await;
        Ok(mapping::assemble(
            &queues,
            all_rows(totals)?,
            breakdown,
            (&state.intraday, &state.agents),
            &instance,
        ))
    }
}
