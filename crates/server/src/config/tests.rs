use super::*;

fn env(k: &str) -> Option<String> {
    match k {
        "UP_KEY" => Some("sk-from-env".into()),
        "GROQ_API_KEY" => Some("gsk_x".into()),
        _ => None,
    }
}

fn parse_str(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse(text, Source::Embedded, &Overrides::default(), &env)
}

#[test]
fn a_full_config_resolves() {
    let c = parse_str(
        r#"
listen: 127.0.0.1:0
data_dir: /tmp/sy
max_body_bytes: 1024
shutdown_grace: 5s
log: { bodies: true }
providers:
  mock: { type: mock, latency: 10ms }
  up: { type: openai, base_url: "http://127.0.0.1:9/v1", api_key: "${UP_KEY}" }
models:
  support-bot:
    targets: [ { provider: up, model: gpt-4o-mini } ]
    timeouts: { first_token: 2s, total: 30s }
"#,
    )
    .unwrap();
    assert_eq!(c.listen.port(), 0);
    assert_eq!(c.database, PathBuf::from("/tmp/sy/switchyard.db"));
    assert_eq!((c.max_body_bytes, c.shutdown_grace, c.log.bodies), (1024, Duration::from_secs(5), true));
    assert_eq!(c.providers.len(), 2);
    let ProviderConfig::Openai(up) = &c.providers[1].1 else { panic!() };
    assert_eq!(up.api_key.as_ref().unwrap().expose(), "sk-from-env");
    assert_eq!(c.models["support-bot"].timeouts.first_token, Duration::from_secs(2));
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let errors = parse_str(
        r#"
listen: nowhere
lissten: 1
database: postgres://user:hunter2@db/x
shutdown_grace: soon
providers:
  up: { type: openai, base_ur: "http://x" }
  nokind: { api_key: x }
  weird: { type: anthropix }
  badmock: { type: mock, error_rate: 3 }
  keyless: { type: openai, api_key: "${MISSING_KEY}" }
models:
  a: { targets: [ { provider: ghost, model: m } ] }
  b: { targets: [], strategy: fastest }
  d: { targets: [ { provider: badmock, model: m } ], fallbacks: [ a, ghost/model, nowhere ] }
  c: { targets: [ { provider: badmock, model: "" } ] }
"#,
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let has = |path: &str, needle: &str| {
        assert!(errors.iter().any(|e| e.path == path && e.message.contains(needle)), "missing {path} / {needle} in:\n{}", text.join("\n"))
    };
    has("lissten", "unknown key; expected one of: listen");
    has("listen", "not an address");
    has("database", "expected sqlite://PATH");
    has("shutdown_grace", "");
    has("providers.up.base_ur", "unknown field `base_ur`");
    has("providers.nokind", "`type` is required");
    has("providers.weird.type", "unknown variant `anthropix`");
    has("providers.badmock", "error_rate must be between 0 and 1");
    has("providers.keyless.api_key", "`MISSING_KEY` is not set");
    has("models.a.targets[0].provider", "unknown provider `ghost`");
    has("models.b.strategy", "unknown variant `fastest`");
    has("models.d.fallbacks[1]", "unknown model `ghost/model`");
    has("models.d.fallbacks[2]", "unknown model `nowhere`");
    assert!(!errors.iter().any(|e| e.path == "models.d.fallbacks[0]"), "an alias is a valid fallback");
    has("models.c.targets[0].model", "must not be empty");
    assert!(!text.join("\n").contains("hunter2"), "passwords never shown");
}

#[test]
fn embedded_default_has_mock_and_env_providers() {
    let c = embedded(&Overrides { data_dir: Some("/tmp/d".into()), listen: None }, &env).unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.database, PathBuf::from("/tmp/d/switchyard.db"));
    let names: Vec<&str> = c.providers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["mock", "groq"]);
}
