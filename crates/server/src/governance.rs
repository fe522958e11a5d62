//! Wires keys, limits and budgets into a running gateway: opens the governance store of the
//! configured database, builds the counters (in memory, and on Redis when configured), the
//! governor and the key cache, and keeps the caches current by following the store's change
//! sequence (every 250 ms, and at once after an admin write on this instance).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_core::billing::Pricing;
use switchyard_core::govern::{Governor, GovernorConfig, KeyCache, SpendSource, Unit};
use switchyard_core::keys::KeySecret;
use switchyard_core::pricing::Catalog;
use switchyard_core::store::{Admitted, CounterStore, GovernanceStore, Limits, LogSearch, ResponseStore, Scope, SpendQuery, StoreError};
use switchyard_store::{LazyRedis, MemoryCounters, PostgresGovernance, SqliteGovernance};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Database};
use crate::http::App;

const SYNC_PERIOD: Duration = Duration::from_millis(250);

pub struct Parts {
    pub store: Arc<dyn GovernanceStore>,
    /// The Responses API's stored responses, in the same database.
    pub responses: Arc<dyn ResponseStore>,
    /// The request log's search (the admin API), on the same connection.
    pub logs: Arc<dyn LogSearch>,
    pub secret: Arc<KeySecret>,
    pub keys: KeyCache,
    pub governor: Arc<Governor>,
}

pub async fn build(config: &Config) -> anyhow::Result<Parts> {
    let (store, responses, logs): (Arc<dyn GovernanceStore>, Arc<dyn ResponseStore>, Arc<dyn LogSearch>) = match &config.database {
        Database::Sqlite(path) => {
            let db = Arc::new(SqliteGovernance::open(path).with_context(|| format!("cannot open the database {}", path.display()))?);
            (db.clone(), db.clone(), db)
        }
        Database::Postgres(url) => {
            let db = Arc::new(
                PostgresGovernance::connect(url)
                    .await
                    .with_context(|| format!("cannot open the database {}", config.database.describe()))?,
            );
            (db.clone(), db.clone(), db)
        }
    };
    let secret = Arc::new(key_secret(config)?);
    let gov = &config.governance;
    let keys = KeyCache::new(secret.clone(), gov.require_keys);
    let local: Arc<dyn CounterStore> = Arc::new(MemoryCounters::new());
    let shared: Option<Arc<dyn CounterStore>> =
        config.redis.as_ref().map(|url| Arc::new(LazyRedis::counters(url.clone(), gov.redis_timeout)) as Arc<dyn CounterStore>);
    let governor_config = GovernorConfig {
        limits_outage: gov.limits_outage,
        budgets_outage: gov.budgets_outage,
        shared_timeout: gov.redis_timeout,
        shared_cap: gov.redis_timeout + Duration::from_secs(1),
        model_limits: model_limits(config),
        ..GovernorConfig::default()
    };
    // Always a sink: a budget may name its own destinations even when the config has none.
    let alerts = Some(crate::alerts::sink(&gov.alerts));
    let spend = LogSpend { store: store.clone(), count_hits: config.cache.count_hits };
    let governor = Governor::new(governor_config, local, shared, Arc::new(spend), alerts);
    Ok(Parts { store, responses, logs, secret, keys, governor })
}

/// `models.<alias>.limits`, as the governor keeps them.
pub fn model_limits(config: &Config) -> HashMap<String, Limits> {
    config.model_limits.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// Prices: the bundled catalog, `models.<alias>.price` and the `pricing:` rules.
pub fn pricing(config: &Config) -> Pricing {
    let gov = &config.governance;
    let mut pricing = Pricing::default();
    pricing.catalog = Catalog::bundled();
    pricing.overrides = config.model_prices.clone().into_iter().collect();
    pricing.unpriced = gov.unpriced;
    if let Some(p) = gov.estimate_price {
        pricing.estimate = p;
    }
    if let Some(n) = gov.default_max_output {
        pricing.default_max_output = n;
    }
    pricing
}

/// The configured secret; without one, a single instance on SQLite keeps its own in the data
/// directory. Instances sharing PostgreSQL must share a configured secret, or keys minted by
/// one would not verify on another.
fn key_secret(config: &Config) -> anyhow::Result<KeySecret> {
    if let Some(text) = &config.governance.key_secret {
        return KeySecret::from_text(text).map_err(|e| anyhow::anyhow!("keys.secret: {e}"));
    }
    match &config.database {
        Database::Sqlite(_) => {
            let path = config.data_dir.join("key_secret");
            KeySecret::load_or_create(&path).with_context(|| format!("cannot load or create the key secret {}", path.display()))
        }
        Database::Postgres(_) => {
            anyhow::bail!("keys.secret (or SWITCHYARD_KEY_SECRET) is required with a PostgreSQL database: every instance must hash keys under the same secret")
        }
    }
}

/// Loads every key and policy, then follows changes until `stop`.
pub async fn initial_load(app: &App) -> anyhow::Result<i64> {
    let changes = app.store.changes_since(0).await.context("cannot load keys and policies")?;
    app.keys.apply(changes.keys);
    app.governor.apply_policies(changes.policies);
    Ok(changes.seq)
}

pub fn spawn_sync(app: Arc<App>, mut seq: i64, changed: Arc<Notify>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut healthy = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(SYNC_PERIOD) => {}
                () = changed.notified() => {}
            }
            match tokio::time::timeout(Duration::from_secs(5), app.store.changes_since(seq)).await {
                Ok(Ok(changes)) => {
                    if !healthy {
                        tracing::info!("database reachable again: following key and policy changes");
                        healthy = true;
                    }
                    seq = seq.max(changes.seq);
                    app.keys.apply(changes.keys);
                    app.governor.apply_policies(changes.policies);
                }
                failed => {
                    if healthy {
                        let why = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => "timed out".into(),
                        };
                        tracing::warn!(error = %why, "cannot read key and policy changes; known keys keep working from memory");
                        healthy = false;
                    }
                }
            }
        }
    })
}

/// Budget totals read back from the request log.
struct LogSpend {
    store: Arc<dyn GovernanceStore>,
    /// `cache.count_hits` at startup: whether hits counted against request caps.
    count_hits: bool,
}

#[async_trait::async_trait]
impl SpendSource for LogSpend {
    async fn used(&self, scope: Scope, name: &str, within: Option<&str>, unit: Unit, from_ms: Option<i64>) -> Result<i64, StoreError> {
        let mut query = SpendQuery::for_scope(scope, name, from_ms);
        // The anonymous tenant (no key) has no column to filter on: its totals are read across
        // tenants, which errs on the strict side.
        match within.and_then(|t| t.split_once(':')) {
            Some(("team", team)) => query.team = Some(team.to_string()),
            Some(("key", id)) => query.key = Some(id.to_string()),
            _ => {}
        }
        if unit == Unit::Requests {
            query.admitted = Some(if self.count_hits { Admitted::WithHits } else { Admitted::Served });
        }
        let rows = self.store.spend(&query).await?;
        Ok(rows
            .iter()
            .map(|r| match unit {
                Unit::NanoUsd => (r.cost_usd * switchyard_core::govern::names::NANOS_PER_USD).round() as i64,
                Unit::Tokens => (r.input_tokens + r.output_tokens) as i64,
                Unit::Requests => r.requests as i64,
            })
            .sum())
    }
}
