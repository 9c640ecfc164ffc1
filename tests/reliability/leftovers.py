"""Count what a parity run left behind, for one test only.

The machine is shared (other people's parity runs, builds and databases come and go), so every
count is scoped to objects that provably belong to the test's own runs:

- Docker containers, networks and volumes labelled `parity.run` with one of the test's run ids,
  or whose compose project is `parity-<the test's app name>-...`;
- images that did not exist when the test started and carry the test's app in their
  configuration (its unique settings module, or its `parity.app` label), other than the
  tagged parity images and the layers they are built from (the cache parity keeps on purpose);
- processes whose command line or working directory is inside the test's app dir or its
  private TMPDIR (the throwaway Postgres, runserver, compose and build helpers);
- entries of the test's private TMPDIR (every temp dir parity makes lands there) and run
  directories left in its private PARITY_STATE_DIR;
- databases named `parity_<run id>_*` on an external server, when one was used.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import psycopg2

LABEL = "parity.run"
RUN_LINE = re.compile(r"parity run ([a-z0-9]+)")


@dataclass
class Scope:
    """What belongs to one test: its app, private dirs, and the runs it started."""

    app_dir: Path
    app_name: str
    tmpdir: Path
    state_dir: Path
    images_before: frozenset[str]
    image_marker: str | None = None
    """A value in the app image's environment unique to this test (its settings module)."""
    run_ids: set[str] = field(default_factory=set)
    database_url: str | None = None
    keep: frozenset[Path] = frozenset()
    """Entries of tmpdir the test itself made (gates, fake binaries): not parity's."""

    def add_output(self, output: str) -> set[str]:
        found = set(RUN_LINE.findall(output))
        self.run_ids |= found
        return found


def client() -> Any:
    return docker.from_env(version="auto", timeout=120)


def image_ids() -> frozenset[str]:
    # Summaries, not images.list(), which gets each image again: one pruned meanwhile would fail it.
    return frozenset(image["Id"] for image in client().api.images(all=True))


def count(scope: Scope) -> dict[str, list[str]]:
    """Every kind of leftover, each as a list of names (all empty means clean)."""
    engine = client()
    found = {
        "containers": _containers(engine, scope),
        "networks": _labelled(engine.networks.list(filters={"label": LABEL}), scope),
        "volumes": _labelled(engine.volumes.list(filters={"label": LABEL}), scope),
        "images": _images(engine, scope),
        "processes": processes(scope),
        # pytest-of-<user> is pytest's own temp root, not parity's: pytest-xdist's controller
        # makes pytest's numbered base temp dir in it on every run (pytest keeps the newest 3).
        "temp dirs": sorted(str(p) for p in scope.tmpdir.iterdir()
                            if p != scope.state_dir and p not in scope.keep
                            and not p.name.startswith("pytest-of-")),
        "run dirs": sorted(p.name for p in (scope.state_dir / "runs").glob("*")
                           ) if (scope.state_dir / "runs").is_dir() else [],
        "databases": databases(scope),
    }
    return found


def nothing_left(scope: Scope) -> str:
    """'' when clean, else a readable description for the assertion message."""
    found = {kind: items for kind, items in count(scope).items() if items}
    return "; ".join(f"{len(items)} {kind}: {items[:5]}" for kind, items in found.items())


def _project_is_ours(labels: dict[str, str], scope: Scope) -> bool:
    project = labels.get("com.docker.compose.project", "")
    return labels.get(LABEL) in scope.run_ids or project.startswith(f"parity-{scope.app_name}-")


def _containers(engine: Any, scope: Scope) -> list[str]:
    found = []
    for summary in engine.api.containers(all=True):  # other people's come and go meanwhile
        try:
            attrs = engine.api.inspect_container(summary["Id"])
        except docker.errors.NotFound:
            continue
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        if _project_is_ours(labels, scope) or _image_is_ours(attrs, scope):
            found.append(f"{attrs['Name'].lstrip('/')} ({attrs['State']['Status']})")
    return found


def _labelled(objects: list[Any], scope: Scope) -> list[str]:
    found = []
    for obj in objects:
        labels = obj.attrs.get("Labels") or {}
        name = obj.name or ""
        if _project_is_ours(labels, scope) or name.startswith(f"parity-{scope.app_name}-"):
            found.append(name)
    return found


def _images(engine: Any, scope: Scope) -> list[str]:
    """New images of this test's app that no tagged image keeps (build leftovers)."""
    summaries = engine.api.images(all=True)
    parent = {image["Id"]: image.get("ParentId") or None for image in summaries}
    kept: set[str] = set()
    for image in summaries:  # tagged parity images and the chain of layers under them
        if not any(tag.startswith(("parity/", "parity-base/")) for tag in image.get("RepoTags") or ()):
            continue
        current: str | None = image["Id"]
        while current and current not in kept:
            kept.add(current)
            current = parent.get(current)
    found = []
    for image_id in parent:
        if image_id in scope.images_before or image_id in kept:
            continue
        try:
            attrs = engine.api.inspect_image(image_id)
        except docker.errors.NotFound:
            continue
        if _image_is_ours(attrs, scope):
            found.append(f"{image_id[7:19]} {attrs.get('RepoTags') or 'untagged'}")
    return found


def _image_is_ours(attrs: dict[str, Any], scope: Scope) -> bool:
    for config in (attrs.get("Config") or {}, attrs.get("ContainerConfig") or {}):
        labels = config.get("Labels") or {}
        if labels.get("parity.app") == scope.app_name:
            return True
        if scope.image_marker and any(scope.image_marker in item for item in config.get("Env") or []):
            return True
    return False


def processes(scope: Scope) -> list[str]:
    """Live processes running inside the test's app dir or TMPDIR (zombies excluded)."""
    needles = (str(scope.app_dir), str(scope.tmpdir))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat[stat.rfind(")") + 2] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if any(needle in cmdline or cwd == needle or cwd.startswith(needle + "/") for needle in needles):
            found.append(f"{entry.name}: {cmdline.strip()[:120]}")
    return found


def databases(scope: Scope) -> list[str]:
    if not scope.database_url or not scope.run_ids:
        return []
    conn = psycopg2.connect(scope.database_url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("select datname from pg_database where datname like 'parity\\_%'")
            names = [row[0] for row in cur.fetchall()]
    finally:
        with contextlib.suppress(psycopg2.Error):
            conn.close()
    return sorted(name for name in names if any(name.startswith(f"parity_{run}_") for run in scope.run_ids))


def settle(scope: Scope, grace: float = 15.0) -> str:
    """`nothing_left`, polled for up to `grace` seconds: a process or container that ends on
    its own a moment after the run (a build step the engine is cancelling) is not left."""
    deadline = time.monotonic() + grace
    while True:
        left = nothing_left(scope)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def remove_all(scope: Scope) -> None:
    """Remove whatever count() finds, so a failing test does not leave its mess to the next."""
    engine = client()
    for line in processes(scope):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
    for summary in engine.api.containers(all=True):
        with contextlib.suppress(docker.errors.APIError):
            attrs = engine.api.inspect_container(summary["Id"])
            labels = (attrs.get("Config") or {}).get("Labels") or {}
            if _project_is_ours(labels, scope) or _image_is_ours(attrs, scope):
                engine.api.remove_container(summary["Id"], force=True, v=True)
    for network in engine.networks.list(filters={"label": LABEL}):
        if _labelled([network], scope):
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
    for volume in engine.volumes.list(filters={"label": LABEL}):
        if _labelled([volume], scope):
            with contextlib.suppress(docker.errors.APIError):
                volume.remove(force=True)
    for line in _images(engine, scope):
        with contextlib.suppress(docker.errors.APIError):
            engine.api.remove_image(line.split()[0], force=True)
    for path in scope.tmpdir.iterdir():
        if path in scope.keep:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
