//! Where Vertex AI's bearer token comes from: a static access token, or a Google service account
//! whose RS256-signed JWT is exchanged for an OAuth2 access token (RFC 7523 jwt-bearer grant).
//! The token is cached until five minutes before it expires, and only one refresh runs at a time.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::credential::redact_key_shapes;
use crate::http::{read_limited, transport_error, MAX_ERROR_BODY};
use crate::{ErrorKind, ProviderError, Secret};

/// The scope every Vertex AI call needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Lifetime asked for in the JWT; Google's maximum.
const ASSERTION_LIFETIME: u64 = 3600;
/// A cached token is replaced this long before it expires, so no request carries a token that
/// expires on the way.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

pub enum Auth {
    Static(Secret),
    ServiceAccount(ServiceAccount),
}

/// The fields of a service-account key file (`gcloud iam service-accounts keys create`) that the
/// token exchange needs. `project_id` is also used when no project is configured.
#[derive(Deserialize)]
pub struct ServiceAccountFile {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    client_email: String,
    private_key: Secret,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

impl ServiceAccountFile {
    /// Reads and parses the key file; errors name the file, never its content.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path).map_err(|e| format!("credentials file `{}` cannot be read: {e}", path.display()))?;
        let file: Self = serde_json::from_slice(&text).map_err(|e| {
            format!("credentials file `{}` is not a service-account key (JSON with client_email and private_key): {}", path.display(), json_problem(&e))
        })?;
        match file.kind.as_deref() {
            None | Some("service_account") => Ok(file),
            // `gcloud auth application-default login` writes user credentials, which need a
            // different (refresh-token) flow.
            Some(other) => Err(format!("credentials file `{}` holds `{other}` credentials; only service-account keys are supported", path.display())),
        }
    }
}

/// What is wrong with a key file, without serde's message: it can quote the input, which here
/// holds a private key.
fn json_problem(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "invalid JSON",
        serde_json::error::Category::Data => "missing or mistyped fields",
    }
}

pub struct ServiceAccount {
    email: String,
    key: EncodingKey,
    key_id: Option<String>,
    token_uri: String,
    client: reqwest::Client,
    cached: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

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

impl ServiceAccount {
    pub fn new(file: ServiceAccountFile, client: reqwest::Client) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(file.private_key.expose().as_bytes())
            .map_err(|_| format!("the private key of service account `{}` is not an RSA key in PEM form", file.client_email))?;
        let token_uri = file.token_uri.filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        if reqwest::Url::parse(&token_uri).is_err() {
            return Err(format!("token_uri `{token_uri}` is not a valid URL"));
        }
        Ok(Self { email: file.client_email, key, key_id: file.private_key_id, token_uri, client, cached: Mutex::new(None) })
    }

    /// The cached token, or a new one when it is missing or about to expire. Callers queue on
    /// the lock while one of them refreshes, so a burst of requests makes one exchange.
    async fn token(&self, provider: &str) -> Result<Secret, ProviderError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.exchange(provider).await?;
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        *cached = Some(CachedToken { token: token.clone(), refresh_at });
        Ok(token)
    }

    /// The signed assertion for `now` (seconds since the epoch).
    pub fn assertion(&self, now: u64) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims { iss: &self.email, scope: SCOPE, aud: &self.token_uri, iat: now, exp: now + ASSERTION_LIFETIME };
        let header = Header { kid: self.key_id.clone(), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }

    async fn exchange(&self, provider: &str) -> Result<(Secret, Duration), ProviderError> {
        let failed = |kind, what: String| ProviderError::new(kind, format!("provider `{provider}`: the service-account token exchange failed: {what}"));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let assertion = self.assertion(now).map_err(|e| failed(ErrorKind::Auth, format!("the JWT could not be signed: {e}")))?;
        let response = self
            .client
            .post(&self.token_uri)
            .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion.as_str())])
            .send()
            .await
            .map_err(|e| transport_error(provider, &e))?;
        let status = response.status();
        if !status.is_success() {
            let body = read_limited(response, MAX_ERROR_BODY).await;
            let reason = match serde_json::from_slice::<TokenError>(&body) {
                Ok(e) => format!("{} {}", e.error, e.error_description.unwrap_or_default()).trim().to_string(),
                Err(_) => String::new(),
            };
            // The token endpoint's own outages may pass; a refused key will not.
            let kind = if status.is_server_error() { ErrorKind::Server } else { ErrorKind::Auth };
            let mut err = failed(kind, format!("HTTP {} {}", status.as_u16(), redact_key_shapes(&reason)).trim().to_string());
            err.status = Some(status.as_u16());
            return Err(err);
        }
        let body = response.bytes().await.map_err(|e| transport_error(provider, &e))?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| failed(ErrorKind::Malformed, "the answer holds no access_token".into()))?;
        if answer.access_token.expose().is_empty() {
            return Err(failed(ErrorKind::Malformed, "the access_token is empty".into()));
        }
        Ok((answer.access_token, Duration::from_secs(answer.expires_in.unwrap_or(ASSERTION_LIFETIME))))
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
            Auth::ServiceAccount(account) => account.token(provider).await,
        }
    }

    /// The upstream answered 401 to `token`: a cached OAuth token is dropped (it may have been
    /// revoked); a static one cannot be replaced.
    pub async fn refused(&self, token: &Secret) {
        if let Auth::ServiceAccount(account) = self {
            account.forget(token).await;
        }
    }
}
