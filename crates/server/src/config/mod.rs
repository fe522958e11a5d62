//! Configuration: the YAML file (or the embedded default when there is none), resolved into the
//! validated `Config` the server runs with. `load` reports every problem at once.

mod cache;
mod file;
mod governance;
mod interpolate;
mod monitors;
mod restart;
mod server;
mod telemetry;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};
use switchyard_core::{ModelRoute, Strategy, TargetSpec, Timeouts};
use switchyard_providers::registry::{self, ProviderConfig};

use file::{AdminSection, HumanDuration, LogConfig, ModelConfig, StrategyConfig, KEYS};
use interpolate::{interpolate, join};

pub use cache::{CacheConfig, ModelCacheConfig, SemanticConfig};
pub use governance::{Alerts, Database, Governance, Smtp};
pub use restart::keep_running;
pub use server::ServerConfig;
pub use telemetry::{Protocol, TelemetryConfig};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4000";
pub const DEFAULT_DATA_DIR: &str = "switchyard-data";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:4001";
/// Shorter admin keys are a config error: the admin API can mint keys and read spend.
pub const MIN_ADMIN_KEY_LEN: usize = 16;
const ADMIN_KEY_ENV: &str = "SWITCHYARD_ADMIN_KEY";
const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;

/// One problem in a config: where it is and what would be right.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        Self { path: if path.is_empty() { "(top level)".into() } else { path.to_string() }, message: message.into() }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Where the config came from, for the startup banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Embedded,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: Database,
    /// Shared state between instances: counters, circuit state, key changes.
    pub redis: Option<String>,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    pub log: LogConfig,
    /// The admin API; it is not started without a key.
    pub admin: AdminConfig,
    pub providers: Vec<(String, ProviderConfig)>,
    /// Each provider's settings as written (after `${ENV}` interpolation): a reload reuses the
    /// built provider whose settings are equal (secrets are compared too, unlike `Debug`).
    pub provider_sources: BTreeMap<String, Value>,
    pub models: BTreeMap<String, ModelRoute>,
    /// `models.<alias>.price` and `models.<alias>.limits`.
    pub model_prices: BTreeMap<String, switchyard_core::pricing::Price>,
    pub model_limits: BTreeMap<String, switchyard_core::store::Limits>,
    /// Keys, limits, budgets and pricing settings.
    pub governance: Governance,
    pub cache: CacheConfig,
    /// `models.<alias>.cache`.
    pub model_cache: BTreeMap<String, ModelCacheConfig>,
    pub server: ServerConfig,
    /// `monitors:`, the alert rules on error rates, latency and circuits.
    pub monitors: Vec<switchyard_core::monitor::Rule>,
    /// OTLP traces; `None`: off.
    pub telemetry: Option<TelemetryConfig>,
}

/// Command-line and environment overrides, which win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

pub fn load(path: Option<&Path>, overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigError>> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| vec![ConfigError::new("", format!("cannot read config file {}: {e}", path.display()))])?;
            parse(&text, Source::File(path.to_path_buf()), overrides, env)
        }
        None => embedded(overrides, env),
    }
}

/// No config file: mock plus every provider whose environment variable is set, no aliases.
pub fn embedded(overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut config = base(Source::Embedded, overrides, &Mapping::new(), &mut errors);
    config.providers = registry::from_environment(env);
    // No file: the environment of a running process does not change, so its `Debug` form is
    // enough to tell the providers apart.
    config.provider_sources = config.providers.iter().map(|(n, c)| (n.clone(), Value::String(format!("{c:?}")))).collect();
    config.admin = admin(&Mapping::new(), config.listen, env, &mut errors);
    config.governance = governance::read(&Mapping::new(), env, &mut errors);
    config.cache = cache::read(&Mapping::new(), &mut errors);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

pub fn parse(text: &str, source: Source, overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigError>> {
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| vec![ConfigError::new("", format!("not valid YAML: {e}"))])?;
    if value.is_null() {
        value = Value::Mapping(Mapping::new());
    }
    let mut errors = Vec::new();
    interpolate(&mut value, "", env, &mut errors);
    let Value::Mapping(map) = value else {
        return Err(vec![ConfigError::new("", "the config must be a mapping of keys such as `providers:` and `models:`")]);
    };
    for key in map.keys() {
        let name = key.as_str().unwrap_or("");
        if !KEYS.iter().any(|(k, _)| *k == name) {
            let expected: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            errors.push(ConfigError::new(name, format!("unknown key; expected one of: {}", expected.join(", "))));
        }
    }
    let mut config = base(source, overrides, &map, &mut errors);
    (config.providers, config.provider_sources) = providers(&map, &mut errors);
    config.admin = admin(&map, config.listen, env, &mut errors);
    config.governance = governance::read(&map, env, &mut errors);
    config.cache = cache::read(&map, &mut errors);
    // Names declared in the file count as known even when their settings are wrong, so that
    // one mistake is not reported again by every model that uses the provider.
    let declared: Vec<String> = entries(&map, "providers", &mut Vec::new()).into_iter().map(|(n, _)| n).collect();
    let (routes, extras) = models(&map, &declared, &config.cache, &mut errors);
    config.models = routes;
    (config.model_prices, config.model_limits, config.model_cache) = extras;
    check_fallbacks(&config.models, &declared, &mut errors);
    config.monitors = monitors::read(&map, &declared, &config.models, config.governance.alerts.smtp.is_some(), &mut errors);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// The scalar settings, with defaults and overrides applied.
fn base(source: Source, overrides: &Overrides, map: &Mapping, errors: &mut Vec<ConfigError>) -> Config {
    let listen_text =
        overrides.listen.clone().or_else(|| section::<String>(map, "listen", errors)).unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = listen_text.parse().unwrap_or_else(|_| {
        errors.push(ConfigError::new("listen", format!("`{listen_text}` is not an address; expected HOST:PORT like {DEFAULT_LISTEN}")));
        DEFAULT_LISTEN.parse().expect("default address")
    });
    let data_dir = overrides.data_dir.clone().or_else(|| section(map, "data_dir", errors)).unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let database = section::<String>(map, "database", errors)
        .and_then(|url| Database::parse(&url, "database", errors))
        .unwrap_or_else(|| Database::Sqlite(data_dir.join("switchyard.db")));
    let redis = section::<String>(map, "redis", errors);
    if let Some(url) = &redis {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) || redis_url_invalid(url) {
            errors.push(ConfigError::new("redis", format!("`{}` is not a Redis URL; expected redis://HOST:PORT", redact_url(url))));
        }
    }
    let max_body_bytes = section::<usize>(map, "max_body_bytes", errors).unwrap_or(DEFAULT_MAX_BODY);
    if max_body_bytes == 0 {
        errors.push(ConfigError::new("max_body_bytes", "must be more than 0"));
    }
    Config {
        source,
        listen,
        data_dir,
        database,
        redis,
        max_body_bytes,
        shutdown_grace: section::<HumanDuration>(map, "shutdown_grace", errors).map(|d| d.0).unwrap_or(Duration::from_secs(30)),
        log: section(map, "log", errors).unwrap_or_default(),
        admin: AdminConfig::default(),
        providers: Vec::new(),
        provider_sources: BTreeMap::new(),
        models: BTreeMap::new(),
        model_prices: BTreeMap::new(),
        model_limits: BTreeMap::new(),
        governance: Governance::default(),
        cache: CacheConfig::default(),
        model_cache: BTreeMap::new(),
        server: server::read(map, errors),
        monitors: Vec::new(),
        telemetry: telemetry::read(map, errors),
    }
}

fn providers(map: &Mapping, errors: &mut Vec<ConfigError>) -> (Vec<(String, ProviderConfig)>, BTreeMap<String, Value>) {
    let (mut out, mut sources) = (Vec::new(), BTreeMap::new());
    for (name, entry) in entries(map, "providers", errors) {
        let path = join("providers", &name);
        if name.is_empty() || name.contains('/') {
            errors.push(ConfigError::new(&path, "provider names must be non-empty and must not contain `/`"));
            continue;
        }
        if entry.get("type").is_none() {
            errors.push(ConfigError::new(&path, format!("`type` is required; one of: {}", registry::TYPES.join(", "))));
            continue;
        }
        let Some(config) = deserialize::<ProviderConfig>(entry, &path, errors) else { continue };
        match registry::validate(&config) {
            Ok(()) => {
                sources.insert(name.clone(), entry.clone());
                out.push((name, config));
            }
            Err(message) => errors.push(ConfigError::new(&path, message)),
        }
    }
    (out, sources)
}

/// What models carry besides their routes: prices, limits and cache settings, by alias.
type ModelExtras = (
    BTreeMap<String, switchyard_core::pricing::Price>,
    BTreeMap<String, switchyard_core::store::Limits>,
    BTreeMap<String, ModelCacheConfig>,
);

fn models(
    map: &Mapping,
    providers: &[String],
    cache_config: &CacheConfig,
    errors: &mut Vec<ConfigError>,
) -> (BTreeMap<String, ModelRoute>, ModelExtras) {
    let (mut out, mut prices, mut limits, mut caches) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for (alias, entry) in entries(map, "models", errors) {
        let path = join("models", &alias);
        let Some(model) = deserialize::<ModelConfig>(entry, &path, errors) else { continue };
        if model.targets.is_empty() {
            errors.push(ConfigError::new(&format!("{path}.targets"), "needs at least one target: { provider: NAME, model: MODEL }"));
        }
        for (i, t) in model.targets.iter().enumerate() {
            if !providers.contains(&t.provider) {
                let known: Vec<&str> = providers.iter().map(String::as_str).collect();
                errors.push(ConfigError::new(
                    &format!("{path}.targets[{i}].provider"),
                    format!(
                        "unknown provider `{}`; configured providers: {}",
                        t.provider,
                        if known.is_empty() { "none".into() } else { known.join(", ") }
                    ),
                ));
            }
            if t.model.trim().is_empty() {
                errors.push(ConfigError::new(&format!("{path}.targets[{i}].model"), "must not be empty"));
            }
        }
        let timeouts = timeouts(&model.timeouts, &path, errors);
        let targets =
            model.targets.into_iter().map(|t| TargetSpec { provider: t.provider, model: t.model, weight: t.weight.unwrap_or(1) }).collect();
        let strategy = match model.strategy {
            StrategyConfig::Ordered => Strategy::Ordered,
            StrategyConfig::Weighted => Strategy::Weighted,
            StrategyConfig::LeastLatency => Strategy::LeastLatency,
        };
        if let Some(price) = model.price {
            match price.check() {
                Ok(()) => {
                    prices.insert(alias.clone(), price);
                }
                Err(e) => errors.push(ConfigError::new(&format!("{path}.price"), e.to_string())),
            }
        }
        if let Some(l) = model.limits {
            match l.check() {
                Ok(()) => {
                    limits.insert(alias.clone(), l);
                }
                Err((field, why)) => errors.push(ConfigError::new(&format!("{path}.limits.{field}"), why)),
            }
        }
        if let Some(c) = model.cache {
            cache::check_model(&c, cache_config, &format!("{path}.cache"), errors);
            caches.insert(alias.clone(), c);
        }
        out.insert(
            alias,
            ModelRoute { targets, timeouts, strategy, fallbacks: model.fallbacks, context_fallbacks: model.context_fallbacks },
        );
    }
    (out, (prices, limits, caches))
}

/// A fallback must name a configured alias or `provider/model` with a declared provider.
fn check_fallbacks(models: &BTreeMap<String, ModelRoute>, providers: &[String], errors: &mut Vec<ConfigError>) {
    for (alias, route) in models {
        let lists = [("fallbacks", &route.fallbacks), ("context_fallbacks", &route.context_fallbacks)];
        for (i, name, field) in lists.iter().flat_map(|(field, list)| list.iter().enumerate().map(move |(i, n)| (i, n, *field))) {
            let known =
                models.contains_key(name) || name.split_once('/').is_some_and(|(p, m)| !m.is_empty() && providers.iter().any(|d| d == p));
            if !known {
                errors.push(ConfigError::new(
                    &format!("models.{alias}.{field}[{i}]"),
                    format!("unknown model `{name}`; use a configured alias or provider/model with a configured provider"),
                ));
            }
        }
    }
}

/// The entries of a map-valued section, with their names.
fn entries<'a>(map: &'a Mapping, key: &str, errors: &mut Vec<ConfigError>) -> Vec<(String, &'a Value)> {
    match map.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Mapping(m)) => m.iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v)).collect(),
        Some(_) => {
            errors.push(ConfigError::new(key, "expected a mapping of names to settings"));
            Vec::new()
        }
    }
}

fn section<T: DeserializeOwned>(map: &Mapping, key: &str, errors: &mut Vec<ConfigError>) -> Option<T> {
    map.get(key).filter(|v| !v.is_null()).and_then(|v| deserialize(v, key, errors))
}

fn deserialize<T: DeserializeOwned>(value: &Value, path: &str, errors: &mut Vec<ConfigError>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value.clone()) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let message = e.into_inner().to_string();
            // Tagged entries (providers) lose serde's path; the field is named in the message.
            let field = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next());
            let full = match (inner.as_str(), field) {
                (".", Some(f)) => format!("{path}.{f}"),
                (".", None) => path.to_string(),
                _ => format!("{path}.{inner}"),
            };
            errors.push(ConfigError::new(&full, message));
            None
        }
    }
}

/// The admin API's settings, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// `None`: the admin API is not started.
    pub key: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { listen: DEFAULT_ADMIN_LISTEN.parse().expect("default admin address"), key: None }
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig").field("listen", &self.listen).field("key", &self.key.as_ref().map(|_| "[redacted]")).finish()
    }
}

/// `admin:` from the file, the key falling back to `SWITCHYARD_ADMIN_KEY`.
fn admin(map: &Mapping, gateway_listen: SocketAddr, env: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<ConfigError>) -> AdminConfig {
    let section = section::<AdminSection>(map, "admin", errors).unwrap_or_default();
    let mut admin = AdminConfig::default();
    if let Some(text) = section.listen {
        match text.parse::<SocketAddr>() {
            Ok(addr) if addr == gateway_listen && addr.port() != 0 => errors.push(ConfigError::new(
                "admin.listen",
                format!("`{text}` is also the gateway's `listen`; the admin API needs its own address"),
            )),
            Ok(addr) => admin.listen = addr,
            Err(_) => errors.push(ConfigError::new(
                "admin.listen",
                format!("`{text}` is not an address; expected HOST:PORT like {DEFAULT_ADMIN_LISTEN}"),
            )),
        }
    }
    let (key, origin) = match section.key {
        Some(key) => (Some(key), "admin.key"),
        None => (env(ADMIN_KEY_ENV), ADMIN_KEY_ENV),
    };
    match key {
        Some(key) if key.chars().count() < MIN_ADMIN_KEY_LEN => errors.push(ConfigError::new(
            "admin.key",
            format!(
                "the admin key (from {origin}) is {} characters long; use at least {MIN_ADMIN_KEY_LEN} random characters",
                key.chars().count()
            ),
        )),
        key => admin.key = key,
    }
    admin
}

fn redis_url_invalid(url: &str) -> bool {
    url.split_once("://").is_none_or(|(_, rest)| rest.trim_matches('/').is_empty())
}

/// Database URLs can carry passwords; error messages show them without.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://[redacted]@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// A model's `timeouts`, over the defaults. A `total` set without `non_stream` keeps bounding
/// non-streamed answers too, as it did before `non_stream` existed.
fn timeouts(t: &file::TimeoutsConfig, path: &str, errors: &mut Vec<ConfigError>) -> Timeouts {
    let defaults = Timeouts::default();
    for (name, value) in [("first_token", t.first_token), ("total", t.total), ("non_stream", t.non_stream), ("keep_alive", t.keep_alive)] {
        if value.is_some_and(|v| v.is_zero()) {
            errors.push(ConfigError::new(&format!("{path}.timeouts.{name}"), "must be above 0"));
        }
    }
    Timeouts {
        first_token: t.first_token.unwrap_or(defaults.first_token),
        total: t.total.unwrap_or(defaults.total),
        non_stream: t.non_stream.or(t.total).unwrap_or(defaults.non_stream),
        overall: t.overall,
        idle: t.idle.or(defaults.idle),
        hedge_after: t.hedge_after,
        hold: t.hold.unwrap_or(defaults.hold),
        keep_alive: t.keep_alive.unwrap_or(defaults.keep_alive),
    }
}

#[cfg(test)]
mod tests;
