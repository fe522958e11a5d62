"""SIGTERM while a client is reading a stream: the stream finishes, the log is flushed, exit 0."""

import signal
import time

from conftest import start_gateway

CONFIG = """\
providers:
  mock: { type: mock, chunk_delay: 100ms }
shutdown_grace: 10s
"""

PROMPT = "one two three four five six seven eight nine ten"


def test_sigterm_lets_a_running_stream_finish(tmp_path):
    gw = start_gateway(tmp_path, CONFIG)
    try:
        client = gw.client()
        with client.chat.completions.with_streaming_response.create(
            model="mock/echo", messages=[{"role": "user", "content": PROMPT}], stream=True,
            extra_body={"customer_identifier": "cust-shutdown"},
        ) as resp:
            request_id = resp.headers["x-request-id"]
            chunks = iter(resp.parse())
            text = ""
            first = next(chunks)
            text += first.choices[0].delta.content or ""
            started = time.monotonic()
            gw.proc.send_signal(signal.SIGTERM)
            last_finish = None
            for chunk in chunks:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                    last_finish = chunk.choices[0].finish_reason or last_finish
            elapsed = time.monotonic() - started

        assert text == PROMPT, "the in-flight stream was cut by the shutdown"
        assert last_finish == "stop"
        # 10 words at 100 ms each: the stream really was still running when SIGTERM arrived.
        assert elapsed >= 0.5, f"stream ended {elapsed:.2f}s after SIGTERM; chunk_delay not applied?"

        code = gw.proc.wait(timeout=15)
        assert code == 0, f"exit code {code} after SIGTERM\nstderr tail:\n{gw.stderr_tail()}"

        # The log writer was flushed before exit: the record is there with the process gone.
        recs = [r for r in gw.logs() if r.get("request_id") == request_id]
        assert len(recs) == 1, f"expected one log record for {request_id}, got {recs}"
        rec = recs[0]
        assert rec["outcome"] == "ok"
        assert rec["status"] == 200
        assert rec["stream"] is True
        assert rec["customer_identifier"] == "cust-shutdown"
        assert rec["output_tokens"] == 10
    finally:
        gw.kill()
