"""Keys, limits and budgets as the official `openai` package sees them: typed errors, the SDK's own
retry logic honouring `retry-after-ms` and `x-should-retry`, and the admin API minting keys."""

from __future__ import annotations

import json
import time
import urllib.request

import openai
import pytest

from conftest import running_gateway

ADMIN_KEY = "admin-key-for-sdk-tests-0001"

CONFIG = f"""\
admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}
keys: {{ require: true }}
providers:
  mock: {{ type: mock }}
models:
  metered:
    targets: [ {{ provider: mock, model: echo }} ]
    price: {{ input: 0, output: 10000 }}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    yield from running_gateway(tmp_path_factory.mktemp("gov"), CONFIG)


def admin_url(gw) -> str:
    for line in gw.stdout_lines:
        if line.startswith("admin API on "):
            return line.split()[3]
    raise AssertionError("no admin API line in: " + "\n".join(gw.stdout_lines))


def create_key(gw, **body) -> str:
    req = urllib.request.Request(
        admin_url(gw) + "/admin/keys",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201
        return json.loads(r.read())["key"]


def ask(client, model="metered", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], **kw)


def test_missing_and_invalid_keys_are_authentication_errors(gw):
    with pytest.raises(openai.AuthenticationError) as e:
        ask(gw.client(api_key="not-a-switchyard-key"))
    assert e.value.code == "invalid_api_key"
    key = create_key(gw, name="sdk")
    assert ask(gw.client(api_key=key)).choices[0].message.content


def test_a_spent_budget_is_a_rate_limit_error_the_sdk_does_not_retry(gw):
    # Every answer costs $0.01 per output token: a $0.05 budget runs out within five requests.
    key = create_key(gw, name="budget", budget={"usd": 0.05, "window": "daily"})
    client = gw.client(api_key=key, max_retries=2)
    served = 0
    for _ in range(6):
        started = time.monotonic()
        try:
            ask(client, max_tokens=1)
            served += 1
        except openai.RateLimitError as e:
            assert e.code == "budget_exceeded"
            assert "daily budget" in e.message
            assert e.response.headers["x-should-retry"] == "false"
            # The SDK honoured x-should-retry: no backoff-and-retry happened.
            assert time.monotonic() - started < 0.4
            break
    assert served == 5, f"five $0.01 requests fit a $0.05 budget, then refusal (served {served})"


def test_the_sdk_waits_out_a_rate_limit_with_retry_after_ms_and_succeeds(gw):
    # 60 per minute with a burst of 1 is one a second: the second call is told to wait about a
    # second (without `burst`, a fresh key could make all 60 at once: a token bucket).
    key = create_key(gw, name="rpm", limits={"rpm": 60, "burst": 1})
    raw = gw.client(api_key=key).chat.completions.with_raw_response
    first = raw.create(model="metered", max_tokens=1, messages=[{"role": "user", "content": "hi"}])
    assert first.headers["x-ratelimit-limit-requests"] == "60"
    with pytest.raises(openai.RateLimitError) as e:
        ask(gw.client(api_key=key), max_tokens=1)
    assert 0 < int(e.value.response.headers["retry-after-ms"]) <= 1000
    started = time.monotonic()
    ask(gw.client(api_key=key, max_retries=2), max_tokens=1)
    assert time.monotonic() - started < 3, "one retry after the advertised wait"


def test_embeddings_spend_the_same_token_budget_and_refuse_with_a_typed_error(gw):
    # "abcdefgh" is reserved as 2 tokens (characters / 4) and settled at the 1 token the mock
    # reports (a word), just after its answer. With 10 tokens the ninth request fits when every
    # earlier one has settled (8 + 2); if the eighth is still reserved at 2, only eight fit.
    key = create_key(gw, name="embedder", budget={"tokens": 10, "window": "daily"})
    client = gw.client(api_key=key, max_retries=0)
    served = 0
    with pytest.raises(openai.RateLimitError) as e:
        for _ in range(12):
            answer = client.embeddings.create(model="mock/embed", input="abcdefgh")
            assert len(answer.data[0].embedding) == 256
            assert answer.usage.prompt_tokens == 1
            served += 1
    assert e.value.code == "budget_exceeded"
    assert served in (8, 9), served
