//! Translation shared by every adapter whose provider does not speak OpenAI: a typed view of the
//! incoming Chat Completions request (`Conversation`), and builders that emit OpenAI-shaped
//! completions and stream chunks. An adapter maps its own wire format to and from these; nothing
//! here knows any provider.

mod chunks;
mod completion;
mod conversation;
mod fetch;

pub use chunks::ChunkWriter;
pub use completion::{Completion, FinishReason};
pub use conversation::{split_data_url, Conversation, Part, ResponseFormat, ToolChoiceMode, ToolDef, Turn};
pub use fetch::{inline_remote_images, FetchPolicy, ImageFetcher};
pub use switchyard_protocol::openai::{CalledFunction, ToolCall};

/// Maps `reasoning_effort` to a thinking budget in tokens, for providers that take budgets
/// (Anthropic `thinking.budget_tokens`, Gemini `thinkingBudget`). `None` when not asked for.
pub fn reasoning_budget(effort: Option<&str>) -> Option<u64> {
    match effort? {
        "minimal" => Some(1024),
        "low" => Some(2048),
        "medium" => Some(8192),
        "high" => Some(24_576),
        _ => None,
    }
}
