//! Putting the originals back into the model's answer. Only placeholders this request's vault
//! issued are replaced; anything else that looks like one is left as the model wrote it. In a
//! stream a placeholder may be split across chunks at any byte, so the `Restorer` holds back the
//! shortest tail that could still become an issued placeholder (a trailing `<EM`) and nothing
//! else. In `JsonString` mode (tool-call arguments, streamed as fragments of a JSON document) an
//! original is inserted JSON-escaped, so a `"` or `\` in it cannot break the arguments, and a
//! placeholder written with escaped brackets (`\u003cEMAIL_1\u003e`, as Go's JSON encoder and
//! so some self-hosted servers write `<` and `>`) is recognised too.

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
    if vault.is_empty() || !may_hold_placeholder(text, mode) {
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
        if self.held.is_empty() && (self.vault.is_empty() || !may_hold_placeholder(chunk, self.mode)) {
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

/// Whether `text` has a byte that can start a placeholder in this mode.
fn may_hold_placeholder(text: &str, mode: RestoreMode) -> bool {
    text.bytes().any(|b| is_opener_start(b, mode))
}

fn is_opener_start(b: u8, mode: RestoreMode) -> bool {
    b == b'<' || b == b'\\' && mode == RestoreMode::JsonString
}

const TEXT_OPEN: &[&str] = &["<"];
const TEXT_CLOSE: &[&str] = &[">"];
const JSON_OPEN: &[&str] = &["<", "\\u003c", "\\u003C"];
const JSON_CLOSE: &[&str] = &[">", "\\u003e", "\\u003E"];

/// What stands at one possible placeholder start.
enum AtStart<'v> {
    /// An issued placeholder ending at this offset, and its original.
    Issued(usize, &'v str),
    /// Text that could still grow into an issued placeholder, cut off by the end of the input.
    Partial,
    /// Anything else.
    Nothing,
}

/// Reads the placeholder (`<` or an escaped opener, `LABEL_N`, `>` or an escaped closer) at
/// `start`, looking it up in the vault under its canonical `<LABEL_N>` spelling.
fn read_at<'v>(vault: &'v Vault, text: &str, start: usize, mode: RestoreMode) -> AtStart<'v> {
    let (open, close) = match mode {
        RestoreMode::Text => (TEXT_OPEN, TEXT_CLOSE),
        RestoreMode::JsonString => (JSON_OPEN, JSON_CLOSE),
    };
    let rest = &text[start..];
    let Some(opener) = open.iter().find(|o| rest.starts_with(**o)) else {
        let cut_short = open.iter().any(|o| o.len() > rest.len() && o.starts_with(rest));
        return if cut_short { AtStart::Partial } else { AtStart::Nothing };
    };
    let inner_from = start + opener.len();
    let inner_len = text.as_bytes()[inner_from..]
        .iter()
        .take(vault.longest())
        .take_while(|&&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        .count();
    let inner_to = inner_from + inner_len;
    let canonical = format!("<{}>", &text[inner_from..inner_to]);
    let after = &text[inner_to..];
    if let Some(closer) = close.iter().find(|c| after.starts_with(**c)) {
        return match vault.get(&canonical) {
            Some(original) => AtStart::Issued(inner_to + closer.len(), original),
            None => AtStart::Nothing,
        };
    }
    let could_close = after.is_empty() || close.iter().any(|c| c.len() > after.len() && c.starts_with(after));
    let prefix = if after.is_empty() { &canonical[..canonical.len() - 1] } else { canonical.as_str() };
    let could_be = if after.is_empty() { vault.could_start(prefix) } else { vault.get(prefix).is_some() };
    if could_close && could_be {
        AtStart::Partial
    } else {
        AtStart::Nothing
    }
}

/// Appends `text` with issued placeholders replaced to `out` and returns how many bytes of
/// `text` were consumed. Unless `at_end`, a tail that could still grow into an issued
/// placeholder is not consumed.
fn replace(vault: &Vault, text: &str, mode: RestoreMode, at_end: bool, out: &mut String) -> usize {
    let bytes = text.as_bytes();
    let mut last = 0;
    let mut search = 0;
    while let Some(p) = bytes[search..].iter().position(|&b| is_opener_start(b, mode)) {
        let start = search + p;
        match read_at(vault, text, start, mode) {
            AtStart::Issued(end, original) => {
                out.push_str(&text[last..start]);
                push_original(out, original, mode);
                last = end;
                search = end;
                continue;
            }
            AtStart::Partial if !at_end => {
                out.push_str(&text[last..start]);
                return start;
            }
            AtStart::Partial | AtStart::Nothing => {}
        }
        // An escape sequence is skipped whole, so the `\` of `\\u003c` (an escaped backslash
        // and literal text) is not read as the start of an escaped bracket.
        search = if bytes[start] == b'\\' { (start + 2).min(bytes.len()) } else { start + 1 };
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
