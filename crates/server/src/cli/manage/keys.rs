//! `switchyard keys create | list | revoke`.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use http::Method;
use serde_json::{json, Map, Value};

use super::budgets::BudgetFlags;
use super::table::{cell, table};
use super::{AdminClient, ClientError, Shown};

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key; it is printed once and cannot be shown again.
    Create(Box<CreateArgs>),
    /// List every key (never the keys themselves).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    customer: Option<String>,
    /// Models the key may call, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Expiry: RFC 3339 (2027-01-01T00:00:00Z) or Unix seconds.
    #[arg(long)]
    expires: Option<String>,
    #[command(flatten)]
    limits: LimitFlags,
    #[command(flatten)]
    budget: BudgetFlags,
    /// KEY=VALUE, repeatable.
    #[arg(long, value_parser = key_value)]
    metadata: Vec<(String, String)>,
}

/// `--rpm`, `--tpm`, `--concurrency`, `--burst`, `--tpm-burst`, `--queue`.
#[derive(Debug, Args)]
pub struct LimitFlags {
    /// Requests per minute (a bucket of that many requests, refilled over the minute).
    #[arg(long)]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    #[arg(long)]
    pub concurrency: Option<u64>,
    /// Requests at once, at most --rpm (default: --rpm; 1 is a smooth rate).
    #[arg(long)]
    pub burst: Option<u64>,
    /// Tokens at once, at most --tpm (default: --tpm).
    #[arg(long)]
    pub tpm_burst: Option<u64>,
    /// How long a request over --rpm or --tpm may wait for room instead of a 429 (`10s`).
    #[arg(long)]
    pub queue: Option<String>,
}

impl LimitFlags {
    pub fn to_json(&self) -> Value {
        let fields =
            [("rpm", self.rpm), ("tpm", self.tpm), ("concurrency", self.concurrency), ("burst", self.burst), ("tpm_burst", self.tpm_burst)];
        let mut out: Map<String, Value> = fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), json!(v)))).collect();
        if let Some(queue) = &self.queue {
            out.insert("queue".into(), json!(queue));
        }
        Value::Object(out)
    }
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

pub async fn run(client: &AdminClient, action: KeysAction) -> Result<Shown, ClientError> {
    match action {
        KeysAction::Create(args) => Ok((client.send(Method::POST, "/admin/keys", &[], Some(create_body(*args))).await?, show_created)),
        KeysAction::List => Ok((client.get("/admin/keys", &[]).await?, show_list)),
        KeysAction::Revoke { id } => Ok((client.send(Method::DELETE, &format!("/admin/keys/{id}"), &[], None).await?, show_revoked)),
    }
}

fn create_body(args: CreateArgs) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), json!(args.name));
    let optional = [("team", args.team), ("customer", args.customer), ("expires_at", args.expires)];
    body.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), json!(v)))));
    if !args.models.is_empty() {
        body.insert("models".into(), json!(args.models));
    }
    let limits = args.limits.to_json();
    if limits.as_object().is_some_and(|m| !m.is_empty()) {
        body.insert("limits".into(), limits);
    }
    if let Some(budget) = args.budget.to_json() {
        body.insert("budget".into(), budget);
    }
    if !args.metadata.is_empty() {
        body.insert("metadata".into(), json!(args.metadata.into_iter().collect::<BTreeMap<_, _>>()));
    }
    Value::Object(body)
}

fn show_created(key: &Value) -> String {
    format!(
        "created key {} ({})\n\n    {}\n\nStore it now: it is not shown again.",
        cell(&key["id"]),
        cell(&key["name"]),
        cell(&key["key"])
    )
}

fn show_list(answer: &Value) -> String {
    let keys = answer["keys"].as_array().cloned().unwrap_or_default();
    if keys.is_empty() {
        return "no keys yet; create one with `switchyard keys create --name NAME`".into();
    }
    let fields = ["id", "prefix", "name", "team", "customer", "status", "expires_at", "created_at"];
    let rows: Vec<Vec<String>> = keys.iter().map(|k| fields.iter().map(|f| cell(&k[*f])).collect()).collect();
    table(&["ID", "PREFIX", "NAME", "TEAM", "CUSTOMER", "STATUS", "EXPIRES", "CREATED"], &rows, &[])
}

fn show_revoked(key: &Value) -> String {
    format!("revoked key {} ({}) at {}", cell(&key["id"]), cell(&key["name"]), cell(&key["revoked_at"]))
}
