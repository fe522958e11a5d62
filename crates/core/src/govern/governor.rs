//! The governor: decides admissions against the counters and hands out the `Ticket` that settles
//! them. With Redis the counters are shared by every instance; without, they are this process's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::store::{Admit, BudgetItem, BudgetSettle, CounterStore, Limits, Policy, RateState, Scope, Settle, StoreError, Verdict};

use super::alert::{self, Alert, AlertKind, AlertSink};
use super::auth::Caller;
use super::escrow::Escrows;
use super::items::{self, BudgetMeta, Meta, Rate, Scoped, WorstCase};
use super::names::{self, Unit};
use super::shared::{SharedHealth, PROBE_EVERY};
use super::ticket::{Taken, Ticket, Where};

/// What happens to rate limits while the shared store is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitsOutage {
    /// Each instance enforces the limits on its own (fail open to local limits).
    #[default]
    Local,
    /// Refuse requests that have limits.
    Closed,
}

/// What happens to budgets while the shared store is unreachable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BudgetsOutage {
    /// Each instance may spend what it holds in escrow, reserved in the shared store beforehand:
    /// at most `pct` percent of a budget's limit, sized from its recent spend (see `escrow`),
    /// and then refuses (fail closed after a bounded slice).
    Lease { pct: f64 },
    /// Spend without checking (fail open).
    Open,
    /// Refuse requests that have budgets.
    Closed,
}

impl Default for BudgetsOutage {
    fn default() -> Self {
        BudgetsOutage::Lease { pct: 5.0 }
    }
}

#[derive(Debug, Clone)]
pub struct GovernorConfig {
    pub limits_outage: LimitsOutage,
    pub budgets_outage: BudgetsOutage,
    /// How long the shared store may answer nothing at all (to any request or probe) before it
    /// counts as hung (`governance.redis_timeout`); a probe may take as long (two misses in a row
    /// mark it down). Slower answers are waited for: they decide nothing about correctness.
    pub shared_timeout: Duration,
    /// The longest a request without a deadline of its own waits on a shared store that is not
    /// marked down (a request with one waits until its deadline); past it the request is
    /// refused as unavailable (503), never decided locally.
    pub shared_cap: Duration,
    /// How long a reservation or concurrency slot lives if its request never settles (its
    /// instance died): longer than any request may take.
    pub lease: Duration,
    /// Limits per model alias from the config (a model policy set through the admin API wins).
    pub model_limits: HashMap<String, Limits>,
}

impl Default for GovernorConfig {
    fn default() -> Self {
        Self {
            limits_outage: LimitsOutage::Local,
            budgets_outage: BudgetsOutage::default(),
            shared_timeout: Duration::from_secs(5),
            shared_cap: Duration::from_secs(6),
            lease: crate::route::MAX_OVERALL + Duration::from_secs(60),
            model_limits: HashMap::new(),
        }
    }
}

/// Where a budget's spend so far is read from when its counter has none (a new window, or a
/// shared store that restarted empty): the durable request log.
#[async_trait::async_trait]
pub trait SpendSource: Send + Sync + 'static {
    /// Spend of (scope, name) since `from_ms` (all time when `None`), in `unit`s; only the
    /// spend of tenant `within` (`team:…`, `key:…`) when given (see `Scoped::within`).
    async fn used(&self, scope: Scope, name: &str, within: Option<&str>, unit: Unit, from_ms: Option<i64>) -> Result<i64, StoreError>;
}

/// One request, as admission sees it.
pub struct Ask<'a> {
    pub caller: &'a Caller,
    pub customer: Option<&'a str>,
    pub feature: Option<&'a str>,
    /// The model name the request asked for (an alias or `provider/model`).
    pub model: &'a str,
    pub worst: WorstCase,
    pub now_ms: i64,
    /// The request's own deadline: a request queued for a rate limit never waits past it.
    pub deadline: Option<tokio::time::Instant>,
}

pub struct Admission {
    pub ticket: Ticket,
    /// `x-ratelimit-*` and budget warning headers.
    pub headers: Vec<(&'static str, String)>,
}

/// Why a request was refused, with everything the error message and headers need.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// `reset_ms`: until the limit is fully replenished (for `x-ratelimit-reset-*`).
    RateLimited {
        scope: Scope,
        name: String,
        what: &'static str,
        limit: u64,
        retry_after_ms: u64,
        reset_ms: u64,
    },
    /// The request alone needs more tokens than the limit's bucket holds (`limit`: its capacity).
    TooLarge {
        scope: Scope,
        name: String,
        needed: u64,
        limit: u64,
    },
    Busy {
        scope: Scope,
        name: String,
        max: u64,
    },
    BudgetExceeded {
        scope: Scope,
        name: String,
        /// What the cap counts: dollars, tokens or requests.
        unit: Unit,
        window: &'static str,
        used: String,
        limit: String,
    },
    /// The shared counters are unreachable and the outage rules say no.
    Unavailable {
        what: &'static str,
    },
}

pub struct Governor {
    config: GovernorConfig,
    /// `config.model_limits` at first, replaced whole by a config reload (`set_model_limits`);
    /// the counters are keyed by name and so outlive it.
    model_limits: arc_swap::ArcSwap<HashMap<String, Limits>>,
    /// The counters of record: Redis when shared, else the local ones.
    primary: Arc<dyn CounterStore>,
    /// This instance's counters: the primary without Redis, the outage fallback with it.
    local: Arc<dyn CounterStore>,
    shared: Option<SharedHealth>,
    policies: RwLock<HashMap<(Scope, String), Policy>>,
    has_policies: std::sync::atomic::AtomicBool,
    spend: Arc<dyn SpendSource>,
    alerts: Option<AlertSink>,
    /// Alert keys this instance already knows were sent (their window is in the key): a burst
    /// of refusals then asks the shared store once, not once per refusal.
    alerted: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Budget usage (settled + reserved) last seen per budget key: for downgrades and for the
    /// outage allowance.
    seen: Mutex<HashMap<String, i64>>,
    /// This instance's outage allowances, held in the shared store.
    escrows: Escrows,
    seeding: tokio::sync::Mutex<()>,
}

impl Governor {
    /// `shared`: the Redis counters, when configured; `local`: in-process counters.
    pub fn new(
        config: GovernorConfig,
        local: Arc<dyn CounterStore>,
        shared: Option<Arc<dyn CounterStore>>,
        spend: Arc<dyn SpendSource>,
        alerts: Option<AlertSink>,
    ) -> Arc<Self> {
        let health = shared.as_ref().map(|_| SharedHealth::new(config.shared_timeout));
        Arc::new(Self {
            model_limits: arc_swap::ArcSwap::from_pointee(config.model_limits.clone()),
            primary: shared.unwrap_or_else(|| local.clone()),
            local,
            shared: health,
            config,
            policies: RwLock::new(HashMap::new()),
            has_policies: std::sync::atomic::AtomicBool::new(false),
            spend,
            alerts,
            alerted: Arc::default(),
            seen: Mutex::new(HashMap::new()),
            escrows: Escrows::new(),
            seeding: tokio::sync::Mutex::new(()),
        })
    }

    pub fn apply_policies(&self, policies: Vec<Policy>) {
        let mut map = self.policies.write().expect("policies lock");
        for p in policies {
            map.insert((p.scope, p.name.clone()), p);
        }
        self.has_policies.store(!map.is_empty(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The limits per model alias of a reloaded config; counters already taken keep counting.
    pub fn set_model_limits(&self, limits: HashMap<String, Limits>) {
        self.model_limits.store(Arc::new(limits));
    }

    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether the shared store was reachable at the last call (true without one).
    pub fn shared_up(&self) -> bool {
        self.shared.as_ref().is_none_or(|h| !h.is_down())
    }

    /// The scopes whose limits or budgets apply to `ask`, looked up once per request and passed
    /// to `downgrade` and `admit` (empty: nothing governs it).
    pub fn scopes(&self, ask: &Ask<'_>) -> Vec<Scoped> {
        // The common case of a gateway without keys or policies costs no lookup at all.
        let model_limits = self.model_limits.load();
        if ask.caller.key.is_none() && model_limits.is_empty() && !self.has_policies.load(std::sync::atomic::Ordering::Relaxed) {
            return Vec::new();
        }
        let policies = self.policies.read().expect("policies lock");
        let policy = |scope: Scope, name: &str| policies.get(&(scope, name.to_string()));
        let mut out = Vec::new();
        if let Some(key) = ask.caller.key.as_deref() {
            out.push(Scoped { scope: Scope::Key, name: key.id.clone(), within: None, limits: key.limits, budget: key.budget.clone() });
        }
        let named = [
            (Scope::Team, ask.caller.team()),
            (Scope::Customer, ask.customer),
            (Scope::Feature, ask.feature),
            (Scope::Model, Some(ask.model)),
        ];
        for (scope, name) in named {
            let Some(name) = name else { continue };
            let from_config = if scope == Scope::Model { model_limits.get(name).copied() } else { None };
            let within = || matches!(scope, Scope::Customer | Scope::Feature).then(|| ask.caller.tenant.clone());
            match (policy(scope, name), from_config) {
                (Some(p), _) => {
                    out.push(Scoped { scope, name: name.to_string(), within: within(), limits: p.limits, budget: p.budget.clone() })
                }
                (None, Some(limits)) => out.push(Scoped { scope, name: name.to_string(), within: within(), limits, budget: None }),
                (None, None) => {}
            }
        }
        out.retain(|s| !s.limits.is_empty() || s.budget.is_some());
        out
    }

    /// The cheaper model to use instead, when a budget that applies is above its downgrade
    /// threshold (as last seen by this instance).
    pub fn downgrade(&self, ask: &Ask<'_>, scopes: &[Scoped]) -> Option<String> {
        if scopes.iter().all(|s| s.budget.as_ref().is_none_or(|b| b.downgrade_to.is_none())) {
            return None;
        }
        let seen = self.seen.lock().expect("seen lock");
        scopes.iter().find_map(|s| {
            let budget = s.budget.as_ref()?;
            let to = budget.downgrade_to.clone()?;
            let (unit, limit) = items::caps(budget).next()?;
            let used = *seen.get(&names::budget(s.scope, &s.counter_name(), unit, budget.window, ask.now_ms))?;
            let pct = budget.downgrade_pct.unwrap_or(90.0);
            (limit > 0 && used as f64 * 100.0 >= pct * limit as f64 && to != ask.model).then_some(to)
        })
    }

    /// Admits `ask` against `scopes` (from `scopes`); over a rate limit of a scope with
    /// `limits.queue`, waits for capacity first (see `queue.rs`).
    pub async fn admit(self: &Arc<Self>, ask: &Ask<'_>, scopes: &[Scoped]) -> Result<Admission, Refusal> {
        let result = self.admit_waiting(ask, scopes).await;
        match &result {
            Err(Refusal::BudgetExceeded { .. }) => crate::metrics::BUDGET_REFUSED.inc(),
            Err(Refusal::RateLimited { .. } | Refusal::Busy { .. }) => crate::metrics::RATE_LIMITED.inc(),
            _ => {}
        }
        result
    }

    /// One admission decision, without waiting.
    pub(super) async fn admit_once(self: &Arc<Self>, ask: &Ask<'_>, scopes: &[Scoped]) -> Result<Admission, Refusal> {
        if scopes.is_empty() {
            return Ok(Admission { ticket: Ticket::free(), headers: Vec::new() });
        }
        let (rates, slots, budgets, meta) = items::build(scopes, ask.worst, ask.now_ms);
        for (i, rate) in rates.iter().enumerate() {
            if rate.cost > rate.burst {
                let (scope, name, _) = meta.rates[i].clone();
                return Err(Refusal::TooLarge { scope, name, needed: rate.cost, limit: rate.burst });
            }
        }
        let admit = Admit {
            lease_id: crate::record::new_request_id(),
            lease_ms: self.config.lease.as_millis() as u64,
            now_ms: ask.now_ms,
            rates,
            slots,
            budgets,
        };
        // A slow Redis is waited for as long as the request may wait (its own deadline), and
        // the request is shed as unavailable past it; `shared_cap` bounds a request without one.
        let bound = ask.deadline.map_or(self.config.shared_cap, |d| d.saturating_duration_since(tokio::time::Instant::now()));
        let (verdict, on) = self.decide(&admit, &meta, bound).await?;
        if on == Where::Local {
            crate::metrics::LOCAL_ADMISSIONS.inc();
        }
        match verdict {
            Verdict::Admitted { rates, budgets } => Ok(self.admitted(admit, meta, on, &rates, &budgets)),
            refused => {
                self.alert_refused(&refused, &admit, &meta, scopes);
                Err(refusal(refused, &admit, &meta))
            }
        }
    }

    /// Asks the counters of record, seeding budget totals they do not have yet; falls back to
    /// the outage rules when the shared store fails or is known to be down.
    async fn decide(&self, admit: &Admit, meta: &Meta, bound: Duration) -> Result<(Verdict, Where), Refusal> {
        let Some(health) = &self.shared else {
            return Ok((
                self.ask_seeding(&*self.primary, admit, meta, bound).await.map_err(|_| Refusal::Unavailable { what: "counters" })?,
                Where::Primary,
            ));
        };
        if !health.is_down() {
            tokio::select! {
                result = self.ask_squeezing(admit, meta, bound) => match result {
                    Ok(verdict) => return Ok((verdict, Where::Primary)),
                    // Slow is not down: refused for now (503), never decided alone.
                    Err(StoreError::TimedOut(_)) => {
                        release_abandoned(health, admit);
                        return Err(Refusal::Unavailable { what: "counters" });
                    }
                    Err(e) => health.failed("admit", &e.to_string()),
                },
                // Marked down while waiting (by the monitor or another request): stop waiting now.
                () = health.until_down() => {}
            }
            release_abandoned(health, admit);
        }
        self.decide_locally(admit).await.map(|v| (v, Where::Local))
    }

    /// `ask_seeding` on the shared store; a budget refused while escrows hold part of it is
    /// asked again once their holders dropped them (each does at its next probe, within 250 ms)
    /// if it fits without them, for up to `bound`.
    async fn ask_squeezing(&self, admit: &Admit, meta: &Meta, bound: Duration) -> Result<Verdict, StoreError> {
        let started = tokio::time::Instant::now();
        loop {
            let verdict = self.ask_seeding(&*self.primary, admit, meta, bound.saturating_sub(started.elapsed())).await?;
            let Verdict::OverBudget { index, .. } = verdict else { return Ok(verdict) };
            let item = &admit.budgets[index];
            let Some(squeeze) = self.escrows.squeeze_ask(item) else {
                return Err(StoreError::TimedOut("budget held by outage spend not yet replayed".into()));
            };
            self.escrows.dropped(&item.key);
            let fits = self.call(self.primary.squeeze(&squeeze), bound.saturating_sub(started.elapsed())).await?;
            if !fits {
                return Ok(verdict);
            }
            if started.elapsed() >= bound {
                return Err(StoreError::TimedOut("budget held by outage escrows".into()));
            }
            tokio::time::sleep(SQUEEZE_RETRY).await;
        }
    }

    /// One call to the counters of record: bounded by `bound` (what is left of the request's
    /// deadline), and with a shared store also by its silence (`SharedHealth::silent_for`), so
    /// that a hung Redis costs a request about the Redis timeout, not its whole deadline.
    async fn call<T>(&self, f: impl std::future::Future<Output = Result<T, StoreError>>, bound: Duration) -> Result<T, StoreError> {
        let Some(health) = &self.shared else { return timed(bound, f).await };
        // A hung Redis: silence far past any plausible stall (`governance.redis_timeout`).
        let quiet = self.config.shared_timeout;
        tokio::select! {
            biased;
            result = timed(bound, f) => {
                if result.is_ok() {
                    health.answered();
                }
                result
            }
            () = health.silent_for(quiet) => Err(StoreError::Other(format!("no answer from Redis within {quiet:?}"))),
        }
    }

    /// `admit` with seeding: an unseeded budget total is read from the request log, seeded and
    /// the admission asked again. Each call to the store is bounded as `call` says.
    async fn ask_seeding(&self, store: &dyn CounterStore, admit: &Admit, meta: &Meta, bound: Duration) -> Result<Verdict, StoreError> {
        for _ in 0..4 {
            let verdict = self.call(store.admit(admit), bound).await?;
            let Verdict::Unseeded { index } = verdict else { return Ok(verdict) };
            let (item, m) = (&admit.budgets[index], &meta.budgets[index]);
            // One seeding at a time: concurrent requests that found the same total missing
            // wait for the first instead of all reading the log.
            let _one = self.seeding.lock().await;
            if self.call(store.budget_used(&item.key, admit.now_ms), bound).await?.is_some() {
                continue;
            }
            let used = self.durable_used(item, m, admit.now_ms).await;
            let now = self.call(store.seed(&item.key, used, item.ttl_ms), bound).await?;
            self.seen.lock().expect("seen lock").insert(item.key.clone(), now);
        }
        Err(StoreError::Other("budget totals could not be seeded".into()))
    }

    async fn durable_used(&self, item: &BudgetItem, m: &BudgetMeta, now_ms: i64) -> i64 {
        let from = names::window_start(m.budget.window, now_ms);
        match tokio::time::timeout(Duration::from_secs(2), self.spend.used(m.scope, &m.name, m.within.as_deref(), m.unit, from)).await {
            Ok(Ok(used)) => used,
            failed => {
                let last = self.seen.lock().expect("seen lock").get(&item.key).copied().unwrap_or(0);
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".into(),
                };
                tracing::warn!(budget = %item.key, error = %why, last_seen = last, "cannot read spend from the database; seeding the budget total with the last value seen");
                last
            }
        }
    }

    /// Watches the shared store for as long as the gateway runs: probes it every 250 ms, marks
    /// it down after two missed probes, and when it answers again replays the settlements queued
    /// meanwhile (only into the same data: see `SharedHealth`).
    pub async fn monitor(self: Arc<Self>) {
        let Some(health) = &self.shared else { return };
        let (key, ttl) = SharedHealth::epoch_key();
        loop {
            tokio::select! {
                () = tokio::time::sleep(PROBE_EVERY) => {}
                // A request gave up on a silent Redis: find out at once whether it is back.
                () = health.probe_requested() => {}
            }
            let epoch = fastrand::i64(1..i64::MAX);
            match tokio::time::timeout(health.probe_timeout, self.primary.seed(key, epoch, ttl)).await {
                Ok(Ok(epoch)) => {
                    let (replay, same_data) = health.probed(epoch);
                    if !same_data {
                        self.escrows.forget();
                    }
                    for settle in replay {
                        match tokio::time::timeout(health.probe_timeout, self.primary.settle(&settle)).await {
                            Ok(Ok(())) => self.replayed(&settle),
                            failed => {
                                tracing::warn!(error = ?failed.err(), "replaying a settlement failed; kept for the next probe");
                                health.queue(settle);
                                break;
                            }
                        }
                    }
                    self.refresh_escrows(health).await;
                }
                Ok(Err(e)) => health.probe_missed(&e.to_string()),
                Err(_) => health.probe_missed("timed out"),
            }
        }
    }

    /// Spend admitted locally now counted by the shared store: no longer owed to the escrows.
    fn replayed(&self, settle: &Settle) {
        for b in settle.budgets.iter().filter(|b| !b.reserved) {
            self.escrows.give_back(&b.key, b.actual);
        }
    }

    /// Asks the shared store for this instance's escrows again (see `escrow`).
    async fn refresh_escrows(&self, health: &SharedHealth) {
        let BudgetsOutage::Lease { pct } = self.config.budgets_outage else { return };
        for ask in self.escrows.asks(pct) {
            let asked = tokio::time::Instant::now();
            match tokio::time::timeout(health.probe_timeout, self.primary.escrow(&ask)).await {
                Ok(Ok(held)) => self.escrows.held(&ask.key, held.unwrap_or(0), asked),
                failed => {
                    tracing::debug!(error = ?failed.err(), "asking for an outage escrow failed");
                    return;
                }
            }
        }
    }

    /// The outage rules: rate limits and slots on this instance's counters (or refused), budgets
    /// against their escrows (or open, or refused).
    async fn decide_locally(&self, admit: &Admit) -> Result<Verdict, Refusal> {
        let has_limits = !admit.rates.is_empty() || !admit.slots.is_empty();
        if has_limits && self.config.limits_outage == LimitsOutage::Closed {
            return Err(Refusal::Unavailable { what: "rate limits" });
        }
        let taken = self.take_allowance(admit)?;
        let local = Admit { budgets: Vec::new(), ..admit.clone() };
        let verdict = self.local.admit(&local).await.map_err(|_| Refusal::Unavailable { what: "rate limits" })?;
        if !matches!(verdict, Verdict::Admitted { .. }) {
            self.return_allowance(&taken);
            return Ok(verdict);
        }
        let rates = match verdict {
            Verdict::Admitted { rates, .. } => rates,
            _ => Vec::new(),
        };
        let seen = self.seen.lock().expect("seen lock");
        let budgets = admit.budgets.iter().map(|b| seen.get(&b.key).copied().unwrap_or(0) + b.amount).collect();
        Ok(Verdict::Admitted { rates, budgets })
    }

    fn take_allowance(&self, admit: &Admit) -> Result<Vec<(String, i64)>, Refusal> {
        if admit.budgets.is_empty() {
            return Ok(Vec::new());
        }
        match self.config.budgets_outage {
            BudgetsOutage::Open => Ok(Vec::new()),
            BudgetsOutage::Closed => Err(Refusal::Unavailable { what: "budgets" }),
            BudgetsOutage::Lease { .. } => self.escrows.take(&admit.budgets).ok_or(Refusal::Unavailable { what: "budgets" }),
        }
    }

    pub(super) fn return_allowance(&self, taken: &[(String, i64)]) {
        for (key, amount) in taken {
            self.escrows.give_back(key, *amount);
        }
    }

    fn admitted(self: &Arc<Self>, admit: Admit, meta: Meta, on: Where, rates: &[RateState], used: &[i64]) -> Admission {
        let mut headers = rate_headers(&admit, &meta, rates);
        if on == Where::Primary {
            self.escrows.spent(&admit.budgets);
        }
        {
            let mut seen = self.seen.lock().expect("seen lock");
            for (item, used) in admit.budgets.iter().zip(used) {
                // The key is copied only the first time a budget is seen.
                match seen.get_mut(&item.key) {
                    Some(last) => *last = *used,
                    None => drop(seen.insert(item.key.clone(), *used)),
                }
            }
        }
        for ((item, m), used) in admit.budgets.iter().zip(&meta.budgets).zip(used) {
            let Some(soft) = m.budget.soft_pct else { continue };
            let pct = *used as f64 * 100.0 / m.limit.max(1) as f64;
            if pct < soft {
                continue;
            }
            let text = format!(
                "{} `{}`: {} {} at {:.0}% ({} of {})",
                m.scope.as_str(),
                m.name,
                window_name(m),
                cap_name(m.unit),
                pct.min(100.0),
                m.unit.show(*used),
                m.unit.show(m.limit)
            );
            headers.push(("x-switchyard-budget-warning", text.clone()));
            self.alert_once(names::alert(&item.key), item.ttl_ms, || budget_alert(AlertKind::SoftCap, m, &item.key, text));
        }
        let taken = Taken::from_admit(&admit, &meta);
        Admission { ticket: Ticket::new(self.clone(), admit.lease_id, on, taken), headers }
    }

    /// A hard cap refusing, or a limit saturated: alerted once per window.
    fn alert_refused(&self, verdict: &Verdict, admit: &Admit, meta: &Meta, scopes: &[Scoped]) {
        if self.alerts.is_none() {
            return;
        }
        match *verdict {
            Verdict::OverBudget { index, used } => {
                let (item, m) = (&admit.budgets[index], &meta.budgets[index]);
                let key = format!("{}:hard", names::alert(&item.key));
                self.alert_once(key, item.ttl_ms, || {
                    let text = format!(
                        "{} `{}`: {} {} reached, refusing requests ({} of {})",
                        m.scope.as_str(),
                        m.name,
                        window_name(m),
                        cap_name(m.unit),
                        m.unit.show(used),
                        m.unit.show(m.limit)
                    );
                    budget_alert(AlertKind::HardCap, m, &item.key, text)
                });
            }
            Verdict::RateLimited { index, .. } => {
                let (scope, name, rate) = &meta.rates[index];
                let text = || format!("{} `{name}`: {} per minute limit reached, refusing requests", scope.as_str(), rate.as_str());
                self.alert_limit(&admit.rates[index].key, *scope, name, scopes, admit.now_ms, text);
            }
            Verdict::Busy { index } => {
                let (scope, name) = &meta.slots[index];
                let max = admit.slots[index].max;
                let text = || format!("{} `{name}`: concurrency limit of {max} reached, refusing requests", scope.as_str());
                self.alert_limit(&admit.slots[index].key, *scope, name, scopes, admit.now_ms, text);
            }
            Verdict::Admitted { .. } | Verdict::Unseeded { .. } => {}
        }
    }

    fn alert_limit(&self, counter: &str, scope: Scope, name: &str, scopes: &[Scoped], now_ms: i64, text: impl FnOnce() -> String) {
        let window = alert::hour_window(now_ms);
        let key = format!("{}:{window}", names::alert(counter));
        self.alert_once(key, 2 * 3_600_000, || {
            // A limit has no alert destinations of its own: those of its scope's budget, if any.
            let targets = scopes.iter().find(|s| s.scope == scope && s.name == name).and_then(|s| s.budget.as_ref()?.alerts.clone());
            Alert { kind: AlertKind::Saturated, scope: Some(scope), name: name.to_string(), window, text: text(), targets, monitor: None }
        });
    }

    /// Sends the alert `make` builds unless `key` was marked already (in this instance's memo,
    /// then once for all instances in the counters); it is built only when it may be sent, so a
    /// flood of refusals costs a set lookup each.
    fn alert_once(&self, key: String, ttl_ms: u64, make: impl FnOnce() -> Alert) {
        let Some(sink) = self.alerts.clone() else { return };
        {
            let mut alerted = self.alerted.lock().expect("alerted lock");
            // Keys carry their window, so old ones only matter until it ends; forgetting them all
            // at once costs one more shared `once` per key, which still says no.
            if alerted.len() >= 10_000 {
                alerted.clear();
            }
            if !alerted.insert(key.clone()) {
                return;
            }
        }
        let alert = make();
        let store = if self.shared_up() { self.primary.clone() } else { self.local.clone() };
        let alerted = self.alerted.clone();
        crate::tasks::spawn_background("alert", async move {
            match store.once(&key, ttl_ms).await {
                Ok(true) => {
                    if alert.kind == AlertKind::SoftCap {
                        crate::metrics::BUDGET_ALERTS.inc();
                    }
                    crate::metrics::ALERTS.inc(alert.kind.as_str());
                    sink(alert);
                }
                Ok(false) => {}
                // Not known to be sent: the next request over the line asks again.
                Err(_) => {
                    alerted.lock().expect("alerted lock").remove(&key);
                }
            }
        });
    }

    pub(super) fn primary(&self) -> &Arc<dyn CounterStore> {
        &self.primary
    }

    pub(super) fn local(&self) -> &Arc<dyn CounterStore> {
        &self.local
    }

    pub(super) fn health(&self) -> Option<&SharedHealth> {
        self.shared.as_ref()
    }

    pub(super) fn seen_adjust(&self, key: &str, delta: i64) {
        if let Some(used) = self.seen.lock().expect("seen lock").get_mut(key) {
            *used += delta;
        }
    }
}

/// Gives back what an abandoned admission may still take in the shared store once it runs there
/// (a hung Redis executes queued commands when it wakes): its budget reservations and slot
/// leases, released with the settlements replayed after the next successful probe. Releasing a
/// reservation that was never made changes nothing. Rate-limit charges are not refunded: a refund
/// for a charge that never happened would raise the limit.
fn release_abandoned(health: &SharedHealth, admit: &Admit) {
    if admit.budgets.is_empty() && admit.slots.is_empty() {
        return;
    }
    let budgets = admit.budgets.iter().map(|b| BudgetSettle { key: b.key.clone(), actual: 0, ttl_ms: b.ttl_ms, reserved: true }).collect();
    let slots = admit.slots.iter().map(|s| s.key.clone()).collect();
    health.queue(Settle { lease_id: admit.lease_id.clone(), now_ms: admit.now_ms, rates: Vec::new(), slots, budgets });
}

/// How often an admission refused only because of outage escrows asks again while their holders
/// drop them.
const SQUEEZE_RETRY: Duration = Duration::from_millis(50);

async fn timed<T>(bound: Duration, f: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(bound, f).await.map_err(|_| StoreError::TimedOut(format!("no answer from the counters within {bound:?}")))?
}

/// What a budget item caps, for alert text.
fn cap_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Requests => "request cap",
        Unit::NanoUsd | Unit::Tokens => "budget",
    }
}

/// An alert about budget item `key`: due once per its window, sent where its budget says.
fn budget_alert(kind: AlertKind, m: &BudgetMeta, key: &str, text: String) -> Alert {
    let window = key.rsplit(':').next().unwrap_or("total").to_string();
    Alert { kind, scope: Some(m.scope), name: m.name.clone(), window, text, targets: m.budget.alerts.clone(), monitor: None }
}

fn window_name(m: &BudgetMeta) -> &'static str {
    match m.budget.window {
        crate::store::Window::Daily => "daily",
        crate::store::Window::Monthly => "monthly",
        crate::store::Window::Total => "total",
    }
}

fn refusal(verdict: Verdict, admit: &Admit, meta: &Meta) -> Refusal {
    match verdict {
        Verdict::RateLimited { index, retry_after_ms, state } => {
            let (scope, name, rate) = meta.rates[index].clone();
            Refusal::RateLimited {
                scope,
                name,
                what: rate.as_str(),
                limit: admit.rates[index].limit,
                retry_after_ms,
                reset_ms: state.reset_ms,
            }
        }
        Verdict::Busy { index } => {
            let (scope, name) = meta.slots[index].clone();
            Refusal::Busy { scope, name, max: admit.slots[index].max }
        }
        Verdict::OverBudget { index, used } => {
            let m = &meta.budgets[index];
            Refusal::BudgetExceeded {
                scope: m.scope,
                name: m.name.clone(),
                unit: m.unit,
                window: window_name(m),
                used: m.unit.show(used),
                limit: m.unit.show(m.limit),
            }
        }
        Verdict::Admitted { .. } | Verdict::Unseeded { .. } => Refusal::Unavailable { what: "budgets" },
    }
}

/// OpenAI's `x-ratelimit-*` headers for the tightest requests and tokens limits.
fn rate_headers(admit: &Admit, meta: &Meta, states: &[RateState]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (rate, names) in [
        (Rate::Requests, ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"]),
        (Rate::Tokens, ["x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"]),
    ] {
        let tightest =
            meta.rates.iter().zip(&admit.rates).zip(states).filter(|(((_, _, r), _), _)| *r == rate).min_by_key(|(_, s)| s.remaining);
        if let Some(((_, item), state)) = tightest {
            out.push((names[0], item.limit.to_string()));
            out.push((names[1], state.remaining.to_string()));
            out.push((names[2], format!("{}ms", state.reset_ms)));
        }
    }
    out
}
