//! Putting the originals back into the model's answer. Only placeholders this request's vault
//! issued are replaced; anything else that looks like one is left as the model wrote it. In a
//! stream a placeholder may be split across chunks at any byte, so the `Restorer` holds back the
//! shortest tail that could still become an issued placeholder (a trailing `<EM`) and nothing
//! else. In `JsonString` mode (tool-call arguments, streamed as fragments of a JSON document) an
//! original is inserted JSON-escaped, so a `"` or `\` in it cannot break the arguments.

use std::borrow::Cow;
use std::sync::Arc;

use super::redact::Vault;

/// Where restored text goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestoreMode {
    /// Plain text: originals are inserted as they were.
    #[default]
    Text,
    /// Inside JSON string literals: originals are inserted JSON-escaped.
    JsonString,
}

/// `text` with every issued placeholder replaced; borrowed when there was none.
pub fn restore<'t>(vault: &Vault, text: &'t str, mode: RestoreMode) -> Cow<'t, str> {
    if vault.is_empty() || !text.contains('<') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    replace(vault, text, mode, true, &mut out);
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// A stream-safe restorer for one text stream (one choice's content, or one tool call's
/// arguments). Feed chunks with `push`, then call `finish` once at the end.
#[derive(Debug)]
pub struct Restorer {
    vault: Arc<Vault>,
    mode: RestoreMode,
    held: String,
}

impl Restorer {
    pub fn new(vault: Arc<Vault>, mode: RestoreMode) -> Restorer {
        Restorer { vault, mode, held: String::new() }
    }

    /// The restored text that can be released after `chunk`; a possible placeholder start at
    /// the end is kept for the next call. Borrowed (no allocation) when the chunk needs nothing.
    pub fn push<'c>(&mut self, chunk: &'c str) -> Cow<'c, str> {
        if self.held.is_empty() && (self.vault.is_empty() || !chunk.contains('<')) {
            return Cow::Borrowed(chunk);
        }
        self.held.push_str(chunk);
        let text = std::mem::take(&mut self.held);
        let mut out = String::with_capacity(text.len());
        let consumed = replace(&self.vault, &text, self.mode, false, &mut out);
        self.held.push_str(&text[consumed..]);
        Cow::Owned(out)
    }

    /// Whatever is still held back: it did not become a placeholder, so it is released as is.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Bytes held back right now (for tests and metrics).
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// Appends `text` with issued placeholders replaced to `out` and returns how many bytes of
/// `text` were consumed. Unless `at_end`, a tail that could still grow into an issued
/// placeholder is not consumed.
fn replace(vault: &Vault, text: &str, mode: RestoreMode, at_end: bool, out: &mut String) -> usize {
    let bytes = text.as_bytes();
    let longest = vault.longest();
    let mut last = 0;
    let mut search = 0;
    while let Some(p) = bytes[search..].iter().position(|&b| b == b'<') {
        let start = search + p;
        let window = (start + longest).min(bytes.len()).max(start + 1);
        let close = bytes[start + 1..window].iter().position(|&b| b == b'>');
        match close {
            Some(q) => {
                let end = start + 1 + q + 1;
                if let Some(original) = vault.get(&text[start..end]) {
                    out.push_str(&text[last..start]);
                    push_original(out, original, mode);
                    last = end;
                    search = end;
                    continue;
                }
            }
            None if !at_end && vault.could_start(&text[start..]) => {
                out.push_str(&text[last..start]);
                return start;
            }
            None => {}
        }
        search = start + 1;
    }
    out.push_str(&text[last..]);
    bytes.len()
}

fn push_original(out: &mut String, original: &str, mode: RestoreMode) {
    match mode {
        RestoreMode::Text => out.push_str(original),
        RestoreMode::JsonString => {
            let quoted = serde_json::Value::String(original.to_string()).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
    }
}

#[cfg(test)]
mod tests;
