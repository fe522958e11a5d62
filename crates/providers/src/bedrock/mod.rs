//! Amazon Bedrock adapter: Converse / ConverseStream (InvokeModel for a client's own Messages
//! request to Claude), SigV4 or bearer API keys, binary event stream.
#![cfg(feature = "bedrock")]

mod auth;
mod convert;
mod invoke;
#[cfg(test)]
mod invoke_tests;
mod profile;
mod stream;
#[cfg(test)]
mod tests;
mod wire;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use switchyard_protocol::openai::ChatRequest;

use crate::credential::KeyRing;
use crate::error::retry_after;
use crate::http::{client, read_limited, transport_error, MAX_ERROR_BODY};
use crate::translate::{inline_remote_images, ChunkWriter, Conversation, FetchPolicy, ImageFetcher};
use crate::{ChatResponse, ErrorKind, Provider, ProviderError, Secret};
use auth::Auth;
use stream::{Converse, EventStreamChunks, EventStreamDecoder};
use wire::ConverseResponse;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedrockConfig {
    /// Default: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the AWS profile's (when it supplies
    /// the credentials), else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Default: `https://bedrock-runtime.{region}.amazonaws.com`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// With `secret_access_key` (and `session_token` for temporary credentials); default the
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` variables.
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// The AWS profile whose static keys (and region) are read from `~/.aws/credentials` and
    /// `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`) when neither access
    /// keys nor an API key are given; default `AWS_PROFILE`, else `default`.
    #[serde(default)]
    pub profile: Option<String>,
    /// A Bedrock API key, sent as a bearer token instead of signing; default `AWS_BEARER_TOKEN_BEDROCK`.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Models listed by `GET /v1/models` for this provider.
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// How http(s) image URLs are downloaded: Converse only takes image bytes.
    #[serde(default)]
    pub image_fetch: Option<FetchPolicy>,
}

pub struct Bedrock {
    name: String,
    base: String,
    auth: Auth,
    keys: Arc<KeyRing>,
    models: Vec<String>,
    client: reqwest::Client,
    images: ImageFetcher,
}

impl Bedrock {
    /// Reads missing settings and credentials from the process environment and AWS profile files.
    pub fn new(name: &str, config: &BedrockConfig) -> Result<Self, String> {
        Self::with_env(name, config, &|k| std::env::var(k).ok())
    }

    /// Like `new`, with the environment read through `get`.
    pub fn with_env(name: &str, config: &BedrockConfig, get: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let env = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let region =
            config.region.clone().filter(|r| !r.trim().is_empty()).or_else(|| env("AWS_REGION")).or_else(|| env("AWS_DEFAULT_REGION"));
        let (auth, region) = Auth::resolve(config, region, get)?;
        if !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("region `{region}` is not a valid AWS region name"));
        }
        let base = match &config.base_url {
            Some(b) => b.trim_end_matches('/').to_string(),
            None => format!("https://bedrock-runtime.{region}.amazonaws.com"),
        };
        if !(base.starts_with("http://") || base.starts_with("https://")) || reqwest::Url::parse(&base).is_err() {
            return Err(format!("base_url `{base}` must be an http:// or https:// URL"));
        }
        Ok(Self {
            name: name.to_string(),
            base,
            keys: Arc::new(KeyRing::new(auth.secrets())),
            auth,
            models: config.models.clone(),
            client: client(config.connect_timeout.unwrap_or(Duration::from_secs(10))),
            images: ImageFetcher::new(config.image_fetch.clone().unwrap_or_default())?,
        })
    }

    /// `{base}/model/{model id, percent-encoded}/{action}`.
    fn url(&self, model: &str, action: &str) -> Result<reqwest::Url, ProviderError> {
        // Percent-encoded as the AWS SDKs do for the model id.
        let url = format!("{}/model/{}/{action}", self.base, crate::http::path_segment(&self.name, model)?);
        reqwest::Url::parse(&url)
            .map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("model `{model}` gives no valid Bedrock URL: {e}")))
    }
}

#[async_trait]
impl Provider for Bedrock {
    fn kind(&self) -> &'static str {
        "bedrock"
    }

    fn models(&self) -> Vec<String> {
        self.models.clone()
    }

    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let stream = request.stream();
        // A client's own Messages request to Claude goes as it came, through InvokeModel.
        let invoked = invoke::body(request, model);
        let is_invoke = invoked.is_some();
        let (body, action) = match invoked {
            Some(body) => (body, if stream { "invoke-with-response-stream" } else { "invoke" }),
            None => {
                let mut conversation = Conversation::from_request(request)?;
                inline_remote_images(&mut conversation, &self.images).await?;
                let body = serde_json::to_vec(&convert::to_wire(&conversation, model)?)
                    .map_err(|e| ProviderError::new(ErrorKind::BadRequest, format!("request could not be written for Bedrock: {e}")))?;
                (body, if stream { "converse-stream" } else { "converse" })
            }
        };
        let url = self.url(model, action)?;
        let mut builder = self.client.post(url.clone()).header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in self.auth.headers(&url, &body, SystemTime::now())? {
            builder = builder.header(name, value);
        }
        let response = crate::http::send(&self.name, builder.body(body)).await?;
        let status = response.status();
        if !status.is_success() {
            let retry = retry_after(response.headers());
            let error_type = response.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_string);
            let body = read_limited(response, MAX_ERROR_BODY).await;
            return Err(convert::error(Some(status.as_u16()), error_type.as_deref(), &body, retry, |t| self.keys.redact(t)));
        }
        if is_invoke {
            return invoke::read_answer(&self.name, Arc::clone(&self.keys), model, stream, response).await;
        }
        let id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(|r| format!("chatcmpl-{r}"))
            .unwrap_or_else(|| format!("chatcmpl-{:016x}", fastrand::u64(..)));
        if stream {
            let body = crate::http::body_stream(&self.name, response);
            let events = Converse::new(&self.name, ChunkWriter::new(id, model, crate::unix_now()));
            let decoder = EventStreamDecoder::new(&self.name, Arc::clone(&self.keys), events);
            return Ok(ChatResponse::Stream(Box::pin(EventStreamChunks::new(body, decoder))));
        }
        let body = response.bytes().await.map_err(|e| transport_error(&self.name, &e))?;
        let malformed = |what: String| {
            ProviderError::new(
                ErrorKind::Malformed,
                format!("provider `{}` answered with a body that is not a Converse response: {what}", self.name),
            )
        };
        let wire: ConverseResponse = serde_json::from_slice(&body).map_err(|e| malformed(e.to_string()))?;
        // Lenient about fields, strict about the shape: without `output.message` this is not an
        // answer (another API's body, `{}`), and must not pass as an empty one.
        if wire.output.as_ref().and_then(|o| o.message.as_ref()).is_none() {
            return Err(malformed("no `output.message`".into()));
        }
        let completion = convert::from_wire(wire, id, model, crate::unix_now());
        Ok(ChatResponse::Complete { body: completion.to_openai(), usage: Some(completion.usage) })
    }
}
