"""What parity keeps between runs, kept in bounds: app images and wheelhouses.

- One builder per image digest at a time on this machine (`build_lock`): concurrent runs of
  one app would otherwise each build the same tags, and all but the last build's layers
  would be left dangling.
- `prune_images`: an app keeps the images of its newest few digests; older ones go, unless
  a container (a live run) still uses them.
- `prune_wheelhouses`: the wheel cache keeps the most recently used few wheelhouses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker.errors

KEEP_IMAGES = 3
"""Digests of one app whose images stay (the newest by creation time)."""
KEEP_WHEELHOUSES = 5
"""Wheelhouses that stay in the cache (the most recently used)."""
LOCK_BUCKETS = 64
"""Build locks are hashed into this many files, so the lock dir never grows."""
STALE_BUILDING = 3600.0
"""Seconds after which a half-built wheelhouse (its `pip wheel` was killed) is removed."""


def cache_root() -> Path:
    """parity's cache: PARITY_CACHE_DIR, else $XDG_CACHE_HOME/parity, else ~/.cache/parity."""
    configured = os.environ.get("PARITY_CACHE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "parity"


@contextlib.contextmanager
def build_lock(directory: Path, key: str, *, cancelled: Callable[[], bool] = lambda: False,
               poll: float = 0.1) -> Iterator[bool]:
    """Hold the machine-wide lock for building `key`; yields True when another process held
    it first (it may have built what we need: look again). Raises InterruptedError when
    `cancelled()` becomes true while waiting."""
    directory.mkdir(parents=True, exist_ok=True)
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % LOCK_BUCKETS
    with open(directory / f"build-{bucket:02d}.lock", "a") as handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = True
                if cancelled():
                    raise InterruptedError(f"cancelled while waiting to build {key[:12]}") from None
                time.sleep(poll)
        try:
            yield waited
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune_images(engine: Any, app: str, *, keep: int = KEEP_IMAGES) -> list[str]:
    """Remove the images of `app` (label parity.app) but its `keep` newest digests; an image
    a container uses stays. Best effort: concurrent runs remove images too, and nothing here
    may fail a run. Returns the tags removed."""
    try:
        summaries = engine.api.images(filters={"label": f"parity.app={app}"})
        in_use = {container.get("ImageID") for container in engine.api.containers(all=True)}
    except docker.errors.DockerException:
        return []
    versions: dict[str, list[dict[str, Any]]] = {}
    for image in summaries:
        digest = (image.get("Labels") or {}).get("parity.digest") or image["Id"]
        versions.setdefault(digest, []).append(image)
    newest_first = sorted(versions.values(), key=lambda images: max(i.get("Created", 0) for i in images),
                          reverse=True)
    removed = []
    for images in newest_first[keep:]:
        for image in images:
            if image["Id"] in in_use:
                continue
            for tag in image.get("RepoTags") or ():
                try:
                    engine.api.remove_image(tag, noprune=False)
                except docker.errors.DockerException:
                    continue
                removed.append(tag)
    return removed


def prune_wheelhouses(directory: Path, *, keep: int = KEEP_WHEELHOUSES,
                      now: Callable[[], float] = time.time) -> list[Path]:
    """Remove all but the `keep` most recently used complete wheelhouses in `directory`
    (use = the mtime of their `.complete` marker), and half-built ones older than an hour."""
    if not directory.is_dir():
        return []
    complete, removed = [], []
    for path in directory.iterdir():
        marker = path / ".complete"
        if marker.is_file():
            complete.append((marker.stat().st_mtime, path))
        elif path.name.startswith(".building-") and now() - path.stat().st_mtime > STALE_BUILDING:
            removed.append(path)
    complete.sort(reverse=True)
    removed += [path for _, path in complete[keep:]]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def touch(path: Path) -> None:
    """Mark a wheelhouse as just used."""
    with contextlib.suppress(OSError):
        os.utime(path / ".complete")
