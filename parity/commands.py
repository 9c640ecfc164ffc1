"""The `parity build|up|down|clean|facts|report` commands, as plain functions the CLI calls."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from parity.configuration import ParityConfig
from parity.environments import clean
from parity.environments.runs import Run, all_runs
from parity.environments.session import ParitySession
from parity.reports.html import write_html
from parity.reports.summary import Summary, read_json
from parity.reports.terminal import terminal_lines

Progress = Callable[[str], None]


def stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build(config: ParityConfig, progress: Progress = stderr) -> list[str]:
    """Build the stack's images; returns the lines to print (the tags, or what was built)."""
    if config.stack.user_owned:
        return _build_own(config, progress)
    from parity.environments.images.build import build_images

    images = build_images(config, progress=progress)
    state = "built" if images.built else "unchanged"
    return [f"app       {images.app}", f"frontend  {images.frontend}",
            f"{state} in {images.seconds:.2f}s"]


def _build_own(config: ParityConfig, progress: Progress) -> list[str]:
    """An own compose file: its build script, or its `build:` services (into the build cache
    the runs reuse), the way a run builds them."""
    from parity.environments.images.recipes import BUILD_DATABASE, BUILD_DATABASE_URL
    from parity.environments.stack.ownfile import shown_file
    from parity.environments.stack.stack import Stack
    from parity.machine.engine import client
    from parity.machine.standins import resolve_leniently

    config, choices = resolve_leniently(config, client())
    for choice in choices:
        if choice.note:
            progress(choice.note)
    # Never connected to: the override parity writes names a database, nothing starts.
    placeholder = {"DATABASE_URL": BUILD_DATABASE_URL, "PGHOST": "127.0.0.1", "PGPORT": "5432",
                   "PGUSER": BUILD_DATABASE, "PGDATABASE": BUILD_DATABASE}
    run = Run.start()
    try:
        stack = Stack(config, placeholder, run=run, progress=progress)
        built = stack.build_only()
    finally:
        run.finish()
    if config.stack.build is not None:
        return [f"built with {config.stack.build.relative_to(config.root)} in "
                f"{stack.timings['build script']:.1f}s"]
    return [result.summary().removeprefix("stack: ") for result in built] or [
        f"{shown_file(config)} has no `build:` service: nothing for parity to build"]


def up(config: ParityConfig, progress: Progress = stderr, *, ready: threading.Event | None = None,
       stop: threading.Event | None = None) -> None:
    """Both environments up until Ctrl-C / SIGTERM / `parity down` (or `stop` is set)."""
    stop = stop or threading.Event()
    with ParitySession(config, progress=progress) as session:
        assert session.run is not None
        session.run.record("up", {"pid": os.getpid()})
        for environment in session.environments.values():
            database = environment.database_url.rsplit("/", 1)[-1]
            trust = f"   CA {environment.ca_bundle}" if environment.ca_bundle else ""
            print(f"{environment.name:<6} {environment.base_url}   database {database}{trust}",
                  flush=True)
        print("serving; Ctrl-C (or `parity down`) tears everything down", flush=True)
        if ready is not None:
            ready.set()
        while not stop.wait(0.5):
            pass


def down(progress: Progress = stderr, timeout: float = 60.0) -> int:
    """Ask every running `parity up` to tear down, and wait until they have; returns how many."""
    owners = []
    for run in all_runs():
        record = run.records().get("up") or {}
        pid = record.get("pid")
        if isinstance(pid, int) and run.alive():
            owners.append((run, pid))
    for run, pid in owners:
        progress(f"stopping parity up (run {run.id}, pid {pid})")
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    for run, _pid in owners:
        while run.dir.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    return len(owners)


def sweep(dry_run: bool) -> list[str]:
    return clean.sweep(dry_run=dry_run)


def facts(config: ParityConfig, progress: Progress = stderr) -> list[dict[str, object]]:
    """Both environments up just long enough to gather and compare their facts."""
    with ParitySession(config, progress=progress) as session:
        return session.facts()


def facts_lines(found: list[dict[str, object]]) -> list[str]:
    summary = Summary(facts=found)
    lines = [line for line in terminal_lines(summary) if not line.startswith("parity: 0 match")]
    ok = [f"OK   {fact.get('name')}: {fact.get('local')}" for fact in found if fact.get("severity") == "ok"]
    return [*lines, *ok]


def report(json_path: Path, html_path: Path | None, width: int) -> list[str]:
    summary = read_json(json_path)
    if html_path is not None:
        write_html(summary, html_path)
    return terminal_lines(summary, width=width)
