//! `switchyard logs`: searches the request log in the configured database (SQLite or PostgreSQL)
//! directly, with the filters of `GET /admin/logs` (read and checked by the same code).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use switchyard_core::store::{LogFilter, LogRecord, StoreError};

use switchyard_store::{PostgresLog, SqliteLog};

use super::load_or_report;
use crate::config::{Database, Overrides};

/// The filters, as `GET /admin/logs` names them (`--served-model` is `served_model`).
#[derive(Debug, Default, clap::Args)]
pub struct Filter {
    /// Records to print (1 to 500).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub customer: Option<String>,
    #[arg(long)]
    pub team: Option<String>,
    /// The virtual key's id.
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub feature: Option<String>,
    /// The model the client asked for.
    #[arg(long)]
    pub model: Option<String>,
    /// The model that served: its name or provider/model.
    #[arg(long)]
    pub served_model: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// ok, error or an HTTP status.
    #[arg(long)]
    pub status: Option<String>,
    /// HIT, SEMANTIC_HIT, MISS or BYPASS.
    #[arg(long)]
    pub cache: Option<String>,
    /// KEY=VALUE; repeat for more (all must match).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// 15m, 24h, 7d…
    #[arg(long)]
    pub last: Option<String>,
    /// RFC 3339 or Unix seconds.
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub min_latency_ms: Option<String>,
    #[arg(long)]
    pub min_cost_usd: Option<String>,
    /// Text in the stored request or response body.
    #[arg(long)]
    pub q: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

impl Filter {
    /// As the admin API's query parameters, so that both read and check them the same way.
    fn params(&self) -> Result<BTreeMap<String, String>, String> {
        let mut params = BTreeMap::from([("limit".to_string(), self.limit.to_string())]);
        let named = [
            ("customer", &self.customer),
            ("team", &self.team),
            ("key", &self.key),
            ("feature", &self.feature),
            ("model", &self.model),
            ("served_model", &self.served_model),
            ("provider", &self.provider),
            ("status", &self.status),
            ("cache", &self.cache),
            ("last", &self.last),
            ("from", &self.from),
            ("to", &self.to),
            ("min_latency_ms", &self.min_latency_ms),
            ("min_cost_usd", &self.min_cost_usd),
            ("q", &self.q),
        ];
        for (name, value) in named {
            if let Some(v) = value {
                params.insert(name.to_string(), v.clone());
            }
        }
        for pair in &self.metadata {
            let (k, v) =
                pair.split_once('=').filter(|(k, _)| !k.is_empty()).ok_or_else(|| format!("--metadata `{pair}` is not KEY=VALUE"))?;
            params.insert(format!("metadata.{k}"), v.to_string());
        }
        Ok(params)
    }

    fn log_filter(&self) -> Result<LogFilter, String> {
        crate::admin::log_filter(&self.params()?, switchyard_core::time::now_ms()).map_err(|e| {
            let body = e.body();
            let param = body.error.param.as_deref().map(|p| format!("--{}: ", p.replace('_', "-"))).unwrap_or_default();
            format!("{param}{}", body.error.message)
        })
    }
}

pub fn run(config: Option<&Path>, overrides: Overrides, filter: Filter) -> ExitCode {
    let query = match filter.log_filter() {
        Ok(q) => q,
        Err(why) => {
            eprintln!("{why}");
            return ExitCode::from(2);
        }
    };
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

fn read(database: &Database, filter: &LogFilter) -> Result<Vec<LogRecord>, StoreError> {
    let page = match database {
        Database::Sqlite(path) => SqliteLog::open_read_only(path)?.search(filter)?,
        Database::Postgres(url) => PostgresLog::connect(url)?.search(filter)?,
    };
    Ok(page.records)
}
