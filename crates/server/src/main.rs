//! The `switchyard` binary.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = switchyard_server::cli::Cli::parse();
    switchyard_server::cli::run(cli)
}
