//! The contact-flow Lambda: wiring only. See `queue_stats::contact_flow`.

use lambda_runtime::{Error, run, service_fn};
use queue_stats::handlers::contact_flow::handle;

#[tokio::main]
async fn main() -> Result<(), Error> {
    queue_stats::telemetry::init();
    let lookup = queue_stats::wiring::contact_flow_from_env().await?;
    run(service_fn(|event| handle(event, &lookup))).await
}
