//! What a stream has delivered so far, kept so that a stream which ends without the provider's
//! usage report (cut mid-way, or an upstream that never reports usage) is still logged and billed
//! for its output: the text of every delta, counted with the serving provider's tokenizer.

use serde::Deserialize;
use switchyard_providers::Tokenizer;

use crate::tokens::estimate_output_tokens;

/// The chunks are kept as they are (shared buffers, no copy) and read only when the count is
/// needed — almost never, since a stream that ends normally reports its usage: reading every
/// chunk as it passed cost a third more instructions per streamed request (bench/instructions).
pub(super) struct Delivered {
    chunks: Vec<bytes::Bytes>,
    tokenizer: Tokenizer,
    model: String,
}

impl Delivered {
    pub(super) fn new(tokenizer: Tokenizer, model: &str) -> Self {
        Self { chunks: Vec::new(), tokenizer, model: model.to_string() }
    }

    /// One `chat.completion.chunk` as delivered to the client.
    pub(super) fn push(&mut self, chunk_json: &bytes::Bytes) {
        self.chunks.push(chunk_json.clone());
    }

    /// The output tokens of the text of every chunk delivered (content, reasoning, refusal, tool
    /// calls). A chunk that is not such a document adds nothing: it carried no output to bill.
    pub(super) fn output_tokens(&self) -> u64 {
        let mut text = String::new();
        for chunk in &self.chunks {
            let Ok(chunk) = serde_json::from_slice::<ChunkText>(chunk) else { continue };
            for delta in chunk.choices.into_iter().flatten().filter_map(|c| c.delta) {
                let calls = delta.tool_calls.into_iter().flatten().filter_map(|c| c.function);
                let texts = [delta.content, delta.reasoning_content, delta.reasoning, delta.refusal]
                    .into_iter()
                    .chain(calls.flat_map(|f| [f.name, f.arguments]));
                for t in texts.flatten() {
                    text.push_str(&t);
                }
            }
        }
        estimate_output_tokens(&text, self.tokenizer, &self.model)
    }
}

#[derive(Deserialize)]
struct ChunkText {
    choices: Option<Vec<ChoiceText>>,
}

#[derive(Deserialize)]
struct ChoiceText {
    delta: Option<DeltaText>,
}

#[derive(Deserialize)]
struct DeltaText {
    content: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<CallText>>,
}

#[derive(Deserialize)]
struct CallText {
    function: Option<FunctionText>,
}

#[derive(Deserialize)]
struct FunctionText {
    name: Option<String>,
    arguments: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text_reasoning_and_tool_call_deltas_and_nothing_else() {
        let mut d = Delivered::new(Tokenizer::Approximate, "m");
        d.push(&bytes::Bytes::from_static(br#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#));
        d.push(&bytes::Bytes::from_static(br#"{"choices":[{"index":0,"delta":{"content":"abcd","reasoning_content":"efgh"}}]}"#));
        d.push(&bytes::Bytes::from_static(
            br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"ab","arguments":"{\"x\""}}]}}]}"#,
        ));
        d.push(&bytes::Bytes::from_static(br#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9}}"#));
        d.push(&bytes::Bytes::from_static(b"not json"));
        // "abcd" + "efgh" + "ab" + "{\"x\"" = 14 characters: 4 by characters / 4, rounded up.
        assert_eq!(d.output_tokens(), 4);
    }
}
