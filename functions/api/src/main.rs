//! The API Lambda: wiring only. See `queue_stats::api`.

use lambda_runtime::{Error, run, service_fn};
use queue_stats::handlers::api::handle;

#[tokio::main]
async fn main() -> Result<(), Error> {
    queue_stats::telemetry::init();
    let api = queue_stats::wiring::api_from_env().await?;
    run(service_fn(|event| handle(event, &api))).await
}
