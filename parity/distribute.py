"""Which process runs which test: the three ways `pytest --parity` runs a suite.

    concurrent   the default: pytest-xdist with one worker per side ([local], [stack], and
                 [local-rerun] with --parity-noise=learn), each running its side's tests in
                 collection order against environments the controller owns
                 (`SideScheduling`; hand-off in `parity.handoff`)
    distributed  `-n N`: both twins of a test (and its rerun) go to the same worker, one after
                 the other, so every side of a worker sees the same sequence of tests; each
                 worker owns its environments (`TwinScheduling`)
    serial       `--parity-serial` (or ini `parity_serial = true`), `--pdb`, `-n 0`, or
                 pytest-xdist disabled: one process, [local] then [stack] per test

Every side sees the tests of a serial run in the same order, so a stateful app hands out the
same ids on both sides and the verdicts are those of a serial run.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pytest

from parity.comparison.recording import base_test_id, side_of

Mode = Literal["serial", "concurrent", "distributed"]
SIDE_INPUT = "parity_side"
"""workerinput key: the side a concurrent run's worker runs."""
HANDOFF_INPUT = "parity_handoff"
"""workerinput key: the run's hand-off directory (`parity.handoff`)."""
PLAIN_SIDE = "local"
"""Tests that use no environment run in the [local] worker."""

_mode_key = pytest.StashKey[Mode]()


def choose_mode(config: pytest.Config, sides: int) -> Mode:
    """At command-line time (pytest_cmdline_main, after pytest-xdist turned -n into --tx):
    concurrent unless something asks for one process or for xdist's own distribution. For
    concurrent runs this sets --tx to one worker per side, with no restarts of a crashed one."""
    option = config.option
    mode: Mode = "serial"
    if hasattr(config, "workerinput") or not hasattr(option, "tx"):
        mode = "serial"  # an xdist worker, or pytest-xdist disabled (-p no:xdist)
    elif option.tx or option.dist != "no":
        mode = "distributed" if option.tx else "serial"
    elif (getattr(option, "parity", False) and option.numprocesses is None
          and not option.parity_serial and not config.getini("parity_serial")
          and not option.collectonly and not option.usepdb and not getattr(option, "trace", False)):
        mode = "concurrent"
        option.tx = ["popen"] * sides
        option.dist = "load"  # any mode xdist knows: `pytest_xdist_make_scheduler` gives ours
        if option.maxworkerrestart is None:
            option.maxworkerrestart = "0"  # a side's environment is shared: no half-run side twice
    config.stash[_mode_key] = mode
    return mode


def mode_of(config: pytest.Config) -> Mode:
    if hasattr(config, "workerinput"):
        return "concurrent" if HANDOFF_INPUT in config.workerinput else "distributed"
    return config.stash.get(_mode_key, "serial")


class SideScheduling:
    """pytest-xdist scheduling for a concurrent run: each worker runs one side's tests (and
    the [local] worker every test that uses no environment), all of them in collection order,
    sent at once. Implements xdist's `Scheduling` protocol."""

    def __init__(self, config: pytest.Config, sides: Sequence[str], log: Any = None,
                 on_schedule: Callable[[list[str]], None] = lambda ids: None,
                 refuse: Callable[[], str | None] = lambda: None) -> None:
        self.config = config
        self.refuse = refuse
        """Why not to run any test (a collection error, as a serial run stops for), or None."""
        self.refused: str | None = None
        self.sides = tuple(sides)
        self.numnodes = len(config.option.tx)
        self.log = log
        self.on_schedule = on_schedule
        self.collections: dict[Any, list[str]] = {}
        self.pending: dict[Any, list[int]] = {}
        self.collection_is_completed = False
        self._scheduled = False

    @property
    def nodes(self) -> list[Any]:
        return list(self.pending)

    @property
    def tests_finished(self) -> bool:
        return self._scheduled and not self.has_pending

    @property
    def has_pending(self) -> bool:
        return any(self.pending.values())

    def add_node(self, node: Any) -> None:
        assert node not in self.pending
        self.pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        if self.collection_is_completed:
            return  # a replacement worker: concurrent runs do not restart workers
        self.collections[node] = list(collection)
        if len(self.collections) >= self.numnodes:
            self.collection_is_completed = True

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.pending[node].remove(item_index)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("parity's concurrent runs do not reschedule tests")

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("parity's concurrent runs do not steal tests")

    def remove_node(self, node: Any) -> str | None:
        pending = self.pending.pop(node)
        return self.collections[node][pending[0]] if pending else None

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self._scheduled:
            return
        self._scheduled = True
        collection = _same_collection(self.collections, self.config)
        self.refused = self.refuse() if collection is not None else None
        if collection is None or self.refused:
            for node in self.nodes:
                node.shutdown()
            return
        self.on_schedule([base_test_id(nodeid, "local") for nodeid in collection
                          if side_of(nodeid, self.sides) == "local"])
        for node in self.nodes:
            side = node.workerinput.get(SIDE_INPUT)
            indices = [index for index, nodeid in enumerate(collection)
                       if (side_of(nodeid, self.sides) or PLAIN_SIDE) == side]
            self.pending[node] = list(indices)
            if indices:
                node.send_runtest_some(indices)
            node.shutdown()


def twin_scheduling(config: pytest.Config, sides: Sequence[str], log: Any) -> Any:
    """pytest-xdist scheduling for `-n N`: xdist's loadscope, with the scope of a test being
    the test itself without its side, so both twins (and the rerun) go to one worker."""
    from xdist.scheduler import LoadScopeScheduling

    class TwinScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            side = side_of(nodeid, sides)
            return base_test_id(nodeid, side) if side else nodeid

    return TwinScheduling(config, log)


def _same_collection(collections: dict[Any, list[str]], config: pytest.Config) -> list[str] | None:
    """The collection every worker made, or None (reported) when they differ."""
    from xdist.report import report_collection_diff

    (first_node, first), *others = collections.items()
    for node, collection in others:
        message = report_collection_diff(first, collection, first_node.gateway.id, node.gateway.id)
        if message:
            config.hook.pytest_collectreport(report=pytest.CollectReport(
                node.gateway.id, "failed", longrepr=message, result=[]))
            return None
    return first


def stop_workers(config: pytest.Config) -> None:
    """SIGTERM to every pytest-xdist worker of this controller: a concurrent run's workers own
    nothing and end at once; `-n` workers tear their environments down first (SIGTERM is
    their Ctrl-C). Without this, xdist waits for a busy worker before it kills it."""
    dsession = config.pluginmanager.get_plugin("dsession")
    group = getattr(getattr(dsession, "nodemanager", None), "group", None)
    for gateway in list(group or ()):
        popen = getattr(getattr(gateway, "_io", None), "popen", None)
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(OSError):
                popen.send_signal(signal.SIGTERM)
