"""What reaches an OpenAI-compatible upstream, and what comes back from it.

A fake upstream (conftest.FakeUpstream) records every request body and header it receives.
"""

import json

import openai
import pytest

from conftest import FIXED_COMPLETION_TEXT, UPSTREAM_KEY

GATEWAY_FIELDS = (
    "customer_identifier", "metadata", "fallback_models", "cache_enabled", "cache_ttl",
    "cache_options", "prompt_id", "variables", "prompt_version", "max_cost_usd", "disable_log",
)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture()
def up(fresh_upstream):
    return fresh_upstream


@pytest.fixture()
def client(upstream_gateway):
    return upstream_gateway.client()


def only_chat_request(up):
    reqs = up.chat_requests()
    assert len(reqs) == 1, f"upstream got {len(reqs)} chat requests, expected 1"
    return reqs[0]


def test_vendor_fields_pass_through_and_gateway_fields_are_stripped(up, client):
    raw = client.chat.completions.with_raw_response.create(
        model="up/gpt-4o-mini",
        messages=user("pass through check"),
        temperature=0.25,
        extra_body={
            "customer_identifier": "c1",
            "metadata": {"a": "b"},
            "cache_enabled": True,
            "cache_ttl": 30,
            "max_cost_usd": 2,
            "disable_log": False,
            "some_vendor_field": {"x": [1, 2]},
        },
        extra_headers={
            "x-switchyard-feature": "passthru",
            "x-switchyard-customer": "c1-header",
        },
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == FIXED_COMPLETION_TEXT
    assert resp.usage.prompt_tokens == 11 and resp.usage.completion_tokens == 3
    assert raw.headers.get("x-switchyard-provider") == "up"
    assert raw.headers.get("x-switchyard-model") == "gpt-4o-mini"

    req = only_chat_request(up)
    assert req.method == "POST"
    assert req.path == "/v1/chat/completions"
    body = req.body
    assert isinstance(body, dict), body
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [{"role": "user", "content": "pass through check"}]
    assert body["temperature"] == 0.25
    assert body["some_vendor_field"] == {"x": [1, 2]}
    leaked = [f for f in GATEWAY_FIELDS if f in body]
    assert not leaked, f"gateway fields forwarded upstream: {leaked}"

    assert req.headers.get("authorization") == f"Bearer {UPSTREAM_KEY}"
    leaked_headers = [h for h in req.headers if h.startswith("x-switchyard-")]
    assert not leaked_headers, f"gateway headers forwarded upstream: {leaked_headers}"
    # The client's own key is never forwarded.
    assert "sk-client-side-unused" not in json.dumps(req.headers)


def test_stream_asks_upstream_for_usage_and_hides_it(up, client):
    stream = client.chat.completions.create(
        model="up/gpt-4o-mini", messages=user("stream via upstream"), stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == FIXED_COMPLETION_TEXT
    assert all(c.usage is None for c in chunks)

    body = only_chat_request(up).body
    assert body["stream"] is True
    assert body.get("stream_options", {}).get("include_usage") is True


def test_stream_with_usage_from_upstream(up, client):
    stream = client.chat.completions.create(
        model="up/gpt-4o-mini", messages=user("stream usage via upstream"), stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage = [c for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].choices == []
    assert usage[0].usage.prompt_tokens == 11
    assert usage[0].usage.completion_tokens == 3


def error_body(message: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param,
                      "code": code}}


def test_upstream_401_becomes_502_without_the_key(up, client):
    up.respond = lambda req: (401, error_body(
        f"Incorrect API key provided: {UPSTREAM_KEY}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.", code="invalid_api_key"))
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="up/gpt-4o-mini", messages=user("key leak check"))
    err = exc.value
    assert err.status_code == 502, f"got {err.status_code}: {err.body}"
    assert isinstance(err, openai.InternalServerError)
    assert UPSTREAM_KEY not in str(err)
    assert UPSTREAM_KEY not in err.message
    assert UPSTREAM_KEY not in err.response.text
    assert len(up.chat_requests()) >= 1


def test_upstream_403_becomes_502(up, client):
    up.respond = lambda req: (403, error_body("project has no access", code="forbidden"))
    with pytest.raises(openai.InternalServerError) as exc:
        client.chat.completions.create(model="up/gpt-4o-mini", messages=user("forbidden"))
    assert exc.value.status_code == 502


def test_upstream_400_keeps_status_and_message_but_redacts_key(up, client):
    up.respond = lambda req: (400, error_body(
        f"max_tokens is too large for key {UPSTREAM_KEY}", param="max_tokens"))
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="up/gpt-4o-mini", messages=user("too many tokens"), max_tokens=10**7,
        )
    err = exc.value
    assert err.status_code == 400
    assert "max_tokens is too large" in err.message
    assert UPSTREAM_KEY not in err.response.text


def test_upstream_429_keeps_status(up, client):
    up.respond = lambda req: (429, error_body("Rate limit reached", code="rate_limit_exceeded"))
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="up/gpt-4o-mini", messages=user("slow down"))
    assert exc.value.status_code == 429
    assert "Rate limit reached" in exc.value.message


def test_upstream_500_becomes_502(up, client):
    up.respond = lambda req: (500, error_body("the server had an error"))
    with pytest.raises(openai.InternalServerError) as exc:
        client.chat.completions.create(model="up/gpt-4o-mini", messages=user("boom"))
    assert exc.value.status_code == 502


def test_stream_request_upstream_401_is_502_without_key(up, client):
    up.respond = lambda req: (401, error_body(f"bad key {UPSTREAM_KEY}", code="invalid_api_key"))
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(
            model="up/gpt-4o-mini", messages=user("stream key leak"), stream=True,
        )
    assert exc.value.status_code == 502
    assert UPSTREAM_KEY not in exc.value.response.text
