//! Gateway tests: the real `switchyard` binary on port 0 against fake upstreams from testkit that
//! replay recorded provider traffic and check what the gateway sent.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod cache;
mod cli;
mod common;
mod embeddings;
mod errors;
mod fallback;
mod governance;
mod metrics;
mod passthrough;
mod reload;
mod report;
mod request_log;
mod responses;
mod shared;
mod streaming;
mod telemetry;
