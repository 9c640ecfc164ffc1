"""Start-up jobs in threads: each once the jobs it needs are done; on a failure or Ctrl-C the
rest stop and the first error is raised. The session's start-up (Postgres, images, each
environment) runs through `run_parallel`."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from types import FrameType
from typing import Any, TypeVar

from parity.environments.images.build import CANCELLED
from parity.support import proc
from parity.support.errors import CommandError

T = TypeVar("T")


def run_parallel(jobs: dict[str, Callable[[], Any]],
                 needs: dict[str, tuple[str, ...]] | None = None,
                 finish: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run start-up jobs in threads, each once the jobs it `needs` (listed before it) are
    done; on a failure or Ctrl-C, stop the rest, then re-raise. A failure lets the jobs
    named in `finish` end first (an image build: stopping one mid-step is Ctrl-C's
    business; the next run needs the images anyway), and starts no job that was waiting.

    The error raised is the first one that happened: the others are usually just the
    cancellation it caused (an initdb killed because the image build failed), or the
    same error again in a job that needed the failed one.
    """
    needs = needs or {}
    if len(jobs) == 1:
        name, job = next(iter(jobs.items()))
        return {name: job()}
    failed = threading.Event()
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="parity") as pool:
        # A signal inside submit() would leave a job running that no future tracks (its
        # thread started, its future lost): it would start a stack after the teardown.
        named: dict[str, Future[Any]] = {}
        with signals_deferred() as deferred:
            for name, job in jobs.items():
                before = [named[need] for need in needs.get(name, ()) if need in named]
                named[name] = pool.submit(_after, before, job, failed)
        futures = {future: name for name, future in named.items()}
        pending = set(futures)
        first_error: BaseException | None = None
        try:
            deferred.deliver()
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                errors = [f.exception() for f in done if f.exception() is not None]
                if errors and first_error is None:
                    first_error = errors[0]
                    failed.set()
                    ending = [f for f in pending if futures[f] in finish]
                    while ending:
                        ending = list(wait(ending, timeout=0.2).not_done)
                    proc.cancel_all()
        except BaseException:
            proc.cancel_all()
            wait(pending)
            raise
        if first_error is not None:
            raise first_error
        return {name: future.result() for future, name in futures.items()}


def _after(before: list[Future[Any]], job: Callable[[], T], failed: threading.Event) -> T:
    """A start-up job, once the ones it needs are done (their error is its error); not
    started at all once another job failed."""
    for future in before:
        future.result()
    if failed.is_set():
        raise CommandError([], None, CANCELLED, "start-up")
    return job()


class Deferred:
    def __init__(self) -> None:
        self.received: list[tuple[int, Any]] = []

    def deliver(self) -> None:
        """Act on the first signal that arrived meanwhile, as its own handler would have."""
        for signum, handler in self.received[:1]:
            if handler is signal.SIG_IGN:
                continue
            if callable(handler):
                handler(signum, None)  # default_int_handler, _raise_interrupt: they raise
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def signals_deferred() -> Iterator[Deferred]:
    """Hold SIGINT and SIGTERM back while the block runs (main thread only); `deliver()` them after."""
    deferred = Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield deferred
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def hold(signum: int, frame: FrameType | None) -> None:
        deferred.received.append((signum, previous[signal.Signals(signum)]))

    for signum in previous:
        signal.signal(signum, hold)
    try:
        yield deferred
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Alongside:
    """Teardown steps that run in threads while the next ones go on (the stack's `compose
    down` while the dev server stops and Postgres goes); `join` waits for them all and raises
    the first error one of them had."""

    def __init__(self) -> None:
        self._running: list[tuple[threading.Thread, list[BaseException]]] = []

    def start(self, name: str, step: Callable[[], object]) -> None:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                step()
            except BaseException as error:  # handed to join(), in the thread that tears down
                errors.append(error)

        thread = threading.Thread(target=run, name=f"parity-teardown-{name}")
        thread.start()
        self._running.append((thread, errors))

    def join(self) -> None:
        running, self._running = self._running, []
        first: BaseException | None = None
        for thread, errors in running:
            thread.join()
            if errors and first is None:
                first = errors[0]
        if first is not None:
            raise first
