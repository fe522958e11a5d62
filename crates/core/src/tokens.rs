//! Token estimates made before a request goes upstream: the input size (for budgets, rate limits
//! and the `max_cost_usd` clamp) and the output size the client asked for; and after a stream
//! that ended without a usage report, the size of what it delivered.
//!
//! OpenAI kinds (`openai`, `azure`) are counted with OpenAI's own BPE (`tiktoken-rs`, feature
//! `tiktoken`, on by default): o200k_base, or cl100k_base for gpt-3.5 / gpt-4 / gpt-4-turbo.
//! Everything else, and every kind without the feature, uses characters / 4 rounded up per text.
//! Both add the per-message framing OpenAI documents for chat models (3 tokens a message, 3 to
//! prime the reply). Images and files cannot be measured without decoding them and are flat
//! estimates, see the constants. The result is an estimate: the provider's usage report is what
//! is billed.

use switchyard_protocol::openai::{ChatRequest, ContentPart, Message, MessageContent, Tool, ToolCall};
use switchyard_providers::Tokenizer;

/// Framing tokens around every message (`<|start|>role…<|end|>`), per OpenAI's cookbook.
const PER_MESSAGE: u64 = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: u64 = 3;
/// Framing of one tool definition or tool call beyond its name, description and JSON.
const PER_TOOL: u64 = 8;
/// An image at `detail: "low"`: OpenAI's fixed 85 tokens.
const IMAGE_LOW_DETAIL: u64 = 85;
/// An image at high or auto detail: a 1024×1024 image is 85 + 4 tiles × 170 = 765 tokens.
const IMAGE_HIGH_DETAIL: u64 = 765;
/// A file part (e.g. a PDF): pages are unknown without parsing; about one dense page of text.
const FILE_PART: u64 = 1_000;

/// An estimate of the input tokens `request` will be billed for at a provider of `provider_kind`
/// serving `model` (the upstream id, which picks the BPE for OpenAI kinds).
pub fn estimate_input_tokens(request: &ChatRequest, tokenizer: Tokenizer, model: &str) -> u64 {
    count(request, Counter::for_target(tokenizer, model))
}

/// An estimate of the output tokens of `text` (what a stream delivered) at a provider of this
/// tokenizer serving `model`: for a stream that ended without the provider's usage report.
pub fn estimate_output_tokens(text: &str, tokenizer: Tokenizer, model: &str) -> u64 {
    Counter::for_target(tokenizer, model).text(text)
}

/// The characters / 4 estimate for any provider: for when no limit or budget needs precision.
pub fn rough_input_tokens(request: &ChatRequest) -> u64 {
    count(request, Counter::Chars)
}

/// An estimate of the input tokens of an embeddings request's `input`: a text, a list of texts,
/// a list of token ids or a list of such lists (a token id counts one). Anything else counts 0:
/// the provider refuses it. `precise`: with the provider's tokenizer where there is one, else
/// characters / 4.
pub fn estimate_embedding_tokens(input: &serde_json::Value, tokenizer: Tokenizer, model: &str, precise: bool) -> u64 {
    use serde_json::Value;
    let counter = if precise { Counter::for_target(tokenizer, model) } else { Counter::Chars };
    let one = |item: &Value| match item {
        Value::String(text) => counter.text(text),
        Value::Number(_) => 1,
        Value::Array(ids) => ids.len() as u64,
        _ => 0,
    };
    match input {
        Value::Array(items) => items.iter().map(one).sum(),
        other => one(other),
    }
}

fn count(request: &ChatRequest, counter: Counter) -> u64 {
    // An ill-typed `tools` field is reported by validation elsewhere; here it counts nothing.
    let tools: u64 = request.tools().unwrap_or_default().iter().map(|t| counter.tool(t)).sum();
    let messages: u64 = request.messages().iter().map(|m| counter.message(m)).sum();
    messages + tools + REPLY_PRIMING
}

/// Builds the BPEs now rather than on the first request (about 0.25 s in release, 1 s in debug
/// for o200k_base); call it from a blocking task at startup. A no-op without feature `tiktoken`.
pub fn warm_up() {
    #[cfg(feature = "tiktoken")]
    {
        tiktoken_rs::o200k_base_singleton();
        tiktoken_rs::cl100k_base_singleton();
        BPE_READY.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Set once `warm_up` built the BPEs. Until then requests use the characters / 4 estimate
/// rather than wait for the tables on the request path. The tables (~70 MB resident) are built
/// on a background thread the first time a precise count is wanted, so a gateway without limits
/// or budgets on OpenAI models never holds them.
#[cfg(feature = "tiktoken")]
static BPE_READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the BPEs are built; the first call starts building them in the background.
#[cfg(feature = "tiktoken")]
fn bpe_ready() -> bool {
    static STARTED: std::sync::Once = std::sync::Once::new();
    if BPE_READY.load(std::sync::atomic::Ordering::Acquire) {
        return true;
    }
    STARTED.call_once(|| {
        if let Err(e) = std::thread::Builder::new().name("tokenizer-warm-up".into()).spawn(warm_up) {
            tracing::warn!(error = %e, "cannot start building the token counter; estimating by characters");
        }
    });
    false
}

/// The output ceiling the client set: `max_completion_tokens`, else `max_tokens`.
pub fn requested_max_output(request: &ChatRequest) -> Option<u64> {
    ["max_completion_tokens", "max_tokens"]
        .into_iter()
        .find_map(|field| request.get::<Option<u64>>(field, "a non-negative integer").ok().flatten().flatten())
}

enum Counter {
    #[cfg(feature = "tiktoken")]
    Bpe(&'static tiktoken_rs::CoreBPE),
    Chars,
}

impl Counter {
    fn for_target(tokenizer: Tokenizer, model: &str) -> Counter {
        #[cfg(feature = "tiktoken")]
        if tokenizer == Tokenizer::OpenAi && bpe_ready() {
            // The singletons build each BPE once per process, on first use.
            return Counter::Bpe(if uses_cl100k(model) {
                tiktoken_rs::cl100k_base_singleton()
            } else {
                tiktoken_rs::o200k_base_singleton()
            });
        }
        let _ = (tokenizer, model);
        Counter::Chars
    }

    fn text(&self, text: &str) -> u64 {
        match self {
            #[cfg(feature = "tiktoken")]
            Counter::Bpe(bpe) => bpe.encode_ordinary(text).len() as u64,
            Counter::Chars => (text.chars().count() as u64).div_ceil(4),
        }
    }

    fn message(&self, message: &Message) -> u64 {
        let content = match &message.content {
            None => 0,
            Some(MessageContent::Text(text)) => self.text(text),
            Some(MessageContent::Parts(parts)) => parts.iter().map(|p| self.part(p)).sum(),
        };
        let calls: u64 = message.tool_calls.iter().flatten().map(|c| self.tool_call(c)).sum();
        let extras = [&message.tool_call_id, &message.reasoning_content].into_iter().flatten();
        PER_MESSAGE + self.text(&message.role) + content + calls + extras.map(|s| self.text(s)).sum::<u64>()
    }

    fn part(&self, part: &ContentPart) -> u64 {
        let text = part.text.as_deref().map_or(0, |t| self.text(t));
        let image = part.image_url.as_ref().map_or(0, |image| match image.detail.as_deref() {
            Some("low") => IMAGE_LOW_DETAIL,
            _ => IMAGE_HIGH_DETAIL,
        });
        let file = if part.file.is_some() { FILE_PART } else { 0 };
        text + image + file
    }

    fn tool_call(&self, call: &ToolCall) -> u64 {
        PER_TOOL + self.text(&call.function.name) + self.text(&call.function.arguments)
    }

    fn tool(&self, tool: &Tool) -> u64 {
        let f = &tool.function;
        let schema = f.parameters.as_ref().map_or(0, |p| self.text(&p.to_string()));
        PER_TOOL + self.text(&f.name) + f.description.as_deref().map_or(0, |d| self.text(d)) + schema
    }
}

/// gpt-3.5 and gpt-4 (incl. -turbo, -32k, dated snapshots) and the embeddings models
/// (`text-embedding-*`) use cl100k_base; gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and the o-series use
/// o200k_base, as does anything not recognised.
#[cfg(feature = "tiktoken")]
fn uses_cl100k(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    let name = name.strip_prefix("ft:").unwrap_or(name);
    name.starts_with("gpt-3.5")
        || name.starts_with("gpt-35")
        || name.starts_with("text-embedding-")
        || (name.starts_with("gpt-4") && !name.starts_with("gpt-4o") && !name.starts_with("gpt-4."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: serde_json::Value) -> ChatRequest {
        ChatRequest::parse(body.to_string().as_bytes()).unwrap()
    }

    fn hello() -> ChatRequest {
        request(serde_json::json!({"model": "m", "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello, how are you today?"},
        ]}))
    }

    #[test]
    fn other_kinds_count_characters_over_four_plus_framing() {
        // "system" 2 + "You are a helpful assistant." (28 chars) 7; "user" 1 + 25 chars 7.
        assert_eq!(estimate_input_tokens(&hello(), Tokenizer::Approximate, "claude-sonnet-4-5"), (3 + 2 + 7) + (3 + 1 + 7) + 3);
    }

    #[cfg(feature = "tiktoken")]
    #[test]
    fn openai_kinds_count_like_the_cookbook() {
        // Before the tables are built requests are not held up: they get the rough estimate.
        if !BPE_READY.load(std::sync::atomic::Ordering::Acquire) {
            assert_eq!(estimate_input_tokens(&hello(), Tokenizer::OpenAi, "gpt-4o-mini"), rough_input_tokens(&hello()));
        }
        warm_up();
        // o200k_base: 3 + "system" 1 + "You are a helpful assistant." 6, 3 + "user" 1 +
        // "Hello, how are you today?" 7, + 3 to prime the reply.
        assert_eq!(estimate_input_tokens(&hello(), Tokenizer::OpenAi, "gpt-4o-mini"), 24);
        assert_eq!(estimate_input_tokens(&hello(), Tokenizer::OpenAi, "gpt-4o"), 24);
        assert!(uses_cl100k("gpt-4-0613") && uses_cl100k("gpt-35-turbo") && uses_cl100k("openai/gpt-3.5-turbo"));
        assert!(!uses_cl100k("gpt-4o") && !uses_cl100k("gpt-4.1-mini") && !uses_cl100k("o3") && !uses_cl100k("gpt-5"));
    }

    #[test]
    fn images_files_tools_and_tool_calls_count() {
        let base = estimate_input_tokens(&hello(), Tokenizer::Approximate, "m");
        let with_all = request(serde_json::json!({"model": "m",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Hello, how are you today?"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://x/b.png"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,AAAA", "filename": "a.pdf"}},
                ]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
            "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather now", "parameters": {"type": "object"}}}],
        }));
        let images_and_file = IMAGE_LOW_DETAIL + IMAGE_HIGH_DETAIL + FILE_PART;
        // assistant: 3 + "assistant" 3 + call 8 + "weather" 2 + 16 chars 4; tool: 3 + 1 + "c1" 1 + "sunny" 2.
        let turns = (3 + 3 + 8 + 2 + 4) + (3 + 1 + 1 + 2);
        // tool: 8 + "weather" 2 + "Weather now" 3 + {"type":"object"} (17 chars) 5.
        let tools = 8 + 2 + 3 + 5;
        assert_eq!(estimate_input_tokens(&with_all, Tokenizer::Approximate, "m"), base + images_and_file + turns + tools);
    }

    #[test]
    fn requested_output_prefers_max_completion_tokens() {
        let with = |extra: serde_json::Value| {
            let mut body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            requested_max_output(&request(body))
        };
        assert_eq!(with(serde_json::json!({})), None);
        assert_eq!(with(serde_json::json!({"max_tokens": 100})), Some(100));
        assert_eq!(with(serde_json::json!({"max_tokens": 100, "max_completion_tokens": 50})), Some(50));
        assert_eq!(with(serde_json::json!({"max_tokens": null, "max_completion_tokens": null})), None);
    }

    #[test]
    fn embeddings_inputs_count_texts_and_token_ids() {
        let chars = |input: serde_json::Value| estimate_embedding_tokens(&input, Tokenizer::Approximate, "mistral-embed", true);
        assert_eq!(chars(serde_json::json!("abcdefgh")), 2);
        assert_eq!(chars(serde_json::json!(["abcd", "abcdefghi"])), 1 + 3);
        assert_eq!(chars(serde_json::json!([1, 2, 3])), 3);
        assert_eq!(chars(serde_json::json!([[1, 2], [3, 4, 5]])), 5);
        assert_eq!(chars(serde_json::json!({"not": "an input"})), 0);
    }
}
