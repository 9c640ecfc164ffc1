"""The hand-off between the processes of a concurrent run, through files in the run's temp dir.

In `pytest --parity` without `-n`, the pytest-xdist controller owns the environments and
each side runs in a worker of its own (`parity.distribute`). Three things cross processes:

    <run tmp>/handoff/
      ready/<name>.json     controller -> [local] worker (and [local-rerun]): how to use its
                            environment (base URL, database URL, testinfra host, logs), as
                            soon as it is up: it tests while the stack still starts
      environments.json     controller -> workers: every environment (the same, with the
                            stack's CA bundle), the app server's URL and the noise the app's
                            settings imply, once all are up; the [stack] worker waits for it
      startup.failed        controller -> workers: the environments did not start (why)
                            (the environment files are 0600: they hold the database password)
      twins.json            controller -> [stack] worker: the tests whose [local] twin runs
      local/<sha1>.json     [local] worker -> [stack] worker: a test's finished [local]
                            recording, or `null` (it errored before recording, or crashed)
      local.done            controller -> [stack] worker: the [local] worker has ended

The [stack] worker waits for a twin only when it needs it (to fail the [stack] test with its
divergence, and to tell whether an exchange differs, for the replay). The [local] worker never
waits, so the two can never deadlock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.comparison.noise import NoiseRules
from parity.comparison.recording import Recording
from parity.environments.environment import Environment
from parity.environments.runs import tmp_root
from parity.support import proc
from parity.support.errors import CommandError, ParityError

if TYPE_CHECKING:
    from parity.environments.session import ParitySession

TWIN_SIDE = "local"
"""The side whose recordings the [stack] side waits for."""
LOGS_TIMEOUT = 30.0
_POLL_FIRST, _POLL_MAX = 0.001, 0.02


def handoff_dir(run_id: str) -> Path:
    """Where a run's hand-off files live: inside its temp root, removed with it."""
    return tmp_root(run_id) / "handoff"


@dataclass
class Handoff:
    """One run's hand-off directory, as the controller or a worker sees it."""

    directory: Path
    _twins: dict[str, Recording | None] = field(default_factory=dict)
    _expected: frozenset[str] | None = None

    # --- environments: controller -> workers -------------------------------------------------
    def publish_ready(self, session: ParitySession, name: str) -> None:
        """One local environment is ready (the controller, from a start-up thread): its
        worker may start its tests, while the others still start."""
        self._write(f"ready/{name}.json", _describe(session, name))

    def publish(self, session: ParitySession, settings_noise: NoiseRules) -> None:
        """Describe the session's environments for the workers (the controller, once they are
        all up), with the noise the app's settings imply (it needs both sides' settings)."""
        described = {name: _describe(session, name) for name in session.environments}
        app_url = session.stack.app_url if session.stack is not None else None
        self._write("environments.json", {"environments": described, "app_url": app_url,
                                          "settings_noise": settings_noise.to_dict()})

    def remove(self) -> None:
        """The controller, at the very end: the run's temp root goes with the session, but
        the hand-off may outlive it (written while the start-up was failing, or before it
        began) and takes the temp root with it when nothing else is left there."""
        shutil.rmtree(self.directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.directory.parent.rmdir()

    def startup_failed(self, error: str) -> None:
        """The environments did not start (the controller): waiting workers stop waiting."""
        self._write("startup.failed", error)

    def environments(self, sleep: Callable[[float], None] = time.sleep
                     ) -> tuple[dict[str, Environment], str | None, NoiseRules]:
        """The environments the controller published, the stack's app server URL, and the
        noise the app's settings imply; waits until they are all up."""
        path = self._wait_for("environments.json", sleep)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ParityError(f"parity: the environments of this run are not described at {path} "
                              f"({error}); the controller did not start them: see its output") from None
        found = {name: _environment(spec) for name, spec in data["environments"].items()}
        return found, data.get("app_url"), NoiseRules.from_dict(data.get("settings_noise", {}))

    def environment(self, name: str, sleep: Callable[[float], None] = time.sleep) -> Environment:
        """One local environment, as soon as it is ready (`publish_ready`)."""
        path = self._wait_for(f"ready/{name}.json", sleep)
        return _environment(json.loads(path.read_text()))

    def _wait_for(self, name: str, sleep: Callable[[float], None]) -> Path:
        path, failed = self.directory / name, self.directory / "startup.failed"
        pause = _POLL_FIRST
        while not path.exists():
            if failed.exists():
                raise ParityError(f"{json.loads(failed.read_text())} (the environments did not "
                                  "start: the main pytest process says why)")
            sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
        return path

    # --- twins: [local] worker -> [stack] worker ----------------------------------------------
    def expect_twins(self, test_ids: Iterable[str]) -> None:
        """The tests whose [local] twin is scheduled (the controller, before any test runs)."""
        self._write("twins.json", sorted(set(test_ids)))

    def hand_over(self, test_id: str, recording: Recording | None) -> None:
        """A [local] test is finished: its recording, or None when it has none."""
        self._write(f"{TWIN_SIDE}/{_digest(test_id)}.json",
                    {"test_id": test_id, "recording": recording.to_dict() if recording else None})

    def side_done(self, side: str) -> None:
        """A worker has ended (the controller saw it go down): nothing more will come from it."""
        self._write(f"{side}.done", True)

    def twin(self, test_id: str, sleep: Callable[[float], None] = time.sleep) -> Recording | None:
        """The [local] twin's finished recording, waiting for it if its worker is behind;
        None when the test has no [local] twin, or it ended without a recording."""
        if test_id in self._twins:
            return self._twins[test_id]
        if test_id not in self._expected_twins():
            return None
        path = self.directory / TWIN_SIDE / f"{_digest(test_id)}.json"
        done = self.directory / f"{TWIN_SIDE}.done"
        pause = _POLL_FIRST
        while not path.exists():
            if done.exists() and not path.exists():
                return None
            sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
        data = json.loads(path.read_text())
        found = Recording.from_dict(data["recording"]) if data["recording"] is not None else None
        self._twins[test_id] = found
        return found

    def forget_twin(self, test_id: str) -> None:
        """The [stack] test is done with its twin: keep the worker's memory flat."""
        self._twins.pop(test_id, None)

    def _expected_twins(self) -> frozenset[str]:
        if self._expected is None:
            try:
                self._expected = frozenset(json.loads((self.directory / "twins.json").read_text()))
            except (OSError, ValueError):
                self._expected = frozenset()
        return self._expected

    def _write(self, name: str, data: object) -> None:
        """Atomically, readable by this user only: a reader sees the whole file or none."""
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(data))  # one shot: the C encoder (json.dump streams in Python)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _describe(session: ParitySession, name: str) -> dict[str, Any]:
    """How a worker uses one of the session's environments."""
    environment = session.environments[name]
    server = session.locals.get(name)
    if server is not None:
        logs: dict[str, Any] = {"file": str(server.log_path)}
    else:
        assert session.stack is not None
        argv, cwd = session.stack.compose_argv("logs", "--no-color", "--tail", "200")
        logs = {"argv": argv, "cwd": str(cwd) if cwd else None,
                "variables": session.stack.compose_variables()}
    return {"name": environment.name, "base_url": environment.base_url,
            "database_url": environment.database_url, "host_spec": environment.host_spec,
            "logs": logs, "ca_bundle": environment.ca_bundle}


def _environment(spec: dict[str, Any]) -> Environment:
    return Environment(spec["name"], spec["base_url"], spec["database_url"], spec["host_spec"],
                       _logs_reader(spec["logs"]), ca_bundle=spec.get("ca_bundle"))


def _digest(test_id: str) -> str:
    return hashlib.sha1(test_id.encode()).hexdigest()


def _logs_reader(spec: dict[str, Any]) -> Callable[[], str]:
    """`Environment.logs` in a worker: the dev server's log file, or `docker compose logs`."""
    if "file" in spec:
        path = Path(spec["file"])

        def read_file() -> str:
            try:
                return path.read_text(errors="replace")
            except OSError:
                return ""
        return read_file

    def read_compose() -> str:
        env = {**os.environ, **spec.get("variables", {})}
        try:
            return proc.run(spec["argv"], timeout=LOGS_TIMEOUT, cwd=spec.get("cwd"), env=env,
                            what="compose logs", check=False, cancellable=False).stdout
        except CommandError as error:
            return error.output
    return read_compose
