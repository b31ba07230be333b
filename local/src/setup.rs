//! Creates what a deployment's template would: the table (with TTL), the
//! stream and the Symbee API key, on the local AWS emulator. Idempotent,
//! so a second run reuses them.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

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
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(attr("pk").map_err(|e| e.to_string())?)
        .attribute_definitions(attr("sk").map_err(|e| e.to_string())?)
        .key_schema(key("pk", KeyType::Hash).map_err(|e| e.to_string())?)
        .key_schema(key("sk", KeyType::Range).map_err(|e| e.to_string())?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| format!("create table {name}: {e:?}"))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("enable TTL on {name}: {e:?}"))?;
    Ok(())
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

/// Creates the secret or gives it a new value (a rotation).
pub async fn put_secret(sdk: &SdkConfig, id: &str, value: &str) -> Result<(), String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    if client
        .create_secret()
        .name(id)
        .secret_string(value)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("put secret {id}: {e:?}"))
}
