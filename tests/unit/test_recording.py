"""RecordingSession against tiny in-process HTTP servers on 127.0.0.1, and the normalizer."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from parity.comparison.compare import compare
from parity.comparison.normalize import BaseUrlNormalizer, decode_body
from parity.comparison.recording import (
    Exchange,
    Recording,
    RecordingSession,
    base_test_id,
    short_failure,
)
from parity.support.net import answers


class _App(BaseHTTPRequestHandler):
    """Behaves like a small Django app: absolute URLs come from the Host header."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8",
              headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers or []:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        own = f"http://{self.headers['Host']}"
        path = self.path
        if path.startswith("/json"):
            data = {"self": f"{own}/api/x", "escaped": f"{own}/api/y", "other": "http://app:8000/x",
                    "query": path.partition("?")[2]}
            self._send(200, json.dumps(data).replace("/api/y", "\\/api\\/y").encode(),
                       "application/json")
        elif path == "/redirect":
            self._send(302, b"", headers=[("Location", f"{own}/json")])
        elif path.startswith("/elsewhere"):
            port = path.partition("=")[2]
            self._send(302, b"", headers=[("Location", f"http://127.0.0.1:{port}/x")])
        elif path == "/big":
            self._send(200, b"x" * 5000, "application/octet-stream")
        elif path == "/png":
            self._send(200, b"\x89PNG\r\n\x1a\n\0\0binary", "image/png")
        elif path == "/cookies":
            self._send(200, b"ok", headers=[
                ("Set-Cookie", "csrftoken=abc; expires=Thu, 01 Jan 2099 00:00:00 GMT; Path=/"),
                ("Set-Cookie", "sessionid=xyz; HttpOnly; Path=/")])
        elif path == "/gzip":
            body = gzip.compress(f"<a href='{own}/page'>page</a>".encode())
            self._send(200, body, "text/html; charset=utf-8", [("Content-Encoding", "gzip")])
        elif path == "/latin1":
            self._send(200, "café".encode("latin-1"), "text/plain; charset=iso-8859-1")
        elif path == "/slow":
            time.sleep(0.3)
            self._send(200, b"late")
        else:
            self._send(404, b"not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self._send(201, self.rfile.read(length), self.headers.get("Content-Type", "text/plain"))


def _serve() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    yield from _serve()


@pytest.fixture(scope="module")
def other_base_url() -> Iterator[str]:
    yield from _serve()


def _session(base_url: str, environment: str = "local", timeout: float = 5.0,
             max_body_bytes: int = 1_000_000) -> RecordingSession:
    return RecordingSession(base_url, Recording("t.py::test_x", environment), timeout=timeout,
                            max_body_bytes=max_body_bytes)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_relative_url_is_joined_and_recorded_relative(base_url: str) -> None:
    with _session(base_url + "/") as http:
        response = http.get("/json", params={"q": "1"})
        assert response.status_code == 200
        http.get(f"{base_url}/json")
    first, second = http.recording.exchanges
    assert (first.method, first.path, first.status) == ("GET", "/json?q=1", 200)
    assert second.path == "/json"
    assert first.content_type == "application/json"
    assert http.recording.base_url == base_url


def test_own_base_url_in_body_is_normalized_but_other_hosts_are_kept(base_url: str) -> None:
    with _session(base_url) as http:
        http.get("/json")
    body = json.loads(http.recording.exchanges[0].body)
    assert body["self"] == "{base_url}/api/x"
    assert body["escaped"] == "{base_url}/api/y"
    assert body["other"] == "http://app:8000/x"


def test_redirect_hops_are_each_recorded_with_normalized_location(base_url: str) -> None:
    with _session(base_url) as http:
        response = http.get("/redirect")
    assert response.status_code == 200
    hop, final = http.recording.exchanges
    assert (hop.status, hop.path) == (302, "/redirect")
    assert ("Location", "{base_url}/json") in hop.headers
    assert (final.status, final.path) == (200, "/json")


def test_connection_error_is_recorded_then_reraised() -> None:
    with _session(f"http://127.0.0.1:{_closed_port()}") as http, \
            pytest.raises(requests.ConnectionError):
        http.get("/nothing")
    (exchange,) = http.recording.exchanges
    assert exchange.status is None
    assert exchange.error is not None and exchange.error.startswith("ConnectionError: ")
    assert exchange.path == "/nothing"


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_in_the_shell_never_carries_the_environments_traffic(
        base_url: str, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    """Corporate shells set HTTP_PROXY, often without 127.0.0.1 in NO_PROXY: requests would
    send the test's and the readiness probe's loopback traffic to that proxy (here a closed
    port: a ProxyError)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, f"http://127.0.0.1:{_closed_port()}")
    assert answers(base_url + "/json")
    with _session(base_url) as http:
        assert http.get("/json").status_code == 200
    assert [exchange.status for exchange in http.recording.exchanges] == [200]


def test_redirect_to_an_unreachable_host_records_the_hop_and_the_failure(base_url: str) -> None:
    port = _closed_port()
    with _session(base_url) as http, pytest.raises(requests.ConnectionError):
        http.get(f"/elsewhere?port={port}")
    hop, failed = http.recording.exchanges
    assert (hop.status, hop.path) == (302, f"/elsewhere?port={port}")
    assert failed.path == f"http://127.0.0.1:{port}/x"
    assert failed.error is not None and failed.error.startswith("ConnectionError")


def test_the_callers_hooks_still_run(base_url: str) -> None:
    seen: list[str] = []
    with _session(base_url) as http:
        http.hooks["response"].append(lambda r, *a, **k: seen.append(f"session {r.status_code}"))
        http.get("/json")
        http.get("/json", hooks={"response": lambda r, *a, **k: seen.append("request")})
    assert seen == ["session 200", "request"]
    assert len(http.recording.exchanges) == 2


def test_default_timeout_applies_and_a_request_can_override_it(base_url: str) -> None:
    with _session(base_url, timeout=0.05) as http:
        with pytest.raises(requests.ReadTimeout):
            http.get("/slow")
        assert http.get("/slow", timeout=5).text == "late"
    timed_out, answered = http.recording.exchanges
    assert timed_out.error is not None and timed_out.error.startswith("ReadTimeout")
    assert answered.status == 200 and answered.body == "late"


def test_large_body_is_recorded_as_digest_and_size_only(base_url: str) -> None:
    with _session(base_url, max_body_bytes=1000) as http:
        assert len(http.get("/big").content) == 5000
    exchange = http.recording.exchanges[0]
    assert (exchange.body_encoding, exchange.body, exchange.body_size) == ("digest", "", 5000)
    assert exchange.body_sha256 is not None and len(exchange.body_sha256) == 64


def test_stream_true_leaves_the_body_to_the_test(base_url: str) -> None:
    with _session(base_url) as http:
        response = http.get("/big", stream=True)
        assert sum(len(chunk) for chunk in response.iter_content(1024)) == 5000
    assert http.recording.exchanges[0].body_encoding == "unread"


def test_binary_text_gzip_and_charset_bodies(base_url: str) -> None:
    with _session(base_url) as http:
        http.get("/png")
        http.get("/gzip")
        http.get("/latin1")
    png, page, latin = http.recording.exchanges
    assert png.body_encoding == "base64"
    assert png.body_bytes() == b"\x89PNG\r\n\x1a\n\0\0binary"
    assert page.body == "<a href='{base_url}/page'>page</a>"
    assert latin.body == "café"


def test_repeated_set_cookie_headers_stay_apart(base_url: str) -> None:
    with _session(base_url) as http:
        http.get("/cookies")
    cookies = [v for n, v in http.recording.exchanges[0].headers if n.lower() == "set-cookie"]
    assert len(cookies) == 2 and cookies[1] == "sessionid=xyz; HttpOnly; Path=/"


def test_request_body_digest_ignores_the_random_multipart_boundary(base_url: str) -> None:
    with _session(base_url) as http:
        http.post("/echo", files={"f": ("a.txt", b"hello")})
        http.post("/echo", files={"f": ("a.txt", b"hello")})
        http.post("/echo", json={"room": 3})
    first, second, third = http.recording.exchanges
    assert first.request_body_sha256 is not None
    assert first.request_body_sha256 == second.request_body_sha256
    assert third.request_body_sha256 not in (None, first.request_body_sha256)


def test_request_body_digest_ignores_csrf_tokens_and_the_base_url(base_url: str,
                                                                  other_base_url: str) -> None:
    digests = []
    for url, token in ((base_url, "tokenA1"), (other_base_url, "tokenB2")):
        with _session(url) as http:
            http.post("/echo", data={"csrfmiddlewaretoken": token, "u": "ada"})
            http.post("/echo", data={"csrfmiddlewaretoken": token}, files={"f": ("a", b"1")})
            http.post("/echo", json={"csrfToken": token, "next": f"{url}/x"})
            http.post("/echo", data={"u": token})
        digests.append([e.request_body_sha256 for e in http.recording.exchanges])
    local, stack = digests
    assert local[:3] == stack[:3]
    assert local[3] != stack[3]


def test_same_app_on_two_ports_matches(base_url: str, other_base_url: str) -> None:
    recordings: list[Recording] = []
    for side, url in (("local", base_url), ("stack", other_base_url)):
        with _session(url, side) as http:
            http.get("/redirect")
            http.get("/cookies")
            http.get("/gzip")
            http.post("/echo", json={"a": 1})
        recordings.append(http.recording)
    verdict = compare(recordings[0], recordings[1])
    assert verdict.kind == "match", verdict.differences


def test_ignore_declares_test_noise_and_rejects_bad_patterns(base_url: str) -> None:
    http = _session(base_url)
    http.ignore(headers=["X-Request-Id"], json_paths=["$.generated_at"], cookies=["messages"])
    kinds = {(r.kind, r.target, r.source) for r in http.recording.ignores}
    assert ("header", "x-request-id", "test") in kinds
    assert ("json_path", "$.generated_at", "test") in kinds
    assert ("cookie_value", "messages", "test") in kinds
    with pytest.raises(ValueError, match="regular expression"):
        http.ignore(text_patterns=["(unclosed"])
    with pytest.raises(ValueError, match=r"must start with '\$'"):
        http.ignore(json_paths=["generated_at"])
    with pytest.raises(ValueError, match="wrap it in brackets"):
        http.ignore(headers="X-Request-Id")


def test_recording_round_trips_through_json(base_url: str) -> None:
    with _session(base_url) as http:
        http.ignore(headers=["X-Trace"])
        http.get("/png")
        http.get("/redirect")
    http.recording.record_phase("call", "failed", "AssertionError: boom")
    data = json.loads(json.dumps(http.recording.to_dict()))
    assert Recording.from_dict(data) == http.recording
    assert Exchange.from_dict(data["exchanges"][0]).headers == http.recording.exchanges[0].headers


def test_record_phase_folds_pytest_phases() -> None:
    recording = Recording("t", "local")
    recording.record_phase("setup", "passed")
    recording.record_phase("call", "passed")
    assert recording.outcome == "passed"
    recording.record_phase("teardown", "failed", "teardown broke")
    assert (recording.outcome, recording.failure) == ("error", "teardown broke")
    failed = Recording("t", "local")
    failed.record_phase("call", "failed", "assert 1 == 2")
    failed.record_phase("teardown", "failed", "later")
    assert (failed.outcome, failed.failure) == ("failed", "assert 1 == 2")
    skipped = Recording("t", "local")
    skipped.record_phase("setup", "skipped", "no db")
    assert (skipped.outcome, skipped.failure) == ("skipped", "no db")


def test_base_test_id_and_short_failure() -> None:
    assert base_test_id("t.py::test_a[local]", "local") == "t.py::test_a"
    assert base_test_id("t.py::test_a[stack-2]", "stack") == "t.py::test_a[2]"
    assert base_test_id("t.py::test_a[2-local]", "local") == "t.py::test_a[2]"
    assert base_test_id("t.py::test_a[localhost]", "local") == "t.py::test_a[localhost]"
    longrepr = ("def test():\n>       assert 1 == 2\nE       assert 1 == 2\nE         +1\n"
                "t.py:3: AssertionError")
    assert short_failure(longrepr) == "assert 1 == 2"
    assert short_failure("x" * 500, limit=10) == "x" * 9 + "…"


def test_normalizer_boundaries_schemes_and_encodings() -> None:
    normalizer = BaseUrlNormalizer("http://127.0.0.1:5432/")
    assert normalizer.text("see http://127.0.0.1:5432/x") == "see {base_url}/x"
    assert normalizer.text("http://127.0.0.1:54321/x") == "http://127.0.0.1:54321/x"
    assert normalizer.text("https://127.0.0.1:5432/x") == "https://{host}/x"
    assert normalizer.text("http://app:8000/x") == "http://app:8000/x"
    assert normalizer.text("next=http%3A%2F%2F127.0.0.1%3A5432%2Fa") == "next={base_url}%2Fa"
    assert normalizer.text("Host: 127.0.0.1:5432.") == "Host: {host}."
    assert normalizer.path("http://127.0.0.1:5432") == "/"
    assert normalizer.path("http://127.0.0.1:5432/a?b=1") == "/a?b=1"
    assert normalizer.path("http://example.com/a") == "http://example.com/a"
    headers = [("Location", "http://127.0.0.1:5432/a"), ("X-Url", "127.0.0.1:5432")]
    assert normalizer.headers(headers) == [("Location", "{base_url}/a"),
                                           ("X-Url", "127.0.0.1:5432")]


def test_decode_body_falls_back_to_base64() -> None:
    assert decode_body(b"", "image/png") == ("text", "")
    assert decode_body(b"{}", "application/json") == ("text", "{}")
    assert decode_body(b"\xff\xfe", "text/plain; charset=utf-8")[0] == "base64"
    assert decode_body(b"plain", None) == ("text", "plain")
