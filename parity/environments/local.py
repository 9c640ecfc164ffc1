"""The local environment: the app in the current virtualenv, as the developer runs it.

The release step runs with this interpreter against the local database, then
`manage.py runserver 127.0.0.1:PORT --noreload --insecure` (or a WSGI dev server for
`app = "wsgi"`) runs in its own process group; teardown stops the whole group.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from parity.configuration import ParityConfig, release
from parity.environments.appsettings import AppSettings, check_database, local_wrapper, read_local
from parity.environments.runs import Run
from parity.support import proc
from parity.support.errors import CommandError, StartupError, tail, telling_line
from parity.support.net import answers, free_port
from parity.support.waiting import wait_until

READY_TIMEOUT = 60.0
RELEASE_TIMEOUT = 600.0


def release_argv(release: tuple[str, ...], python: str) -> list[str]:
    """The release command with a leading `python`/`python3` bound to the given interpreter."""
    argv = list(release)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = python
    return argv


class LocalServer:
    """Runs the release step, then the dev server; a context manager that always cleans up."""

    def __init__(
        self,
        config: ParityConfig,
        database_env: Mapping[str, str],
        *,
        run: Run | None = None,
        python: str = sys.executable,
        progress: Callable[[str], None] = lambda line: None,
        name: str = "local",
    ) -> None:
        self.name = name
        """"local", or "local-rerun": the second local environment of --parity-noise=learn."""
        self.config = config
        self.database_env = dict(database_env)
        self.run = run
        self.python = python
        self.progress = progress
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.log_path: Path | None = None
        self.release_output = ""
        self._final_logs = ""
        self.timings: dict[str, float] = {}
        """Seconds per start-up step ("release", "server"), for the report and the benchmarks."""
        self.app_settings: AppSettings | None = None
        self.media_root: Path | None = None
        """Where uploads go in this run (Django apps): under the run's temp dir, never the checkout."""
        self.wrapper_env: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        """The developer's shell environment, as runserver would see it, plus the declared env
        (and, once the settings were read, parity's wrapper that keeps uploads per run)."""
        env = dict(os.environ)
        # As in the activated virtualenv: `sh -c 'python manage.py ...'` finds its Python.
        bindir = str(Path(self.python).parent)
        if env.get("PATH", "").split(os.pathsep)[0] != bindir:
            env["PATH"] = os.pathsep.join(p for p in (bindir, env.get("PATH", "")) if p)
        env.update(self.config.env_for("local"))
        env.update(self.database_env)
        env.update(self.wrapper_env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _read_settings(self) -> None:
        """Django apps: the database must be parity's, and uploads go to per-run storage."""
        if self.config.app != "django":
            return
        assert self._tmp is not None
        self.app_settings = read_local(self.python, self.config.project_dir, self.environ())
        check_database(self.app_settings, self.database_env.get("PGDATABASE", ""), "local",
                       self.config.project_dir)
        wrapped = self.environ().get("DJANGO_SETTINGS_MODULE") or self.app_settings.module
        self.media_root = Path(self._tmp.name) / "media"
        self.wrapper_env = local_wrapper(Path(self._tmp.name) / "settings", wrapped, self.media_root)

    def __enter__(self) -> LocalServer:
        try:
            self._tmp = tempfile.TemporaryDirectory(
                prefix="parity-local-", dir=self.run.tmp if self.run is not None else None)
            self.log_path = Path(self._tmp.name) / "server.log"
            self._read_settings()
            self._release()
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _release(self) -> None:
        steps = self.config.release
        started = time.monotonic()
        outputs = []
        for index, step in enumerate(steps):
            what = f"{release.label(index, len(steps))} ({release.shown(step)})"
            self.progress(f"{self.name}: {what}")
            try:
                done = proc.run(release_argv(step, self.python), timeout=RELEASE_TIMEOUT,
                                cwd=self.config.project_dir, env=self.environ(), what=what)
            except CommandError as error:
                raise StartupError(self.name, what, _last_line(error.output) or str(error),
                                   tail(error.output)) from None
            outputs.append(done.stdout)
        self.release_output = "".join(outputs)
        if steps:
            self.timings["release"] = round(time.monotonic() - started, 3)
            self.progress(f"{self.name}: release done in {self.timings['release']:.1f}s")

    def server_argv(self, insecure: bool = True) -> list[str]:
        if self.config.app == "django":
            # --insecure serves static files with DEBUG off, as nginx does in the stack; it only
            # exists when django.contrib.staticfiles is installed.
            return [self.python, "manage.py", "runserver", f"127.0.0.1:{self.port}",
                    "--noreload", *(["--insecure"] if insecure else [])]
        return [self.python, "-m", "parity.environments.wsgi_dev", self.config.wsgi, "127.0.0.1", str(self.port)]

    def _start(self, insecure: bool = True) -> None:
        assert self.log_path is not None
        started = time.monotonic()
        self.port = free_port()
        argv = self.server_argv(insecure)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=self.config.project_dir, env=self.environ(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.run is not None:
            self.run.record(self.name, {"pgid": self.process.pid, "argv": argv})

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise StartupError(self.name, "dev server start",
                                   f"exited with code {self.process.returncode}", tail(self.logs()))
            return answers(self.base_url + "/")

        try:
            waited = wait_until(ready, timeout=READY_TIMEOUT, pause=0.05,
                                what=f"{self.name} dev server at {self.base_url}", logs=self.logs)
        except StartupError:
            if insecure and "unrecognized arguments: --insecure" in self.logs():
                self.process = None  # it has exited; no staticfiles app, so no static files to serve
                return self._start(insecure=False)
            raise
        self.timings["server"] = round(time.monotonic() - started, 3)
        self.progress(f"{self.name}: serving at {self.base_url} (ready in {waited:.1f}s)")

    def logs(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return self._final_logs
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None:
            proc.kill_group(self.process.pid, grace=3.0)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.process = None
        if self.run is not None:
            self.run.forget(self.name)
        if self._tmp is not None:
            self._final_logs = self.logs()
            self._tmp.cleanup()
            self._tmp = None


def _last_line(text: str) -> str:
    return telling_line(text)
