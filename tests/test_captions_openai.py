"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 with scripted replies:
good JSON, malformed JSON, 429, 500 and slow replies are recovered or reported; the cache
prevents any repeated request on a rerun."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from fusionrs.captions import get_captioner
from fusionrs.captions.openai_compat import OpenAICaptioner, parse_openai_spec

GOOD = "In this infrared-style image, a river runs through a forest; the river forms a dark band with sharp outlines."
MAX_REQUESTS = 60  # the server refuses more: a runaway retry loop fails the test instead of hanging it


def _chat(content: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()


# case name (found in the prompt) -> replies in order: (status, content or None, delay seconds)
SCRIPTS = {
    "good": [(200, json.dumps({"ir_aware_caption": GOOD}), 0)],
    "fenced": [(200, "Sure! ```json\n{'ir_aware_caption': '" + GOOD + "'}\n``` Hope this helps.", 0)],
    "garbage-then-good": [(200, "I cannot see any image.", 0), (200, json.dumps({"ir_aware_caption": GOOD}), 0)],
    "garbage-always": [(200, "no json here", 0)] * 5,
    "rate-limited": [(429, None, 0), (429, None, 0), (200, json.dumps({"ir_aware_caption": GOOD}), 0)],
    "server-error": [(500, None, 0), (503, None, 0), (200, json.dumps({"ir_aware_caption": GOOD}), 0)],
    "down": [(500, None, 0)] * 10,
    "slow": [(200, json.dumps({"ir_aware_caption": GOOD}), 2.0), (200, json.dumps({"ir_aware_caption": GOOD}), 0)],
    "forbidden-words": [(200, json.dumps({"ir_aware_caption": GOOD.replace("dark band", "cold band")}), 0)],
    "bad-request": [(400, None, 0)],
}


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        prompt = json.dumps(body["messages"])
        case = next((name for name in SCRIPTS if f"case {name}." in prompt), None)
        with self.server.lock:
            self.server.total += 1
            over = self.server.total > MAX_REQUESTS
            n = self.server.counts[case]
            self.server.counts[case] += 1
            self.server.images += "data:image/png;base64," in prompt
        if over or case is None:
            self._send(400, b'{"error": "budget exceeded or unknown case"}')
            return
        script = SCRIPTS[case]
        status, content, delay = script[min(n, len(script) - 1)]
        if delay:
            time.sleep(delay)
        if status == 200:
            self._send(200, _chat(content))
        else:
            self._send(status, b'{"error": {"message": "scripted"}}', retry_after="0" if status == 429 else None)

    def _send(self, status: int, payload: bytes, retry_after: str | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out first (the "slow" case)
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.total = 0
        self.images = 0


@pytest.fixture()
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def _ir() -> Image.Image:
    rng = np.random.default_rng(0)
    a = np.full((64, 64), 60, np.uint8)
    a[:, 20:30] = 200
    return Image.fromarray((a + rng.integers(0, 5, a.shape)).astype(np.uint8))


def _client(server, tmp_path, **kw) -> OpenAICaptioner:
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    kw = {"timeout": 1.0, "retries": 3, "backoff": 0.01, "max_backoff": 0.05, "concurrency": 4, **kw}
    return get_captioner(f"openai:{url}:test-model", cache_dir=tmp_path / "cache", **kw)


def test_spec_parsing():
    assert parse_openai_spec("openai:http://127.0.0.1:8000/v1:Qwen/Qwen2.5-VL-7B") == ("http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-VL-7B")
    assert parse_openai_spec("openai:http://host:8000/v1:llama3:8b") == ("http://host:8000/v1", "llama3:8b")
    assert parse_openai_spec("openai:https://api.example.com:gpt-4o") == ("https://api.example.com", "gpt-4o")
    with pytest.raises(ValueError):
        parse_openai_spec("openai:nourl")


def test_every_case_recovered_or_reported_and_cache_prevents_reruns(server, tmp_path):
    cases = list(SCRIPTS)
    images = [_ir() for _ in cases]
    captions = [[f"A river runs through a forest, case {name}."] for name in cases]
    client = _client(server, tmp_path)
    results = dict(zip(cases, client.caption(images, captions)))

    for name in ("good", "fenced", "garbage-then-good", "rate-limited", "server-error", "slow"):
        assert results[name].caption == GOOD, (name, results[name])
    assert results["garbage-always"].caption is None and results["garbage-always"].reason == "unparseable_reply"
    assert results["down"].caption is None and results["down"].reason == "backend_error"
    assert results["bad-request"].reason == "backend_error"
    assert results["forbidden-words"].caption is None and results["forbidden-words"].reason == "temperature_or_heat"

    counts = server.counts
    assert counts["good"] == 1 and counts["fenced"] == 1
    assert counts["garbage-then-good"] == 2  # one parse retry
    assert counts["garbage-always"] == 2  # parse budget: 1 + parse_retries
    assert counts["rate-limited"] == 3 and counts["server-error"] == 3
    assert counts["down"] == 4  # 1 + retries, then reported
    assert counts["bad-request"] == 1  # 4xx other than 429 is not retried
    assert counts["slow"] == 2  # timed out once, answered on the retry
    assert client.stats["timeouts"] == 1 and client.stats["http_429"] == 2
    assert server.images == server.total  # mode="image": every request carried the IR image as a data URL
    report = client.filter.report.to_dict()
    assert report["kept"] == 6 and report["unparsed"] == 1 and report["backend_errors"] == 2

    # Rerun with a fresh client on the same cache: every answered request is served from the cache.
    before = server.total
    again = _client(server, tmp_path).caption(images, captions)
    repeated = server.total - before
    assert [r.caption for r in again if r.caption] == [GOOD] * 6
    # Only the failures ("down", "bad-request") are asked again; nothing that was answered is.
    assert server.counts["good"] == 1 and server.counts["garbage-then-good"] == 2 and server.counts["slow"] == 2
    assert repeated == 4 + 1


def test_bounded_concurrency(server, tmp_path):
    active, peak, lock = [0], [0], threading.Lock()
    original = OpenAICaptioner._post

    def tracking(self, payload):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.05)
            return original(self, payload)
        finally:
            with lock:
                active[0] -= 1

    client = _client(server, tmp_path, concurrency=2)
    client._post = tracking.__get__(client)
    images = [_ir() for _ in range(6)]
    captions = [[f"A river runs through a forest number {i}, case good."] for i in range(6)]
    results = client.caption(images, captions)
    assert all(r.caption == GOOD for r in results)
    assert peak[0] <= 2


def test_text_mode_sends_measured_summary(server, tmp_path):
    client = _client(server, tmp_path, mode="text")
    client.caption([_ir()], [["A river runs through a forest, case good."]])
    assert server.images == 0
