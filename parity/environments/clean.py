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

from parity.environments.runs import LABEL, OWNER_LABEL, Run, all_runs, is_registered, owner
from parity.machine import engine as docker_engine
from parity.support import proc
from parity.support.errors import MissingDependencyError

COMPOSE_PROJECT = "com.docker.compose.project"


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
    stacks = [run.records().get("stack", {}) for run in dead_runs]
    projects = frozenset(str(stack["project"]) for stack in stacks if stack.get("project"))
    removed += _sweep_docker(dry_run, None if include_live else {run.id for run in dead_runs},
                             projects)
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
    for kind, record in run.records().items():
        if kind != "local" and not kind.startswith("local-"):
            continue  # the dev servers: "local", and "local-rerun" with --parity-noise=learn
        pgid = record.get("pgid")
        if isinstance(pgid, int) and proc.group_alive(pgid):
            removed.append(f"dev server process group {pgid}")
            if not dry_run:
                proc.kill_group(pgid)
    return removed


def _sweep_postgres(dry_run: bool) -> list[str]:
    from parity.environments.postgres import sweep as pgsweep

    if dry_run:
        return [f"postgres {item}" for item in pgsweep.stale_clusters()]
    return [f"postgres {item}" for item in pgsweep.sweep_stale_clusters()]


def _sweep_docker(dry_run: bool, dead_ids: set[str] | None,
                  projects: frozenset[str] = frozenset()) -> list[str]:
    """Objects of the given dead runs (every labelled object when None): labelled ones (images
    too), those of their compose projects (services of the user's own file that parity does
    not label), and orphans: labelled by this registry (OWNER_LABEL) for a run it no longer
    knows, whose teardown failed after its entry was gone. A run id registered elsewhere (another
    PARITY_STATE_DIR or /tmp on the same engine) may well be alive: its objects stay."""
    try:
        engine = docker_engine.client()
    except MissingDependencyError:
        return []
    me = owner()

    def dead(obj: Any) -> bool:
        labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
        run_id = str(labels.get(LABEL) or "")
        if dead_ids is None or run_id in dead_ids or labels.get(COMPOSE_PROJECT) in projects:
            return True
        # Checked per object, not from a list made earlier: a run registers before it creates
        # anything, so an object of a run starting right now is never taken for an orphan.
        return run_id != "" and labels.get(OWNER_LABEL) == me and not is_registered(run_id)

    def listed(collection: Any, **options: Any) -> list[Any]:
        """parity's objects, and those of the dead runs' compose projects, each once."""
        found = {obj.id: obj for obj in collection.list(filters={"label": LABEL}, **options)}
        for project in sorted(projects):
            for obj in collection.list(filters={"label": f"{COMPOSE_PROJECT}={project}"}, **options):
                found.setdefault(obj.id, obj)
        return list(found.values())

    containers = listed(engine.containers, all=True, ignore_removed=True)
    removed = _remove(containers, "container", dead, dry_run, lambda c: c.remove(force=True, v=True))
    removed += _remove(listed(engine.networks), "network", dead, dry_run, lambda n: n.remove())
    removed += _remove(listed(engine.volumes), "volume", dead, dry_run, lambda v: v.remove(force=True))
    # Images an own compose file's `build:` made for a run (parity.environments.stack.composebuild): the build
    # cache keeps their layers, the per-run tags go.
    for image in engine.images.list(filters={"label": LABEL}):
        if dead(image):
            removed.append(f"image {', '.join(image.tags) or image.short_id}")
            if not dry_run:
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    engine.images.remove(image.id, force=True)
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
    from parity.environments.images.build import remove_layers

    try:
        removed = remove_layers(docker_engine.client(), [str(layer) for layer in layers],
                                [str(container) for container in containers])
    except MissingDependencyError:
        return []
    return [f"image layer {layer[:12]}" for layer in removed]
