//! The table the layout needs, created as template.yaml does in AWS.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

use crate::aws::describe_error;
use crate::store::layout::*;
use crate::store::{StoreError, StoreReason};

use super::*;

impl DynamoSnapshotStore {
    /// Creates a table with this layout (pk/sk strings, on-demand, TTL on
    /// `expiresAt`), as template.yaml does in AWS: for local runs and tests.
    pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let fail = |err: &(dyn std::error::Error + 'static)| StoreError::Unavailable {
            reason: StoreReason::Unavailable,
            detail: describe_error(err),
            source: None,
        };
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set")
        };
        let key = |n: &str, t| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .expect("name and type are set")
        };
        client
            .create_table()
            .table_name(name)
            .attribute_definitions(attr(ATTR_PK))
            .attribute_definitions(attr(ATTR_SK))
            .key_schema(key(ATTR_PK, KeyType::Hash))
            .key_schema(key(ATTR_SK, KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| fail(&e))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(ATTR_EXPIRES_AT)
            .enabled(true)
            .build()
            .expect("name and flag are set");
        match client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Some emulators (dynalite) have no TTL. Readers ignore expired
            // history anyway; only storage would grow, and only locally.
            Err(err) if err.code() == Some("UnknownOperationException") => Ok(()),
            Err(err) => Err(fail(&err)),
        }
    }
}
