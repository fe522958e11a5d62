//! Custom entities from config: a regular expression with an optional check-digit validator
//! (a member number that must pass Luhn, an account number that must pass mod-97), or a
//! dictionary of terms (patient names, project code names) matched case-insensitively (ASCII
//! case folding) as whole words.

use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

use super::checksum::{luhn, mod97};
use super::PrivacyError;

/// A custom entity as configured: its name (lower case, becomes the placeholder label) and how
/// it is recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomEntity {
    pub name: String,
    pub matcher: CustomMatcher,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomMatcher {
    /// Every match of `pattern` that passes `validator`.
    Regex { pattern: String, validator: Validator },
    /// Every whole-word occurrence of one of `terms`, ignoring ASCII case.
    Dictionary { terms: Vec<String> },
}

/// A check applied to a custom regex match before it counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validator {
    #[default]
    None,
    /// Luhn over the digits of the match.
    Luhn,
    /// ISO 13616 mod-97 over the letters and digits of the match.
    Mod97,
}

impl Validator {
    fn accepts(self, s: &str) -> bool {
        match self {
            Validator::None => true,
            Validator::Luhn => luhn(s),
            Validator::Mod97 => mod97(s),
        }
    }
}

/// The compiled custom entities of one detector: each regex on its own, all dictionaries in one
/// automaton whose pattern ids map back to their entity.
pub(crate) struct CustomScanner {
    regexes: Vec<(usize, Regex, Validator)>,
    dictionary: Option<(AhoCorasick, Vec<usize>)>,
}

impl CustomScanner {
    /// Compiles `entities`; the entity index passed to `found` is the position in this slice.
    pub(crate) fn new(entities: &[CustomEntity]) -> Result<CustomScanner, PrivacyError> {
        let mut regexes = Vec::new();
        let mut terms = Vec::new();
        let mut owners = Vec::new();
        for (index, entity) in entities.iter().enumerate() {
            match &entity.matcher {
                CustomMatcher::Regex { pattern, validator } => {
                    let re =
                        Regex::new(pattern).map_err(|e| PrivacyError::BadPattern { name: entity.name.clone(), reason: e.to_string() })?;
                    regexes.push((index, re, *validator));
                }
                CustomMatcher::Dictionary { terms: words } => {
                    let before = terms.len();
                    for word in words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
                        terms.push(word.to_string());
                        owners.push(index);
                    }
                    if terms.len() == before {
                        return Err(PrivacyError::EmptyDictionary(entity.name.clone()));
                    }
                }
            }
        }
        let dictionary = if terms.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&terms)
                .map_err(|e| PrivacyError::BadPattern { name: "dictionary".into(), reason: e.to_string() })?;
            Some((ac, owners))
        };
        Ok(CustomScanner { regexes, dictionary })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.regexes.is_empty() && self.dictionary.is_none()
    }

    /// Every custom finding in `text` as (entity index, range).
    pub(crate) fn scan(&self, text: &str, mut found: impl FnMut(usize, Range<usize>)) {
        for (index, re, validator) in &self.regexes {
            for m in re.find_iter(text) {
                if !m.is_empty() && validator.accepts(m.as_str()) {
                    found(*index, m.range());
                }
            }
        }
        if let Some((ac, owners)) = &self.dictionary {
            for m in ac.find_iter(text) {
                if whole_word(text, m.start(), m.end()) {
                    found(owners[m.pattern().as_usize()], m.range());
                }
            }
        }
    }
}

/// Whether `text[start..end]` is not part of a longer word, judged by Unicode characters so that
/// "Anna" is not found inside "Annaëlle".
fn whole_word(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let joins = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    !joins(before) && !joins(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(entities: &[CustomEntity], text: &str) -> Vec<(usize, String)> {
        let scanner = CustomScanner::new(entities).unwrap();
        let mut out = Vec::new();
        scanner.scan(text, |i, r| out.push((i, text[r].to_string())));
        out
    }

    fn regex(name: &str, pattern: &str, validator: Validator) -> CustomEntity {
        CustomEntity { name: name.into(), matcher: CustomMatcher::Regex { pattern: pattern.into(), validator } }
    }

    #[test]
    fn a_regex_entity_with_a_luhn_validator_keeps_only_matches_that_pass() {
        let member = regex("member_id", r"\bM-\d{8}\b", Validator::Luhn);
        let found = scan(&[member], "M-12345674 and M-12345675");
        assert_eq!(found, vec![(0, "M-12345674".to_string())]);
    }

    #[test]
    fn dictionary_terms_match_whole_words_in_any_ascii_case() {
        let names =
            CustomEntity { name: "patient".into(), matcher: CustomMatcher::Dictionary { terms: vec!["Anna Smith".into(), "Bob".into()] } };
        let found = scan(&[names], "anna smith met BOB; Bobby and Annaëlle did not");
        assert_eq!(found, vec![(0, "anna smith".to_string()), (0, "BOB".to_string())]);
    }

    #[test]
    fn an_invalid_regex_or_an_empty_dictionary_is_a_build_error() {
        assert!(CustomScanner::new(&[regex("x", "(", Validator::None)]).is_err());
        let empty = CustomEntity { name: "y".into(), matcher: CustomMatcher::Dictionary { terms: vec![" ".into()] } };
        assert!(CustomScanner::new(&[empty]).is_err());
    }
}
