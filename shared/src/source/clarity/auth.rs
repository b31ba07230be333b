//! Clarity's Integrated Windows Authentication: a JWT from the Connect
//! Authentication Service, earned with an NTLM handshake over HTTP as the
//! service account.
//!
//! The token URL is learned from the `WWW-Authenticate` header of a 401
//! from the API. The token request (`grant_type=urn:connect.auth:windows`,
//! `client_id`) is POSTed three times on one keep-alive connection: bare
//! (the service answers 401 naming its Windows schemes), with the NTLM
//! NEGOTIATE message, then with the AUTHENTICATE message that answers its
//! CHALLENGE. NTLM itself is Devolutions' `sspi`. The password, the NTLM
//! messages and the token never reach a log: they are [`SecretValue`]s
//! and sensitive headers.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;
use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation, Ntlm,
    SecurityBuffer, SecurityStatus, Sspi, SspiImpl, Username,
};
use tokio::sync::Mutex;

use crate::secrets::{CachedSecret, SecretError, SecretValue};
use crate::source::token::BearerToken;
use crate::source::{SourceError, http};

/// The only grant Clarity's Authentication Service knows.
pub const GRANT_TYPE: &str = "urn:connect.auth:windows";

#[derive(Deserialize)]
struct CredentialsJson {
    username: String,
    password: String,
}

struct Credentials {
    raw: SecretValue,
    username: String,
    password: SecretValue,
}

impl Credentials {
    fn parse(raw: SecretValue, secret_id: &str) -> Result<Self, SourceError> {
        let invalid = |what: String| {
            SourceError::Secret(SecretError::Service {
                secret_id: secret_id.to_owned(),
                message: what,
            })
        };
        // serde's message could quote the value: keep only its position.
        let json: CredentialsJson = serde_json::from_str(raw.expose()).map_err(|err| {
            invalid(format!(
                "is not JSON {{\"username\": \"DOMAIN\\\\user\", \"password\"}} (line {}, column {})",
                err.line(),
                err.column()
            ))
        })?;
        if json.username.is_empty() || json.password.is_empty() {
            return Err(invalid("has an empty username or password".to_owned()));
        }
        Ok(Self {
            raw,
            username: json.username,
            password: SecretValue::new(json.password),
        })
    }
}

#[derive(Default)]
struct State {
    /// Where tokens come from, once a 401 has said.
    token_url: Option<String>,
    token: Option<BearerToken>,
}

/// Tokens for the API and the SignalR connection.
pub struct Auth {
    http: reqwest::Client,
    client_id: String,
    secret_id: String,
    timeout: Duration,
    credentials: Arc<CachedSecret>,
    state: Mutex<State>,
}

/// The Authentication Service's address from a 401's `WWW-Authenticate`:
/// `https://host/webauth/token,grant_type="urn:connect.auth:windows"`.
pub fn token_url_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let url = v.split(',').next()?.trim().trim_matches('"');
            (url.starts_with("https://") || url.starts_with("http://")).then(|| url.to_owned())
        })
}

/// The Windows scheme a 401 offers (`NTLM`, else `Negotiate`, which takes
/// raw NTLM tokens too) and its token, if it carries one.
fn windows_challenge(headers: &HeaderMap) -> Option<(&'static str, Option<Vec<u8>>)> {
    let offers: Vec<&str> = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for scheme in ["NTLM", "Negotiate"] {
        for offer in &offers {
            let mut parts = offer.trim().splitn(2, ' ');
            if parts.next().is_some_and(|s| s.eq_ignore_ascii_case(scheme)) {
                let token = parts
                    .next()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok());
                return Some((scheme, token));
            }
        }
    }
    None
}

fn sensitive(text: &str) -> Result<HeaderValue, SourceError> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| SourceError::malformed("a credential is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Bearer <token>` as a header that never prints.
pub fn bearer(token: &SecretValue) -> Result<HeaderValue, SourceError> {
    sensitive(&format!("Bearer {}", token.expose()))
}

fn ntlm_failure(step: &str, err: sspi::Error) -> SourceError {
    // sspi's messages describe the protocol, never the password.
    SourceError::malformed(format!("NTLM {step} failed: {:?}", err.error_type))
}

/// The client half of one NTLM handshake.
struct Handshake {
    ntlm: Ntlm,
    credentials: Option<sspi::AuthIdentityBuffers>,
    target: String,
}

impl Handshake {
    fn new(creds: &Credentials, target: String) -> Result<Self, SourceError> {
        let username = Username::parse(&creds.username).map_err(|_| {
            SourceError::malformed(
                "the service account's username is not DOMAIN\\user or user@domain",
            )
        })?;
        let identity = AuthIdentity {
            username,
            password: creds.password.expose().to_owned().into(),
        };
        let mut ntlm = Ntlm::new();
        let acquired = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&identity)
            .execute(&mut ntlm)
            .map_err(|e| ntlm_failure("credentials", e))?;
        Ok(Self {
            ntlm,
            credentials: acquired.credentials_handle,
            target,
        })
    }

    /// The next message to send, given the server's last one.
    fn step(&mut self, input: Option<Vec<u8>>) -> Result<Vec<u8>, SourceError> {
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut input = input.map(|token| vec![SecurityBuffer::new(token, BufferType::Token)]);
        let mut builder = self
            .ntlm
            .initialize_security_context()
            .with_credentials_handle(&mut self.credentials)
            .with_context_requirements(ClientRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.target)
            .with_output(&mut output);
        if let Some(input) = input.as_mut() {
            builder = builder.with_input(input);
        }
        let result = self
            .ntlm
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut generator| generator.resolve_to_result())
            .map_err(|e| ntlm_failure("message", e))?;
        if matches!(
            result.status,
            SecurityStatus::CompleteAndContinue | SecurityStatus::CompleteNeeded
        ) {
            self.ntlm
                .complete_auth_token(&mut output)
                .map_err(|e| ntlm_failure("completion", e))?;
        }
        Ok(std::mem::take(&mut output[0].buffer))
    }
}

impl Auth {
    pub fn new(
        http: reqwest::Client,
        client_id: String,
        secret_id: String,
        timeout: Duration,
        credentials: Arc<CachedSecret>,
    ) -> Self {
        Self {
            http,
            client_id,
            secret_id,
            timeout,
            credentials,
            state: Mutex::new(State::default()),
        }
    }

    /// The cached token, if one is good for a minute more.
    pub async fn cached(&self) -> Option<SecretValue> {
        let state = self.state.lock().await;
        state
            .token
            .as_ref()
            .filter(|t| t.is_fresh())
            .map(|t| t.value.clone())
    }

    /// Whether a 401 has named the Authentication Service yet.
    pub async fn knows_service(&self) -> bool {
        self.state.lock().await.token_url.is_some()
    }

    /// Remembers where tokens come from, from a 401 of the API.
    pub async fn learn_token_url(&self, headers: &HeaderMap) {
        if let Some(url) = token_url_from(headers) {
            self.state.lock().await.token_url = Some(url);
        }
    }

    /// A token good for a minute more: the cached one unless it is
    /// `rejected` (the API just refused it), else a new Windows login. A
    /// login the service rejects reads the secret again once, since the
    /// password may have been rotated.
    pub async fn token(&self, rejected: Option<&SecretValue>) -> Result<SecretValue, SourceError> {
        let mut state = self.state.lock().await;
        if let Some(token) = state.token.as_ref()
            && token.usable(rejected)
        {
            return Ok(token.value.clone());
        }
        state.token = None;
        let url = state.token_url.clone().ok_or_else(|| {
            SourceError::malformed(
                "the API's 401 named no Authentication Service (WWW-Authenticate)",
            )
        })?;
        let mut creds = Credentials::parse(self.credentials.get().await?, &self.secret_id)?;
        let token = match self.login(&url, &creds).await? {
            Ok(token) => token,
            Err(status) => {
                tracing::info!(
                    status,
                    "Clarity refused the Windows login; reading the credentials again"
                );
                let raw = self.credentials.refresh(&creds.raw).await?;
                creds = Credentials::parse(raw, &self.secret_id)?;
                match self.login(&url, &creds).await? {
                    Ok(token) => token,
                    Err(status) => return Err(SourceError::Unauthorized { status }),
                }
            }
        };
        let value = token.value.clone();
        state.token = Some(token);
        Ok(value)
    }

    async fn post_token_request(
        &self,
        url: &str,
        authorization: Option<HeaderValue>,
    ) -> Result<reqwest::Response, SourceError> {
        let mut request = self
            .http
            .post(url)
            .header(header::ACCEPT, "application/json")
            .header(header::CACHE_CONTROL, "no-cache")
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("client_id", self.client_id.as_str()),
            ]);
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        request
            .send()
            .await
            .map_err(|err| http::request_error(err, self.timeout))
    }

    /// One Windows login: the token, or the status the credentials were
    /// refused with.
    async fn login(
        &self,
        url: &str,
        creds: &Credentials,
    ) -> Result<Result<BearerToken, u16>, SourceError> {
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let mut handshake = Handshake::new(creds, format!("HTTP/{host}"))?;

        // Leg 1: which Windows scheme the service speaks.
        let response = self.post_token_request(url, None).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return self.token_answer(response, creds).await;
        }
        let Some((scheme, _)) = windows_challenge(response.headers()) else {
            return Err(SourceError::UpstreamStatus {
                status: 401,
                detail: "the Authentication Service offers neither NTLM nor Negotiate".to_owned(),
            });
        };
        // Read the body so the connection is reused: NTLM authenticates
        // the connection, not the request.
        let _ = http::read_body(response, self.timeout).await;

        // Leg 2: NEGOTIATE, answered by a CHALLENGE.
        let negotiate = handshake.step(None)?;
        let response = self
            .post_token_request(
                url,
                Some(sensitive(&format!("{scheme} {}", encode(&negotiate)))?),
            )
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return self.token_answer(response, creds).await;
        }
        let challenge = windows_challenge(response.headers()).and_then(|(_, token)| token);
        let _ = http::read_body(response, self.timeout).await;
        let Some(challenge) = challenge else {
            return Err(SourceError::malformed(
                "the Authentication Service answered NTLM NEGOTIATE without a CHALLENGE",
            ));
        };

        // Leg 3: AUTHENTICATE; the token, or 401 for a wrong password.
        let authenticate = handshake.step(Some(challenge))?;
        let response = self
            .post_token_request(
                url,
                Some(sensitive(&format!("{scheme} {}", encode(&authenticate)))?),
            )
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Ok(Err(401));
        }
        self.token_answer(response, creds).await
    }

    async fn token_answer(
        &self,
        response: reqwest::Response,
        creds: &Credentials,
    ) -> Result<Result<BearerToken, u16>, SourceError> {
        let status = response.status();
        let body = http::read_body(response, self.timeout).await?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(SourceError::Throttled { status: 429 });
        }
        if !status.is_success() {
            // 400 invalid_clientId: CLARITY_CLIENT_ID is not a registered client.
            return Err(SourceError::UpstreamStatus {
                status: status.as_u16(),
                detail: format!(
                    "the token request was refused: {}",
                    http::error_detail(&body, &[&creds.password])
                ),
            });
        }
        Ok(Ok(BearerToken::from_body(&body)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn the_token_url_is_the_first_part_of_the_challenge() {
        let h = headers(&[
            "Bearer",
            r#"https://41.ccdev2015.internal/webauth/token,grant_type="urn:connect.auth:windows""#,
        ]);
        assert_eq!(
            token_url_from(&h).as_deref(),
            Some("https://41.ccdev2015.internal/webauth/token")
        );
        assert_eq!(token_url_from(&headers(&["Bearer realm=x"])), None);
    }

    #[test]
    fn ntlm_is_preferred_and_its_token_decoded() {
        let h = headers(&["Negotiate", "NTLM TlRMTVNTUAACAAAA"]);
        let (scheme, token) = windows_challenge(&h).unwrap();
        assert_eq!(scheme, "NTLM");
        assert_eq!(&token.unwrap()[..7], b"NTLMSSP");
        assert_eq!(
            windows_challenge(&headers(&["Negotiate"])).unwrap(),
            ("Negotiate", None)
        );
        assert_eq!(windows_challenge(&headers(&["Basic realm=x"])), None);
    }

    #[test]
    fn a_secret_that_is_not_the_json_never_echoes_it() {
        for raw in ["hunter2-plain", r#"{"username":"","password":"hunter2"}"#] {
            let Err(err) = Credentials::parse(SecretValue::new(raw), "id") else {
                panic!("refused")
            };
            assert!(!err.to_string().contains("hunter2"));
            assert_eq!(err.code(), "SECRET_UNAVAILABLE");
        }
    }

    #[test]
    fn the_first_ntlm_message_is_a_negotiate() {
        let creds = Credentials::parse(
            SecretValue::new(r#"{"username":"CORP\\svc-wallboard","password":"pw"}"#),
            "id",
        )
        .unwrap();
        let mut handshake = Handshake::new(&creds, "HTTP/connect".into()).unwrap();
        let negotiate = handshake.step(None).unwrap();
        assert_eq!(&negotiate[..8], b"NTLMSSP\0");
        assert_eq!(negotiate[8], 1, "message type 1");
    }
}
