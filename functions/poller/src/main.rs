//! The poller Lambda: wiring only. See `queue_stats::handlers::poller`.

use lambda_runtime::{Error, run, service_fn};
use queue_stats::handlers::poller::handle;

#[tokio::main]
async fn main() -> Result<(), Error> {
    queue_stats::telemetry::init();
    let poller = queue_stats::wiring::poller_from_env().await?;
    run(service_fn(|event| handle(event, &poller))).await
}
