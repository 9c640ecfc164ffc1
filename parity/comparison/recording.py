"""The HTTP client the tests use, and what it records.

`RecordingSession` is a `requests.Session` bound to one environment's base URL. Every
exchange it makes (each redirect hop, and each request that failed) becomes an `Exchange`
in the test's `Recording`, normalized so that the two environments' recordings compare
(see `parity.comparison.normalize`). Recordings are plain data: `to_dict()` is JSON-serializable so
they travel from pytest-xdist workers to the controller inside test reports.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from parity.comparison.connections import KeptConnections, announces_keep_alive
from parity.comparison.noise import NoiseRules
from parity.comparison.normalize import BaseUrlNormalizer, decode_body

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024

OUTCOMES = ("passed", "failed", "skipped", "error")

BODY_ENCODINGS = ("text", "base64", "digest", "unread")
"""How `Exchange.body` holds the body: decoded text; base64 of bytes; nothing but
`body_sha256`/`body_size` (larger than max_body_bytes); nothing at all (stream=True, or the
body could not be read)."""


@dataclass
class Exchange:
    """One request and its response (or its failure), as seen by a test."""

    method: str
    path: str
    request_body_sha256: str | None = None
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""
    body_encoding: str = "text"
    content_type: str | None = None
    body_size: int = 0
    body_sha256: str | None = None
    error: str | None = None
    elapsed: float = 0.0

    @property
    def request(self) -> str:
        return f"{self.method} {self.path}"

    def body_bytes(self) -> bytes | None:
        """The body as bytes, or None when only its digest (or nothing) was kept."""
        if self.body_encoding == "text":
            return self.body.encode("utf-8")
        if self.body_encoding == "base64":
            return base64.b64decode(self.body)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "path": self.path,
            "request_body_sha256": self.request_body_sha256, "status": self.status,
            "headers": [[name, value] for name, value in self.headers],
            "body": self.body, "body_encoding": self.body_encoding,
            "content_type": self.content_type, "body_size": self.body_size,
            "body_sha256": self.body_sha256, "error": self.error, "elapsed": self.elapsed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["headers"] = [(str(n), str(v)) for n, v in data.get("headers", [])]
        return cls(**values)


@dataclass
class Recording:
    """One test in one environment: its exchanges, outcome and declared noise."""

    test_id: str
    environment: str
    exchanges: list[Exchange] = field(default_factory=list)
    outcome: str = "passed"
    failure: str | None = None
    ignores: NoiseRules = field(default_factory=NoiseRules)
    base_url: str = ""
    replays: list[dict[str, Any]] = field(default_factory=list)
    """[stack] only: exchanges sent again straight to the app server (`parity.comparison.replay.Replay`)."""

    def record_phase(self, when: str, outcome: str, failure: str | None = None) -> None:
        """Fold one pytest phase report ("setup"/"call"/"teardown") into the outcome.

        A failed setup or teardown is an "error", as pytest counts it; the first failure
        message is kept.
        """
        if outcome == "passed":
            return
        if outcome == "skipped":
            if self.outcome == "passed":
                self.outcome = "skipped"
                self.failure = failure
            return
        if self.outcome in ("passed", "skipped"):
            self.outcome = "failed" if when == "call" else "error"
            self.failure = failure

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id, "environment": self.environment,
            "exchanges": [exchange.to_dict() for exchange in self.exchanges],
            "outcome": self.outcome, "failure": self.failure,
            "ignores": self.ignores.to_dict(), "base_url": self.base_url,
            "replays": list(self.replays),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recording:
        return cls(
            test_id=data["test_id"], environment=data["environment"],
            exchanges=[Exchange.from_dict(e) for e in data.get("exchanges", [])],
            outcome=data.get("outcome", "passed"), failure=data.get("failure"),
            ignores=NoiseRules.from_dict(data.get("ignores", {})),
            base_url=data.get("base_url", ""), replays=list(data.get("replays", [])),
        )


def base_test_id(nodeid: str, environment: str) -> str:
    """The nodeid without the environment's parameter id: "t.py::f[local-2]" -> "t.py::f[2]",
    "t.py::f[local-rerun-2]" -> "t.py::f[2]" for the environment "local-rerun"."""
    head, bracket, params = nodeid.partition("[")
    if not bracket or not params.endswith("]"):
        return nodeid
    parts = params[:-1].split("-")
    wanted = environment.split("-")
    for start in range(len(parts) - len(wanted) + 1):
        if parts[start:start + len(wanted)] == wanted:
            kept = parts[:start] + parts[start + len(wanted):]
            return f"{head}[{'-'.join(kept)}]" if kept else head
    return nodeid


def side_of(nodeid: str, sides: Iterable[str]) -> str | None:
    """Which of `sides` a nodeid's parameter id names ("local-rerun" before "local"), or None."""
    for side in sorted(sides, key=len, reverse=True):
        if base_test_id(nodeid, side) != nodeid:
            return side
    return None


def short_failure(text: str, limit: int = 300) -> str:
    """A one-line failure message from a longrepr text: the last "E   " line, or the last line."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    message = errors[0] if errors else (lines[-1].strip() if lines else "")
    return message if len(message) <= limit else message[: limit - 1] + "…"


_CSRF_SENT = re.compile(r"""(?i)(csrf\w*(?:=|["']?\s*:\s*["']|"\r\n\r\n))[^&"'\r\n]*""")
"""A CSRF token in a form, multipart or JSON request body."""

ExchangeObserver = Callable[[int, Exchange, requests.PreparedRequest | None], None]
"""Called with each exchange just recorded (its index in the recording) and the request sent."""

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_POSITIONAL = ("params", "data", "headers", "cookies", "files", "auth", "timeout",
               "allow_redirects", "proxies", "hooks", "stream", "verify", "cert", "json")


class RecordingSession(requests.Session):
    """A requests.Session bound to one environment's base URL that records every exchange."""

    def __init__(self, base_url: str, recording: Recording, timeout: float = 30.0,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, *,
                 normalize_as: str | None = None, keep_connections: bool = False) -> None:
        """`normalize_as`: the base URL the server believes it is served at, when that is not
        `base_url` (a replay straight to the app server, which is told the stack's address).
        `keep_connections`: reuse this process's connections to the base URL's origin across
        sessions, where the server announces keep-alive (see `_after_response`)."""
        super().__init__()
        # The environments are on this machine: a proxy, netrc or CA bundle from the shell's
        # environment (HTTP_PROXY without 127.0.0.1 in NO_PROXY, REQUESTS_CA_BUNDLE) must not
        # take their traffic elsewhere or override the run's own CA.
        self.trust_env = False
        self.base_url = base_url.rstrip("/")
        self.recording = recording
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.normalizer = BaseUrlNormalizer((normalize_as or self.base_url).rstrip("/"))
        parts = urlsplit(self.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.observer: ExchangeObserver | None = None
        self.kept: KeptConnections | None = None
        if keep_connections:
            self.kept = KeptConnections.for_origin(self.origin)
            self.mount(f"{self.origin}/", self.kept.adapter)
        if not recording.base_url:
            recording.base_url = self.base_url

    def url_for(self, url: str) -> str:
        """Absolute URLs unchanged; anything else is relative to the base URL."""
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    def ignore(self, *, headers: Iterable[str] = (), json_paths: Iterable[str] = (),
               text_patterns: Iterable[str] = (), cookies: Iterable[str] = (),
               reason: str = "declared by the test") -> None:
        """Declare what differs between the environments by design, for this test only."""
        __tracebackhide__ = True
        declared = NoiseRules.declared(headers=headers, json_paths=json_paths,
                                       text_patterns=text_patterns, cookies=cookies,
                                       reason=reason, source="test")
        self.recording.ignores = self.recording.ignores.merge(declared)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs = {**dict(zip(_POSITIONAL, args, strict=False)), **kwargs}
        method_name = (method.decode() if isinstance(method, bytes) else method).upper()
        if method_name not in _SAFE_METHODS:
            kwargs["headers"] = self._with_origin(kwargs.get("headers"))
        configured_timeout = kwargs.get("timeout") is None
        if configured_timeout:
            kwargs["timeout"] = self.timeout
        stream = bool(self.stream if kwargs.get("stream") is None else kwargs["stream"])
        follow = kwargs.get("allow_redirects", True) is not False
        hops: list[requests.Response] = []

        def capture(response: requests.Response) -> None:
            hops.append(response)
            self._after_response(response)

        kwargs["hooks"] = _with_capture(kwargs.get("hooks"), self.hooks, capture)
        method_text = method.decode() if isinstance(method, bytes) else method
        full = self.url_for(url.decode() if isinstance(url, bytes) else url)
        started = time.perf_counter()
        if self.kept is not None:
            self.kept.before_request()
        try:
            response = super().request(method_text, full, **kwargs)
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
            body_failed = bool(hops) and not (follow and hops[-1].is_redirect)
            self._record(hops, stream=stream, error=error if body_failed else None)
            if not body_failed:
                self._record_failure(exc, method_text, full, error, started)
            if configured_timeout and isinstance(exc, requests.Timeout):
                raise type(exc)(f"{exc}; [tool.parity.compare] request_timeout is {self.timeout:g} s: "
                                "raise it if this view is meant to be that slow",
                                request=exc.request, response=exc.response) from None
            raise
        self._record(hops, stream=stream)
        return response

    def _with_origin(self, headers: Any) -> Any:
        """What a browser sends on an unsafe request: an Origin of the page's own site (here
        the environment's base URL), unless the test sets Origin or Referer itself. Django's
        CSRF check over HTTPS refuses a POST with neither, which no browser ever sends."""
        sent = {name.lower() for name in {**self.headers, **(headers or {})}}
        if {"origin", "referer"} & sent:
            return headers
        return {**(headers or {}), "Origin": self.origin}

    def _after_response(self, response: requests.Response) -> None:
        """Close each connection once its response is read, instead of pooling it, unless this
        session keeps its connections and the server announced `Connection: keep-alive`.

        runserver (wsgiref) writes a response in several segments without TCP_NODELAY, so on a
        reused connection every exchange after the first waits ~40 ms for the client's delayed
        ACK; a new connection costs ~0.1 ms locally. The stack's entry is another matter: a new
        connection there costs a TLS handshake through Docker's port proxy (7.3 ms of client
        CPU per two-request test on labbook's stack, 3.1 ms with connections kept). Only a
        server that says it keeps the connection open gets it reused, as a browser would: uWSGI
        and gunicorn's sync workers answer without keep-alive and close the socket, and reusing
        it races their close. The app sees the same requests either way: connection reuse is
        not part of an exchange."""
        if self.kept is not None and announces_keep_alive(response):
            self.kept.used()
            return
        for adapter in self.adapters.values():
            if isinstance(adapter, HTTPAdapter):
                adapter.poolmanager.clear()  # a connection in use is closed when released

    def close(self) -> None:
        """Close this session's own connections; kept ones stay for the next session."""
        for adapter in self.adapters.values():
            if self.kept is None or adapter is not self.kept.adapter:
                adapter.close()

    def _record(self, hops: list[requests.Response], *, stream: bool,
                error: str | None = None) -> None:
        for position, response in enumerate(hops):
            last = position == len(hops) - 1
            exchange = self._exchange(response, read=not (last and (stream or error)))
            if last and error:
                exchange.error = error
            self._append(exchange, response.request)

    def _append(self, exchange: Exchange, request: requests.PreparedRequest | None) -> None:
        self.recording.exchanges.append(exchange)
        if self.observer is not None:
            self.observer(len(self.recording.exchanges) - 1, exchange, request)

    def _exchange(self, response: requests.Response, *, read: bool) -> Exchange:
        request = response.request
        # urllib3 keeps repeated headers (Set-Cookie) apart; requests' dict joins them.
        raw_headers = getattr(response.raw, "headers", None)
        headers = list(raw_headers.items() if raw_headers else response.headers.items())
        exchange = Exchange(
            method=(request.method or "GET").upper(),
            path=self.normalizer.path(request.url or response.url),
            request_body_sha256=self._body_digest(request),
            status=response.status_code,
            headers=self.normalizer.headers(headers),
            content_type=response.headers.get("Content-Type"),
            elapsed=response.elapsed.total_seconds(),
            body_encoding="unread",
        )
        if not read:
            return exchange
        try:
            content = response.content
        except (requests.RequestException, RuntimeError):
            return exchange
        exchange.body_size = len(content)
        exchange.body_sha256 = hashlib.sha256(content).hexdigest()
        if len(content) > self.max_body_bytes:
            exchange.body_encoding = "digest"
            return exchange
        encoding, body = decode_body(content, exchange.content_type)
        exchange.body_encoding = encoding
        exchange.body = self.normalizer.text(body) if encoding == "text" else body
        return exchange

    def _record_failure(self, exc: requests.RequestException, method: str, url: str,
                        error: str, started: float) -> None:
        request = exc.request if isinstance(exc.request, requests.PreparedRequest) else None
        self._append(Exchange(
            method=((request.method if request else None) or method).upper(),
            path=self.normalizer.path((request.url if request else None) or url),
            request_body_sha256=self._body_digest(request) if request else None,
            error=self.normalizer.text(error),
            elapsed=round(time.perf_counter() - started, 6),
            body_encoding="unread",
        ), request)

    def _body_digest(self, request: requests.PreparedRequest) -> str | None:
        """sha256 of what the test sent, without what differs per environment by nature:
        the multipart boundary, this environment's base URL, CSRF tokens."""
        body = request.body
        if body is None or body == b"" or body == "":
            return None
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes):
            return None  # a file or generator: streamed, not hashed
        text = body.decode("latin-1")  # lossless, and ASCII URLs and tokens stay readable
        boundary = re.search(r"boundary=([^;\s]+)", request.headers.get("Content-Type", ""))
        if boundary:
            text = text.replace(boundary.group(1).strip('"'), "{boundary}")
        text = _CSRF_SENT.sub(r"\1{ignored}", self.normalizer.text(text))
        return hashlib.sha256(text.encode("latin-1", "replace")).hexdigest()


def _with_capture(hooks: Any, session_hooks: Any,
                  capture: Callable[[requests.Response], None]) -> dict[str, Any]:
    """The caller's hooks plus ours; ours runs first, so it sees what the server sent.

    requests runs a request's response hooks *instead of* the session's, so without the
    caller's own the session's are carried over: adding ours must not drop them.
    """
    merged: dict[str, Any] = dict(hooks or {})
    existing = merged.get("response") or list(session_hooks.get("response") or [])
    existing = [existing] if callable(existing) else list(existing)

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        capture(response)

    merged["response"] = [record, *existing]
    return merged
