//! Creates what a deployment's template would: the table (with TTL), the
//! stream and the Symbee API key, on the local AWS emulator. Idempotent,
//! so a second run reuses them.

use aws_config::SdkConfig;
use queue_stats::store::dynamodb::DynamoSnapshotStore;

pub async fn table(sdk: &SdkConfig, name: &str) -> Result<(), String> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    if client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    DynamoSnapshotStore::create_table(&client, name)
        .await
        .map_err(|e| format!("create table {name}: {e}"))
}

pub async fn stream(sdk: &SdkConfig, name: &str) -> Result<(), String> {
    let client = aws_sdk_kinesis::Client::new(sdk);
    if client
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    client
        .create_stream()
        .stream_name(name)
        .shard_count(1)
        .send()
        .await
        .map_err(|e| format!("create stream {name}: {e:?}"))?;
    Ok(())
}
