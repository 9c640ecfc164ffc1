"""Ctrl-C works however parity was started.

A process started as a background job of a script (`pytest --parity &` in a CI step, a
runner's own wrapper) inherits SIGINT *ignored*, and Python keeps it ignored: such a run would
not react to a cancellation that starts with SIGINT at all. parity therefore takes SIGINT for
the length of its session, raising KeyboardInterrupt (which tears everything down), and gives
back what it inherited afterwards. A handler that is already Python's own, or the user's, is
left alone.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


def take_sigint() -> Any:
    """Make SIGINT raise KeyboardInterrupt (main thread only); returns what to restore."""
    if threading.current_thread() is not threading.main_thread():
        return None
    inherited = signal.getsignal(signal.SIGINT)
    if inherited in (signal.SIG_IGN, signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return inherited
    return None


def give_back_sigint(inherited: Any) -> None:
    if inherited is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, inherited)


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")
