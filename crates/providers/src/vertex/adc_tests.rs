//! Application default credentials against fake token endpoints and a fake metadata server:
//! gcloud user credentials (named, or found where gcloud writes them) and the metadata server,
//! including one that is absent or silent. The environment is always injected, never read.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use switchyard_testkit::{fixture_bytes, FakeUpstream, RecordedRequest, Reply};

use super::metadata::TIMEOUT;
use super::tests::{complete, config, token_answer, user};
use super::{Vertex, VertexConfig};
use crate::ErrorKind;

const CLIENT_SECRET: &str = "d-FL95Q19q7MQmFpd7hHD0Ty";
const REFRESH_TOKEN: &str = "1//0gLb-refresh-token-for-tests";
const GEMINI: &str = "gemini-2.0-flash";

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("switchyard-vertex-adc-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `content` to `rel` (creating folders) and returns the path.
    fn write(&self, rel: &str, content: &Value) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content.to_string()).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `gcloud auth application-default login` writes.
fn authorized_user(quota_project: Option<&str>) -> Value {
    let mut file = json!({"type": "authorized_user", "client_id": "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
        "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN, "universe_domain": "googleapis.com"});
    if let Some(p) = quota_project {
        file["quota_project_id"] = json!(p);
    }
    file
}

fn env(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    move |k| vars.get(k).cloned()
}

/// Settings that name the project and the fake chat upstream, and no token.
fn adc_config(chat: &FakeUpstream) -> VertexConfig {
    VertexConfig { access_token: None, ..config(chat, "us-central1") }
}

fn form_fields(sent: &RecordedRequest) -> Vec<(String, String)> {
    assert_eq!(sent.header("content-type"), Some("application/x-www-form-urlencoded"));
    reqwest::Url::parse(&format!("http://x/?{}", sent.body_str()))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn chat_answer() -> Reply {
    Reply::json(fixture_bytes("vertex/text.json"))
}

/// A port on which nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn user_credentials_are_refreshed_once_and_name_the_quota_project() {
    let (chat, tokens) = (FakeUpstream::start(vec![chat_answer()]).await, FakeUpstream::start(vec![token_answer(3600)]).await);
    let dir = TempDir::new();
    let file = dir.write("adc.json", &authorized_user(Some("billed-project")));
    let get = env(&[
        ("GOOGLE_APPLICATION_CREDENTIALS", file.display().to_string()),
        ("GOOGLE_OAUTH_TOKEN_URI", format!("http://{}/token", tokens.addr())),
    ]);
    let provider = Vertex::with_env("vtx", &adc_config(&chat), &get).unwrap();
    for _ in 0..2 {
        complete(&provider, json!({"model": GEMINI, "messages": [user("hi")]})).await.unwrap();
    }
    assert_eq!(tokens.request_count(), 1, "the token is cached");
    let refresh = tokens.last_request();
    assert_eq!((refresh.method.as_str(), refresh.path.as_str()), ("POST", "/token"));
    let expected = [
        ("grant_type", "refresh_token"),
        ("client_id", "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com"),
        ("client_secret", CLIENT_SECRET),
        ("refresh_token", REFRESH_TOKEN),
    ];
    assert_eq!(form_fields(&refresh), expected.map(|(k, v)| (k.to_string(), v.to_string())));
    for sent in chat.requests() {
        assert_eq!(sent.path, "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent");
        assert_eq!(sent.header("authorization"), Some("Bearer ya29.test"));
        assert_eq!(sent.header("x-goog-user-project"), Some("billed-project"));
    }
}

#[tokio::test]
async fn a_refused_refresh_token_is_an_auth_error_that_does_not_quote_it() {
    let chat = FakeUpstream::start(vec![chat_answer()]).await;
    let echo = json!({"error": "invalid_grant", "error_description": format!("Token has been expired or revoked: {REFRESH_TOKEN}")});
    let tokens = FakeUpstream::start(vec![Reply::json_status(400, echo.to_string())]).await;
    let dir = TempDir::new();
    let mut file = authorized_user(None);
    file["token_uri"] = json!(format!("http://{}/token", tokens.addr()));
    let config = VertexConfig { credentials_file: Some(dir.write("adc.json", &file)), ..adc_config(&chat) };
    let err = complete(&Vertex::with_env("vtx", &config, &|_| None).unwrap(), json!({"model": GEMINI, "messages": [user("hi")]}))
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Auth, Some(400)));
    assert!(err.message.contains("invalid_grant Token has been expired or revoked"), "{}", err.message);
    assert!(!err.message.contains(REFRESH_TOKEN) && !err.message.contains(CLIENT_SECRET), "{}", err.message);
    assert_eq!(chat.request_count(), 0);
}

#[tokio::test]
async fn gcloud_credentials_are_found_where_gcloud_writes_them() {
    let (chat, tokens) = (FakeUpstream::start(vec![chat_answer()]).await, FakeUpstream::start(vec![token_answer(3600)]).await);
    let token_uri = format!("http://{}/token", tokens.addr());
    let (config_dir, home) = (TempDir::new(), TempDir::new());
    config_dir.write("application_default_credentials.json", &authorized_user(None));
    home.write(".config/gcloud/application_default_credentials.json", &authorized_user(Some("from-home")));
    let dir = |d: &TempDir| d.0.display().to_string();
    let metadata = format!("127.0.0.1:{}", closed_port());

    // CLOUDSDK_CONFIG wins over HOME.
    let get = env(&[
        ("CLOUDSDK_CONFIG", dir(&config_dir)),
        ("HOME", dir(&home)),
        ("GOOGLE_OAUTH_TOKEN_URI", token_uri.clone()),
        ("GCE_METADATA_HOST", metadata.clone()),
    ]);
    complete(&Vertex::with_env("vtx", &adc_config(&chat), &get).unwrap(), json!({"model": GEMINI, "messages": [user("hi")]}))
        .await
        .unwrap();
    let sent = chat.last_request();
    assert_eq!((sent.header("authorization"), sent.header("x-goog-user-project")), (Some("Bearer ya29.test"), None));
    assert_eq!(form_fields(&tokens.last_request())[3], ("refresh_token".to_string(), REFRESH_TOKEN.to_string()));

    let get = env(&[("HOME", dir(&home)), ("GOOGLE_OAUTH_TOKEN_URI", token_uri), ("GCE_METADATA_HOST", metadata)]);
    complete(&Vertex::with_env("vtx", &adc_config(&chat), &get).unwrap(), json!({"model": GEMINI, "messages": [user("hi")]}))
        .await
        .unwrap();
    assert_eq!(chat.last_request().header("x-goog-user-project"), Some("from-home"));
    assert_eq!(tokens.request_count(), 2);
}

#[tokio::test]
async fn a_named_credentials_file_must_exist() {
    let chat = FakeUpstream::start(vec![chat_answer()]).await;
    let home = TempDir::new();
    home.write(".config/gcloud/application_default_credentials.json", &authorized_user(None));
    let missing = home.0.join("nowhere.json");
    let get = env(&[("GOOGLE_APPLICATION_CREDENTIALS", missing.display().to_string()), ("HOME", home.0.display().to_string())]);
    let err = Vertex::with_env("vtx", &adc_config(&chat), &get).err().unwrap();
    assert!(err.contains("nowhere.json") && err.contains("cannot be read"), "{err}");
}

#[tokio::test]
async fn metadata_server_token_is_fetched_once_and_used() {
    let (chat, metadata) = (FakeUpstream::start(vec![chat_answer()]).await, FakeUpstream::start(vec![token_answer(3599)]).await);
    let home = TempDir::new(); // no gcloud file in it
    let get = env(&[("GCE_METADATA_HOST", metadata.addr().to_string()), ("HOME", home.0.display().to_string())]);
    let provider = Vertex::with_env("vtx", &adc_config(&chat), &get).unwrap();
    assert_eq!(metadata.request_count(), 0, "construction asks nothing");
    for _ in 0..2 {
        complete(&provider, json!({"model": GEMINI, "messages": [user("hi")]})).await.unwrap();
    }
    assert_eq!(metadata.request_count(), 1, "the token is cached");
    let sent = metadata.last_request();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("GET", "/computeMetadata/v1/instance/service-accounts/default/token"));
    assert_eq!(sent.query.as_deref(), Some("scopes=https://www.googleapis.com/auth/cloud-platform"));
    assert_eq!(sent.header("metadata-flavor"), Some("Google"));
    for sent in chat.requests() {
        assert_eq!(sent.path, "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent");
        assert_eq!((sent.header("authorization"), sent.header("x-goog-user-project")), (Some("Bearer ya29.test"), None));
    }
}

#[tokio::test]
async fn metadata_server_names_the_project_when_nothing_else_does() {
    let chat = FakeUpstream::start(vec![chat_answer()]).await;
    let metadata =
        FakeUpstream::start(vec![Reply::json("meta-project\n").with_header("content-type", "application/text"), token_answer(3600)]).await;
    let config = VertexConfig { project: None, ..adc_config(&chat) };
    let provider = Vertex::with_env("vtx", &config, &env(&[("GCE_METADATA_HOST", metadata.addr().to_string())])).unwrap();
    for _ in 0..2 {
        complete(&provider, json!({"model": GEMINI, "messages": [user("hi")]})).await.unwrap();
    }
    let asked: Vec<String> = metadata.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(asked, ["/computeMetadata/v1/project/project-id", "/computeMetadata/v1/instance/service-accounts/default/token"]);
    assert!(metadata.requests().iter().all(|r| r.header("metadata-flavor") == Some("Google")));
    assert_eq!(chat.request_count(), 2);
    assert_eq!(
        chat.last_request().path,
        "/v1/projects/meta-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
    );
}

/// Calls the provider with no credentials but the metadata server at `host`.
async fn call_without_credentials(chat: &FakeUpstream, host: String) -> crate::ProviderError {
    let provider = Vertex::with_env("vtx", &adc_config(chat), &env(&[("GCE_METADATA_HOST", host)])).unwrap();
    complete(&provider, json!({"model": GEMINI, "messages": [user("hi")]})).await.unwrap_err()
}

#[tokio::test]
async fn a_missing_metadata_server_is_an_auth_error_at_once() {
    let chat = FakeUpstream::start(vec![chat_answer()]).await;
    let started = std::time::Instant::now();
    let err = call_without_credentials(&chat, format!("127.0.0.1:{}", closed_port())).await;
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(err.message.contains("no Google credentials found") && err.message.contains("could not be reached"), "{}", err.message);
    assert!(err.message.contains("GOOGLE_APPLICATION_CREDENTIALS"), "the message says what to set: {}", err.message);
    assert_eq!(chat.request_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_silent_metadata_server_is_given_up_on_after_the_timeout() {
    let chat = FakeUpstream::start(vec![chat_answer()]).await;
    let metadata = FakeUpstream::start(vec![Reply::StallBeforeHeaders]).await;
    let started = tokio::time::Instant::now();
    let err = call_without_credentials(&chat, metadata.addr().to_string()).await;
    assert_eq!(started.elapsed(), TIMEOUT);
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(err.message.contains("no answer within 2s"), "{}", err.message);
    assert_eq!(chat.request_count(), 0);
}

#[test]
fn a_metadata_host_must_be_a_host() {
    let get = env(&[("GCE_METADATA_HOST", "evil.example/path?x=".to_string())]);
    let err = Vertex::with_env("vtx", &VertexConfig::default(), &get).err().unwrap();
    assert!(err.contains("GCE_METADATA_HOST"), "{err}");
}
