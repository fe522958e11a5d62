//! gcloud user credentials (`gcloud auth application-default login` writes them): an OAuth2
//! refresh token exchanged for an access token (refresh_token grant, RFC 6749 §6).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::auth::{exchange, json_problem};
use crate::{ProviderError, Secret};

const WHAT: &str = "the user-credentials token refresh";

#[derive(Deserialize)]
pub struct AuthorizedUserFile {
    client_id: String,
    client_secret: Secret,
    refresh_token: Secret,
    /// The project billed for quota (sent as `x-goog-user-project`), which user credentials
    /// need for Vertex AI.
    #[serde(default)]
    pub quota_project_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

impl AuthorizedUserFile {
    /// Parses the file read from `path`; errors name the file, never its content.
    pub fn parse(text: &[u8], path: &Path) -> Result<Self, String> {
        serde_json::from_slice(text).map_err(|e| {
            format!(
                "credentials file `{}` is not gcloud user credentials (JSON with client_id, client_secret and refresh_token): {}",
                path.display(),
                json_problem(&e)
            )
        })
    }
}

pub struct AuthorizedUser {
    client_id: String,
    client_secret: Secret,
    refresh_token: Secret,
    token_uri: String,
    client: reqwest::Client,
}

impl AuthorizedUser {
    /// `default_token_uri` is used when the file names none (gcloud's files do not).
    pub fn new(file: AuthorizedUserFile, default_token_uri: &str, client: reqwest::Client) -> Result<Self, String> {
        let token_uri = file.token_uri.filter(|u| !u.is_empty()).unwrap_or_else(|| default_token_uri.to_string());
        if reqwest::Url::parse(&token_uri).is_err() {
            return Err(format!("token_uri `{token_uri}` is not a valid URL"));
        }
        Ok(Self { client_id: file.client_id, client_secret: file.client_secret, refresh_token: file.refresh_token, token_uri, client })
    }

    pub async fn fetch(&self, provider: &str) -> Result<(Secret, Duration), ProviderError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("refresh_token", self.refresh_token.expose()),
        ];
        exchange(&self.client, &self.token_uri, &form, &[&self.client_secret, &self.refresh_token], provider, WHAT).await
    }
}
