//! `GET /wallboard`: the live board for supervisors and wall screens.
//!
//! The page is one HTML document with its style and script inline, built
//! into the binary from the three files beside this one: no build step, no
//! CDN, so it works in a closed network. It is assembled once, on its first
//! request, with the settings the script needs (poll interval, staleness,
//! sign-in) and then served from memory with an ETag, so a refresh costs a
//! 304.
//!
//! The page holds no data: it is public even where the data routes need a
//! token. A Content-Security-Policy allows exactly its own inline script and
//! style (by hash), calls to this API and to the sign-in host, nothing else.

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::response;
use super::{HttpRequest, HttpResponse};
use crate::config::ReaderConfig;

const HTML: &str = include_str!("board.html");
const CSS: &str = include_str!("board.css");
const JS: &str = include_str!("board.js");

/// The assembled page and the headers that go with it.
pub struct Wallboard {
    html: Vec<u8>,
    gzip: Vec<u8>,
    etag: String,
    policy: String,
}

impl Wallboard {
    pub fn new(config: &ReaderConfig) -> Self {
        let settings = json!({
            "pollIntervalSeconds": config.poll_interval.as_secs(),
            "staleAfterSeconds": config.stale_after.as_secs(),
            // The sparkline's window: an hour, or all of history if shorter.
            "historyMinutes": (config.history_retention_hours * 60).min(60),
            "signIn": config.sign_in.as_ref().map(|s| json!({
                "url": s.url,
                "clientId": s.client_id,
            })),
        });
        // Inside <script> only `</` could end the element early; JSON may
        // spell `<` as an escape.
        let settings = settings.to_string().replace('<', "\\u003c");
        let html = HTML
            .replace("/*STYLE*/", CSS)
            .replace("/*SCRIPT*/", JS)
            .replace("{/*SETTINGS*/}", &settings);
        let connect = match &config.sign_in {
            Some(sign_in) => format!("'self' {}", sign_in.url),
            None => "'self'".to_owned(),
        };
        let policy = format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; img-src 'self' data:; \
             connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash(JS),
            hash(CSS),
        );
        let etag = response::etag(html.as_bytes());
        let gzip = crate::gzip::encode(html.as_bytes());
        Self {
            html: html.into_bytes(),
            gzip,
            etag,
            policy,
        }
    }

    pub fn respond(&self, request: &HttpRequest) -> HttpResponse {
        // no-cache: a browser keeps the page but asks (a 304) every time, so
        // a deployment's new page is picked up on the next load.
        let mut headers =
            match response::validated(request, self.etag.clone(), "no-cache".to_owned()) {
                Ok(headers) => headers,
                Err(not_modified) => return not_modified,
            };
        headers.extend(
            [
                ("content-type", "text/html; charset=utf-8"),
                ("content-security-policy", self.policy.as_str()),
                ("x-content-type-options", "nosniff"),
                // The sign-in redirect puts a one-time code in the URL.
                ("referrer-policy", "no-referrer"),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
        );
        let body = if response::wants_gzip(request, self.html.len()) {
            headers.push(("content-encoding".to_owned(), "gzip".to_owned()));
            self.gzip.clone()
        } else {
            self.html.clone()
        };
        HttpResponse {
            status: 200,
            headers,
            body,
        }
    }
}

/// A CSP source expression for an inline element's exact text.
fn hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FromSettings, Settings};

    fn board(pairs: &[(&str, &str)]) -> Wallboard {
        let mut all = vec![("SNAPSHOT_TABLE", "t")];
        all.extend_from_slice(pairs);
        Wallboard::new(&ReaderConfig::from_settings(&Settings::from_pairs(&all)).unwrap())
    }

    fn get(headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            raw_path: "/wallboard".into(),
            raw_query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            ..HttpRequest::default()
        }
    }

    fn text(response: &HttpResponse) -> String {
        String::from_utf8(response.body.clone()).unwrap()
    }

    #[test]
    fn the_page_carries_its_style_script_and_settings_inline() {
        let page = board(&[("POLL_INTERVAL_SECONDS", "15")]).respond(&get(&[]));
        assert_eq!(page.status, 200);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let html = text(&page);
        assert!(html.contains(CSS) && html.contains(JS));
        assert!(!html.contains("/*STYLE*/") && !html.contains("/*SCRIPT*/"));
        assert!(html.contains(r#""pollIntervalSeconds":15"#), "{html}");
        assert!(html.contains(r#""signIn":null"#));
        // Nothing from elsewhere: it must work in a closed network.
        assert!(!html.contains("https://"), "the page loads nothing remote");
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_script_and_style() {
        let page = board(&[]).respond(&get(&[]));
        let policy = page.header("content-security-policy").unwrap();
        assert!(policy.contains(&format!("script-src '{}'", hash(JS))));
        assert!(policy.contains(&format!("style-src '{}'", hash(CSS))));
        assert!(policy.contains("connect-src 'self';"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn sign_in_settings_reach_the_page_and_the_policy() {
        let page = board(&[
            (
                "WALLBOARD_SIGN_IN_URL",
                "https://qs-1.auth.us-east-1.amazoncognito.com",
            ),
            ("WALLBOARD_CLIENT_ID", "abc123"),
        ])
        .respond(&get(&[]));
        let html = text(&page);
        let expected = r#""signIn":{"url":"https://qs-1.auth.us-east-1.amazoncognito.com","clientId":"abc123"}"#;
        assert!(html.contains(expected), "{html}");
        let policy = page.header("content-security-policy").unwrap();
        assert!(
            policy.contains("connect-src 'self' https://qs-1.auth.us-east-1.amazoncognito.com;")
        );
    }

    #[test]
    fn a_repeat_load_is_a_304_and_gzip_is_served_when_asked() {
        let board = board(&[]);
        let first = board.respond(&get(&[("accept-encoding", "gzip")]));
        assert_eq!(first.header("content-encoding"), Some("gzip"));
        assert_eq!(crate::gzip::decode(&first.body).unwrap(), board.html);
        assert_eq!(first.header("cache-control"), Some("no-cache"));
        let etag = first.header("etag").unwrap();
        let again = board.respond(&get(&[("if-none-match", etag)]));
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
    }
}
