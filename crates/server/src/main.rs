//! The `switchyard` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = switchyard_server::cli::Cli::parse();
    switchyard_server::cli::run(cli)
}
