//! A Google service-account key (`gcloud iam service-accounts keys create`): an RS256-signed JWT
//! exchanged for an OAuth2 access token (RFC 7523 jwt-bearer grant).

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::auth::{exchange, failed, json_problem, SCOPE};
use crate::{ErrorKind, ProviderError, Secret};

pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime asked for in the JWT; Google's maximum.
const ASSERTION_LIFETIME: u64 = 3600;
const WHAT: &str = "the service-account token exchange";

/// The fields of a key file that the token exchange needs. `project_id` is also used when no
/// project is configured.
#[derive(Deserialize)]
pub struct ServiceAccountFile {
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
    /// Parses the key file read from `path`; errors name the file, never its content.
    pub fn parse(text: &[u8], path: &Path) -> Result<Self, String> {
        serde_json::from_slice(text).map_err(|e| {
            format!(
                "credentials file `{}` is not a service-account key (JSON with client_email and private_key): {}",
                path.display(),
                json_problem(&e)
            )
        })
    }
}

pub struct ServiceAccount {
    email: String,
    key: EncodingKey,
    key_id: Option<String>,
    token_uri: String,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

impl ServiceAccount {
    /// `default_token_uri` is used when the key file names none.
    pub fn new(file: ServiceAccountFile, default_token_uri: &str, client: reqwest::Client) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(file.private_key.expose().as_bytes())
            .map_err(|_| format!("the private key of service account `{}` is not an RSA key in PEM form", file.client_email))?;
        let token_uri = file.token_uri.filter(|u| !u.is_empty()).unwrap_or_else(|| default_token_uri.to_string());
        if reqwest::Url::parse(&token_uri).is_err() {
            return Err(format!("token_uri `{token_uri}` is not a valid URL"));
        }
        Ok(Self { email: file.client_email, key, key_id: file.private_key_id, token_uri, client })
    }

    /// The signed assertion for `now` (seconds since the epoch).
    pub fn assertion(&self, now: u64) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims { iss: &self.email, scope: SCOPE, aud: &self.token_uri, iat: now, exp: now + ASSERTION_LIFETIME };
        let header = Header { kid: self.key_id.clone(), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }

    pub async fn fetch(&self, provider: &str) -> Result<(Secret, Duration), ProviderError> {
        let now = crate::unix_now();
        let assertion =
            self.assertion(now).map_err(|e| failed(provider, WHAT, ErrorKind::Auth, format!("the JWT could not be signed: {e}")))?;
        exchange(&self.client, &self.token_uri, &[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion.as_str())], &[], provider, WHAT)
            .await
    }
}
