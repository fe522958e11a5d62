//! The exact response cache, minus storage: the canonical request key (`key`), whether and how a
//! request uses the cache (`policy`), what is stored (`entry`), how a passing stream becomes an
//! entry (`accumulate`) and how an entry is replayed to a streaming client (`replay`).
//!
//! A streamed and a non-streamed request share entries: both store a full `chat.completion`, and
//! a hit is returned as a body or replayed as chunks, whichever the client asked for.

pub mod accumulate;
pub mod entry;
pub mod key;
pub mod policy;
pub mod replay;

#[cfg(test)]
mod tests;

pub use accumulate::StreamAccumulator;
pub use entry::Entry;
pub use key::cache_key;
pub use policy::{decide, CacheSettings, Decision, Mode};
pub use replay::to_sse;

/// The response header that reports what the cache did.
pub const STATUS_HEADER: &str = "x-switchyard-cache";

/// What the cache did for one request, as `x-switchyard-cache` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Served from the cache.
    Hit,
    /// Served from the cache: the answer to a request of the same meaning.
    SemanticHit,
    /// Looked up (or refreshed) and not served from the cache; the answer may be stored.
    Miss,
    /// The cache was not used.
    Bypass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Hit => "HIT",
            Status::SemanticHit => "SEMANTIC_HIT",
            Status::Miss => "MISS",
            Status::Bypass => "BYPASS",
        }
    }
}
