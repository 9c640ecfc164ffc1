"""A signal that arrives while start-up jobs are being handed to threads waits until every job
has its future, so the interruption is handled with all of them tracked (and stopped)."""

from __future__ import annotations

import os
import signal

import pytest

from parity.environments.startup import signals_deferred as _signals_deferred


def test_a_sigint_inside_the_block_is_delivered_after_it() -> None:
    reached_end = False
    with _signals_deferred() as deferred:
        os.kill(os.getpid(), signal.SIGINT)
        reached_end = True
    assert reached_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        deferred.deliver()


def test_sigterm_goes_to_the_handler_that_was_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def handler(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt("signal SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with _signals_deferred() as deferred:
            os.kill(os.getpid(), signal.SIGTERM)
        assert seen == []
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            deferred.deliver()
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_nothing_to_deliver_without_a_signal() -> None:
    with _signals_deferred() as deferred:
        pass
    deferred.deliver()
