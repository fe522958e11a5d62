//! Where Vertex AI's bearer token comes from: a static access token, or a token source (service
//! account, gcloud user credentials, metadata server) whose OAuth2 access token is cached until
//! five minutes before it expires, with only one refresh running at a time. `adc.rs` picks the
//! source; this module holds the cache and the token-endpoint plumbing the sources share.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::authorized_user::AuthorizedUser;
use super::metadata::MetadataServer;
use super::service_account::ServiceAccount;
use crate::credential::KeyRing;
use crate::http::{read_limited, transport_error, MAX_ERROR_BODY};
use crate::{ErrorKind, ProviderError, Secret};

/// The scope every Vertex AI call needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's OAuth2 token endpoint, unless a key file names another.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The lifetime assumed when a token answer names none; Google's usual one.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// A cached token is replaced this long before it expires, so no request carries a token that
/// expires on the way.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

pub enum Auth {
    Static(Secret),
    Refreshing(Refreshing),
}

/// Where a refreshable token is fetched from.
pub enum TokenSource {
    ServiceAccount(ServiceAccount),
    AuthorizedUser(AuthorizedUser),
    Metadata(MetadataServer),
}

impl TokenSource {
    /// A new access token and how long it lives.
    async fn fetch(&self, provider: &str) -> Result<(Secret, Duration), ProviderError> {
        match self {
            TokenSource::ServiceAccount(s) => s.fetch(provider).await,
            TokenSource::AuthorizedUser(u) => u.fetch(provider).await,
            TokenSource::Metadata(m) => m.token(provider).await,
        }
    }
}

/// A token source behind the cache.
pub struct Refreshing {
    source: TokenSource,
    cached: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

impl Refreshing {
    pub fn new(source: TokenSource) -> Self {
        Self { source, cached: Mutex::new(None) }
    }

    /// The cached token, or a new one when it is missing or about to expire. Callers queue on
    /// the lock while one of them refreshes, so a burst of requests makes one exchange.
    async fn token(&self, provider: &str) -> Result<Secret, ProviderError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.source.fetch(provider).await?;
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        *cached = Some(CachedToken { token: token.clone(), refresh_at });
        Ok(token)
    }

    /// Drops the cached token (after the upstream refused it), so the next call fetches a new one.
    async fn forget(&self, token: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == token) {
            *cached = None;
        }
    }
}

impl Auth {
    /// The bearer token for the next request.
    pub async fn token(&self, provider: &str) -> Result<Secret, ProviderError> {
        match self {
            Auth::Static(token) => Ok(token.clone()),
            Auth::Refreshing(source) => source.token(provider).await,
        }
    }

    /// The upstream answered 401 to `token`: a cached OAuth token is dropped (it may have been
    /// revoked); a static one cannot be replaced.
    pub async fn refused(&self, token: &Secret) {
        if let Auth::Refreshing(source) = self {
            source.forget(token).await;
        }
    }
}

/// What the token endpoint and the metadata server answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// An error of the token exchange named `what` (e.g. "the service-account token exchange").
pub fn failed(provider: &str, what: &str, kind: ErrorKind, detail: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(kind, format!("provider `{provider}`: {what} failed: {detail}"))
}

/// Posts an OAuth2 grant to a token endpoint and reads the access token it answers. `secrets`
/// are removed from anything the endpoint says back.
pub async fn exchange(
    client: &reqwest::Client,
    token_uri: &str,
    form: &[(&str, &str)],
    secrets: &[&Secret],
    provider: &str,
    what: &str,
) -> Result<(Secret, Duration), ProviderError> {
    let response = client.post(token_uri).form(form).send().await.map_err(|e| transport_error(provider, &e))?;
    let status = response.status();
    if !status.is_success() {
        let body = read_limited(response, MAX_ERROR_BODY).await;
        let reason = match serde_json::from_slice::<TokenError>(&body) {
            Ok(e) => format!("{} {}", e.error, e.error_description.unwrap_or_default()).trim().to_string(),
            Err(_) => String::new(),
        };
        let reason = KeyRing::new(secrets.iter().map(|s| (*s).clone()).collect()).redact(&reason);
        // The token endpoint's own outages may pass; refused credentials will not.
        let kind = if status.is_server_error() { ErrorKind::Server } else { ErrorKind::Auth };
        let mut err = failed(provider, what, kind, format!("HTTP {} {reason}", status.as_u16()).trim());
        err.status = Some(status.as_u16());
        return Err(err);
    }
    read_token_answer(response, provider, what).await
}

/// The access token and lifetime of a successful token answer.
pub async fn read_token_answer(response: reqwest::Response, provider: &str, what: &str) -> Result<(Secret, Duration), ProviderError> {
    let body = response.bytes().await.map_err(|e| transport_error(provider, &e))?;
    let answer: TokenAnswer =
        serde_json::from_slice(&body).map_err(|_| failed(provider, what, ErrorKind::Malformed, "the answer holds no access_token"))?;
    if answer.access_token.expose().is_empty() {
        return Err(failed(provider, what, ErrorKind::Malformed, "the access_token is empty"));
    }
    Ok((answer.access_token, answer.expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs)))
}

/// What is wrong with a credentials file, without serde's message: it can quote the input, which
/// here holds a private key or a refresh token.
pub fn json_problem(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "invalid JSON",
        serde_json::error::Category::Data => "missing or mistyped fields",
    }
}
