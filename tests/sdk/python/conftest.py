"""Shared fixtures for the Python SDK tests.

Every test talks to the real `switchyard` binary (path in $SWITCHYARD_BIN), started with
`switchyard serve --config CFG --data-dir TMP --listen 127.0.0.1:0`, through the official
`openai` package. On teardown the gateway gets SIGTERM and must exit with code 0 within 15 s.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import openai
import pytest

LISTEN_RE = re.compile(r"switchyard listening on (http://\S+?:\d+)\s*$")
STARTUP_TIMEOUT_S = 20.0
SHUTDOWN_TIMEOUT_S = 15.0

# Default config: the mock provider plus one alias that routes to mock/echo.
MOCK_CONFIG = """\
providers:
  mock: { type: mock }
models:
  support-bot:
    targets: [ { provider: mock, model: echo } ]
"""


def switchyard_bin() -> str:
    path = os.environ.get("SWITCHYARD_BIN")
    if not path:
        pytest.fail(
            "SWITCHYARD_BIN is not set: build the gateway (cargo build -p switchyard-server) and "
            "export SWITCHYARD_BIN=$PWD/target/debug/switchyard, or run scripts/test.sh",
            pytrace=False,
        )
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"SWITCHYARD_BIN={path} is not an executable file", pytrace=False)
    return path


@dataclass
class Gateway:
    """A running `switchyard serve` process."""

    proc: subprocess.Popen
    root: str  # http://HOST:PORT
    data_dir: Path
    config_path: Path
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("api_key", "sk-client-side-unused")
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30.0)
        return openai.OpenAI(base_url=self.base_url, **kwargs)

    def stderr_tail(self, n: int = 40) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no stderr>"
        return "\n".join(lines[-n:])

    def logs(self, *extra: str) -> list[dict]:
        """`switchyard logs --data-dir D --json`: one JSON object per line, newest first."""
        out = subprocess.run(
            [switchyard_bin(), "logs", "--data-dir", str(self.data_dir), "--json", *extra],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, (
            f"switchyard logs exited {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
        )
        records = []
        for line in out.stdout.splitlines():
            line = line.strip()
            if line:
                records.append(json.loads(line))
        return records

    def wait_for_log(self, request_id: str, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        seen: list[dict] = []
        while True:
            seen = self.logs()
            for rec in seen:
                if rec.get("request_id") == request_id:
                    return rec
            if time.monotonic() >= deadline:
                ids = [r.get("request_id") for r in seen]
                raise AssertionError(
                    f"request {request_id} not in `switchyard logs --json` after {timeout}s; "
                    f"saw {len(seen)} records: {ids[:20]}"
                )
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM, then wait; returns the exit code (kills and raises on a hang)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError(
                f"gateway did not exit within {SHUTDOWN_TIMEOUT_S}s of SIGTERM\n"
                f"stderr tail:\n{self.stderr_tail()}"
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def start_gateway(workdir: Path, config: str) -> Gateway:
    """Write `config` to workdir/switchyard.yaml and start the gateway on a free port."""
    binary = switchyard_bin()
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "switchyard.yaml"
    cfg.write_text(config)
    data_dir = workdir / "data"
    data_dir.mkdir(exist_ok=True)
    stderr_path = workdir / "stderr.log"
    stderr_f = open(stderr_path, "wb")
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "info")
    try:
        proc = subprocess.Popen(
            [binary, "serve", "--config", str(cfg), "--data-dir", str(data_dir),
             "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_f,
            text=True,
            bufsize=1,
            env=env,
        )
    finally:
        stderr_f.close()

    gw = Gateway(proc=proc, root="", data_dir=data_dir, config_path=cfg, stderr_path=stderr_path)
    found = threading.Event()

    def pump() -> None:
        # Keep draining stdout for the whole life of the process so it can never block on a full pipe.
        assert proc.stdout is not None
        for line in proc.stdout:
            gw.stdout_lines.append(line.rstrip("\n"))
            if not found.is_set():
                m = LISTEN_RE.search(line.strip())
                if m:
                    gw.root = m.group(1)
                    found.set()
        found.set()  # EOF: unblock the waiter

    threading.Thread(target=pump, name="switchyard-stdout", daemon=True).start()
    found.wait(STARTUP_TIMEOUT_S)
    if not gw.root:
        gw.kill()
        pytest.fail(
            "gateway did not print 'switchyard listening on http://HOST:PORT' (waited up to "
            f"{STARTUP_TIMEOUT_S}s; exit code {proc.poll()})\nconfig:\n{config}\n"
            "stdout:\n" + "\n".join(gw.stdout_lines) + f"\nstderr tail:\n{gw.stderr_tail()}",
            pytrace=False,
        )
    return gw


def stop_and_check(gw: Gateway) -> None:
    code = gw.stop()
    assert code == 0, (
        f"gateway exited with {code} after SIGTERM, expected 0\nstderr tail:\n{gw.stderr_tail()}"
    )


def running_gateway(tmp: Path, config: str):
    """Yields a started gateway; on teardown it must stop cleanly on SIGTERM."""
    gw = start_gateway(tmp, config)
    try:
        yield gw
        stop_and_check(gw)
    finally:
        gw.kill()  # no-op when it already exited


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory):
    """The gateway with the default mock config, one per test module."""
    yield from running_gateway(tmp_path_factory.mktemp("gw"), MOCK_CONFIG)


@pytest.fixture()
def client(gateway: Gateway) -> openai.OpenAI:
    return gateway.client()


# --------------------------------------------------------------------------------------------
# A tiny fake OpenAI upstream
# --------------------------------------------------------------------------------------------

@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any


FIXED_COMPLETION_TEXT = "upstream says hi"


def fixed_completion(model: str) -> dict:
    return {
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": FIXED_COMPLETION_TEXT},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


def stream_events(model: str, include_usage: bool) -> list[dict]:
    base = {"id": "chatcmpl-fake-2", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model}
    events = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "finish_reason": None}])]
    for piece in ["upstream", " says", " hi"]:
        events.append(dict(base, choices=[{"index": 0, "delta": {"content": piece},
                                           "finish_reason": None}]))
    events.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    if include_usage:
        events.append(dict(base, choices=[], usage={"prompt_tokens": 11, "completion_tokens": 3,
                                                    "total_tokens": 14}))
    return events


class FakeUpstream:
    """An OpenAI-compatible HTTP server on 127.0.0.1:0 that records what it receives.

    `respond` decides the answer: it gets the Received request and returns
    (status, json_body) or ("sse", [events]) for a stream.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.respond: Callable[[Received], tuple[Any, Any]] = self.default_respond
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                req = Received(self.command, self.path,
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with upstream._lock:
                    upstream.received.append(req)
                status, payload = upstream.respond(req)
                if status == "raw":
                    # Recorded provider bytes, sent as they are: (status, content_type, bytes).
                    code, content_type, data = payload
                    self.send_response(code)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if status == "sse":
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("cache-control", "no-cache")
                    self.send_header("connection", "close")
                    self.end_headers()
                    for ev in payload:
                        self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @staticmethod
    def default_respond(req: Received) -> tuple[Any, Any]:
        body = req.body if isinstance(req.body, dict) else {}
        model = body.get("model", "unknown")
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            return "sse", stream_events(model, include)
        return 200, fixed_completion(model)

    def chat_requests(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
        self.respond = self.default_respond

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


UPSTREAM_KEY = "sk-secret-test-key"


@pytest.fixture(scope="module")
def upstream():
    up = FakeUpstream()
    try:
        yield up
    finally:
        up.close()


@pytest.fixture(scope="module")
def upstream_gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory):
    config = f"""\
providers:
  mock: {{ type: mock }}
  up:
    type: openai
    base_url: {upstream.base_url}
    api_key: {UPSTREAM_KEY}
"""
    yield from running_gateway(tmp_path_factory.mktemp("gw-up"), config)


@pytest.fixture()
def fresh_upstream(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset()
    return upstream


def accumulate_stream(stream) -> tuple[str, list[tuple[str, str, str]], str | None, object]:
    """What an application builds from a stream with the SDK: the text, (id, name, arguments) per
    tool-call index, the finish reason and the last usage."""
    text, calls, finish, usage = "", {}, None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, ["", "", ""])
                slot[0] += tc.id or ""
                slot[1] += (tc.function.name or "") if tc.function else ""
                slot[2] += (tc.function.arguments or "") if tc.function else ""
            finish = choice.finish_reason or finish
    return text, [tuple(calls[i]) for i in sorted(calls)], finish, usage


def fake_upstream():
    """A recording fake upstream for one test module's gateway (wrap with pytest.fixture)."""
    up = FakeUpstream()
    yield up
    up.close()
