//! The Anthropic Messages API as an inbound API: its request translated into the canonical
//! request, the canonical answer and stream written back in its shape. (The Anthropic *provider*
//! — the other direction — lives in the providers crate.)

pub mod request;
pub mod response;
pub mod stream;

#[cfg(test)]
mod tests;

pub use request::{native, to_chat};
pub use response::from_completion;
pub use stream::{Event, Events};
