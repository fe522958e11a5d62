//! The mock as an agent loop sees it: tool calls answered with results end in a text answer,
//! streamed and not, however the loop nudges it on.

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchyard_protocol::openai::ChatRequest;

use super::{Mock, MockConfig};
use crate::{ChatResponse, Provider};

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

/// One answer as (finish_reason, text, tool calls), from either a body or a stream's chunks.
async fn ask(mock: &Mock, body: &Value) -> (String, String, Vec<Value>) {
    let request = ChatRequest::parse(body.to_string().as_bytes()).unwrap();
    match mock.chat(&request, "echo").await.unwrap() {
        ChatResponse::Complete { body, .. } => {
            let v: Value = serde_json::from_slice(&body).unwrap();
            let choice = &v["choices"][0];
            let calls = choice["message"]["tool_calls"].as_array().cloned().unwrap_or_default();
            let text = choice["message"]["content"].as_str().unwrap_or_default().to_string();
            (choice["finish_reason"].as_str().unwrap().to_string(), text, calls)
        }
        ChatResponse::Stream(mut chunks) => {
            let (mut finish, mut text, mut call) = (String::new(), String::new(), None::<Value>);
            while let Some(chunk) = chunks.next().await {
                let v: Value = serde_json::from_slice(&chunk.unwrap().data).unwrap();
                let Some(choice) = v["choices"].get(0) else { continue };
                text += choice["delta"]["content"].as_str().unwrap_or_default();
                if let Some(delta) = choice["delta"]["tool_calls"].get(0) {
                    let call = call.get_or_insert_with(|| delta.clone());
                    if call != delta {
                        let more = delta["function"]["arguments"].as_str().unwrap_or_default();
                        let args = format!("{}{more}", call["function"]["arguments"].as_str().unwrap_or_default());
                        call["function"]["arguments"] = json!(args);
                    }
                }
                if let Some(f) = choice["finish_reason"].as_str() {
                    finish = f.to_string();
                }
            }
            (finish, text, call.into_iter().collect())
        }
    }
}

/// Runs an agent loop for at most five turns: every tool call is answered with `sunny`, then
/// `nudge` (if any) is appended as a user message. Returns the turns taken and the final text.
async fn agent_loop(stream: bool, tool_choice: &str, nudge: Option<&str>) -> (usize, String) {
    let mock = Mock::new(MockConfig::default()).unwrap();
    let mut messages = vec![json!({"role": "user", "content": "weather in Paris"})];
    for turn in 1..=5 {
        let body = json!({"model": "echo", "messages": messages, "tools": weather_tool(), "tool_choice": tool_choice, "stream": stream});
        let (finish, text, calls) = ask(&mock, &body).await;
        if finish != "tool_calls" {
            assert_eq!(finish, "stop");
            return (turn, text);
        }
        assert_eq!(calls.len(), 1);
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
        messages.push(json!({"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"}));
        if let Some(nudge) = nudge {
            messages.push(json!({"role": "user", "content": nudge}));
        }
    }
    panic!("the agent loop did not end in five turns (stream={stream}, tool_choice={tool_choice}, nudge={nudge:?})");
}

#[tokio::test]
async fn an_agent_loop_ends_in_text_once_the_tool_results_are_in() {
    for stream in [false, true] {
        for tool_choice in ["auto", "required"] {
            for nudge in [None, Some("go on")] {
                let (turns, text) = agent_loop(stream, tool_choice, nudge).await;
                assert_eq!(
                    (turns, text.as_str()),
                    (2, "tool result: sunny"),
                    "stream={stream}, tool_choice={tool_choice}, nudge={nudge:?}"
                );
            }
        }
    }
}
