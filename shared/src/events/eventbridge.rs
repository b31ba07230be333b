//! [`EventPublisher`] on EventBridge's PutEvents: ten entries a call (its
//! limit), and the entries it refuses (a partial failure reports each
//! one's error code) sent again with backoff, within a time budget.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use tokio::time::Instant;

use super::{DETAIL_TYPE, EVENT_SOURCE, EventPublisher, LevelEvent};
use crate::backoff::Backoff;

/// PutEvents takes at most ten entries.
const ENTRIES_PER_CALL: usize = 10;
/// Attempts per entry within one cycle; what is still refused is tried
/// again next cycle.
const ATTEMPTS: u32 = 4;

pub struct EventBridgePublisher {
    client: Client,
    bus: String,
    budget: Duration,
    backoff: Backoff,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>, budget: Duration) -> Self {
        Self {
            client,
            bus: bus.into(),
            budget,
            backoff: Backoff::default(),
        }
    }

    fn entry(&self, event: &LevelEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(&event.detail)
            .build()
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[LevelEvent]) -> Vec<bool> {
        let deadline = Instant::now() + self.budget;
        let mut taken = vec![false; events.len()];
        let mut waiting: Vec<usize> = (0..events.len()).collect();
        for attempt in 0..ATTEMPTS {
            if waiting.is_empty() || Instant::now() >= deadline {
                break;
            }
            if attempt > 0 {
                let pause = self.backoff.delay(attempt).min(deadline - Instant::now());
                tokio::time::sleep(pause).await;
            }
            let mut refused = Vec::new();
            for batch in waiting.chunks(ENTRIES_PER_CALL) {
                let entries = batch.iter().map(|&i| self.entry(&events[i])).collect();
                let call = self.client.put_events().set_entries(Some(entries)).send();
                match tokio::time::timeout_at(deadline, call).await {
                    Ok(Ok(output)) => {
                        // Results come back in the order sent; a result
                        // with an error code is an entry not taken.
                        let results = output.entries();
                        for (position, &index) in batch.iter().enumerate() {
                            match results.get(position) {
                                Some(result) if result.error_code().is_none() => {
                                    taken[index] = true
                                }
                                Some(result) => {
                                    tracing::info!(
                                        code = result.error_code().unwrap_or_default(),
                                        "EventBridge refused a level event; sending it again"
                                    );
                                    refused.push(index);
                                }
                                None => refused.push(index),
                            }
                        }
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(error = %crate::aws::describe_error(&err), "PutEvents failed");
                        refused.extend(batch);
                    }
                    Err(_) => refused.extend(batch),
                }
            }
            waiting = refused;
        }
        taken
    }
}
