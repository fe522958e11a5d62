//! Command-line interface: `serve`, `check`, `logs`, `version`, and the admin API clients `keys`,
//! `budgets`, `limits`, `spend` and `report`.

mod check;
mod logs;
mod manage;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, ConfigError, Overrides};

#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about = "An OpenAI-compatible LLM gateway")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the gateway (no flags: the embedded default on 127.0.0.1:4000 with SQLite and `mock`).
    Serve {
        #[arg(long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// Where the SQLite database and the log spool live.
        #[arg(long, env = "SWITCHYARD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// HOST:PORT to listen on (port 0 picks a free one).
        #[arg(long, env = "SWITCHYARD_LISTEN")]
        listen: Option<String>,
    },
    /// Validate a config file and print every problem.
    Check {
        #[arg(long, env = "SWITCHYARD_CONFIG")]
        config: PathBuf,
    },
    /// Show recent requests from the request log, newest first.
    Logs {
        #[arg(long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "SWITCHYARD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        filter: logs::Filter,
    },
    /// Print the version.
    Version,
    #[command(flatten)]
    Manage(manage::ManageCommand),
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config, data_dir, listen } => serve::run(config.as_deref(), Overrides { listen, data_dir }),
        Command::Check { config } => check::run(&config),
        Command::Logs { config, data_dir, filter } => logs::run(config.as_deref(), Overrides { listen: None, data_dir }, filter),
        Command::Manage(command) => manage::run(command),
        Command::Version => {
            println!("switchyard {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Loads the config or prints every problem and returns the exit code to use.
fn load_or_report(path: Option<&std::path::Path>, overrides: &Overrides) -> Result<Config, ExitCode> {
    config::load(path, overrides, &env_var).map_err(|errors| {
        report(&errors);
        ExitCode::from(2)
    })
}

fn report(errors: &[ConfigError]) {
    eprintln!("invalid configuration ({} problem{}):", errors.len(), if errors.len() == 1 { "" } else { "s" });
    for e in errors {
        eprintln!("  {e}");
    }
}
