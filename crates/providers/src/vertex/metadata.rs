//! The metadata server of Google's runtimes (Compute Engine, GKE, Cloud Run, Cloud Functions):
//! the attached service account's access token and the project id, the last resort of
//! application-default credentials. Only asked on first use, never at construction, and with a
//! short timeout: off Google Cloud there is no such server, and startup must not wait for it.

use std::time::Duration;

use super::auth::{failed, read_token_answer, SCOPE};
use crate::http::read_limited;
use crate::{ErrorKind, ProviderError, Secret};

/// Google's libraries read the host (with an optional port) from `GCE_METADATA_HOST`.
pub const HOST_VARIABLE: &str = "GCE_METADATA_HOST";
const DEFAULT_HOST: &str = "metadata.google.internal";
/// The server answers in milliseconds where it exists; where it does not, fail fast.
pub const TIMEOUT: Duration = Duration::from_secs(2);
const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
const PROJECT_PATH: &str = "/computeMetadata/v1/project/project-id";
const PROJECT_ID_MAX: usize = 256;

#[derive(Clone)]
pub struct MetadataServer {
    host: String,
    client: reqwest::Client,
}

impl MetadataServer {
    /// The server at `host` (`GCE_METADATA_HOST`), by default `metadata.google.internal`.
    pub fn new(host: Option<String>, client: reqwest::Client) -> Result<Self, String> {
        let host = host.unwrap_or_else(|| DEFAULT_HOST.to_string());
        match reqwest::Url::parse(&format!("http://{host}/")) {
            Ok(url) if url.path() == "/" && url.query().is_none() => Ok(Self { host, client }),
            _ => Err(format!("{HOST_VARIABLE} `{host}` is not a host name with an optional port")),
        }
    }

    /// The default service account's access token.
    pub async fn token(&self, provider: &str) -> Result<(Secret, Duration), ProviderError> {
        let what = "the metadata-server token request";
        let response = self.get(&format!("{TOKEN_PATH}?scopes={SCOPE}"), provider, what).await?;
        read_token_answer(response, provider, what).await
    }

    /// The project the runtime belongs to.
    pub async fn project_id(&self, provider: &str) -> Result<String, ProviderError> {
        let what = "the metadata-server project request";
        let response = self.get(PROJECT_PATH, provider, what).await?;
        let body = read_limited(response, PROJECT_ID_MAX + 1).await;
        match std::str::from_utf8(&body).map(str::trim) {
            Ok(id) if !id.is_empty() && body.len() <= PROJECT_ID_MAX => Ok(id.to_string()),
            _ => Err(failed(provider, what, ErrorKind::Malformed, "the answer is no project id")),
        }
    }

    /// A successful answer to `GET path`, or an Auth error that says no credentials were found.
    async fn get(&self, path: &str, provider: &str, what: &str) -> Result<reqwest::Response, ProviderError> {
        let url = format!("http://{}{path}", self.host);
        let sent = self.client.get(url).header("Metadata-Flavor", "Google").timeout(TIMEOUT).send().await;
        let response = sent.map_err(|e| {
            let why = if e.is_timeout() { format!("no answer within {}s", TIMEOUT.as_secs()) } else { "could not be reached".to_string() };
            failed(
                provider,
                what,
                ErrorKind::Auth,
                format!(
                    "no Google credentials found and the metadata server at `{}` {why} (outside Google Cloud, set access_token, \
                     credentials_file or GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`)",
                    self.host
                ),
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            // 404: no service account is attached to the instance.
            let kind = if status.is_server_error() { ErrorKind::Server } else { ErrorKind::Auth };
            let mut err = failed(provider, what, kind, format!("the metadata server at `{}` answered HTTP {}", self.host, status.as_u16()));
            err.status = Some(status.as_u16());
            return Err(err);
        }
        Ok(response)
    }
}
