//! Whether one request uses the exact cache, and how: look up, refresh or bypass, for how long,
//! scoped by customer or not. A pure function of the request, its gateway fields, the model's
//! cache settings and the `Cache-Control` header.
//!
//! Choices made here:
//! - `cache_enabled: false` wins over everything; `cache_enabled: true` turns caching on even for
//!   a model whose config does not opt in, and even when the request is not deterministic: the
//!   caller asked for it explicitly.
//! - A model that opts in caches only requests that ask for determinism (`temperature: 0` or a
//!   `seed`), unless its config sets `force`.
//! - `cache_ttl: 0` means "do not keep it": bypass. Any other ttl is capped at `max_ttl`.
//! - Customer scope applies when the request or the config asks for it; a request cannot lift the
//!   config's scope.
//! - `n > 1` is cached as is: the entry holds every choice and a hit returns them all.
//! - `Cache-Control: no-store` bypasses; `no-cache` (or `max-age=0`) refreshes: no lookup, but
//!   the fresh answer is stored. Neither turns caching on by itself.

use std::time::Duration;

use switchyard_protocol::openai::ChatRequest;

use crate::request::GatewayFields;

/// A model's cache configuration (validated).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// The model opts in to caching.
    pub enabled: bool,
    /// How long an entry lives when the request does not say.
    pub ttl: Duration,
    /// The most a request's `cache_ttl` may ask for.
    pub max_ttl: Duration,
    /// Scope entries by customer as well as by tenant.
    pub by_customer: bool,
    /// Cache requests that do not ask for determinism too.
    pub force: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { enabled: false, ttl: Duration::from_secs(3600), max_ttl: Duration::from_secs(24 * 3600), by_customer: false, force: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Look the key up; on a miss, call the provider and store the answer.
    Lookup,
    /// Skip the lookup, call the provider and store the answer (`Cache-Control: no-cache`).
    Refresh,
    /// Neither read nor write the cache.
    Bypass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub mode: Mode,
    /// How long a stored answer lives; zero when bypassing.
    pub ttl: Duration,
    /// Whether the key includes the customer.
    pub by_customer: bool,
}

impl Decision {
    /// Whether the answer should be stored (a miss under `Lookup`, or `Refresh`).
    pub fn stores(&self) -> bool {
        self.mode != Mode::Bypass
    }
}

pub fn decide(fields: &GatewayFields, request: &ChatRequest, settings: &CacheSettings, cache_control: Option<&str>) -> Decision {
    // Either side can narrow the scope; a request cannot widen one the config narrowed, or a
    // customer could read other customers' answers.
    let by_customer = fields.cache_by_customer == Some(true) || settings.by_customer;
    let bypass = Decision { mode: Mode::Bypass, ttl: Duration::ZERO, by_customer };
    let on = match fields.cache_enabled {
        Some(explicit) => explicit,
        None => settings.enabled && (settings.force || is_deterministic(request)),
    };
    let directives = CacheControl::parse(cache_control.unwrap_or(""));
    if !on || directives.no_store {
        return bypass;
    }
    let ttl = match fields.cache_ttl {
        Some(0) => return bypass,
        Some(secs) => Duration::from_secs(secs),
        None => settings.ttl,
    }
    .min(settings.max_ttl);
    if ttl.is_zero() {
        return bypass;
    }
    let mode = if directives.no_cache { Mode::Refresh } else { Mode::Lookup };
    Decision { mode, ttl, by_customer }
}

/// `temperature` is 0 or a `seed` is set. A field of the wrong type counts as absent (the
/// upstream will reject it; a rejected answer is never stored anyway).
pub fn is_deterministic(request: &ChatRequest) -> bool {
    let temperature_zero = matches!(request.get::<Option<f64>>("temperature", "a number"), Ok(Some(Some(t))) if t == 0.0);
    let seeded = matches!(request.get::<Option<serde_json::Value>>("seed", "an integer"), Ok(Some(Some(v))) if v.is_number());
    temperature_zero || seeded
}

#[derive(Debug, Default)]
struct CacheControl {
    no_store: bool,
    no_cache: bool,
}

impl CacheControl {
    fn parse(header: &str) -> Self {
        let mut out = Self::default();
        for directive in header.split(',') {
            let directive = directive.trim();
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") {
                out.no_store = true;
            } else if name.eq_ignore_ascii_case("no-cache") || (name.eq_ignore_ascii_case("max-age") && value == Some("0")) {
                out.no_cache = true;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn request(extra: &str) -> ChatRequest {
        ChatRequest::parse(format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}]{extra}}}"#).as_bytes()).unwrap()
    }

    fn fields(enabled: Option<bool>, ttl: Option<u64>, by_customer: Option<bool>) -> GatewayFields {
        GatewayFields { cache_enabled: enabled, cache_ttl: ttl, cache_by_customer: by_customer, ..GatewayFields::default() }
    }

    fn model_on() -> CacheSettings {
        CacheSettings { enabled: true, ..CacheSettings::default() }
    }

    #[test]
    fn defaults() {
        let s = CacheSettings::default();
        assert_eq!((s.enabled, s.ttl, s.max_ttl, s.by_customer, s.force), (false, HOUR, 24 * HOUR, false, false));
    }

    /// name, gateway fields, extra request fields, model settings, Cache-Control, expected mode, ttl.
    type Row<'a> = (&'a str, GatewayFields, &'a str, CacheSettings, Option<&'a str>, Mode, Duration);

    #[test]
    fn policy_table() {
        let det = ",\"temperature\":0";
        let seeded = ",\"seed\":42,\"temperature\":1.2";
        let hot = ",\"temperature\":0.7";
        let forced = CacheSettings { force: true, ..model_on() };
        let short = CacheSettings { ttl: Duration::from_secs(60), max_ttl: Duration::from_secs(600), ..model_on() };
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            // Model config off, request silent: bypass, even when deterministic.
            ("off/silent", fields(None, None, None), det, CacheSettings::default(), None, Mode::Bypass, Duration::ZERO),
            // The request opts in: on, even non-deterministic and model off.
            ("request on", fields(Some(true), None, None), hot, CacheSettings::default(), None, Mode::Lookup, HOUR),
            ("request on, no temperature", fields(Some(true), None, None), "", CacheSettings::default(), None, Mode::Lookup, HOUR),
            // The request opts out: bypass even when everything else says cache.
            ("request off", fields(Some(false), None, None), det, forced.clone(), None, Mode::Bypass, Duration::ZERO),
            // Model opts in: only deterministic requests.
            ("model on, temp 0", fields(None, None, None), det, model_on(), None, Mode::Lookup, HOUR),
            ("model on, temp 0.0", fields(None, None, None), ",\"temperature\":0.0", model_on(), None, Mode::Lookup, HOUR),
            ("model on, seed", fields(None, None, None), seeded, model_on(), None, Mode::Lookup, HOUR),
            ("model on, hot", fields(None, None, None), hot, model_on(), None, Mode::Bypass, Duration::ZERO),
            ("model on, default temp", fields(None, None, None), "", model_on(), None, Mode::Bypass, Duration::ZERO),
            ("model on, null seed", fields(None, None, None), ",\"seed\":null", model_on(), None, Mode::Bypass, Duration::ZERO),
            ("model forced, hot", fields(None, None, None), hot, forced.clone(), None, Mode::Lookup, HOUR),
            // n > 1 is cached as is.
            ("n = 3", fields(None, None, None), ",\"temperature\":0,\"n\":3", model_on(), None, Mode::Lookup, HOUR),
            // Cache-Control.
            ("no-store", fields(Some(true), None, None), det, model_on(), Some("no-store"), Mode::Bypass, Duration::ZERO),
            ("NO-STORE in a list", fields(None, None, None), det, model_on(), Some("max-age=60, NO-STORE"), Mode::Bypass, Duration::ZERO),
            ("no-cache", fields(None, None, None), det, model_on(), Some("No-Cache"), Mode::Refresh, HOUR),
            ("max-age=0", fields(None, None, None), det, model_on(), Some("max-age=0"), Mode::Refresh, HOUR),
            ("no-cache + no-store", fields(None, None, None), det, model_on(), Some("no-cache, no-store"), Mode::Bypass, Duration::ZERO),
            ("no-cache does not turn caching on", fields(None, None, None), hot, model_on(), Some("no-cache"), Mode::Bypass, Duration::ZERO),
            ("unrelated directive", fields(None, None, None), det, model_on(), Some("max-age=60, private"), Mode::Lookup, HOUR),
            // TTL: the request's, capped; 0 = do not keep.
            ("ttl from request", fields(Some(true), Some(120), None), "", short.clone(), None, Mode::Lookup, Duration::from_secs(120)),
            ("ttl capped", fields(Some(true), Some(86_400 * 7), None), "", short.clone(), None, Mode::Lookup, Duration::from_secs(600)),
            ("ttl default", fields(Some(true), None, None), "", short.clone(), None, Mode::Lookup, Duration::from_secs(60)),
            ("ttl zero", fields(Some(true), Some(0), None), "", short, None, Mode::Bypass, Duration::ZERO),
            ("ttl capped at default max", fields(Some(true), Some(86_400 * 7), None), "", model_on(), None, Mode::Lookup, 24 * HOUR),
        ];
        for (name, f, extra, settings, cc, mode, ttl) in table {
            let d = decide(&f, &request(extra), &settings, cc);
            assert_eq!((d.mode, d.ttl), (mode, ttl), "{name}");
            assert_eq!(d.stores(), mode != Mode::Bypass, "{name}");
        }
    }

    #[test]
    fn customer_scope_comes_from_the_request_then_the_config() {
        let det = request(",\"temperature\":0");
        let scoped = CacheSettings { by_customer: true, ..model_on() };
        assert!(!decide(&fields(None, None, None), &det, &model_on(), None).by_customer);
        assert!(decide(&fields(None, None, Some(true)), &det, &model_on(), None).by_customer);
        assert!(decide(&fields(None, None, None), &det, &scoped, None).by_customer);
        assert!(decide(&fields(None, None, Some(false)), &det, &scoped, None).by_customer, "a request cannot widen the config's scope");
    }
}
