"""Errors reach the SDK as its typed exceptions with OpenAI-shaped bodies."""

import httpx
import openai
import pytest


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def assert_error_shape(err: openai.APIStatusError) -> None:
    # The SDK unwraps {"error": {...}} into .body; the full JSON is still on the response.
    full = err.response.json()
    assert set(full) == {"error"}, full
    inner = full["error"]
    for key in ("message", "type", "param", "code"):
        assert key in inner, f"error body lacks {key!r}: {full}"
    assert isinstance(inner["message"], str) and inner["message"]


@pytest.mark.parametrize("model", ["nope/none", "no-such-alias"])
def test_unknown_model_is_not_found(client, model):
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model=model, messages=user("hi"))
    err = exc.value
    assert err.status_code == 404
    assert err.code == "model_not_found"
    assert err.param == "model"
    assert err.type == "invalid_request_error"
    assert_error_shape(err)


def test_unknown_model_when_streaming_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="nope/none", messages=user("hi"), stream=True)
    assert exc.value.code == "model_not_found"


def test_missing_messages_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="mock/echo", messages=openai.NOT_GIVEN)
    err = exc.value
    assert err.status_code == 400
    assert err.param == "messages"
    assert_error_shape(err)


def test_missing_model_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=openai.NOT_GIVEN, messages=user("hi"))
    assert exc.value.param == "model"


@pytest.mark.parametrize("body,param", [
    ({"model": "mock/echo", "messages": "hello"}, "messages"),
    ({"model": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
    ({"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"},
     "stream"),
])
def test_ill_typed_core_fields_are_bad_request(client, body, param):
    with pytest.raises(openai.BadRequestError) as exc:
        client.post("/chat/completions", body=body, cast_to=httpx.Response)
    assert exc.value.param == param, exc.value.body
    assert_error_shape(exc.value)


def test_invalid_json_names_line_and_column(gateway):
    r = httpx.post(
        f"{gateway.base_url}/chat/completions",
        content=b'{"model": "mock/echo",\n "messages": [}',
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert "line" in err["message"] and "column" in err["message"], err


def test_health_endpoints(gateway):
    r = httpx.get(f"{gateway.root}/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert httpx.get(f"{gateway.root}/readyz", timeout=10).status_code == 200


def test_api_prefix_works_with_sdk(gateway):
    c = openai.OpenAI(base_url=f"{gateway.root}/api/v1", api_key="x", max_retries=0)
    resp = c.chat.completions.create(model="mock/echo", messages=user("prefixed path"))
    assert resp.choices[0].message.content == "prefixed path"
