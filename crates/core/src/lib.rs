//! The request pipeline as named steps, each a plain function with typed input and output:
//! `parse` (body → canonical request + gateway fields), `route` (model name → targets),
//! `attempt` (call a provider under its deadlines) and `record` (one log record per request).
//! The domain types that are stored and the storage traits (ports) live in `store`; the
//! `switchyard-store` crate implements them. Nothing here knows HTTP frameworks or storage engines.

pub mod admit;
pub mod attempt;
pub mod billing;
pub mod breaker;
pub mod cache;
pub mod flight;
pub mod govern;
pub mod keys;
pub mod lookup;
pub mod metrics;
pub mod monitor;
pub mod pipeline;
pub mod pricing;
pub mod privacy;
pub mod record;
pub mod request;
pub mod retry;
pub mod route;
pub mod semantic;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod time;
pub mod tokens;

pub use attempt::{attempt, run_attempts, AttemptLog, Failed, Outcome, Served};
pub use pricing::{cost_usd, Catalog, ModelPrice, Price};
pub use record::{new_request_id, Recorder};
pub use request::{
    decode_chat, decode_embeddings, decode_messages, parse, parse_native, Decode, GatewayFields, InboundBody, Parsed, Request,
    RequestHeaders,
};
pub use route::{
    Health, Latency, ModelEntry, ModelRoute, PlannedAttempt, Route, RouteError, Router, Strategy, Target, TargetSpec, Timeouts,
};
