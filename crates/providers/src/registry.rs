//! The only place that lists provider types: config `type` → module, construction, and which
//! providers the embedded default enables from the environment.

use std::sync::Arc;

use serde::Deserialize;

use crate::anthropic::{Anthropic, AnthropicConfig};
#[cfg(feature = "bedrock")]
use crate::bedrock::{Bedrock, BedrockConfig};
use crate::gemini::{Gemini, GeminiConfig};
use crate::mock::{Mock, MockConfig};
use crate::openai::{flavors, AzureConfig, OpenAi, OpenAiConfig};
#[cfg(feature = "vertex")]
use crate::vertex::{Vertex, VertexConfig};
use crate::{Provider, Secret};

/// One entry of `providers:` in the config; `type` selects the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderConfig {
    Openai(OpenAiConfig),
    Anthropic(AnthropicConfig),
    Azure(AzureConfig),
    Gemini(GeminiConfig),
    #[cfg(feature = "bedrock")]
    Bedrock(BedrockConfig),
    #[cfg(feature = "vertex")]
    Vertex(VertexConfig),
    Mock(MockConfig),
}

/// Every valid `type`, for error messages.
pub const TYPES: &[&str] = &[
    "openai",
    "anthropic",
    "azure",
    "gemini",
    #[cfg(feature = "bedrock")]
    "bedrock",
    #[cfg(feature = "vertex")]
    "vertex",
    "mock",
];

#[derive(Debug, thiserror::Error)]
#[error("provider `{name}`: {reason}")]
pub struct RegistryError {
    pub name: String,
    pub reason: String,
}

pub fn build(name: &str, config: &ProviderConfig) -> Result<Arc<dyn Provider>, RegistryError> {
    let err = |reason: String| RegistryError { name: name.to_string(), reason };
    Ok(match config {
        ProviderConfig::Openai(c) => Arc::new(OpenAi::new(name, c).map_err(err)?),
        ProviderConfig::Anthropic(c) => Arc::new(Anthropic::new(name, c).map_err(err)?),
        ProviderConfig::Azure(c) => Arc::new(OpenAi::azure(name, c).map_err(err)?),
        ProviderConfig::Gemini(c) => Arc::new(Gemini::new(name, c).map_err(err)?),
        #[cfg(feature = "bedrock")]
        ProviderConfig::Bedrock(c) => Arc::new(Bedrock::new(name, c).map_err(err)?),
        #[cfg(feature = "vertex")]
        ProviderConfig::Vertex(c) => Arc::new(Vertex::new(name, c).map_err(err)?),
        ProviderConfig::Mock(c) => Arc::new(Mock::new(c.clone()).map_err(err)?),
    })
}

/// Checks a config without building clients (for `switchyard check`).
pub fn validate(config: &ProviderConfig) -> Result<(), String> {
    match config {
        ProviderConfig::Openai(c) => OpenAi::new("check", c).map(|_| ()),
        ProviderConfig::Anthropic(c) => Anthropic::new("check", c).map(|_| ()),
        ProviderConfig::Azure(c) => OpenAi::azure("check", c).map(|_| ()),
        ProviderConfig::Gemini(c) => Gemini::new("check", c).map(|_| ()),
        // Checks credentials too: a Bedrock provider with none cannot serve anything.
        #[cfg(feature = "bedrock")]
        ProviderConfig::Bedrock(c) => Bedrock::new("check", c).map(|_| ()),
        // Reads the service-account key too: a missing or broken key file fails the check.
        #[cfg(feature = "vertex")]
        ProviderConfig::Vertex(c) => Vertex::new("check", c).map(|_| ()),
        ProviderConfig::Mock(c) => c.validate(),
    }
}

/// The providers the embedded default turns on: `mock` always, and every OpenAI-compatible flavor
/// whose key (or base-URL) variable is set, named after the flavor.
pub fn from_environment(get: impl Fn(&str) -> Option<String>) -> Vec<(String, ProviderConfig)> {
    let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let mut out = vec![("mock".to_string(), ProviderConfig::Mock(MockConfig::default()))];
    for flavor in flavors::FLAVORS {
        let key = flavor.key_env.and_then(&get);
        let base = flavor.base_url_env.and_then(&get);
        if key.is_none() && base.is_none() {
            continue;
        }
        let config = OpenAiConfig {
            flavor: Some(flavor.name.to_string()),
            base_url: base.map(|b| flavors::normalise_base_url(flavor, &b)),
            api_key: key.map(Secret::new),
            ..OpenAiConfig::default()
        };
        out.push((flavor.name.to_string(), ProviderConfig::Openai(config)));
    }
    if let Some(key) = get("ANTHROPIC_API_KEY") {
        let config = AnthropicConfig { api_key: Some(Secret::new(key)), base_url: get("ANTHROPIC_BASE_URL"), ..AnthropicConfig::default() };
        out.push(("anthropic".into(), ProviderConfig::Anthropic(config)));
    }
    if let Some(key) = get("GEMINI_API_KEY").or_else(|| get("GOOGLE_API_KEY")) {
        let config = GeminiConfig { api_key: Some(Secret::new(key)), ..GeminiConfig::default() };
        out.push(("gemini".into(), ProviderConfig::Gemini(config)));
    }
    // AWS keys are common on developer machines for other reasons; Bedrock is turned on by its own
    // bearer key, a named profile, or keys together with a region.
    #[cfg(feature = "bedrock")]
    if get("AWS_BEARER_TOKEN_BEDROCK").is_some()
        || get("AWS_PROFILE").is_some()
        || (get("AWS_ACCESS_KEY_ID").is_some()
            && get("AWS_SECRET_ACCESS_KEY").is_some()
            && (get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).is_some()))
    {
        out.push(("bedrock".into(), ProviderConfig::Bedrock(BedrockConfig::default())));
    }
    // Application-default credentials alone are common too; Vertex also needs a project named.
    #[cfg(feature = "vertex")]
    if let (Some(file), Some(project)) =
        (get("GOOGLE_APPLICATION_CREDENTIALS"), get("GOOGLE_CLOUD_PROJECT").or_else(|| get("VERTEX_PROJECT")))
    {
        let config = VertexConfig {
            project: Some(project),
            location: get("GOOGLE_CLOUD_LOCATION").or_else(|| get("VERTEX_LOCATION")),
            credentials_file: Some(file.into()),
            ..VertexConfig::default()
        };
        out.push(("vertex".into(), ProviderConfig::Vertex(config)));
    }
    if let (Some(key), Some(endpoint)) = (get("AZURE_OPENAI_API_KEY"), get("AZURE_OPENAI_ENDPOINT")) {
        let config = AzureConfig {
            api_key: Some(Secret::new(key)),
            base_url: Some(endpoint),
            api_version: get("AZURE_OPENAI_API_VERSION").or_else(|| get("OPENAI_API_VERSION")),
            ..AzureConfig::default()
        };
        out.push(("azure".into(), ProviderConfig::Azure(config)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_enables_flavors_with_keys() {
        let env = |k: &str| match k {
            "GROQ_API_KEY" => Some("gsk_x".to_string()),
            "OLLAMA_HOST" => Some("127.0.0.1:11434".to_string()),
            "OPENAI_API_KEY" => Some("".to_string()),
            "ANTHROPIC_API_KEY" => Some("sk-ant-x".to_string()),
            "AZURE_OPENAI_API_KEY" => Some("az".to_string()),
            _ => None,
        };
        let names: Vec<String> = from_environment(env).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["mock", "groq", "ollama", "anthropic"], "azure needs its endpoint too");
    }

    #[test]
    fn unknown_type_and_fields_are_rejected() {
        let e = serde_yaml_like(r#"{"type":"nope"}"#);
        assert!(e.contains("unknown variant `nope`"), "{e}");
        let e = serde_yaml_like(r#"{"type":"openai","base_ur":"http://x"}"#);
        assert!(e.contains("unknown field `base_ur`"), "{e}");
    }

    fn serde_yaml_like(json: &str) -> String {
        serde_json::from_str::<ProviderConfig>(json).unwrap_err().to_string()
    }
}
