//! `switchyard keys | budgets | limits | spend | report`: clients of the admin API. Tables by default,
//! `--json` for the API's answer as it is; API errors print as `error: <message>` with exit code 1.

mod budgets;
mod client;
mod keys;
mod report;
mod spend;
mod table;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use client::{AdminClient, ClientError};

#[derive(Debug, Subcommand)]
pub enum ManageCommand {
    /// Create, list and revoke virtual keys (through the admin API).
    Keys {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        action: keys::KeysAction,
    },
    /// Set and read the budget of a team, customer, feature or model.
    Budgets {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        action: budgets::BudgetsAction,
    },
    /// Set and read the rate limits of a team, customer, feature or model.
    Limits {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        action: budgets::LimitsAction,
    },
    /// Spend totals from the request log: requests, tokens, cost, cache savings.
    Spend {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        filter: spend::SpendFilter,
    },
    /// Usage and cost report: totals, errors, cache hit rate and savings, latency percentiles,
    /// grouped by one or more dimensions, with a TOTAL line.
    Report {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        args: report::ReportArgs,
    },
}

/// Where the admin API is and how to talk to it.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Base URL of the admin API.
    #[arg(long, global = true, env = "SWITCHYARD_ADMIN_URL", default_value = client::DEFAULT_URL)]
    pub admin_url: String,
    /// The admin key the server runs with (its admin.key).
    #[arg(long, global = true, env = "SWITCHYARD_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Print the API's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

pub fn run(command: ManageCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(command)) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command and returns what to print.
pub async fn execute(command: ManageCommand) -> Result<String, ClientError> {
    let admin = match &command {
        ManageCommand::Keys { admin, .. }
        | ManageCommand::Budgets { admin, .. }
        | ManageCommand::Limits { admin, .. }
        | ManageCommand::Spend { admin, .. }
        | ManageCommand::Report { admin, .. } => admin.clone(),
    };
    let client = AdminClient::new(&admin.admin_url, admin.admin_key)?;
    let (answer, render): Shown = match command {
        ManageCommand::Keys { action, .. } => keys::run(&client, action).await?,
        ManageCommand::Budgets { action, .. } => budgets::run_budgets(&client, action).await?,
        ManageCommand::Limits { action, .. } => budgets::run_limits(&client, action).await?,
        ManageCommand::Spend { filter, .. } => spend::run(&client, filter).await?,
        ManageCommand::Report { args, .. } => report::run(&client, args).await?,
    };
    Ok(if admin.json { serde_json::to_string_pretty(&answer).unwrap_or_else(|_| answer.to_string()) } else { render(&answer) })
}

/// An answer and how to show it as text.
type Shown = (serde_json::Value, fn(&serde_json::Value) -> String);
