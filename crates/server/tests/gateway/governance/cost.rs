//! Cost from the provider's reported usage at catalog prices, and models without a price.

use serde_json::Value;
use switchyard_testkit::{fixture_json, fixture_reply, FakeUpstream, GatewayProcess};

use super::*;
use crate::common::*;

fn catalog(model: &str) -> Value {
    let table: Value = serde_json::from_str(include_str!("../../../../core/data/prices.json")).unwrap();
    table["providers"]["openai"][model].clone()
}

#[tokio::test]
async fn the_cost_of_a_recorded_answer_with_cached_tokens_is_the_catalog_price_times_its_tokens() {
    let up = FakeUpstream::start(vec![fixture_reply("openai/usage-cached-tokens.json")]).await;
    let gw = GatewayProcess::spawn(
        bin(),
        &format!("providers:\n  openai: {{ type: openai, base_url: \"{}\", api_key: sk-x-123 }}\n", up.base_url()),
    )
    .await;
    let r = call(&gw, None, &chat("openai/gpt-4o-2024-08-06", "hi")).await;
    assert_eq!(r.status(), 200);
    let cost: f64 = header(&r, "x-switchyard-cost-usd").parse().unwrap();
    let request_id = header(&r, "x-request-id").to_string();

    let usage = fixture_json("openai/usage-cached-tokens.json")["usage"].clone();
    let price = catalog("gpt-4o-2024-08-06");
    let (prompt, cached, out) = (
        usage["prompt_tokens"].as_f64().unwrap(),
        usage["prompt_tokens_details"]["cached_tokens"].as_f64().unwrap(),
        usage["completion_tokens"].as_f64().unwrap(),
    );
    let expected = ((prompt - cached) * price["input"].as_f64().unwrap()
        + cached * price["cached_input"].as_f64().unwrap()
        + out * price["output"].as_f64().unwrap())
        / 1e6;
    assert!((cost - expected).abs() < 1e-8, "header {cost} vs catalog {expected}");
    let record = record(gw.data_dir(), &request_id).await;
    assert!((record.cost_usd.unwrap() - expected).abs() < 1e-9);
    assert_eq!(record.cost_source.as_deref(), Some("catalog"));
}

#[tokio::test]
async fn a_model_without_a_price_is_blocked_estimated_or_free_as_configured_never_silently() {
    let up = metered_upstream(std::time::Duration::ZERO).await;
    let body = chat("up/some-model-nobody-prices", "hi");
    let gateway = |policy: &str| format!("pricing: {{ unpriced: {policy} }}\n{}", metered_models(&up.base_url()));

    let blocked = GatewayProcess::spawn(bin(), &gateway("block")).await;
    let r = call(&blocked, None, &body).await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(code(&e), "model_unpriced");

    let estimated = GatewayProcess::spawn(bin(), &gateway("estimate")).await;
    let r = call(&estimated, None, &body).await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "x-switchyard-cost-usd").parse::<f64>().unwrap() > 0.0);
    let id = header(&r, "x-request-id").to_string();
    assert_eq!(record(estimated.data_dir(), &id).await.cost_source.as_deref(), Some("estimate"));

    let free = GatewayProcess::spawn(bin(), &gateway("zero")).await;
    let r = call(&free, None, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-cost-usd"), "0.00000000");
    let id = header(&r, "x-request-id").to_string();
    assert_eq!(record(free.data_dir(), &id).await.cost_source.as_deref(), Some("unpriced"));
    let metrics = client().get(format!("{}/metrics", free.root_url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_unpriced_requests_total 1"), "{metrics}");
    assert!(free.output().contains("has no price"), "the unpriced model is warned about");
}
