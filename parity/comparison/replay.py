"""Send a [stack] test's requests again, straight to the app server behind the frontend.

When a [stack] exchange differs from its [local] counterpart, the same request goes at once
to the app service's own published port (gunicorn, bypassing nginx), while the app's state is
still what the test just saw. What the app answers there tells the layers apart (see
`parity.comparison.layers`): the frontend changed the answer, or the app image already gives another one.

When the [local] recording is not in this process (a pytest-xdist worker that did not run the
[local] half), every replayable exchange is replayed: the controller decides later.

Only GET, HEAD and OPTIONS are replayed unless the test opts in with
`@pytest.mark.parity_replay`. The local side is never replayed. Replays are plain data in the
[stack] recording (`Recording.replays`), so they travel to the xdist controller with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from parity.comparison.compare import NoiseRules, compare
from parity.comparison.recording import Exchange, Recording, RecordingSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ReplayMode = Literal["off", "safe", "all"]
"""off: the test is not compared (only_in, parity_skip); safe: GET/HEAD/OPTIONS; all: opted in."""
_UNREACHABLE = ("connection refused", "newconnectionerror", "failed to establish")


@dataclass
class Replay:
    """Exchange `index` of a [stack] recording, sent again to the app server directly."""

    index: int
    exchange: Exchange | None = None
    """What the app server answered (normalized against its own URL); None: not replayed."""
    reason: str | None = None
    """Why it was not replayed."""
    request_headers: list[str] = field(default_factory=list)
    """The names (never the values) of the headers the test sent."""
    request_body_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index,
                "exchange": self.exchange.to_dict() if self.exchange else None,
                "reason": self.reason, "request_headers": list(self.request_headers),
                "request_body_size": self.request_body_size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Replay:
        exchange = data.get("exchange")
        return cls(int(data["index"]), Exchange.from_dict(exchange) if exchange else None,
                   data.get("reason"), [str(n) for n in data.get("request_headers", [])],
                   int(data.get("request_body_size") or 0))


def replays_of(recording: Recording) -> dict[int, Replay]:
    """The recording's replays by exchange index (the last one wins)."""
    return {replay.index: replay for replay in map(Replay.from_dict, recording.replays)}


def exchanges_differ(local: Exchange, other: Exchange, noise: NoiseRules,
                     ignores: tuple[NoiseRules, NoiseRules] = (NoiseRules(), NoiseRules()),
                     bases: tuple[str, str] = ("", "")) -> bool:
    """Whether two exchanges differ beyond noise, by the rules of a whole-test comparison."""
    return bool(pair_differences(local, other, noise, ignores, bases))


def pair_differences(local: Exchange, other: Exchange, noise: NoiseRules,
                     ignores: tuple[NoiseRules, NoiseRules] = (NoiseRules(), NoiseRules()),
                     bases: tuple[str, str] = ("", "")) -> list[Any]:
    """`bases`: the base URLs each exchange was made against (their schemes count)."""
    verdict = compare(Recording("", "local", [local], ignores=ignores[0], base_url=bases[0]),
                      Recording("", "stack", [other], ignores=ignores[1], base_url=bases[1]), noise)
    return list(verdict.differences)


class Replayer:
    """The observer of a [stack] RecordingSession: replays what differs (or may differ)."""

    def __init__(self, recording: Recording, *, stack_url: str, app_url: str | None,
                 mode: ReplayMode, local: Callable[[], Recording | None],
                 noise: Callable[[], NoiseRules], timeout: float = 30.0,
                 unavailable: str = "the app service's port is not published") -> None:
        self.recording = recording
        self.stack_url = stack_url.rstrip("/")
        self.app_url = app_url.rstrip("/") if app_url else None
        self.mode = mode
        self.local = local
        self.noise = noise
        self.timeout = timeout
        self.unavailable = unavailable

    def observe(self, index: int, exchange: Exchange,
                request: requests.PreparedRequest | None) -> None:
        if self.mode == "off":
            return
        try:
            if not self._needed(index, exchange):
                return
            replay = self._replay(index, exchange, request)
        except Exception as error:  # a replay must never break the test it observes
            replay = Replay(index, reason=f"the replay failed: {type(error).__name__}: {error}")
        self.recording.replays.append(replay.to_dict())

    def _needed(self, index: int, exchange: Exchange) -> bool:
        local = self.local()
        if local is None or index >= len(local.exchanges):
            return True
        return exchanges_differ(local.exchanges[index], exchange, self.noise(),
                                (local.ignores, self.recording.ignores),
                                (local.base_url, self.recording.base_url))

    def _replay(self, index: int, exchange: Exchange,
                request: requests.PreparedRequest | None) -> Replay:
        if request is None:
            return Replay(index, reason="the request was never sent")
        body = request.body
        size = len(body) if isinstance(body, bytes | str) else 0
        replay = Replay(index, request_headers=sorted(request.headers), request_body_size=size)
        method = (request.method or exchange.method).upper()
        url = self._rebase(request.url or "")
        if self.app_url is None:
            replay.reason = self.unavailable
        elif method not in SAFE_METHODS and self.mode != "all":
            replay.reason = (f"{method} is not safe to replay; add @pytest.mark.parity_replay "
                             "to the test to allow it")
        elif body is not None and not isinstance(body, bytes | str):
            replay.reason = "the request body was streamed: it cannot be sent twice"
        elif url is None:
            replay.reason = f"the request went to another host ({urlsplit(request.url or '').netloc})"
        else:
            replay.exchange = self._send(method, url, request, body)
            error = (replay.exchange.error or "").lower() if replay.exchange else ""
            if replay.exchange is None or any(word in error for word in _UNREACHABLE):
                replay.reason = f"the app server did not answer at {self.app_url}"
                replay.exchange = None
            else:
                # The same request, only sent elsewhere: it reads as the one the test made.
                replay.exchange.request_body_sha256 = exchange.request_body_sha256
                replay.exchange.path = exchange.path
        return replay

    def _send(self, method: str, url: str, request: requests.PreparedRequest,
              body: bytes | str | None) -> Exchange | None:
        """The request as the frontend passes it on: the client's own headers (Origin and
        Referer still name the stack), the Host the client used, and X-Forwarded-Proto with
        the scheme it used; answers read as if served at the stack's address."""
        assert self.app_url is not None
        stack = urlsplit(self.stack_url)
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() not in ("content-length", "host")}
        headers.update({"Host": stack.netloc, "X-Forwarded-Proto": stack.scheme,
                        "X-Forwarded-Host": stack.netloc})
        scratch = Recording(self.recording.test_id, "direct")
        with RecordingSession(self.app_url, scratch, timeout=self.timeout,
                              normalize_as=self.stack_url) as session:
            try:
                session.request(method, url, data=body, headers=headers, allow_redirects=False)
            except requests.RequestException:
                pass  # recorded as the exchange's error
        return scratch.exchanges[0] if scratch.exchanges else None

    def _rebase(self, url: str) -> str | None:
        """The URL on the app server, or None when it was not the stack's own."""
        if self.app_url is None:
            return url
        if url == self.stack_url or url.startswith(self.stack_url + "/") or \
                url.startswith(self.stack_url + "?"):
            return self.app_url + url[len(self.stack_url):]
        return None

