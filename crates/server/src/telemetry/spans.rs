//! A finished request as OpenTelemetry spans, following the GenAI semantic conventions: the
//! request span (SERVER, named `{gen_ai.operation.name} {gen_ai.request.model}`), and its
//! children — `admission`, `cache_lookup` (INTERNAL) and one CLIENT span per upstream attempt.
//! Built by the exporter, off the request path, from the log record and the bodies the request
//! kept. Keys never appear (the record has none); customer, team and feature are the record's.

use serde_json::Value as Json;
use switchyard_core::metrics::traffic::Endpoint;
use switchyard_core::store::AttemptDetail;
use switchyard_core::telemetry::{FinishedTrace, Phase, SpanId, TraceId};

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    StrArray(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Internal,
    Server,
    Client,
}

#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub trace_state: Option<String>,
    pub name: String,
    pub kind: Kind,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub attributes: Vec<(&'static str, Value)>,
    /// Status ERROR with this message; unset otherwise.
    pub error: Option<String>,
}

pub fn spans(t: &FinishedTrace) -> Vec<Span> {
    let r = &t.record;
    let operation = match t.endpoint {
        Endpoint::Embeddings => "embeddings",
        _ => "chat",
    };
    let failed = r.outcome != "ok";
    let error_type = failed.then(|| r.error_type.clone().unwrap_or_else(|| r.outcome.clone()));
    let child = |span_id: SpanId, name: &str, kind: Kind, start: u64, end: u64| Span {
        trace_id: t.trace_id,
        span_id,
        parent: Some(t.span_id),
        trace_state: t.tracestate.as_deref().map(str::to_string),
        name: name.to_string(),
        kind,
        start_unix_ns: start,
        end_unix_ns: end,
        attributes: Vec::new(),
        error: None,
    };

    let mut request = child(t.span_id, &format!("{operation} {}", r.requested_model), Kind::Server, t.start_unix_ns, t.end_unix_ns);
    request.parent = t.parent;
    let a = &mut request.attributes;
    a.push(("gen_ai.operation.name", Value::Str(operation.into())));
    a.push(("gen_ai.request.model", Value::Str(r.requested_model.clone())));
    if let Some(p) = &r.provider {
        // The well-known name of the type of the provider that served (its attempt span knows
        // it); the configured name is `switchyard.provider`.
        let served = r.attempt_log.iter().rev().find(|a| a.error.is_none() && &a.provider == p).and_then(|a| a.span);
        if let Some(span) = served {
            a.push(("gen_ai.provider.name", Value::Str(span.system.into())));
        }
        a.push(("switchyard.provider", Value::Str(p.clone())));
    }
    if let Some(m) = &r.model {
        a.push(("gen_ai.response.model", Value::Str(m.clone())));
    }
    if r.outcome == "ok" || r.input_tokens + r.output_tokens > 0 {
        a.push(("gen_ai.usage.input_tokens", Value::Int(r.input_tokens as i64)));
        a.push(("gen_ai.usage.output_tokens", Value::Int(r.output_tokens as i64)));
    }
    if let Some(req) = t.request_body.as_deref().and_then(|b| serde_json::from_slice::<RequestParams>(b).ok()) {
        request_params(&req, a);
    }
    if let Some(resp) = t.response_body.as_deref().and_then(|b| serde_json::from_slice::<ResponseSummary>(b).ok()) {
        if let Some(id) = resp.id {
            a.push(("gen_ai.response.id", Value::Str(id)));
        }
        let reasons: Vec<String> = resp.choices.into_iter().flatten().filter_map(|c| c.finish_reason).collect();
        if !reasons.is_empty() {
            a.push(("gen_ai.response.finish_reasons", Value::StrArray(reasons)));
        }
    }
    let streamed = (t.response_body.is_none() && !t.stream_chunks.is_empty()).then(|| Streamed::read(&t.stream_chunks, t.capture_content));
    if let Some(s) = &streamed {
        if let Some(id) = &s.id {
            a.push(("gen_ai.response.id", Value::Str(id.clone())));
        }
        if !s.finish_reasons.is_empty() {
            a.push(("gen_ai.response.finish_reasons", Value::StrArray(s.finish_reasons.clone())));
        }
    }
    if t.capture_content {
        let json = |body: &Option<bytes::Bytes>| body.as_deref().and_then(|b| serde_json::from_slice::<Json>(b).ok());
        if let Some(messages) = json(&t.request_body).as_ref().and_then(input_messages) {
            a.push(("gen_ai.input.messages", Value::Str(messages)));
        }
        let output = match &streamed {
            Some(s) => s.output_messages(),
            None => json(&t.response_body).as_ref().and_then(output_messages),
        };
        if let Some(messages) = output {
            a.push(("gen_ai.output.messages", Value::Str(messages)));
        }
    }
    a.push(("http.response.status_code", Value::Int(i64::from(r.status))));
    a.push(("switchyard.request_id", Value::Str(r.request_id.clone())));
    a.push(("switchyard.outcome", Value::Str(r.outcome.clone())));
    a.push(("switchyard.stream", Value::Bool(r.stream)));
    a.push(("switchyard.attempts", Value::Int(i64::from(r.attempts))));
    if let Some(c) = &r.cache_status {
        a.push(("switchyard.cache.status", Value::Str(c.clone())));
    }
    if let Some(cost) = r.cost_usd {
        a.push(("switchyard.cost_usd", Value::Double(cost)));
    }
    for (key, value) in [("switchyard.customer", &r.customer_identifier), ("switchyard.team", &r.team), ("switchyard.feature", &r.feature)]
    {
        if let Some(v) = value {
            a.push((key, Value::Str(v.clone())));
        }
    }
    if let Some(e) = &error_type {
        a.push(("error.type", Value::Str(e.clone())));
        request.error = Some(r.error_message.clone().unwrap_or_else(|| e.clone()));
    }

    let mut out = vec![request];
    let step = |phase: &Phase, name: &str| {
        let mut s = child(phase.span_id, name, Kind::Internal, phase.start_unix_ns, phase.end_unix_ns);
        if phase.failed {
            let e = error_type.clone().unwrap_or_else(|| "refused".into());
            s.attributes.push(("error.type", Value::Str(e.clone())));
            s.error = Some(e);
        }
        s
    };
    if let Some(p) = &t.admission {
        out.push(step(p, "admission"));
    }
    if let Some(p) = &t.cache {
        let mut s = step(p, "cache_lookup");
        if let Some(c) = &r.cache_status {
            s.attributes.push(("switchyard.cache.status", Value::Str(c.clone())));
        }
        out.push(s);
    }
    let mut targets: Vec<(&str, &str)> = Vec::new();
    for (i, attempt) in r.attempt_log.iter().enumerate() {
        let Some(span) = attempt.span else { continue };
        let target = (attempt.provider.as_str(), attempt.model.as_str());
        let retry = targets.last() == Some(&target);
        if !targets.contains(&target) {
            targets.push(target);
        }
        let end = span.start_unix_ns + (attempt.ms * 1e6) as u64;
        let mut s = child(span.span_id, &format!("{operation} {}", attempt.model), Kind::Client, span.start_unix_ns, end);
        attempt_attributes(&mut s, attempt, operation, i, retry, targets.len() - 1);
        if let Some(status) = span.status {
            s.attributes.push(("http.response.status_code", Value::Int(i64::from(status))));
        }
        out.push(s);
    }
    out
}

fn attempt_attributes(s: &mut Span, attempt: &AttemptDetail, operation: &str, index: usize, retry: bool, fallback_index: usize) {
    let a = &mut s.attributes;
    a.push(("gen_ai.operation.name", Value::Str(operation.into())));
    if let Some(span) = attempt.span {
        a.push(("gen_ai.provider.name", Value::Str(span.system.into())));
    }
    a.push(("switchyard.provider", Value::Str(attempt.provider.clone())));
    a.push(("gen_ai.request.model", Value::Str(attempt.model.clone())));
    let outcome = attempt.error.map_or("ok", |e| e.as_str());
    a.push(("switchyard.attempt.outcome", Value::Str(outcome.into())));
    a.push(("switchyard.attempt.index", Value::Int(index as i64)));
    a.push(("switchyard.attempt.retry", Value::Bool(retry)));
    a.push(("switchyard.attempt.fallback_index", Value::Int(fallback_index as i64)));
    if let Some(e) = attempt.error {
        a.push(("error.type", Value::Str(e.as_str().into())));
        s.error = Some(e.as_str().into());
    }
}

/// The request parameters read for the span; everything else in the body is skipped unread.
#[derive(serde::Deserialize)]
struct RequestParams {
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    max_output_tokens: Option<i64>,
}

#[derive(serde::Deserialize)]
struct ResponseSummary {
    id: Option<String>,
    choices: Option<Vec<ChoiceSummary>>,
}

#[derive(serde::Deserialize)]
struct ChoiceSummary {
    finish_reason: Option<String>,
    delta: Option<DeltaSummary>,
}

#[derive(serde::Deserialize)]
struct DeltaSummary {
    content: Option<String>,
}

/// What a streamed answer's kept chunks say: its id, finish reasons and, when captured, text.
struct Streamed {
    id: Option<String>,
    finish_reasons: Vec<String>,
    text: String,
}

impl Streamed {
    fn read(chunks: &[bytes::Bytes], with_text: bool) -> Self {
        let mut out = Streamed { id: None, finish_reasons: Vec::new(), text: String::new() };
        for chunk in chunks.iter().filter_map(|c| serde_json::from_slice::<ResponseSummary>(c).ok()) {
            if out.id.is_none() {
                out.id = chunk.id;
            }
            for choice in chunk.choices.into_iter().flatten() {
                out.finish_reasons.extend(choice.finish_reason);
                if let (true, Some(text)) = (with_text, choice.delta.and_then(|d| d.content)) {
                    out.text.push_str(&text);
                }
            }
        }
        out
    }

    fn output_messages(&self) -> Option<String> {
        let finish = self.finish_reasons.first().cloned();
        let message =
            serde_json::json!([{"role": "assistant", "parts": [{"type": "text", "content": self.text}], "finish_reason": finish}]);
        serde_json::to_string(&message).ok()
    }
}

/// `temperature`, `max_tokens` (or `max_completion_tokens`), `top_p`, as sent.
fn request_params(req: &RequestParams, a: &mut Vec<(&'static str, Value)>) {
    if let Some(t) = req.temperature {
        a.push(("gen_ai.request.temperature", Value::Double(t)));
    }
    if let Some(p) = req.top_p {
        a.push(("gen_ai.request.top_p", Value::Double(p)));
    }
    if let Some(m) = req.max_tokens.or(req.max_completion_tokens).or(req.max_output_tokens) {
        a.push(("gen_ai.request.max_tokens", Value::Int(m)));
    }
}

fn choices(resp: &Json) -> impl Iterator<Item = &Json> {
    resp.get("choices").and_then(Json::as_array).into_iter().flatten()
}

/// The request's messages as the GenAI conventions write them: `[{role, parts: [{type, content}]}]`.
fn input_messages(req: &Json) -> Option<String> {
    let messages = req.get("messages")?.as_array()?;
    let out: Vec<Json> = messages
        .iter()
        .map(|m| serde_json::json!({"role": m.get("role").cloned().unwrap_or(Json::Null), "parts": parts(m.get("content"))}))
        .collect();
    serde_json::to_string(&out).ok()
}

/// The answer's choices: `[{role, parts, finish_reason}]`.
fn output_messages(resp: &Json) -> Option<String> {
    let out: Vec<Json> = choices(resp)
        .filter_map(|c| {
            let m = c.get("message")?;
            Some(serde_json::json!({
                "role": m.get("role").cloned().unwrap_or_else(|| "assistant".into()),
                "parts": parts(m.get("content")),
                "finish_reason": c.get("finish_reason").cloned().unwrap_or(Json::Null),
            }))
        })
        .collect();
    (!out.is_empty()).then(|| serde_json::to_string(&out).ok()).flatten()
}

/// Text content as one text part; content parts keep their text, other parts their type.
fn parts(content: Option<&Json>) -> Json {
    match content {
        Some(Json::String(s)) => serde_json::json!([{"type": "text", "content": s}]),
        Some(Json::Array(items)) => Json::Array(
            items
                .iter()
                .map(|p| match p.get("text") {
                    Some(text) => serde_json::json!({"type": "text", "content": text}),
                    None => serde_json::json!({"type": p.get("type").cloned().unwrap_or(Json::Null)}),
                })
                .collect(),
        ),
        _ => Json::Array(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::store::{AttemptError, LogRecord};
    use switchyard_core::telemetry::AttemptSpan;
    use switchyard_providers::ErrorKind;

    fn finished(capture_content: bool) -> FinishedTrace {
        let attempt = |provider: &str, model: &str, error, n: u64| AttemptDetail {
            provider: provider.into(),
            model: model.into(),
            error,
            ms: 10.0,
            span: Some(AttemptSpan {
                span_id: SpanId([n as u8; 8]),
                start_unix_ns: 1_000 + n,
                status: Some(if error.is_some() { 503 } else { 200 }),
                system: "openai",
            }),
        };
        let overloaded = Some(AttemptError::Failed(ErrorKind::Overloaded));
        FinishedTrace {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent: Some(SpanId([3; 8])),
            tracestate: None,
            start_unix_ns: 1_000,
            end_unix_ns: 50_000_000,
            endpoint: Endpoint::ChatCompletions,
            record: LogRecord {
                request_id: "req-1".into(),
                requested_model: "support-bot".into(),
                provider: Some("backup".into()),
                model: Some("m2".into()),
                status: 200,
                outcome: "ok".into(),
                input_tokens: 12,
                output_tokens: 3,
                cache_status: Some("MISS".into()),
                customer_identifier: Some("acme".into()),
                attempt_log: vec![attempt("up", "m1", overloaded, 4), attempt("up", "m1", overloaded, 5), attempt("backup", "m2", None, 6)],
                ..LogRecord::default()
            },
            admission: None,
            cache: None,
            request_body: Some(
                r#"{"model":"support-bot","temperature":0.5,"max_tokens":64,"messages":[{"role":"user","content":"secret prompt"}]}"#
                    .into(),
            ),
            response_body: Some(
                r#"{"id":"chatcmpl-9","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}]}"#
                    .into(),
            ),
            stream_chunks: Vec::new(),
            capture_content,
        }
    }

    fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a Value> {
        s.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    #[test]
    fn the_request_span_carries_the_genai_attributes_and_attempts_their_order() {
        let spans = spans(&finished(false));
        let request = &spans[0];
        assert_eq!((request.name.as_str(), request.kind, request.parent), ("chat support-bot", Kind::Server, Some(SpanId([3; 8]))));
        assert_eq!(attr(request, "gen_ai.response.id"), Some(&Value::Str("chatcmpl-9".into())));
        assert_eq!(attr(request, "gen_ai.response.finish_reasons"), Some(&Value::StrArray(vec!["stop".into()])));
        assert_eq!(attr(request, "gen_ai.request.temperature"), Some(&Value::Double(0.5)));
        assert_eq!(attr(request, "gen_ai.request.max_tokens"), Some(&Value::Int(64)));
        assert_eq!(attr(request, "gen_ai.usage.input_tokens"), Some(&Value::Int(12)));
        assert_eq!(attr(request, "switchyard.customer"), Some(&Value::Str("acme".into())));
        assert_eq!(attr(request, "gen_ai.input.messages"), None, "no content unless asked");
        assert!(request.error.is_none());
        let attempts: Vec<(bool, i64, Option<&Value>)> = spans[1..]
            .iter()
            .map(|s| {
                let Some(Value::Bool(retry)) = attr(s, "switchyard.attempt.retry") else { panic!() };
                let Some(Value::Int(fallback)) = attr(s, "switchyard.attempt.fallback_index") else { panic!() };
                (*retry, *fallback, attr(s, "http.response.status_code"))
            })
            .collect();
        assert_eq!(attempts, [(false, 0, Some(&Value::Int(503))), (true, 0, Some(&Value::Int(503))), (false, 1, Some(&Value::Int(200)))],);
        assert!(spans[1..].iter().all(|s| s.kind == Kind::Client && s.parent == Some(SpanId([2; 8]))));
        assert_eq!(spans[1].error.as_deref(), Some("overloaded"));
    }

    #[test]
    fn a_streamed_answer_gives_its_id_finish_reason_and_captured_text() {
        let mut t = finished(true);
        t.response_body = None;
        t.record.stream = true;
        t.stream_chunks = [
            r#"{"id":"chatcmpl-s","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"id":"chatcmpl-s","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
            r#"{"id":"chatcmpl-s","choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
            r#"{"id":"chatcmpl-s","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
            r#"{"id":"chatcmpl-s","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
        ]
        .into_iter()
        .map(|c| bytes::Bytes::from_static(c.as_bytes()))
        .collect();
        let spans = spans(&t);
        assert_eq!(attr(&spans[0], "gen_ai.response.id"), Some(&Value::Str("chatcmpl-s".into())));
        assert_eq!(attr(&spans[0], "gen_ai.response.finish_reasons"), Some(&Value::StrArray(vec!["length".into()])));
        let Some(Value::Str(output)) = attr(&spans[0], "gen_ai.output.messages") else { panic!("output captured") };
        assert!(output.contains(r#""content":"Hello""#) && output.contains(r#""finish_reason":"length""#), "{output}");
    }

    #[test]
    fn content_only_when_captured_and_failures_are_errors() {
        let spans = spans(&finished(true));
        let Some(Value::Str(input)) = attr(&spans[0], "gen_ai.input.messages") else { panic!("input captured") };
        assert_eq!(input, r#"[{"parts":[{"content":"secret prompt","type":"text"}],"role":"user"}]"#);
        assert!(matches!(attr(&spans[0], "gen_ai.output.messages"), Some(Value::Str(s)) if s.contains("\"content\":\"hi\"")));

        let mut failed = finished(false);
        failed.record.outcome = "error".into();
        failed.record.status = 429;
        failed.record.error_type = Some("rate_limited".into());
        failed.admission = Some(Phase { span_id: SpanId([9; 8]), start_unix_ns: 1, end_unix_ns: 2, failed: true });
        let spans = super::spans(&failed);
        assert_eq!(attr(&spans[0], "error.type"), Some(&Value::Str("rate_limited".into())));
        assert!(spans[0].error.is_some());
        let admission = spans.iter().find(|s| s.name == "admission").unwrap();
        assert_eq!(admission.error.as_deref(), Some("rate_limited"));
    }
}
