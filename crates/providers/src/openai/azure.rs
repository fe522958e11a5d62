//! Azure OpenAI: OpenAI's wire format behind Azure's URLs and `api-key` header. Classic
//! deployment URLs (`/openai/deployments/{deployment}/chat/completions?api-version=…`, the
//! model name chooses the deployment) or the v1 API (`/openai/v1/chat/completions`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::Secret;

pub const DEFAULT_API_VERSION: &str = "2024-10-21";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// `https://RESOURCE.openai.azure.com` (env `AZURE_OPENAI_ENDPOINT`).
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_keys: Vec<Secret>,
    /// For deployment URLs (default 2024-10-21); ignored with `v1_api`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Use the v1 API: one URL, the model travels in the body.
    #[serde(default)]
    pub v1_api: bool,
    /// Model name → deployment name, where they differ.
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
}

/// Where a request for a model goes.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// One URL for every model (OpenAI and compatible servers, Azure's v1 API).
    Fixed(reqwest::Url),
    /// Azure deployment URLs.
    AzureDeployment { base: String, api_version: String, deployments: BTreeMap<String, String> },
}

impl Endpoint {
    pub fn url(&self, model: &str) -> Result<reqwest::Url, String> {
        match self {
            Endpoint::Fixed(url) => Ok(url.clone()),
            Endpoint::AzureDeployment { base, api_version, deployments } => {
                let deployment = deployments.get(model).map(String::as_str).unwrap_or(model);
                // One opaque segment, encoded like every adapter's (crate::http::path_segment):
                // `;` and `..` included, which the URL builder leaves as they are.
                let segment = crate::http::path_segment("azure", deployment).map_err(|e| e.message)?;
                let mut url = reqwest::Url::parse(&format!("{}/openai/deployments/{segment}/chat/completions", base.trim_end_matches('/')))
                    .map_err(|e| e.to_string())?;
                url.query_pairs_mut().append_pair("api-version", api_version);
                Ok(url)
            }
        }
    }
}

impl AzureConfig {
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        let base = self.base_url.as_deref().ok_or("`base_url` is required: https://RESOURCE.openai.azure.com")?.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!("base_url `{base}` must start with https://"));
        }
        if self.v1_api {
            return reqwest::Url::parse(&format!("{base}/openai/v1/chat/completions")).map(Endpoint::Fixed).map_err(|e| e.to_string());
        }
        Ok(Endpoint::AzureDeployment {
            base: base.to_string(),
            api_version: self.api_version.clone().unwrap_or_else(|| DEFAULT_API_VERSION.into()),
            deployments: self.deployments.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_deployment_and_v1_urls() {
        let mut c = AzureConfig { base_url: Some("https://res.openai.azure.com/".into()), ..Default::default() };
        c.deployments.insert("gpt-4o-mini".into(), "prod mini".into());
        let e = c.endpoint().unwrap();
        assert_eq!(
            e.url("gpt-4o-mini").unwrap().as_str(),
            "https://res.openai.azure.com/openai/deployments/prod%20mini/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(e.url("gpt-4o").unwrap().path(), "/openai/deployments/gpt-4o/chat/completions");
        c.v1_api = true;
        assert_eq!(c.endpoint().unwrap().url("x").unwrap().as_str(), "https://res.openai.azure.com/openai/v1/chat/completions");
        assert!(AzureConfig::default().endpoint().is_err());
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::{ChatResponse, Provider};
    use switchyard_protocol::openai::ChatRequest;
    use switchyard_testkit::{fixture_bytes, fixture_reply, FakeUpstream};

    #[tokio::test]
    async fn sends_the_api_key_header_to_the_deployment_url_and_passes_the_answer_through() {
        let up = FakeUpstream::start(vec![fixture_reply("azure/text.json")]).await;
        let base = up.base_url().trim_end_matches("/v1").to_string();
        let config = AzureConfig { base_url: Some(base), api_key: Some(Secret::new("azure-key-123456789")), ..Default::default() };
        let p = crate::openai::OpenAi::azure("azure", &config).unwrap();
        let req = ChatRequest::parse(br#"{"model":"azure/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let ChatResponse::Complete { body, usage } = p.chat(&req, "gpt-4o-mini").await.unwrap() else { panic!() };
        assert_eq!(body, fixture_bytes("azure/text.json"));
        assert!(usage.unwrap().input_tokens > 0);
        let sent = up.last_request();
        assert_eq!(sent.path, "/openai/deployments/gpt-4o-mini/chat/completions");
        assert_eq!(sent.query.as_deref(), Some("api-version=2024-10-21"));
        assert_eq!(sent.header("api-key"), Some("azure-key-123456789"));
        assert!(sent.header("authorization").is_none());
    }
}
