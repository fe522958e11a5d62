//! OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, …): the request goes out as the
//! client sent it (gateway fields removed, model replaced), the answer comes back as it is.

pub mod azure;
pub mod flavors;
mod stream;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use switchyard_protocol::openai::{ChatRequest, ChunkPeek};

use crate::credential::KeyRing;
use crate::error::retry_after;
use crate::http::{client, read_limited, transport_error, MAX_ERROR_BODY};
use crate::sse_stream::SseChunkStream;
use crate::{ChatResponse, ErrorKind, Provider, ProviderError, Secret};
pub use azure::AzureConfig;
use azure::Endpoint;
pub use flavors::Flavor;


#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// A row of the flavor table (`groq`, `ollama`, …); default `openai`.
    #[serde(default)]
    pub flavor: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_keys: Vec<Secret>,
    /// Extra headers sent upstream (organisation, project, vendor routing headers).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Models listed by `GET /v1/models` for this provider.
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
}

impl OpenAiConfig {
    pub fn flavor(&self) -> Result<&'static Flavor, String> {
        let name = self.flavor.as_deref().unwrap_or("openai");
        flavors::find(name).ok_or_else(|| format!("unknown flavor `{name}`; expected one of: {}", flavors::names().join(", ")))
    }
}

/// How the key travels: `Authorization: Bearer` (OpenAI and most compatibles) or Azure's
/// `api-key` header.
#[derive(Debug, Clone, Copy)]
enum Auth {
    Bearer,
    ApiKeyHeader,
}

pub struct OpenAi {
    name: String,
    kind: &'static str,
    /// URLs are parsed once: parsing (with IDNA) on every request showed in the benchmark profile.
    endpoint: Endpoint,
    auth: Auth,
    stream_usage_option: bool,
    keys: KeyRing,
    headers: http::HeaderMap,
    models: Vec<String>,
    client: reqwest::Client,
}

impl OpenAi {
    pub fn new(name: &str, config: &OpenAiConfig) -> Result<Self, String> {
        let flavor = config.flavor()?;
        let base = config.base_url.as_deref().unwrap_or(flavor.base_url).trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("base_url `{base}` must start with http:// or https://"));
        }
        let mut headers = http::HeaderMap::new();
        for (k, v) in &config.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("header name `{k}` is not valid"))?;
            let value = http::HeaderValue::from_str(v).map_err(|_| format!("header `{k}` has a value that is not valid"))?;
            headers.insert(name, value);
        }
        Ok(Self {
            name: name.to_string(),
            kind: "openai",
            endpoint: Endpoint::Fixed(
                reqwest::Url::parse(&format!("{base}/chat/completions")).map_err(|e| format!("base_url `{base}` is not a valid URL: {e}"))?,
            ),
            auth: Auth::Bearer,
            stream_usage_option: flavor.stream_usage_option,
            keys: KeyRing::from_settings(&config.api_key, &config.api_keys),
            headers,
            models: config.models.clone(),
            client: client(config.connect_timeout.unwrap_or(Duration::from_secs(10))),
        })
    }

    /// Azure OpenAI: the same wire format with Azure's URLs and `api-key` header.
    pub fn azure(name: &str, config: &AzureConfig) -> Result<Self, String> {
        Ok(Self {
            name: name.to_string(),
            kind: "azure",
            endpoint: config.endpoint()?,
            auth: Auth::ApiKeyHeader,
            stream_usage_option: true,
            keys: KeyRing::from_settings(&config.api_key, &config.api_keys),
            headers: http::HeaderMap::new(),
            models: config.models.clone(),
            client: client(config.connect_timeout.unwrap_or(Duration::from_secs(10))),
        })
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn models(&self) -> Vec<String> {
        self.models.clone()
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let body = request.to_upstream_body(model, self.stream_usage_option);
        let url = self.endpoint.url(model).map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("provider `{}`: {e}", self.name)))?;
        let mut builder = self
            .client
            .post(url)
            .headers(self.headers.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        let key = self.keys.next().cloned();
        if let Some(key) = &key {
            builder = match self.auth {
                Auth::Bearer => builder.bearer_auth(key.expose()),
                Auth::ApiKeyHeader => builder.header("api-key", key.expose()),
            };
        }
        let response = builder.send().await.map_err(|e| transport_error(&self.name, &e))?;
        let status = response.status();
        if !status.is_success() {
            let retry = retry_after(response.headers());
            let body = read_limited(response, MAX_ERROR_BODY).await;
            let error = ProviderError::from_http(status.as_u16(), &body, retry, |t| self.keys.redact(t));
            if let Some(key) = &key {
                self.keys.report(key, &error);
            }
            return Err(error);
        }
        if request.stream() {
            let name = self.name.clone();
            let body = response.bytes_stream().map_err(move |e| transport_error(&name, &e)).boxed();
            let decoder = stream::OpenAiDecoder::new(&self.name);
            return Ok(ChatResponse::Stream(Box::pin(SseChunkStream::new(body, decoder))));
        }
        let body = response.bytes().await.map_err(|e| transport_error(&self.name, &e))?;
        // One pass: validates the JSON and reads usage.
        let peek: ChunkPeek = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::new(ErrorKind::Malformed, format!("provider `{}` answered with a body that is not JSON", self.name)))?;
        Ok(ChatResponse::Complete { body, usage: peek.usage.map(Into::into) })
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_testkit::{fixture_bytes, FakeUpstream, Reply};

    #[tokio::test]
    async fn a_refused_key_sits_out_and_the_next_key_serves() {
        let up = FakeUpstream::start(vec![
            Reply::openai_error(401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
            Reply::json(fixture_bytes("openai/text.json")),
        ])
        .await;
        let config = OpenAiConfig {
            base_url: Some(up.base_url()),
            api_keys: vec![Secret::new("sk-first-key-000000"), Secret::new("sk-second-key-00000")],
            ..OpenAiConfig::default()
        };
        let p = OpenAi::new("up", &config).unwrap();
        let req = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(p.chat(&req, "gpt-4o").await.err().unwrap().kind, ErrorKind::Auth);
        for _ in 0..3 {
            assert!(p.chat(&req, "gpt-4o").await.is_ok());
        }
        let used: Vec<String> = up.requests().iter().map(|r| r.header("authorization").unwrap_or("").to_string()).collect();
        assert_eq!(used, ["Bearer sk-first-key-000000", "Bearer sk-second-key-00000", "Bearer sk-second-key-00000", "Bearer sk-second-key-00000"]);
    }
}
