//! Redaction of one request: every text field goes through the same `Redactor`, so a value gets
//! the same placeholder wherever it appears (messages, system prompt, tool arguments), numbering
//! is per type (`<EMAIL_1>`, `<EMAIL_2>`, `<PHONE_1>`), and the `Vault` ends up holding each
//! issued placeholder's original for restoring the answer. The `Summary` (type → occurrences) is
//! what the log keeps; the vault must never be logged.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound;
use std::ops::Range;

use serde::Serialize;

use super::detector::Detector;
use super::kind::EntityKind;
use super::placeholder;

/// Issued placeholder → original text, for one request.
#[derive(Default)]
pub struct Vault {
    originals: BTreeMap<String, String>,
    longest: usize,
}

impl Vault {
    /// The original behind an issued placeholder.
    pub fn get(&self, placeholder: &str) -> Option<&str> {
        self.originals.get(placeholder).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.originals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }

    /// The length of the longest issued placeholder: no placeholder can be split wider.
    pub(crate) fn longest(&self) -> usize {
        self.longest
    }

    /// Whether `tail` is the start of some issued placeholder (and so must be held back while
    /// streaming until the next chunk says whether it completes).
    pub(crate) fn could_start(&self, tail: &str) -> bool {
        self.originals.range::<str, _>((Bound::Included(tail), Bound::Unbounded)).next().is_some_and(|(k, _)| k.starts_with(tail))
    }

    fn insert(&mut self, placeholder: String, original: &str) {
        self.longest = self.longest.max(placeholder.len());
        self.originals.insert(placeholder, original.to_string());
    }
}

/// The originals are the sensitive values themselves: debug output shows only how many.
impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault").field("placeholders", &self.len()).finish()
    }
}

/// Entity type name → number of occurrences redacted, for the log and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Summary(BTreeMap<String, usize>);

impl Summary {
    pub fn get(&self, kind: &str) -> usize {
        self.0.get(kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The entity type names found, for a `block` refusal that names types but never values.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// What one span of input is replaced for.
enum Span {
    Entity(EntityKind),
    /// A placeholder-shaped literal whose label is `detector.labels()[i]`, kept verbatim through the round
    /// trip.
    Literal(usize),
}

/// Redacts the text fields of one request. Create one per request from the policy's detector.
pub struct Redactor<'d> {
    detector: &'d Detector,
    issued: HashMap<(String, String), String>,
    counters: HashMap<String, u32>,
    vault: Vault,
    summary: Summary,
}

impl<'d> Redactor<'d> {
    pub fn new(detector: &'d Detector) -> Redactor<'d> {
        Redactor { detector, issued: HashMap::new(), counters: HashMap::new(), vault: Vault::default(), summary: Summary::default() }
    }

    /// `text` with every finding replaced by its placeholder, or `None` when there is nothing to
    /// replace (the caller keeps the original and nothing was allocated).
    pub fn redact(&mut self, text: &str) -> Option<String> {
        let findings = self.detector.detect(text);
        let mut spans: Vec<(Range<usize>, Span)> = Vec::new();
        if text.as_bytes().contains(&b'<') {
            // A finding always wins over a literal it overlaps, so no part of a value is left
            // unredacted because a placeholder-shaped string happened to start first.
            let overlaps = |r: &Range<usize>| {
                let i = findings.partition_point(|f| f.range.end <= r.start);
                findings.get(i).is_some_and(|f| f.range.start < r.end)
            };
            placeholder::literals(text, self.detector.labels(), |r, l| {
                if !overlaps(&r) {
                    spans.push((r, Span::Literal(l)));
                }
            });
        }
        if findings.is_empty() && spans.is_empty() {
            return None;
        }
        spans.extend(findings.into_iter().map(|f| (f.range, Span::Entity(f.kind))));
        spans.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(text.len() + 16 * spans.len());
        let mut last = 0;
        for (range, span) in spans {
            if range.start < last {
                continue;
            }
            out.push_str(&text[last..range.start]);
            let value = &text[range.clone()];
            let placeholder = match span {
                Span::Entity(kind) => {
                    *self.summary.0.entry(kind.name().to_string()).or_insert(0) += 1;
                    self.placeholder_for(kind.label(), normalize(&kind, value), value)
                }
                Span::Literal(l) => self.placeholder_for(self.detector.labels()[l].clone(), value.to_string(), value),
            };
            out.push_str(&placeholder);
            last = range.end;
        }
        out.push_str(&text[last..]);
        Some(out)
    }

    fn placeholder_for(&mut self, label: String, key: String, original: &str) -> String {
        let key = (label, key);
        if let Some(p) = self.issued.get(&key) {
            return p.clone();
        }
        let n = self.counters.entry(key.0.clone()).or_insert(0);
        *n += 1;
        let p = placeholder::format(&key.0, *n);
        self.vault.insert(p.clone(), original);
        self.issued.insert(key, p.clone());
        p
    }

    /// Occurrences redacted so far, by type.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The placeholders issued so far and their originals.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The vault and summary, once every field of the request is redacted.
    pub fn finish(self) -> (Vault, Summary) {
        (self.vault, self.summary)
    }
}

/// The form under which two spellings of one value share a placeholder: a card with and without
/// spaces, an address in another case.
fn normalize(kind: &EntityKind, value: &str) -> String {
    match kind {
        EntityKind::CreditCard | EntityKind::UsSsn | EntityKind::Phone => {
            value.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect()
        }
        EntityKind::Iban => value.chars().filter(|c| !c.is_whitespace()).collect(),
        EntityKind::Email => value.to_ascii_lowercase(),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests;
