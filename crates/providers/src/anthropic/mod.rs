//! Anthropic Messages API adapter (`x-api-key`, `anthropic-version`): OpenAI requests are
//! translated through `translate::Conversation`, answers come back in OpenAI's shape.

mod convert;
pub(crate) mod stream;
#[cfg(test)]
mod tests;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::{NativeApi, RawObject};

use crate::credential::KeyRing;
use crate::error::retry_after;
use crate::http::{client, read_limited, transport_error, MAX_ERROR_BODY};
use crate::sse_stream::SseChunkStream;
use crate::translate::Conversation;
use crate::{ChatResponse, ErrorKind, Provider, ProviderError, Secret};

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const DEFAULT_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnthropicConfig {
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_keys: Vec<Secret>,
    /// `anthropic-version` header (default 2023-06-01).
    #[serde(default)]
    pub version: Option<String>,
    /// `anthropic-beta` flags.
    #[serde(default)]
    pub beta: Vec<String>,
    /// `max_tokens` when the client sets none (Anthropic requires it); default per model.
    #[serde(default)]
    pub default_max_tokens: Option<u64>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
}

pub struct Anthropic {
    name: String,
    url: reqwest::Url,
    version: String,
    beta: Option<String>,
    /// The config's override of the per-model default.
    default_max_tokens: Option<u64>,
    keys: KeyRing,
    models: Vec<String>,
    client: reqwest::Client,
}

impl Anthropic {
    pub fn new(name: &str, config: &AnthropicConfig) -> Result<Self, String> {
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL).trim_end_matches('/');
        let url = reqwest::Url::parse(&format!("{base}/v1/messages")).map_err(|e| format!("base_url `{base}` is not a valid URL: {e}"))?;
        Ok(Self {
            name: name.to_string(),
            url,
            version: config.version.clone().unwrap_or_else(|| DEFAULT_VERSION.into()),
            beta: (!config.beta.is_empty()).then(|| config.beta.join(",")),
            default_max_tokens: config.default_max_tokens,
            keys: KeyRing::from_settings(&config.api_key, &config.api_keys),
            models: config.models.clone(),
            client: client(config.connect_timeout.unwrap_or(Duration::from_secs(10))),
        })
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn kind(&self) -> &'static str {
        "anthropic"
    }

    fn models(&self) -> Vec<String> {
        self.models.clone()
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let (body, beta) = match native_body(request, model, true, self.default_max_tokens) {
            Some(native) => (native.to_bytes(), merge_betas(self.beta.as_deref(), request.native().and_then(|n| n.beta.as_deref()))),
            None => (
                serde_json::to_vec(&request_body(request, model, self.default_max_tokens)?).expect("request serialises"),
                self.beta.clone(),
            ),
        };
        let mut builder = self
            .client
            .post(self.url.clone())
            .header("anthropic-version", &self.version)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(beta) = beta {
            builder = builder.header("anthropic-beta", beta);
        }
        let key = self.keys.next().cloned();
        if let Some(key) = &key {
            builder = builder.header("x-api-key", key.expose());
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

/// The Messages body for `request` as a JSON object; `default_max_tokens` overrides the per-model
/// default. Anthropic models on Vertex AI take the same body, adjusted there.
pub(crate) fn request_body(
    request: &ChatRequest,
    model: &str,
    default_max_tokens: Option<u64>,
) -> Result<serde_json::Value, ProviderError> {
    let conversation = Conversation::from_request(request)?;
    let max_tokens = default_max_tokens.unwrap_or_else(|| convert::default_max_tokens(model));
    Ok(convert::to_wire(&conversation, model, request.stream(), max_tokens))
}

/// The client's own Messages request, when it came as one (`Native`): forwarded as it came, with
/// the gateway's `model` (left out when `!in_body`: Vertex's URL names it), `stream`, and
/// `max_tokens` (the client's, unless a cost cap lowered it; the per-model default when the
/// client set none). `None` for a request that must be translated.
pub(crate) fn native_body(request: &ChatRequest, model: &str, in_body: bool, default_max_tokens: Option<u64>) -> Option<RawObject> {
    let native = request.native().filter(|n| n.api == NativeApi::AnthropicMessages)?;
    let raw = |v: serde_json::Value| serde_json::value::to_raw_value(&v).expect("a JSON value serialises");
    let mut body = native.body.clone();
    if in_body {
        body.set("model", raw(model.into()));
    } else {
        body.take("model");
    }
    if request.stream() {
        body.set("stream", raw(true.into()));
    } else {
        body.take("stream");
    }
    let cap =
        ["max_tokens", "max_completion_tokens"].iter().find_map(|k| request.get::<Option<u64>>(k, "a number").ok().flatten().flatten());
    let default = || default_max_tokens.unwrap_or_else(|| convert::default_max_tokens(model));
    match cap {
        Some(max) => body.set("max_tokens", raw(max.into())),
        None if !body.contains("max_tokens") => body.set("max_tokens", raw(default().into())),
        None => {}
    }
    Some(body)
}

/// The configured `anthropic-beta` flags and the client's, each once.
pub(crate) fn merge_betas(configured: Option<&str>, client: Option<&str>) -> Option<String> {
    let mut flags: Vec<&str> = Vec::new();
    for flag in configured.into_iter().chain(client).flat_map(|s| s.split(',')).map(str::trim).filter(|f| !f.is_empty()) {
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    (!flags.is_empty()).then(|| flags.join(","))
}

/// Classifies a non-success answer; `redact` removes the credentials from upstream text.
pub(crate) async fn error_answer(response: reqwest::Response, redact: impl Fn(&str) -> String) -> ProviderError {
    let status = response.status().as_u16();
    let retry = retry_after(response.headers());
    let body = read_limited(response, MAX_ERROR_BODY).await;
    let mut err = ProviderError::from_http(status, &body, retry, redact);
    if let Some(kind) = err.upstream_type.as_deref() {
        if status < 500 || kind == "overloaded_error" {
            err.refine(stream::error_kind(kind));
        }
    }
    if err.kind == ErrorKind::BadRequest && err.message.contains("prompt is too long") {
        err.kind = ErrorKind::ContextLength;
    }
    err
}

/// A 200 body as a Message. Lenient about fields, strict about what it is: a body of another
/// shape (an OpenAI completion from a misconfigured base URL, `{}`, an error) is an upstream
/// failure, never an empty answer with no tokens.
fn message(provider: &str, body: &[u8]) -> Result<wire::MessageResponse, ProviderError> {
    let malformed = |what: String| {
        ProviderError::new(ErrorKind::Malformed, format!("provider `{provider}` answered with a body the gateway cannot read: {what}"))
    };
    let parsed: wire::MessageResponse = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    if let Some(error) = &parsed.error {
        let message = crate::credential::redact_key_shapes(&error.message);
        let mut err = ProviderError::new(ErrorKind::Server, format!("provider `{provider}`: {message}"));
        err.refine(stream::error_kind(&error.kind));
        return Err(err);
    }
    match (parsed.kind.as_deref(), &parsed.content) {
        (Some("message"), _) | (None, Some(_)) => Ok(parsed),
        (Some(other), _) => Err(malformed(format!("an object of type `{other}` instead of a message"))),
        (None, None) => Err(malformed("neither a message type nor content".into())),
    }
}

/// A successful answer in OpenAI's shape: the whole completion, or the stream of chunks.
pub(crate) async fn read_answer(
    provider: &str,
    model: &str,
    stream: bool,
    response: reqwest::Response,
) -> Result<ChatResponse, ProviderError> {
    if stream {
        let bytes = crate::http::body_stream(provider, response);
        let decoder = stream::AnthropicDecoder::new(provider, model, crate::unix_now());
        return Ok(ChatResponse::Stream(Box::pin(SseChunkStream::new(bytes, decoder))));
    }
    let body = response.bytes().await.map_err(|e| transport_error(provider, &e))?;
    complete_answer(provider, &body)
}

/// A whole Messages body (200) in OpenAI's shape; Claude on Bedrock's InvokeModel answers in it too.
pub(crate) fn complete_answer(provider: &str, body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let completion = convert::from_wire(message(provider, body)?, crate::unix_now());
    let usage = completion.usage;
    Ok(ChatResponse::Complete { body: completion.to_openai(), usage: Some(usage) })
}
