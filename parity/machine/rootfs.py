"""The root file systems `parity base-image` builds: post-steps, and temp dirs that never leak.

debootstrap mounts /proc, /sys (and in a container bind-mounts /dev nodes) inside its target:
a temp dir is only ever deleted after everything below it is unmounted, so removing it can
never reach into the host. A build killed outright leaves its dir behind with an owner file;
the next build sweeps dirs whose owner process is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from parity.support import proc
from parity.support.errors import ParityError

TEMP_PREFIX = "parity-base-"
Progress = Callable[[str], None]
Step = tuple[str, ...]
"""A post-step on the root file system: ("rm", glob) | ("mkdir", dir) | ("symlink", path, target)
| ("write", path, text). Paths are absolute inside the image."""


def make_workdir(kind: str) -> Path:
    """A fresh temp dir for one build, stamped with its owner so a later sweep knows it."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{kind}-"))
    (workdir / "owner").write_text(f"{os.getpid()} {proc.start_time(os.getpid())}")
    return workdir


def apply_step(rootfs: Path, step: Step) -> None:
    """One declarative post-step; never follows a symlink out of the root file system."""
    op, where, *rest = step
    if op == "rm":
        # glob.glob, not Path.glob: it sees dangling symlinks (absolute targets are in the image)
        for name in sorted(glob.glob(where.lstrip("/"), root_dir=rootfs)):
            path = _inside(rootfs, name)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        return
    target = _inside(rootfs, where)
    if op == "mkdir":
        target.mkdir(parents=True, exist_ok=True)
    elif op == "symlink":
        target.unlink(missing_ok=True)
        target.symlink_to(rest[0])
    elif op == "write":
        target.unlink(missing_ok=True)
        target.write_text(rest[0], encoding="utf-8")
    else:
        raise ValueError(f"unknown base-image step {step!r}")


def _inside(rootfs: Path, where: str) -> Path:
    """rootfs/where, refusing a path whose parent directories pass through a symlink."""
    path = rootfs
    for part in Path(where.lstrip("/")).parts[:-1]:
        path = path / part
        if path.is_symlink():
            raise ParityError(f"base-image step path {where} crosses a symlink at {path}")
    return path / Path(where).name


# --- temp dirs: unmount what debootstrap mounted, then remove; sweep what a killed run left ---

def _mountpoints() -> list[str]:
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            raw = line.split()[4]
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), raw))
    return points


def unmount_below(path: Path) -> bool:
    """Unmount everything mounted at or below path; True when nothing is left mounted."""
    prefix = str(path.resolve())
    for attempt in range(3):
        below = [m for m in _mountpoints() if m == prefix or m.startswith(prefix + "/")]
        if not below:
            return True
        for mount in sorted(below, key=len, reverse=True):
            lazy = ["-l"] if attempt else []
            proc.run(["umount", *lazy, mount], timeout=30, check=False)
    return not any(m == prefix or m.startswith(prefix + "/") for m in _mountpoints())


def remove_workdir(workdir: Path, progress: Progress) -> None:
    if not workdir.exists():
        return
    if not unmount_below(workdir):
        progress(f"base-image: warning: {workdir} still has mounts; left in place")
        return
    shutil.rmtree(workdir, ignore_errors=True)


def sweep_stale(progress: Progress) -> None:
    for workdir in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        alive = True
        try:
            pid_text, _, started = (workdir / "owner").read_text().partition(" ")
            alive = proc.start_time(int(pid_text)) == started.strip() != ""
        except (OSError, ValueError):
            with contextlib.suppress(OSError):  # owner not written yet: give it an hour
                alive = time.time() - workdir.stat().st_mtime < 3600
        if not alive:
            progress(f"base-image: removing {workdir} left by a killed build")
            remove_workdir(workdir, progress)


def kill_builds() -> None:
    """Kill our own child process groups working in a base-image temp dir (and nothing else)."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if stat[stat.rfind(")") + 2 :].split()[1] == me and TEMP_PREFIX in cmdline:
            proc.kill_group(int(entry.name), grace=2.0)


@contextlib.contextmanager
def build_lock(progress: Progress) -> Iterator[None]:
    """One build per machine at a time; a second caller waits, then finds the images built."""
    path = Path(tempfile.gettempdir()) / "parity-base-image.lock"
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("base-image: waiting for another parity base-image build to finish …")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def sigterm_raises_interrupt() -> Iterator[None]:
    """A SIGTERM during the build unwinds like Ctrl-C, so temp dirs and children are cleaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
