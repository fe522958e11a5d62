//! Billing by the target that served: a fallback or a budget downgrade between two priced aliases
//! is charged at the serving alias's price, never at the asked one's.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::{FakeUpstream, GatewayProcess, Reply};

use super::*;
use crate::common::*;

/// `pricey` (1000/2000 per Mtok) on `primary`, falling back to `cheap` (1/2) on `up`.
fn priced_aliases(primary: &str, up: &str) -> String {
    format!(
        r#"admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}
providers:
  primary: {{ type: openai, base_url: "{primary}", api_key: sk-primary-key-123 }}
  up: {{ type: openai, base_url: "{up}", api_key: sk-upstream-key-123 }}
models:
  pricey:
    targets: [ {{ provider: primary, model: big }} ]
    fallbacks: [ cheap ]
    price: {{ input: 1000, output: 2000 }}
  cheap:
    targets: [ {{ provider: up, model: small }} ]
    price: {{ input: 1, output: 2 }}
"#
    )
}

/// What the answer's usage costs at `cheap`'s price (1 and 2 USD per million tokens).
fn at_cheap_price(answer: &Value) -> f64 {
    let usage = &answer["usage"];
    (usage["prompt_tokens"].as_f64().unwrap() * 1.0 + usage["completion_tokens"].as_f64().unwrap() * 2.0) / 1e6
}

fn pricey_one_token() -> Value {
    json!({"model": "pricey", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})
}

/// Checks the cost header and the logged cost of `r` against cheap's price of its usage.
async fn assert_billed_at_cheap_price(gw: &GatewayProcess, r: reqwest::Response) {
    let cost: f64 = header(&r, "x-switchyard-cost-usd").parse().unwrap();
    let id = header(&r, "x-request-id").to_string();
    let answer: Value = r.json().await.unwrap();
    let expected = at_cheap_price(&answer);
    assert!(expected > 0.0, "the answer reports usage: {answer}");
    assert!((cost - expected).abs() < 1e-8, "cost header {cost}, cheap's price of the usage {expected}");
    let logged = record(gw.data_dir(), &id).await;
    assert!((logged.cost_usd.unwrap() - expected).abs() < 1e-12, "logged {:?}, expected {expected}", logged.cost_usd);
    assert_eq!(logged.cost_source.as_deref(), Some("config"));
}

#[tokio::test]
async fn a_fallback_to_a_cheaper_alias_is_billed_at_the_cheaper_price() {
    let down = FakeUpstream::start_repeating(Reply::openai_error(503, "overloaded", "server_error", "overloaded")).await;
    let up = metered_upstream(Duration::ZERO).await;
    let gw = GatewayProcess::spawn(bin(), &priced_aliases(&down.base_url(), &up.base_url())).await;
    let r = call(&gw, None, &pricey_one_token()).await;
    assert_eq!(r.status(), 200);
    assert_eq!((header(&r, "x-switchyard-provider"), header(&r, "x-switchyard-model")), ("up", "small"));
    assert!(down.request_count() >= 1, "the primary was tried first");
    assert_billed_at_cheap_price(&gw, r).await;
}

#[tokio::test]
async fn a_budget_downgrade_to_a_cheaper_alias_is_billed_at_the_cheaper_price() {
    let up = metered_upstream(Duration::ZERO).await;
    let gw = GatewayProcess::spawn(bin(), &priced_aliases(&up.base_url(), &up.base_url())).await;
    // One request at pricey's price (12 input + 1 output token: $0.014) passes 25% of $0.02.
    let budget = json!({"usd": 0.02, "window": "daily", "downgrade_to": "cheap", "downgrade_pct": 25});
    let (_, key) = create_key(&gw, json!({"name": "downgraded", "budget": budget})).await;

    let r = call(&gw, Some(&key), &pricey_one_token()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-model"), "big");
    let answer: Value = r.json().await.unwrap();
    let usage = &answer["usage"];
    let pricey = (usage["prompt_tokens"].as_f64().unwrap() * 1000.0 + usage["completion_tokens"].as_f64().unwrap() * 2000.0) / 1e6;
    assert!(pricey > 0.005, "the first request spends past the downgrade threshold: {pricey}");

    let r = call(&gw, Some(&key), &pricey_one_token()).await;
    assert_eq!(r.status(), 200, "reserved and billed at cheap's price, the request fits the budget left");
    assert_eq!(header(&r, "x-switchyard-model"), "small");
    assert!(header(&r, "x-switchyard-downgraded").contains("pricey -> cheap"));
    assert_billed_at_cheap_price(&gw, r).await;
}
