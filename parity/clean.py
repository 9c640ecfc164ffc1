"""Sweep what dead runs left: labelled Docker objects, dev servers, Postgres clusters, run dirs.

A run is dead when its owner process is gone (see runs.py). Objects of live runs are never
touched, so concurrent runs of the same app do not sweep each other; Docker objects of a run
this registry does not know (another PARITY_STATE_DIR on the same engine) are not touched
either, except by `sweep(include_live=True)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import docker.errors

from parity import engine as docker_engine
from parity import proc
from parity.errors import MissingDependencyError
from parity.runs import LABEL, Run, all_runs


def sweep(*, dry_run: bool = False, include_live: bool = False) -> list[str]:
    """Remove leftovers of dead runs (and of live ones too with include_live); say what went."""
    runs = list(all_runs())
    live = {run.id for run in runs if run.alive()} if not include_live else set()
    removed: list[str] = []
    dead_runs = [run for run in runs if run.id not in live]
    for run in dead_runs:
        removed += _sweep_processes(run, dry_run)
    # Postgres and Docker first: they read the dead runs' records, which finish() deletes.
    removed += _sweep_postgres(dry_run)
    removed += _sweep_docker(dry_run, None if include_live else {run.id for run in dead_runs})
    for run in dead_runs:
        removed += _sweep_build(run, dry_run)
        if not dry_run:
            run.finish()
        removed.append(f"run {run.id}")
    return removed


def _sweep_processes(run: Run, dry_run: bool) -> list[str]:
    removed = []
    # Commands the dead run had going (compose up, migrate, initdb) first: left running, a
    # `compose up` would create containers after the Docker sweep below has passed.
    for marker in run.dir.glob(f"{proc.GROUP_PREFIX}*"):
        try:
            pid_text, _, started = marker.read_text().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if started.strip() and proc.start_time(pid) == started.strip() and proc.group_alive(pid):
            removed.append(f"command process group {pid}")
            if not dry_run:
                proc.kill_group(pid, grace=2.0)
    local = run.records().get("local")
    pgid = local.get("pgid") if local else None
    if isinstance(pgid, int):
        if proc.group_alive(pgid):
            removed.append(f"dev server process group {pgid}")
            if not dry_run:
                proc.kill_group(pgid)
    return removed


def _sweep_postgres(dry_run: bool) -> list[str]:
    from parity import postgres

    if dry_run:
        return [f"postgres {item}" for item in postgres.stale_clusters()]
    return [f"postgres {item}" for item in postgres.sweep_stale_clusters()]


def _sweep_docker(dry_run: bool, dead_ids: set[str] | None) -> list[str]:
    """Objects of the given dead runs (every labelled object when None). A run id this
    registry does not know belongs to a run registered elsewhere (another PARITY_STATE_DIR or
    /tmp on the same engine), which may well be alive: its objects are left alone."""
    try:
        engine = docker_engine.client()
    except MissingDependencyError:
        return []
    removed: list[str] = []

    def dead(obj: Any) -> bool:
        labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
        return dead_ids is None or labels.get(LABEL) in dead_ids

    containers = engine.containers.list(all=True, filters={"label": LABEL}, ignore_removed=True)
    removed += _remove(containers, "container", dead, dry_run, lambda c: c.remove(force=True, v=True))
    networks = engine.networks.list(filters={"label": LABEL})
    removed += _remove(networks, "network", dead, dry_run, lambda n: n.remove())
    volumes = engine.volumes.list(filters={"label": LABEL})
    removed += _remove(volumes, "volume", dead, dry_run, lambda v: v.remove(force=True))
    return removed


def _remove(objects: Iterable[Any], kind: str, dead: Any, dry_run: bool, remove: Any) -> list[str]:
    removed = []
    for obj in objects:
        if not dead(obj):
            continue
        removed.append(f"{kind} {obj.name}")
        if not dry_run:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                remove(obj)
    return removed


def _sweep_build(run: Run, dry_run: bool) -> list[str]:
    """The image layers an interrupted build had committed (untagged, childless ones only),
    after its intermediate containers (the engine may still be running the step)."""
    record = run.records().get("build") or {}
    layers, containers = record.get("layers"), record.get("containers")
    if not isinstance(layers, list) or not isinstance(containers, list) or not (layers or containers):
        return []
    if dry_run:
        return [f"build layers {len(layers)} (run {run.id})"]
    from parity.images import remove_layers

    try:
        removed = remove_layers(docker_engine.client(), [str(layer) for layer in layers],
                                [str(container) for container in containers])
    except MissingDependencyError:
        return []
    return [f"image layer {layer[:12]}" for layer in removed]
