//! What the mock answers: echo or fixed text, a tool call when tools are offered and asked for,
//! text once the results of its tool calls are in (so that an agent loop ends), and usage counted
//! in words (a token is a whitespace-separated word; 3 extra per message).

use serde_json::{json, Map, Value};
use switchyard_protocol::openai::{ChatRequest, Message, RequestFormatError, Tool};
use switchyard_protocol::Usage;

pub struct Meta {
    pub id: String,
    pub created: u64,
    pub model: String,
}

pub enum Content {
    Text(String),
    ToolCall { name: String, arguments: String },
}

pub struct Reply {
    pub content: Content,
    pub usage: Usage,
}

pub const TOOL_CALL_ID: &str = "call_mock_0";

pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

pub fn compose(request: &ChatRequest, model: &str, fixed: Option<&str>) -> Result<Reply, RequestFormatError> {
    let messages = request.messages();
    let last = messages.last().expect("parse guarantees at least one message");
    let last_user = messages.iter().rev().find(|m| m.role == "user").map(|m| m.text()).unwrap_or_default();
    let tools = request.tools()?;
    let choice = request.tool_choice()?;
    let results = tool_results(messages);
    let wants_tool = !tools.is_empty() && !choice.as_ref().is_some_and(|c| c.is_none()) && last.role == "user";

    let content = if !results.is_empty() {
        // Whatever follows the results (a nudge to go on, `tool_choice: required`), calling a
        // tool again would keep an agent loop going forever: the mock answers from them.
        Content::Text(summary(&results))
    } else if wants_tool {
        let tool = match choice.as_ref().and_then(|c| c.named()) {
            Some(name) => tools
                .iter()
                .find(|t| t.function.name == name)
                .ok_or_else(|| RequestFormatError::field("tool_choice", format!("tool_choice names `{name}`, which is not in `tools`")))?,
            None => &tools[0],
        };
        Content::ToolCall { name: tool.function.name.clone(), arguments: arguments_for(tool, &last_user) }
    } else if last.role == "tool" {
        Content::Text(format!("tool result: {}", last.text()))
    } else {
        match fixed {
            Some(text) if model != "echo" => Content::Text(text.to_string()),
            _ => Content::Text(last_user),
        }
    };
    let input = messages.iter().map(|m| words(&m.text()) + 3).sum();
    let output = match &content {
        Content::Text(t) => words(t),
        Content::ToolCall { arguments, .. } => words(arguments) + 1,
    };
    Ok(Reply { content, usage: Usage { input_tokens: input, output_tokens: output, ..Usage::default() } })
}

/// The results sent back for the conversation's latest tool calls: the `tool` messages after the
/// last assistant turn, when that turn called tools. Empty when the latest turn was text (a new
/// question may call a tool again) or the results are not in yet.
fn tool_results(messages: &[Message]) -> Vec<String> {
    let Some(turn) = messages.iter().rposition(|m| m.role == "assistant") else { return Vec::new() };
    if messages[turn].tool_calls.as_ref().is_none_or(Vec::is_empty) {
        return Vec::new();
    }
    messages[turn + 1..].iter().filter(|m| m.role == "tool").map(Message::text).collect()
}

/// The text answer to tool results: `tool result: …`, or `tool results: …; …` for several.
fn summary(results: &[String]) -> String {
    match results {
        [one] => format!("tool result: {one}"),
        many => format!("tool results: {}", many.join("; ")),
    }
}

/// A JSON object with every required parameter filled: strings with the user's text.
fn arguments_for(tool: &Tool, user_text: &str) -> String {
    let params = tool.function.parameters.as_ref();
    let required = params.and_then(|p| p.get("required")).and_then(Value::as_array).cloned().unwrap_or_default();
    let props = params.and_then(|p| p.get("properties"));
    let mut args = Map::new();
    for name in required.iter().filter_map(Value::as_str) {
        let kind = props.and_then(|p| p.get(name)).and_then(|p| p.get("type")).and_then(Value::as_str);
        let value = match kind {
            Some("integer" | "number") => json!(0),
            Some("boolean") => json!(false),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!(user_text),
        };
        args.insert(name.to_string(), value);
    }
    Value::Object(args).to_string()
}

impl Reply {
    pub fn finish_reason(&self) -> &'static str {
        match self.content {
            Content::Text(_) => "stop",
            Content::ToolCall { .. } => "tool_calls",
        }
    }

    pub fn usage_json(&self) -> Value {
        json!({
            "prompt_tokens": self.usage.input_tokens,
            "completion_tokens": self.usage.output_tokens,
            "total_tokens": self.usage.total(),
        })
    }

    pub fn completion_json(&self, meta: &Meta) -> Vec<u8> {
        let message = match &self.content {
            Content::Text(t) => json!({"role": "assistant", "content": t, "refusal": null}),
            Content::ToolCall { name, arguments } => json!({
                "role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": TOOL_CALL_ID, "type": "function", "function": {"name": name, "arguments": arguments}}],
            }),
        };
        let body = json!({
            "id": meta.id, "object": "chat.completion", "created": meta.created, "model": meta.model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.finish_reason()}],
            "usage": self.usage_json(),
        });
        serde_json::to_vec(&body).expect("json serialisation")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: Value) -> ChatRequest {
        ChatRequest::parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn echoes_and_counts_words() {
        let r = compose(&req(json!({"model":"mock/echo","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there gateway"}]})), "echo", Some("fixed")).unwrap();
        assert!(matches!(&r.content, Content::Text(t) if t == "hello there gateway"));
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (2 + 3 + 3 + 3, 3));
    }

    #[test]
    fn fixed_text_for_other_models() {
        let r = compose(&req(json!({"model":"x","messages":[{"role":"user","content":"hi"}]})), "fast", Some("ok then")).unwrap();
        assert!(matches!(&r.content, Content::Text(t) if t == "ok then"));
    }

    #[test]
    fn tool_call_then_tool_result_round_trip() {
        let tools = json!([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}}}]);
        let r = compose(&req(json!({"model":"m","messages":[{"role":"user","content":"Paris"}],"tools":tools})), "echo", None).unwrap();
        let Content::ToolCall { name, arguments } = &r.content else { panic!("expected a tool call") };
        assert_eq!(name, "get_weather");
        assert_eq!(serde_json::from_str::<Value>(arguments).unwrap(), json!({"city":"Paris","days":0}));
        assert_eq!(r.finish_reason(), "tool_calls");

        let r = compose(&req(json!({"model":"m","tools":tools,"messages":[
            {"role":"user","content":"Paris"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_mock_0","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"call_mock_0","content":"sunny"}]})), "echo", None).unwrap();
        assert!(matches!(&r.content, Content::Text(t) if t == "tool result: sunny"));

        let none = compose(
            &req(json!({"model":"m","messages":[{"role":"user","content":"Paris"}],"tools":tools,"tool_choice":"none"})),
            "echo",
            None,
        )
        .unwrap();
        assert!(matches!(none.content, Content::Text(_)));
        let bad = compose(
            &req(
                json!({"model":"m","messages":[{"role":"user","content":"Paris"}],"tools":tools,"tool_choice":{"type":"function","function":{"name":"nope"}}}),
            ),
            "echo",
            None,
        );
        assert_eq!(bad.err().unwrap().param.as_deref(), Some("tool_choice"));
    }

    #[test]
    fn results_of_the_latest_tool_calls_are_answered_in_text_and_a_new_question_may_call_again() {
        let tools = json!([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]);
        let calls = json!([
            {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{}"}},
            {"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{}"}}]);
        let asked = json!({"role":"assistant","content":null,"tool_calls":calls});
        // Several results, then a nudge and a required tool: still the answer, not another call.
        let r = compose(
            &req(json!({"model":"m","tools":tools,"tool_choice":"required","messages":[
            {"role":"user","content":"Paris and Rome"}, asked,
            {"role":"tool","tool_call_id":"call_a","content":"sunny"},
            {"role":"tool","tool_call_id":"call_b","content":"rain"},
            {"role":"user","content":"go on"}]})),
            "echo",
            None,
        )
        .unwrap();
        assert!(matches!(&r.content, Content::Text(t) if t == "tool results: sunny; rain"), "{:?}", r.finish_reason());
        assert_eq!(r.finish_reason(), "stop");
        // After a text answer, a new question is a new turn: a tool may be called again.
        let r = compose(
            &req(json!({"model":"m","tools":tools,"messages":[
            {"role":"user","content":"Paris"}, asked,
            {"role":"tool","tool_call_id":"call_a","content":"sunny"},
            {"role":"assistant","content":"tool result: sunny"},
            {"role":"user","content":"Rome"}]})),
            "echo",
            None,
        )
        .unwrap();
        assert!(matches!(&r.content, Content::ToolCall { arguments, .. } if arguments == r#"{"city":"Rome"}"#));
    }
}
