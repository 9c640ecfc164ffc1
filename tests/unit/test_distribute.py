"""Who runs which test (parity.distribute), the hand-off between workers (parity.handoff) and
one progress mark per pair (parity.progress): pure logic, with fake xdist nodes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from parity import distribute
from parity.comparison.recording import Exchange, Recording, base_test_id, side_of
from parity.handoff import Handoff
from parity.progress import PairMarks
from parity.support.errors import ParityError

SIDES = ("local", "stack")
LEARN = ("local", "stack", "local-rerun")


def test_base_test_id_and_side_of_know_multi_part_sides() -> None:
    assert base_test_id("t.py::f[local-rerun]", "local-rerun") == "t.py::f"
    assert base_test_id("t.py::f[2-local-rerun-x]", "local-rerun") == "t.py::f[2-x]"
    assert side_of("t.py::f[local-rerun]", LEARN) == "local-rerun"
    assert side_of("t.py::f[local-2]", LEARN) == "local"
    assert side_of("t.py::f[2-stack]", LEARN) == "stack"
    assert side_of("t.py::f[localhost]", LEARN) is None
    assert side_of("t.py::test_plain", LEARN) is None


class FakeNode:
    def __init__(self, name: str, side: str | None = None) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.workerinput: dict[str, Any] = {} if side is None else {distribute.SIDE_INPUT: side}
        self.sent: list[list[int]] = []
        self.shut = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.append(list(indices))

    def shutdown(self) -> None:
        self.shut = True

    @property
    def shutting_down(self) -> bool:
        return self.shut


def fake_config(workers: int, **options: Any) -> Any:
    values = {"tx": ["popen"] * workers, "loadscopereorder": False, **options}
    return SimpleNamespace(option=SimpleNamespace(**values), getvalue=values.__getitem__,
                           hook=SimpleNamespace(pytest_collectreport=lambda report: None))


COLLECTION = [
    "a.py::test_one[local]", "a.py::test_one[stack]", "a.py::test_plain",
    "a.py::test_two[local]", "a.py::test_two[stack]", "b.py::test_only_stack[stack]",
    "b.py::test_three[local-1]", "b.py::test_three[local-2]", "b.py::test_three[stack-1]",
    "b.py::test_three[stack-2]",
]


def test_side_scheduling_gives_each_side_its_tests_in_collection_order() -> None:
    local, stack = FakeNode("gw0", "local"), FakeNode("gw1", "stack")
    expected: list[str] = []
    scheduler = distribute.SideScheduling(fake_config(2), SIDES, on_schedule=expected.extend)
    for node in (local, stack):
        scheduler.add_node(node)
    scheduler.add_node_collection(local, COLLECTION)
    assert not scheduler.collection_is_completed
    scheduler.add_node_collection(stack, COLLECTION)
    assert scheduler.collection_is_completed
    scheduler.schedule()
    assert local.sent == [[0, 2, 3, 6, 7]] and stack.sent == [[1, 4, 5, 8, 9]]
    assert local.shut and stack.shut
    # The [stack] worker waits for exactly these tests' [local] twins.
    assert expected == ["a.py::test_one", "a.py::test_two", "b.py::test_three[1]", "b.py::test_three[2]"]
    assert scheduler.has_pending and not scheduler.tests_finished
    for index in (0, 2, 3, 6, 7):
        scheduler.mark_test_complete(local, index)
    assert scheduler.remove_node(local) is None
    scheduler.mark_test_complete(stack, 1)
    assert scheduler.remove_node(stack) == "a.py::test_two[stack]"  # crashed while running it


def test_side_scheduling_runs_nothing_when_workers_collected_differently() -> None:
    local, stack = FakeNode("gw0", "local"), FakeNode("gw1", "stack")
    scheduler = distribute.SideScheduling(fake_config(2), SIDES)
    for node in (local, stack):
        scheduler.add_node(node)
    scheduler.add_node_collection(local, COLLECTION)
    scheduler.add_node_collection(stack, COLLECTION[:-1])
    scheduler.schedule()
    assert local.sent == stack.sent == [] and local.shut and stack.shut


def test_twin_scheduling_keeps_the_twins_of_a_test_on_one_worker() -> None:
    pytest.importorskip("xdist")
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    scheduler = distribute.twin_scheduling(fake_config(2), LEARN, None)
    collection = [f"t.py::test_{n}[{side}]" for n in range(6) for side in LEARN]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    assert all(node.sent for node in nodes)
    for node in nodes:
        for chunk in node.sent:
            ids = [collection[i] for i in chunk]
            assert len({base_test_id(nodeid, side_of(nodeid, LEARN) or "") for nodeid in ids}) == 1
            assert [side_of(nodeid, LEARN) for nodeid in ids] == list(LEARN), ids


def test_choose_mode_is_concurrent_only_when_nothing_asks_for_one_process_or_for_n() -> None:
    def mode(**options: Any) -> tuple[str, Any]:
        values = {"tx": [], "dist": "no", "parity": True, "numprocesses": None, "parity_serial": False,
                  "collectonly": False, "usepdb": False, "trace": False, "maxworkerrestart": None,
                  **options}
        config: Any = SimpleNamespace(option=SimpleNamespace(**values), stash=pytest.Stash(),
                                      getini=lambda name: False)
        return distribute.choose_mode(config, 2), config.option

    found, option = mode()
    assert found == "concurrent" and option.tx == ["popen", "popen"] and option.maxworkerrestart == "0"
    assert mode(parity=False)[0] == "serial"
    assert mode(parity_serial=True)[0] == "serial"
    assert mode(usepdb=True)[0] == "serial"
    assert mode(numprocesses=0)[0] == "serial"  # -n 0: xdist's own "do not distribute"
    assert mode(collectonly=True)[0] == "serial"
    assert mode(tx=["popen"] * 3, dist="load", numprocesses=3)[0] == "distributed"


def recording(test_id: str) -> Recording:
    return Recording(test_id, "local", [Exchange("GET", "/", status=200, body="hi")])


def test_the_stack_side_waits_for_its_local_twin_and_only_for_expected_ones(tmp_path: Path) -> None:
    controller, local, stack = Handoff(tmp_path), Handoff(tmp_path), Handoff(tmp_path)
    controller.expect_twins(["t.py::a", "t.py::b"])
    assert stack.twin("t.py::only_stack") is None  # no [local] twin scheduled: no wait

    def later() -> None:
        time.sleep(0.2)
        local.hand_over("t.py::a", recording("t.py::a"))

    threading.Thread(target=later).start()
    started = time.monotonic()
    found = stack.twin("t.py::a")
    assert found is not None and found.exchanges[0].body == "hi"
    assert time.monotonic() - started >= 0.15
    local.hand_over("t.py::b", None)  # errored before it recorded anything
    assert stack.twin("t.py::b") is None
    assert oct((tmp_path / "local").stat().st_mode & 0o777) == "0o700"


def test_a_gone_local_worker_ends_the_wait(tmp_path: Path) -> None:
    controller, stack = Handoff(tmp_path), Handoff(tmp_path)
    controller.expect_twins(["t.py::a"])
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 5:
            controller.side_done("local")

    assert stack.twin("t.py::a", sleep=sleep) is None
    assert len(sleeps) == 5 and sleeps[0] < sleeps[-1] <= 0.02  # polls back off, capped


def test_environments_with_a_broken_description_say_where_they_looked(tmp_path: Path) -> None:
    (tmp_path / "environments.json").write_text("{")
    with pytest.raises(Exception, match="not described at .*environments.json"):
        Handoff(tmp_path).environments()


def test_waiting_workers_stop_waiting_when_the_start_up_failed(tmp_path: Path) -> None:
    controller, worker = Handoff(tmp_path), Handoff(tmp_path)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            controller.startup_failed("parity: stack: release step failed")

    with pytest.raises(ParityError, match="^parity: stack: release step failed .*main pytest process"):
        worker.environment("local", sleep=sleep)
    with pytest.raises(ParityError, match="release step failed"):
        worker.environments(sleep=sleep)
    assert len(sleeps) == 3


def test_one_progress_mark_per_pair_the_worst_of_the_twins() -> None:
    marks = PairMarks(SIDES)
    marks.expect(["t.py::a[local]", "t.py::a[stack]", "t.py::b[local]", "t.py::b[stack]",
                  "t.py::plain", "t.py::c[stack]"])
    assert marks.mark("t.py::a[stack]", "call", "F", "FAILED") == ("", "")
    assert marks.mark("t.py::a[stack]", "call", "F", "FAILED") == ("", "")  # asked again: same
    assert marks.mark("t.py::a[local]", "call", ".", "PASSED") == ("F", "local PASSED, stack FAILED")
    assert marks.held == ["t.py::a[stack]"]
    assert marks.mark("t.py::b[local]", "call", ".", ("PASSED", {"green": True})) == ("", "")
    assert marks.mark("t.py::b[stack]", "call", ".", ("PASSED", {"green": True})) == \
        (".", ("PASSED", {"green": True}))
    assert marks.mark("t.py::b[stack]", "teardown", "E", "ERROR") == ("E", "ERROR")  # its own mark
    assert marks.mark("t.py::plain", "call", ".", "PASSED") == (".", "PASSED")
    assert marks.mark("t.py::c[stack]", "call", "s", "SKIPPED") == ("s", "SKIPPED")  # only_in: alone
    assert marks.mark("t.py::a[local]", "setup", "", "") == ("", "")
    marks.active = False
    assert marks.mark("t.py::a[stack]", "call", "F", "FAILED") == ("F", "FAILED")


def test_side_scheduling_runs_nothing_after_collection_errors_as_a_serial_run() -> None:
    local, stack = FakeNode("gw0", "local"), FakeNode("gw1", "stack")
    scheduler = distribute.SideScheduling(fake_config(2), SIDES, refuse=lambda: "1 error during collection")
    for node in (local, stack):
        scheduler.add_node(node)
        scheduler.add_node_collection(node, COLLECTION)
    scheduler.schedule()
    assert local.sent == stack.sent == [] and local.shut and stack.shut
    assert scheduler.refused == "1 error during collection" and scheduler.tests_finished


def test_environments_reach_the_workers_with_their_ca_logs_and_settings_noise(tmp_path: Path) -> None:
    from parity.comparison.noise import NoiseRules
    from parity.environments.environment import Environment

    (tmp_path / "server.log").write_text("GET / 200\n")
    local = Environment("local", "http://127.0.0.1:1", "postgresql://u:pw@127.0.0.1:2/l", "local://",
                        lambda: "")
    stack = Environment("stack", "https://127.0.0.1:3", "postgresql://u:pw@127.0.0.1:2/s",
                        "docker://app-1", lambda: "", ca_bundle="/tmp/ca.pem")
    stack_server = SimpleNamespace(
        app_url="http://127.0.0.1:4",
        compose_argv=lambda *args: (["sh", "-c", 'echo "$PARITY_RUN says hi"'], None),
        compose_variables=lambda: {"PARITY_RUN": "r1"})
    session: Any = SimpleNamespace(environments={"local": local, "stack": stack},
                                   locals={"local": SimpleNamespace(log_path=tmp_path / "server.log")},
                                   stack=stack_server)
    noise = NoiseRules.declared(headers=["Strict-Transport-Security"], reason="HSTS in the stack only",
                                source="config")
    handoff = Handoff(tmp_path / "handoff")
    handoff.publish_ready(session, "local")  # up first: its worker starts before the stack is up
    early = Handoff(tmp_path / "handoff").environment("local", sleep=_never)
    assert early.base_url == "http://127.0.0.1:1" and early.logs() == "GET / 200\n"
    assert not (tmp_path / "handoff" / "environments.json").exists()
    handoff.publish(session, noise)
    assert oct((tmp_path / "handoff" / "environments.json").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "handoff" / "ready" / "local.json").stat().st_mode & 0o777) == "0o600"
    found, app_url, settings_noise = Handoff(tmp_path / "handoff").environments()
    assert app_url == "http://127.0.0.1:4" and settings_noise.to_dict() == noise.to_dict()
    assert found["stack"].ca_bundle == "/tmp/ca.pem" and found["local"].ca_bundle is None
    assert found["stack"].host_spec == "docker://app-1" and found["local"].base_url == "http://127.0.0.1:1"
    assert found["local"].logs() == "GET / 200\n"
    assert found["stack"].logs() == "r1 says hi\n"


def _never(seconds: float) -> None:
    raise AssertionError("waited for a description that was there")


def test_the_controller_removes_the_hand_off_and_the_temp_root_it_left(tmp_path: Path) -> None:
    root = tmp_path / "parity-run-r1"
    handoff = Handoff(root / "handoff")
    handoff.expect_twins(["t.py::a"])
    handoff.startup_failed("parity: stack: release step failed")  # after the session removed root
    handoff.remove()
    assert not root.exists()
    (root / "handoff").mkdir(parents=True)
    (root / "other").write_text("the session's own: left to it")
    Handoff(root / "handoff").remove()
    assert not (root / "handoff").exists() and (root / "other").exists()
