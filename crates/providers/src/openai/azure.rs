//! Azure OpenAI: OpenAI's wire format behind Azure's URLs and `api-key` header. Classic
//! deployment URLs (`/openai/deployments/{deployment}/chat/completions?api-version=…`, the
//! model name chooses the deployment) or the v1 API (`/openai/v1/chat/completions`, the
//! deployment named in the body's `model`, no `api-version`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::Secret;

pub const DEFAULT_API_VERSION: &str = "2024-10-21";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// `https://RESOURCE.openai.azure.com` (env `AZURE_OPENAI_ENDPOINT`); a URL ending in
    /// `/openai/v1`, as Azure's docs give the v1 API's, selects the v1 API.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_keys: Vec<Secret>,
    /// For deployment URLs (default 2024-10-21); ignored by the v1 API.
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
    /// One URL for every model (OpenAI and compatible servers).
    Fixed(reqwest::Url),
    /// Azure deployment URLs.
    AzureDeployment { base: String, api_version: String, deployments: BTreeMap<String, String> },
    /// Azure's v1 API: one URL, the deployment named in the body's `model`.
    AzureV1 { url: reqwest::Url, deployments: BTreeMap<String, String> },
}

impl Endpoint {
    pub fn url(&self, model: &str) -> Result<reqwest::Url, String> {
        match self {
            Endpoint::Fixed(url) | Endpoint::AzureV1 { url, .. } => Ok(url.clone()),
            Endpoint::AzureDeployment { base, api_version, deployments } => {
                let deployment = deployment(deployments, model);
                // One opaque segment, encoded like every adapter's (crate::http::path_segment):
                // `;` and `..` included, which the URL builder leaves as they are.
                let segment = crate::http::path_segment("azure", deployment).map_err(|e| e.message)?;
                let mut url =
                    reqwest::Url::parse(&format!("{base}/openai/deployments/{segment}/chat/completions")).map_err(|e| e.to_string())?;
                url.query_pairs_mut().append_pair("api-version", api_version);
                Ok(url)
            }
        }
    }

    /// The model name the body carries: the deployment for Azure's v1 API, `model` elsewhere
    /// (deployment URLs name the deployment in the path, and Azure ignores the body's).
    pub fn body_model<'a>(&'a self, model: &'a str) -> &'a str {
        match self {
            Endpoint::AzureV1 { deployments, .. } => deployment(deployments, model),
            Endpoint::Fixed(_) | Endpoint::AzureDeployment { .. } => model,
        }
    }
}

fn deployment<'a>(deployments: &'a BTreeMap<String, String>, model: &'a str) -> &'a str {
    deployments.get(model).map(String::as_str).unwrap_or(model)
}

impl AzureConfig {
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        let base = self.base_url.as_deref().ok_or("`base_url` is required: https://RESOURCE.openai.azure.com")?.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!("base_url `{base}` must start with https://"));
        }
        // The resource URL, whether the setting holds it bare, with `/openai`, or with the v1
        // API's `/openai/v1` (which also selects that API).
        let (resource, v1) = match base.strip_suffix("/openai/v1") {
            Some(resource) => (resource, true),
            None => (base.strip_suffix("/openai").unwrap_or(base), self.v1_api),
        };
        if v1 {
            let url = reqwest::Url::parse(&format!("{resource}/openai/v1/chat/completions")).map_err(|e| e.to_string())?;
            return Ok(Endpoint::AzureV1 { url, deployments: self.deployments.clone() });
        }
        Ok(Endpoint::AzureDeployment {
            base: resource.to_string(),
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

    /// Azure's docs give the v1 API's base URL with its path (`…/openai/v1/`): that URL alone
    /// selects the v1 API, and no base URL form doubles `/openai`.
    #[test]
    fn the_base_url_path_selects_the_api_and_is_never_doubled() {
        let chat_url = |base: &str, v1_api: bool| {
            let c = AzureConfig { base_url: Some(base.into()), v1_api, ..Default::default() };
            c.endpoint().unwrap().url("gpt-4o").unwrap().to_string()
        };
        let v1 = "https://res.openai.azure.com/openai/v1/chat/completions";
        let deployment = "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
        for (base, v1_api, expected) in [
            ("https://res.openai.azure.com/openai/v1", false, v1),
            ("https://res.openai.azure.com/openai/v1/", false, v1),
            ("https://res.openai.azure.com/openai/v1/", true, v1),
            ("https://res.openai.azure.com/openai", true, v1),
            ("https://res.openai.azure.com/openai", false, deployment),
            ("https://res.openai.azure.com/openai/", false, deployment),
            ("https://res.openai.azure.com", false, deployment),
        ] {
            assert_eq!(chat_url(base, v1_api), expected, "{base} (v1_api: {v1_api})");
        }
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

    #[tokio::test]
    async fn a_v1_base_url_sends_the_v1_api_shape() {
        // The recorded v1-API exchange: `POST …/openai/v1/chat/completions`, the deployment in
        // the body's `model`, no `api-version`.
        let up = FakeUpstream::start(vec![fixture_reply("azure/tool-call-reasoning-model-v1-api.json")]).await;
        let recorded = switchyard_testkit::fixture_json("azure/tool-call-reasoning-model-v1-api.request.json")["body"].clone();
        let base = format!("http://{}/openai/v1/", up.addr());
        let config = AzureConfig {
            base_url: Some(base),
            api_key: Some(Secret::new("azure-key-123456789")),
            api_version: Some("2025-04-01-preview".into()),
            ..Default::default()
        };
        let p = crate::openai::OpenAi::azure("azure", &config).unwrap();
        let mut client_body = recorded.clone();
        client_body["model"] = "azure/gpt-5-mini".into();
        let req = ChatRequest::parse(client_body.to_string().as_bytes()).unwrap();
        let ChatResponse::Complete { body, .. } = p.chat(&req, "gpt-5-mini").await.unwrap() else { panic!() };
        assert_eq!(body, fixture_bytes("azure/tool-call-reasoning-model-v1-api.json"));
        let sent = up.last_request();
        assert_eq!((sent.method.as_str(), sent.path.as_str(), sent.query.as_deref()), ("POST", "/openai/v1/chat/completions", None));
        assert_eq!(sent.header("api-key"), Some("azure-key-123456789"));
        assert_eq!(sent.json(), recorded);
    }

    #[tokio::test]
    async fn a_v1_base_url_names_the_deployment_in_the_body() {
        let up = FakeUpstream::start_repeating(fixture_reply("openai/embeddings-float.json")).await;
        let mut config = AzureConfig { base_url: Some(format!("http://{}/openai/v1", up.addr())), ..Default::default() };
        config.deployments.insert("text-embedding-3-small".into(), "embed-prod".into());
        config.deployments.insert("gpt-4o-mini".into(), "mini-prod".into());
        let p = crate::openai::OpenAi::azure("azure", &config).unwrap();
        let body = serde_json::json!({"model": "text-embedding-3-small", "input": ["a", "b"]});
        p.embeddings(&body, "text-embedding-3-small").await.unwrap();
        let sent = up.last_request();
        assert_eq!((sent.path.as_str(), sent.query.as_deref()), ("/openai/v1/embeddings", None));
        assert_eq!(sent.json(), serde_json::json!({"model": "embed-prod", "input": ["a", "b"]}));

        let req = ChatRequest::parse(br#"{"model":"azure/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let _ = p.chat(&req, "gpt-4o-mini").await;
        let sent = up.last_request();
        assert_eq!((sent.path.as_str(), sent.query.as_deref()), ("/openai/v1/chat/completions", None));
        assert_eq!(sent.json()["model"], "mini-prod");
    }
}
