//! The running configuration as one immutable value — routes, providers, prices, retry rules,
//! cache settings — that a request loads once when it starts and keeps to its end, and that a
//! reload replaces whole (`Running::replace`). What must outlive a reload (breakers, counters,
//! cache entries, latency, keys) lives on `App` or is shared with the snapshot that replaces it.

use std::collections::BTreeSet;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use switchyard_core::billing::Pricing;
use switchyard_core::lookup::Cache;
use switchyard_core::retry::RetryPolicy;
use switchyard_core::{Router, Timeouts};
use switchyard_providers::{registry, Provider};

use crate::config::{Config, ConfigError};

/// One version of the running configuration.
pub struct Snapshot {
    pub router: Router,
    pub pricing: Pricing,
    pub retry_policy: RetryPolicy,
    /// Per-model cache settings over the process's one cache store.
    pub cache: Cache,
    pub max_body_bytes: usize,
    pub log_bodies: bool,
    /// The validated config it was built from; restart-only settings hold their running value.
    pub config: Config,
    /// 1 at startup, one more per reload.
    pub generation: u64,
}

/// Which providers a snapshot built and which it took over from the one it replaces.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderChanges {
    /// Unchanged settings: the same instance, its connection pool with it.
    pub reused: Vec<String>,
    /// New, or with changed settings.
    pub built: Vec<String>,
    pub removed: Vec<String>,
}

impl Snapshot {
    /// The first snapshot, at startup: builds every provider and opens the cache store.
    pub async fn first(config: Config) -> anyhow::Result<Snapshot> {
        let (providers, _) = providers(&config, None)
            .map_err(|errors| anyhow::anyhow!("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
        let cache = crate::caching::build(&config).await?;
        Ok(Self::assemble(config, providers, Arc::default(), cache, 1))
    }

    /// The snapshot of a reloaded (validated) config, built while `previous` keeps serving.
    /// Fails when a provider cannot be built; nothing is replaced then.
    pub fn next(config: Config, previous: &Snapshot) -> Result<(Snapshot, ProviderChanges), Vec<ConfigError>> {
        let (providers, changes) = providers(&config, Some(previous))?;
        let cache = crate::caching::reconfigure(&previous.cache, &config);
        let latency = previous.router.latency.clone();
        Ok((Self::assemble(config, providers, latency, cache, previous.generation + 1), changes))
    }

    fn assemble(config: Config, providers: Providers, latency: Arc<switchyard_core::Latency>, cache: Cache, generation: u64) -> Snapshot {
        Snapshot {
            router: Router::new(providers, config.models.clone(), Timeouts::default()).with_latency(latency),
            pricing: crate::governance::pricing(&config),
            retry_policy: RetryPolicy::default(),
            cache,
            max_body_bytes: config.max_body_bytes,
            log_bodies: config.log.bodies,
            config,
            generation,
        }
    }
}

/// Built providers by name, as the router takes them.
type Providers = Vec<(String, Arc<dyn Provider>)>;

/// Every configured provider: the previous snapshot's instance when its settings are equal,
/// else a new one.
fn providers(config: &Config, previous: Option<&Snapshot>) -> Result<(Providers, ProviderChanges), Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut changes = ProviderChanges::default();
    let mut errors = Vec::new();
    for (name, settings) in &config.providers {
        let unchanged = previous.and_then(|p| {
            let same = p.config.provider_sources.get(name).is_some_and(|s| config.provider_sources.get(name) == Some(s));
            same.then(|| p.router.provider(name)).flatten()
        });
        match unchanged {
            Some(provider) => {
                changes.reused.push(name.clone());
                out.push((name.clone(), provider.clone()));
            }
            None => match registry::build(name, settings) {
                Ok(provider) => {
                    changes.built.push(name.clone());
                    out.push((name.clone(), provider));
                }
                Err(e) => errors.push(ConfigError::new(&format!("providers.{name}"), e.reason)),
            },
        }
    }
    if let Some(p) = previous {
        let now: BTreeSet<&str> = config.providers.iter().map(|(n, _)| n.as_str()).collect();
        changes.removed = p.router.provider_names().into_iter().filter(|n| !now.contains(n)).map(str::to_string).collect();
    }
    if errors.is_empty() {
        Ok((out, changes))
    } else {
        Err(errors)
    }
}

/// The current snapshot, swapped atomically: readers never wait and never see half a config.
pub struct Running(ArcSwap<Snapshot>);

impl Running {
    pub fn new(snapshot: Snapshot) -> Self {
        Self(ArcSwap::from_pointee(snapshot))
    }

    /// The snapshot to use for a whole request (or stream).
    pub fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Makes `next` current; requests that loaded the old one finish on it.
    pub fn replace(&self, next: Snapshot) -> Arc<Snapshot> {
        self.0.swap(Arc::new(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Overrides, Source};

    fn config(text: &str, data_dir: &std::path::Path) -> Config {
        let overrides = Overrides { listen: None, data_dir: Some(data_dir.to_path_buf()) };
        parse(text, Source::Embedded, &overrides, &|_| None).expect("valid config")
    }

    #[tokio::test]
    async fn unchanged_providers_are_reused_and_changed_ones_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let first = "providers:\n  a: { type: mock }\n  b: { type: mock, text: one }\n  c: { type: mock }\n";
        let running = Snapshot::first(config(first, dir.path())).await.unwrap();
        running.router.latency.observe("a", "echo", 120.0);
        let next = "providers:\n  a: { type: mock }\n  b: { type: mock, text: two }\n  d: { type: mock }\nmodels:\n  m: { targets: [ { provider: a, model: echo } ] }\n";
        let (snapshot, changes) = Snapshot::next(config(next, dir.path()), &running).unwrap();
        assert_eq!(changes, ProviderChanges { reused: vec!["a".into()], built: vec!["b".into(), "d".into()], removed: vec!["c".into()] });
        let same = |name: &str| Arc::ptr_eq(running.router.provider(name).unwrap(), snapshot.router.provider(name).unwrap());
        assert!(same("a"), "an unchanged provider is the same instance");
        assert!(!same("b"), "a provider whose settings changed is rebuilt");
        assert!(Arc::ptr_eq(&running.router.latency, &snapshot.router.latency), "latency stats survive");
        assert_eq!(snapshot.generation, 2);
        assert!(snapshot.router.resolve("m").is_ok() && running.router.resolve("m").is_err());
    }
}
