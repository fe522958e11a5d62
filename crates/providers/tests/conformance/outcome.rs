//! Runs one scenario against one adapter behind a fake upstream and records what a client
//! would see, streamed or not, in one shape.

use futures_util::StreamExt;
use serde_json::Value;
use switchyard_protocol::openai::ChatRequest;
use switchyard_providers::{ChatResponse, ErrorKind};
use switchyard_testkit::{Accumulated, FakeUpstream, Reply};

use crate::recordings::ProviderUnderTest;
use crate::scenarios::Scenario;

#[derive(Debug, Default)]
pub struct Outcome {
    pub content: String,
    pub reasoning: String,
    pub reasoning_tokens: u64,
    /// (id, name, arguments) by tool-call index.
    pub calls: Vec<(String, String, String)>,
    pub finish: Option<String>,
    pub usage_in: u64,
    pub usage_out: u64,
    pub cached: u64,
    pub error: Option<ErrorKind>,
    pub chunks: usize,
    pub usage_chunk_last: bool,
    pub usage_seen: bool,
    pub indexes_in_order: bool,
    /// The body the provider received.
    pub sent: String,
}

impl Outcome {
    fn usage(&mut self, u: &Value) {
        self.usage_in = u["prompt_tokens"].as_u64().unwrap_or(0);
        self.usage_out = u["completion_tokens"].as_u64().unwrap_or(0);
        self.cached = u["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
        self.reasoning_tokens = u["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap_or(0);
    }

    fn message(&mut self, m: &Value) {
        self.content += m["content"].as_str().unwrap_or("");
        self.reasoning += m["reasoning_content"].as_str().unwrap_or("");
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            self.calls.push((text(&c["id"]), text(&c["function"]["name"]), text(&c["function"]["arguments"])));
        }
    }
}

pub async fn run(provider: &ProviderUnderTest, scenario: &Scenario, reply: Reply) -> Outcome {
    let up = FakeUpstream::start(vec![reply]).await;
    let adapter = (provider.build)(&up.base_url());
    let request = ChatRequest::parse((scenario.request)().to_string().as_bytes()).expect("scenario requests are valid");
    let mut o = Outcome { indexes_in_order: true, ..Outcome::default() };
    match adapter.chat(&request, provider.model).await {
        Err(e) => o.error = Some(e.kind),
        Ok(ChatResponse::Complete { body, .. }) => match serde_json::from_slice::<Value>(&body) {
            Ok(v) => {
                o.message(&v["choices"][0]["message"]);
                o.finish = v["choices"][0]["finish_reason"].as_str().map(str::to_string);
                o.usage(&v["usage"]);
            }
            Err(_) => o.error = Some(ErrorKind::Malformed),
        },
        Ok(ChatResponse::Stream(mut stream)) => {
            let mut acc = Accumulated::default();
            while let Some(item) = stream.next().await {
                match item {
                    Err(e) => {
                        o.error = Some(e.kind);
                        break;
                    }
                    Ok(chunk) => {
                        o.chunks += 1;
                        o.usage_chunk_last = chunk.usage_only;
                        acc.add(&chunk.data);
                    }
                }
            }
            if let Some(u) = &acc.usage {
                o.usage_seen = true;
                o.usage(u);
            }
            o.indexes_in_order = acc.index_errors.is_empty();
            (o.content, o.reasoning, o.calls, o.finish) = (acc.text, acc.reasoning, acc.calls, acc.finish);
        }
    }
    o.sent = up.requests().last().map(|r| r.body_str()).unwrap_or_default();
    o
}
