//! The bundled table, lookups per provider kind, and costs of recorded provider usage.

use serde_json::Value;
use switchyard_protocol::openai::OpenAiUsage;
use switchyard_protocol::Usage;
use switchyard_testkit::fixtures::fixture_json;

use super::*;

fn bundled(kind: &str, model: &str) -> ModelPrice {
    *Catalog::bundled().lookup(kind, model).unwrap_or_else(|| panic!("no bundled price for {kind}/{model}"))
}

fn n(v: &Value) -> f64 {
    v.as_u64().unwrap_or_else(|| panic!("not a token count: {v}")) as f64
}

fn close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() <= expected.abs() * 1e-12, "cost {actual} != expected {expected}");
}

#[test]
fn bundled_table_parses_and_has_the_current_models() {
    let catalog = Catalog::bundled();
    assert!(catalog.len() >= 100, "only {} models", catalog.len());
    assert!(catalog.version().starts_with("litellm-"), "{}", catalog.version());
    for (kind, model) in [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-sonnet-4-5"),
        ("gemini", "gemini-2.5-flash"),
        ("vertex", "gemini-2.5-flash"),
        ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0"),
        ("bedrock", "amazon.nova-lite-v1:0"),
    ] {
        let found = bundled(kind, model);
        assert!(found.price.input > 0.0 && found.price.output > found.price.input, "{kind}/{model}: {found:?}");
    }
    // The header says where the data came from, which release, under which licence.
    let header: Value = serde_json::from_str(include_str!("../../data/prices.json")).unwrap();
    let release = header["source_commit"].as_str().unwrap();
    let version = release.strip_prefix("litellm==").unwrap_or_else(|| panic!("source names a litellm release: {release}"));
    assert!(header["license"].as_str().unwrap().starts_with("MIT"));
    assert!(catalog.version().ends_with(version), "{} / {version}", catalog.version());
}

#[test]
fn known_prices_come_out_in_usd_per_million() {
    let mini = bundled("openai", "gpt-4o-mini");
    assert_eq!(
        (mini.price, mini.max_output_tokens),
        (Price { input: 0.15, output: 0.6, cached_input: Some(0.075), cache_write: None, reasoning: None }, Some(16384))
    );
    let sonnet = bundled("anthropic", "claude-sonnet-4-5").price;
    assert_eq!((sonnet.input, sonnet.output, sonnet.cached_input, sonnet.cache_write), (3.0, 15.0, Some(0.3), Some(3.75)));
}

#[test]
fn lookup_finds_each_provider_kinds_ids() {
    let same = |a: (&str, &str), b: (&str, &str)| assert_eq!(bundled(a.0, a.1), bundled(b.0, b.1), "{a:?} vs {b:?}");
    bundled("azure", "gpt-4o");
    same(("anthropic", "claude-sonnet-4-5-20250929"), ("anthropic", "claude-sonnet-4-5"));
    same(("gemini", "models/gemini-2.5-flash"), ("gemini", "gemini-2.5-flash"));
    same(("vertex", "claude-sonnet-4-5@20250929"), ("vertex", "claude-sonnet-4-5"));
    same(("vertex", "claude-haiku-4-5@20991231"), ("vertex", "claude-haiku-4-5"));
    same(("openai", "gpt-4o-2099-01-01"), ("openai", "gpt-4o"));
    // A region profile listed with its own price keeps it; one not listed falls back to the base id.
    let us = bundled("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_ne!(us, bundled("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0"));
    same(("bedrock", "ca.anthropic.claude-3-5-haiku-20241022-v1:0"), ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0"));
    // OpenAI-compatible vendors are reached through kind `openai` and find their own prices.
    same(("openai", "llama-3.1-8b-instant"), ("groq", "llama-3.1-8b-instant"));
    same(("openai", "deepseek-chat"), ("deepseek", "deepseek-chat"));
    same(("openai", "mistral-large-latest"), ("mistral", "mistral-large-latest"));
    // Unknown stays unknown.
    assert_eq!(Catalog::bundled().lookup("openai", "gpt-nonexistent-9"), None);
    assert_eq!(Catalog::bundled().lookup("mock", "echo"), None);
}

const SMALL: &str = r#"{"version": "t1", "providers": {
    "a": {"m": {"input": 1, "output": 1}, "m-20250101": {"input": 5, "output": 5}},
    "b": {"m": {"input": 2, "output": 2}, "x": {"input": 3, "output": 3}},
    "c": {"x": {"input": 4, "output": 4, "max_output_tokens": 7}}
}}"#;

#[test]
fn lookup_prefers_own_provider_then_table_order() {
    let catalog = Catalog::from_json(SMALL).unwrap();
    let input = |kind, model| catalog.lookup(kind, model).map(|p| p.price.input);
    assert_eq!(catalog.version(), "t1");
    assert_eq!(input("b", "m"), Some(2.0));
    assert_eq!(input("c", "m"), Some(1.0), "first provider in table order");
    assert_eq!(input("zzz", "x"), Some(3.0));
    assert_eq!(input("b", "m-20250101"), Some(2.0), "own provider, normalised, before another's exact id");
    assert_eq!(input("c", "m-20250101"), Some(5.0), "another provider's exact id before its normalised one");
    assert_eq!(catalog.lookup("c", "x").unwrap().max_output_tokens, Some(7));
    assert_eq!(input("a", "y"), None);
}

#[test]
fn bad_tables_and_overrides_are_rejected_with_the_reason() {
    let err = Catalog::from_json(r#"{"version":"v","providers":{"p":{"m":{"input":-1,"output":1}}}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "price table entry p/m: price `input` must be a finite number of USD per million tokens, at least 0 (got -1)"
    );
    assert!(Catalog::from_json(r#"{"version":"v","providers":{"p":{"m":{"input":1,"output":1,"extra":1}}}}"#).is_err());
    // A config override `models.<name>.price` deserialises straight into `Price`.
    let price: Price = serde_json::from_str(r#"{"input": 1.5, "output": 6, "cached_input": 0.5}"#).unwrap();
    assert_eq!(price, Price { input: 1.5, output: 6.0, cached_input: Some(0.5), cache_write: None, reasoning: None });
    assert!(serde_json::from_str::<Price>(r#"{"input": 1, "output": 2, "cache_read": 1}"#).is_err());
    assert_eq!(Price { reasoning: Some(f64::NAN), ..price }.check().unwrap_err().field, "reasoning");
}

#[test]
fn openai_cached_usage_costs_what_the_price_says() {
    let body = fixture_json("openai/usage-cached-tokens.json");
    let raw = &body["usage"];
    let usage: Usage = serde_json::from_value::<OpenAiUsage>(raw.clone()).unwrap().into();
    assert!(usage.cached_input_tokens > 0);
    let price = bundled("openai", body["model"].as_str().unwrap()).price;
    let cached = n(&raw["prompt_tokens_details"]["cached_tokens"]);
    let expected = ((n(&raw["prompt_tokens"]) - cached) * price.input
        + cached * price.cached_input.unwrap()
        + n(&raw["completion_tokens"]) * price.output)
        / 1e6;
    close(cost_usd(&price, &usage), expected);
    // gpt-4o at $2.50 / $1.25 cached / $10 per million: 79 + 3584 cached in, 117 out.
    close(cost_usd(&price, &usage), 0.0058475);
}

#[test]
fn openai_reasoning_usage_bills_reasoning_at_its_own_rate() {
    let body = fixture_json("openai/reasoning-usage.json");
    let raw = &body["usage"];
    let usage: Usage = serde_json::from_value::<OpenAiUsage>(raw.clone()).unwrap().into();
    let reasoning = n(&raw["completion_tokens_details"]["reasoning_tokens"]);
    assert!(reasoning > 0.0);
    let catalog_price = bundled("openai", body["model"].as_str().unwrap()).price;
    let expected = (n(&raw["prompt_tokens"]) * catalog_price.input + n(&raw["completion_tokens"]) * catalog_price.reasoning_rate()) / 1e6;
    close(cost_usd(&catalog_price, &usage), expected);
    // With reasoning priced apart (as a config override may say), the split matters.
    let split = Price { input: 1.0, output: 10.0, cached_input: None, cache_write: None, reasoning: Some(40.0) };
    let visible = n(&raw["completion_tokens"]) - reasoning;
    close(cost_usd(&split, &usage), (n(&raw["prompt_tokens"]) * 1.0 + visible * 10.0 + reasoning * 40.0) / 1e6);
}

/// Anthropic and Bedrock report `input` without cache reads and writes: the adapters fold them
/// into canonical `input_tokens`, as here, while the expected bill is priced from the raw counts.
fn assert_cache_usage_cost(price: &Price, usage: &Value, [input, read, write, output]: [&str; 4]) {
    let count = |field: &str| usage[field].as_u64().unwrap_or_else(|| panic!("no {field} in {usage}"));
    let canonical = Usage {
        input_tokens: count(input) + count(read) + count(write),
        cached_input_tokens: count(read),
        cache_write_tokens: count(write),
        output_tokens: count(output),
        reasoning_tokens: 0,
    };
    let expected = (n(&usage[input]) * price.input
        + n(&usage[read]) * price.cached_input.unwrap()
        + n(&usage[write]) * price.cache_write.unwrap()
        + n(&usage[output]) * price.output)
        / 1e6;
    close(cost_usd(price, &canonical), expected);
}

#[test]
fn anthropic_cache_reads_and_writes_cost_what_the_price_says() {
    for fixture in ["anthropic/usage-cache-read.json", "anthropic/usage-cache-write.json"] {
        let body = fixture_json(fixture);
        let price = bundled("anthropic", body["model"].as_str().unwrap()).price;
        let fields = ["input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"];
        assert_cache_usage_cost(&price, &body["usage"], fields);
    }
}

#[test]
fn bedrock_cache_read_costs_what_the_region_profile_price_says() {
    let request = fixture_json("bedrock/usage-cache-read.request.json");
    let url = request["url"].as_str().unwrap();
    let model = url.split("/model/").nth(1).and_then(|rest| rest.split('/').next()).unwrap().replace("%3A", ":");
    assert_eq!(model, "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    let price = bundled("bedrock", &model).price;
    let fields = ["inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens", "outputTokens"];
    assert_cache_usage_cost(&price, &fixture_json("bedrock/usage-cache-read.json")["usage"], fields);
}
