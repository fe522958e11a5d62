//! OpenAI Responses (`POST /v1/responses`): each scenario as a Responses client writes it, decoded
//! as the server's codec does (`to_chat`, then the canonical body `chat_body` builds — with no
//! stored conversation, as `previous_response_id` is the store's business), the answer written
//! back by `from_completion` / `Events` and read the way an OpenAI SDK reads a Response — every
//! rule of the Responses shape checked on the way.

use serde_json::{json, Value};
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::responses::{from_completion, to_chat, Event, Events, ResponseContext};

use super::{Inbound, Request};
use crate::outcome::{Answer, Outcome};
use crate::scenarios::{PDF_B64, PDF_NAME, PNG_B64};

pub fn inbound() -> Inbound {
    Inbound {
        title: "OpenAI Responses — `POST /v1/responses`",
        reads: "the Response object `from_completion` / `Events` wrote, read as an OpenAI SDK reads it: `message` items' `output_text` parts → \
                content, `reasoning` items' `summary_text` → reasoning, `function_call` items → tool calls (`call_id`, `name`, `arguments` \
                a JSON object), `status` `completed` (with function calls: `tool_calls`) / `incomplete` with `incomplete_details.reason` \
                `max_output_tokens` → `stop` / `tool_calls` / `length`, `usage.input_tokens` (cached included), `output_tokens`, \
                `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`; the object repeats the request's \
                `instructions`, `tools`, `reasoning`, `text` and `max_output_tokens`. A stream must be `response.created`, \
                `response.in_progress`, then per output item `response.output_item.added` (output indexes 0, 1, …, a call's `call_id` \
                and `name` on it), its parts and deltas of the item's kind, their `.done` events repeating the whole text or arguments \
                and `response.output_item.done`, with `sequence_number` 0, 1, … throughout, and last `response.completed` (or \
                `response.incomplete`) whose `response.output` is exactly the items streamed — or, when the upstream failed \
                mid-stream, `response.failed` and never `response.completed`",
        native: None,
        request,
        decode,
        read,
    }
}

/// As the server decodes `POST /v1/responses` (`http/responses/mod.rs`, `translate`), for a
/// request that continues no stored response.
fn decode(body: &[u8]) -> ChatRequest {
    let translated = to_chat(body).expect("scenario requests translate");
    assert!(translated.previous_response_id.is_none(), "the conformance requests continue no stored response");
    ChatRequest::parse(&translated.chat_body(&[])).expect("the translation is a valid request")
}

fn user(content: Value) -> Value {
    json!({"type": "message", "role": "user", "content": content})
}

fn text(t: &str) -> Value {
    json!({"type": "input_text", "text": t})
}

fn tools() -> Value {
    json!([{"type": "function", "name": "secret_retrieval_tool", "description": "A tool that requires a password to retrieve a secret.",
        "parameters": {"type": "object", "properties": {"password": {"type": "string"}}, "required": ["password"]}}])
}

fn plain() -> Value {
    json!({"model": "m", "instructions": "Answer briefly.", "input": [user(json!([text("What is 4200 + 42?")]))]})
}
fn tool_request() -> Value {
    json!({"model": "m", "max_output_tokens": 1024, "tools": tools(), "tool_choice": "auto",
        "input": "Retrieve the secrets for each password: mellon,radiance"})
}
fn round_trip() -> Value {
    json!({"model": "m", "max_output_tokens": 1024, "tools": tools(), "input": [
        user(json!("Retrieve the secrets for each password: mellon,radiance")),
        {"type": "function_call", "call_id": "call_1", "name": "secret_retrieval_tool", "arguments": "{\"password\":\"mellon\"}"},
        {"type": "function_call", "call_id": "call_2", "name": "secret_retrieval_tool", "arguments": "{\"password\":\"radiance\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "Welcome to Moria!"},
        {"type": "function_call_output", "call_id": "call_2", "output": "Life before Death"}]})
}
fn reasoning() -> Value {
    json!({"model": "m", "max_output_tokens": 16000, "reasoning": {"effort": "medium", "summary": "auto"},
        "input": "How many primes below 400 contain 79 as a substring?"})
}
fn image() -> Value {
    json!({"model": "m", "input": [user(json!([text("What is in this image?"),
        {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG_B64}"), "detail": "auto"}]))]})
}
fn pdf() -> Value {
    json!({"model": "m", "input": [user(json!([text("What does this document say?"),
        {"type": "input_file", "filename": PDF_NAME, "file_data": format!("data:application/pdf;base64,{PDF_B64}")}]))]})
}
fn structured() -> Value {
    json!({"model": "m", "input": "Extract the order item", "text": {"format": {"type": "json_schema", "name": "OrderItem", "strict": true,
        "schema": {"type": "object", "properties": {"product_name": {"type": "string"}, "price": {"type": "number"}, "quantity": {"type": "integer"}},
                   "required": ["product_name", "price", "quantity"], "additionalProperties": false}}}})
}
fn streamed(mut v: Value) -> Value {
    v["stream"] = json!(true);
    v
}

fn request(scenario: &str) -> Option<Request> {
    Request::translated(match scenario {
        "plain" | "cached" | "rate-limited" | "server-error" => plain(),
        "plain-stream" | "malformed-stream" | "mid-stream-error" => streamed(plain()),
        "tools" => tool_request(),
        "tools-stream" => streamed(tool_request()),
        "round-trip" => round_trip(),
        "reasoning" => reasoning(),
        "reasoning-stream" => streamed(reasoning()),
        "image" => image(),
        "pdf" => pdf(),
        "structured" => structured(),
        // No target speaks the Responses API itself: every request is translated.
        _ => return None,
    })
}

/// The context the server's codec builds: a response id and the request's echo fields.
fn context(request: &[u8]) -> ResponseContext {
    let echo = to_chat(request).map(|t| t.echo).unwrap_or_default();
    ResponseContext { id: "resp_0123456789abcdef".into(), created_at: 1_750_000_000, echo }
}

fn read(request: &[u8], answer: &Answer) -> Outcome {
    let mut o = Outcome::new();
    let ctx = context(request);
    let request: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
    match answer {
        Answer::Failed(kind) => o.error = Some(*kind),
        Answer::Complete(body) => {
            let (response, _) = from_completion(&ctx, body);
            let read = object(&mut o, &request, &response);
            (o.content, o.reasoning, o.calls) = (read.content, read.reasoning, read.calls);
        }
        Answer::Stream { chunks, error } => {
            let mut events = Events::new(ctx);
            let mut out = Vec::new();
            for (data, _) in chunks {
                events.chunk(data, &mut out);
            }
            o.error = *error;
            match error {
                // Failed before the first chunk: the gateway answers with an error status, not a stream.
                Some(_) if chunks.is_empty() => {}
                // The server writes the error's code (`upstream_…`) and message.
                Some(kind) => events.failed(&format!("upstream_{}", kind.as_str()), "the upstream provider failed", &mut out),
                None => events.done(&mut out),
            }
            stream(&mut o, &request, &out);
        }
    }
    o
}

fn check(o: &mut Outcome, ok: bool, why: impl FnOnce() -> String) {
    if !ok {
        o.shape.push(why());
    }
}

/// What a Response object's output says, in the outcome's terms.
#[derive(Default)]
struct Read {
    content: String,
    reasoning: String,
    calls: Vec<(String, String, String)>,
}

/// One output item, checked, added to `read`.
fn output_item(o: &mut Outcome, item: &Value, read: &mut Read) {
    let id = item["id"].as_str().unwrap_or("");
    check(o, item["status"] == "completed", || format!("a finished output item with status {}", item["status"]));
    match item["type"].as_str().unwrap_or("") {
        "message" => {
            check(o, item["role"] == "assistant" && id.starts_with("msg_"), || format!("not an assistant message item: {item}"));
            for part in item["content"].as_array().into_iter().flatten() {
                check(o, part["type"] == "output_text" && part["annotations"].is_array(), || format!("unexpected message content {part}"));
                read.content += part["text"].as_str().unwrap_or("");
            }
        }
        "reasoning" => {
            check(o, id.starts_with("rs_") && item["summary"].is_array(), || format!("a reasoning item without id or summary: {item}"));
            for s in item["summary"].as_array().into_iter().flatten() {
                check(o, s["type"] == "summary_text", || format!("unexpected reasoning summary part {s}"));
                read.reasoning += s["text"].as_str().unwrap_or("");
            }
        }
        "function_call" => {
            let text = |k: &str| item[k].as_str().unwrap_or("").to_string();
            let (call_id, name, arguments) = (text("call_id"), text("name"), text("arguments"));
            check(o, id.starts_with("fc_") && !call_id.is_empty() && !name.is_empty(), || {
                format!("a function_call item without id, call_id or name: {item}")
            });
            let parsed = serde_json::from_str::<Value>(&arguments);
            check(o, parsed.is_ok_and(|a| a.is_object()), || format!("function_call arguments are not a JSON object: {arguments}"));
            read.calls.push((call_id, name, arguments));
        }
        other => o.shape.push(format!("unexpected output item type `{other}`")),
    }
}

/// A finished Response object: its shape, what it repeats of the request, its status (→ the
/// finish reason), usage, and its output.
fn object(o: &mut Outcome, request: &Value, r: &Value) -> Read {
    check(o, r["object"] == "response" && r["id"].as_str().is_some_and(|i| i.starts_with("resp_")), || {
        format!("not a Response object with a resp_ id: {}", r["id"])
    });
    check(o, r["created_at"].is_u64() && r["model"].is_string(), || "a Response without created_at or model".into());
    for key in ["instructions", "tools", "reasoning", "text", "max_output_tokens"] {
        if let Some(sent) = request.get(key) {
            check(o, r[key] == *sent, || format!("the response's `{key}` {} is not the request's {sent}", r[key]));
        }
    }
    let mut read = Read::default();
    for i in r["output"].as_array().into_iter().flatten() {
        output_item(o, i, &mut read);
    }
    o.finish = Some(
        match (r["status"].as_str().unwrap_or(""), r["incomplete_details"]["reason"].as_str()) {
            ("completed", _) if !read.calls.is_empty() => "tool_calls",
            ("completed", _) => "stop",
            ("incomplete", Some("max_output_tokens")) => "length",
            ("incomplete", Some("content_filter")) => "content_filter",
            (status, reason) => {
                o.shape.push(format!("status `{status}` with incomplete_details reason {reason:?}"));
                "unknown"
            }
        }
        .to_string(),
    );
    check(o, (r["status"] == "incomplete") == r["incomplete_details"].is_object(), || {
        format!("incomplete_details {} with status {}", r["incomplete_details"], r["status"])
    });
    if !r["usage"].is_null() {
        usage(o, &r["usage"]);
    }
    read
}

fn usage(o: &mut Outcome, u: &Value) {
    let n = |v: &Value| v.as_u64();
    let (input, output) = (n(&u["input_tokens"]), n(&u["output_tokens"]));
    let (cached, reasoning) = (n(&u["input_tokens_details"]["cached_tokens"]), n(&u["output_tokens_details"]["reasoning_tokens"]));
    check(o, input.is_some() && output.is_some() && cached.is_some() && reasoning.is_some(), || {
        format!("usage lacks input_tokens, output_tokens, cached_tokens or reasoning_tokens: {u}")
    });
    let (input, output) = (input.unwrap_or(0), output.unwrap_or(0));
    check(o, n(&u["total_tokens"]) == Some(input + output), || format!("total_tokens is not input + output: {u}"));
    o.usage_seen = true;
    (o.usage_in, o.usage_out, o.cached, o.reasoning_tokens) = (input, output, cached.unwrap_or(0), reasoning.unwrap_or(0));
}

/// The item being streamed: its output index, id, type, and what its deltas added up to.
struct Open {
    at: u64,
    id: String,
    kind: String,
    text: String,
    /// A message's output_text part, or a reasoning item's summary part, is open.
    part: bool,
}

/// Reads the events as an SDK does, checking their order and that the end repeats them.
fn stream(o: &mut Outcome, request: &Value, events: &[Event]) {
    o.chunks = events.len();
    if events.is_empty() && o.error.is_some() {
        return;
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    for (i, (name, data)) in events.iter().enumerate() {
        check(o, data["type"] == *name, || format!("event `{name}` carries type {}", data["type"]));
        check(o, data["sequence_number"].as_u64() == Some(i as u64), || {
            format!("event {i} (`{name}`) has sequence_number {}", data["sequence_number"])
        });
    }
    check(o, names.starts_with(&["response.created", "response.in_progress"]), || {
        format!("the stream does not begin with response.created, response.in_progress: {names:?}")
    });
    for (_, data) in events.iter().take(2) {
        let r = &data["response"];
        check(o, r["status"] == "in_progress" && r["output"] == json!([]), || format!("the stream opens with response {r}"));
    }
    let terminal = ["response.completed", "response.incomplete", "response.failed"];
    let ends = names.iter().filter(|n| terminal.contains(n)).count();
    check(o, ends == 1 && names.last().is_some_and(|n| terminal.contains(n)), || {
        format!("the stream does not end with exactly one response.completed / .incomplete / .failed: {names:?}")
    });
    if o.error.is_some() {
        check(o, names.last() == Some(&"response.failed"), || format!("a failed stream was not ended by response.failed: {names:?}"));
    } else {
        check(o, !names.contains(&"response.failed"), || "a stream that finished properly was ended by response.failed".into());
    }
    let mut open: Option<Open> = None;
    let mut done: Vec<Value> = Vec::new();
    let mut streamed = Read::default();
    for (name, data) in events.iter().skip(2) {
        let at = data["output_index"].as_u64();
        let in_open = |open: &Option<Open>, kind: &str| {
            open.as_ref().is_some_and(|i| Some(i.at) == at && data["item_id"] == i.id.as_str() && i.kind == kind)
        };
        match *name {
            "response.output_item.added" => {
                let item = &data["item"];
                if open.is_some() || at != Some(done.len() as u64) {
                    o.indexes_in_order = false;
                }
                let kind = item["type"].as_str().unwrap_or("").to_string();
                check(o, item["status"] == "in_progress", || format!("an added item with status {}", item["status"]));
                if kind == "function_call"
                    && (item["call_id"].as_str().is_none_or(str::is_empty) || item["name"].as_str().is_none_or(str::is_empty))
                {
                    o.indexes_in_order = false;
                }
                let id = item["id"].as_str().unwrap_or("").to_string();
                open = Some(Open { at: at.unwrap_or(0), id, kind, text: String::new(), part: false });
            }
            "response.content_part.added" | "response.reasoning_summary_part.added" => {
                let kind = if *name == "response.content_part.added" { "message" } else { "reasoning" };
                check(o, in_open(&open, kind), || format!("`{name}` outside its {kind} item"));
                if let Some(i) = open.as_mut() {
                    check(o, !i.part, || format!("`{name}` with a part already open"));
                    i.part = true;
                }
            }
            "response.output_text.delta" | "response.reasoning_summary_text.delta" | "response.function_call_arguments.delta" => {
                let kind = match *name {
                    "response.output_text.delta" => "message",
                    "response.reasoning_summary_text.delta" => "reasoning",
                    _ => "function_call",
                };
                check(o, in_open(&open, kind), || format!("`{name}` outside its {kind} item"));
                let delta = data["delta"].as_str().unwrap_or("");
                if let Some(i) = open.as_mut() {
                    check(o, i.part || kind == "function_call", || format!("`{name}` before its part was added"));
                    i.text += delta;
                }
                match kind {
                    "message" => streamed.content += delta,
                    "reasoning" => streamed.reasoning += delta,
                    _ => {}
                }
            }
            "response.output_text.done" | "response.reasoning_summary_text.done" | "response.function_call_arguments.done" => {
                let (kind, key) = match *name {
                    "response.output_text.done" => ("message", "text"),
                    "response.reasoning_summary_text.done" => ("reasoning", "text"),
                    _ => ("function_call", "arguments"),
                };
                check(o, in_open(&open, kind), || format!("`{name}` outside its {kind} item"));
                let streamed_text = open.as_ref().map(|i| i.text.clone()).unwrap_or_default();
                check(o, data[key] == streamed_text.as_str(), || {
                    format!("`{name}` {key} {} is not the deltas' {streamed_text:?}", data[key])
                });
            }
            "response.content_part.done" | "response.reasoning_summary_part.done" => {
                let kind = if *name == "response.content_part.done" { "message" } else { "reasoning" };
                check(o, in_open(&open, kind), || format!("`{name}` outside its {kind} item"));
                if let Some(i) = open.as_mut() {
                    check(o, i.part && data["part"]["text"] == i.text.as_str(), || {
                        format!("`{name}` repeats {} not the deltas", data["part"])
                    });
                    i.part = false;
                }
            }
            "response.output_item.done" => match open.take() {
                Some(i) => {
                    let item = &data["item"];
                    check(o, at == Some(i.at) && item["id"] == i.id.as_str() && item["type"] == i.kind.as_str() && !i.part, || {
                        format!("response.output_item.done does not close item {} ({})", i.id, i.kind)
                    });
                    let mut one = Read::default();
                    output_item(o, item, &mut one);
                    let whole = match i.kind.as_str() {
                        "message" => one.content,
                        "reasoning" => one.reasoning,
                        _ => one.calls.first().map(|c| c.2.clone()).unwrap_or_default(),
                    };
                    // A reasoning item without a summary streams no deltas; its signature rides on the item.
                    check(o, whole == i.text, || format!("the done {} item holds {whole:?}, its deltas {:?}", i.kind, i.text));
                    streamed.calls.extend(one.calls);
                    done.push(item.clone());
                }
                None => o.shape.push("response.output_item.done with no item open".into()),
            },
            "response.completed" | "response.incomplete" => {
                check(o, open.is_none(), || format!("`{name}` with an item still open"));
                let r = &data["response"];
                let status = name.trim_start_matches("response.");
                check(o, r["status"] == status, || format!("`{name}` carries status {}", r["status"]));
                check(o, r["output"] == Value::Array(done.clone()), || {
                    format!("`{name}`'s output is not the items streamed:\n  output:   {}\n  streamed: {}", r["output"], json!(done))
                });
                let whole = object(o, request, r);
                check(o, whole.content == streamed.content && whole.reasoning == streamed.reasoning, || {
                    format!("`{name}` holds other text than the deltas")
                });
                o.usage_chunk_last = o.usage_seen;
            }
            "response.failed" => {
                let r = &data["response"];
                check(o, r["status"] == "failed" && r["error"]["code"].is_string() && r["error"]["message"].is_string(), || {
                    format!("response.failed without status failed and an error: {r}")
                });
                // The items finished before the failure as they were; the one it cut off is not `completed`.
                let output = r["output"].as_array().map_or(&[][..], Vec::as_slice);
                check(o, output.get(..done.len()) == Some(done.as_slice()), || {
                    format!("response.failed lists other items than were streamed: {r}")
                });
                check(o, output.iter().skip(done.len()).all(|i| i["status"] == "incomplete"), || {
                    format!("response.failed lists an item it cut off as {}", output.last().map_or(Value::Null, |i| i["status"].clone()))
                });
            }
            other => o.shape.push(format!("unexpected event `{other}`")),
        }
    }
    (o.content, o.reasoning, o.calls) = (streamed.content, streamed.reasoning, streamed.calls);
}
