"""Run `pytest --parity` on a copy of tinyapp in a subprocess, the way a user (or CI) would,
watch its progress output line by line, and interrupt it at a chosen moment."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.reliability import leftovers

TINYAPP = Path(__file__).resolve().parent.parent / "apps" / "tinyapp"

SUITE = '''
import os
import time
from pathlib import Path


def test_status(http):
    assert http.get("/").json() == {"ok": True}


def test_gate(http, environment):
    """With RELTEST_GATE set, the [stack] instance stops here until the outer test says go."""
    assert http.get("/greeting/").status_code == 200
    gate = os.environ.get("RELTEST_GATE")
    if gate and environment.name == "stack":
        Path(gate, "reached").touch()
        deadline = time.monotonic() + 120
        while not Path(gate, "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
'''

# Environment variables of the outer pytest that must not leak into the run under test.
_OUTER = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST",
          "PYTEST_ADDOPTS", "PARITY_DATABASE_URL")


@dataclass
class App:
    """A private copy of tinyapp plus private TMPDIR and PARITY_STATE_DIR for its runs."""

    dir: Path
    name: str
    tmpdir: Path
    state_dir: Path
    gate: Path
    settings: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _OUTER}
        env.update(TMPDIR=str(self.tmpdir), PARITY_STATE_DIR=str(self.state_dir),
                   PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", COLUMNS="200")
        env.update(extra)
        return env

    def scope(self, images_before: frozenset[str]) -> leftovers.Scope:
        return leftovers.Scope(app_dir=self.dir, app_name=self.name, tmpdir=self.tmpdir,
                               state_dir=self.state_dir, images_before=images_before,
                               image_marker=f"DJANGO_SETTINGS_MODULE={self.settings}",
                               keep=frozenset({self.gate}))

    def reset_private_dirs(self) -> None:
        for path in (self.tmpdir, self.state_dir, self.gate):
            path.mkdir(parents=True, exist_ok=True)
        for child in self.gate.iterdir():
            child.unlink()

    def configure(self, text: str) -> None:
        """Append TOML to the app's pyproject.toml."""
        with open(self.dir / "pyproject.toml", "a") as config:
            config.write("\n" + text.strip() + "\n")


@dataclass
class Case:
    """An app under test and the scope its leftovers are counted in."""

    app: App
    scope: leftovers.Scope


def make_app(root: Path, prefix: str = "rel", *, unique_settings: bool = False) -> App:
    """Copy tinyapp under `root` (a dir the postgres user can traverse) with a unique name.

    unique_settings gives the app a settings module of its own: its images then share no
    layer with any other app's from the ENV step on (a real cold build), and every layer of
    them names this app, so build leftovers can be attributed exactly.
    """
    token = uuid.uuid4().hex[:8]
    name = f"{prefix}-{token}"
    base = root / name
    app = base / name
    shutil.copytree(TINYAPP, app, ignore=shutil.ignore_patterns("__pycache__"))
    (app / "test_behavior.py").write_text(SUITE)
    settings = "tinyapp.settings"
    if unique_settings:
        settings = f"tinyapp.settings_{token}"
        (app / "tinyapp" / f"settings_{token}.py").write_text("from tinyapp.settings import *  # noqa\n")
        text = (app / "pyproject.toml").read_text().replace('"tinyapp.settings"', f'"{settings}"')
        (app / "pyproject.toml").write_text(text)
    result = App(dir=app, name=name, tmpdir=base / "tmp", state_dir=base / "tmp" / "state",
                 gate=base / "gate", settings=settings)
    result.reset_private_dirs()
    for path in (root, base, result.tmpdir):
        path.chmod(0o755)  # the throwaway Postgres runs as the postgres user when we are root
    return result


def scratch_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="reltest-", dir="/tmp"))
    root.chmod(0o755)
    return root


class ParityRun:
    """`pytest --parity` in a subprocess; its merged output is read line by line."""

    def __init__(self, app: App, *args: str, env: dict[str, str] | None = None,
                 argv: list[str] | None = None) -> None:
        self.argv = argv or [sys.executable, "-m", "pytest", "--parity", "-p", "no:cacheprovider",
                             "-v", *args]
        self.process = subprocess.Popen(
            self.argv, cwd=app.dir, env=env or app.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    @property
    def output(self) -> str:
        with self._new_line:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120.0) -> str:
        """The first output line matching `pattern` (a regex), waiting for it to appear."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._new_line:
            while True:
                for line in self.lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (not self._reader.is_alive() and seen == len(self.lines)):
                    raise AssertionError(f"no line matching {pattern!r} within {timeout}s; "
                                         f"output so far:\n{chr(10).join(self.lines[-40:])}")
                self._new_line.wait(min(left, 0.5))

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout: float = 180.0) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"run did not end within {timeout}s:\n{self.output[-3000:]}") from None
        self._reader.join(timeout=10)
        return code


def run_to_end(app: App, *args: str, env: dict[str, str] | None = None,
               timeout: float = 300.0) -> tuple[int, str]:
    run = ParityRun(app, *args, env=env)
    code = run.finish(timeout)
    return code, run.output


def parity_cli(app: App, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """The `parity` command (e.g. `clean`) with the app's private dirs."""
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=app.dir,
                          env=env or app.env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def wait_for_file(path: Path, run: ParityRun, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if run.process.poll() is not None:
            raise AssertionError(f"run ended before reaching {path.name}:\n{run.output[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s:\n{run.output[-3000:]}")
        time.sleep(0.02)


def wait_for_glob(directory: Path, pattern: str, run: ParityRun, timeout: float = 120.0) -> Path:
    deadline = time.monotonic() + timeout
    while True:
        found = next(directory.glob(pattern), None)
        if found is not None:
            return found
        if run.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {pattern} in {directory}:\n{run.output[-3000:]}")
        time.sleep(0.005)


def remove_app_images(name: str) -> None:
    """Remove the tagged images a test's unique app produced (they are only cache)."""
    engine = leftovers.client()
    for image in engine.images.list(filters={"label": f"parity.app={name}"}):
        for tag in image.tags:
            try:
                engine.images.remove(tag, noprune=False)
            except Exception:
                continue


def kill_leftover_processes(scope: leftovers.Scope) -> None:
    """Last-resort cleanup after a failed assertion, so one failure does not poison the machine."""
    for line in leftovers.processes(scope):
        pid = int(line.split(":", 1)[0])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
