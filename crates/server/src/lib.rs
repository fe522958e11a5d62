//! The `switchyard` server: configuration, HTTP routes, the CLI commands and graceful shutdown.

pub mod admin;
mod alerts;
mod caching;
pub mod cli;
pub mod config;
pub mod governance;
pub mod http;
pub mod listen;
pub mod monitors;
pub mod reload;
pub mod shared_state;
pub mod snapshot;
pub mod telemetry;
