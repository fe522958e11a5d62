"""The response cache as the official `openai` package sees it: a streamed answer replayed from the
cache accumulates, in the SDK, to exactly the text and tool calls of the original stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import accumulate_stream, fake_upstream, running_gateway

FIXTURES = Path(__file__).resolve().parents[3] / "crates" / "testkit" / "fixtures" / "openai"


recorded_upstream = pytest.fixture(scope="module", name="recorded_upstream")(fake_upstream)


@pytest.fixture(scope="module")
def gw(recorded_upstream, tmp_path_factory):
    config = f"""\
providers:
  up: {{ type: openai, base_url: "{recorded_upstream.base_url}", api_key: sk-sdk-cache-test-0000 }}
models:
  bot:
    targets: [ {{ provider: up, model: gpt-4o-mini }} ]
    cache: {{ enabled: true }}
"""
    yield from running_gateway(tmp_path_factory.mktemp("gw-cache"), config)


@pytest.mark.parametrize("recording", ["tool-call-parallel-stream.sse", "text-stream.sse"])
def test_a_streamed_hit_accumulates_like_the_original_stream(recording, recorded_upstream, gw):
    body = (FIXTURES / recording).read_bytes()
    recorded_upstream.reset()
    recorded_upstream.respond = lambda req: ("raw", (200, "text/event-stream", body))
    client = gw.client()
    question = [{"role": "user", "content": f"replay {recording}"}]

    def ask():
        raw = client.chat.completions.with_raw_response.create(
            model="bot", messages=question, temperature=0, stream=True, stream_options={"include_usage": True}
        )
        return raw.headers.get("x-switchyard-cache"), accumulate_stream(raw.parse())

    first_status, original = ask()
    second_status, replayed = ask()
    assert (first_status, second_status) == ("MISS", "HIT")
    assert replayed[:3] == original[:3]
    assert replayed[3].total_tokens == original[3].total_tokens
    assert original[0] or original[1], "the recording has text or tool calls"
    assert len(recorded_upstream.chat_requests()) == 1, "the hit never reached the upstream"
