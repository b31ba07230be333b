//! The scheduled poller: one EventBridge event, many poll cycles.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use tokio::time::Instant;

use crate::poller::{InvocationSummary, Poller, PollerError};

pub type ScheduledEvent = EventBridgeEvent<serde_json::Value>;

impl From<PollerError> for Diagnostic {
    fn from(error: PollerError) -> Self {
        Diagnostic {
            error_type: error.error_type(),
            error_message: error.to_string(),
        }
    }
}

/// Runs poll cycles until shortly before the invocation's deadline. Fails
/// the invocation only when no cycle could write anything, so a failed
/// source alone never triggers Lambda's retries or alarms on errors.
pub async fn handle(
    event: LambdaEvent<ScheduledEvent>,
    poller: &Poller,
) -> Result<InvocationSummary, PollerError> {
    let deadline = instant_of(event.context.deadline);
    tracing::debug!(detail_type = ?event.payload.detail_type, "scheduled invocation");
    poller.run_until(deadline).await
}

/// Converts Lambda's deadline (epoch milliseconds) to a monotonic instant.
pub fn instant_of(deadline_epoch_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))
}
