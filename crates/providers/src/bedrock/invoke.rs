//! InvokeModel for Claude: a client's own Messages request (`Native`) goes to an Anthropic model
//! as it came, through `/model/{id}/invoke` (or `/invoke-with-response-stream`), instead of being
//! translated to Converse. Answers are Anthropic's Messages wire format, read by the Anthropic
//! adapter's code; streamed, each event-stream `chunk` event carries one Anthropic stream event.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Deserialize;
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::sse::SseEvent;

use super::stream::{malformed, EventStreamChunks, EventStreamDecoder, Events, Item};
use crate::anthropic::stream::AnthropicDecoder;
use crate::credential::KeyRing;
use crate::http::transport_error;
use crate::sse_stream::{cut_off, Decoded, EventDecoder};
use crate::{anthropic, ChatResponse, ProviderError};

/// The `anthropic_version` Bedrock's Messages API takes in the body.
const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// Whether `model` names an Anthropic model: `anthropic.claude…`, an inference profile such as
/// `us.anthropic.claude…` / `global.anthropic.claude…`, or an ARN naming one. (An application
/// inference profile's ARN does not name its model, and stays on Converse.)
pub fn is_anthropic(model: &str) -> bool {
    if model.starts_with("arn:") {
        return model.contains("anthropic");
    }
    model.split('.').take(2).any(|part| part == "anthropic")
}

/// The InvokeModel body when `request` is a Messages request for an Anthropic model: the
/// client's body with Bedrock's `anthropic_version` and the client's betas as `anthropic_beta`;
/// no `model` (the URL names it) and no `stream` (the path says it, InvokeModel refuses the field).
pub fn body(request: &ChatRequest, model: &str) -> Option<Vec<u8>> {
    if !is_anthropic(model) {
        return None;
    }
    let mut body = anthropic::native_body(request, model, false, None)?;
    body.take("stream");
    body.set("anthropic_version", serde_json::value::to_raw_value(ANTHROPIC_VERSION).expect("a string serialises"));
    if let Some(beta) = anthropic::merge_betas(None, request.native().and_then(|n| n.beta.as_deref())) {
        let flags: Vec<&str> = beta.split(',').collect();
        body.set("anthropic_beta", serde_json::value::to_raw_value(&flags).expect("strings serialise"));
    }
    Some(body.to_bytes())
}

/// A successful InvokeModel answer in OpenAI's shape.
pub async fn read_answer(
    provider: &str,
    keys: Arc<KeyRing>,
    model: &str,
    stream: bool,
    response: reqwest::Response,
) -> Result<ChatResponse, ProviderError> {
    if stream {
        let body = crate::http::body_stream(provider, response);
        let events = InvokeEvents::new(provider, AnthropicDecoder::new(provider, model, crate::unix_now()));
        let decoder = EventStreamDecoder::new(provider, keys, events);
        return Ok(ChatResponse::Stream(Box::pin(EventStreamChunks::new(body, decoder))));
    }
    let body = response.bytes().await.map_err(|e| transport_error(provider, &e))?;
    anthropic::complete_answer(provider, &body)
}

/// `PayloadPart`: one Anthropic stream event, base64-encoded.
#[derive(Deserialize)]
struct PayloadPart {
    bytes: String,
}

/// InvokeModelWithResponseStream's events: each `chunk` is handed to the Anthropic decoder.
pub struct InvokeEvents {
    provider: String,
    anthropic: AnthropicDecoder,
}

impl InvokeEvents {
    pub fn new(provider: &str, anthropic: AnthropicDecoder) -> Self {
        Self { provider: provider.to_string(), anthropic }
    }
}

impl Events for InvokeEvents {
    fn event(&mut self, event_type: Option<&str>, payload: &[u8], out: &mut VecDeque<Item>) -> Result<(), ProviderError> {
        if event_type != Some("chunk") {
            // Event kinds added later.
            return Ok(());
        }
        let part: PayloadPart = serde_json::from_slice(payload)
            .map_err(|e| malformed(&self.provider, &format!("a chunk event that is not the expected JSON ({e})")))?;
        let data = aws_smithy_types::base64::decode(&part.bytes)
            .map_err(|e| malformed(&self.provider, &format!("a chunk event whose bytes are not base64 ({e})")))?;
        match self.anthropic.decode(SseEvent { event: None, data: data.into() })? {
            Decoded::Chunk(chunk) => out.push_back(Ok(chunk)),
            Decoded::Chunks(chunks) => out.extend(chunks.into_iter().map(Ok)),
            Decoded::Skip | Decoded::Done => {}
        }
        Ok(())
    }

    fn is_complete(&self) -> bool {
        self.anthropic.is_stopped()
    }

    fn cut(&mut self) -> ProviderError {
        cut_off(&self.provider)
    }
}
