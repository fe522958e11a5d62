//! The entity types a detector finds and the placeholder label each is redacted to. The names
//! (`email`, `credit_card`, …) are the config contract; the labels (`EMAIL`, `CREDIT_CARD`, …)
//! are what the model sees inside `<LABEL_N>` placeholders.

use std::fmt;
use std::sync::Arc;

/// One type of sensitive value. Custom entities carry their configured name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Email,
    Phone,
    CreditCard,
    Iban,
    UsSsn,
    IpAddress,
    Secret,
    Custom(Arc<str>),
}

impl EntityKind {
    /// Every built-in type, in the order used to break ties between equally long findings:
    /// earlier is more specific (a validated secret beats anything that overlaps it).
    pub const BUILT_IN: [EntityKind; 7] = [
        EntityKind::Secret,
        EntityKind::CreditCard,
        EntityKind::Iban,
        EntityKind::UsSsn,
        EntityKind::Phone,
        EntityKind::IpAddress,
        EntityKind::Email,
    ];

    /// The config name of a built-in type, `None` for anything else.
    pub fn built_in(name: &str) -> Option<EntityKind> {
        Self::BUILT_IN.into_iter().find(|k| k.name() == name)
    }

    /// The name used in config, summaries and metrics.
    pub fn name(&self) -> &str {
        match self {
            EntityKind::Email => "email",
            EntityKind::Phone => "phone",
            EntityKind::CreditCard => "credit_card",
            EntityKind::Iban => "iban",
            EntityKind::UsSsn => "us_ssn",
            EntityKind::IpAddress => "ip_address",
            EntityKind::Secret => "secret",
            EntityKind::Custom(name) => name,
        }
    }

    /// The placeholder label: the name in upper case (`credit_card` → `CREDIT_CARD`).
    pub fn label(&self) -> String {
        self.name().to_ascii_uppercase()
    }

    /// Rank for tie-breaking between findings of equal length; lower wins.
    pub(crate) fn specificity(&self) -> usize {
        Self::BUILT_IN.iter().position(|k| k == self).unwrap_or(Self::BUILT_IN.len())
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `name` can name a custom entity: lower-case ASCII letters, digits and `_`, starting
/// with a letter, so that its label is a valid placeholder label and cannot spell a built-in one.
pub(crate) fn valid_custom_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && EntityKind::built_in(name).is_none()
}
