//! OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, …): the request goes out as the
//! client sent it (gateway fields removed, model replaced), the answer comes back as it is. A
//! Responses API request goes to `/responses` instead where the upstream speaks it (`responses.rs`).

pub mod azure;
pub mod flavors;
mod responses;
mod stream;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::IgnoredAny;
use serde::Deserialize;
use switchyard_protocol::openai::{ChatRequest, ErrorBody, OpenAiUsage};
use switchyard_protocol::Usage;

use crate::credential::KeyRing;
use crate::error::retry_after;
use crate::http::{client, read_limited, transport_error, MAX_ERROR_BODY};
use crate::sse_stream::SseChunkStream;
use crate::{ChatResponse, EmbeddingsResponse, ErrorKind, Provider, ProviderError, Secret};
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
    /// Whether the upstream speaks the Responses API (`{base}/responses`): a Responses request is
    /// then forwarded as it came instead of translated to chat completions. Default: on for the
    /// official `https://api.openai.com/v1` only (most compatible servers lack the endpoint).
    #[serde(default)]
    pub responses: Option<bool>,
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
    /// `{base}/responses`, when the upstream speaks the Responses API (see `responses.rs`).
    responses_url: Option<reqwest::Url>,
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
        let responses_url = match config.responses.unwrap_or(base == responses::OPENAI_BASE_URL) {
            true => {
                Some(reqwest::Url::parse(&format!("{base}/responses")).map_err(|e| format!("base_url `{base}` is not a valid URL: {e}"))?)
            }
            false => None,
        };
        Ok(Self {
            name: name.to_string(),
            kind: "openai",
            endpoint: Endpoint::Fixed(
                reqwest::Url::parse(&format!("{base}/chat/completions"))
                    .map_err(|e| format!("base_url `{base}` is not a valid URL: {e}"))?,
            ),
            responses_url,
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
            responses_url: None,
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

    fn tokenizer(&self) -> crate::Tokenizer {
        crate::Tokenizer::OpenAi
    }

    fn models(&self) -> Vec<String> {
        self.models.clone()
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        if let Some(url) = &self.responses_url {
            if let Some(body) = responses::native_body(request, self.endpoint.body_model(model)) {
                return self.respond(url.clone(), body, request.stream(), model).await;
            }
        }
        let url = self.url(model)?;
        let body = request.to_upstream_body(self.endpoint.body_model(model), self.stream_usage_option);
        let response = self.send(url, body).await?;
        if request.stream() {
            let body = crate::http::body_stream(&self.name, response);
            let decoder = stream::OpenAiDecoder::new(&self.name);
            return Ok(ChatResponse::Stream(Box::pin(SseChunkStream::new(body, decoder))));
        }
        let (body, usage) = self.read_json(response, Answer::Chat).await?;
        Ok(ChatResponse::Complete { body, usage })
    }

    async fn embeddings(&self, body: &serde_json::Value, model: &str) -> Result<EmbeddingsResponse, ProviderError> {
        let url = embeddings_url(self.url(model)?);
        let encoded = match self.endpoint.body_model(model) {
            renamed if renamed != model => {
                let mut body = body.clone();
                body["model"] = renamed.into();
                serde_json::to_vec(&body)
            }
            _ => serde_json::to_vec(body),
        };
        let body = encoded.map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("embeddings request cannot be encoded: {e}")))?;
        let response = self.send(url, body.into()).await?;
        let (body, usage) = self.read_json(response, Answer::Embeddings).await?;
        Ok(EmbeddingsResponse { body, usage: usage.unwrap_or_default() })
    }
}

impl OpenAi {
    /// A Responses request forwarded to `{base}/responses`, its answer made canonical.
    async fn respond(&self, url: reqwest::Url, body: Vec<u8>, stream: bool, model: &str) -> Result<ChatResponse, ProviderError> {
        let response = self.send(url, body.into()).await?;
        if stream {
            let body = crate::http::body_stream(&self.name, response);
            let decoder = responses::ResponsesDecoder::new(&self.name, model, crate::unix_now());
            return Ok(ChatResponse::Stream(Box::pin(SseChunkStream::new(body, decoder))));
        }
        let body = response.bytes().await.map_err(|e| transport_error(&self.name, &e))?;
        let (body, usage) = responses::completion(&self.name, &body, crate::unix_now())?;
        Ok(ChatResponse::Complete { body, usage: Some(usage) })
    }

    fn url(&self, model: &str) -> Result<reqwest::Url, ProviderError> {
        self.endpoint.url(model).map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("provider `{}`: {e}", self.name)))
    }

    /// POSTs a JSON body with the provider's headers and next key; a non-success answer becomes a
    /// classified error (and puts a refused or rate-limited key in cooldown).
    async fn send(&self, url: reqwest::Url, body: bytes::Bytes) -> Result<reqwest::Response, ProviderError> {
        let mut builder =
            self.client.post(url).headers(self.headers.clone()).header(http::header::CONTENT_TYPE, "application/json").body(body);
        let key = self.keys.next().cloned();
        if let Some(key) = &key {
            builder = match self.auth {
                Auth::Bearer => builder.bearer_auth(key.expose()),
                Auth::ApiKeyHeader => builder.header("api-key", key.expose()),
            };
        }
        let response = crate::http::send(&self.name, builder).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry = retry_after(response.headers());
        let body = read_limited(response, MAX_ERROR_BODY).await;
        let error = ProviderError::from_http(status.as_u16(), &body, retry, |t| self.keys.redact(t));
        if let Some(key) = &key {
            self.keys.report(key, &error);
        }
        Err(error)
    }

    /// A whole JSON answer and the usage in it; one pass validates the JSON, its shape and reads
    /// usage. The body is passed on as it is, so what is not an answer (`{}`, another API's body,
    /// an error sent with a 200) must fail here rather than reach the client as a 200.
    async fn read_json(&self, response: reqwest::Response, answer: Answer) -> Result<(bytes::Bytes, Option<Usage>), ProviderError> {
        let body = response.bytes().await.map_err(|e| transport_error(&self.name, &e))?;
        let malformed = |what: &str| ProviderError::new(ErrorKind::Malformed, format!("provider `{}` answered with {what}", self.name));
        let peek: AnswerPeek = serde_json::from_slice(&body).map_err(|_| malformed("a body that is not JSON"))?;
        if peek.error.is_some() {
            let upstream = ErrorBody::from_upstream(&body).map(|e| self.keys.redact(&e.message)).unwrap_or_default();
            return Err(ProviderError::new(ErrorKind::Server, format!("provider `{}` answered 200 with an error: {upstream}", self.name)));
        }
        let (field, present) = match answer {
            Answer::Chat => ("choices", peek.choices.is_some()),
            Answer::Embeddings => ("data", peek.data.is_some()),
        };
        if !present {
            return Err(malformed(&format!("a body without a `{field}` array")));
        }
        Ok((body, peek.usage.map(Into::into)))
    }
}

#[derive(Clone, Copy)]
enum Answer {
    Chat,
    Embeddings,
}

/// What the gateway reads of a whole answer without building it.
#[derive(Deserialize)]
struct AnswerPeek {
    #[serde(default)]
    usage: Option<OpenAiUsage>,
    #[serde(default)]
    choices: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    data: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// The embeddings URL next to a chat URL: `…/chat/completions` becomes `…/embeddings`, query kept
/// (OpenAI and compatibles `{base}/embeddings`, Azure `/openai/deployments/{d}/embeddings?api-version=…`
/// and `/openai/v1/embeddings`).
fn embeddings_url(mut chat: reqwest::Url) -> reqwest::Url {
    if let Ok(mut path) = chat.path_segments_mut() {
        path.pop().pop().push("embeddings");
    }
    chat
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
        assert_eq!(
            used,
            ["Bearer sk-first-key-000000", "Bearer sk-second-key-00000", "Bearer sk-second-key-00000", "Bearer sk-second-key-00000"]
        );
    }

    #[tokio::test]
    async fn a_200_body_that_is_not_a_completion_is_an_upstream_error_not_an_answer() {
        let anthropic = fixture_bytes("anthropic/text.json");
        let bodies: [(&[u8], ErrorKind); 6] = [
            (b"{}", ErrorKind::Malformed),
            (b"[]", ErrorKind::Malformed),
            (b"\"hello\"", ErrorKind::Malformed),
            (b"<html>hi</html>", ErrorKind::Malformed),
            (&anthropic, ErrorKind::Malformed),
            (br#"{"error":{"message":"Incorrect API key provided: sk-embed-key-0000000","code":"invalid_api_key"}}"#, ErrorKind::Server),
        ];
        let req = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        for (body, kind) in bodies {
            let up = FakeUpstream::start(vec![Reply::json(body.to_vec())]).await;
            let e = provider(up.base_url()).chat(&req, "gpt-4o").await.err().unwrap();
            assert_eq!(e.kind, kind, "{}", String::from_utf8_lossy(body));
            assert!(!e.message.contains("sk-embed-key"), "{}", e.message);
        }
        let up = FakeUpstream::start(vec![Reply::json(fixture_bytes("openai/text.json"))]).await;
        let body = serde_json::json!({"model": "text-embedding-3-small", "input": "hi"});
        let e = provider(up.base_url()).embeddings(&body, "text-embedding-3-small").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed, "a chat completion is not an embeddings answer");
    }

    #[tokio::test]
    async fn a_stream_of_events_that_are_not_chunks_is_an_error_not_an_empty_answer() {
        use futures_util::StreamExt;
        let up = FakeUpstream::start(vec![Reply::sse("data: {}\n\ndata: {\"type\":\"message_start\"}\n\ndata: [DONE]\n\n")]).await;
        let req = ChatRequest::parse(br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let Ok(ChatResponse::Stream(mut stream)) = provider(up.base_url()).chat(&req, "gpt-4o").await else { panic!("a stream") };
        let mut last = None;
        while let Some(item) = stream.next().await {
            last = Some(item);
        }
        assert_eq!(last.expect("an item").expect_err("the stream ends in an error").kind, ErrorKind::Malformed);
    }

    fn provider(base_url: String) -> OpenAi {
        OpenAi::new(
            "up",
            &OpenAiConfig { base_url: Some(base_url), api_key: Some(Secret::new("sk-embed-key-0000000")), ..OpenAiConfig::default() },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn embeddings_go_to_the_embeddings_url_and_recorded_answers_pass_through() {
        for (fixture, tokens) in [("openai/embeddings-float.json", 12), ("openai/embeddings-base64.json", 4)] {
            let up = FakeUpstream::start(vec![switchyard_testkit::fixture_reply(fixture)]).await;
            let request = switchyard_testkit::fixture_json("openai/embeddings-base64.request.json")["body"].clone();
            let answer = provider(up.base_url()).embeddings(&request, "text-embedding-3-small").await.unwrap();
            assert_eq!(answer.body, fixture_bytes(fixture), "{fixture}: the answer is passed on byte for byte");
            assert_eq!(answer.usage.input_tokens, tokens, "{fixture}");
            let sent = up.last_request();
            assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/v1/embeddings"));
            assert_eq!(sent.header("authorization"), Some("Bearer sk-embed-key-0000000"));
            assert_eq!(sent.header("content-type"), Some("application/json"));
            assert_eq!(sent.json(), request, "the recorded request goes out as given");
        }
    }

    #[tokio::test]
    async fn embeddings_failures_are_classified_like_chat() {
        let up = FakeUpstream::start(vec![switchyard_testkit::fixture_reply("openai/error-401-invalid-api-key.json")]).await;
        let body = serde_json::json!({"model": "text-embedding-3-small", "input": "hi"});
        let e = provider(up.base_url()).embeddings(&body, "text-embedding-3-small").await.unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(401)));
        assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
        let up = FakeUpstream::start(vec![Reply::json("not json")]).await;
        assert_eq!(provider(up.base_url()).embeddings(&body, "m").await.unwrap_err().kind, ErrorKind::Malformed);
    }

    #[tokio::test]
    async fn azure_embeddings_use_the_deployment_url() {
        let up = FakeUpstream::start(vec![switchyard_testkit::fixture_reply("openai/embeddings-float.json")]).await;
        let base = up.base_url().trim_end_matches("/v1").to_string();
        let config = AzureConfig { base_url: Some(base.clone()), api_key: Some(Secret::new("azure-key-123456789")), ..Default::default() };
        let body = serde_json::json!({"model": "text-embedding-3-small", "input": ["a", "b"]});
        OpenAi::azure("azure", &config).unwrap().embeddings(&body, "text-embedding-3-small").await.unwrap();
        let sent = up.last_request();
        assert_eq!(
            (sent.path.as_str(), sent.query.as_deref()),
            ("/openai/deployments/text-embedding-3-small/embeddings", Some("api-version=2024-10-21"))
        );
        assert_eq!(sent.header("api-key"), Some("azure-key-123456789"));
        let v1 = AzureConfig { base_url: Some(base), v1_api: true, ..Default::default() };
        OpenAi::azure("azure", &v1).unwrap().embeddings(&body, "text-embedding-3-small").await.unwrap();
        assert_eq!(up.last_request().path, "/openai/v1/embeddings");
    }
}
