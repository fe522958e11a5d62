//! The `switchyard` server: configuration, HTTP routes, the CLI commands and graceful shutdown.

pub mod cli;
pub mod config;
pub mod http;
pub mod shared_state;
