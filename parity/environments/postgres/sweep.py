"""Undoing what killed parity runs left behind: their clusters and their databases.

A run registers its cluster (directory and server pid) or its databases on an external server
as it goes (see parity.environments.runs); once the run's owner is dead, `sweep_stale_clusters` stops the
server, removes the cluster directory and drops the databases. `parity clean` calls it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import psycopg2

from parity.environments.postgres.binaries import stop_server
from parity.environments.postgres.server import DIR_PREFIX, Postgres, redact
from parity.environments.runs import stale_runs
from parity.support.errors import ParityError


def sweep_stale_clusters() -> list[str]:
    """Undo what runs whose owner died left: clusters stopped and removed, databases dropped.

    A dead run's databases on an external server are dropped only while PARITY_DATABASE_URL
    names that same server (its password is never written to disk); otherwise they wait.
    """
    cleaned: list[str] = []
    for run in stale_runs():
        record = run.records().get("postgres")
        if record is None:
            continue
        done = (_sweep_external if record.get("mode") == "external" else _sweep_cluster)(
            run.id, record)
        if done is None:
            continue
        cleaned += [f"{item} (run {run.id})" for item in done]
        run.forget("postgres")
        if not run.records():
            run.finish()
    return cleaned


def stale_clusters() -> list[str]:
    """What `sweep_stale_clusters` would clean (for a dry run), touching nothing."""
    return [f"{record.get('dir') or record.get('databases')} (run {run.id})"
            for run in stale_runs() if (record := run.records().get("postgres"))]


def _sweep_cluster(run_id: str, record: dict[str, object]) -> list[str]:
    directory, pid, done = Path(str(record.get("dir"))), record.get("pid"), []
    if not isinstance(pid, int):  # killed between starting the server and recording its pid
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((directory / "data" / "postmaster.pid").read_text().split()[0])
    if isinstance(pid, int) and _is_postmaster(pid, directory):
        stop_server(pid)
        done.append(f"postgres pid {pid}")
    if directory.name.startswith(DIR_PREFIX) and directory.is_dir():
        shutil.rmtree(directory, ignore_errors=True)
        done.append(f"cluster dir {directory}")
    return done


def _sweep_external(run_id: str, record: dict[str, object]) -> list[str] | None:
    url = os.environ.get("PARITY_DATABASE_URL", "")
    names = record.get("databases")
    if not url or redact(url) != record.get("server") or not isinstance(names, list):
        return None
    pg = Postgres(run_id, database_url=url)
    pg._created = [str(name) for name in names]
    try:
        pg._teardown(raising=True)
    except (ParityError, psycopg2.Error):
        return None
    return [f"database {name}" for name in names]


def _is_postmaster(pid: int, directory: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(directory / "data").encode() in argv
