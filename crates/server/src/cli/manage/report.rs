//! `switchyard report`: the usage and cost report (`GET /admin/spend`) as an aligned table with a
//! TOTAL line, or as CSV.

use clap::Args;
use serde_json::Value;

use super::table::{cell, table};
use super::{AdminClient, ClientError, Shown};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// How far back: 15m, 24h, 7d.
    #[arg(long)]
    last: Option<String>,
    /// Start (inclusive) instead of --last: RFC 3339 or Unix seconds.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive): RFC 3339 or Unix seconds.
    #[arg(long)]
    to: Option<String>,
    /// Group by key, team, customer, feature, model, provider, day, hour or metadata.<key>; repeat
    /// for several (`--by model --by feature`).
    #[arg(long = "by")]
    by: Vec<String>,
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
    /// Comma-separated values with a header line instead of a table.
    #[arg(long)]
    csv: bool,
}

impl ReportArgs {
    fn query(self) -> Vec<(&'static str, String)> {
        let group_by = (!self.by.is_empty()).then(|| self.by.join(","));
        let fields = [
            ("last", self.last),
            ("from", self.from),
            ("to", self.to),
            ("group_by", group_by),
            ("key", self.key),
            ("team", self.team),
            ("customer", self.customer),
            ("feature", self.feature),
            ("model", self.model),
        ];
        fields.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect()
    }
}

pub async fn run(client: &AdminClient, args: ReportArgs) -> Result<Shown, ClientError> {
    let render: fn(&Value) -> String = if args.csv { csv } else { text };
    Ok((client.get("/admin/spend", &args.query()).await?, render))
}

const MEASURES: [&str; 12] = [
    "REQUESTS",
    "ERRORS",
    "INPUT TOKENS",
    "OUTPUT TOKENS",
    "CACHED TOKENS",
    "COST USD",
    "CACHE HITS",
    "HIT RATE",
    "SAVED USD",
    "P50 MS",
    "P95 MS",
    "TTFT P50 MS",
];

/// Header and lines: one per group (none when ungrouped: the total says it all), then TOTAL.
fn lines(answer: &Value) -> (Vec<String>, Vec<Vec<String>>) {
    let groups: Vec<String> = answer["group_by"].as_array().map(|g| g.iter().map(cell).collect()).unwrap_or_default();
    let mut header: Vec<String> = if groups.is_empty() { vec![String::new()] } else { groups.iter().map(|g| g.to_uppercase()).collect() };
    header.extend(MEASURES.iter().map(|m| m.to_string()));
    let money = |v: &Value| format!("{:.6}", v.as_f64().unwrap_or(0.0));
    let ms = |v: &Value| v.as_f64().map_or("-".to_string(), |v| format!("{v:.1}"));
    let measures = |r: &Value| {
        vec![
            cell(&r["requests"]),
            cell(&r["errors"]),
            cell(&r["input_tokens"]),
            cell(&r["output_tokens"]),
            cell(&r["cached_tokens"]),
            money(&r["cost_usd"]),
            cell(&r["cache_hits"]),
            format!("{:.1}%", r["cache_hit_rate"].as_f64().unwrap_or(0.0) * 100.0),
            money(&r["cache_saved_usd"]),
            ms(&r["latency_p50_ms"]),
            ms(&r["latency_p95_ms"]),
            ms(&r["ttft_p50_ms"]),
        ]
    };
    let mut out = Vec::new();
    if !groups.is_empty() {
        for row in answer["rows"].as_array().into_iter().flatten() {
            let mut line: Vec<String> = groups.iter().map(|g| cell(&row["group"][g])).collect();
            line.extend(measures(row));
            out.push(line);
        }
    }
    let mut total = vec![String::new(); groups.len().max(1)];
    total[0] = "TOTAL".into();
    total.extend(measures(&answer["total"]));
    out.push(total);
    (header, out)
}

fn text(answer: &Value) -> String {
    let (header, lines) = lines(answer);
    let first_measure = header.len() - MEASURES.len();
    let right: Vec<usize> = (first_measure..header.len()).collect();
    table(&header.iter().map(String::as_str).collect::<Vec<_>>(), &lines, &right)
}

fn csv(answer: &Value) -> String {
    let (mut header, lines) = lines(answer);
    if header[0].is_empty() {
        header[0] = "GROUP".into();
    }
    let quote = |c: &String| {
        if c.contains([',', '"', '\n']) {
            format!("\"{}\"", c.replace('"', "\"\""))
        } else {
            c.clone()
        }
    };
    std::iter::once(header).chain(lines).map(|l| l.iter().map(quote).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer() -> Value {
        let row = |model: &str, feature: Value, requests: u64, cost: f64| {
            json!({"group": {"model": model, "feature": feature}, "requests": requests, "errors": 1, "input_tokens": 10,
                   "output_tokens": 2, "cached_tokens": 0, "cost_usd": cost, "cache_hits": 1, "cache_hit_rate": 0.5,
                   "cache_saved_usd": 0.25, "latency_p50_ms": 12.0, "latency_p95_ms": 40.5, "ttft_p50_ms": null})
        };
        let mut total = row("", Value::Null, 4, 1.5);
        total["group"] = json!({});
        json!({"group_by": ["model", "feature"], "rows": [row("gpt-4o", json!("chat, \"beta\""), 2, 1.25), row("claude", Value::Null, 2, 0.25)], "total": total})
    }

    #[test]
    fn table_has_a_column_per_group_and_a_total_line() {
        let out = text(&answer());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[0].starts_with("MODEL   FEATURE       REQUESTS  ERRORS"), "{out}");
        assert!(lines[1].starts_with("gpt-4o  chat, \"beta\"         2       1"), "{out}");
        assert!(lines[2].starts_with("claude  -                    2"), "{out}");
        assert!(lines[3].starts_with("TOTAL                        4"), "{out}");
        assert!(lines[3].contains("1.500000") && lines[3].contains("50.0%") && lines[3].ends_with("12.0    40.5            -"), "{out}");
    }

    #[test]
    fn csv_quotes_cells_and_ends_with_the_total() {
        let out = csv(&answer());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "MODEL,FEATURE,REQUESTS,ERRORS,INPUT TOKENS,OUTPUT TOKENS,CACHED TOKENS,COST USD,CACHE HITS,HIT RATE,SAVED USD,P50 MS,P95 MS,TTFT P50 MS");
        assert_eq!(lines[1], "gpt-4o,\"chat, \"\"beta\"\"\",2,1,10,2,0,1.250000,1,50.0%,0.250000,12.0,40.5,-");
        assert_eq!(lines[3], "TOTAL,,4,1,10,2,0,1.500000,1,50.0%,0.250000,12.0,40.5,-");
    }
}
