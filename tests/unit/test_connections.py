"""Kept connections to the stack's entry: reused only where the server announces keep-alive."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from parity.comparison.connections import KeptConnections, announces_keep_alive
from parity.comparison.recording import Exchange, Recording, RecordingSession


class _Server(BaseHTTPRequestHandler):
    """HTTP/1.1; remembers the client port of every request. `announce`: answer with
    `Connection: keep-alive` (nginx). `closes`: answer with no Connection header and close the
    socket a moment later, as uWSGI's http-socket does. Neither: keep the connection without
    saying so, like runserver."""

    protocol_version = "HTTP/1.1"
    announce = True
    closes = False
    ports: list[int] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.ports.append(self.client_address[1])
        status, headers = (302, [("Location", "/end")]) if self.path == "/hop" else (200, [])
        if self.announce:
            headers.append(("Connection", "keep-alive"))
        self.send_response(status)
        for name, value in [*headers, ("Content-Length", "2")]:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(b"ok")
        self.wfile.flush()
        if self.closes:
            time.sleep(0.05)  # a client that reuses the connection sends into a closing socket
            self.close_connection = True


def _serve(*, announce: bool, closes: bool = False) -> Iterator[str]:
    handler = type("Handler", (_Server,), {"announce": announce, "closes": closes, "ports": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    _Server.ports = handler.ports
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        KeptConnections.close_all()
        server.shutdown()
        server.server_close()


@pytest.fixture
def keep_alive_server() -> Iterator[str]:
    yield from _serve(announce=True)


@pytest.fixture
def closing_server() -> Iterator[str]:
    yield from _serve(announce=False, closes=True)


@pytest.fixture
def runserver_like() -> Iterator[str]:
    yield from _serve(announce=False)


def _seen(recording: Recording) -> list[tuple[object, ...]]:
    def row(e: Exchange) -> tuple[object, ...]:
        return (e.method, e.path, e.status, e.body, [name for name, _ in e.headers])
    return [row(e) for e in recording.exchanges]


def test_every_exchange_of_a_local_session_gets_its_own_connection(runserver_like: str) -> None:
    """A reused connection to a wsgiref server (runserver) stalls ~40 ms on delayed ACKs."""
    with RecordingSession(runserver_like, Recording("t.py::test_x", "local"), timeout=5.0) as http:
        assert http.get("/a").status_code == 200
        assert http.get("/b").status_code == 200
        assert http.get("/hop").status_code == 200  # two hops: /hop, then /end
        streamed = http.get("/c", stream=True)
        assert streamed.content == b"ok"
        assert http.get("/d").status_code == 200
    assert len(_Server.ports) == 6
    assert len(set(_Server.ports)) == 6
    assert [e.path for e in http.recording.exchanges] == ["/a", "/b", "/hop", "/end", "/c", "/d"]


def test_stack_sessions_share_a_connection_the_server_keeps_open(keep_alive_server: str) -> None:
    recordings = []
    for keep in (True, True, False):
        with RecordingSession(keep_alive_server, Recording("t.py::test_x", "stack"),
                              keep_connections=keep) as http:
            assert http.get("/a").status_code == 200
            assert http.get("/hop").status_code == 200  # two hops: /hop, then /end
        recordings.append(http.recording)
    KeptConnections.close_all()
    with RecordingSession(keep_alive_server, Recording("t.py::test_x", "stack"), keep_connections=True) as http:
        assert http.get("/a").status_code == 200
    ports = _Server.ports
    kept, own, after_close = ports[:6], ports[6:9], ports[9:]
    assert len(set(kept)) == 1  # two sessions, three exchanges each: one connection
    assert len(set(own)) == 3 and not set(own) & set(kept)  # not kept: one connection each
    assert after_close and after_close[0] not in kept
    assert _seen(recordings[0]) == _seen(recordings[1]) == _seen(recordings[2])  # reuse is not recorded


def test_a_server_that_does_not_announce_keep_alive_gets_a_connection_per_exchange(closing_server: str) -> None:
    """uWSGI answers HTTP/1.1 without keep-alive and closes: reusing its socket would race the
    close and fail with RemoteDisconnected (as it did on the pinboard scenario)."""
    for _ in range(2):
        with RecordingSession(closing_server, Recording("t.py::test_x", "stack"), keep_connections=True) as http:
            for path in ("/a", "/b", "/hop"):
                assert http.get(path).status_code == 200
    assert len(_Server.ports) == 8
    assert len(set(_Server.ports)) == 8


def test_a_kept_connection_idle_for_too_long_is_not_reused(keep_alive_server: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KeptConnections, "IDLE_SECONDS", 0.02)
    with RecordingSession(keep_alive_server, Recording("t.py::test_x", "stack"), keep_connections=True) as http:
        assert http.get("/a").status_code == 200
        assert http.get("/b").status_code == 200
        time.sleep(0.05)
        assert http.get("/c").status_code == 200
    first, second, after_idle = _Server.ports
    assert first == second != after_idle


@pytest.mark.parametrize(("header", "kept"), [
    ("keep-alive", True), ("Keep-Alive", True), ("Upgrade, keep-alive", True),
    ("close", False), ("keep-alive, close", False), (None, False),
])
def test_only_an_announced_keep_alive_counts(header: str | None, kept: bool) -> None:
    response = requests.Response()
    if header is not None:
        response.headers["Connection"] = header
    assert announces_keep_alive(response) is kept
