//! Test kit for Switchyard: recorded provider fixtures, a scriptable fake OpenAI-compatible
//! upstream with fault injection and disconnect detection, and a helper that runs the real
//! gateway binary.

pub mod accumulate;
pub mod fake_upstream;
pub mod fixtures;
pub mod fuzz;
pub mod gateway;
pub mod openai;
pub mod reply;
pub mod services;

pub use accumulate::Accumulated;
pub use fake_upstream::{FakeUpstream, RecordedRequest};
pub use fixtures::{fixture_bytes, fixture_json, fixture_path, fixture_reply, fixture_str};
pub use gateway::GatewayProcess;
pub use openai::{chunks_to_sse, openai_completion, openai_stream};
pub use reply::{Reply, Split};
