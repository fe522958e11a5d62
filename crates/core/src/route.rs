//! Step `route`: a model name (a configured alias or `provider/model`) becomes the targets that
//! may serve it, with their deadlines. Unknown names are refused before any upstream call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_providers::Provider;

/// An attempt's deadlines and how a waiting stream is kept alive. The defaults fail a silent
/// upstream over in seconds: a non-reasoning model's first token normally comes within 2 s, so
/// 10 s means it is not coming; reasoning models think before their first token (often 10–60 s,
/// minutes at high effort) and need `first_token` raised on their alias. A non-streamed answer
/// cannot reach the client before it is whole, so it is bounded under the 60 s idle cut of common
/// load balancers; a stream is kept visibly alive instead (`hold`, `keep_alive`) and may run long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until the first content chunk of a stream.
    pub first_token: Duration,
    /// One streamed attempt, from its start to its last chunk.
    pub total: Duration,
    /// One non-streamed attempt (chat or embeddings), until its whole answer.
    pub non_stream: Duration,
    /// The whole request across every attempt; default: the sum of the planned attempts'
    /// limits, at most `MAX_OVERALL`.
    pub overall: Option<Duration>,
    /// Longest silence between two chunks of a stream once it has started.
    pub idle: Option<Duration>,
    /// Hedging (opt-in): when the first target has no first token after this long, the next
    /// target is started too; the first to answer serves and the other is cancelled.
    pub hedge_after: Option<Duration>,
    /// How long a stream still waiting for its first token is held back without a byte: a
    /// failure until then is an ordinary HTTP error (which SDKs retry). After it, the 200 and
    /// the SSE headers go out and a later failure is an error event.
    pub hold: Duration,
    /// Silence after which a stream's connection gets an SSE comment (`: keep-alive`), which
    /// every SSE client ignores but which keeps proxies and load balancers from cutting it.
    pub keep_alive: Duration,
}

/// The longest any request may take, whatever the plan.
pub const MAX_OVERALL: Duration = Duration::from_secs(600);

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            first_token: Duration::from_secs(10),
            total: Duration::from_secs(600),
            non_stream: Duration::from_secs(55),
            overall: None,
            idle: Some(Duration::from_secs(30)),
            hedge_after: None,
            hold: Duration::from_secs(3),
            keep_alive: Duration::from_secs(15),
        }
    }
}

impl Timeouts {
    /// The longest one attempt may take.
    pub fn attempt(&self, stream: bool) -> Duration {
        if stream {
            self.total
        } else {
            self.non_stream
        }
    }

    /// These deadlines, none past `left`.
    pub fn within(self, left: Duration) -> Timeouts {
        Timeouts { total: self.total.min(left), non_stream: self.non_stream.min(left), ..self }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub provider: String,
    pub model: String,
    /// For `weighted`; ignored by `ordered`.
    pub weight: u32,
}

/// How a model's own targets are ordered for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// As listed: the first is primary, the rest back it up.
    #[default]
    Ordered,
    /// The first is drawn by weight (canary splits), the rest follow by weight.
    Weighted,
    /// Power of two choices on the observed latency (EWMA): two targets drawn at random, the
    /// faster first; the rest by latency. Targets never measured count as fastest (explored).
    LeastLatency,
}

#[derive(Debug, Clone)]
pub struct ModelRoute {
    pub targets: Vec<TargetSpec>,
    pub timeouts: Timeouts,
    pub strategy: Strategy,
    /// Other models (aliases or `provider/model`) tried after this model's own targets.
    pub fallbacks: Vec<String>,
    /// Larger-window models tried only when a prompt does not fit (context-length errors).
    pub context_fallbacks: Vec<String>,
}

#[derive(Clone)]
pub struct Target {
    pub provider_name: Arc<str>,
    pub provider: Arc<dyn Provider>,
    pub model: String,
    /// The configured alias this target was planned through (`None` for a `provider/model`
    /// name): a fallback or a downgrade is billed at its own alias's price, not the asked one's.
    pub alias: Option<Arc<str>>,
}

impl Target {
    /// What breakers and cooldowns are kept per.
    pub fn key(&self) -> crate::breaker::Key {
        (self.provider_name.clone(), self.model.clone())
    }
}

#[derive(Clone)]
pub struct Route {
    pub targets: Vec<Target>,
    pub timeouts: Timeouts,
    pub fallbacks: Vec<String>,
    pub context_fallbacks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    #[error("unknown model `{model}`: use a configured alias{aliases} or `provider/model` with an enabled provider ({providers})")]
    UnknownModel { model: String, aliases: String, providers: String },
    #[error("unknown fallback model `{model}`: use a configured alias or `provider/model` with an enabled provider")]
    UnknownFallback { model: String },
}

/// One step of a plan: a target and the deadlines of the model it came from.
#[derive(Clone)]
pub struct PlannedAttempt {
    pub target: Target,
    pub timeouts: Timeouts,
    /// Tried only after a context-length error (a larger-window model).
    pub context_only: bool,
}

/// How long a whole request may take (`Timeouts::overall`): the plan's own setting, else the sum
/// of its attempts' limits, at most `MAX_OVERALL`.
pub fn overall(plan: &[PlannedAttempt], stream: bool) -> Duration {
    let sum: Duration = plan.iter().map(|p| p.timeouts.attempt(stream)).sum();
    plan.first().and_then(|p| p.timeouts.overall).unwrap_or(sum).min(MAX_OVERALL)
}

/// What the gateway has learned about targets: those that asked to be left alone for a while
/// (`Retry-After`) cool down until then. Per instance; shared state arrives with Redis.
#[derive(Default)]
pub struct Health {
    cooldowns: std::sync::Mutex<std::collections::HashMap<(Arc<str>, String), std::time::Instant>>,
    pub breakers: crate::breaker::Breakers,
}

impl Health {
    pub fn new(breakers: crate::breaker::Breakers) -> Self {
        Self { cooldowns: Default::default(), breakers }
    }

    /// Cooling down after a long `Retry-After`, or its circuit is open: planned last.
    pub fn avoid(&self, target: &Target) -> bool {
        self.cooling(target) || self.breakers.is_open(&target.key())
    }

    /// Applies what a failed attempt says about its target: a failure of the target's own counts
    /// on its breaker, and a long `Retry-After` keeps it out of plans for that long.
    pub fn account(&self, target: &Target, verdict: &crate::retry::Verdict) {
        if verdict.target_failed {
            self.breakers.record(&target.key(), false);
        }
        if let Some(after) = verdict.cool_down {
            self.cool_down(target, std::time::Instant::now() + after);
        }
    }

    pub fn cool_down(&self, target: &Target, until: std::time::Instant) {
        let mut map = self.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((target.provider_name.clone(), target.model.clone()), until);
    }

    pub fn cooling(&self, target: &Target) -> bool {
        let mut map = self.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
        let key = (target.provider_name.clone(), target.model.clone());
        match map.get(&key) {
            Some(until) if *until > std::time::Instant::now() => true,
            Some(_) => {
                map.remove(&key);
                false
            }
            None => false,
        }
    }
}

/// Exponentially weighted moving average of each target's successful attempt time.
#[derive(Default)]
pub struct Latency {
    ewma_ms: std::sync::Mutex<std::collections::HashMap<(String, String), f64>>,
}

impl Latency {
    const ALPHA: f64 = 0.2;

    pub fn observe(&self, provider: &str, model: &str, ms: f64) {
        let mut map = self.ewma_ms.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry((provider.to_string(), model.to_string())).or_insert(ms);
        *e += Self::ALPHA * (ms - *e);
    }

    fn of(&self, t: &TargetSpec) -> f64 {
        let map = self.ewma_ms.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(t.provider.clone(), t.model.clone())).copied().unwrap_or(0.0)
    }
}

/// Targets in the order one request tries them.
fn order<'a>(targets: &'a [TargetSpec], strategy: Strategy, latency: &Latency) -> Vec<&'a TargetSpec> {
    let mut rest: Vec<&TargetSpec> = targets.iter().collect();
    match strategy {
        Strategy::Ordered => return rest,
        Strategy::LeastLatency => {
            let mut by_latency: Vec<(&TargetSpec, f64)> = rest.iter().map(|t| (*t, latency.of(t))).collect();
            by_latency.sort_by(|a, b| a.1.total_cmp(&b.1));
            let mut out: Vec<&TargetSpec> = by_latency.iter().map(|(t, _)| *t).collect();
            if out.len() >= 2 {
                // Two random choices: the faster of them goes first, which spreads load off a
                // single fastest target without sending much to slow ones.
                let (i, j) = (fastrand::usize(..out.len()), fastrand::usize(..out.len()));
                let first = i.min(j); // `out` is sorted, so the smaller index is the faster one
                let t = out.remove(first);
                out.insert(0, t);
            }
            return out;
        }
        Strategy::Weighted => {}
    }
    let mut out = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let total: u64 = rest.iter().map(|t| u64::from(t.weight)).sum();
        let i = if total == 0 {
            0
        } else {
            let mut pick = fastrand::u64(0..total);
            rest.iter()
                .position(|t| {
                    let w = u64::from(t.weight);
                    if pick < w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .unwrap_or(0)
        };
        out.push(rest.remove(i));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub id: String,
    pub owned_by: String,
}

pub struct Router {
    /// Observed latency per target, for `least_latency`; shared with the router a config reload
    /// builds, so what was learned survives it.
    pub latency: Arc<Latency>,
    providers: BTreeMap<String, (Arc<str>, Arc<dyn Provider>)>,
    aliases: BTreeMap<String, ModelRoute>,
    default_timeouts: Timeouts,
}

impl Router {
    /// Aliases must only name providers in `providers` (config validation guarantees it).
    pub fn new(providers: Vec<(String, Arc<dyn Provider>)>, aliases: BTreeMap<String, ModelRoute>, default_timeouts: Timeouts) -> Self {
        let providers = providers.into_iter().map(|(name, p)| (name.clone(), (Arc::from(name.as_str()), p))).collect();
        Self { latency: Arc::default(), providers, aliases, default_timeouts }
    }

    /// Keeps the latency observed by another router (the one a config reload replaces).
    pub fn with_latency(mut self, latency: Arc<Latency>) -> Self {
        self.latency = latency;
        self
    }

    /// The built provider called `name`: a reload reuses it (its connection pool with it) when
    /// its settings did not change.
    pub fn provider(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name).map(|(_, p)| p)
    }

    /// Every `(provider, model)` a configured alias routes to.
    pub fn configured_targets(&self) -> std::collections::HashSet<(&str, &str)> {
        self.aliases.values().flat_map(|r| &r.targets).map(|t| (t.provider.as_str(), t.model.as_str())).collect()
    }

    pub fn provider_names(&self) -> Vec<&str> {
        self.providers.keys().map(String::as_str).collect()
    }

    pub fn resolve(&self, model: &str) -> Result<Route, RouteError> {
        if let Some(route) = self.aliases.get(model) {
            let specs = order(&route.targets, route.strategy, &self.latency);
            let alias: Arc<str> = Arc::from(model);
            let targets = specs
                .iter()
                .filter_map(|t| self.target(&t.provider, &t.model))
                .map(|t| Target { alias: Some(alias.clone()), ..t })
                .collect::<Vec<_>>();
            if !targets.is_empty() {
                return Ok(Route {
                    targets,
                    timeouts: route.timeouts,
                    fallbacks: route.fallbacks.clone(),
                    context_fallbacks: route.context_fallbacks.clone(),
                });
            }
        }
        if let Some((provider, name)) = model.split_once('/') {
            if let Some(target) = self.target(provider, name).filter(|_| !name.is_empty()) {
                return Ok(Route {
                    targets: vec![target],
                    timeouts: self.default_timeouts,
                    fallbacks: Vec::new(),
                    context_fallbacks: Vec::new(),
                });
            }
        }
        let aliases = if self.aliases.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.aliases.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
        };
        Err(RouteError::UnknownModel { model: model.to_string(), aliases, providers: self.provider_names().join(", ") })
    }

    /// Step `plan`: the model's own targets in strategy order, then its configured fallbacks,
    /// then the request's; each target once; targets cooling down after a long `Retry-After`
    /// go last (still tried if nothing else is left).
    pub fn plan(&self, model: &str, request_fallbacks: &[String], health: &Health) -> Result<Vec<PlannedAttempt>, RouteError> {
        let route = self.resolve(model)?;
        let mut out: Vec<PlannedAttempt> =
            route.targets.iter().map(|t| PlannedAttempt { target: t.clone(), timeouts: route.timeouts, context_only: false }).collect();
        let configured = route.fallbacks.iter().map(|m| (m, false));
        let requested = request_fallbacks.iter().map(|m| (m, true));
        for (name, from_request) in configured.chain(requested) {
            let fallback = match self.resolve(name) {
                Ok(r) => r,
                Err(_) if from_request => return Err(RouteError::UnknownFallback { model: name.clone() }),
                Err(_) => continue, // config validation names configured fallbacks already
            };
            for t in fallback.targets {
                out.push(PlannedAttempt { target: t, timeouts: fallback.timeouts, context_only: false });
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|p| seen.insert((p.target.provider_name.clone(), p.target.model.clone())));
        out.sort_by_key(|p| health.avoid(&p.target)); // stable: order kept within each group
        for name in &route.context_fallbacks {
            if let Ok(bigger) = self.resolve(name) {
                for t in bigger.targets {
                    if seen.insert((t.provider_name.clone(), t.model.clone())) {
                        out.push(PlannedAttempt { target: t, timeouts: bigger.timeouts, context_only: true });
                    }
                }
            }
        }
        Ok(out)
    }

    fn target(&self, provider: &str, model: &str) -> Option<Target> {
        let (name, p) = self.providers.get(provider)?;
        Some(Target { provider_name: name.clone(), provider: p.clone(), model: model.to_string(), alias: None })
    }

    /// Aliases, then every provider's known models as `provider/model`.
    pub fn models(&self) -> Vec<ModelEntry> {
        let aliases = self.aliases.keys().map(|a| ModelEntry { id: a.clone(), owned_by: "switchyard".into() });
        let direct = self.providers.iter().flat_map(|(name, (_, p))| {
            p.models().into_iter().map(move |m| ModelEntry { id: format!("{name}/{m}"), owned_by: name.clone() })
        });
        let mut out: Vec<ModelEntry> = aliases.chain(direct).collect();
        let mut seen = std::collections::HashSet::new();
        out.retain(|e| seen.insert(e.id.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_providers::registry::{build, ProviderConfig};

    fn router() -> Router {
        let mock = build("mock", &ProviderConfig::Mock(Default::default())).unwrap();
        let aliases = BTreeMap::from([(
            "support-bot".to_string(),
            ModelRoute {
                targets: vec![TargetSpec { provider: "mock".into(), model: "echo".into(), weight: 1 }],
                timeouts: Timeouts {
                    first_token: Duration::from_secs(1),
                    total: Duration::from_secs(2),
                    overall: None,
                    idle: None,
                    hedge_after: None,
                    ..Timeouts::default()
                },
                strategy: Strategy::Ordered,
                fallbacks: vec!["mock/backup".into()],
                context_fallbacks: vec!["mock/big".into()],
            },
        )]);
        Router::new(vec![("mock".into(), mock)], aliases, Timeouts::default())
    }

    #[test]
    fn resolves_aliases_and_provider_model_names() {
        let r = router();
        let route = r.resolve("support-bot").unwrap();
        assert_eq!((&*route.targets[0].provider_name, route.targets[0].model.as_str()), ("mock", "echo"));
        assert_eq!(route.timeouts.total, Duration::from_secs(2));
        let route = r.resolve("mock/anything:v1/x").unwrap();
        assert_eq!(route.targets[0].model, "anything:v1/x");
    }

    #[test]
    fn unknown_models_name_the_alternatives() {
        let r = router();
        for bad in ["gpt-4o", "openai/gpt-4o", "mock/", "/echo"] {
            let err = r.resolve(bad).err().unwrap().to_string();
            assert!(err.contains(&format!("`{bad}`")) && err.contains("support-bot") && err.contains("(mock)"), "{err}");
        }
    }

    #[test]
    fn plans_targets_then_configured_then_requested_fallbacks_once_each() {
        let r = router();
        let health = Health::default();
        let names = |plan: Vec<PlannedAttempt>| {
            plan.into_iter().map(|p| format!("{}/{}", p.target.provider_name, p.target.model)).collect::<Vec<_>>()
        };
        let plan = r.plan("support-bot", &["mock/other".into(), "mock/echo".into()], &health).unwrap();
        assert_eq!(names(plan), ["mock/echo", "mock/backup", "mock/other", "mock/big"]);
        assert!(matches!(r.plan("support-bot", &["nope".into()], &health), Err(RouteError::UnknownFallback { .. })));
        // A target in cooldown goes last.
        let first = r.resolve("support-bot").unwrap().targets[0].clone();
        health.cool_down(&first, std::time::Instant::now() + Duration::from_secs(5));
        assert_eq!(names(r.plan("support-bot", &[], &health).unwrap()), ["mock/backup", "mock/echo", "mock/big"]);
    }

    #[test]
    fn weighted_order_follows_the_weights() {
        let specs = vec![
            TargetSpec { provider: "a".into(), model: "m".into(), weight: 90 },
            TargetSpec { provider: "b".into(), model: "m".into(), weight: 10 },
        ];
        let none = Latency::default();
        let firsts = (0..2000).filter(|_| order(&specs, Strategy::Weighted, &none)[0].provider == "a").count();
        assert!((1700..=1900).contains(&firsts), "{firsts} of 2000");
        assert_eq!(order(&specs, Strategy::Weighted, &none).len(), 2);
        assert_eq!(order(&specs, Strategy::Ordered, &none)[0].provider, "a");
    }

    #[test]
    fn least_latency_prefers_the_faster_target() {
        let specs = vec![
            TargetSpec { provider: "slow".into(), model: "m".into(), weight: 1 },
            TargetSpec { provider: "fast".into(), model: "m".into(), weight: 1 },
        ];
        let latency = Latency::default();
        for _ in 0..10 {
            latency.observe("slow", "m", 900.0);
            latency.observe("fast", "m", 100.0);
        }
        // Two random choices among two targets: the fast one first 3 times in 4.
        let fast_first = (0..4000).filter(|_| order(&specs, Strategy::LeastLatency, &latency)[0].provider == "fast").count();
        assert!((2800..=3200).contains(&fast_first), "{fast_first} of 4000");
    }

    #[test]
    fn lists_aliases_and_provider_models() {
        let ids: Vec<String> = router().models().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["support-bot", "mock/echo"]);
    }
}
