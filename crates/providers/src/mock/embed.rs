//! The mock's deterministic embeddings: the words and character trigrams of a text (lowercased,
//! punctuation dropped) hashed into signed buckets and L2-normalised. Texts that share their
//! content words come out close (cosine above 0.9), texts that share none near orthogonal. It is
//! lexical, not semantic — word order is ignored and synonyms are strangers — which is what tests
//! and demos of a semantic cache need: similarity that is predictable from the text alone.

use base64::Engine;
use serde_json::{json, Value};
use switchyard_protocol::openai::RequestFormatError;
use switchyard_protocol::Usage;

use super::reply::words;

pub const DEFAULT_DIMENSIONS: usize = 256;
const MAX_DIMENSIONS: u64 = 4096;
/// OpenAI's limit on inputs per request.
const MAX_INPUTS: usize = 2048;

const WORD_WEIGHT: f32 = 1.0;
/// Trigrams make `password` and `passwords` close; they count less than the word itself.
const TRIGRAM_WEIGHT: f32 = 0.5;
/// Function words say little about what a text asks; they count a little (a text made only of
/// them still has a direction) and add no trigrams.
const STOPWORD_WEIGHT: f32 = 0.1;

const STOPWORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from",
    "give", "he", "how", "i", "if", "in", "into", "is", "it", "its", "just", "let", "may", "me", "might", "must", "my", "of", "on", "or",
    "our", "please", "s", "shall", "she", "should", "show", "so", "t", "tell", "than", "that", "the", "their", "them", "then", "these",
    "they", "this", "those", "to", "us", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with",
    "would", "you", "your",
];

/// The embedding of one text in `dimensions` buckets; all zeros when it has no word at all.
pub fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let mut v = vec![0f32; dimensions.max(1)];
    let lower = text.to_lowercase();
    for word in lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if STOPWORDS.binary_search(&word).is_ok() {
            add(&mut v, "w:", word, STOPWORD_WEIGHT);
            continue;
        }
        add(&mut v, "w:", word, WORD_WEIGHT);
        let padded: Vec<char> = std::iter::once('^').chain(word.chars()).chain(std::iter::once('$')).collect();
        let mut trigram = String::with_capacity(12);
        for window in padded.windows(3) {
            trigram.clear();
            trigram.extend(window);
            add(&mut v, "t:", &trigram, TRIGRAM_WEIGHT);
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Signed feature hashing: collisions cancel out on average instead of adding up.
fn add(v: &mut [f32], kind: &str, feature: &str, weight: f32) {
    let h = fnv1a(kind.bytes().chain(feature.bytes()));
    let i = (h % v.len() as u64) as usize;
    v[i] += if h >> 63 == 1 { weight } else { -weight };
}

/// FNV-1a, 64 bits: stable across platforms, releases and processes (unlike `DefaultHasher`).
fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Answers an OpenAI embeddings request: `input` a string or an array of strings, `dimensions`
/// and `encoding_format` (`float` or `base64`) honoured. Usage counts words, as the chat mock does.
pub fn answer(request: &Value, model: &str) -> Result<(Vec<u8>, Usage), RequestFormatError> {
    let inputs = inputs(request.get("input"))?;
    let dimensions = match request.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(d) => d.as_u64().filter(|d| (1..=MAX_DIMENSIONS).contains(d)).ok_or_else(|| {
            RequestFormatError::field("dimensions", format!("invalid `dimensions`: expected a whole number from 1 to {MAX_DIMENSIONS}"))
        })? as usize,
    };
    let base64 = match request.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(RequestFormatError::field(
                "encoding_format",
                format!("invalid `encoding_format` `{other}`: expected `float` or `base64`"),
            ))
        }
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embed(text, dimensions);
            let embedding = if base64 { Value::String(to_base64(&vector)) } else { json!(vector) };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|t| words(t).max(1)).sum();
    let body = json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
    Ok((body.to_string().into_bytes(), Usage { input_tokens: tokens, ..Usage::default() }))
}

fn inputs(input: Option<&Value>) -> Result<Vec<&str>, RequestFormatError> {
    let invalid = |what: &str| RequestFormatError::field("input", format!("invalid `input`: {what}"));
    let texts: Vec<&str> = match input {
        None | Some(Value::Null) => {
            return Err(RequestFormatError::field("input", "missing `input`: the text (or array of texts) to embed"))
        }
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if items.is_empty() => return Err(invalid("the array is empty")),
        Some(Value::Array(items)) if items.len() > MAX_INPUTS => return Err(invalid(&format!("at most {MAX_INPUTS} inputs per request"))),
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("the mock embeds strings; token arrays are not supported"))?,
        Some(_) => return Err(invalid("expected a string or an array of strings")),
    };
    if texts.iter().any(|t| t.is_empty()) {
        return Err(invalid("texts must not be empty"));
    }
    Ok(texts)
}

/// OpenAI's `base64` encoding: the floats as little-endian f32 bytes.
fn to_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &str, b: &str) -> f32 {
        embed(a, DEFAULT_DIMENSIONS).iter().zip(embed(b, DEFAULT_DIMENSIONS)).map(|(x, y)| x * y).sum()
    }

    /// The semantic cache's suggested default threshold: every paraphrase below is above it, every
    /// different question below it.
    const THRESHOLD: f32 = 0.92;

    #[test]
    fn paraphrases_are_close_and_different_questions_are_not() {
        let paraphrases = [
            ("How do I reset my password?", "how can I reset my password"),
            ("Explain the difference between TCP and UDP", "Please explain the difference between UDP and TCP."),
            ("Summarize this article about climate change", "Summarize the article about climate change, please"),
            ("Write a haiku about autumn leaves", "write me a haiku about the autumn leaves"),
            ("How do I bake sourdough bread at home?", "How can I bake sourdough bread at home"),
        ];
        for (a, b) in paraphrases {
            let c = cosine(a, b);
            assert!(c >= 0.95, "paraphrases {a:?} / {b:?}: {c}");
        }
        let unrelated = [
            ("How do I reset my password?", "What is the capital of France?"),
            ("Explain the difference between TCP and UDP", "Write a haiku about autumn leaves"),
            ("What is the weather like in Paris today?", "How do I bake sourdough bread?"),
            ("Summarize this article about climate change", "Translate good morning into Spanish"),
        ];
        for (a, b) in unrelated {
            let c = cosine(a, b);
            assert!(c.abs() < 0.2, "unrelated {a:?} / {b:?}: {c}");
        }
        // Same template, another subject: related, yet well below the threshold.
        let near_misses = [
            ("How do I reset my password?", "How do I reset my router?"),
            ("What is the capital of France?", "What is the capital of Germany?"),
            ("Write a haiku about autumn leaves", "Write a haiku about spring rain"),
        ];
        for (a, b) in near_misses {
            let c = cosine(a, b);
            assert!(c < THRESHOLD - 0.3, "different questions {a:?} / {b:?}: {c}");
        }
    }

    #[test]
    fn vectors_are_deterministic_and_unit_length() {
        let v = embed("Hello, world!", DEFAULT_DIMENSIONS);
        assert_eq!(v, embed("hello world", DEFAULT_DIMENSIONS), "case and punctuation do not matter");
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        // Pinned: the mock's vectors must not change between releases (stored caches, demos).
        let pinned: Vec<usize> = v.iter().enumerate().filter(|(_, x)| **x != 0.0).map(|(i, _)| i).collect();
        assert_eq!(pinned, [18, 28, 48, 147, 149, 158, 197, 202, 217, 224, 244, 248], "2 words + 10 trigrams");
        assert!(v[244] > 0.0 && v[224] < 0.0, "`hello` and `world` keep their signs");
        assert!(embed("?!", 8).iter().all(|x| *x == 0.0));
    }

    #[test]
    fn answers_in_openais_shape() {
        let request = json!({"model": "mock/embed", "input": ["one text", "another text"], "dimensions": 8});
        let (body, usage) = answer(&request, "embed").unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((body["object"].as_str(), body["model"].as_str(), usage.input_tokens), (Some("list"), Some("embed"), 4));
        assert_eq!(body["usage"], json!({"prompt_tokens": 4, "total_tokens": 4}));
        assert_eq!(body["data"][1]["index"], 1);
        assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 8);

        let (body, _) = answer(&json!({"input": "one text", "encoding_format": "base64"}), "embed").unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(body["data"][0]["embedding"].as_str().unwrap()).unwrap();
        let floats: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(floats, embed("one text", DEFAULT_DIMENSIONS));

        for (request, param) in [
            (json!({}), "input"),
            (json!({"input": []}), "input"),
            (json!({"input": [[1, 2]]}), "input"),
            (json!({"input": ""}), "input"),
            (json!({"input": "x", "dimensions": 0}), "dimensions"),
            (json!({"input": "x", "encoding_format": "int8"}), "encoding_format"),
        ] {
            assert_eq!(answer(&request, "embed").unwrap_err().param.as_deref(), Some(param), "{request}");
        }
    }
}
