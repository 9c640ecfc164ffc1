"""Run identity and the on-disk registry of live runs, so a later run can sweep a killed one.

Each run owns a directory `<state>/runs/<run id>/` holding `owner.pid` (the pid of the parity
process) and whatever its resources record there (cluster data dirs, compose projects, the
process groups of running commands). A run whose owner pid is gone is stale: `parity clean`
and the next run's start-up sweep it. A run's temp files live under its own temp root
(`Run.tmp`), which `finish()` removes with the registry entry, so a killed run's compose
files, logs and build contexts go with its sweep.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from parity.support.proc import start_time

LABEL = "parity.run"
"""The Docker label every object parity creates carries; its value is the run id."""
OWNER_LABEL = "parity.owner"
"""The registry that knows the run (`owner()`): lets a sweep tell an object whose registry
entry is gone (a run that could not tear down) from one of a run registered elsewhere."""
TMP_PREFIX = "parity-run-"
"""A run's temp root is `<tempdir>/parity-run-<run id>`."""


def state_root() -> Path:
    """Where runs register themselves (`PARITY_STATE_DIR` overrides)."""
    configured = os.environ.get("PARITY_STATE_DIR")
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / "parity-state"
    (root / "runs").mkdir(parents=True, exist_ok=True, mode=0o755)
    return root


def owner() -> str:
    """This machine and registry, as the OWNER_LABEL value."""
    return f"{socket.gethostname()}:{state_root().resolve()}"


def is_registered(run_id: str) -> bool:
    return (state_root() / "runs" / run_id).is_dir()


def new_run_id() -> str:
    """Short, unique, Docker- and Postgres-safe: lowercase letters and digits."""
    return time.strftime("%m%d%H%M") + secrets.token_hex(3)


def worker_suffix() -> str:
    """'' for a serial run, '_gw0' etc. under pytest-xdist: workers never share a database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"_{worker}" if worker else ""


def tmp_root(run_id: str) -> Path:
    """Where a run's temp files live: known from its id alone, so the pytest-xdist workers of
    a concurrent run find the controller's hand-off files there (`parity.handoff`)."""
    return Path(tempfile.gettempdir()) / f"{TMP_PREFIX}{run_id}"


@dataclass
class Run:
    id: str
    dir: Path

    @classmethod
    def start(cls, run_id: str | None = None) -> Run:
        run_id = run_id or new_run_id()
        directory = state_root() / "runs" / run_id
        if directory.exists():
            raise FileExistsError(f"run {run_id} is already registered at {directory}")
        # Filled in under a hidden name, then renamed: a concurrent sweep must never see a
        # run directory without its owner (it would take the run for dead).
        building = Path(tempfile.mkdtemp(prefix=f".{run_id}-", dir=directory.parent))
        try:
            building.chmod(0o755)
            (building / "owner.pid").write_text(f"{os.getpid()} {start_time(os.getpid())}")
            (building / "tmp.path").write_text(str(tmp_root(run_id)))
            building.rename(directory)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return cls(run_id, directory)

    @property
    def tmp(self) -> Path:
        """This run's temp root (created on first use); finish() removes it."""
        try:
            path = Path((self.dir / "tmp.path").read_text().strip())
        except OSError:
            path = tmp_root(self.id)
        path.mkdir(mode=0o755, exist_ok=True)
        return path

    def record(self, kind: str, data: dict[str, object]) -> None:
        """Remember a resource so a sweep can undo it if this process dies."""
        (self.dir / f"{kind}.json").write_text(json.dumps(data))

    def forget(self, kind: str) -> None:
        (self.dir / f"{kind}.json").unlink(missing_ok=True)

    def records(self) -> dict[str, dict[str, object]]:
        found: dict[str, dict[str, object]] = {}
        for path in self.dir.glob("*.json"):
            try:
                found[path.stem] = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
        return found

    def alive(self) -> bool:
        try:
            pid_text, _, started = (self.dir / "owner.pid").read_text().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return False
        return start_time(pid) == started.strip() and started.strip() != ""

    def finish(self) -> None:
        try:
            tmp = Path((self.dir / "tmp.path").read_text().strip())
        except OSError:
            tmp = None
        if tmp is not None and tmp.name == f"{TMP_PREFIX}{self.id}":
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def all_runs() -> Iterator[Run]:
    for directory in sorted((state_root() / "runs").iterdir()):
        if directory.is_dir() and not directory.name.startswith("."):
            yield Run(directory.name, directory)


def stale_runs() -> list[Run]:
    return [run for run in all_runs() if not run.alive()]
