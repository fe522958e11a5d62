//! Step `route`: a model name (a configured alias or `provider/model`) becomes the targets that
//! may serve it, with their deadlines. Unknown names are refused before any upstream call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_providers::Provider;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until the first chunk of a stream (or the whole answer of a non-streamed request).
    pub first_token: Duration,
    /// The whole request, stream included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { first_token: Duration::from_secs(120), total: Duration::from_secs(600) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub provider: String,
    pub model: String,
}

#[derive(Debug, Clone)]
pub struct ModelRoute {
    pub targets: Vec<TargetSpec>,
    pub timeouts: Timeouts,
}

#[derive(Clone)]
pub struct Target {
    pub provider_name: Arc<str>,
    pub provider: Arc<dyn Provider>,
    pub model: String,
}

#[derive(Clone)]
pub struct Route {
    pub targets: Vec<Target>,
    pub timeouts: Timeouts,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    #[error("unknown model `{model}`: use a configured alias{aliases} or `provider/model` with an enabled provider ({providers})")]
    UnknownModel { model: String, aliases: String, providers: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub id: String,
    pub owned_by: String,
}

pub struct Router {
    providers: BTreeMap<String, (Arc<str>, Arc<dyn Provider>)>,
    aliases: BTreeMap<String, ModelRoute>,
    default_timeouts: Timeouts,
}

impl Router {
    /// Aliases must only name providers in `providers` (config validation guarantees it).
    pub fn new(providers: Vec<(String, Arc<dyn Provider>)>, aliases: BTreeMap<String, ModelRoute>, default_timeouts: Timeouts) -> Self {
        let providers = providers.into_iter().map(|(name, p)| (name.clone(), (Arc::from(name.as_str()), p))).collect();
        Self { providers, aliases, default_timeouts }
    }

    pub fn provider_names(&self) -> Vec<&str> {
        self.providers.keys().map(String::as_str).collect()
    }

    pub fn resolve(&self, model: &str) -> Result<Route, RouteError> {
        if let Some(route) = self.aliases.get(model) {
            let targets = route.targets.iter().filter_map(|t| self.target(&t.provider, &t.model)).collect::<Vec<_>>();
            if !targets.is_empty() {
                return Ok(Route { targets, timeouts: route.timeouts });
            }
        }
        if let Some((provider, name)) = model.split_once('/') {
            if let Some(target) = self.target(provider, name).filter(|_| !name.is_empty()) {
                return Ok(Route { targets: vec![target], timeouts: self.default_timeouts });
            }
        }
        let aliases = if self.aliases.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.aliases.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
        };
        Err(RouteError::UnknownModel { model: model.to_string(), aliases, providers: self.provider_names().join(", ") })
    }

    fn target(&self, provider: &str, model: &str) -> Option<Target> {
        let (name, p) = self.providers.get(provider)?;
        Some(Target { provider_name: name.clone(), provider: p.clone(), model: model.to_string() })
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
                targets: vec![TargetSpec { provider: "mock".into(), model: "echo".into() }],
                timeouts: Timeouts { first_token: Duration::from_secs(1), total: Duration::from_secs(2) },
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
    fn lists_aliases_and_provider_models() {
        let ids: Vec<String> = router().models().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["support-bot", "mock/echo"]);
    }
}
