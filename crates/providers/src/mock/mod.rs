//! The built-in deterministic `mock` provider: echoes, answers tool calls, streams with configured
//! timing, embeds text (`embed.rs`) and injects errors. It serves the offline demo, the tests and
//! the benchmarks.

pub mod embed;
mod reply;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;
use switchyard_protocol::openai::{ChatRequest, RequestFormatError};

use crate::{ChatResponse, EmbeddingsResponse, ErrorKind, Provider, ProviderError};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// A fixed reply for every model but `echo`; without it every model echoes.
    #[serde(default)]
    pub text: Option<String>,
    /// Delay before a non-streamed answer, and before the first chunk unless `first_token` is set.
    #[serde(default, with = "humantime_serde")]
    pub latency: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub first_token: Option<Duration>,
    /// How many content chunks a streamed reply is cut into (default: one per word).
    #[serde(default)]
    pub chunks: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    pub chunk_delay: Option<Duration>,
    /// Injected failure: answer this HTTP status …
    #[serde(default)]
    pub error_status: Option<u16>,
    /// … on this fraction of requests (default 1.0 when `error_status` is set).
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// Models listed by `GET /v1/models` (default `echo`).
    #[serde(default)]
    pub models: Vec<String>,
}

impl MockConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(rate) = self.error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("error_rate must be between 0 and 1, got {rate}"));
            }
        }
        if let Some(status) = self.error_status {
            if !(400..=599).contains(&status) {
                return Err(format!("error_status must be an HTTP error status (400-599), got {status}"));
            }
        }
        if self.chunks == Some(0) {
            return Err("chunks must be at least 1".into());
        }
        Ok(())
    }
}

pub struct Mock {
    config: MockConfig,
    counter: AtomicU64,
}

impl Mock {
    pub fn new(config: MockConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Self { config, counter: AtomicU64::new(0) })
    }

    fn injected_error(&self) -> Option<ProviderError> {
        let status = self.config.error_status?;
        let rate = self.config.error_rate.unwrap_or(1.0);
        (fastrand::f64() < rate).then(|| {
            let body = format!(r#"{{"error":{{"message":"mock: injected HTTP {status}","type":"mock_error","param":null,"code":null}}}}"#);
            ProviderError::from_http(status, body.as_bytes(), (status == 429).then(|| Duration::from_secs(1)), |t| t.to_string())
        })
    }
}

#[async_trait]
impl Provider for Mock {
    fn kind(&self) -> &'static str {
        "mock"
    }

    fn free(&self) -> bool {
        true
    }

    fn models(&self) -> Vec<String> {
        if self.config.models.is_empty() {
            vec!["echo".into()]
        } else {
            self.config.models.clone()
        }
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let reply = reply::compose(request, model, self.config.text.as_deref()).map_err(bad_request)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let meta = reply::Meta { id: format!("chatcmpl-mock-{n}"), created: crate::unix_now(), model: model.to_string() };
        if request.stream() {
            let first = self.config.first_token.or(self.config.latency).unwrap_or_default();
            sleep(first).await;
            if let Some(err) = self.injected_error() {
                return Err(err);
            }
            let plan = stream::Plan { chunks: self.config.chunks, delay: self.config.chunk_delay.unwrap_or_default() };
            return Ok(ChatResponse::Stream(stream::chunks(reply, meta, plan)));
        }
        sleep(self.config.latency.unwrap_or_default()).await;
        if let Some(err) = self.injected_error() {
            return Err(err);
        }
        let usage = Some(reply.usage);
        Ok(ChatResponse::Complete { body: Bytes::from(reply.completion_json(&meta)), usage })
    }

    async fn embeddings(&self, body: &serde_json::Value, model: &str) -> Result<EmbeddingsResponse, ProviderError> {
        let (body, usage) = embed::answer(body, model).map_err(bad_request)?;
        sleep(self.config.latency.unwrap_or_default()).await;
        if let Some(err) = self.injected_error() {
            return Err(err);
        }
        Ok(EmbeddingsResponse { body: Bytes::from(body), usage })
    }
}

fn bad_request(e: RequestFormatError) -> ProviderError {
    ProviderError { param: e.param, ..ProviderError::new(ErrorKind::BadRequest, e.message) }
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}
