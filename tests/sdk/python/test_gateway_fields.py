"""Gateway-only request fields (extra_body / headers) and the request log they end up in."""

import openai
import pytest

PROMPT = "summarize this short text"  # 4 words


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_extra_body_fields_are_logged(gateway, client):
    raw = client.chat.completions.with_raw_response.create(
        model="mock/echo",
        messages=user(PROMPT),
        extra_body={"customer_identifier": "cust-42", "metadata": {"team": "search"}},
        extra_headers={"x-switchyard-feature": "summarize"},
    )
    assert raw.status_code == 200
    request_id = raw.headers["x-request-id"]
    resp = raw.parse()
    assert resp.choices[0].message.content == PROMPT

    rec = gateway.wait_for_log(request_id)
    assert rec["customer_identifier"] == "cust-42"
    assert rec["metadata"] == {"team": "search"}
    assert rec["feature"] == "summarize"
    assert rec["requested_model"] == "mock/echo"
    assert rec["provider"] == "mock"
    assert rec["model"] == "echo"
    assert rec["status"] == 200
    assert rec["outcome"] == "ok"
    assert rec["stream"] is False
    assert rec["input_tokens"] == resp.usage.prompt_tokens == 4 + 3
    assert rec["output_tokens"] == resp.usage.completion_tokens == 4
    assert rec["attempts"] >= 1
    assert rec["started_at"].endswith("Z") or rec["started_at"].endswith("+00:00")
    assert isinstance(rec["latency_ms"], (int, float)) and rec["latency_ms"] >= 0


def test_stream_is_logged_with_usage(gateway, client):
    with client.chat.completions.with_streaming_response.create(
        model="support-bot", messages=user("stream me to the log"), stream=True,
        extra_body={"customer_identifier": "cust-stream"},
    ) as resp:
        request_id = resp.headers["x-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "stream me to the log"

    rec = gateway.wait_for_log(request_id)
    assert rec["stream"] is True
    assert rec["customer_identifier"] == "cust-stream"
    assert rec["requested_model"] == "support-bot"
    assert rec["provider"] == "mock"
    assert rec["model"] == "echo"
    assert rec["status"] == 200
    assert rec["outcome"] == "ok"
    # The gateway always asks for usage, so the log has it even though the client did not.
    assert rec["input_tokens"] == 5 + 3
    assert rec["output_tokens"] == 5
    assert rec["ttft_ms"] is not None


def test_customer_falls_back_to_user_field(gateway, client):
    raw = client.chat.completions.with_raw_response.create(
        model="mock/echo", messages=user("who am i"), user="end-user-7",
    )
    rec = gateway.wait_for_log(raw.headers["x-request-id"])
    assert rec["customer_identifier"] == "end-user-7"


def test_customer_from_header(gateway, client):
    raw = client.chat.completions.with_raw_response.create(
        model="mock/echo", messages=user("header customer"),
        extra_headers={"x-switchyard-customer": "cust-header"},
    )
    rec = gateway.wait_for_log(raw.headers["x-request-id"])
    assert rec["customer_identifier"] == "cust-header"


def test_logs_filter_by_customer(gateway, client):
    raw = client.chat.completions.with_raw_response.create(
        model="mock/echo", messages=user("filter me"),
        extra_body={"customer_identifier": "cust-filter-only"},
    )
    request_id = raw.headers["x-request-id"]
    gateway.wait_for_log(request_id)
    recs = gateway.logs("--customer", "cust-filter-only")
    assert [r["request_id"] for r in recs] == [request_id]


def test_error_requests_are_logged(gateway, client):
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.with_raw_response.create(
            model="nope/none", messages=user("log my failure"),
            extra_body={"customer_identifier": "cust-err"},
        )
    request_id = exc.value.response.headers.get("x-request-id")
    assert request_id, "error responses carry x-request-id too"
    rec = gateway.wait_for_log(request_id)
    assert rec["status"] == 404
    assert rec["outcome"] == "error"
    assert rec["customer_identifier"] == "cust-err"
    assert rec["requested_model"] == "nope/none"


@pytest.mark.parametrize("field,value", [
    ("metadata", "notanobject"),
    ("metadata", {"team": 7}),
    ("customer_identifier", 42),
    ("fallback_models", "mock/echo"),
    ("fallback_models", [1, 2]),
    ("cache_enabled", "yes"),
    ("cache_ttl", -5),
    ("cache_ttl", 1.5),
    ("cache_options", {"cache_by_customer": "yes"}),
    ("prompt_id", 12),
    ("variables", ["a"]),
    ("prompt_version", 1.5),
    ("max_cost_usd", -1),
    ("disable_log", "no"),
])
def test_ill_typed_gateway_field_is_400_naming_it(client, field, value):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="mock/echo", messages=user("bad field"), extra_body={field: value},
        )
    err = exc.value
    assert err.status_code == 400
    assert err.param is not None and field in err.param, (
        f"param={err.param!r}, body={err.body!r}"
    )
    assert isinstance(err.body, dict) and err.body.get("type") == "invalid_request_error"


def test_well_typed_gateway_fields_are_accepted(client):
    resp = client.chat.completions.create(
        model="mock/echo",
        messages=user("all fields ok"),
        extra_body={
            "customer_identifier": "c",
            "metadata": {"k": "v"},
            "fallback_models": ["support-bot"],
            "cache_enabled": False,
            "cache_ttl": 60,
            "cache_options": {"cache_by_customer": True},
            "max_cost_usd": 1.5,
            "disable_log": False,
        },
    )
    assert resp.choices[0].message.content == "all fields ok"
