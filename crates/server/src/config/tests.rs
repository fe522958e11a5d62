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
    assert_eq!(c.database, Database::Sqlite(PathBuf::from("/tmp/sy/switchyard.db")));
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
database: mysql://user:hunter2@db/x
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
    assert_eq!(c.database, Database::Sqlite(PathBuf::from("/tmp/d/switchyard.db")));
    let names: Vec<&str> = c.providers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["mock", "groq"]);
}

#[test]
fn admin_defaults_to_no_key_on_its_own_port() {
    let c = parse_str("listen: 127.0.0.1:4000").unwrap();
    assert_eq!(c.admin.listen.to_string(), DEFAULT_ADMIN_LISTEN);
    assert_eq!(c.admin.key, None);
}

#[test]
fn admin_key_comes_from_the_file_or_the_environment() {
    let env = |k: &str| (k == "SWITCHYARD_ADMIN_KEY").then(|| "env-admin-key-0123456789".to_string());
    let from_file =
        parse("admin: { listen: 127.0.0.1:5001, key: file-admin-key-0123456789 }", Source::Embedded, &Overrides::default(), &env).unwrap();
    assert_eq!(from_file.admin.listen.port(), 5001);
    assert_eq!(from_file.admin.key.as_deref(), Some("file-admin-key-0123456789"));
    let from_env = parse("listen: 127.0.0.1:4000", Source::Embedded, &Overrides::default(), &env).unwrap();
    assert_eq!(from_env.admin.key.as_deref(), Some("env-admin-key-0123456789"));
    let embedded_default = embedded(&Overrides::default(), &env).unwrap();
    assert_eq!(embedded_default.admin.key.as_deref(), Some("env-admin-key-0123456789"));
    assert!(!format!("{:?}", from_file.admin).contains("file-admin-key"), "Debug hides the admin key");
}

#[test]
fn admin_problems_name_the_field() {
    let errors = parse_str("listen: 127.0.0.1:4000\nadmin: { listen: 127.0.0.1:4000, key: short-key, port: 1 }").unwrap_err();
    assert!(errors.iter().any(|e| e.path == "admin.port" && e.message.contains("unknown field")), "{errors:?}");
    let errors = parse_str("listen: 127.0.0.1:4000\nadmin: { listen: 127.0.0.1:4000, key: short-key }").unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|e| e.starts_with("admin.listen:") && e.contains("its own address")), "{text:?}");
    assert!(text.iter().any(|e| e.starts_with("admin.key:") && e.contains("9 characters") && !e.contains("short-key")), "{text:?}");
    let errors = parse_str("admin: { listen: nowhere }").unwrap_err();
    assert_eq!(errors[0].path, "admin.listen");
}

#[test]
fn governance_settings_are_checked_with_their_paths() {
    let errors = parse_str(
        r#"
database: postgres://u:hunter2@db/sy
keys: { secret: short, require: yes-please }
governance: { on_redis_outage: { budgets: lease, lease_pct: 0 }, alert_webhook: "ftp://x", redis_timeout: 0s }
pricing: { unpriced: guess, estimate: { input: -1, output: 2 } }
providers:
  mock: { type: mock }
models:
  m: { targets: [ { provider: mock, model: echo } ], price: { input: 1, output: -2 } }
  n: { targets: [ { provider: mock, model: echo } ], limits: { rpm: 10, rps: 1 } }
  o: { targets: [ { provider: mock, model: echo } ], limits: { rpm: 10, burst: 20 } }
  p: { targets: [ { provider: mock, model: echo } ], limits: { concurrency: 1, queue: 5s } }
"#,
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let has = |path: &str| assert!(errors.iter().any(|e| e.path.starts_with(path)), "missing {path} in:\n{}", text.join("\n"));
    for path in [
        "keys.require",
        "governance.on_redis_outage.lease_pct",
        "governance.alert_webhook",
        "pricing.unpriced",
        "models.m.price",
        "models.n.limits.rps",
        "models.o.limits.burst",
        "models.p.limits.queue",
    ] {
        has(path);
    }
    assert!(!text.join("\n").contains("hunter2"));

    let ok = parse_str(
        "database: postgres://u@db/sy\nkeys: { secret: 0123456789abcdef0123456789abcdef01, require: true }\ngovernance: { on_redis_outage: { limits: closed, budgets: lease, lease_pct: 10 } }\npricing: { unpriced: block }\nproviders:\n  mock: { type: mock }\nmodels:\n  m: { targets: [ { provider: mock, model: echo } ], price: { input: 1, output: 2 }, limits: { rpm: 10, burst: 2, queue: 3s } }\n",
    )
    .unwrap();
    assert_eq!(ok.database, Database::Postgres("postgres://u@db/sy".into()));
    assert!(ok.governance.require_keys);
    assert_eq!(ok.governance.limits_outage, switchyard_core::govern::LimitsOutage::Closed);
    assert_eq!(ok.governance.budgets_outage, switchyard_core::govern::BudgetsOutage::Lease { pct: 10.0 });
    assert_eq!(ok.governance.unpriced, switchyard_core::billing::Unpriced::Block);
    let m = ok.model_limits["m"];
    assert_eq!((m.rpm, m.burst, m.queue), (Some(10), Some(2), Some(std::time::Duration::from_secs(3))));
    assert_eq!(ok.model_prices["m"].output, 2.0);
}

#[test]
fn alert_destinations_are_read_checked_and_the_old_alert_webhook_still_means_slack() {
    let legacy = parse_str("governance: { alert_webhook: \"https://hooks.slack.example/T1\" }\n").unwrap().governance.alerts;
    assert_eq!(legacy.targets.slack.as_deref(), Some("https://hooks.slack.example/T1"));
    assert_eq!((legacy.targets.webhook, legacy.smtp), (None, None));

    let full = parse_str(
        "governance:\n  alerts:\n    webhook: http://127.0.0.1:9/hook\n    email: { smtp: \"mail.internal:25\", from: gw@example.com, to: [ops@example.com, b@example.com] }\n",
    )
    .unwrap()
    .governance
    .alerts;
    assert_eq!(full.targets.webhook.as_deref(), Some("http://127.0.0.1:9/hook"));
    assert_eq!(full.targets.email, ["ops@example.com", "b@example.com"]);
    assert_eq!(full.smtp, Some(crate::config::Smtp { server: "mail.internal:25".into(), from: "gw@example.com".into() }));

    let scoped = parse_str("governance:\n  alerts:\n    slack: https://all.example\n    scopes:\n      team: { slack: https://teams.example, email: [lead@example.com] }\n")
        .unwrap()
        .governance
        .alerts;
    let team = &scoped.per_scope[&switchyard_core::store::Scope::Team];
    assert_eq!((team.slack.as_deref(), team.email.as_slice()), (Some("https://teams.example"), &["lead@example.com".to_string()][..]));
    let errors =
        parse_str("governance:\n  alerts:\n    scopes:\n      teams: { slack: https://x.example }\n      model: { webhook: ftp://x }\n")
            .unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["governance.alerts.scopes.model", "governance.alerts.scopes.teams"]);

    let errors = parse_str(
        "governance:\n  alert_webhook: https://a.example\n  alerts:\n    slack: https://b.example\n    webhook: mailto:x\n    email: { smtp: nohost, from: \"x\\r\\nBcc: y@z\", to: [nobody] }\n",
    )
    .unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    for path in [
        "governance.alert_webhook",
        "governance.alerts.webhook",
        "governance.alerts.email.smtp",
        "governance.alerts.email.from",
        "governance.alerts.email.to",
    ] {
        assert!(paths.contains(&path), "missing {path} in {paths:?}");
    }
}

#[test]
fn the_server_section_sets_timeouts_caps_and_origins_and_defaults_are_safe() {
    let defaults = parse_str("").unwrap().server;
    assert_eq!(defaults.header_timeout, Duration::from_secs(10));
    assert!(defaults.idle_timeout > Duration::from_secs(60), "above common load balancers' idle cut");
    assert_eq!(defaults.max_connections, None);
    assert!(defaults.allowed_origins.is_empty(), "no browser origin is allowed unless configured");

    let c = parse_str(
        "server: { header_timeout: 2s, idle_timeout: 90s, body_timeout: 5s, max_connections: 500, max_in_flight: 64, allowed_origins: [ \"https://app.example.com\", \"*\" ], allowed_hosts: [ gw.internal ] }",
    )
    .unwrap()
    .server;
    assert_eq!(
        (c.header_timeout, c.idle_timeout, c.body_timeout),
        (Duration::from_secs(2), Duration::from_secs(90), Duration::from_secs(5))
    );
    assert_eq!((c.max_connections, c.max_in_flight), (Some(500), 64));
    assert_eq!(c.allowed_origins, ["https://app.example.com", "*"]);
    assert_eq!(c.allowed_hosts, ["gw.internal"]);
}

#[test]
fn bad_server_settings_are_each_named() {
    let errors = parse_str(
        "server: { header_timeout: 0s, max_in_flight: 0, allowed_origins: [ \"https://app.example.com/path\", \"app.example.com\" ], allowed_hosts: [ \"a b\" ] }",
    )
    .unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "server.header_timeout",
            "server.max_in_flight",
            "server.allowed_origins[0]",
            "server.allowed_origins[1]",
            "server.allowed_hosts[0]"
        ]
    );
    let unknown = parse_str("server: { read_timeout: 5s }").unwrap_err();
    assert!(unknown[0].path.starts_with("server") && unknown[0].message.contains("unknown field"), "{unknown:?}");
}

#[test]
fn timeouts_default_to_failing_over_in_seconds_and_an_old_total_still_bounds_non_streams() {
    let c = parse_str(
        r#"
providers: { mock: { type: mock } }
models:
  plain: { targets: [ { provider: mock, model: echo } ] }
  old: { targets: [ { provider: mock, model: echo } ], timeouts: { total: 120s } }
  held: { targets: [ { provider: mock, model: echo } ], timeouts: { non_stream: 20s, hold: 500ms, keep_alive: 5s, idle: 2m } }
"#,
    )
    .unwrap();
    let t = |m: &str| c.models[m].timeouts;
    let secs = Duration::from_secs;
    assert_eq!(
        (t("plain").first_token, t("plain").total, t("plain").non_stream, t("plain").idle),
        (secs(10), secs(600), secs(55), Some(secs(30)))
    );
    assert_eq!((t("plain").hold, t("plain").keep_alive), (secs(3), secs(15)));
    assert_eq!((t("old").total, t("old").non_stream), (secs(120), secs(120)));
    assert_eq!(
        (t("held").non_stream, t("held").hold, t("held").keep_alive, t("held").idle),
        (secs(20), Duration::from_millis(500), secs(5), Some(secs(120)))
    );
    let errors = parse_str("providers: { mock: { type: mock } }\nmodels: { m: { targets: [ { provider: mock, model: echo } ], timeouts: { keep_alive: 0s } } }\n").unwrap_err();
    assert!(errors.iter().any(|e| e.path == "models.m.timeouts.keep_alive"), "{errors:?}");
}

const MONITOR_BASE: &str = r#"
providers:
  openai: { type: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-x }
  anthropic: { type: anthropic, base_url: "http://127.0.0.1:9", api_key: sk-y }
models:
  gpt-4o: { targets: [ { provider: openai, model: gpt-4o } ] }
"#;

#[test]
fn monitors_are_read_with_their_defaults() {
    use switchyard_core::monitor::Condition;
    let c = parse_str(&format!(
        "{MONITOR_BASE}monitors:\n\
         - {{ name: gpt4o-errors, model: gpt-4o, error_rate_above: 0.05, window: 5m, min_requests: 20, send_resolved: true }}\n\
         - {{ name: anthropic-slow, provider: anthropic, p95_latency_ms_above: 4000, window: 10m }}\n\
         - {{ name: direct, model: openai/gpt-4o-mini, error_rate_above: 0.5 }}\n\
         - {{ name: circuits, circuit_open: true, alerts: {{ webhook: \"http://hooks.example/x\" }} }}\n"
    ))
    .unwrap();
    let m = &c.monitors;
    assert_eq!(m.len(), 4);
    assert_eq!((m[0].condition, m[0].window, m[0].min_requests), (Condition::ErrorRateAbove(0.05), Duration::from_secs(300), 20));
    assert!(m[0].send_resolved && !m[1].send_resolved, "send_resolved defaults to false");
    assert_eq!((m[1].provider.as_deref(), m[1].condition), (Some("anthropic"), Condition::P95LatencyAbove(4000.0)));
    assert_eq!((m[1].window, m[1].min_requests), (Duration::from_secs(600), 10), "min_requests defaults to 10");
    assert_eq!(m[2].window, Duration::from_secs(300), "window defaults to 5m");
    assert_eq!(
        (m[3].condition, m[3].alerts.as_ref().and_then(|a| a.webhook.as_deref())),
        (Condition::CircuitOpen, Some("http://hooks.example/x"))
    );
    assert!(parse_str(MONITOR_BASE).unwrap().monitors.is_empty());
}

#[test]
fn monitor_problems_name_the_rule_and_the_field() {
    let errors = parse_str(&format!(
        "{MONITOR_BASE}monitors:\n\
         - {{ name: a, model: gpt-4o, error_rate_above: 0.05, window: 0s }}\n\
         - {{ name: a, model: gpt-4o, error_rate_above: 5 }}\n\
         - {{ name: c, model: gpt-4o }}\n\
         - {{ name: d, model: gpt-4o, error_rate_above: 0.1, p95_latency_ms_above: 100 }}\n\
         - {{ name: e, model: gpt-4o, provider: openai, error_rate_above: 0.1 }}\n\
         - {{ name: f, p95_latency_ms_above: 100 }}\n\
         - {{ name: g, provider: nobody, error_rate_above: 0.1, min_requests: 0 }}\n\
         - {{ name: h, model: gtp-4o, p95_latency_ms_above: -1 }}\n\
         - {{ name: i, circuit_open: false, send_resolved: true }}\n\
         - {{ name: j, model: gpt-4o, error_rate_above: 0.1, windw: 5m }}\n\
         - {{ name: k, circuit_open: true, alerts: {{ slack: nope, email: [ops@example.com] }} }}\n"
    ))
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for expected in [
        "monitors[0].window: must be from 1s to 24h",
        "monitors[1].name: `a` is already the name of another monitor",
        "monitors[1].error_rate_above: must be a fraction",
        "monitors[2]: needs exactly one condition",
        "monitors[3]: needs exactly one condition",
        "monitors[4]: watches a model or a provider",
        "monitors[5]: needs `model` (the model asked for) or `provider`",
        "monitors[6].provider: unknown provider `nobody`",
        "monitors[6].min_requests: must be at least 1",
        "monitors[7].model: unknown model `gtp-4o`",
        "monitors[7].p95_latency_ms_above: must be a number of milliseconds above 0",
        "monitors[8].circuit_open: must be true",
        "monitors[8].send_resolved: does not apply to circuit_open rules",
        "monitors[9].windw: unknown field `windw`",
        "monitors[10].alerts.slack: must be an http:// or https:// URL",
        "monitors[10].alerts.email: needs an SMTP server",
    ] {
        assert!(text.iter().any(|t| t.starts_with(expected)), "missing {expected:?} in {text:#?}");
    }
    assert_eq!(text.len(), 16, "{text:#?}");
    let not_a_list = parse_str(&format!("{MONITOR_BASE}monitors: {{ name: a }}\n")).unwrap_err();
    assert_eq!(not_a_list[0].path, "monitors");
}
