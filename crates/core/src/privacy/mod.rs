//! PII and secret redaction, in process: a `Detector` finds sensitive values in text (validated
//! e-mails, phones, cards, IBANs, SSNs, IPs, credentials, custom entities), a `Redactor` replaces
//! them in every text field of one request with typed placeholders (`<EMAIL_1>`) and keeps the
//! originals in a `Vault`, and a `Restorer` puts the originals back into the model's answer —
//! streamed in chunks of any size, as plain text or inside JSON strings (tool-call arguments).
//!
//! Text in the input that already looks like a placeholder is itself redacted (see
//! `placeholder`), so every placeholder the model sees was issued by the request's vault and a
//! forged `<EMAIL_1>` restores to itself, never to someone's address.
//!
//! This module is the engine only: policies, config, the pipeline step and metrics use it.
//!
//! ```
//! use std::sync::Arc;
//! use switchyard_core::privacy::{Detector, Redactor, RestoreMode, Restorer};
//!
//! // Once per policy, when the config loads: compiles every pattern.
//! let detector = Detector::from_names(&["email", "phone", "credit_card"], &[]).unwrap();
//!
//! // Once per request: every text field through the same redactor.
//! let mut redactor = Redactor::new(&detector);
//! let system = "Reply to jane@example.com.";
//! let user = "Card 4111 1111 1111 1111; mail jane@example.com";
//! assert_eq!(redactor.redact(system).as_deref(), Some("Reply to <EMAIL_1>."));
//! assert_eq!(redactor.redact(user).as_deref(), Some("Card <CREDIT_CARD_1>; mail <EMAIL_1>"));
//! assert_eq!(redactor.redact("nothing here"), None); // keep the original, nothing allocated
//! let (vault, summary) = redactor.finish();
//! assert_eq!(summary.get("email"), 2); // for the log: types and counts, never values
//!
//! // On the way out, per streamed text (Text) or tool-call arguments (JsonString).
//! let mut restorer = Restorer::new(Arc::new(vault), RestoreMode::Text);
//! let mut answer = String::new();
//! for chunk in ["Sent to <EMA", "IL_1", ">."] {
//!     answer.push_str(&restorer.push(chunk));
//! }
//! answer.push_str(&restorer.finish());
//! assert_eq!(answer, "Sent to jane@example.com.");
//! ```

mod bounds;
mod card;
pub mod checksum;
mod custom;
mod detector;
mod digits;
mod email;
mod iban;
mod ip;
mod kind;
mod phone;
mod phone_plan;
mod placeholder;
mod redact;
mod restore;
mod secret;
mod ssn;

pub use custom::{CustomEntity, CustomMatcher, Validator};
pub use detector::{Detector, Finding};
pub use kind::EntityKind;
pub use redact::{Redactor, Summary, Vault};
pub use restore::{restore, RestoreMode, Restorer};

/// Why a detector could not be built from its configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrivacyError {
    #[error("unknown entity type `{0}`: not a built-in type nor a configured custom entity")]
    UnknownType(String),
    #[error("custom entity name `{0}` must be lower-case letters, digits and `_`, start with a letter, and not be a built-in type")]
    BadName(String),
    #[error("custom entity `{0}` is defined twice")]
    DuplicateName(String),
    #[error("custom entity `{name}`: invalid pattern: {reason}")]
    BadPattern { name: String, reason: String },
    #[error("custom entity `{0}`: the dictionary has no terms")]
    EmptyDictionary(String),
}
