//! Attacks on the real binary: what an unfriendly client or a misconfigured neighbour does to a
//! gateway (held and slowloris connections, trickled and hostile bodies, saturation, path-shaped
//! model names, drive-by browser requests), each probe checking that real clients are still
//! served and nothing leaks. Against fake upstreams only.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod bodies;
mod connections;
mod origins;
mod paths;

use std::path::Path;

/// The binary under attack: this build's, or `SWITCHYARD_ATTACK_BIN` (a release build, or an
/// older one to see a probe fail before its fix).
pub fn bin() -> &'static Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| std::env::var_os("SWITCHYARD_ATTACK_BIN").map_or_else(|| env!("CARGO_BIN_EXE_switchyard").into(), Into::into))
}
