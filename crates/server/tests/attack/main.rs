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

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchyard"))
}
