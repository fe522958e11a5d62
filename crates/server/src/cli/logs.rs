//! `switchyard logs`: reads the request log from the configured database (SQLite or PostgreSQL).

use std::path::Path;
use std::process::ExitCode;

use switchyard_core::store::{LogQuery, LogRecord, StoreError};

use switchyard_store::{PostgresLog, SqliteLog};

use super::load_or_report;
use crate::config::{Database, Overrides};

pub struct Filter {
    pub limit: usize,
    pub model: Option<String>,
    pub customer: Option<String>,
    pub json: bool,
}

pub fn run(config: Option<&Path>, overrides: Overrides, filter: Filter) -> ExitCode {
    let config = match load_or_report(config, &overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Database::Sqlite(path) = &config.database {
        if !path.exists() {
            eprintln!("no request log at {} (has the gateway run with this data dir?)", path.display());
            return ExitCode::from(1);
        }
    }
    let query = LogQuery { limit: filter.limit, model: filter.model.clone(), customer: filter.customer.clone() };
    let records = match read(&config.database, &query) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot read the request log at {}: {e}", config.database.describe());
            return ExitCode::from(1);
        }
    };
    if filter.json {
        for r in &records {
            match serde_json::to_string(r) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("cannot print record {}: {e}", r.request_id),
            }
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<24} {:<36} {:<22} {:<22} {:>6} {:>9} {:>7} {:>7} {:<16}",
        "started", "request_id", "model", "served by", "status", "latency", "in", "out", "customer"
    );
    for r in &records {
        let served = match (&r.provider, &r.model) {
            (Some(p), Some(m)) => format!("{p}/{m}"),
            _ => "-".into(),
        };
        println!(
            "{:<24} {:<36} {:<22} {:<22} {:>6} {:>7.1}ms {:>7} {:>7} {:<16}",
            r.started_at,
            r.request_id,
            r.requested_model,
            served,
            r.status,
            r.latency_ms,
            r.input_tokens,
            r.output_tokens,
            r.customer_identifier.as_deref().unwrap_or("-")
        );
    }
    ExitCode::SUCCESS
}

fn read(database: &Database, query: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
    match database {
        Database::Sqlite(path) => SqliteLog::open_read_only(path)?.query(query),
        Database::Postgres(url) => PostgresLog::connect(url)?.query(query),
    }
}
