"""The one readiness helper: poll a check until it answers, with a timeout that explains itself."""

from __future__ import annotations

import time
from collections.abc import Callable

from parity.support.errors import ParityError, ParityTimeoutError


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    pause: float = 0.1,
    logs: Callable[[], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Call `check` until it returns True; return the seconds waited.

    `check` may raise to signal "not yet"; the last exception is named in the timeout error,
    with the tail of `logs()` when given. A ParityError raised by `check` (say, "the process
    exited") ends the wait at once: there is no point waiting for a dead service.
    """
    __tracebackhide__ = True
    start = clock()
    last_problem = ""
    while True:
        try:
            if check():
                return clock() - start
            last_problem = ""
        except ParityError:
            raise
        except Exception as exc:
            last_problem = f" (last: {type(exc).__name__}: {exc})"
        waited = clock() - start
        if waited >= timeout:
            tail = ""
            if logs is not None:
                lines = logs().rstrip().splitlines()[-15:]
                tail = "\n" + "\n".join(lines) if lines else ""
            raise ParityTimeoutError(
                f"{what} not ready after {waited:.1f}s{last_problem}{tail}"
            )
        sleep(pause)
