//! Attacks on the real binary, the way an unfriendly client, a web page or a misconfigured
//! neighbour would make them: each module is one family of probes (issue 11).
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod origins;

use std::path::Path;

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchyard"))
}
