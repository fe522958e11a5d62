//! The canonical token usage every provider adapter reports, whatever its wire names.

use serde::{Deserialize, Serialize};

/// Token counts of one completion. `input_tokens` includes cached ones; `output_tokens` includes
/// reasoning ones, as OpenAI counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    /// Input tokens written to a provider's prompt cache (Anthropic, Bedrock); priced apart.
    #[serde(default)]
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        // Saturating: the counts come from upstreams, which can send any number.
        self.input_tokens.saturating_add(self.output_tokens)
    }
}
