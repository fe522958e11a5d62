//! `switchyard budgets set | get | list` and `switchyard limits set | get`: the policies of a team,
//! customer, feature or model.

use clap::{Args, Subcommand};
use http::Method;
use serde_json::{json, Map, Value};

use super::keys::LimitFlags;
use super::table::{cell, table};
use super::{AdminClient, ClientError, Shown};

#[derive(Debug, Subcommand)]
pub enum BudgetsAction {
    /// Set the budget of SCOPE (team, customer, feature or model) NAME; its limits are kept.
    Set {
        scope: String,
        name: String,
        #[command(flatten)]
        budget: BudgetFlags,
    },
    /// Show a budget and what was spent in its current window.
    Get { scope: String, name: String },
    /// List every budget and limit.
    List,
}

#[derive(Debug, Subcommand)]
pub enum LimitsAction {
    /// Set the rate limits of SCOPE (team, customer, feature or model) NAME; its budget is kept.
    Set {
        scope: String,
        name: String,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// Show the rate limits of SCOPE NAME.
    Get { scope: String, name: String },
}

/// A budget on the command line (`keys create` spells the amounts `--budget-usd`/`--budget-tokens`).
#[derive(Debug, Args)]
pub struct BudgetFlags {
    /// Budget in US dollars.
    #[arg(long = "usd", visible_alias = "budget-usd", conflicts_with = "tokens")]
    pub usd: Option<f64>,
    /// Budget in tokens (input + output).
    #[arg(long = "tokens", visible_alias = "budget-tokens")]
    pub tokens: Option<u64>,
    /// Cap on admitted requests (alone, or next to --usd or --tokens).
    #[arg(long = "requests", visible_alias = "budget-requests")]
    pub requests: Option<u64>,
    /// daily, monthly or total.
    #[arg(long)]
    pub window: Option<String>,
    /// Percent of the budget at which the soft-cap alert fires.
    #[arg(long)]
    pub soft_pct: Option<f64>,
    /// Cheaper model to switch to above --downgrade-pct percent.
    #[arg(long)]
    pub downgrade_to: Option<String>,
    #[arg(long)]
    pub downgrade_pct: Option<f64>,
}

impl BudgetFlags {
    /// The API's budget object, or `None` when no budget flag was given. The API checks it.
    pub fn to_json(&self) -> Option<Value> {
        let mut budget = Map::new();
        let numbers = [("usd", self.usd), ("soft_pct", self.soft_pct), ("downgrade_pct", self.downgrade_pct)];
        budget.extend(numbers.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), json!(v)))));
        budget.extend(self.tokens.map(|t| ("tokens".to_string(), json!(t))));
        budget.extend(self.requests.map(|n| ("requests".to_string(), json!(n))));
        let texts = [("window", &self.window), ("downgrade_to", &self.downgrade_to)];
        budget.extend(texts.into_iter().filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), json!(v)))));
        (!budget.is_empty()).then_some(Value::Object(budget))
    }
}

pub async fn run_budgets(client: &AdminClient, action: BudgetsAction) -> Result<Shown, ClientError> {
    match action {
        BudgetsAction::Set { scope, name, budget } => {
            let body = budget.to_json().unwrap_or_else(|| json!({}));
            Ok((client.send(Method::PUT, &path("budgets", &scope, &name), &[], Some(body)).await?, show_policy))
        }
        BudgetsAction::Get { scope, name } => Ok((client.get(&path("budgets", &scope, &name), &[]).await?, show_budget)),
        BudgetsAction::List => Ok((client.get("/admin/budgets", &[]).await?, show_policies)),
    }
}

pub async fn run_limits(client: &AdminClient, action: LimitsAction) -> Result<Shown, ClientError> {
    match action {
        LimitsAction::Set { scope, name, limits } => {
            Ok((client.send(Method::PUT, &path("limits", &scope, &name), &[], Some(limits.to_json())).await?, show_policy))
        }
        LimitsAction::Get { scope, name } => Ok((client.get(&path("limits", &scope, &name), &[]).await?, show_limits)),
    }
}

fn path(kind: &str, scope: &str, name: &str) -> String {
    format!("/admin/{kind}/{}/{}", encode(scope), encode(name))
}

/// Percent-encodes a path segment (names may hold spaces, slashes or `%`).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// `$10.00`, `5000 tokens`, `1000 requests` or `$10.00 + 1000 requests`.
fn amount(budget: &Value) -> String {
    let spend = match (budget["usd"].as_f64(), budget["tokens"].as_u64()) {
        (Some(usd), _) => Some(format!("${usd:.2}")),
        (None, Some(tokens)) => Some(format!("{tokens} tokens")),
        _ => None,
    };
    match (spend, budget["requests"].as_u64()) {
        (Some(spend), Some(n)) => format!("{spend} + {n} requests"),
        (Some(spend), None) => spend,
        (None, Some(n)) => format!("{n} requests"),
        (None, None) => "-".into(),
    }
}

const POLICY_HEADERS: [&str; 8] = ["SCOPE", "NAME", "BUDGET", "WINDOW", "RPM", "TPM", "CONCURRENCY", "UPDATED"];

fn policy_row(p: &Value) -> Vec<String> {
    let budget = &p["budget"];
    let limit = |f: &str| cell(&p["limits"][f]);
    vec![
        cell(&p["scope"]),
        cell(&p["name"]),
        amount(budget),
        cell(&budget["window"]),
        limit("rpm"),
        limit("tpm"),
        limit("concurrency"),
        cell(&p["updated_at"]),
    ]
}

fn show_policy(policy: &Value) -> String {
    table(&POLICY_HEADERS, &[policy_row(policy)], &[4, 5, 6])
}

fn show_limits(answer: &Value) -> String {
    let limit = |f: &str| cell(&answer["limits"][f]);
    let row = vec![cell(&answer["scope"]), cell(&answer["name"]), limit("rpm"), limit("tpm"), limit("concurrency")];
    table(&["SCOPE", "NAME", "RPM", "TPM", "CONCURRENCY"], &[row], &[2, 3, 4])
}

fn show_policies(answer: &Value) -> String {
    let policies = answer["policies"].as_array().cloned().unwrap_or_default();
    if policies.is_empty() {
        return "no budgets or limits set; see `switchyard budgets set --help`".into();
    }
    table(&POLICY_HEADERS, &policies.iter().map(policy_row).collect::<Vec<_>>(), &[4, 5, 6])
}

fn show_budget(answer: &Value) -> String {
    let budget = &answer["budget"];
    let spent = &answer["spent"];
    let (spent_text, used) = match (budget["usd"].as_f64(), budget["tokens"].as_f64()) {
        (Some(cap), _) => (format!("${:.2}", spent["usd"].as_f64().unwrap_or(0.0)), spent["usd"].as_f64().unwrap_or(0.0) / cap),
        (None, Some(cap)) => (format!("{} tokens", spent["tokens"].as_u64().unwrap_or(0)), spent["tokens"].as_f64().unwrap_or(0.0) / cap),
        _ => match budget["requests"].as_f64() {
            Some(cap) => (format!("{} requests", spent["requests"].as_u64().unwrap_or(0)), spent["requests"].as_f64().unwrap_or(0.0) / cap),
            None => ("-".into(), 0.0),
        },
    };
    let row = vec![
        cell(&answer["scope"]),
        cell(&answer["name"]),
        amount(budget),
        cell(&budget["window"]),
        spent_text,
        format!("{:.1}%", used * 100.0),
        cell(&answer["window_start"]),
    ];
    table(&["SCOPE", "NAME", "BUDGET", "WINDOW", "SPENT", "USED", "SINCE"], &[row], &[4, 5])
}
