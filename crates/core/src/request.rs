//! Step `parse`: the endpoint's codec turns the body into a canonical request; the gateway's own
//! fields are read, validated and removed the same way for every endpoint, so they never reach an
//! upstream. Prompt templates will expand here (`expand_prompt`), before anything looks at the
//! request.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard_protocol::openai::{ChatRequest, EmbeddingsRequest, RequestFormatError};
use switchyard_protocol::{Native, RawObject};

/// Per-request gateway options (the OpenAI SDK's `extra_body`). Fields that later pipeline steps
/// (fallbacks, caching, budgets) act on are validated here already.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayFields {
    pub customer_identifier: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub fallback_models: Vec<String>,
    pub cache_enabled: Option<bool>,
    pub cache_ttl: Option<u64>,
    pub cache_by_customer: Option<bool>,
    pub prompt_id: Option<String>,
    pub variables: Option<serde_json::Map<String, serde_json::Value>>,
    pub prompt_version: Option<String>,
    pub max_cost_usd: Option<f64>,
    pub disable_log: bool,
}

/// The gateway's request headers, already read from HTTP.
#[derive(Debug, Clone, Default)]
pub struct RequestHeaders {
    pub customer: Option<String>,
    pub feature: Option<String>,
    pub fallback: Vec<String>,
    /// `Cache-Control`, for the cache lookup (`no-store`, `no-cache`).
    pub cache_control: Option<String>,
    /// `anthropic-beta`, passed on with a Messages request to a target that speaks Messages.
    pub anthropic_beta: Option<String>,
}

/// The canonical request every endpoint's codec decodes into. Later inbound APIs (Anthropic
/// Messages, Responses) decode into `Chat`; embeddings stay what they are.
#[derive(Debug, Clone)]
pub enum Request {
    Chat(ChatRequest),
    Embeddings(EmbeddingsRequest),
}

impl Request {
    pub fn model(&self) -> &str {
        match self {
            Request::Chat(r) => r.model(),
            Request::Embeddings(r) => r.model(),
        }
    }

    pub fn stream(&self) -> bool {
        matches!(self, Request::Chat(r) if r.stream())
    }

    /// Whether the client itself asked for the usage chunk at the end of a stream.
    pub fn client_wants_usage(&self) -> bool {
        matches!(self, Request::Chat(r) if r.client_wants_usage())
    }

    pub fn chat(&self) -> Option<&ChatRequest> {
        match self {
            Request::Chat(r) => Some(r),
            Request::Embeddings(_) => None,
        }
    }

    /// Attaches the client's own request, built with the body (see `InboundBody`).
    fn attach_native(&mut self, native: Option<Native>) {
        if let (Request::Chat(chat), Some(native)) = (self, native) {
            chat.set_native(native);
        }
    }

    fn fields_mut(&mut self) -> &mut RawObject {
        match self {
            Request::Chat(r) => r.fields_mut(),
            Request::Embeddings(r) => r.fields_mut(),
        }
    }
}

/// A request body as the transport hands it to the pipeline: the bytes `Decode` reads, and, for
/// an API whose canonical request is built before the pipeline runs (the Responses API continues
/// a stored conversation), the client's own request for a target that speaks its API.
#[derive(Debug, Clone)]
pub struct InboundBody {
    pub bytes: bytes::Bytes,
    pub native: Option<Native>,
}

impl From<bytes::Bytes> for InboundBody {
    fn from(bytes: bytes::Bytes) -> Self {
        Self { bytes, native: None }
    }
}

/// How an endpoint's wire request becomes the canonical one: the decoding half of its codec.
pub type Decode = fn(&[u8]) -> Result<Request, RequestFormatError>;

/// The decoder of `POST /v1/chat/completions`.
pub fn decode_chat(body: &[u8]) -> Result<Request, RequestFormatError> {
    ChatRequest::parse(body).map(Request::Chat)
}

/// The decoder of `POST /v1/messages`: Anthropic's Messages request, translated.
pub fn decode_messages(body: &[u8]) -> Result<Request, RequestFormatError> {
    let chat = switchyard_protocol::anthropic::to_chat(body)?;
    let mut request = ChatRequest::parse(&chat)?;
    request.set_native(switchyard_protocol::anthropic::native(body)?);
    Ok(Request::Chat(request))
}

/// The decoder of `POST /v1/embeddings`.
pub fn decode_embeddings(body: &[u8]) -> Result<Request, RequestFormatError> {
    EmbeddingsRequest::parse(body).map(Request::Embeddings)
}

#[derive(Debug)]
pub struct Parsed {
    pub request: Request,
    pub fields: GatewayFields,
    pub feature: Option<String>,
    pub cache_control: Option<String>,
}

const MAX_METADATA_KEYS: usize = 64;
const MAX_METADATA_VALUE: usize = 1024;

pub fn parse(body: &[u8], decode: Decode, headers: RequestHeaders) -> Result<Parsed, RequestFormatError> {
    parse_native(body, None, decode, headers)
}

/// `parse`, with the client's own request when the body came with it (`InboundBody::native`).
pub fn parse_native(body: &[u8], native: Option<Native>, decode: Decode, headers: RequestHeaders) -> Result<Parsed, RequestFormatError> {
    let mut request = decode(body)?;
    request.attach_native(native);
    if let Request::Chat(chat) = &mut request {
        chat.set_native_beta(headers.anthropic_beta.clone());
    }
    let mut fields = gateway_fields(request.fields_mut())?;
    expand_prompt(&fields)?;
    // Precedence: the body field, then the header, then OpenAI's own `user` (which stays in the
    // request: it is an OpenAI field).
    if fields.customer_identifier.is_none() {
        fields.customer_identifier = headers.customer.or(request.fields_mut().get::<Option<String>>("user", "a string")?.flatten());
    }
    fields.fallback_models.extend(headers.fallback);
    Ok(Parsed { request, fields, feature: headers.feature, cache_control: headers.cache_control })
}

/// The gateway's own fields, read, checked and removed from the request.
fn gateway_fields(request: &mut RawObject) -> Result<GatewayFields, RequestFormatError> {
    let fields = GatewayFields {
        customer_identifier: take(request, "customer_identifier", "a string")?,
        metadata: take::<BTreeMap<String, serde_json::Value>>(request, "metadata", "an object whose values are strings")?
            .map(metadata)
            .transpose()?
            .unwrap_or_default(),
        fallback_models: take(request, "fallback_models", "an array of model names")?.unwrap_or_default(),
        cache_enabled: take(request, "cache_enabled", "a boolean")?,
        cache_ttl: take(request, "cache_ttl", "a whole number of seconds (0 or more)")?,
        cache_by_customer: take::<CacheOptions>(request, "cache_options", "an object like {\"cache_by_customer\": true}")?
            .and_then(|o| o.cache_by_customer),
        prompt_id: take(request, "prompt_id", "a string")?,
        variables: take(request, "variables", "an object")?,
        prompt_version: take::<PromptVersion>(request, "prompt_version", "a string or an integer")?.map(PromptVersion::into_string),
        max_cost_usd: take(request, "max_cost_usd", "a number of US dollars (0 or more)")?,
        disable_log: take(request, "disable_log", "a boolean")?.unwrap_or(false),
    };
    if fields.max_cost_usd.is_some_and(|c| !c.is_finite() || c < 0.0) {
        return Err(RequestFormatError::field("max_cost_usd", "invalid `max_cost_usd`: must be a number of US dollars, 0 or more"));
    }
    if fields.fallback_models.iter().any(|m| m.trim().is_empty()) {
        return Err(RequestFormatError::field("fallback_models", "invalid `fallback_models`: model names must not be empty"));
    }
    if fields.variables.is_some() && fields.prompt_id.is_none() {
        return Err(RequestFormatError::field("variables", "`variables` needs `prompt_id`: they fill a prompt template"));
    }
    Ok(fields)
}

/// The hook where a prompt template expands into the request (`prompt_id`, `variables`).
fn expand_prompt(fields: &GatewayFields) -> Result<(), RequestFormatError> {
    if let Some(id) = &fields.prompt_id {
        // Prompt templates arrive with the prompt store; until then no prompt id can exist.
        return Err(RequestFormatError::field("prompt_id", format!("unknown prompt `{id}`: this gateway has no prompt templates")));
    }
    Ok(())
}

fn take<T: serde::de::DeserializeOwned>(request: &mut RawObject, key: &str, expected: &str) -> Result<Option<T>, RequestFormatError> {
    let Some(raw) = request.take(key) else { return Ok(None) };
    let raw: Box<RawValue> = raw;
    if raw.get() == "null" {
        return Ok(None);
    }
    serde_json::from_str(raw.get())
        .map(Some)
        .map_err(|_| RequestFormatError::field(key, format!("invalid `{key}`: expected {expected}, got {}", describe(raw.get()))))
}

fn describe(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn metadata(map: BTreeMap<String, serde_json::Value>) -> Result<BTreeMap<String, String>, RequestFormatError> {
    if map.len() > MAX_METADATA_KEYS {
        return Err(RequestFormatError::field("metadata", format!("invalid `metadata`: at most {MAX_METADATA_KEYS} keys")));
    }
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) if s.len() <= MAX_METADATA_VALUE => Ok((k, s)),
            serde_json::Value::String(_) => Err(RequestFormatError::field(
                format!("metadata.{k}"),
                format!("invalid `metadata.{k}`: values are at most {MAX_METADATA_VALUE} bytes"),
            )),
            _ => Err(RequestFormatError::field(format!("metadata.{k}"), format!("invalid `metadata.{k}`: values must be strings"))),
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheOptions {
    cache_by_customer: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PromptVersion {
    Text(String),
    Number(u64),
}

impl PromptVersion {
    fn into_string(self) -> String {
        match self {
            PromptVersion::Text(s) => s,
            PromptVersion::Number(n) => n.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn run(body: Value, headers: RequestHeaders) -> Result<Parsed, RequestFormatError> {
        parse(body.to_string().as_bytes(), decode_chat, headers)
    }

    fn chat(p: &Parsed) -> &ChatRequest {
        p.request.chat().unwrap()
    }

    fn base() -> Value {
        json!({"model": "up/gpt", "messages": [{"role": "user", "content": "hi"}]})
    }

    #[test]
    fn gateway_fields_are_read_and_removed() {
        let mut body = base();
        let extra = json!({
            "customer_identifier": "c1", "metadata": {"team": "search"}, "fallback_models": ["b"],
            "cache_enabled": true, "cache_ttl": 60, "cache_options": {"cache_by_customer": true},
            "max_cost_usd": 0.5, "disable_log": true, "vendor_field": {"x": 1}, "user": "u9"
        });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let headers = RequestHeaders { feature: Some("summarize".into()), fallback: vec!["c".into()], ..Default::default() };
        let p = run(body, headers).unwrap();
        assert_eq!(p.fields.customer_identifier.as_deref(), Some("c1"));
        assert_eq!(p.fields.metadata.get("team").map(String::as_str), Some("search"));
        assert_eq!(p.fields.fallback_models, ["b", "c"]);
        assert_eq!((p.fields.cache_enabled, p.fields.cache_ttl, p.fields.cache_by_customer), (Some(true), Some(60), Some(true)));
        assert_eq!(p.fields.max_cost_usd, Some(0.5));
        assert!(p.fields.disable_log);
        assert_eq!(p.feature.as_deref(), Some("summarize"));
        let upstream: Value = serde_json::from_slice(&chat(&p).to_upstream_body("gpt", true)).unwrap();
        assert_eq!(upstream, json!({"model":"gpt","messages":[{"role":"user","content":"hi"}],"vendor_field":{"x":1},"user":"u9"}));
    }

    #[test]
    fn customer_falls_back_to_header_then_user() {
        let mut body = base();
        body["user"] = json!("u9");
        let p = run(body.clone(), RequestHeaders { customer: Some("h1".into()), ..Default::default() }).unwrap();
        assert_eq!(p.fields.customer_identifier.as_deref(), Some("h1"));
        let p = run(body, RequestHeaders::default()).unwrap();
        assert_eq!(p.fields.customer_identifier.as_deref(), Some("u9"));
    }

    #[test]
    fn embeddings_get_the_same_gateway_fields_and_limits() {
        let body = json!({"model": "m", "input": "x", "metadata": {"a": 1}});
        let err = parse(body.to_string().as_bytes(), decode_embeddings, RequestHeaders::default()).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("metadata.a"));
        let body = json!({"model": "m", "input": "x", "user": "u1", "fallback_models": ["b"], "cache_enabled": true});
        let headers = RequestHeaders { fallback: vec!["c".into()], ..Default::default() };
        let p = parse(body.to_string().as_bytes(), decode_embeddings, headers).unwrap();
        assert_eq!(
            (p.fields.customer_identifier.as_deref(), p.fields.fallback_models.as_slice()),
            (Some("u1"), &["b".to_string(), "c".to_string()][..])
        );
        let Request::Embeddings(e) = &p.request else { panic!("embeddings") };
        assert_eq!(e.to_upstream("x"), json!({"model": "x", "input": "x", "user": "u1"}));
    }

    #[test]
    fn ill_typed_fields_are_named() {
        for (field, value, param) in [
            ("metadata", json!("x"), "metadata"),
            ("metadata", json!({"a": 1}), "metadata.a"),
            ("customer_identifier", json!(5), "customer_identifier"),
            ("cache_ttl", json!(-1), "cache_ttl"),
            ("cache_options", json!({"by_customer": true}), "cache_options"),
            ("fallback_models", json!("gpt"), "fallback_models"),
            ("max_cost_usd", json!(-2), "max_cost_usd"),
            ("disable_log", json!("yes"), "disable_log"),
            ("prompt_id", json!("p1"), "prompt_id"),
            ("variables", json!({"a": "b"}), "variables"),
        ] {
            let mut body = base();
            body[field] = value;
            let err = run(body, RequestHeaders::default()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{field}: {}", err.message);
        }
    }
}
