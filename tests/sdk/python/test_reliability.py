"""The official OpenAI SDK sees no error while the primary fails 30% of the time.

The primary is the built-in mock with an injected 503 rate; the model falls back to a healthy
mock. The SDK's own retries are off, so every error would surface.
"""

import pytest

from conftest import running_gateway

CONFIG = """
providers:
  flaky: { type: mock, error_status: 503, error_rate: 0.3 }
  backup: { type: mock }
models:
  bot:
    targets: [ { provider: flaky, model: echo } ]
    fallbacks: [ backup/echo ]
"""


@pytest.fixture(scope="module")
def flaky_gateway(tmp_path_factory):
    yield from running_gateway(tmp_path_factory.mktemp("gw-flaky"), CONFIG)


def test_no_errors_non_streaming(flaky_gateway):
    client = flaky_gateway.client().with_options(max_retries=0)
    served = set()
    for i in range(200):
        raw = client.chat.completions.with_raw_response.create(
            model="bot", messages=[{"role": "user", "content": f"question {i}"}])
        served.add(raw.headers["x-switchyard-provider"])
        assert raw.parse().choices[0].message.content == f"question {i}"
    assert "backup" in served


def test_no_errors_streaming(flaky_gateway):
    client = flaky_gateway.client().with_options(max_retries=0)
    for i in range(200):
        text = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat.completions.create(
                model="bot", stream=True, messages=[{"role": "user", "content": f"stream {i}"}])
            if chunk.choices
        )
        assert text == f"stream {i}"
