"""The official OpenAI SDK against native (non-OpenAI) providers behind the gateway.

The upstream replays recorded Anthropic traffic byte for byte (crates/testkit/fixtures/anthropic,
see its NOTICE.md); the SDK must accumulate exactly what the provider streamed.
"""

import json
from pathlib import Path

import pydantic
import pytest

from conftest import FakeUpstream, accumulate_stream, fake_upstream, running_gateway

ALL_FIXTURES = Path(__file__).resolve().parents[3] / "crates" / "testkit" / "fixtures"
FIXTURES = ALL_FIXTURES / "anthropic"
ANTHROPIC_KEY = "sk-ant-sdk-test-key-0123456789"

TOOLS = [{
    "type": "function",
    "function": {
        "name": "secret_retrieval_tool",
        "description": "A tool that requires a password to retrieve a secret.",
        "parameters": {"type": "object", "properties": {"password": {"type": "string"}},
                       "required": ["password"], "additionalProperties": False},
    },
}]


def stream_tool_calls(client, model: str) -> tuple[list[tuple[str, str, str]], str | None, object]:
    """Streams a tool-call request; returns (id, name, arguments) per index, the finish reason, usage."""
    stream = client.chat.completions.create(
        model=model, stream=True, stream_options={"include_usage": True}, tools=TOOLS,
        messages=[{"role": "user", "content": "Retrieve the secrets for: mellon,radiance"}])
    _, calls, finish, usage = accumulate_stream(stream)
    return calls, finish, usage


anthropic_upstream = pytest.fixture(scope="module", name="anthropic_upstream")(fake_upstream)
gemini_upstream = pytest.fixture(scope="module", name="gemini_upstream")(fake_upstream)
multi_upstream = pytest.fixture(scope="module", name="multi_upstream")(fake_upstream)


def serve(upstream: FakeUpstream, body: bytes, content_type: str, status: int = 200) -> None:
    """Answers every following request with these recorded bytes."""
    upstream.received.clear()
    upstream.respond = lambda req: ("raw", (status, content_type, body))


def recorded(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def recorded_tool_calls(sse_name: str) -> list[tuple[str, str, str]]:
    """(id, name, arguments) of each tool_use block, read straight from the recorded events."""
    calls: list[list[str]] = []
    for line in recorded(sse_name).decode().splitlines():
        if not line.startswith("data: "):
            continue
        ev = json.loads(line[len("data: "):])
        if ev["type"] == "content_block_start" and ev["content_block"]["type"] == "tool_use":
            calls.append([ev["content_block"]["id"], ev["content_block"]["name"], ""])
        elif ev["type"] == "content_block_delta" and ev["delta"]["type"] == "input_json_delta":
            calls[-1][2] += ev["delta"]["partial_json"]
    return [tuple(c) for c in calls]




@pytest.fixture(scope="module")
def anthropic_gateway(anthropic_upstream, tmp_path_factory):
    config = f"""
providers:
  anthropic:
    type: anthropic
    base_url: http://127.0.0.1:{anthropic_upstream.port}
    api_key: {ANTHROPIC_KEY}
models:
  claude: {{ targets: [ {{ provider: anthropic, model: claude-sonnet-4-0 }} ] }}
"""
    yield from running_gateway(tmp_path_factory.mktemp("gw-anthropic"), config)


def test_streamed_parallel_tool_call_arrives_exactly(anthropic_upstream, anthropic_gateway):
    serve(anthropic_upstream, recorded("tool-call-parallel-stream.sse"), "text/event-stream")
    got, finish, usage = stream_tool_calls(anthropic_gateway.client(), "claude")
    assert got == recorded_tool_calls("tool-call-parallel-stream.sse")
    assert finish == "tool_calls"
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    sent = anthropic_upstream.received[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.body["tools"][0]["input_schema"]["required"] == ["password"]


def test_non_streamed_tool_call_and_text(anthropic_upstream, anthropic_gateway):
    serve(anthropic_upstream, recorded("tool-call-parallel.json"), "application/json")
    reply = anthropic_gateway.client().chat.completions.create(
        model="claude", tools=TOOLS, messages=[{"role": "user", "content": "mellon,radiance"}])
    expected = [b for b in json.loads(recorded("tool-call-parallel.json"))["content"] if b["type"] == "tool_use"]
    calls = reply.choices[0].message.tool_calls
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == \
        [(b["id"], b["name"], b["input"]) for b in expected]


class OrderItem(pydantic.BaseModel):
    product_name: str
    price: float
    quantity: int


def test_parse_with_a_pydantic_schema(anthropic_upstream, anthropic_gateway):
    serve(anthropic_upstream, recorded("structured-output-json-schema.json"), "application/json")
    completion = anthropic_gateway.client().chat.completions.parse(
        model="claude", response_format=OrderItem,
        messages=[{"role": "user", "content": "Extract the order item"}])
    item = completion.choices[0].message.parsed
    assert isinstance(item, OrderItem)
    expected = json.loads(json.loads(recorded("structured-output-json-schema.json"))["content"][0]["text"])
    assert item.model_dump() == expected
    fmt = anthropic_upstream.received[-1].body["output_config"]["format"]
    assert fmt["type"] == "json_schema" and set(fmt["schema"]["required"]) == {"product_name", "price", "quantity"}


def test_provider_errors_keep_the_openai_shape(anthropic_upstream, anthropic_gateway):
    import openai
    serve(anthropic_upstream, recorded("error-429-rate-limit.json"), "application/json", status=429)
    with pytest.raises(openai.RateLimitError):
        anthropic_gateway.client().with_options(max_retries=0).chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}])


# --------------------------------------------------------------------------------------------
# Gemini (recorded Google AI Studio traffic, crates/testkit/fixtures/gemini)

GEMINI_FIXTURES = ALL_FIXTURES / "gemini"
GEMINI_KEY = "AIza-sdk-test-key-0123456789"




@pytest.fixture(scope="module")
def gemini_gateway(gemini_upstream, tmp_path_factory):
    config = f"""
providers:
  gemini: {{ type: gemini, base_url: "http://127.0.0.1:{gemini_upstream.port}", api_key: {GEMINI_KEY} }}
"""
    yield from running_gateway(tmp_path_factory.mktemp("gw-gemini"), config)


def gemini_recorded_calls(name: str) -> list[tuple[str, dict]]:
    calls = []
    for line in (GEMINI_FIXTURES / name).read_text().splitlines():
        if line.startswith("data: "):
            for cand in json.loads(line[len("data: "):]).get("candidates", []):
                for part in cand.get("content", {}).get("parts", []):
                    if "functionCall" in part:
                        calls.append((part["functionCall"]["name"], part["functionCall"].get("args", {})))
    return calls


def test_gemini_streamed_parallel_tool_call_arrives_exactly(gemini_upstream, gemini_gateway):
    serve(gemini_upstream, (GEMINI_FIXTURES / "tool-call-parallel-stream.sse").read_bytes(), "text/event-stream")
    calls, finish, usage = stream_tool_calls(gemini_gateway.client(), "gemini/gemini-2.5-flash")
    got = [(name, json.loads(args)) for _, name, args in calls]
    assert got == gemini_recorded_calls("tool-call-parallel-stream.sse")
    assert all(call_id for call_id, _, _ in calls), "every tool call has an id"
    assert finish == "tool_calls"
    assert usage is not None and usage.prompt_tokens > 0
    sent = gemini_upstream.received[-1]
    assert sent.path.startswith("/v1beta/models/gemini-2.5-flash:streamGenerateContent")
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert sent.body["tools"][0]["functionDeclarations"][0]["name"] == "secret_retrieval_tool"


def test_gemini_parse_with_a_pydantic_schema(gemini_upstream, gemini_gateway):
    serve(gemini_upstream, (GEMINI_FIXTURES / "structured-output-json-schema.json").read_bytes(), "application/json")
    recorded_text = json.loads((GEMINI_FIXTURES / "structured-output-json-schema.json").read_text())["candidates"][0]["content"]["parts"][0]["text"]
    expected = json.loads(recorded_text)
    fields = set(expected)

    class Answer(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")

    completion = gemini_gateway.client().chat.completions.parse(
        model="gemini/gemini-2.5-flash", response_format=Answer,
        messages=[{"role": "user", "content": "Answer in JSON"}])
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Answer)
    assert parsed.model_dump() == expected and fields
    assert gemini_upstream.received[-1].body["generationConfig"]["responseMimeType"] == "application/json"


# --------------------------------------------------------------------------------------------
# Azure OpenAI and Amazon Bedrock (recorded traffic in crates/testkit/fixtures/{azure,bedrock})

import base64




@pytest.fixture(scope="module")
def multi_gateway(multi_upstream, tmp_path_factory):
    root = f"http://127.0.0.1:{multi_upstream.port}"
    config = f"""
providers:
  openai: {{ type: openai, base_url: "{root}/v1", api_key: sk-sdk-test-key-000000 }}
  azure: {{ type: azure, base_url: "{root}", api_key: azure-sdk-test-key }}
  vertex: {{ type: vertex, base_url: "{root}", project: sdk-proj, location: us-east5, access_token: ya29.sdk-test }}
  bedrock:
    type: bedrock
    base_url: "{root}"
    region: us-east-1
    access_key_id: AKIDEXAMPLE
    secret_access_key: sdk-test-secret
"""
    yield from running_gateway(tmp_path_factory.mktemp("gw-multi"), config)


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_openai_format_streamed_parallel_tool_call_arrives_exactly(provider, multi_upstream, multi_gateway):
    body = (ALL_FIXTURES / provider / "tool-call-parallel-stream.sse").read_bytes()
    serve(multi_upstream, body, "text/event-stream")
    got, finish, _ = stream_tool_calls(multi_gateway.client(), f"{provider}/gpt-4o-mini")
    expected: dict[int, list[str]] = {}
    for line in body.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:]).get("choices", []):
                for tc in choice.get("delta", {}).get("tool_calls") or []:
                    slot = expected.setdefault(tc["index"], ["", "", ""])
                    slot[0] += tc.get("id") or ""
                    slot[1] += (tc.get("function") or {}).get("name") or ""
                    slot[2] += (tc.get("function") or {}).get("arguments") or ""
    assert got == [tuple(expected[i]) for i in sorted(expected)] and len(got) == 2
    assert finish == "tool_calls"
    sent = multi_upstream.received[-1]
    if provider == "azure":
        assert sent.path.startswith("/openai/deployments/gpt-4o-mini/chat/completions?api-version=")
        assert sent.headers["api-key"] == "azure-sdk-test-key"
    else:
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == "Bearer sk-sdk-test-key-000000"


def test_bedrock_streamed_parallel_tool_call_arrives_exactly(multi_upstream, multi_gateway):
    body = base64.b64decode((ALL_FIXTURES / "bedrock" / "tool-call-parallel-stream.eventstream.b64").read_text().strip())
    serve(multi_upstream, body, "application/vnd.amazon.eventstream")
    got, finish, _ = stream_tool_calls(multi_gateway.client(), "bedrock/anthropic.claude-sonnet-4-20250514-v1:0")
    # The reference: tool uses as decoded from the recorded frames (frames.jsonl).
    expected: list[list[str]] = []
    for line in (ALL_FIXTURES / "bedrock" / "tool-call-parallel-stream.frames.jsonl").read_text().splitlines():
        frame = json.loads(line)
        kind, payload = frame["headers"][":event-type"], frame["payload"]
        if kind == "contentBlockStart" and "toolUse" in payload.get("start", {}):
            expected.append([payload["start"]["toolUse"]["toolUseId"], payload["start"]["toolUse"]["name"], ""])
        elif kind == "contentBlockDelta" and "toolUse" in payload.get("delta", {}):
            expected[-1][2] += payload["delta"]["toolUse"]["input"]
    assert got == [tuple(c) for c in expected] and len(got) == 2
    assert finish == "tool_calls"
    sent = multi_upstream.received[-1]
    assert sent.path.endswith("/converse-stream") and "anthropic.claude-sonnet-4-20250514-v1%3A0" in sent.path
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")


@pytest.mark.parametrize("model,recording", [
    ("vertex/claude-sonnet-4@20250514", "anthropic/tool-call-parallel-stream.sse"),
    ("vertex/gemini-2.5-flash", "gemini/tool-call-parallel-stream.sse"),
])
def test_vertex_streamed_parallel_tool_call_arrives_exactly(model, recording, multi_upstream, multi_gateway):
    body = (ALL_FIXTURES / recording).read_bytes()
    serve(multi_upstream, body, "text/event-stream")
    got, finish, _ = stream_tool_calls(multi_gateway.client(), model)
    if recording.startswith("anthropic"):
        assert got == recorded_tool_calls("tool-call-parallel-stream.sse")
    else:
        assert [(name, json.loads(args)) for _, name, args in got] == gemini_recorded_calls("tool-call-parallel-stream.sse")
    assert finish == "tool_calls" and len(got) == 2
    sent = multi_upstream.received[-1]
    publisher = "anthropic" if "claude" in model else "google"
    assert sent.path.startswith(f"/v1/projects/sdk-proj/locations/us-east5/publishers/{publisher}/models/")
    assert sent.headers["authorization"] == "Bearer ya29.sdk-test"
    if publisher == "anthropic":
        assert sent.body["anthropic_version"] == "vertex-2023-10-16" and "model" not in sent.body
