//! The OpenAI Responses API as an inbound API: its request translated into the canonical
//! request (`request.rs`, `input.rs`), the canonical answer and stream written back as a
//! Response object and its events (`response.rs`, `stream.rs`). Stored state (what
//! `previous_response_id` continues) is the server's and core's business, not this module's.

mod input;
pub mod native;
pub mod request;
pub mod response;
pub mod stream;

#[cfg(test)]
mod tests;

pub use native::native;
pub use request::{to_chat, Translated};
pub use response::{from_completion, listed_input_items, ResponseContext};
pub use stream::{Event, Events};
