//! Google Vertex AI adapter: Gemini models (`publishers/google`, generateContent) and Anthropic's
//! Claude models (`publishers/anthropic`, rawPredict) with an OAuth2 bearer token. Bodies, answers
//! and streams are Gemini's and Anthropic's own, so those modules translate them; this one routes
//! by model name, builds the URL and authenticates (`adc.rs` finds the credentials).
#![cfg(feature = "vertex")]

mod adc;
#[cfg(test)]
mod adc_tests;
mod auth;
mod authorized_user;
#[cfg(test)]
mod gemini_tests;
mod metadata;
mod service_account;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use switchyard_protocol::openai::ChatRequest;

use crate::credential::KeyRing;
use crate::http::client;
use crate::translate::{FetchPolicy, ImageFetcher};
use crate::{anthropic, gemini, ChatResponse, ErrorKind, Provider, ProviderError, Secret};
use auth::Auth;
use metadata::MetadataServer;

const DEFAULT_LOCATION: &str = "us-central1";
/// The `anthropic_version` Vertex requires in the body (it replaces the `anthropic-version` header).
const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VertexConfig {
    /// Google Cloud project id. Default: `GOOGLE_CLOUD_PROJECT`, `VERTEX_PROJECT`, then the
    /// service account's own `project_id`, or the metadata server's project when the token
    /// comes from there.
    #[serde(default)]
    pub project: Option<String>,
    /// Region such as `us-east5`, or `global`. Default `us-central1`.
    #[serde(default)]
    pub location: Option<String>,
    /// Replaces `https://{location}-aiplatform.googleapis.com` (or `https://aiplatform.googleapis.com`
    /// for `global`), e.g. for a proxy; `/v1/projects/…` is appended.
    #[serde(default)]
    pub base_url: Option<String>,
    /// A service-account key or gcloud user credentials (JSON). Default
    /// `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's `application_default_credentials.json`,
    /// then the metadata server (on Google Cloud).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// A ready OAuth2 access token, used as is instead of the credentials above (it is not
    /// refreshed, so mainly for tests and short-lived setups).
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// Models listed by `GET /v1/models` for this provider.
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// How remote image URLs are fetched for Gemini models (which need the bytes).
    #[serde(default)]
    pub image_fetch: Option<FetchPolicy>,
}

/// `value` if it is a valid project or location name (it becomes a URL path segment).
fn valid_name(what: &str, value: String) -> Result<String, String> {
    if value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) {
        Ok(value)
    } else {
        Err(format!("{what} `{value}` is not a valid Google Cloud {what} name"))
    }
}

/// Which model family a request goes to; each publisher has its own methods and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publisher {
    Google,
    Anthropic,
}

impl Publisher {
    /// Claude models are served by the `anthropic` publisher; everything else by `google`.
    fn of(model: &str) -> Self {
        let m = model.to_ascii_lowercase();
        if m.starts_with("claude-") || m.contains("claude") || m.contains("anthropic") {
            Publisher::Anthropic
        } else {
            Publisher::Google
        }
    }
}

/// The project requests go to: named in the settings, or asked from the metadata server once.
enum Project {
    Named(String),
    FromMetadata(MetadataServer, tokio::sync::OnceCell<String>),
}

pub struct Vertex {
    name: String,
    /// `https://{host}`; each request appends `/v1/projects/{project}/locations/{location}/…`.
    base: String,
    project: Project,
    location: String,
    auth: Auth,
    /// `x-goog-user-project`, which user credentials need to name the project billed.
    quota_project: Option<http::HeaderValue>,
    models: Vec<String>,
    client: reqwest::Client,
    images: ImageFetcher,
}

impl Vertex {
    /// Reads missing settings and credentials from the process environment.
    pub fn new(name: &str, config: &VertexConfig) -> Result<Self, String> {
        Self::with_env(name, config, &|k| std::env::var(k).ok())
    }

    /// Like `new`, with the environment read through `get`.
    pub fn with_env(name: &str, config: &VertexConfig, get: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let env = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let client = client(config.connect_timeout.unwrap_or(Duration::from_secs(10)));
        let credentials = adc::discover(config, &env, &client)?;
        let named =
            nonempty(&config.project).or_else(|| env("GOOGLE_CLOUD_PROJECT")).or_else(|| env("VERTEX_PROJECT")).or(credentials.project);
        let project = match (named, credentials.metadata) {
            (Some(project), _) => Project::Named(valid_name("project", project)?),
            (None, Some(server)) => Project::FromMetadata(server, tokio::sync::OnceCell::new()),
            (None, None) => return Err("no project: set project (or GOOGLE_CLOUD_PROJECT / VERTEX_PROJECT)".to_string()),
        };
        let location = valid_name("location", nonempty(&config.location).unwrap_or_else(|| DEFAULT_LOCATION.to_string()))?;
        let quota_project = credentials
            .quota_project
            .map(|p| {
                http::HeaderValue::from_str(&p).map_err(|_| format!("quota_project_id `{p}` is not a valid Google Cloud project name"))
            })
            .transpose()?;
        let base = match &config.base_url {
            Some(b) => b.trim_end_matches('/').trim_end_matches("/v1").to_string(),
            None if location == "global" => "https://aiplatform.googleapis.com".to_string(),
            None => format!("https://{location}-aiplatform.googleapis.com"),
        };
        if !(base.starts_with("http://") || base.starts_with("https://")) || reqwest::Url::parse(&base).is_err() {
            return Err(format!("base_url `{base}` must be an http:// or https:// URL"));
        }
        Ok(Self {
            name: name.to_string(),
            base,
            project,
            location,
            auth: credentials.auth,
            quota_project,
            models: config.models.clone(),
            client,
            images: ImageFetcher::new(config.image_fetch.clone().unwrap_or_default())?,
        })
    }

    /// The configured project, or the metadata server's (asked once; a failure is asked again).
    async fn project(&self) -> Result<&str, ProviderError> {
        match &self.project {
            Project::Named(project) => Ok(project),
            Project::FromMetadata(server, id) => {
                let fetch = || async {
                    let id = server.project_id(&self.name).await?;
                    valid_name("project", id).map_err(|e| {
                        ProviderError::new(ErrorKind::Malformed, format!("provider `{}`: the metadata server's {e}", self.name))
                    })
                };
                id.get_or_try_init(fetch).await.map(String::as_str)
            }
        }
    }

    /// `…/publishers/google/models/{model}:generateContent` (`:streamGenerateContent?alt=sse`), or
    /// `…/publishers/anthropic/models/{model}:rawPredict` (`:streamRawPredict`).
    fn url(&self, project: &str, publisher: Publisher, model: &str, stream: bool) -> Result<reqwest::Url, ProviderError> {
        // The model is a path segment: anything that could leave it (`/`, `?`, `#`, `..`) is refused.
        if model.is_empty() || model.contains("..") || !model.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
            return Err(ProviderError::new(ErrorKind::BadRequest, format!("model `{model}` is not a valid Vertex AI model name")));
        }
        let (publisher, method) = match (publisher, stream) {
            (Publisher::Google, false) => ("google", "generateContent"),
            (Publisher::Google, true) => ("google", "streamGenerateContent?alt=sse"),
            (Publisher::Anthropic, false) => ("anthropic", "rawPredict"),
            (Publisher::Anthropic, true) => ("anthropic", "streamRawPredict"),
        };
        let url = format!("{}/v1/projects/{project}/locations/{}/publishers/{publisher}/models/{model}:{method}", self.base, self.location);
        reqwest::Url::parse(&url)
            .map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("model `{model}` gives no valid Vertex AI URL: {e}")))
    }

    /// The publisher's request body as JSON bytes.
    async fn body(&self, publisher: Publisher, request: &ChatRequest, model: &str) -> Result<Vec<u8>, ProviderError> {
        match publisher {
            Publisher::Google => gemini::request_body(request, &self.images).await,
            Publisher::Anthropic => {
                // Vertex names the model in the URL, the API version and betas in the body.
                if let Some(mut native) = anthropic::native_body(request, model, false, None) {
                    native.set("anthropic_version", serde_json::value::to_raw_value(ANTHROPIC_VERSION).expect("a string serialises"));
                    if let Some(beta) = anthropic::merge_betas(None, request.native().and_then(|n| n.beta.as_deref())) {
                        let flags: Vec<&str> = beta.split(',').collect();
                        native.set("anthropic_beta", serde_json::value::to_raw_value(&flags).expect("strings serialise"));
                    }
                    return Ok(native.to_bytes());
                }
                let mut body = anthropic::request_body(request, model, None)?;
                if let Some(fields) = body.as_object_mut() {
                    fields.remove("model");
                    fields.insert("anthropic_version".into(), json!(ANTHROPIC_VERSION));
                }
                serde_json::to_vec(&body).map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("request cannot be encoded: {e}")))
            }
        }
    }

    /// A successful answer, read in the publisher's own format.
    async fn read_answer(
        &self,
        publisher: Publisher,
        model: &str,
        stream: bool,
        response: reqwest::Response,
    ) -> Result<ChatResponse, ProviderError> {
        match publisher {
            Publisher::Google => gemini::read_answer(&self.name, model, stream, response).await,
            Publisher::Anthropic => anthropic::read_answer(&self.name, model, stream, response).await,
        }
    }
}

#[async_trait]
impl Provider for Vertex {
    fn kind(&self) -> &'static str {
        "vertex"
    }

    fn models(&self) -> Vec<String> {
        self.models.clone()
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let publisher = Publisher::of(model);
        let url = self.url(self.project().await?, publisher, model, request.stream())?;
        let body = self.body(publisher, request, model).await?;
        let token = self.auth.token(&self.name).await?;
        let mut outgoing = self.client.post(url).header(http::header::CONTENT_TYPE, "application/json").bearer_auth(token.expose());
        if let Some(quota_project) = &self.quota_project {
            outgoing = outgoing.header("x-goog-user-project", quota_project.clone());
        }
        let response = crate::http::send(&self.name, outgoing.body(body)).await?;
        let status = response.status();
        if !status.is_success() {
            if status == http::StatusCode::UNAUTHORIZED {
                self.auth.refused(&token).await;
            }
            let keys = KeyRing::new(vec![token]);
            let redact = |t: &str| keys.redact(t);
            return Err(match publisher {
                Publisher::Google => gemini::error_answer(response, redact).await,
                Publisher::Anthropic => anthropic::error_answer(response, redact).await,
            });
        }
        self.read_answer(publisher, model, request.stream(), response).await
    }
}
