//! The Responses API on the real binary: stored responses are scoped by tenant (a key of another
//! team can neither read, delete nor continue a response: 404, as for an unknown id), `store:
//! false` keeps nothing, a refused continuation is logged once, and a stream's events come in
//! order with their sequence numbers; an OpenAI target that speaks the Responses API gets the
//! client's request, with the stored conversation expanded into `input`.

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_testkit::GatewayProcess;

use crate::common::*;
use crate::governance::{create_key, ADMIN_KEY};

async fn send(gw: &GatewayProcess, method: Method, path: &str, key: &str, body: Option<Value>) -> (u16, String, Value) {
    let mut request = client().request(method, format!("{}{path}", gw.base_url())).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.expect("gateway answers");
    let status = r.status().as_u16();
    let id = r.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = r.text().await.unwrap();
    (status, id, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn stored_responses_are_scoped_by_tenant() {
    let config =
        format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nkeys: {{ require: true }}\nproviders:\n  mock: {{ type: mock }}\n");
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (_, alice) = create_key(&gw, json!({"name": "a", "team": "search"})).await;
    let (_, bob) = create_key(&gw, json!({"name": "b", "team": "billing"})).await;
    let (_, alice2) = create_key(&gw, json!({"name": "a2", "team": "search"})).await;

    let (status, _, first) =
        send(&gw, Method::POST, "/responses", &alice, Some(json!({"model": "mock/echo", "input": "secret plan"}))).await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap().to_string();

    // Another team: as if it did not exist, for every way to reach it.
    for (method, path, body) in [
        (Method::GET, format!("/responses/{id}"), None),
        (Method::GET, format!("/responses/{id}/input_items"), None),
        (Method::DELETE, format!("/responses/{id}"), None),
        (Method::POST, "/responses".to_string(), Some(json!({"model": "mock/echo", "input": "what was it?", "previous_response_id": id}))),
    ] {
        let (status, _, body) = send(&gw, method.clone(), &path, &bob, body).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "response_not_found");
        assert!(!body.to_string().contains("secret plan"));
    }
    let (_, request_id, _) =
        send(&gw, Method::POST, "/responses", &bob, Some(json!({"model": "mock/echo", "input": "x", "previous_response_id": id}))).await;
    let logged = record(gw.data_dir(), &request_id).await;
    assert_eq!((logged.status, logged.error_type.as_deref()), (404, Some("response_not_found")));

    // The same team, another key: the same tenant.
    let (status, _, again) = send(&gw, Method::GET, &format!("/responses/{id}"), &alice2, None).await;
    assert_eq!((status, again["output"][0]["content"][0]["text"].as_str()), (200, Some("secret plan")));
    let (status, _, next) =
        send(&gw, Method::POST, "/responses", &alice, Some(json!({"model": "mock/echo", "input": "and then", "previous_response_id": id})))
            .await;
    assert_eq!(status, 200, "{next}");
    assert!(next["usage"]["input_tokens"].as_u64().unwrap() > first["usage"]["input_tokens"].as_u64().unwrap(), "history was sent");

    let (status, _, deleted) = send(&gw, Method::DELETE, &format!("/responses/{id}"), &alice, None).await;
    assert_eq!((status, deleted), (200, json!({"id": id, "object": "response", "deleted": true})));
    let (status, _, _) = send(&gw, Method::GET, &format!("/responses/{id}"), &alice, None).await;
    assert_eq!(status, 404);

    // store: false keeps nothing.
    let (_, _, unstored) =
        send(&gw, Method::POST, "/responses", &alice, Some(json!({"model": "mock/echo", "input": "x", "store": false}))).await;
    let (status, _, _) = send(&gw, Method::GET, &format!("/responses/{}", unstored["id"].as_str().unwrap()), &alice, None).await;
    assert_eq!(status, 404);

    // Without a key: refused and logged by the pipeline, in OpenAI's shape.
    let r = client().post(format!("{}/responses", gw.base_url())).json(&json!({"model": "mock/echo", "input": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client().get(format!("{}/responses/{id}", gw.base_url())).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_stream_is_the_responses_events_in_order() {
    let gw = GatewayProcess::spawn(bin(), "providers:\n  mock: { type: mock }\n").await;
    let r = client()
        .post(format!("{}/responses", gw.base_url()))
        .json(&json!({"model": "mock/echo", "input": "one two", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter(|f| !f.trim().is_empty() && !f.starts_with(':'))
        .map(|f| {
            let name = f.lines().find_map(|l| l.strip_prefix("event: ")).unwrap().to_string();
            let data = f.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            (name, serde_json::from_str(data).unwrap())
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!((data["sequence_number"].as_u64(), data["type"].as_str()), (Some(i as u64), Some(name.as_str())));
    }
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["output"][0]["content"][0]["text"], "one two");
    assert_eq!(done["usage"]["output_tokens"], 2);
}

/// A Response as OpenAI answers with `store: false`.
fn openai_response(id: &str, text: &str, input_tokens: u64) -> Value {
    json!({
        "id": id, "object": "response", "created_at": 1756315696, "status": "completed", "error": null,
        "incomplete_details": null, "model": "gpt-5-mini-2025-08-07", "store": false,
        "output": [{"id": format!("msg_{id}"), "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "annotations": [], "text": text}]}],
        "usage": {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input_tokens + 4},
    })
}

#[tokio::test]
async fn an_openai_target_gets_the_clients_responses_request_with_the_conversation_expanded() {
    use switchyard_testkit::{FakeUpstream, Reply};
    let up = FakeUpstream::start(vec![
        Reply::json(openai_response("resp_up1", "Sunny.", 20).to_string()),
        Reply::json(openai_response("resp_up2", "Yes, 24C.", 31).to_string()),
    ])
    .await;
    let config = format!(
        "providers:\n  oa: {{ type: openai, base_url: \"{}\", api_key: sk-test-secret-key-123456, responses: true }}\n",
        up.base_url()
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let post = |body: String| {
        let url = format!("{}/responses", gw.base_url());
        async move { client().post(url).header("content-type", "application/json").body(body).send().await.unwrap() }
    };
    // Sent as written: the upstream gets the client's bytes, in the client's order.
    let first =
        post(r#"{"model":"oa/gpt-5-mini","instructions":"Be brief.","input":"Weather in Paris?","metadata":{"job":"w"}}"#.into()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["output"][0]["content"][0]["text"], "Sunny.");
    assert_eq!(first["metadata"], json!({"job": "w"}), "the client's own echo, not the upstream's");
    let sent = up.last_request();
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.body_str(), r#"{"model":"gpt-5-mini","instructions":"Be brief.","input":"Weather in Paris?","store":false}"#);

    let next = post(
        json!({"model": "oa/gpt-5-mini", "input": "Warm?", "previous_response_id": first["id"], "reasoning": {"effort": "low"}})
            .to_string(),
    )
    .await;
    assert_eq!(next.status(), 200);
    let request_id = next.headers()["x-request-id"].to_str().unwrap().to_string();
    let next: Value = next.json().await.unwrap();
    assert_eq!(
        (next["output"][0]["content"][0]["text"].as_str(), next["previous_response_id"].as_str()),
        (Some("Yes, 24C."), first["id"].as_str())
    );
    assert_eq!(
        up.last_request().json(),
        json!({"model": "gpt-5-mini", "reasoning": {"effort": "low"}, "store": false, "input": [
            {"type": "message", "role": "user", "content": "Weather in Paris?"},
            {"type": "message", "role": "assistant", "content": "Sunny."},
            {"type": "message", "role": "user", "content": "Warm?"},
        ]})
    );
    let logged = record(gw.data_dir(), &request_id).await;
    assert_eq!((logged.provider.as_deref(), logged.input_tokens, logged.output_tokens), (Some("oa"), 31, 4));
}

#[tokio::test]
async fn an_openai_targets_stream_comes_back_as_the_gateways_own_events_and_is_billed() {
    use switchyard_testkit::{FakeUpstream, Reply};
    let response = |status: &str, usage: Value| json!({"id": "resp_up", "object": "response", "status": status, "model": "gpt-5-mini-2025-08-07", "output": [], "usage": usage});
    let events = [
        json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress", Value::Null)}),
        json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": []}}),
        json!({"type": "response.output_text.delta", "sequence_number": 2, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hello"}),
        json!({"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": " there"}),
        json!({"type": "response.completed", "sequence_number": 4, "response": response("completed", json!({"input_tokens": 11, "output_tokens": 2, "total_tokens": 13}))}),
    ];
    let sse: String = events.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap())).collect();
    let up = FakeUpstream::start(vec![Reply::sse(sse)]).await;
    let config = format!(
        "providers:\n  oa: {{ type: openai, base_url: \"{}\", api_key: sk-test-secret-key-123456, responses: true }}\n",
        up.base_url()
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let r = client()
        .post(format!("{}/responses", gw.base_url()))
        .json(&json!({"model": "oa/gpt-5-mini", "input": "hi", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let text = r.text().await.unwrap();
    assert_eq!(up.last_request().json()["stream"], true);
    let done: Value = text
        .split("\n\n")
        .find_map(|f| f.strip_prefix("event: response.completed\ndata: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .expect("a response.completed event");
    assert_eq!(done["response"]["output"][0]["content"][0]["text"], "Hello there");
    assert_eq!(done["response"]["usage"]["input_tokens"], 11);
    let logged = record(gw.data_dir(), &request_id).await;
    assert_eq!((logged.input_tokens, logged.output_tokens), (11, 2));
}
