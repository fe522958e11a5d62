"""The official `anthropic` SDK against the gateway's Messages API (`/v1/messages`).

Two routes: to an Anthropic upstream that replays recorded Anthropic traffic byte for byte
(crates/testkit/fixtures/anthropic, see its NOTICE.md) — the request is forwarded as the client
wrote it — and to an OpenAI-compatible upstream, through the canonical translation. The SDK must
accumulate exactly what the provider said, and errors must be Anthropic's.
"""

import base64
import json
import zlib
from pathlib import Path

import anthropic
import pytest

from conftest import FakeUpstream, fake_upstream, running_gateway

FIXTURES = Path(__file__).resolve().parents[3] / "crates" / "testkit" / "fixtures" / "anthropic"
ANTHROPIC_KEY = "sk-ant-sdk-test-key-0123456789"

messages_upstream = pytest.fixture(scope="module", name="messages_upstream")(fake_upstream)
openai_upstream = pytest.fixture(scope="module", name="openai_upstream")(fake_upstream)


def recorded(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def serve(upstream: FakeUpstream, body: bytes, content_type: str, status: int = 200) -> None:
    upstream.received.clear()
    upstream.respond = lambda req: ("raw", (status, content_type, body))


@pytest.fixture(scope="module")
def gateway(messages_upstream, openai_upstream, tmp_path_factory):
    config = f"""
providers:
  anthropic:
    type: anthropic
    base_url: http://127.0.0.1:{messages_upstream.port}
    api_key: {ANTHROPIC_KEY}
  bedrock:
    type: bedrock
    base_url: http://127.0.0.1:{messages_upstream.port}
    region: us-east-1
    access_key_id: AKIDEXAMPLE
    secret_access_key: sdk-test-secret
  compat:
    type: openai
    base_url: http://127.0.0.1:{openai_upstream.port}/v1
    api_key: sk-compat
models:
  claude: {{ targets: [ {{ provider: anthropic, model: claude-sonnet-4-0 }} ] }}
  local: {{ targets: [ {{ provider: compat, model: llama-3 }} ] }}
"""
    yield from running_gateway(tmp_path_factory.mktemp("gw-messages"), config)


def client(gw, prefix: str = "") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.root + prefix, api_key="sk-unused", max_retries=0, timeout=30.0)


# ---------------------------------------------------------------- to Anthropic: forwarded


def test_create_returns_what_anthropic_said_and_forwards_the_request_as_written(messages_upstream, gateway):
    serve(messages_upstream, recorded("usage-cache-read.json"), "application/json")
    answer = json.loads(recorded("usage-cache-read.json"))
    system = [{"type": "text", "text": "You are terse. " * 40, "cache_control": {"type": "ephemeral"}}]
    raw = client(gateway).messages.with_raw_response.create(
        model="claude", max_tokens=300, system=system, messages=[{"role": "user", "content": "Hi"}],
        metadata={"user_id": "customer-7"}, extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    msg = raw.parse()
    assert msg.content[0].text == answer["content"][0]["text"]
    assert msg.stop_reason == answer["stop_reason"]
    assert msg.usage.cache_read_input_tokens == answer["usage"]["cache_read_input_tokens"]
    assert msg.usage.output_tokens == answer["usage"]["output_tokens"]
    # The input that is neither read from nor written to the cache, as Anthropic counts it.
    assert msg.usage.input_tokens == answer["usage"]["input_tokens"]
    sent = messages_upstream.received[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent.body == {"model": "claude-sonnet-4-0", "max_tokens": 300, "system": system,
                         "messages": [{"role": "user", "content": "Hi"}], "metadata": {"user_id": "customer-7"}}
    # Logged once, with Anthropic's metadata.user_id as the customer and the cache reads priced.
    rec = gateway.wait_for_log(raw.headers["x-request-id"])
    assert rec["customer_identifier"] == "customer-7" and rec["status"] == 200
    assert rec["cached_tokens"] == answer["usage"]["cache_read_input_tokens"]


def test_stream_with_thinking_accumulates_to_the_recorded_message(messages_upstream, gateway):
    serve(messages_upstream, recorded("thinking-stream.sse"), "text/event-stream")
    with client(gateway).messages.stream(
            model="claude", max_tokens=16000, thinking={"type": "enabled", "budget_tokens": 6400},
            messages=[{"role": "user", "content": "How many primes below 400 contain 79?"}]) as stream:
        final = stream.get_final_message()
    thinking, text, signature = "", "", ""
    for line in recorded("thinking-stream.sse").decode().splitlines():
        if line.startswith("data: "):
            ev = json.loads(line[6:])
            delta = ev.get("delta", {})
            thinking += delta.get("thinking", "")
            text += delta.get("text", "")
            signature += delta.get("signature", "")
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "text"]
    assert final.content[0].thinking == thinking
    assert final.content[0].signature == signature and signature
    assert final.content[1].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    assert messages_upstream.received[-1].body["thinking"] == {"type": "enabled", "budget_tokens": 6400}


def test_a_tool_use_loop_round_trips_ids_and_inputs(messages_upstream, gateway):
    serve(messages_upstream, recorded("tool-call-parallel.json"), "application/json")
    tools = [{"name": "secret_retrieval_tool", "description": "Retrieve a secret.",
              "input_schema": {"type": "object", "properties": {"password": {"type": "string"}}, "required": ["password"]}}]
    first = client(gateway).messages.create(
        model="claude", max_tokens=500, tools=tools, messages=[{"role": "user", "content": "mellon,radiance"}])
    uses = [b for b in first.content if b.type == "tool_use"]
    expected = [b for b in json.loads(recorded("tool-call-parallel.json"))["content"] if b["type"] == "tool_use"]
    assert [(u.id, u.name, u.input) for u in uses] == [(b["id"], b["name"], b["input"]) for b in expected]
    assert first.stop_reason == "tool_use"

    serve(messages_upstream, recorded("tool-result-followup.json"), "application/json")
    results = [{"type": "tool_result", "tool_use_id": u.id, "content": f"secret for {u.input['password']}"} for u in uses]
    history = [{"role": "user", "content": "mellon,radiance"},
               {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
               {"role": "user", "content": results}]
    second = client(gateway).messages.create(model="claude", max_tokens=500, tools=tools, messages=history)
    assert second.content[0].text == json.loads(recorded("tool-result-followup.json"))["content"][0]["text"]
    assert messages_upstream.received[-1].body["messages"] == history


def test_upstream_errors_are_anthropic_errors(messages_upstream, gateway):
    serve(messages_upstream, recorded("error-429-rate-limit.json"), "application/json", status=429)
    with pytest.raises(anthropic.RateLimitError) as e:
        client(gateway).messages.create(model="claude", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "rate_limit_error"
    serve(messages_upstream, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
          "application/json", status=529)
    with pytest.raises(anthropic.APIStatusError) as e:
        client(gateway).messages.create(model="claude", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 529 and e.value.body["error"]["type"] == "overloaded_error"


def test_gateway_errors_are_anthropic_errors(gateway):
    with pytest.raises(anthropic.NotFoundError) as e:
        client(gateway).messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["error"]["type"] == "not_found_error" and "no-such-model" in e.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as e:
        client(gateway).messages.create(model="claude", max_tokens=5, messages=[{"role": "robot", "content": "x"}])
    assert "messages[0].role" in e.value.body["error"]["message"]


# ---------------------------------------------------------------- to an OpenAI-compatible upstream


CLAUDE_CODE_TOOLS = [
    {"name": name, "description": f"The {name} tool.",
     "input_schema": {"type": "object", "properties": {"arg": {"type": "string"}}, "required": ["arg"]}}
    for name in ["Bash", "Read", "Edit", "Write", "Glob", "Grep", "TodoWrite", "WebFetch"]
]


def tool_call_stream(model: str) -> list[dict]:
    base = {"id": "chatcmpl-cc", "object": "chat.completion.chunk", "created": 1, "model": model}
    delta = lambda d, finish=None: dict(base, choices=[{"index": 0, "delta": d, "finish_reason": finish}])
    return [
        delta({"role": "assistant", "content": ""}),
        delta({"content": "Let me look."}),
        delta({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": ""}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": "{\"arg\": "}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": "\"ls -la\"}"}}]}),
        delta({}, "tool_calls"),
        dict(base, choices=[], usage={"prompt_tokens": 1200, "completion_tokens": 20, "total_tokens": 1220,
                                      "prompt_tokens_details": {"cached_tokens": 1000}}),
    ]


def test_a_claude_code_shaped_stream_through_an_openai_compatible_upstream(openai_upstream, gateway):
    openai_upstream.received.clear()
    openai_upstream.respond = lambda req: ("sse", tool_call_stream("llama-3"))
    system = [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
              {"type": "text", "text": "Work in /repo."}]
    with client(gateway, "/anthropic").messages.stream(
            model="local", max_tokens=32000, system=system, tools=CLAUDE_CODE_TOOLS,
            thinking={"type": "enabled", "budget_tokens": 4000},
            messages=[{"role": "user", "content": [{"type": "text", "text": "list files", "cache_control": {"type": "ephemeral"}}]}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Let me look."
    assert (final.content[1].id, final.content[1].name, final.content[1].input) == ("call_1", "Bash", {"arg": "ls -la"})
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (200, 1000, 20)
    sent = openai_upstream.received[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "llama-3" and sent.body["stream"] is True
    assert sent.body["messages"][0] == {"role": "system", "content": "You are Claude Code.\n\nWork in /repo."}
    assert sent.body["messages"][1] == {"role": "user", "content": [{"type": "text", "text": "list files"}]}
    assert [t["function"]["name"] for t in sent.body["tools"]] == [t["name"] for t in CLAUDE_CODE_TOOLS]
    assert sent.body["reasoning_effort"] == "medium"
    assert "thinking" not in sent.body and "system" not in sent.body


def test_count_tokens(gateway):
    n = client(gateway).messages.count_tokens(model="claude", messages=[{"role": "user", "content": "hello " * 100}])
    assert 100 <= n.input_tokens <= 400


def test_cache_writes_are_reported_as_anthropic_reports_them(messages_upstream, gateway):
    serve(messages_upstream, recorded("usage-cache-write.json"), "application/json")
    answer = json.loads(recorded("usage-cache-write.json"))["usage"]
    msg = client(gateway).messages.create(model="claude", max_tokens=300, messages=[{"role": "user", "content": "Hi"}])
    assert (msg.usage.input_tokens, msg.usage.cache_creation_input_tokens, msg.usage.cache_read_input_tokens) == \
        (answer["input_tokens"], answer["cache_creation_input_tokens"], answer["cache_read_input_tokens"])
    assert answer["cache_creation_input_tokens"] > 0


def eventstream_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream frame with string headers: prelude (lengths and their CRC32),
    headers, payload, and the CRC32 of all of it."""
    encoded = b"".join(bytes([len(name)]) + name.encode() + b"\x07" + len(value.encode()).to_bytes(2, "big") + value.encode()
                       for name, value in headers.items())
    prelude = (12 + len(encoded) + len(payload) + 4).to_bytes(4, "big") + len(encoded).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + encoded + payload
    return message + zlib.crc32(message).to_bytes(4, "big")


def invoke_stream(sse: bytes) -> bytes:
    """A recorded Anthropic stream as Bedrock's InvokeModelWithResponseStream sends it: each
    event's JSON, base64-encoded, in the `bytes` of a `chunk` event."""
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    events = [line[len(b"data: "):] for line in sse.splitlines() if line.startswith(b"data: ")]
    return b"".join(eventstream_frame(headers, json.dumps({"bytes": base64.b64encode(e).decode()}).encode()) for e in events)


def test_a_claude_code_shaped_stream_to_bedrock_claude_goes_to_invoke_model_as_written(messages_upstream, gateway):
    sse = recorded("tool-call-parallel-stream.sse")
    serve(messages_upstream, invoke_stream(sse), "application/vnd.amazon.eventstream")
    system = [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}]
    tools = [{"name": "secret_retrieval_tool", "description": "Retrieve a secret.",
              "input_schema": {"type": "object", "properties": {"password": {"type": "string"}}, "required": ["password"]}}]
    tools += CLAUDE_CODE_TOOLS
    with client(gateway).messages.stream(
            model="bedrock/anthropic.claude-sonnet-4-20250514-v1:0", max_tokens=4096, system=system, tools=tools,
            messages=[{"role": "user", "content": "Retrieve the secrets for: mellon,radiance"}]) as stream:
        final = stream.get_final_message()
    expected = {}
    for line in sse.splitlines():
        if not line.startswith(b"data: "):
            continue
        event = json.loads(line[len(b"data: "):])
        if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
            expected[event["index"]] = [event["content_block"]["id"], event["content_block"]["name"], ""]
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "input_json_delta":
            expected[event["index"]][2] += event["delta"]["partial_json"]
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [(u.id, u.name, u.input) for u in uses] == [(i, n, json.loads(a)) for i, n, a in expected.values()] and len(uses) == 2
    assert final.stop_reason == "tool_use"
    sent = messages_upstream.received[-1]
    assert sent.path == "/model/anthropic.claude-sonnet-4-20250514-v1%3A0/invoke-with-response-stream"
    # The Messages request as written: no translation to Converse, `stream` in the path, no `model`.
    assert (sent.body["system"], sent.body["tools"]) == (system, tools)
    assert sent.body["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in sent.body and "stream" not in sent.body
