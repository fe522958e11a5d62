//! `switchyard spend`: totals from the request log through `GET /admin/spend`.

use clap::Args;
use serde_json::Value;

use super::table::{cell, table};
use super::{AdminClient, ClientError, Shown};

#[derive(Debug, Args)]
pub struct SpendFilter {
    /// Key id.
    #[arg(long)]
    key: Option<String>,
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    customer: Option<String>,
    #[arg(long)]
    feature: Option<String>,
    /// Requested or served model.
    #[arg(long)]
    model: Option<String>,
    /// Start (inclusive): RFC 3339 or Unix seconds.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive): RFC 3339 or Unix seconds.
    #[arg(long)]
    to: Option<String>,
    /// Comma list of key, team, customer, feature, model, provider, day, hour, metadata.<key>.
    #[arg(long)]
    group_by: Option<String>,
}

impl SpendFilter {
    fn query(self) -> Vec<(&'static str, String)> {
        let fields = [
            ("key", self.key),
            ("team", self.team),
            ("customer", self.customer),
            ("feature", self.feature),
            ("model", self.model),
            ("from", self.from),
            ("to", self.to),
            ("group_by", self.group_by),
        ];
        fields.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect()
    }
}

pub async fn run(client: &AdminClient, filter: SpendFilter) -> Result<Shown, ClientError> {
    Ok((client.get("/admin/spend", &filter.query()).await?, show))
}

fn show(answer: &Value) -> String {
    let rows = answer["rows"].as_array().cloned().unwrap_or_default();
    let money = |v: &Value| format!("{:.4}", v.as_f64().unwrap_or(0.0));
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let values: Vec<String> = r["group"].as_object().map(|g| g.values().map(cell).collect()).unwrap_or_default();
            let group = if values.is_empty() { "(all)".to_string() } else { values.join(" / ") };
            vec![
                group,
                cell(&r["requests"]),
                cell(&r["input_tokens"]),
                cell(&r["output_tokens"]),
                money(&r["cost_usd"]),
                money(&r["cache_saved_usd"]),
            ]
        })
        .collect();
    table(&["GROUP", "REQUESTS", "INPUT TOKENS", "OUTPUT TOKENS", "COST USD", "CACHE SAVED USD"], &lines, &[1, 2, 3, 4, 5])
}
