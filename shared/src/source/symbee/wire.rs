//! Symbee's request and response bodies, exactly as they travel, and their
//! mapping into the normalized model.
//!
//! The response is parsed leniently where Symbee's documentation is loose
//! (counts may arrive as `3.0` or `null`; extra fields are ignored) and
//! strictly where a wrong guess would mislead (a negative or fractional
//! count is a malformed body, not a zero).

use serde::{Deserialize, Deserializer, Serialize};

use crate::model::{Counters, DeliveryProvider, OpenClosedState, QueueStats, SourceName, TaskType};

/// The static platform code in the tenant payload and the header.
pub const PLATFORM_CODE: &str = "AWS Connect";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrieveQueueInfoRequest<'a> {
    pub tenant: TenantPayload<'a>,
    pub include_amazon_queues: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues_interested: Vec<QueueRef<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantPayload<'a> {
    pub platform_code: &'a str,
    pub company_code: &'a str,
    pub environment: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRef<'a> {
    pub queue_id: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireQueue {
    pub queue_info: WireQueueInfo,
    #[serde(default)]
    pub open_closed_state: Option<String>,
    #[serde(default, deserialize_with = "count")]
    pub agents_staffed: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub agents_available: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub agents_working: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub agents_in_wrap: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub agents_in_error: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub agents_unavailable: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub items_in_queue: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub items_scheduled: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub items_being_delivered: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    pub oldest_item: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireQueueInfo {
    pub queue_id: String,
    #[serde(default)]
    pub queue_name: Option<String>,
    #[serde(default)]
    pub delivery_provider: Option<String>,
    #[serde(default)]
    pub task_type: Option<String>,
}

/// A non-negative whole number, accepting `3`, `3.0` and `null`.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_u64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "expected a non-negative whole number, got {number}"
        ))),
    }
}

impl WireQueue {
    pub fn into_model(self) -> QueueStats {
        let info = self.queue_info;
        let mut queue = QueueStats::new(
            SourceName::Symbee,
            info.queue_id.clone(),
            // A queue without a display name is still worth reporting.
            info.queue_name.unwrap_or_else(|| info.queue_id.clone()),
            DeliveryProvider::from(info.delivery_provider.as_deref().unwrap_or("")),
            TaskType::from(info.task_type.as_deref().unwrap_or("")),
            OpenClosedState::from(self.open_closed_state.as_deref().unwrap_or("")),
        );
        queue.counters = Counters {
            agents_staffed: self.agents_staffed,
            agents_available: self.agents_available,
            agents_working: self.agents_working,
            agents_in_wrap: self.agents_in_wrap,
            agents_in_error: self.agents_in_error,
            agents_unavailable: self.agents_unavailable,
            items_in_queue: self.items_in_queue,
            items_scheduled: self.items_scheduled,
            items_being_delivered: self.items_being_delivered,
            oldest_item: self.oldest_item,
            ..Counters::default()
        };
        queue
    }
}

/// Parses a whole response body. The error text is serde's, which quotes
/// positions and types but never request headers.
pub fn parse_response(body: &[u8]) -> Result<Vec<QueueStats>, serde_json::Error> {
    let queues: Vec<WireQueue> = serde_json::from_slice(body)?;
    Ok(queues.into_iter().map(WireQueue::into_model).collect())
}
