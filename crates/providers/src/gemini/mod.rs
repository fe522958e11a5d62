//! Google AI Studio (Gemini API) adapter: generateContent / streamGenerateContent?alt=sse.
//! The OpenAI request is read through `translate::Conversation`, sent in Gemini's shape with the
//! key in `x-goog-api-key`, and the answer is written back in OpenAI's shape.

mod convert;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use switchyard_protocol::openai::ChatRequest;

use crate::credential::KeyRing;
use crate::error::retry_after;
use crate::http::{client, transport_error};
use crate::translate::Conversation;
use crate::{ChatResponse, ErrorKind, Provider, ProviderError, Secret};

const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// Upstream error bodies are read up to this size; the rest is not needed to classify them.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeminiConfig {
    /// Default `https://generativelanguage.googleapis.com`; `/v1beta/models/…` is appended.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_keys: Vec<Secret>,
    /// Models listed by `GET /v1/models` for this provider.
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
}

pub struct Gemini {
    name: String,
    /// Parsed once; each request only sets the path.
    base: reqwest::Url,
    keys: KeyRing,
    models: Vec<String>,
    client: reqwest::Client,
}

impl Gemini {
    pub fn new(name: &str, config: &GeminiConfig) -> Result<Self, String> {
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL).trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("base_url `{base}` must start with http:// or https://"));
        }
        // Accept a base URL copied with its API version.
        let base = base.strip_suffix("/v1beta").unwrap_or(base);
        let parsed = reqwest::Url::parse(base).map_err(|e| format!("base_url `{base}` is not a valid URL: {e}"))?;
        if parsed.query().is_some() {
            return Err(format!("base_url `{base}` must not carry a query"));
        }
        let mut keys: Vec<Secret> = config.api_key.iter().chain(&config.api_keys).cloned().collect();
        keys.retain(|k| !k.expose().is_empty());
        Ok(Self {
            name: name.to_string(),
            base: parsed,
            keys: KeyRing::new(keys),
            models: config.models.clone(),
            client: client(config.connect_timeout.unwrap_or(Duration::from_secs(10))),
        })
    }

    /// `{base}/v1beta/models/{model}:generateContent`, or the streaming method with `alt=sse`.
    fn url(&self, model: &str, stream: bool) -> reqwest::Url {
        let model = model.strip_prefix("models/").unwrap_or(model);
        let method = if stream { "streamGenerateContent" } else { "generateContent" };
        let mut url = self.base.clone();
        let path = format!("{}/v1beta/models/{model}:{method}", self.base.path().trim_end_matches('/'));
        url.set_path(&path);
        if stream {
            url.set_query(Some("alt=sse"));
        }
        url
    }
}

#[async_trait]
impl Provider for Gemini {
    fn kind(&self) -> &'static str {
        "gemini"
    }

    fn models(&self) -> Vec<String> {
        self.models.clone()
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let body = convert::to_wire(&Conversation::from_request(request)?)?;
        let body = serde_json::to_vec(&body).map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("request cannot be encoded: {e}")))?;
        let mut builder = self.client.post(self.url(model, request.stream())).header(http::header::CONTENT_TYPE, "application/json").body(body);
        if let Some(key) = self.keys.next() {
            builder = builder.header("x-goog-api-key", key.expose());
        }
        let response = builder.send().await.map_err(|e| transport_error(&self.name, &e))?;
        let status = response.status();
        if !status.is_success() {
            let retry = retry_after(response.headers());
            let body = read_limited(response, MAX_ERROR_BODY).await;
            return Err(convert::error_from_http(status.as_u16(), &body, retry, |t| self.keys.redact(t)));
        }
        if request.stream() {
            let name = self.name.clone();
            let body = response.bytes_stream().map_err(move |e| transport_error(&name, &e)).boxed();
            let decoder = stream::GeminiDecoder::new(&self.name, model, convert::unix_now());
            return Ok(ChatResponse::Stream(stream::chunk_stream(body, decoder)));
        }
        let body = response.bytes().await.map_err(|e| transport_error(&self.name, &e))?;
        let answer = serde_json::from_slice(&body).map_err(|e| {
            ProviderError::new(ErrorKind::Malformed, format!("provider `{}` answered with a body that is not a Gemini response: {e}", self.name))
        })?;
        let completion = convert::completion(answer, model, &self.name)?;
        Ok(ChatResponse::Complete { body: completion.to_openai(), usage: Some(completion.usage) })
    }
}

async fn read_limited(response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        out.extend_from_slice(&chunk[..chunk.len().min(limit - out.len())]);
        if out.len() >= limit {
            break;
        }
    }
    out
}
