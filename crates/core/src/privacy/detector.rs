//! The detector: built once from a policy's entity types and custom entities, then run on every
//! text field. One scan over the bytes stops only at trigger bytes (a digit starting a run, `+`,
//! `(`, `@`, `:`), where the number, e-mail and IPv6 detectors look around; secrets and
//! dictionaries each take one Aho-Corasick pass over literal prefixes; custom regexes run last.
//! Overlapping candidates are then resolved: a secret wins, then the longest, then the most
//! specific type.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::bounds::number_starts;
use super::custom::{CustomEntity, CustomScanner};
use super::kind::{valid_custom_name, EntityKind};
use super::secret::SecretScanner;
use super::{card, email, iban, ip, phone, ssn, PrivacyError};

/// One detected value: its type and where it is in the text (byte offsets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: EntityKind,
    pub range: Range<usize>,
}

/// A compiled set of detectors. Cheap to share (`Arc`), immutable, and `Sync`.
pub struct Detector {
    email: bool,
    phone: bool,
    card: bool,
    iban: bool,
    ssn: bool,
    ip: bool,
    secrets: Option<SecretScanner>,
    custom: CustomScanner,
    custom_kinds: Vec<EntityKind>,
    /// The placeholder label of every kind above, computed once rather than per request.
    labels: Vec<String>,
    trigger: [bool; 256],
}

/// Which bytes stop the scan for the enabled detectors: digits start cards, SSNs, phones, IPv4
/// and (after two capitals) IBANs; `+` and `(` start phones; `@` e-mails; `:` IPv6. A policy
/// with fewer types stops at fewer bytes.
fn triggers(d: &Detector) -> [bool; 256] {
    let mut t = [false; 256];
    if d.card || d.ssn || d.phone || d.ip || d.iban {
        t[usize::from(b'0')..=usize::from(b'9')].fill(true);
    }
    t[usize::from(b'+')] = d.phone;
    t[usize::from(b'(')] = d.phone;
    t[usize::from(b'@')] = d.email;
    t[usize::from(b':')] = d.ip;
    t
}

/// The compiled automata are noise in a config dump; the types say what the detector does.
impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("kinds", &self.kinds()).finish()
    }
}

impl Detector {
    /// A detector for the built-in `kinds` (custom kinds in the list are ignored: every entry of
    /// `custom` is always on) plus the `custom` entities.
    pub fn new(kinds: &[EntityKind], custom: &[CustomEntity]) -> Result<Detector, PrivacyError> {
        let mut custom_kinds = Vec::with_capacity(custom.len());
        for entity in custom {
            if !valid_custom_name(&entity.name) {
                return Err(PrivacyError::BadName(entity.name.clone()));
            }
            let kind = EntityKind::Custom(Arc::from(entity.name.as_str()));
            if custom_kinds.contains(&kind) {
                return Err(PrivacyError::DuplicateName(entity.name.clone()));
            }
            custom_kinds.push(kind);
        }
        let on = |k: EntityKind| kinds.contains(&k);
        let mut detector = Detector {
            email: on(EntityKind::Email),
            phone: on(EntityKind::Phone),
            card: on(EntityKind::CreditCard),
            iban: on(EntityKind::Iban),
            ssn: on(EntityKind::UsSsn),
            ip: on(EntityKind::IpAddress),
            secrets: on(EntityKind::Secret).then(SecretScanner::new),
            custom: CustomScanner::new(custom)?,
            custom_kinds,
            labels: Vec::new(),
            trigger: [false; 256],
        };
        detector.labels = detector.kinds().iter().map(EntityKind::label).collect();
        detector.trigger = triggers(&detector);
        Ok(detector)
    }

    /// A detector from config names (`email`, `credit_card`, … or the name of one of `custom`).
    /// A name that is neither is an error. Custom entities not named in `names` are left out.
    pub fn from_names(names: &[&str], custom: &[CustomEntity]) -> Result<Detector, PrivacyError> {
        let mut kinds = Vec::new();
        let mut chosen = Vec::new();
        for name in names {
            if let Some(kind) = EntityKind::built_in(name) {
                kinds.push(kind);
            } else if let Some(entity) = custom.iter().find(|e| e.name == *name) {
                chosen.push(entity.clone());
            } else {
                return Err(PrivacyError::UnknownType((*name).to_string()));
            }
        }
        Detector::new(&kinds, &chosen)
    }

    /// Every type this detector can report, built-in ones first.
    pub fn kinds(&self) -> Vec<EntityKind> {
        let on = [
            (self.secrets.is_some(), EntityKind::Secret),
            (self.card, EntityKind::CreditCard),
            (self.iban, EntityKind::Iban),
            (self.ssn, EntityKind::UsSsn),
            (self.phone, EntityKind::Phone),
            (self.ip, EntityKind::IpAddress),
            (self.email, EntityKind::Email),
        ];
        let built_in = on.into_iter().filter_map(|(on, k)| on.then_some(k));
        built_in.chain(self.custom_kinds.iter().cloned()).collect()
    }

    /// The placeholder labels of `kinds()`, in the same order.
    pub(crate) fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The findings in `text`: non-overlapping and sorted by position. Allocates nothing when
    /// there are none.
    pub fn detect(&self, text: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        self.scan_triggers(text, &mut found);
        if let Some(secrets) = &self.secrets {
            secrets.scan(text, |range| found.push(Finding { kind: EntityKind::Secret, range }));
        }
        if !self.custom.is_empty() {
            self.custom.scan(text, |i, range| found.push(Finding { kind: self.custom_kinds[i].clone(), range }));
        }
        resolve(found)
    }

    fn scan_triggers(&self, text: &str, found: &mut Vec<Finding>) {
        if !self.trigger.contains(&true) {
            return;
        }
        let bytes = text.as_bytes();
        let mut push = |kind: EntityKind, range: Option<Range<usize>>| {
            if let Some(range) = range {
                found.push(Finding { kind, range });
            }
        };
        let mut i = 0;
        // The end of the last IPv6 candidate that failed: its other colons need no second look,
        // which keeps long hex-and-colon runs linear. Its digits are still read ("IP:10.0.0.1").
        let mut v6_tried_until = 0;
        while let Some(offset) = bytes[i..].iter().position(|&b| self.trigger[usize::from(b)]) {
            i += offset;
            match bytes[i] {
                b'@' if self.email => push(EntityKind::Email, email::at(bytes, i)),
                b':' if self.ip && i >= v6_tried_until => {
                    let (range, resume) = ip::v6_around(bytes, i);
                    if let Some(range) = range {
                        push(EntityKind::IpAddress, Some(range));
                        i = resume.max(i + 1);
                        continue;
                    }
                    v6_tried_until = resume;
                }
                b'+' | b'(' if self.phone => push(EntityKind::Phone, phone::at(bytes, i)),
                b'0'..=b'9' => {
                    let run_start = i == 0 || !bytes[i - 1].is_ascii_digit();
                    if run_start {
                        self.numbers_at(bytes, i, &mut push);
                    }
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// The number-shaped entities starting at the digit `i` (or an IBAN whose country code ends
    /// just before it).
    fn numbers_at(&self, bytes: &[u8], i: usize, push: &mut impl FnMut(EntityKind, Option<Range<usize>>)) {
        let upper = |j: usize| bytes[j].is_ascii_uppercase();
        if i >= 2 && upper(i - 1) && upper(i - 2) {
            if self.iban {
                push(EntityKind::Iban, iban::at(bytes, i - 2));
            }
            return;
        }
        if !number_starts(bytes, i) {
            return;
        }
        if self.card {
            push(EntityKind::CreditCard, card::at(bytes, i));
        }
        if self.ssn {
            push(EntityKind::UsSsn, ssn::at(bytes, i));
        }
        if self.phone {
            push(EntityKind::Phone, phone::at(bytes, i));
        }
        if self.ip {
            push(EntityKind::IpAddress, ip::v4_at(bytes, i));
        }
    }
}

/// Non-overlapping findings, sorted. Secrets are taken first: a token is more specific than
/// anything it happens to be part of (`https://ghp_…@github.com` holds a GitHub token, not an
/// e-mail address). Then longer candidates are taken first, equally long ones by specificity,
/// and a candidate overlapping one already taken is dropped.
fn resolve(mut found: Vec<Finding>) -> Vec<Finding> {
    if found.len() <= 1 {
        return found;
    }
    let rank = |f: &Finding| (f.kind != EntityKind::Secret, std::cmp::Reverse(f.range.len()), f.kind.specificity(), f.range.start);
    found.sort_by_key(rank);
    let mut taken: BTreeMap<usize, Finding> = BTreeMap::new();
    for f in found {
        let before = taken.range(..f.range.end).next_back();
        let overlaps = before.is_some_and(|(_, prev)| prev.range.end > f.range.start);
        if !overlaps {
            taken.insert(f.range.start, f);
        }
    }
    taken.into_values().collect()
}

#[cfg(test)]
mod tests;
