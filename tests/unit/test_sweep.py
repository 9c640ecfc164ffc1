"""What a killed run leaves is findable: its registry entry, temp root, running commands and
half-built image layers; the sweep undoes each. And failures are told by their telling line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker.errors
import pytest

from parity.environments import clean
from parity.environments.images import build as images
from parity.environments.runs import Run, all_runs
from parity.support import proc
from parity.support.errors import CommandError, telling_line


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARITY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    monkeypatch.setattr(clean, "_sweep_postgres", lambda dry_run: [])
    monkeypatch.setattr(clean, "_sweep_docker", lambda dry_run, dead, projects: [])
    return tmp_path


def kill_owner(run: Run) -> None:
    (run.dir / "owner.pid").write_text(f"{os.getpid()} not-the-start-time")


def test_a_run_is_listed_only_once_it_has_an_owner(registry: Path) -> None:
    half = registry / "state" / "runs" / ".r1-partial"
    half.mkdir(parents=True)
    run = Run.start("r2")
    assert [r.id for r in all_runs()] == ["r2"]
    assert run.alive()
    with pytest.raises(FileExistsError):
        Run.start("r2")


def test_finish_removes_the_runs_temp_root(registry: Path) -> None:
    run = Run.start("r3")
    (run.tmp / "parity-stack-x").mkdir()
    (run.tmp / "parity-facts-y.json").write_text("{}")
    assert run.tmp.parent == registry
    run.finish()
    assert not (registry / "parity-run-r3").exists() and not run.dir.exists()


def test_running_commands_are_noted_while_they_run(registry: Path) -> None:
    run = Run.start("r4")
    proc.register_groups_in(run.dir)
    try:
        done = proc.run([sys.executable, "-c", "import os, glob, sys; print(len(glob.glob(sys.argv[1])))",
                         str(run.dir / "group-*")], timeout=30)
    finally:
        proc.register_groups_in(None)
    assert done.stdout.strip() == "1"
    assert list(run.dir.glob("group-*")) == []


def test_a_long_commands_lines_are_seen_as_they_come_and_its_timeout_holds() -> None:
    seen: list[tuple[str, float]] = []
    started = time.monotonic()
    script = "import time\nprint('one', flush=True)\ntime.sleep(1)\nprint('two')"
    done = proc.run([sys.executable, "-c", script], timeout=30,
                    on_line=lambda line: seen.append((line, time.monotonic() - started)))
    assert done.stdout == "one\ntwo\n" and [line for line, _ in seen] == ["one", "two"]
    assert seen[1][1] - seen[0][1] >= 0.5  # "one" came before the command slept
    with pytest.raises(CommandError) as timed_out:
        proc.run([sys.executable, "-c", "import time\nprint('begun', flush=True)\ntime.sleep(60)"],
                 timeout=1, on_line=lambda line: None, what="slow step")
    assert timed_out.value.returncode is None and "slow step timed out: begun" in str(timed_out.value)


def test_the_sweep_stops_a_dead_runs_commands_and_removes_its_temp_root(registry: Path) -> None:
    run = Run.start("r5")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True)
    try:
        (run.dir / f"{proc.GROUP_PREFIX}{sleeper.pid}").write_text(f"{sleeper.pid} {proc.start_time(sleeper.pid)}")
        (run.tmp / "parity-build-z").mkdir()
        live = Run.start("r6")
        kill_owner(run)
        said = clean.sweep()
        assert sleeper.wait(timeout=10) in (-signal.SIGTERM, -signal.SIGKILL)
        assert f"command process group {sleeper.pid}" in said and "run r5" in said
        assert not (registry / "parity-run-r5").exists() and live.dir.is_dir()
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_the_sweep_leaves_a_recycled_pid_alone(registry: Path) -> None:
    run = Run.start("r7")
    (run.dir / f"{proc.GROUP_PREFIX}{os.getpid()}").write_text(f"{os.getpid()} 1")  # another start
    kill_owner(run)
    assert not any("command" in line for line in clean.sweep())


class FakeImage:
    def __init__(self, image_id: str, tags: list[str]) -> None:
        self.id, self.tags = image_id, tags


class FakeEngine:
    def __init__(self, images: dict[str, FakeImage], in_use: set[str]) -> None:
        self.calls: list[str] = []
        self._images, self.in_use = images, in_use
        self.images = self
        self.api = self

    def get(self, image_id: str) -> FakeImage:
        if image_id not in self._images:
            raise docker.errors.ImageNotFound(image_id)
        return self._images[image_id]

    def remove_container(self, container: str, force: bool) -> None:
        self.calls.append(f"rm container {container}")
        self.in_use.discard(container)

    def remove_image(self, image_id: str, force: bool, noprune: bool) -> None:
        if self.in_use:
            raise docker.errors.APIError("conflict: image is being used by running container")
        self.calls.append(f"rm image {image_id}")
        del self._images[image_id]


def test_a_dead_runs_build_layers_go_after_its_step_container(registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine({"l1": FakeImage("l1", []), "l2": FakeImage("l2", []),
                         "base": FakeImage("base", ["parity-base/python:x"])}, in_use={"c9"})
    monkeypatch.setattr(clean.docker_engine, "client", lambda: engine)
    run = Run.start("r8")
    run.record("build", {"layers": ["base", "l1", "l2"], "containers": ["c9"]})
    kill_owner(run)
    said = clean.sweep()
    assert engine.calls == ["rm container c9", "rm image l2", "rm image l1"]
    assert "image layer l2" in said and "image layer l1" in said


def test_the_step_log_knows_layers_and_the_running_step() -> None:
    log = images._StepLog("app", lambda line: None)
    log.feed("Step 4/9 : RUN pip install\n ---> Running in 0123456789ab\n")
    assert (log.settled, log.running) == (False, "0123456789ab")
    log.feed("Collecting x\nModuleNotFoundError: No module named 'x'\n")
    error = log.error("The command '/bin/sh -c pip install' returned a non-zero code: 1")
    assert error.cause == "ModuleNotFoundError: No module named 'x' (exit 1)"
    log.feed(" ---> fedcba987654\nStep 5/9 : ENV A=1\n")
    assert log.layers == ["fedcba987654"] and not log.settled and log.running is None


def test_cancelling_a_build_kills_the_running_step_or_waits_for_its_layer() -> None:
    engine = FakeEngine({}, in_use=set())
    log = images._StepLog("app", lambda line: None)
    log.feed("Step 2/9 : RUN slow\n ---> Running in aaaaaaaaaaaa\n")
    images._stop(engine, log)  # returns: the step's error ends the stream
    assert engine.calls == ["rm container aaaaaaaaaaaa"]
    log.feed("Step 3/9 : ENV B=2\n")
    images._stop(engine, log)  # returns: read on until the ENV layer is reported
    log.feed(" ---> bbbbbbbbbbbb\n")
    with pytest.raises(Exception, match="cancelled"):
        images._stop(engine, log)


@pytest.mark.parametrize(("output", "expected"), [
    ("Unknown command: 'nosuchcommand'\nType 'manage.py help' for usage.", "Unknown command: 'nosuchcommand'"),
    ("Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: boom\n", "RuntimeError: boom"),
    ("\x1b[2Kapp-1  | RuntimeError: refused\n\x1b[2Kapp-1  | gunicorn.errors.HaltServer: <HaltServer 'x' 3>",
     "RuntimeError: refused"),
    ("/bin/sh: 1: python3: not found", "/bin/sh: 1: python3: not found"),
    ("", ""),
])
def test_the_telling_line_of_a_failure(output: str, expected: str) -> None:
    assert telling_line(output) == expected



def test_a_cluster_whose_pid_was_never_recorded_is_still_stopped(tmp_path: Path) -> None:
    from parity.environments.postgres import server as postgres
    from parity.environments.postgres import sweep as pgsweep

    directory = tmp_path / f"{postgres.DIR_PREFIX}x"
    (directory / "data").mkdir(parents=True)
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(directory / "data")],
                              start_new_session=True)
    try:
        # Under load the child may not have exec'd yet: its cmdline must name the data dir first.
        deadline = time.monotonic() + 10
        while str(directory) not in Path(f"/proc/{server.pid}/cmdline").read_text().replace("\0", " "):
            assert time.monotonic() < deadline, "the stand-in server did not start"
            time.sleep(0.01)
        (directory / "data" / "postmaster.pid").write_text(f"{server.pid}\n{directory / 'data'}\n")
        done = pgsweep._sweep_cluster("r", {"mode": "cluster", "dir": str(directory), "pid": None})
        assert server.wait(timeout=15) != 0
        assert done == [f"postgres pid {server.pid}", f"cluster dir {directory}"]
        assert not directory.exists()
    finally:
        if server.poll() is None:
            server.kill()
