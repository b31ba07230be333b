//! Connect's metric rows to the normalized model, as pure functions.
//!
//! The table in docs/connect-metrics.md is this file in prose. Metric
//! names Connect adds later are ignored here, never a parse failure.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_connect::types::{
    Channel, CurrentMetricName, CurrentMetricResult, HistoricalMetricName, HistoricalMetricResult,
    Unit,
};
use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};

use crate::model::{
    Counters, DeliveryProvider, Intraday, OpenClosedState, QueueStats, SourceName, TaskType,
};

/// Every current metric we ask for, with the unit Connect wants for it.
pub const CURRENT_METRICS: [(CurrentMetricName, Unit); 12] = [
    (CurrentMetricName::AgentsOnline, Unit::Count),
    (CurrentMetricName::AgentsAvailable, Unit::Count),
    (CurrentMetricName::AgentsOnContact, Unit::Count),
    (CurrentMetricName::AgentsStaffed, Unit::Count),
    (CurrentMetricName::AgentsAfterContactWork, Unit::Count),
    (CurrentMetricName::AgentsNonProductive, Unit::Count),
    (CurrentMetricName::AgentsError, Unit::Count),
    (CurrentMetricName::ContactsInQueue, Unit::Count),
    (CurrentMetricName::OldestContactAge, Unit::Seconds),
    (CurrentMetricName::ContactsScheduled, Unit::Count),
    (CurrentMetricName::SlotsActive, Unit::Count),
    (CurrentMetricName::SlotsAvailable, Unit::Count),
];

/// Asked for in the per-channel calls only: Connect computes it only for
/// requests grouped by QUEUE and CHANNEL with a channel filter.
pub const ESTIMATED_WAIT: (CurrentMetricName, Unit) =
    (CurrentMetricName::EstimatedWaitTime, Unit::Seconds);

/// The channels of the per-channel breakdown.
pub const CHANNELS: [Channel; 3] = [Channel::Voice, Channel::Chat, Channel::Task];

/// What one current-metrics row says about a queue (or one channel of it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurrentFigures {
    pub counters: Counters,
    pub agents_online: Option<u64>,
    pub slots_active: Option<u64>,
    pub slots_available: Option<u64>,
}

impl CurrentFigures {
    /// A queue Connect returned no row for: nothing is happening on it.
    /// Every figure Connect can supply is zero; `itemsBeingDelivered`,
    /// which Connect has no metric for, stays null.
    pub fn idle() -> Self {
        let zero = Some(0);
        Self {
            counters: Counters {
                agents_staffed: zero,
                agents_available: zero,
                agents_working: zero,
                agents_in_wrap: zero,
                agents_in_error: zero,
                agents_unavailable: zero,
                items_in_queue: zero,
                items_scheduled: zero,
                items_being_delivered: None,
                oldest_item: zero,
                // Connect sends no estimate for an idle queue: the model's.
                estimated_wait_time: None,
                estimated_wait_source: None,
            },
            agents_online: zero,
            slots_active: zero,
            slots_available: zero,
        }
    }
}

fn whole(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value.round() as u64
    } else {
        0
    }
}

/// OLDEST_CONTACT_AGE says SECONDS, but Connect returns milliseconds when
/// the request has no grouping. We always group; this keeps it honest if
/// that ever changes.
pub fn age_seconds(value: f64, grouped: bool) -> u64 {
    if grouped {
        whole(value)
    } else {
        whole(value / 1000.0)
    }
}

/// The queue id, channel (when grouped by channel) and figures of one row.
pub fn current_row(
    row: &CurrentMetricResult,
    grouped: bool,
) -> Option<(String, Option<String>, CurrentFigures)> {
    let dimensions = row.dimensions()?;
    let queue_id = dimensions.queue()?.id()?.to_owned();
    let channel = dimensions.channel().map(|c| c.as_str().to_owned());
    let mut figures = CurrentFigures::idle();
    for data in row.collections() {
        let (Some(metric), Some(value)) = (data.metric(), data.value()) else {
            continue;
        };
        let Some(name) = metric.name() else { continue };
        let c = &mut figures.counters;
        match name {
            CurrentMetricName::AgentsOnline => figures.agents_online = Some(whole(value)),
            CurrentMetricName::AgentsAvailable => c.agents_available = Some(whole(value)),
            CurrentMetricName::AgentsOnContact => c.agents_working = Some(whole(value)),
            CurrentMetricName::AgentsStaffed => c.agents_staffed = Some(whole(value)),
            CurrentMetricName::AgentsAfterContactWork => c.agents_in_wrap = Some(whole(value)),
            CurrentMetricName::AgentsNonProductive => c.agents_unavailable = Some(whole(value)),
            CurrentMetricName::AgentsError => c.agents_in_error = Some(whole(value)),
            CurrentMetricName::ContactsInQueue => c.items_in_queue = Some(whole(value)),
            CurrentMetricName::OldestContactAge => {
                c.oldest_item = Some(age_seconds(value, grouped))
            }
            CurrentMetricName::ContactsScheduled => c.items_scheduled = Some(whole(value)),
            CurrentMetricName::SlotsActive => figures.slots_active = Some(whole(value)),
            CurrentMetricName::SlotsAvailable => figures.slots_available = Some(whole(value)),
            CurrentMetricName::EstimatedWaitTime => {
                c.estimated_wait_time = Some(whole(value));
                c.estimated_wait_source = Some(crate::model::EstimateSource::Vendor);
            }
            // Metrics Connect adds later, and ones we do not ask for.
            _ => {}
        }
    }
    Some((queue_id, channel, figures))
}

/// Today so far: from local midnight in `tz` to now, both on 5-minute
/// boundaries as GetMetricData requires. `None` in the first 5 minutes of
/// the day, when there is no whole interval yet.
pub fn intraday_window<Tz: TimeZone>(
    now: DateTime<Utc>,
    tz: &Tz,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let local = now.with_timezone(tz);
    let midnight = local
        .date_naive()
        .and_hms_opt(0, 0, 0)?
        .and_local_timezone(tz.clone())
        .earliest()?
        .with_timezone(&Utc);
    // Offsets are whole quarter hours, so midnight is already on a
    // 5-minute boundary; flooring `now` is all that is left.
    let end =
        now.with_second(0)?.with_nanosecond(0)? - Duration::minutes(i64::from(now.minute() % 5));
    (end > midnight).then_some((midnight, end))
}

/// Today's figures of each queue in one GetMetricData page.
pub fn intraday_rows(
    rows: &[HistoricalMetricResult],
    since: DateTime<Utc>,
) -> Vec<(String, Intraday)> {
    rows.iter()
        .filter_map(|row| {
            let queue_id = row.dimensions()?.queue()?.id()?.to_owned();
            let mut intraday = Intraday {
                since,
                ..Intraday::default()
            };
            let mut service_level = BTreeMap::new();
            for data in row.collections() {
                let Some(metric) = data.metric() else {
                    continue;
                };
                let value = data.value();
                match metric.name() {
                    Some(HistoricalMetricName::ContactsHandled) => {
                        intraday.contacts_handled = Some(value.map_or(0, whole))
                    }
                    Some(HistoricalMetricName::ContactsAbandoned) => {
                        intraday.contacts_abandoned = Some(value.map_or(0, whole))
                    }
                    Some(HistoricalMetricName::HandleTime) => intraday.avg_handle_time = value,
                    Some(HistoricalMetricName::QueueAnswerTime) => {
                        intraday.avg_queue_answer_time = value
                    }
                    Some(HistoricalMetricName::ServiceLevel) => {
                        if let Some(threshold) =
                            metric.threshold().and_then(|t| t.threshold_value())
                        {
                            service_level.insert(format!("{}", threshold.round() as u64), value);
                        }
                    }
                    _ => {}
                }
            }
            intraday.service_level = service_level;
            Some((queue_id, intraday))
        })
        .collect()
}

/// One GetCurrentMetricData row: queue id, channel (with the breakdown)
/// and its figures.
pub type Row = (String, Option<String>, CurrentFigures);

/// One cycle's queues from what it fetched: discovery's list, the totals'
/// and the breakdown's rows (`None`: breakdown off), today's figures and
/// agent detail by queue id, and the instance. Pure: the orchestration in
/// `ConnectSource::fetch_queues` fetches, this assembles.
pub fn assemble(
    queues: &[super::ConnectQueue],
    totals: Vec<Row>,
    breakdown: Option<Vec<Row>>,
    (intraday, agents): (
        &HashMap<String, crate::model::Intraday>,
        &HashMap<String, crate::model::AgentDetail>,
    ),
    instance: &crate::model::InstanceRef,
) -> Vec<QueueStats> {
    let mut figures: HashMap<String, CurrentFigures> =
        totals.into_iter().map(|(id, _, row)| (id, row)).collect();
    let with_channels = breakdown.is_some();
    let mut channels: HashMap<String, BTreeMap<String, Counters>> = HashMap::new();
    for (id, channel, row) in breakdown.into_iter().flatten() {
        if let Some(channel) = channel {
            channels
                .entry(id)
                .or_default()
                .insert(channel, row.counters);
        }
    }
    queues
        .iter()
        .map(|queue| {
            let current = figures
                .remove(&queue.id)
                .unwrap_or_else(CurrentFigures::idle);
            let mut stats = QueueStats::new(
                SourceName::Connect,
                queue.arn.clone(),
                queue.name.clone(),
                DeliveryProvider::Amazon,
                TaskType::AmazonAny,
                OpenClosedState::OperatingHoursUnknown,
            );
            stats.counters = current.counters;
            stats.agents_online = current.agents_online;
            stats.slots_active = current.slots_active;
            stats.slots_available = current.slots_available;
            if with_channels {
                // A channel with no row is idle on that queue.
                let mut by_channel = channels.remove(&queue.id).unwrap_or_default();
                for channel in CHANNELS {
                    by_channel
                        .entry(channel.as_str().to_owned())
                        .or_insert_with(|| CurrentFigures::idle().counters);
                }
                stats.channels = Some(by_channel);
            }
            stats.intraday = intraday.get(&queue.id).cloned();
            stats.agents = agents.get(&queue.id).cloned();
            stats.instance = Some(instance.clone());
            stats
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_connect::types::{
        Channel, CurrentMetric, CurrentMetricData, CurrentMetricName, Dimensions, QueueReference,
        Unit,
    };

    fn row(channel: Option<Channel>, metrics: &[(CurrentMetricName, f64)]) -> CurrentMetricResult {
        let mut dimensions =
            Dimensions::builder().queue(QueueReference::builder().id("q1").arn("arn:q1").build());
        if let Some(channel) = channel {
            dimensions = dimensions.channel(channel);
        }
        let mut builder = CurrentMetricResult::builder().dimensions(dimensions.build());
        for (name, value) in metrics {
            builder = builder.collections(
                CurrentMetricData::builder()
                    .metric(
                        CurrentMetric::builder()
                            .name(name.clone())
                            .unit(Unit::Count)
                            .build(),
                    )
                    .value(*value)
                    .build(),
            );
        }
        builder.build()
    }

    #[test]
    fn every_current_metric_lands_in_its_field() {
        use CurrentMetricName::*;
        let (id, channel, figures) = current_row(
            &row(
                None,
                &[
                    (AgentsOnline, 12.0),
                    (AgentsAvailable, 3.0),
                    (AgentsOnContact, 5.0),
                    (AgentsStaffed, 10.0),
                    (AgentsAfterContactWork, 1.0),
                    (AgentsNonProductive, 2.0),
                    (AgentsError, 1.0),
                    (ContactsInQueue, 7.0),
                    (OldestContactAge, 95.0),
                    (ContactsScheduled, 4.0),
                    (SlotsActive, 6.0),
                    (SlotsAvailable, 9.0),
                    (CurrentMetricName::from("SOMETHING_NEW"), 1.0),
                ],
            ),
            true,
        )
        .unwrap();
        assert_eq!((id.as_str(), channel), ("q1", None));
        let c = &figures.counters;
        assert_eq!(
            (
                c.agents_staffed,
                c.agents_available,
                c.agents_working,
                c.agents_in_wrap
            ),
            (Some(10), Some(3), Some(5), Some(1))
        );
        assert_eq!(
            (c.agents_in_error, c.agents_unavailable),
            (Some(1), Some(2))
        );
        assert_eq!(
            (c.items_in_queue, c.items_scheduled, c.oldest_item),
            (Some(7), Some(4), Some(95))
        );
        assert_eq!(c.items_being_delivered, None);
        assert_eq!(
            (
                figures.agents_online,
                figures.slots_active,
                figures.slots_available
            ),
            (Some(12), Some(6), Some(9))
        );
    }

    #[test]
    fn ages_are_seconds_whatever_connect_sent() {
        assert_eq!(age_seconds(95.0, true), 95);
        assert_eq!(age_seconds(95_400.0, false), 95);
        assert_eq!(age_seconds(-1.0, true), 0);
        assert_eq!(age_seconds(f64::NAN, true), 0);
    }

    #[test]
    fn channel_rows_carry_their_channel() {
        let (_, channel, _) = current_row(&row(Some(Channel::Chat), &[]), true).unwrap();
        assert_eq!(channel.as_deref(), Some("CHAT"));
    }

    #[test]
    fn the_intraday_window_starts_at_local_midnight_on_five_minute_boundaries() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T15:07:31Z")
            .unwrap()
            .with_timezone(&Utc);
        let (start, end) = intraday_window(now, &chrono_tz::America::New_York).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-11-22T05:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-11-22T15:05:00+00:00");
        let (start, _) = intraday_window(now, &chrono_tz::Asia::Kathmandu).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-11-21T18:15:00+00:00");
        let early = DateTime::parse_from_rfc3339("2026-11-22T00:03:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(intraday_window(early, &Utc), None);
    }

    #[test]
    fn assembly_joins_rows_breakdown_today_and_agents_by_queue() {
        let queue = |id: &str| super::super::ConnectQueue {
            id: id.into(),
            arn: format!("arn:aws:connect:us-west-2:1:instance/i/queue/{id}"),
            name: format!("Queue {id}"),
        };
        let figures = |waiting: u64| {
            let mut f = CurrentFigures::idle();
            f.counters.items_in_queue = Some(waiting);
            f
        };
        let instance = crate::model::InstanceRef {
            instance_id: "i".into(),
            region: "us-west-2".into(),
            instance_alias: "west".into(),
        };
        let today = HashMap::from([("a".to_owned(), Intraday::default())]);
        let queues = [queue("a"), queue("b")];
        let rows = vec![("a".to_owned(), None, figures(7))];
        let voice = vec![("a".to_owned(), Some("VOICE".to_owned()), figures(5))];

        let stats = assemble(
            &queues,
            rows.clone(),
            Some(voice),
            (&today, &HashMap::new()),
            &instance,
        );

        // The row's figures land on its queue; a queue with no row is idle.
        assert_eq!(stats[0].counters.items_in_queue, Some(7));
        assert_eq!(stats[1].counters, CurrentFigures::idle().counters);
        assert_eq!(stats[0].queue_id, queues[0].arn);
        // Every channel is there, those without a row idle.
        let channels = stats[0].channels.as_ref().unwrap();
        assert_eq!(channels["VOICE"].items_in_queue, Some(5));
        assert_eq!(channels["CHAT"], CurrentFigures::idle().counters);
        assert_eq!(channels.len(), CHANNELS.len());
        // Today's figures by id, the instance on every queue.
        assert!(stats[0].intraday.is_some() && stats[1].intraday.is_none());
        assert!(stats.iter().all(|q| q.instance.as_ref() == Some(&instance)));

        // With the breakdown off, no channels at all.
        let plain = assemble(&queues, rows, None, (&today, &HashMap::new()), &instance);
        assert!(plain.iter().all(|q| q.channels.is_none()));
    }
}
