//! Fuzzing of config loading (docs/FUZZING.md): `config::parse` on mutations of the committed
//! configs in `fuzz/corpus/config/` (taken from the tests and the README, plus alias bombs, deep
//! nesting and odd keys), on generated YAML of known keys, and on arbitrary bytes. A config is
//! accepted or refused with problems; it never panics and never takes long.
#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use switchyard_server::config::{parse, ConfigError, Overrides, Source};
use switchyard_testkit::fuzz;

fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let seeds: Vec<Vec<u8>> = fuzz::corpus("config").into_iter().map(|(_, b)| b).collect();
        assert!(seeds.len() > 5, "the config corpus was not found");
        seeds
    })
}

fn env(name: &str) -> Option<String> {
    match name {
        "SET_VAR" | "UP_KEY" | "OPENAI_API_KEY" => Some("value-${NESTED}".into()),
        "SWITCHYARD_ADMIN_KEY" => Some("an-admin-key-long-enough".into()),
        _ => None,
    }
}

/// Parses `text` on its own thread under the case deadline; refusals must name a problem.
fn load(text: String) -> Result<(), TestCaseError> {
    let problems: Option<Vec<ConfigError>> =
        fuzz::within_deadline(move || parse(&text, Source::File("fuzz.yaml".into()), &Overrides::default(), &env).err());
    if let Some(problems) = problems {
        prop_assert!(!problems.is_empty(), "refused without a problem");
        prop_assert!(problems.iter().all(|p| !p.message.is_empty()));
    }
    Ok(())
}

const TOP_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database",
    "redis",
    "max_body_bytes",
    "shutdown_grace",
    "log",
    "admin",
    "providers",
    "models",
    "keys",
    "governance",
    "pricing",
    "cache",
];

const PROVIDER_TYPES: &[&str] = &["mock", "openai", "azure", "anthropic", "gemini", "vertex", "bedrock", "groq", "nope"];

/// A YAML document of known top-level keys with generated values (JSON is YAML), and a
/// provider and a model that refer to each other.
fn generated_config() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec((proptest::sample::select(TOP_KEYS), fuzz::json_text()), 0..4),
        proptest::sample::select(PROVIDER_TYPES),
        fuzz::json_object_text(),
        fuzz::json_object_text(),
    )
        .prop_map(|(fields, kind, provider, model)| {
            let mut text = format!("providers:\n  p: {{\"type\": \"{kind}\", \"x\": {provider}}}\nmodels:\n  m: {model}\n");
            for (key, value) in fields {
                text.push_str(&format!("{key}: {value}\n"));
            }
            text
        })
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn config_mutated_corpus(seed in any::<Index>(), edits in fuzz::mutations()) {
        let bytes = fuzz::mutate(seed.get::<Vec<u8>>(seeds()), &edits);
        load(String::from_utf8_lossy(&bytes).into_owned())?;
    }

    #[test]
    fn config_generated(text in generated_config()) {
        load(text)?;
    }

    #[test]
    fn config_arbitrary_text(text in any::<String>()) {
        load(text)?;
    }
}

#[test]
fn the_committed_corpus_loads_or_is_refused_quickly() {
    for seed in seeds() {
        load(String::from_utf8_lossy(seed).into_owned()).unwrap();
    }
}
