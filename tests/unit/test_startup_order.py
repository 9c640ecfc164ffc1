"""The start-up's dependency graph (parity.environments.startup.run_parallel): each job runs once what it needs
is done; a failure lets an image build end, starts nothing that was waiting, cancels the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from parity.environments.startup import Alongside, run_parallel
from parity.support import proc


@pytest.fixture
def parallel() -> Iterator[Callable[..., dict[str, object]]]:
    yield run_parallel
    proc.reset_cancel()


def test_a_job_starts_once_the_jobs_it_needs_are_done(parallel: Callable[..., dict[str, object]]) -> None:
    order: list[str] = []
    lock = threading.Lock()

    def job(name: str, seconds: float) -> Callable[[], str]:
        def run() -> str:
            time.sleep(seconds)
            with lock:
                order.append(name)
            return name
        return run

    found = parallel({"postgres": job("postgres", 0.1), "images": job("images", 0.3),
                      "local": job("local", 0.0), "stack": job("stack", 0.0)},
                     {"local": ("postgres",), "stack": ("postgres", "images")})
    assert order == ["postgres", "local", "images", "stack"]  # local does not wait for the images
    assert found == {"postgres": "postgres", "images": "images", "local": "local", "stack": "stack"}


def test_a_failure_lets_the_image_build_end_and_starts_nothing_that_waited(
        parallel: Callable[..., dict[str, object]]) -> None:
    ended: list[str] = []

    def images() -> None:
        time.sleep(0.3)
        ended.append("images" + (" cancelled" if proc.cancelled() else ""))

    def local() -> None:
        raise RuntimeError("local: release step failed")

    def stack() -> None:
        ended.append("stack started")

    with pytest.raises(RuntimeError, match="release step failed"):
        parallel({"images": images, "local": local, "stack": stack}, {"stack": ("images",)},
                 finish=("images",))
    assert ended == ["images"]  # not cancelled mid-build; the stack never started
    assert proc.cancelled()  # and the rest was cancelled after it


def test_alongside_teardown_runs_while_the_next_steps_go_on_and_join_raises_its_error() -> None:
    stack_may_finish = threading.Event()
    order: list[str] = []
    alongside = Alongside()
    alongside.start("stack", lambda: (stack_may_finish.wait(5), order.append("stack down")))
    order.append("postgres down")  # not held up by the stack's teardown
    stack_may_finish.set()
    alongside.join()
    assert order == ["postgres down", "stack down"]

    alongside.start("stack", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        alongside.join()
    alongside.join()  # each error is raised once
