//! The contact-flow lookup, invoked synchronously by Amazon Connect.

use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::contact_flow::{Attributes, ContactFlowLookup};

/// Always answers with the full attribute map; see `contact_flow`.
pub async fn handle(
    event: LambdaEvent<Value>,
    lookup: &ContactFlowLookup,
) -> Result<Attributes, lambda_runtime::Error> {
    Ok(lookup.answer(&event.payload).await)
}
