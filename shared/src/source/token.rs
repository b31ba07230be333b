//! An OAuth-style bearer token (`{"access_token", "expires_in"}`), as 8x8
//! and Clarity both issue: kept as a [`SecretValue`] and renewed a minute
//! before the vendor says it expires.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::secrets::SecretValue;
use crate::source::SourceError;

/// A token is renewed this long before its vendor says it expires.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// A token endpoint's answer (fields we read).
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds the token lives.
    pub expires_in: u64,
}

/// A token and when to stop using it.
pub struct BearerToken {
    pub value: SecretValue,
    renew_at: Instant,
}

impl BearerToken {
    /// Reads a token answer. serde's message could quote the token: only
    /// its position is kept.
    pub fn from_body(body: &[u8]) -> Result<Self, SourceError> {
        let token: TokenResponse = serde_json::from_slice(body).map_err(|err| {
            SourceError::malformed(format!(
                "the token answer is not the documented JSON (line {}, column {})",
                err.line(),
                err.column()
            ))
        })?;
        let lifetime = Duration::from_secs(token.expires_in).saturating_sub(TOKEN_MARGIN);
        Ok(Self {
            value: SecretValue::new(token.access_token),
            renew_at: Instant::now() + lifetime,
        })
    }

    /// Good for a minute more.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }

    /// Fresh, and not the token the vendor just `rejected`.
    pub fn usable(&self, rejected: Option<&SecretValue>) -> bool {
        self.is_fresh() && rejected.is_none_or(|r| r != &self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_a_minute_early_and_never_echoed_when_malformed() {
        let token = BearerToken::from_body(br#"{"access_token":"abc","expires_in":3600}"#).unwrap();
        assert!(token.usable(None));
        assert!(!token.usable(Some(&SecretValue::new("abc"))));
        let short = BearerToken::from_body(br#"{"access_token":"abc","expires_in":30}"#).unwrap();
        assert!(!short.is_fresh(), "inside the margin from the start");
        let Err(err) = BearerToken::from_body(br#"{"access_token":"s3cret","expires_in":"x"}"#)
        else {
            panic!("malformed")
        };
        assert!(!err.to_string().contains("s3cret"));
    }
}
