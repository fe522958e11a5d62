//! Google AI Studio (Gemini API) adapter: generateContent / streamGenerateContent?alt=sse.
//! The OpenAI request is read through `translate::Conversation`, sent in Gemini's shape with the
//! key in `x-goog-api-key`, and the answer is written back in OpenAI's shape.

mod convert;
mod partial_args;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use switchyard_protocol::openai::ChatRequest;

use crate::credential::KeyRing;
use crate::error::retry_after;
use crate::http::{client, read_limited, transport_error, MAX_ERROR_BODY};
use crate::translate::{inline_remote_images, Conversation, FetchPolicy, ImageFetcher};
use crate::{ChatResponse, ErrorKind, Provider, ProviderError, Secret};

const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

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
    /// How http(s) image URLs are downloaded and sent inline (`fileData` only takes some URLs).
    #[serde(default)]
    pub image_fetch: Option<FetchPolicy>,
}

pub struct Gemini {
    name: String,
    /// Parsed once; each request only sets the path.
    base: reqwest::Url,
    keys: KeyRing,
    models: Vec<String>,
    client: reqwest::Client,
    images: ImageFetcher,
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
        Ok(Self {
            name: name.to_string(),
            base: parsed,
            keys: KeyRing::from_settings(&config.api_key, &config.api_keys),
            models: config.models.clone(),
            client: client(config.connect_timeout.unwrap_or(Duration::from_secs(10))),
            images: ImageFetcher::new(config.image_fetch.clone().unwrap_or_default())?,
        })
    }

    /// `{base}/v1beta/models/{model}:generateContent`, or the streaming method with `alt=sse`.
    /// The model is one opaque path segment: it never reaches outside the base URL.
    fn url(&self, model: &str, stream: bool) -> Result<reqwest::Url, ProviderError> {
        let model = crate::http::path_segment(&self.name, model.strip_prefix("models/").unwrap_or(model))?;
        let method = if stream { "streamGenerateContent" } else { "generateContent" };
        let mut url = self.base.clone();
        let path = format!("{}/v1beta/models/{model}:{method}", self.base.path().trim_end_matches('/'));
        url.set_path(&path);
        if stream {
            url.set_query(Some("alt=sse"));
        }
        Ok(url)
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
        let body = request_body(request, &self.images).await?;
        let mut builder =
            self.client.post(self.url(model, request.stream())?).header(http::header::CONTENT_TYPE, "application/json").body(body);
        let key = self.keys.next().cloned();
        if let Some(key) = &key {
            builder = builder.header("x-goog-api-key", key.expose());
        }
        let response = crate::http::send(&self.name, builder).await?;
        if !response.status().is_success() {
            let error = error_answer(response, |t| self.keys.redact(t)).await;
            if let Some(key) = &key {
                self.keys.report(key, &error);
            }
            return Err(error);
        }
        read_answer(&self.name, model, request.stream(), response).await
    }
}

/// The `generateContent` body for `request`, remote images fetched and inlined. Vertex AI's
/// Gemini models take the same body.
pub(crate) async fn request_body(request: &ChatRequest, images: &ImageFetcher) -> Result<Vec<u8>, ProviderError> {
    let mut conversation = Conversation::from_request(request)?;
    inline_remote_images(&mut conversation, images).await?;
    let body = convert::to_wire(&conversation)?;
    serde_json::to_vec(&body).map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("request cannot be encoded: {e}")))
}

/// Classifies a non-success answer; `redact` removes the credentials from upstream text.
pub(crate) async fn error_answer(response: reqwest::Response, redact: impl Fn(&str) -> String) -> ProviderError {
    let status = response.status();
    let retry = retry_after(response.headers());
    let body = read_limited(response, MAX_ERROR_BODY).await;
    convert::error_from_http(status.as_u16(), &body, retry, redact)
}

/// A successful answer in OpenAI's shape: the whole completion, or the stream of chunks.
pub(crate) async fn read_answer(
    provider: &str,
    model: &str,
    stream: bool,
    response: reqwest::Response,
) -> Result<ChatResponse, ProviderError> {
    if stream {
        let body = crate::http::body_stream(provider, response);
        let decoder = stream::GeminiDecoder::new(provider, model, crate::unix_now());
        return Ok(ChatResponse::Stream(stream::chunk_stream(body, decoder)));
    }
    let body = response.bytes().await.map_err(|e| transport_error(provider, &e))?;
    let answer = serde_json::from_slice(&body).map_err(|e| {
        ProviderError::new(ErrorKind::Malformed, format!("provider `{provider}` answered with a body that is not a Gemini response: {e}"))
    })?;
    let completion = convert::completion(answer, model, provider)?;
    Ok(ChatResponse::Complete { body: completion.to_openai(), usage: Some(completion.usage) })
}
