//! Replays recorded Vertex AI traffic (`crates/testkit/fixtures/vertex/`) and Anthropic Messages
//! answers (`…/anthropic/`, the format rawPredict returns) through fake upstreams: checks the URL,
//! auth and body the adapter sent, what the client gets, and the service-account token exchange
//! against a fake token endpoint.
//!
//! `test-key.pem` / `test-key.pub.pem` are a throwaway RSA key pair made for these tests with
//! `openssl genrsa 2048`; they sign nothing anywhere else.

use std::path::PathBuf;

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchyard_protocol::openai::ChatRequest;
use switchyard_testkit::{fixture_bytes, fixture_json, Accumulated, FakeUpstream, RecordedRequest, Reply};

use super::{Publisher, Vertex, VertexConfig};
use crate::{ChatResponse, ErrorKind, Provider, ProviderError, Secret};

const TOKEN: &str = "ya29.static-token-for-tests";
const PROJECT: &str = "my-project";
const CLAUDE: &str = "claude-sonnet-4@20250514";
const TEST_KEY: &str = include_str!("test-key.pem");
const TEST_PUBLIC_KEY: &str = include_str!("test-key.pub.pem");

pub(super) fn config(fake: &FakeUpstream, location: &str) -> VertexConfig {
    VertexConfig {
        project: Some(PROJECT.into()),
        location: Some(location.into()),
        base_url: Some(format!("http://{}", fake.addr())),
        access_token: Some(Secret::new(TOKEN)),
        ..VertexConfig::default()
    }
}

pub(super) fn vertex(fake: &FakeUpstream, location: &str) -> Vertex {
    Vertex::with_env("vtx", &config(fake, location), &|_| None).unwrap()
}

pub(super) fn chat_request(body: Value) -> ChatRequest {
    ChatRequest::parse(body.to_string().as_bytes()).unwrap()
}

pub(super) fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// The body of the recorded request that produced a Vertex fixture.
fn recorded_request(name: &str) -> Value {
    fixture_json(&format!("vertex/{name}.request.json"))["body"].clone()
}

fn assert_sent(sent: &RecordedRequest, path: &str, query: Option<&str>, bearer: &str) {
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, path);
    assert_eq!(sent.query.as_deref(), query);
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {bearer}").as_str()));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!((sent.header("x-goog-api-key"), sent.header("x-api-key"), sent.header("anthropic-version")), (None, None, None));
}

pub(super) async fn complete(provider: &Vertex, body: Value) -> Result<(Value, switchyard_protocol::Usage), ProviderError> {
    let model = body["model"].as_str().unwrap().to_string();
    provider.chat(&chat_request(body), &model).await.map(|r| match r {
        ChatResponse::Complete { body, usage } => (serde_json::from_slice(&body).unwrap(), usage.expect("usage is reported")),
        ChatResponse::Stream(_) => panic!("expected a whole answer"),
    })
}

pub(super) async fn accumulate(response: ChatResponse) -> Result<Accumulated, ProviderError> {
    let ChatResponse::Stream(mut stream) = response else { panic!("expected a stream") };
    let mut out = Accumulated::default();
    while let Some(chunk) = stream.next().await {
        out.add(&chunk?.data);
    }
    Ok(out)
}

/// The URL for a provider whose project is named in its settings.
fn url(p: &Vertex, publisher: Publisher, model: &str, stream: bool) -> Result<String, ProviderError> {
    let super::Project::Named(project) = &p.project else { panic!("the project is named") };
    p.url(project, publisher, model, stream).map(String::from)
}

pub(super) fn usage_numbers(usage: &Value) -> [u64; 3] {
    let n = |p: &str| usage.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    [n("/prompt_tokens"), n("/completion_tokens"), n("/completion_tokens_details/reasoning_tokens")]
}

#[tokio::test]
async fn gemini_text_answer() {
    let fake = FakeUpstream::start(vec![Reply::json(fixture_bytes("vertex/text.json"))]).await;
    let request = json!({"model": "gemini-2.0-flash", "messages": [{"role": "system", "content": "You are a helpful chatbot."}, user("What is the capital of France?")]});
    let (body, usage) = complete(&vertex(&fake, "global"), request).await.unwrap();
    let sent = fake.last_request();
    assert_sent(&sent, "/v1/projects/my-project/locations/global/publishers/google/models/gemini-2.0-flash:generateContent", None, TOKEN);
    let (sent, recorded) = (sent.json(), recorded_request("text"));
    assert_eq!(sent["contents"], recorded["contents"]);
    assert_eq!(sent["systemInstruction"]["parts"], recorded["systemInstruction"]["parts"]);
    assert_eq!(body["choices"][0]["message"]["content"], "The capital of France is Paris.\n");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!((body["id"].as_str(), body["model"].as_str()), (Some("1VpeaKq4CfH_2PgPh_z--AY"), Some("gemini-2.0-flash")));
    assert_eq!(usage_numbers(&body["usage"]), [13, 8, 0]);
    assert_eq!((usage.input_tokens, usage.output_tokens), (13, 8));
}

#[tokio::test]
async fn gemini_tool_call_with_thought_signature() {
    let fake = FakeUpstream::start(vec![Reply::json(fixture_bytes("vertex/tool-call-thought-signature.json"))]).await;
    let recorded = recorded_request("tool-call-thought-signature");
    let request = json!({"model": "gemini-3-flash-preview", "messages": [user(recorded["contents"][0]["parts"][0]["text"].as_str().unwrap())],
        "tools": [{"type": "function", "function": {"name": "get_images", "description": "", "parameters": {"type": "object", "properties": {}, "additionalProperties": false}}}]});
    let (body, usage) = complete(&vertex(&fake, "europe-west4"), request).await.unwrap();
    let sent = fake.last_request();
    assert_sent(
        &sent,
        "/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-3-flash-preview:generateContent",
        None,
        TOKEN,
    );
    let sent = sent.json();
    assert_eq!(sent["contents"], recorded["contents"]);
    assert_eq!(sent["tools"][0]["functionDeclarations"][0]["name"], "get_images");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["tool_calls"], json!([{"id": "call_0", "type": "function", "function": {"name": "get_images", "arguments": "{}"}}]));
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(usage_numbers(&body["usage"]), [26, 7 + 68, 68]);
    assert_eq!(usage.reasoning_tokens, 68);
}

#[tokio::test]
async fn gemini_stream() {
    let fake = FakeUpstream::start(vec![Reply::sse(fixture_bytes("vertex/text-stream.sse"))]).await;
    let recorded = recorded_request("text-stream");
    let request = json!({"model": "gemini-3-flash-preview", "stream": true, "messages": [user("Reply with exactly: OK")]});
    let out = accumulate(vertex(&fake, "global").chat(&chat_request(request), "gemini-3-flash-preview").await.unwrap()).await.unwrap();
    let sent = fake.last_request();
    assert_sent(
        &sent,
        "/v1/projects/my-project/locations/global/publishers/google/models/gemini-3-flash-preview:streamGenerateContent",
        Some("alt=sse"),
        TOKEN,
    );
    assert_eq!(sent.json()["contents"], recorded["contents"]);
    assert_eq!((out.text.as_str(), out.finish.as_deref()), ("OK", Some("stop")));
    assert_eq!(usage_numbers(out.usage.as_ref().unwrap()), [5, 1 + 100, 100]);
}

#[tokio::test]
async fn claude_text_answer() {
    let fake = FakeUpstream::start(vec![Reply::json(fixture_bytes("anthropic/text.json"))]).await;
    let request = json!({"model": CLAUDE, "messages": [{"role": "system", "content": "Be brief."}, user("What is 4200 + 42?")]});
    let (body, usage) = complete(&vertex(&fake, "us-east5"), request).await.unwrap();
    let sent = fake.last_request();
    assert_sent(
        &sent,
        "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict",
        None,
        TOKEN,
    );
    let sent = sent.json();
    assert_eq!(sent["anthropic_version"], "vertex-2023-10-16");
    assert!(sent.get("model").is_none(), "Vertex names the model in the URL: {sent}");
    assert!(sent.get("stream").is_none());
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(sent["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "What is 4200 + 42?"}]}]));
    assert!(sent["max_tokens"].as_u64().unwrap() > 0, "Anthropic requires max_tokens");
    let recorded = fixture_json("anthropic/text.json");
    assert_eq!(body["choices"][0]["message"]["content"], recorded["content"][0]["text"]);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], recorded["usage"]["input_tokens"]);
    assert_eq!(body["usage"]["completion_tokens"], recorded["usage"]["output_tokens"]);
    assert_eq!(Some(usage.input_tokens), recorded["usage"]["input_tokens"].as_u64());
}

#[tokio::test]
async fn claude_parallel_tool_calls() {
    let fake = FakeUpstream::start(vec![Reply::json(fixture_bytes("anthropic/tool-call-parallel.json"))]).await;
    let request = json!({"model": CLAUDE, "tools": [secret_tool()], "messages": [user("Please retrieve the secrets associated with each of these passwords: mellon,radiance")]});
    let (body, _) = complete(&vertex(&fake, "us-east5"), request).await.unwrap();
    let sent = fake.last_request().json();
    assert_eq!(sent["tools"][0]["name"], "secret_retrieval_tool");
    assert_eq!(sent["anthropic_version"], "vertex-2023-10-16");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "I'll retrieve the secrets for both passwords you provided.");
    assert_eq!(
        message["tool_calls"],
        json!([
            {"id": "toolu_01BUvqBj8Yb34pNAbCJJY1oc", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\":\"mellon\"}"}},
            {"id": "toolu_01VPuQJ1LonDBYXrr8pqPkqQ", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\":\"radiance\"}"}},
        ])
    );
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
}

fn secret_tool() -> Value {
    json!({"type": "function", "function": {"name": "secret_retrieval_tool", "description": "A tool that requires a password to retrieve a secret.",
        "parameters": {"type": "object", "properties": {"password": {"title": "Password", "type": "string"}}, "required": ["password"]}}})
}

#[tokio::test]
async fn claude_stream_of_parallel_tool_calls() {
    let fake = FakeUpstream::start(vec![Reply::sse(fixture_bytes("anthropic/tool-call-parallel-stream.sse"))]).await;
    let request = json!({"model": CLAUDE, "stream": true, "tools": [secret_tool()], "messages": [user("mellon,radiance")]});
    let out = accumulate(vertex(&fake, "us-east5").chat(&chat_request(request), CLAUDE).await.unwrap()).await.unwrap();
    let sent = fake.last_request();
    assert_sent(
        &sent,
        "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict",
        None,
        TOKEN,
    );
    let sent = sent.json();
    assert_eq!((sent["stream"].as_bool(), sent.get("model")), (Some(true), None));
    assert_eq!(sent["anthropic_version"], "vertex-2023-10-16");
    assert_eq!(out.text, "I'll retrieve the secrets for both passwords you provided.");
    assert_eq!(
        out.calls,
        [
            ("toolu_015cUijgET79LXjgeYQerN2h".to_string(), "secret_retrieval_tool".to_string(), "{\"password\": \"mellon\"}".to_string()),
            ("toolu_01XZTimPexA7h3EVKesnKt5T".to_string(), "secret_retrieval_tool".to_string(), "{\"password\": \"radiance\"}".to_string()),
        ]
    );
    assert_eq!(out.finish.as_deref(), Some("tool_calls"));
    assert_eq!(usage_numbers(out.usage.as_ref().unwrap()), [416, 109, 0]);
}

/// The answer of a stream whose body arrives in exactly the given pieces, read by the adapter's
/// own answer path (no socket in between, so the pieces reach the decoder as cut).
pub(super) async fn decode_pieces(provider: &Vertex, publisher: Publisher, pieces: Vec<bytes::Bytes>) -> Accumulated {
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>)));
    let response = reqwest::Response::from(http::Response::new(body));
    accumulate(provider.read_answer(publisher, "m", true, response).await.unwrap()).await.unwrap()
}

#[tokio::test]
async fn streams_decode_the_same_at_every_split_point() {
    let fake = FakeUpstream::start(vec![Reply::json("{}")]).await;
    let provider = vertex(&fake, "global");
    for (rel, publisher) in [
        ("vertex/text-stream.sse", Publisher::Google),
        ("vertex/thinking-stream.sse", Publisher::Google),
        ("anthropic/tool-call-parallel-stream.sse", Publisher::Anthropic),
    ] {
        let body = fixture_bytes(rel);
        let whole = decode_pieces(&provider, publisher, vec![body.clone()]).await;
        assert!(whole.finish.is_some() && whole.usage.is_some() && whole.chunks.len() >= 3, "{rel}: {whole:?}");
        for at in 1..body.len() {
            let split = decode_pieces(&provider, publisher, vec![body.slice(..at), body.slice(at..)]).await;
            assert_eq!(split, whole, "{rel} split at byte {at}");
        }
    }
    let thinking = decode_pieces(&provider, Publisher::Google, vec![fixture_bytes("vertex/thinking-stream.sse")]).await;
    assert!(thinking.reasoning.starts_with("**Understanding the Core Question**"), "{}", thinking.reasoning);
    assert!(thinking.text.ends_with("our eyes are more sensitive to blue)."), "{}", thinking.text);
    assert_eq!(usage_numbers(thinking.usage.as_ref().unwrap()), [9, 134 + 1067, 1067]);
}

#[tokio::test]
async fn recorded_errors_are_classified() {
    for (rel, status, kind, needle) in [
        ("vertex/error-400-invalid-argument.json", 400, ErrorKind::BadRequest, "Cannot fetch content from the provided URL"),
        ("vertex/error-429-quota-exceeded.json", 429, ErrorKind::RateLimited, "Quota exceeded"),
    ] {
        let fake = FakeUpstream::start(vec![Reply::json_status(status, fixture_bytes(rel))]).await;
        let err =
            complete(&vertex(&fake, "global"), json!({"model": "gemini-3-flash-preview", "messages": [user("x")]})).await.unwrap_err();
        assert_eq!((err.kind, err.status), (kind, Some(status)), "{rel}");
        assert!(err.message.contains(needle), "{rel}: {}", err.message);
    }
}

#[tokio::test]
async fn an_echoed_token_is_redacted() {
    // Constructed (not recorded): an error that quotes the credential back.
    let body = format!(
        r#"{{"error":{{"code":401,"message":"Request had invalid authentication credentials: {TOKEN}","status":"UNAUTHENTICATED"}}}}"#
    );
    let fake = FakeUpstream::start(vec![Reply::json_status(401, body)]).await;
    let err = complete(&vertex(&fake, "global"), json!({"model": "gemini-2.5-flash", "messages": [user("x")]})).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(!err.message.contains(TOKEN) && err.message.contains("invalid authentication credentials"), "{}", err.message);
}

// --- service-account OAuth ---

/// A service-account key file whose token_uri is the fake token endpoint; removed on drop.
struct KeyFile(PathBuf);

impl KeyFile {
    fn new(token_uri: &str, project_id: Option<&str>) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("switchyard-vertex-test-{}-{n}.json", std::process::id()));
        let mut key = json!({"type": "service_account", "client_email": "gateway@my-project.iam.gserviceaccount.com",
            "private_key_id": "0123abcd", "private_key": TEST_KEY, "token_uri": token_uri, "client_id": "1"});
        if let Some(p) = project_id {
            key["project_id"] = json!(p);
        }
        std::fs::write(&path, key.to_string()).unwrap();
        Self(path)
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(super) fn token_answer(expires_in: u64) -> Reply {
    Reply::json(json!({"access_token": "ya29.test", "expires_in": expires_in, "token_type": "Bearer"}).to_string())
}

/// A provider that signs with the test key, against `chat` and the token endpoint `tokens`.
fn oauth_vertex(chat: &FakeUpstream, tokens: &FakeUpstream) -> (Vertex, KeyFile, String) {
    let token_uri = format!("http://{}/token", tokens.addr());
    let file = KeyFile::new(&token_uri, None);
    let config = VertexConfig { access_token: None, credentials_file: Some(file.0.clone()), ..config(chat, "us-central1") };
    (Vertex::with_env("vtx", &config, &|_| None).unwrap(), file, token_uri)
}

#[tokio::test]
async fn service_account_token_is_fetched_once_and_used() {
    let chat = FakeUpstream::start(vec![Reply::json(fixture_bytes("vertex/text.json"))]).await;
    let tokens = FakeUpstream::start(vec![token_answer(3600)]).await;
    let (provider, _file, token_uri) = oauth_vertex(&chat, &tokens);
    for _ in 0..2 {
        complete(&provider, json!({"model": "gemini-2.0-flash", "messages": [user("hi")]})).await.unwrap();
    }
    assert_eq!(tokens.request_count(), 1, "the token is cached");
    for sent in chat.requests() {
        assert_sent(
            &sent,
            "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent",
            None,
            "ya29.test",
        );
    }
    let exchange = tokens.last_request();
    assert_eq!((exchange.method.as_str(), exchange.path.as_str()), ("POST", "/token"));
    assert_eq!(exchange.header("content-type"), Some("application/x-www-form-urlencoded"));
    let form = exchange.body_str();
    let fields: Vec<(&str, &str)> = form.split('&').map(|kv| kv.split_once('=').unwrap()).collect();
    assert_eq!(fields[0], ("grant_type", "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"));
    assert_eq!(fields[1].0, "assertion");
    let jwt = fields[1].1;
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::RS256, Some("0123abcd")));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&token_uri]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("signed by the service account's key").claims;
    assert_eq!(claims["iss"], "gateway@my-project.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/cloud-platform");
    assert_eq!(claims["aud"], token_uri.as_str());
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
}

#[tokio::test]
async fn a_token_near_expiry_is_replaced() {
    let chat = FakeUpstream::start(vec![Reply::json(fixture_bytes("vertex/text.json"))]).await;
    // 60 s is inside the five-minute refresh margin: never worth caching.
    let tokens = FakeUpstream::start(vec![token_answer(60)]).await;
    let (provider, _file, _) = oauth_vertex(&chat, &tokens);
    for _ in 0..2 {
        complete(&provider, json!({"model": "gemini-2.0-flash", "messages": [user("hi")]})).await.unwrap();
    }
    assert_eq!(tokens.request_count(), 2);
}

#[tokio::test]
async fn a_refused_token_is_fetched_again() {
    let unauthenticated =
        r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
    let chat = FakeUpstream::start(vec![Reply::json_status(401, unauthenticated), Reply::json(fixture_bytes("vertex/text.json"))]).await;
    let tokens = FakeUpstream::start(vec![token_answer(3600)]).await;
    let (provider, _file, _) = oauth_vertex(&chat, &tokens);
    let err = complete(&provider, json!({"model": "gemini-2.0-flash", "messages": [user("hi")]})).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    complete(&provider, json!({"model": "gemini-2.0-flash", "messages": [user("hi")]})).await.unwrap();
    assert_eq!(tokens.request_count(), 2);
}

#[tokio::test]
async fn a_failed_token_exchange_is_an_auth_error() {
    let chat = FakeUpstream::start(vec![Reply::json(fixture_bytes("vertex/text.json"))]).await;
    let tokens =
        FakeUpstream::start(vec![Reply::json_status(400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#)])
            .await;
    let (provider, _file, _) = oauth_vertex(&chat, &tokens);
    let err = complete(&provider, json!({"model": CLAUDE, "messages": [user("hi")]})).await.unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Auth, Some(400)));
    assert!(err.message.contains("invalid_grant Invalid JWT Signature."), "{}", err.message);
    assert_eq!(chat.request_count(), 0);
}

// --- configuration ---

#[test]
fn hosts_follow_the_location_and_settings_the_environment() {
    let key = KeyFile::new("https://oauth2.googleapis.com/token", Some("key-project"));
    let path = key.0.to_string_lossy().into_owned();
    let env = |k: &str| (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| path.clone());
    let p = Vertex::with_env("v", &VertexConfig::default(), &env).unwrap();
    assert_eq!(
        url(&p, Publisher::Google, "gemini-2.5-flash", true).unwrap(),
        "https://us-central1-aiplatform.googleapis.com/v1/projects/key-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let global = VertexConfig { location: Some("global".into()), project: Some("p1".into()), ..VertexConfig::default() };
    let env_project = |k: &str| match k {
        "GOOGLE_APPLICATION_CREDENTIALS" => Some(path.clone()),
        "GOOGLE_CLOUD_PROJECT" => Some("env-project".into()),
        _ => None,
    };
    assert_eq!(
        url(&Vertex::with_env("v", &global, &env_project).unwrap(), Publisher::Anthropic, CLAUDE, false).unwrap(),
        "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
    );
    let from_env = Vertex::with_env("v", &VertexConfig::default(), &env_project).unwrap();
    assert!(url(&from_env, Publisher::Google, "m", false).unwrap().contains("/projects/env-project/"));
    assert_eq!(from_env.kind(), "vertex");

    // With no credentials anywhere, the metadata server is the last resort (asked on first use).
    let metadata = Vertex::with_env("v", &VertexConfig::default(), &|_| None).unwrap();
    assert!(matches!(metadata.project, super::Project::FromMetadata(..)));
    let token_only = VertexConfig { access_token: Some(Secret::new(TOKEN)), ..VertexConfig::default() };
    assert!(Vertex::with_env("v", &token_only, &|_| None).err().unwrap().contains("no project"));
    let bad = VertexConfig { project: Some("a/b".into()), ..token_only.clone() };
    assert!(Vertex::with_env("v", &bad, &|_| None).is_err());
    let p = Vertex::with_env("v", &VertexConfig { project: Some("p".into()), ..token_only }, &|_| None).unwrap();
    assert_eq!(url(&p, Publisher::Google, "../../x", false).unwrap_err().kind, ErrorKind::BadRequest);
}

#[test]
fn broken_key_files_are_reported_without_their_content() {
    let path = std::env::temp_dir().join(format!("switchyard-vertex-broken-{}.json", std::process::id()));
    std::fs::write(&path, r#"{"type": "service_account", "client_email": 7, "private_key": "-----BEGIN PRIVATE KEY-----SECRETBITS"}"#)
        .unwrap();
    let config = VertexConfig { project: Some("p".into()), credentials_file: Some(path.clone()), ..VertexConfig::default() };
    let err = Vertex::with_env("v", &config, &|_| None).err().unwrap();
    assert!(err.contains("not a service-account key") && !err.contains("SECRETBITS"), "{err}");
    std::fs::write(&path, r#"{"type": "service_account", "client_email": "a@b", "private_key": "SECRETBITS"}"#).unwrap();
    let err = Vertex::with_env("v", &config, &|_| None).err().unwrap();
    assert!(err.contains("not an RSA key") && !err.contains("SECRETBITS"), "{err}");
    std::fs::write(&path, r#"{"type": "authorized_user", "client_id": "x", "refresh_token": "SECRETBITS"}"#).unwrap();
    let err = Vertex::with_env("v", &config, &|_| None).err().unwrap();
    assert!(err.contains("not gcloud user credentials") && !err.contains("SECRETBITS"), "{err}");
    std::fs::write(&path, r#"{"type": "external_account", "audience": "x", "credential_source": {"file": "SECRETBITS"}}"#).unwrap();
    let err = Vertex::with_env("v", &config, &|_| None).err().unwrap();
    assert!(err.contains("`external_account` credentials") && !err.contains("SECRETBITS"), "{err}");
    std::fs::write(&path, "{SECRETBITS").unwrap();
    let err = Vertex::with_env("v", &config, &|_| None).err().unwrap();
    assert!(err.contains("invalid JSON") && !err.contains("SECRETBITS"), "{err}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn models_are_routed_by_name() {
    for m in ["claude-sonnet-4@20250514", "claude-3-5-haiku@20241022", "publishers-anthropic-x", "my-Claude-tune"] {
        assert_eq!(Publisher::of(m), Publisher::Anthropic, "{m}");
    }
    for m in ["gemini-2.5-flash", "gemini-3-flash-preview", "text-embedding-005"] {
        assert_eq!(Publisher::of(m), Publisher::Google, "{m}");
    }
}

#[test]
fn config_parses_hides_the_token_and_rejects_unknown_fields() {
    let config: VertexConfig = serde_json::from_value(
        json!({"project": "p", "location": "us-east5", "access_token": TOKEN, "connect_timeout": "3s", "models": ["gemini-2.5-flash"]}),
    )
    .unwrap();
    assert_eq!((config.location.as_deref(), config.connect_timeout), (Some("us-east5"), Some(std::time::Duration::from_secs(3))));
    assert!(!format!("{config:?}").contains(TOKEN));
    let err = serde_json::from_value::<VertexConfig>(json!({"projetc": "p"})).unwrap_err().to_string();
    assert!(err.contains("unknown field `projetc`"), "{err}");
    let typed: crate::ProviderConfig = serde_json::from_value(json!({"type": "vertex", "project": "p"})).unwrap();
    assert!(matches!(typed, crate::ProviderConfig::Vertex(_)));
    assert!(crate::registry::TYPES.contains(&"vertex"));
}

#[test]
fn environment_enables_vertex_with_credentials_and_a_project() {
    let names = |vars: &[(&str, &str)]| -> Vec<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        crate::registry::from_environment(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    assert_eq!(names(&[("GOOGLE_APPLICATION_CREDENTIALS", "/k.json")]), ["mock"], "a project is needed too");
    assert_eq!(names(&[("GOOGLE_CLOUD_PROJECT", "p")]), ["mock"]);
    assert_eq!(names(&[("GOOGLE_APPLICATION_CREDENTIALS", "/k.json"), ("VERTEX_PROJECT", "p")]), ["mock", "vertex"]);
    let configs = crate::registry::from_environment(|k| match k {
        "GOOGLE_APPLICATION_CREDENTIALS" => Some("/k.json".into()),
        "GOOGLE_CLOUD_PROJECT" => Some("p".into()),
        "GOOGLE_CLOUD_LOCATION" => Some("europe-west1".into()),
        _ => None,
    });
    let Some((_, crate::ProviderConfig::Vertex(c))) = configs.iter().find(|(n, _)| n == "vertex") else { panic!("vertex is enabled") };
    assert_eq!((c.project.as_deref(), c.location.as_deref()), (Some("p"), Some("europe-west1")));
    assert_eq!(c.credentials_file.as_deref(), Some(std::path::Path::new("/k.json")));
}
