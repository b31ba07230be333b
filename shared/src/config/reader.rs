//! The readers' settings (the API and the contact flow), the wallboard's
//! sign-in among them.

use std::time::Duration;

use crate::settings::{ConfigError, FromSettings, Settings};

/// Everything the readers (the API and the contact flow) need, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderConfig {
    pub table: String,
    /// The poller's interval: bounds `Cache-Control: max-age`.
    pub poll_interval: Duration,
    /// A snapshot older than this is stale (default three poll intervals).
    pub stale_after: Duration,
    pub history_retention_hours: u64,
    /// Bound on one store read, retries included.
    pub read_timeout: Duration,
    /// Where the wallboard signs its viewers in; `None` when the API is
    /// open (locally) or authorized some other way.
    pub sign_in: Option<SignIn>,
}

/// A Cognito hosted UI (or any OAuth 2.0 server with the same endpoints)
/// that the wallboard signs in with: authorization code flow with PKCE,
/// a public client, no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignIn {
    /// `https://host` of the hosted UI; `/oauth2/authorize`,
    /// `/oauth2/token` and `/logout` are appended.
    pub url: String,
    pub client_id: String,
}

impl SignIn {
    /// `WALLBOARD_SIGN_IN_URL` and `WALLBOARD_CLIENT_ID`: both or neither.
    fn from_settings(settings: &Settings<'_>) -> Result<Option<Self>, ConfigError> {
        let url = settings.base_url("WALLBOARD_SIGN_IN_URL")?;
        let client_id = settings.optional("WALLBOARD_CLIENT_ID");
        match (url, client_id) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::new(
                "WALLBOARD_CLIENT_ID",
                "is required with WALLBOARD_SIGN_IN_URL",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "WALLBOARD_SIGN_IN_URL",
                "is required with WALLBOARD_CLIENT_ID",
            )),
            (Some(url), Some(client_id)) => {
                // Tokens travel to this host: only a loopback test server
                // may go without TLS.
                let loopback = url.strip_prefix("http://").is_some_and(|host_port| {
                    ["localhost", "127.0.0.1", "[::1]"].iter().any(|host| {
                        host_port
                            .strip_prefix(host)
                            .is_some_and(|port| port.is_empty() || port.starts_with(':'))
                    })
                });
                if !url.starts_with("https://") && !loopback {
                    return Err(ConfigError::new(
                        "WALLBOARD_SIGN_IN_URL",
                        format!("must be an https:// URL, not {url:?}"),
                    ));
                }
                // It also goes into the page's Content-Security-Policy.
                if !url
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:/[]".contains(c))
                {
                    return Err(ConfigError::new(
                        "WALLBOARD_SIGN_IN_URL",
                        format!("must be a plain https://host URL, not {url:?}"),
                    ));
                }
                // It is written into the page: keep it to what an app
                // client id is.
                if client_id.len() > 128
                    || !client_id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(ConfigError::new(
                        "WALLBOARD_CLIENT_ID",
                        "must be an app client id (letters, digits, - and _)",
                    ));
                }
                Ok(Some(Self { url, client_id }))
            }
        }
    }
}

impl FromSettings for ReaderConfig {
    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
        let table = settings.required("SNAPSHOT_TABLE")?;
        let poll_interval = settings.integer("POLL_INTERVAL_SECONDS", 10, 1..=900)?;
        let stale_after = settings.integer("STALE_AFTER_SECONDS", 3 * poll_interval, 1..=86_400)?;
        let history_retention_hours =
            settings.integer("HISTORY_RETENTION_HOURS", 24, 1..=24 * 90)?;
        let read_timeout_ms = settings.integer("READ_TIMEOUT_MS", 2_000, 50..=7_000)?;
        Ok(Self {
            table,
            poll_interval: Duration::from_secs(poll_interval),
            stale_after: Duration::from_secs(stale_after),
            history_retention_hours,
            read_timeout: Duration::from_millis(read_timeout_ms),
            sign_in: SignIn::from_settings(settings)?,
        })
    }
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    fn reader(pairs: &[(&str, &str)]) -> Result<ReaderConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ReaderConfig::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn stale_after_defaults_to_three_poll_intervals() {
        let config = reader(&[("SNAPSHOT_TABLE", "t"), ("POLL_INTERVAL_SECONDS", "20")]).unwrap();
        assert_eq!(config.stale_after, Duration::from_secs(60));
        let config = reader(&[("SNAPSHOT_TABLE", "t"), ("STALE_AFTER_SECONDS", "5")]).unwrap();
        assert_eq!(config.stale_after, Duration::from_secs(5));
    }

    #[test]
    fn readers_name_what_is_wrong() {
        assert_eq!(reader(&[]).unwrap_err().name, "SNAPSHOT_TABLE");
        let err = reader(&[("SNAPSHOT_TABLE", "t"), ("STALE_AFTER_SECONDS", "0")]).unwrap_err();
        assert_eq!(err.name, "STALE_AFTER_SECONDS");
        let err = reader(&[("SNAPSHOT_TABLE", "t"), ("READ_TIMEOUT_MS", "9000")]).unwrap_err();
        assert_eq!(err.name, "READ_TIMEOUT_MS");
    }

    #[test]
    fn the_wallboard_signs_in_only_with_both_settings_and_over_tls() {
        let url = (
            "WALLBOARD_SIGN_IN_URL",
            "https://qs.auth.eu-west-2.amazoncognito.com/",
        );
        let client = ("WALLBOARD_CLIENT_ID", "4lh2d1k8s0m3q5r7t9v1x3z5b7");
        assert_eq!(reader(&[("SNAPSHOT_TABLE", "t")]).unwrap().sign_in, None);
        let sign_in = reader(&[("SNAPSHOT_TABLE", "t"), url, client])
            .unwrap()
            .sign_in
            .unwrap();
        assert_eq!(sign_in.url, "https://qs.auth.eu-west-2.amazoncognito.com");
        assert_eq!(sign_in.client_id, client.1);
        let only_url = reader(&[("SNAPSHOT_TABLE", "t"), url]).unwrap_err();
        assert_eq!(only_url.name, "WALLBOARD_CLIENT_ID");
        let only_client = reader(&[("SNAPSHOT_TABLE", "t"), client]).unwrap_err();
        assert_eq!(only_client.name, "WALLBOARD_SIGN_IN_URL");
        let plain = ("WALLBOARD_SIGN_IN_URL", "http://auth.example.com");
        let err = reader(&[("SNAPSHOT_TABLE", "t"), plain, client]).unwrap_err();
        assert!(err.problem.contains("https"), "{err}");
        let loopback = ("WALLBOARD_SIGN_IN_URL", "http://127.0.0.1:9000");
        assert!(reader(&[("SNAPSHOT_TABLE", "t"), loopback, client]).is_ok());
        let lookalike = ("WALLBOARD_SIGN_IN_URL", "http://localhost.example.com");
        assert!(reader(&[("SNAPSHOT_TABLE", "t"), lookalike, client]).is_err());
        let injected = ("WALLBOARD_SIGN_IN_URL", "https://a.example.com;script-src");
        assert!(reader(&[("SNAPSHOT_TABLE", "t"), injected, client]).is_err());
        let quote = ("WALLBOARD_CLIENT_ID", "abc\"<script>");
        let err = reader(&[("SNAPSHOT_TABLE", "t"), url, quote]).unwrap_err();
        assert_eq!(err.name, "WALLBOARD_CLIENT_ID");
    }
}
