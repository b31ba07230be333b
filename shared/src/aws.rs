//! The AWS SDK configuration, loaded once per cold start and shared by every client.
//!
//! `aws_config` honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`,
//! which is how local runs and tests point the real clients at moto and
//! the stand-ins.

use std::error::Error;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_types::error::display::DisplayErrorContext;

/// The SDK configuration from the environment (region, credentials, endpoints).
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An error with its chain of causes on one line, for logs and error
/// messages (an SDK error's own Display is one terse word). Never used on
/// errors that could carry a secret value.
pub fn describe_error(err: &(dyn Error + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}
