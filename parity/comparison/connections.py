"""Connections kept across tests to a server that announces keep-alive (the stack's entry).

Plain data and requests' own adapter; used by `parity.comparison.recording`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

import requests
from requests.adapters import HTTPAdapter


def announces_keep_alive(response: requests.Response) -> bool:
    """The response says the server keeps its connection open (`Connection: keep-alive`)."""
    tokens = response.headers.get("Connection", "").lower().replace(",", " ").split()
    return "keep-alive" in tokens and "close" not in tokens


class KeptConnections:
    """This process's connection pool for one origin, shared by the sessions that keep theirs.

    A connection idle for longer than `IDLE_SECONDS` is not reused: a server may close an idle
    keep-alive connection at any time (gunicorn's threaded workers after 2 s, nginx after
    75 s), and a request sent just as it does fails with nothing received. Between the
    exchanges of a running suite connections are idle for milliseconds."""

    IDLE_SECONDS = 1.0
    _by_origin: ClassVar[dict[str, KeptConnections]] = {}

    def __init__(self) -> None:
        self.adapter = HTTPAdapter()
        self.last_used = 0.0

    @classmethod
    def for_origin(cls, origin: str) -> KeptConnections:
        kept = cls._by_origin.get(origin)
        if kept is None:
            kept = cls._by_origin[origin] = cls()
        return kept

    def before_request(self, now: Callable[[], float] = time.monotonic) -> None:
        if now() - self.last_used > self.IDLE_SECONDS:
            self.adapter.poolmanager.clear()

    def used(self, now: Callable[[], float] = time.monotonic) -> None:
        self.last_used = now()

    @classmethod
    def close_all(cls) -> None:
        """Close every kept connection (before the environments they lead to go down)."""
        while cls._by_origin:
            cls._by_origin.popitem()[1].adapter.close()
