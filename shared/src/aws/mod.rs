//! The AWS SDK configuration, loaded once per cold start and shared by every client.
//!
//! `aws_config` honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`,
//! which is how local runs and tests point the real clients at moto and
//! the stand-ins.

use std::error::Error;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::error::display::DisplayErrorContext;

/// The roots of Amazon Trust Services (Amazon Root CA 1 to 4 and Starfield
/// Services Root G2), which issue every AWS service endpoint's certificate.
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("amazon-trust-services-roots.pem");

/// The SDK configuration from the environment (region, credentials, endpoints).
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The Region a config signs for (`sdk.region()`, a client's
/// `config().region()`), or us-east-1 where none is set: the SDK's own
/// fallback, and what a bare local run has.
pub fn region_or_default(region: Option<&aws_config::Region>) -> String {
    region.map_or_else(|| "us-east-1".to_owned(), |r| r.to_string())
}

/// Whether the environment names its own certificate authorities
/// (`SSL_CERT_FILE`, `SSL_CERT_DIR`: a TLS-inspecting proxy, a private
/// endpoint, a local emulator behind TLS).
pub fn custom_trust() -> bool {
    ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some())
}

/// The SDK's HTTPS client, trusting only Amazon Trust Services unless the
/// environment names its own authorities (then the system store, which
/// honours those variables). Parsing the system's 150 root certificates
/// is about 27 million instructions of every cold start (see
/// docs/performance.md); AWS endpoints chain to five of them.
pub fn https_client() -> SharedHttpClient {
    let store = if custom_trust() {
        TrustStore::empty().with_native_roots(true)
    } else {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS)
    };
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("the built-in roots are valid PEM");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// An error with its chain of causes on one line, for logs and error
/// messages (an SDK error's own Display is one terse word). Never used on
/// errors that could carry a secret value.
pub fn describe_error(err: &(dyn Error + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_roots_are_amazon_trust_services() {
        let pem = String::from_utf8(AMAZON_TRUST_SERVICES_ROOTS.to_vec()).unwrap();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        // A client is built from them without error.
        let _ = https_client();
    }
}
