"""Run identity and the on-disk registry of live runs, so a later run can sweep a killed one.

Each run owns a directory `<state>/runs/<run id>/` holding `owner.pid` (the pid of the parity
process) and whatever its resources record there (cluster data dirs, compose projects). A run
whose owner pid is gone is stale: `parity clean` and the next run's start-up sweep it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LABEL = "parity.run"
"""The Docker label every object parity creates carries; its value is the run id."""


def state_root() -> Path:
    """Where runs register themselves (`PARITY_STATE_DIR` overrides)."""
    configured = os.environ.get("PARITY_STATE_DIR")
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / "parity-state"
    (root / "runs").mkdir(parents=True, exist_ok=True, mode=0o755)
    return root


def new_run_id() -> str:
    """Short, unique, Docker- and Postgres-safe: lowercase letters and digits."""
    return time.strftime("%m%d%H%M") + secrets.token_hex(3)


def worker_suffix() -> str:
    """'' for a serial run, '_gw0' etc. under pytest-xdist: workers never share a database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"_{worker}" if worker else ""


@dataclass
class Run:
    id: str
    dir: Path

    @classmethod
    def start(cls, run_id: str | None = None) -> Run:
        run_id = run_id or new_run_id()
        directory = state_root() / "runs" / run_id
        directory.mkdir(parents=True, exist_ok=False)
        (directory / "owner.pid").write_text(f"{os.getpid()} {_start_time(os.getpid())}")
        return cls(run_id, directory)

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
        return _start_time(pid) == started.strip() and started.strip() != ""

    def finish(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def all_runs() -> Iterator[Run]:
    for directory in sorted((state_root() / "runs").iterdir()):
        if directory.is_dir():
            yield Run(directory.name, directory)


def stale_runs() -> list[Run]:
    return [run for run in all_runs() if not run.alive()]


def _start_time(pid: int) -> str:
    """The process start time from /proc, so a recycled pid is not mistaken for the owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rfind(")") + 2 :].split()[19]
