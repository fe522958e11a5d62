//! A small client of the admin API for the CLI: sends JSON with the admin key, turns every failure
//! into a sentence a user can act on.

use std::time::Duration;

use http::Method;
use serde_json::Value;

pub const DEFAULT_URL: &str = "http://127.0.0.1:4001";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no admin key: pass --admin-key or set SWITCHYARD_ADMIN_KEY to the key the server runs with (admin.key)")]
    NoKey,
    #[error(
        "the admin API is not reachable at {url}; it runs next to `switchyard serve` only when an admin key is set \
         (admin.key in the config or SWITCHYARD_ADMIN_KEY), on admin.listen (default 127.0.0.1:4001); pass --admin-url if it is elsewhere"
    )]
    Unreachable { url: String },
    /// The API refused the request; the message is the API's own.
    #[error("{}", match param { Some(p) => format!("{p}: {message}"), None => message.clone() })]
    Api { status: u16, param: Option<String>, message: String },
    #[error("admin API request to {url} failed: {detail}")]
    Transport { url: String, detail: String },
}

pub struct AdminClient {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(base: &str, key: Option<String>) -> Result<Self, ClientError> {
        let key = key.filter(|k| !k.trim().is_empty()).ok_or(ClientError::NoKey)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Transport { url: base.to_string(), detail: e.to_string() })?;
        Ok(Self { base: base.trim_end_matches('/').to_string(), key, http })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.send(Method::GET, path, query, None).await
    }

    pub async fn send(&self, method: Method, path: &str, query: &[(&str, String)], body: Option<Value>) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.key).query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::Unreachable { url: self.base.clone() }
            } else {
                ClientError::Transport { url: url.clone(), detail: e.without_url().to_string() }
            }
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| ClientError::Transport { url: url.clone(), detail: e.to_string() })?;
        let value: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return value.ok_or_else(|| ClientError::Transport { url, detail: format!("the answer ({status}) is not JSON") });
        }
        let error = value.as_ref().map(|v| &v["error"]);
        let message = error.and_then(|e| e["message"].as_str()).map(str::to_string).unwrap_or_else(|| format!("HTTP {status} from {url}"));
        let param = error.and_then(|e| e["param"].as_str()).map(str::to_string);
        Err(ClientError::Api { status: status.as_u16(), param, message })
    }
}
