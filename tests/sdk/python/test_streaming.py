"""Streaming chat completions through the official openai SDK."""

import httpx
import openai
import pytest

from conftest import running_gateway

PROMPT = "the quick brown fox jumps over the lazy dog"  # 9 words


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def content_of(chunks) -> str:
    return "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices
    )


@pytest.mark.parametrize("model", ["mock/echo", "support-bot"])
def test_stream_with_usage(client, model):
    stream = client.chat.completions.create(
        model=model, messages=user(PROMPT), stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks, "stream produced no chunks"
    for c in chunks:
        assert c.object == "chat.completion.chunk"

    assert content_of(chunks) == PROMPT

    # The first chunk carries the role.
    assert chunks[0].choices and chunks[0].choices[0].delta.role == "assistant"
    # Default mock chunking: one content piece per word.
    pieces = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) == len(PROMPT.split())

    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1, f"expected exactly one usage chunk, got {len(with_usage)}"
    usage_chunk = with_usage[0]
    assert usage_chunk is chunks[-1], "the usage chunk must be the last one"
    assert usage_chunk.choices == []
    assert usage_chunk.usage.prompt_tokens == 9 + 3
    assert usage_chunk.usage.completion_tokens == 9
    assert usage_chunk.usage.total_tokens == 9 + 3 + 9

    before = chunks[-2]
    assert before.choices and before.choices[0].finish_reason == "stop"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]

    # All chunks of one completion share its id.
    assert len({c.id for c in chunks}) == 1


def test_stream_without_include_usage_hides_usage_chunk(client):
    stream = client.chat.completions.create(model="mock/echo", messages=user(PROMPT), stream=True)
    chunks = list(stream)
    assert content_of(chunks) == PROMPT
    assert all(c.usage is None for c in chunks), "usage leaked into a stream that did not ask for it"
    assert all(c.choices for c in chunks), "a chunk with empty choices reached the client"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_include_usage_false_hides_usage_chunk(client):
    stream = client.chat.completions.create(
        model="mock/echo", messages=user(PROMPT), stream=True,
        stream_options={"include_usage": False},
    )
    chunks = list(stream)
    assert content_of(chunks) == PROMPT
    assert all(c.usage is None for c in chunks)


def test_stream_raw_headers(client):
    with client.chat.completions.with_streaming_response.create(
        model="support-bot", messages=user("streamed headers"), stream=True,
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers.get("content-type", "").startswith("text/event-stream")
        assert resp.headers.get("x-request-id")
        assert resp.headers.get("x-switchyard-provider") == "mock"
        assert resp.headers.get("x-switchyard-model") == "echo"
        text = content_of(list(resp.parse()))
    assert text == "streamed headers"


def test_stream_context_manager_early_close_then_gateway_still_serves(client):
    stream = client.chat.completions.create(model="mock/echo", messages=user(PROMPT), stream=True)
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()  # client hangs up mid-stream
    resp = client.chat.completions.create(model="mock/echo", messages=user("still alive"))
    assert resp.choices[0].message.content == "still alive"


# A mock whose first token takes 1.2 s behind an alias held only 100 ms and kept alive every
# 200 ms: the gateway commits the stream and sends SSE comments before the first chunk.
HELD_CONFIG = """\
providers:
  slow: { type: mock, first_token: 1200ms }
models:
  held-bot:
    targets: [ { provider: slow, model: echo } ]
    timeouts: { first_token: 5s, hold: 100ms, keep_alive: 200ms }
  failing-bot:
    targets: [ { provider: slow, model: echo } ]
    timeouts: { first_token: 700ms, hold: 100ms, keep_alive: 200ms }
"""


@pytest.fixture(scope="module")
def held_gateway(tmp_path_factory):
    yield from running_gateway(tmp_path_factory.mktemp("held"), HELD_CONFIG)


def test_a_held_stream_with_keep_alive_comments_parses(held_gateway):
    # The comments are really on the wire ...
    body = {"model": "held-bot", "messages": user(PROMPT), "stream": True}
    raw = httpx.post(f"{held_gateway.base_url}/chat/completions", json=body, timeout=10).text
    assert raw.startswith(": keep-alive\n\n"), raw[:200]
    assert raw.endswith("data: [DONE]\n\n")
    # ... and the official SDK reads through them.
    chunks = list(held_gateway.client().chat.completions.create(model="held-bot", messages=user(PROMPT), stream=True))
    assert content_of(chunks) == PROMPT


def test_a_held_stream_that_times_out_raises_in_the_sdk(held_gateway):
    stream = held_gateway.client().chat.completions.create(model="failing-bot", messages=user(PROMPT), stream=True)
    with pytest.raises(openai.APIError) as raised:
        list(stream)
    assert raised.value.body["code"] == "upstream_timeout"
