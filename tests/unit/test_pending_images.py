"""The stack's start-up waits for the app image only, then for the whole build, never forever."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from parity.environments.images.build import CANCELLED, BuiltImages
from parity.environments.images.pending import PendingImages
from parity.support import proc
from parity.support.errors import CommandError, StartupError

IMAGES = BuiltImages("parity/x-app:1", "parity/x-frontend:1", (), 0.0)


@pytest.fixture(autouse=True)
def not_cancelled() -> Iterator[None]:
    proc.reset_cancel()
    yield
    proc.reset_cancel()


def _later(seconds: float, action: object) -> None:
    threading.Timer(seconds, action).start()  # type: ignore[arg-type]


def test_the_app_image_is_handed_over_before_the_frontend_is_built() -> None:
    pending = PendingImages()
    _later(0.05, lambda: pending.app_ready(IMAGES))
    assert pending.app_image() is IMAGES
    finished_at: list[float] = []
    _later(0.2, lambda: (finished_at.append(time.monotonic()), pending.finished()))
    pending.all_built()
    assert finished_at and time.monotonic() >= finished_at[0]


def test_a_failed_build_raises_its_own_error_in_the_waiting_job() -> None:
    pending = PendingImages()
    error = StartupError("stack", "build frontend", "no space left on device")
    _later(0.05, lambda: pending.finished(error))
    with pytest.raises(StartupError) as raised:
        pending.app_image()
    assert raised.value is error
    with pytest.raises(StartupError):
        pending.all_built()


def test_a_failure_after_the_app_image_still_reaches_the_frontend_wait() -> None:
    pending = PendingImages()
    pending.app_ready(IMAGES)
    error = StartupError("stack", "build frontend", "COPY failed")
    pending.finished(error)
    with pytest.raises(StartupError) as raised:
        pending.all_built()
    assert raised.value is error


def test_a_cancelled_session_stops_the_wait() -> None:
    pending = PendingImages()
    _later(0.05, proc.cancel_all)
    started = time.monotonic()
    with pytest.raises(CommandError, match=CANCELLED):
        pending.app_image()
    assert time.monotonic() - started < 2
