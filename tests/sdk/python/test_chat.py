"""Non-streaming chat completions through the official openai SDK."""

import pytest

PROMPT = "hello there gateway"  # 3 words -> prompt_tokens = 3 + 3 (one message)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("model", ["mock/echo", "support-bot"])
def test_non_stream_echo_and_usage(client, model):
    resp = client.chat.completions.create(model=model, messages=user(PROMPT))

    assert resp.object == "chat.completion"
    assert resp.id
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == PROMPT
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"

    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 6
    assert resp.usage.completion_tokens == 3
    assert resp.usage.total_tokens == 9


def test_usage_counts_every_message(client):
    messages = [
        {"role": "system", "content": "you are terse"},            # 3 words + 3
        {"role": "user", "content": "first question here"},        # 3 words + 3
        {"role": "assistant", "content": "ok"},                    # 1 word  + 3
        {"role": "user", "content": "say exactly these four"},     # 4 words + 3
    ]
    resp = client.chat.completions.create(model="mock/echo", messages=messages)
    assert resp.choices[0].message.content == "say exactly these four"
    assert resp.usage.prompt_tokens == (3 + 3 + 1 + 4) + 4 * 3
    assert resp.usage.completion_tokens == 4
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + 4


def test_content_parts_are_read(client):
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "alpha beta"},
        {"type": "text", "text": "gamma"},
    ]}]
    resp = client.chat.completions.create(model="mock/echo", messages=messages)
    assert resp.usage.prompt_tokens == 3 + 3
    content = resp.choices[0].message.content
    for word in ("alpha", "beta", "gamma"):
        assert word in content


@pytest.mark.parametrize("model,provider,upstream_model", [
    ("mock/echo", "mock", "echo"),
    ("support-bot", "mock", "echo"),
])
def test_raw_response_headers(client, model, provider, upstream_model):
    raw = client.chat.completions.with_raw_response.create(model=model, messages=user(PROMPT))
    assert raw.status_code == 200
    request_id = raw.headers.get("x-request-id")
    assert request_id and request_id.strip()
    assert raw.headers.get("x-switchyard-provider") == provider
    assert raw.headers.get("x-switchyard-model") == upstream_model
    attempts = raw.headers.get("x-switchyard-attempts")
    assert attempts is not None and attempts.isdigit() and int(attempts) >= 1
    assert raw.parse().choices[0].message.content == PROMPT


def test_request_ids_are_unique(client):
    ids = {
        client.chat.completions.with_raw_response.create(
            model="mock/echo", messages=user(f"ping {i}")).headers["x-request-id"]
        for i in range(5)
    }
    assert len(ids) == 5


def test_models_list_has_alias_and_provider_models(client):
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert "support-bot" in ids
    assert any(i.startswith("mock/") for i in ids), ids
    for m in models.data:
        assert m.object == "model"
        assert isinstance(m.created, int)
        assert m.owned_by
