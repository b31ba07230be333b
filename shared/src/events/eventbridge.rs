//! [`EventPublisher`] on EventBridge's PutEvents: one call, ten entries at
//! most, and what became of each. A partial failure reports each refused
//! entry's error code; a failed call (throttling, AccessDenied, a missing
//! bus, a timeout) refuses every entry with the call's code. Retrying is
//! the announcer's, with backoff across calls and cycles.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{Delivery, EVENT_SOURCE, EventPublisher, Outgoing};

pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    /// `client` should bound each call (its operation timeout): a call in
    /// flight is waited for even after the announcer's budget.
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    fn entry(&self, event: &Outgoing) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(event.detail_type)
            .detail(&event.detail)
            .build()
    }
}

/// Each entry's fate from a PutEvents answer: results come back in the
/// order sent, and one with an error code was not taken.
pub fn deliveries(output: &PutEventsOutput, sent: usize) -> Vec<Delivery> {
    let results = output.entries();
    (0..sent)
        .map(|i| match results.get(i) {
            Some(result) if result.error_code().is_none() && result.event_id().is_some() => {
                Delivery::Accepted
            }
            Some(result) => {
                Delivery::Refused(result.error_code().unwrap_or("NoEventId").to_owned())
            }
            None => Delivery::Refused("NoResult".to_owned()),
        })
        .collect()
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn put(&self, events: &[Outgoing]) -> Vec<Delivery> {
        let entries = events.iter().map(|e| self.entry(e)).collect();
        match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => deliveries(&output, events.len()),
            Err(err) => {
                let code = err.code().unwrap_or("CallFailed").to_owned();
                tracing::debug!(error = %crate::aws::describe_error(&err), "PutEvents failed");
                vec![Delivery::Refused(code); events.len()]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;

    #[test]
    fn a_partial_failure_refuses_only_the_entries_with_an_error() {
        let output = PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(PutEventsResultEntry::builder().event_id("a").build())
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("InternalFailure")
                    .build(),
            )
            .build();
        assert_eq!(
            deliveries(&output, 3),
            [
                Delivery::Accepted,
                Delivery::Refused("InternalFailure".into()),
                Delivery::Refused("NoResult".into())
            ]
        );
    }
}
