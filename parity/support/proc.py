"""The one subprocess helper: argv lists, a timeout always, errors that carry the output tail."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from parity.support.errors import CommandError

_live_groups: set[int] = set()
_cancelled = False
_registry: Path | None = None
GROUP_PREFIX = "group-"


def register_groups_in(directory: Path | None) -> None:
    """Note every running command's process group in `directory` (a run's registry entry,
    None to stop): when parity is killed, its commands (compose, migrate, initdb) run on in
    their own sessions, and the sweep must stop them before it removes what they use."""
    global _registry
    _registry = directory


def _note_group(pid: int) -> Path | None:
    if _registry is None:
        return None
    marker = _registry / f"{GROUP_PREFIX}{pid}"
    try:
        marker.write_text(f"{pid} {start_time(pid)}")
    except OSError:
        return None
    return marker


def start_time(pid: int) -> str:
    """The process start time from /proc ('' when gone), so a recycled pid is told apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rfind(")") + 2 :].split()[19]


def cancel_all() -> None:
    """Stop every subprocess `run` has going (other threads' builds, compose calls) and refuse new ones.

    Used when the session is interrupted while start-up work runs in worker threads.
    """
    global _cancelled
    _cancelled = True
    for pgid in list(_live_groups):
        kill_group(pgid, grace=2.0)


def cancelled() -> bool:
    """True once cancel_all() ran: long in-process work (an image build) should stop too."""
    return _cancelled


def reset_cancel() -> None:
    global _cancelled
    _cancelled = False


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
    check: bool = True,
    input: str | None = None,
    cancellable: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv to completion; stdout and stderr are merged into `.stdout`.

    On timeout the whole process group is killed before CommandError is raised, so a
    hung child cannot outlive its caller. Teardown commands pass cancellable=False: they must
    run even while (because) the session is being cancelled. `on_line` sees each line of
    output as it comes (progress of a long command), without its line end.
    """
    if _cancelled and cancellable:
        raise CommandError(argv, None, "cancelled: the session is shutting down", what)
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if cancellable:
        _live_groups.add(proc.pid)
    noted = _note_group(proc.pid)
    try:
        if on_line is not None:
            out, finished = _stream(proc, on_line, timeout)
            if not finished:
                raise CommandError(argv, None, out, what)
        else:
            out = proc.communicate(input=input, timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, _ = proc.communicate()
        raise CommandError(argv, None, out or "", what) from None
    except BaseException:
        kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        _live_groups.discard(proc.pid)
        if noted is not None:
            noted.unlink(missing_ok=True)
    result = subprocess.CompletedProcess(list(argv), proc.returncode, out or "", "")
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, out or "", what)
    return result


def _stream(proc: subprocess.Popen[str], on_line: Callable[[str], None],
            timeout: float) -> tuple[str, bool]:
    """The output of `proc`, each line handed to `on_line` as it comes (a reader thread, so
    the timeout holds while the command prints nothing), and whether it finished in time
    (else its process group is killed)."""
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            on_line(line.rstrip("\n"))

    reader = threading.Thread(target=read, name="parity-output", daemon=True)
    reader.start()
    finished = True
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        finished = False
    finally:
        if proc.poll() is None:
            kill_group(proc.pid)
            proc.wait()
        reader.join(timeout=10)
    return "".join(lines), finished


def kill_group(pid: int, grace: float = 3.0) -> None:
    """SIGTERM the process group led by pid, wait up to `grace` seconds, then SIGKILL it."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies still count for killpg(0); a group whose only members are zombies is done.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
