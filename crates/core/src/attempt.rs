//! Step `attempt`: one call to one target under its deadlines. For streams it waits for the first
//! chunk before answering, so a failure before any content is still an ordinary HTTP error.

use bytes::Bytes;
use futures_util::StreamExt;
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::Usage;
use switchyard_providers::{ChatResponse, Chunk, ChunkStream, ErrorKind, ProviderError};
use tokio::time::Instant;

use crate::route::{Target, Timeouts};

pub enum Outcome {
    Complete { body: Bytes, usage: Option<Usage> },
    /// `first` is `None` when the upstream finished a stream without sending a single chunk.
    Stream { first: Option<Chunk>, rest: ChunkStream, deadline: Instant },
}

pub async fn attempt(target: &Target, request: &ChatRequest, timeouts: &Timeouts, started: Instant) -> Result<Outcome, ProviderError> {
    let deadline = started + timeouts.total;
    let first_deadline = deadline.min(started + timeouts.first_token);
    let timed_out = || ProviderError::new(ErrorKind::Timeout, format!("provider `{}` did not answer in time", target.provider_name));
    if !request.stream() {
        let response = tokio::time::timeout_at(deadline, target.provider.chat(request, &target.model)).await.map_err(|_| timed_out())??;
        return match response {
            ChatResponse::Complete { body, usage } => Ok(Outcome::Complete { body, usage }),
            ChatResponse::Stream(_) => Err(ProviderError::new(ErrorKind::Malformed, "provider streamed an answer to a non-streamed request")),
        };
    }
    let first = async {
        match target.provider.chat(request, &target.model).await? {
            ChatResponse::Stream(mut rest) => {
                let first = rest.next().await.transpose()?;
                Ok((first, rest))
            }
            ChatResponse::Complete { .. } => Err(ProviderError::new(ErrorKind::Malformed, "provider answered a stream request without streaming")),
        }
    };
    let (first, rest) = tokio::time::timeout_at(first_deadline, first).await.map_err(|_| timed_out())??;
    Ok(Outcome::Stream { first, rest, deadline })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use switchyard_providers::registry::{build, ProviderConfig};

    fn target(yaml_json: serde_json::Value) -> Target {
        let config: ProviderConfig = serde_json::from_value(yaml_json).unwrap();
        Target { provider_name: Arc::from("mock"), provider: build("mock", &config).unwrap(), model: "echo".into() }
    }

    fn request(stream: bool) -> ChatRequest {
        ChatRequest::parse(serde_json::json!({"model":"mock/echo","stream":stream,"messages":[{"role":"user","content":"a b"}]}).to_string().as_bytes()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn slow_first_token_times_out_at_its_deadline() {
        let t = target(serde_json::json!({"type":"mock","first_token":"5s"}));
        let timeouts = Timeouts { first_token: Duration::from_secs(2), total: Duration::from_secs(60) };
        let start = Instant::now();
        let err = attempt(&t, &request(true), &timeouts, start).await.err().unwrap();
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn non_stream_is_bounded_by_the_total_deadline() {
        let t = target(serde_json::json!({"type":"mock","latency":"30s"}));
        let timeouts = Timeouts { first_token: Duration::from_secs(1), total: Duration::from_secs(10) };
        let start = Instant::now();
        assert_eq!(attempt(&t, &request(false), &timeouts, start).await.err().unwrap().kind, ErrorKind::Timeout);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        let fast = target(serde_json::json!({"type":"mock","latency":"9s"}));
        assert!(matches!(attempt(&fast, &request(false), &timeouts, Instant::now()).await, Ok(Outcome::Complete { usage: Some(_), .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn stream_returns_the_first_chunk() {
        let t = target(serde_json::json!({"type":"mock"}));
        let Ok(Outcome::Stream { first: Some(first), .. }) = attempt(&t, &request(true), &Timeouts::default(), Instant::now()).await else {
            panic!("expected a stream")
        };
        assert!(std::str::from_utf8(&first.data).unwrap().contains("\"role\":\"assistant\""));
    }
}
