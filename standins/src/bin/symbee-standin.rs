//! Runs the Symbee stand-in on its own, for local runs.
//!
//! Settings come from the same variables the poller reads
//! (`SYMBEE_COMPANY_CODE`, `SYMBEE_ENVIRONMENT`, `SYMBEE_SECRETS_REGION`,
//! `SYMBEE_API_KEY_SECRET_ID`), plus `STANDIN_BIND` (default
//! 127.0.0.1:9443) and `STANDIN_QUEUES` (a JSON file of queues to serve).

use standins::symbee::{ExpectedKey, SymbeeStandin, Tenant};

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secrets_region = var("SYMBEE_SECRETS_REGION", "us-east-1");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(secrets_region.clone()))
        .load()
        .await;
    let key = ExpectedKey::SecretsManager {
        client: aws_sdk_secretsmanager::Client::new(&sdk),
        secret_id: var("SYMBEE_API_KEY_SECRET_ID", "SYMBEE_CONNECT_API_KEY"),
    };
    let tenant = Tenant {
        company_code: var("SYMBEE_COMPANY_CODE", "abc-gadgets"),
        environment: var("SYMBEE_ENVIRONMENT", "prod"),
        secrets_region,
    };
    let bind = var("STANDIN_BIND", "127.0.0.1:9443").parse()?;
    let standin = SymbeeStandin::start(bind, tenant, key).await?;
    if let Ok(path) = std::env::var("STANDIN_QUEUES") {
        let queues = serde_json::from_slice(&std::fs::read(&path)?)?;
        standin.set_queues(queues).await;
    }
    println!("symbee stand-in listening on {}", standin.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
