"""A pytest plugin the benchmark loads into the runs it measures (`-p parity_bench_probe`).

It writes, to the file named by PARITY_BENCH_PROBE, what only the pytest process can see:

- `tests_wall`: the test phase, as the controller sees it: from when every environment is
  ready (or the first test start, if later) to the last test end. A concurrent run's [local]
  worker starts its tests as soon as its own environment is up, while the stack still starts:
  what it does before the stack is ready is start-up's shadow, not the test phase.
  `tests_wall_from_first_test` is first test start (its setup may wait for its environment)
  to last test end;
- `durations`: the sum of pytest's setup/call/teardown durations per side;
- `overhead`: seconds spent inside parity's recording ("record": RecordingSession._record and
  _record_failure), carrying recordings in test reports ("report": Recording.to_dict,
  from_dict, ParityRunner.add_phase) and comparing them ("compare": compare(),
  divergence_now, verdicts), each call counted once, in its outermost instrumented caller,
  summed over the controller and its pytest-xdist workers (they record and compare too);
- `waits`: seconds the [stack] worker of a concurrent run waited for [local] twins
  (Handoff.twin, outside `overhead`: it is time the other side was behind, not work).

With PARITY_BENCH_NOCACHE=1 it also makes every image build skip Docker's layer cache, the
state of a CI machine that never built this app: the cold case (c). Nothing here changes
what parity does otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

OUTPUT = "PARITY_BENCH_PROBE"
NOCACHE = "PARITY_BENCH_NOCACHE"


class _Clock:
    """Seconds per category, outermost call only (nested instrumented calls are not re-counted)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._local = threading.local()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def measure(self, category: str) -> Iterator[None]:
        if category in WAITS:  # not work: taken out of the instrumented call it happens in
            started = time.perf_counter()
            try:
                yield
            finally:
                waited = time.perf_counter() - started
                self._local.waited = getattr(self._local, "waited", 0.0) + waited
                self.add(category, waited)
            return
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        waited_before = getattr(self._local, "waited", 0.0)
        started = time.perf_counter()
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                waited = getattr(self._local, "waited", 0.0) - waited_before
                self.add(category, time.perf_counter() - started - waited)

    def add(self, category: str, seconds: float, calls: int = 1) -> None:
        with self._lock:
            self.seconds[category] = self.seconds.get(category, 0.0) + seconds
            self.calls[category] = self.calls.get(category, 0) + calls


_clock = _Clock()
WAITS = frozenset({"twin wait"})
WORKER_OUTPUT = "parity_bench_probe"


def _wrap(owner: Any, name: str, category: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)
    if getattr(original, "_parity_bench", False):
        return

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with _clock.measure(category):
            return original(*args, **kwargs)

    timed._parity_bench = True  # type: ignore[attr-defined]
    setattr(owner, name, timed)


def _instrument() -> None:
    from parity import handoff, runner
    from parity.comparison import recording

    for name in ("_record", "_record_failure"):
        _wrap(recording.RecordingSession, name, "record")
    # Recordings ride in test reports: to_dict at the end of a test, from_dict when folded in.
    _wrap(recording.Recording, "to_dict", "report")
    original_from_dict = recording.Recording.from_dict  # a classmethod, already bound

    def from_dict(data: dict[str, Any]) -> Any:
        with _clock.measure("report"):
            return original_from_dict(data)

    recording.Recording.from_dict = staticmethod(from_dict)  # type: ignore[method-assign]
    _wrap(runner.ParityRunner, "add_phase", "report")
    _wrap(runner, "compare", "compare")
    for name in ("divergence_now", "verdicts"):
        _wrap(runner.ParityRunner, name, "compare")
    _wrap(handoff.Handoff, "twin", "twin wait")


def _no_layer_cache() -> None:
    from docker.api.build import BuildApiMixin

    original = BuildApiMixin.build

    @functools.wraps(original)
    def build(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["nocache"] = True
        return original(self, *args, **kwargs)

    BuildApiMixin.build = build  # type: ignore[method-assign]


class Probe:
    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path
        self.first: float | None = None
        self.last: float | None = None
        self.durations: dict[str, dict[str, float]] = {}
        self.tests = 0

    def pytest_runtest_logstart(self) -> None:
        if self.first is None:
            self.first = time.monotonic()

    def pytest_runtest_logfinish(self) -> None:
        self.last = time.monotonic()
        self.tests += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        side = "stack" if "[stack" in report.nodeid or "-stack" in report.nodeid else "local"
        per_side = self.durations.setdefault(side, {})
        per_side[report.when] = per_side.get(report.when, 0.0) + report.duration

    def _test_phase(self) -> float | None:
        """From when every environment is ready (and a test started) to the last test's end.
        A concurrent run's [local] worker starts while the stack still starts: those tests
        ran in start-up's shadow, and its first test's setup waits for its environment."""
        if self.first is None or self.last is None:
            return None
        from parity.fixtures import runner_key

        runner = self.config.stash.get(runner_key, None)
        ready = getattr(runner, "tests_started", None)
        return round(self.last - max(self.first, ready or self.first), 3)

    def pytest_sessionfinish(self) -> None:
        if hasattr(self.config, "workerinput"):  # before xdist sends the worker's output home
            self.config.workeroutput[WORKER_OUTPUT] = {  # type: ignore[attr-defined]
                "seconds": dict(_clock.seconds), "calls": dict(_clock.calls)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        found = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT) or {}
        for category, seconds in found.get("seconds", {}).items():
            _clock.add(category, float(seconds), int(found.get("calls", {}).get(category, 0)))

    def pytest_unconfigure(self) -> None:
        if hasattr(self.config, "workerinput"):
            return  # xdist workers: the controller sees every report, and their clocks
        work = {k: v for k, v in _clock.seconds.items() if k not in WAITS}
        document = {
            "tests": self.tests,
            "tests_wall": self._test_phase(),
            "tests_wall_from_first_test": None if self.first is None or self.last is None
            else round(self.last - self.first, 3),
            "durations": {side: {k: round(v, 3) for k, v in phases.items()}
                          for side, phases in self.durations.items()},
            "overhead": {**{k: round(v, 4) for k, v in work.items()},
                         "total": round(sum(work.values()), 4)},
            "waits": {k: round(v, 4) for k, v in _clock.seconds.items() if k in WAITS},
            "calls": dict(_clock.calls),
        }
        self.path.write_text(json.dumps(document, indent=2))


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(OUTPUT)
    if not path:
        return
    _instrument()
    if os.environ.get(NOCACHE) == "1":
        _no_layer_cache()
    config.pluginmanager.register(Probe(config, Path(path)), "parity-bench-probe")
