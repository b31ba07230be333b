//! The contact-flow Lambda: wiring only. See `queue_stats::contact_flow`.

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    queue_stats::telemetry::init();
    let lookup = queue_stats::wiring::contact_flow_from_env().await?;
    queue_stats::handlers::contact_flow::run(&lookup).await
}
