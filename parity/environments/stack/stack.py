"""The stack environment: the app's images wired by the real `docker compose` CLI.

Generated mode: parity writes the compose file (app + frontend, from images.py). Own mode
(`[tool.parity.stack] compose_file`): the user's compose file, as it is, plus an override that
only adds published ports (127.0.0.1), the database environment, the host gateway and parity's
labels; the file's `build:` services are built (or its build script runs), and its own database
service is left out for the throwaway Postgres (parity.environments.stack.ownfile). Ports the user's file publishes
itself (often `80:80`, on every interface) are replaced, with compose's `!override` tag, by
ephemeral ones on 127.0.0.1: a run never listens beyond loopback, and concurrent runs never
fight over a host port. Either way the project name carries the run id, and teardown is
`down -v --remove-orphans` with a short stop timeout.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from parity.configuration import ParityConfig, release
from parity.environments.appsettings import check_database
from parity.environments.images.build import APP_PORT, FRONTEND_PORT
from parity.environments.images.recipes import BUILD_DATABASE
from parity.environments.runs import Run
from parity.environments.stack import composebuild, containerstate, ownfile
from parity.environments.stack.composefile import compose_yaml
from parity.environments.stack.containerstate import StartWatch
from parity.environments.stack.document import compose_document
from parity.environments.stack.tls import StackTLS
from parity.machine import engine as docker_engine
from parity.support import proc
from parity.support.errors import (
    CommandError,
    StartupError,
    tail,
    telling_line,
)
from parity.support.waiting import wait_until

UP_TIMEOUT = 300.0
READY_TIMEOUT = 90.0
RELEASE_TIMEOUT = 600.0
BUILD_SCRIPT_TIMEOUT = 1800.0


class Stack:
    """A compose project for one run: build script (own mode), release step, up, logs, down."""

    name = "stack"

    def __init__(
        self,
        config: ParityConfig,
        database_env: Mapping[str, str],
        *,
        run: Run,
        images: Any = None,
        progress: Callable[[str], None] = lambda line: None,
        frontend_built: Callable[[], None] | None = None,
    ) -> None:
        """`frontend_built`: waits until the frontend image exists, when `images` are handed
        over as soon as the app image is (the release step needs no more)."""
        self.config = config
        self.frontend_built = frontend_built
        self.database_env = dict(database_env)
        self.run = run
        self.images = images
        self.progress = progress
        self.project = re.sub(r"[^a-z0-9_-]", "", f"parity-{config.name}-{run.id}{_worker()}".lower())
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.files: list[Path] = []
        self.port = 0
        self.app_port = 0
        self.release_output = ""
        self._final_logs = ""
        self._up = False
        self.timings: dict[str, float] = {}
        """Seconds per start-up step ("build script", "release", "up"), for the report and the benchmarks."""
        self.own = ownfile.OwnFile()
        """Own mode: the user's compose file as compose resolves it, its database service."""
        self.user_ports: dict[str, list[str]] = {}
        """Own mode: the container ports each service of the user's file publishes ("80", "53/udp")."""
        self.wiring: StackTLS | None = None
        """The entry's scheme: run-time listeners, certificate and ports (parity.environments.stack.tls)."""

    # --- naming ------------------------------------------------------------------------
    @property
    def app_service(self) -> str:
        return self.config.stack.app_service if self.config.stack.user_owned else "app"

    @property
    def entry_service(self) -> str:
        return self.config.stack.entry_service if self.config.stack.user_owned else "frontend"

    @property
    def entry_port(self) -> int:
        if self.wiring is not None:
            return self.wiring.entry_port
        return self.config.stack.entry_port if self.config.stack.user_owned else FRONTEND_PORT

    @property
    def scheme(self) -> str:
        return self.config.stack.scheme

    @property
    def ca_bundle(self) -> str | None:
        """The certificate the `http` client trusts for this stack (its run's throwaway CA)."""
        tls = self.wiring.tls if self.wiring is not None else None
        return str(tls.ca) if tls is not None else None

    @property
    def internal_app_port(self) -> int:
        if self.config.stack.user_owned:
            return self.config.stack.app_port
        return APP_PORT

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def app_url(self) -> str | None:
        """The app service's own port (gunicorn, bypassing the frontend), published on
        127.0.0.1 so parity can replay a diverging request there; None when it is not."""
        return f"http://127.0.0.1:{self.app_port}" if self.app_port else None

    def environ(self) -> dict[str, str]:
        """What the app container gets: declared env and the database, nothing from the shell."""
        env = self.config.env_for("stack")
        env.update(self.database_env)
        return env

    # --- compose files -------------------------------------------------------------------
    def compose_document(self) -> dict[str, Any]:
        """The compose file parity writes (the whole stack, or the override of the user's own)."""
        return compose_document(self)

    def _write_files(self) -> None:
        assert self._tmp is not None
        directory = Path(self._tmp.name)
        if self.config.stack.user_owned:
            assert self.config.stack.compose_file is not None
            self.files = [self.config.stack.compose_file]
            self.own = ownfile.read(self.config, self.compose, self.progress)
            self.user_ports = self.own.ports
            path = directory / "parity.override.yaml"
        else:
            self.files = []
            path = directory / "compose.yaml"
        path.write_text(compose_yaml(self.compose_document()) + "\n")
        os.chmod(path, 0o600)  # it holds the database password
        self.files.append(path)

    def _shown_file(self) -> Path:
        return ownfile.shown_file(self.config)

    def compose(self, *args: str, timeout: float, what: str, check: bool = True,
                cancellable: bool = True, on_line: Callable[[str], None] | None = None) -> str:
        argv, workdir = self.compose_argv(*args)
        done = proc.run(argv, timeout=timeout, cwd=workdir, env=self._compose_env(), what=what,
                        check=check, cancellable=cancellable, on_line=on_line)
        return done.stdout

    def compose_argv(self, *args: str) -> tuple[list[str], Path | None]:
        """The `docker compose` command line for this project, and the directory it runs in."""
        argv = [*docker_engine.compose_command(), "-p", self.project]
        for file in self.files:
            argv += ["-f", str(file)]
        argv += list(args)
        return argv, self.config.stack.compose_file.parent if self.config.stack.compose_file else None

    def compose_variables(self) -> dict[str, str]:
        """What parity adds to the environment of every compose call (and the build script)."""
        return {"PARITY_BASE_IMAGE": self.config.base_image,
                "PARITY_FRONTEND_IMAGE": self.config.frontend_image, "PARITY_RUN": self.run.id}

    def _compose_env(self) -> dict[str, str]:
        return {**os.environ, **self.compose_variables()}

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix="parity-stack-", dir=self.run.tmp)
            Path(self._tmp.name).chmod(0o755)  # the frontend's user reads its mounted listeners
            self.wiring = StackTLS(self.config, Path(self._tmp.name) / "frontend")
            self._write_files()
            self.run.record("stack", {"project": self.project, "files": [str(f) for f in self.files],
                                      "workdir": str(self.config.root)})
            self._build_script()
            self._build_services()
            ownfile.check_images(self.own, self.config)
            self._check_settings()
            self._release()
            if self.frontend_built is not None:
                self.frontend_built()
            self._hand_over_the_key()
            self._bring_up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    def build_only(self) -> list[composebuild.Built]:
        """`parity build` with an own compose file: its build script, or its `build:` services
        into the build cache the runs reuse; nothing else starts, and nothing stays."""
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix="parity-stack-", dir=self.run.tmp)
            self._write_files()
            self._build_script()
            return self._build_services()
        finally:
            self.down()

    def _build_script(self) -> None:
        script = self.config.stack.build
        if script is None:
            return
        self.progress(f"stack: build script {script.relative_to(self.config.root)}")
        started = time.monotonic()
        try:
            proc.run(["bash", str(script)], timeout=BUILD_SCRIPT_TIMEOUT, cwd=self.config.root,
                     env=self._compose_env(), what="build script")
        except CommandError as error:
            raise StartupError("stack", f"build script ({script.name})", _last_line(error.output),
                               tail(error.output)) from None
        self.timings["build script"] = round(time.monotonic() - started, 3)
        self.progress(f"stack: build script done in {self.timings['build script']:.1f}s")

    def _build_services(self) -> list[composebuild.Built]:
        """The file's `build:` services (own mode without a build script), with its cache."""
        services = ownfile.builds(self.own, self.config)
        if not services:
            return []
        started = time.monotonic()
        built = composebuild.build(self.compose, services, str(self._shown_file()), self.progress)
        self.timings["build"] = round(time.monotonic() - started, 3)
        return built

    def _hand_over_the_key(self) -> None:
        """The TLS key goes to the uid the entry container runs as (images exist by now)."""
        if self.wiring is None or self.wiring.tls is None:
            return
        if self.config.stack.user_owned:
            image = ownfile.image_of(self.own, self.config, self.run.id, self.entry_service)
        else:
            image = self.images.frontend if self.images is not None else None
        if image:
            self.wiring.hand_key_to_image_user(docker_engine.client(), image)

    def _check_settings(self) -> None:
        """Generated Django stacks: the settings the image recorded at build time must use the
        database parity provides (they saw the build's placeholder DATABASE_URL then)."""
        settings = self.images.app_settings if self.images is not None else None
        if settings is not None and not self.config.stack.user_owned:
            check_database(settings, BUILD_DATABASE, "stack")

    def _release(self) -> None:
        steps = self.config.release
        started = time.monotonic()
        outputs = []
        for index, step in enumerate(steps):
            what = f"{release.label(index, len(steps))} ({release.shown(step)})"
            self.progress(f"stack: {what} in the {self.app_service} image")
            try:
                outputs.append(self.compose("run", "--rm", "--no-deps", "-T", self.app_service,
                                            *step, timeout=RELEASE_TIMEOUT, what=what))
            except CommandError as error:
                raise StartupError("stack", what, _last_line(error.output),
                                   tail(error.output)) from None
        self.release_output = "".join(outputs)
        if steps:
            self.timings["release"] = round(time.monotonic() - started, 3)
            self.progress(f"stack: release done in {self.timings['release']:.1f}s")

    def _bring_up(self) -> None:
        self.progress(f"stack: compose up ({self.project})")
        started = time.monotonic()
        self._up = True
        for attempt in range(3):
            try:
                self.compose("up", "-d", "--no-build", timeout=UP_TIMEOUT, what="compose up")
                break
            except CommandError as error:
                clash = "port is already allocated" in error.output or "address already in use" in error.output
                if clash and attempt < 2 and self.wiring is not None and self.wiring.https_port:
                    # The https port chosen up front was taken meanwhile: another one.
                    self.wiring.choose_port()
                    self._write_files()
                    continue
                raise StartupError("stack", "compose up", _port_hint(_last_line(error.output)),
                                   tail(error.output + "\n" + self.logs())) from None
        published = containerstate.published_ports(self._containers())
        try:
            self.port = (published.get((self.entry_service, self.entry_port))
                         or self._compose_port(self.entry_service, self.entry_port))
        except CommandError:  # the entry is not running: a service that crashed says why
            containerstate.raise_if_stopped(self._containers(), self.service_logs, self.entry_service)
            raise
        self.app_port = (published.get((self.app_service, self.internal_app_port))
                         or self._published_app_port())

        ready = StartWatch(
            containers=self._containers, service_logs=self.service_logs,
            entry_service=self.entry_service, entry_port=self.entry_port, url=self.base_url + "/",
            verify=self.ca_bundle or True,
            port_key="entry_port" if self.config.stack.user_owned else "the frontend port").ready

        waited = wait_until(ready, timeout=READY_TIMEOUT, pause=0.1,
                            what=f"stack entry {self.entry_service} at {self.base_url}", logs=self.logs)
        self.timings["up"] = round(time.monotonic() - started, 3)
        self.progress(f"stack: serving at {self.base_url} (up in {time.monotonic() - started:.1f}s, "
                      f"answered after {waited:.1f}s)")

    def _compose_port(self, service: str, port: int) -> int:
        """`compose port`, where the containers' inspect data did not tell (a container
        restarting just then); CommandError if the port is not published."""
        mapping = self.compose("port", service, str(port), timeout=30, what="compose port").strip()
        return int(mapping.rsplit(":", 1)[1])

    def _published_app_port(self) -> int:
        """Best effort: without it only the layer of a divergence stays unknown."""
        try:
            return self._compose_port(self.app_service, self.internal_app_port)
        except (CommandError, ValueError, IndexError):
            self.progress(f"stack: {self.app_service}:{self.internal_app_port} is not published; "
                          "divergences will not be traced to a layer")
            return 0

    def _containers(self, service: str | None = None) -> list[Any]:
        # The SDK rather than `compose ps --format json`, which the legacy docker-compose lacks.
        filters = [f"com.docker.compose.project={self.project}"]
        if service:
            filters.append(f"com.docker.compose.service={service}")
        return list(docker_engine.client().containers.list(all=True, filters={"label": filters}))

    def container_name(self, service: str | None = None) -> str:
        """The running container of a service (for testinfra's docker:// backend)."""
        running = [c for c in self._containers(service or self.app_service) if c.status == "running"]
        if not running:
            raise StartupError("stack", "find container", f"no running {service or self.app_service} container")
        return str(running[0].name)

    def service_logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "200", service, timeout=30,
                            what="compose logs", check=False, cancellable=False)

    def logs(self) -> str:
        if not self._up:
            return self._final_logs
        try:
            return self.compose("logs", "--no-color", "--tail", "200", timeout=30,
                                what="compose logs", check=False, cancellable=False)
        except CommandError:
            return self._final_logs

    def down(self) -> None:
        if self._tmp is None:
            return
        if self._up:
            self._final_logs = self.logs()
        self._up = False
        try:
            # -t 0: the logs are kept and the containers are thrown away, so there is nothing
            # to wait for; a graceful stop adds 0.2-0.5 s to every run.
            self.compose("down", "-v", "--remove-orphans", "-t", "0",
                         timeout=120, what="compose down", check=False, cancellable=False)
            containerstate.remove_leftovers(docker_engine.client, self.project, self.progress)
            ownfile.remove_run_images(self.own, self.config, self.run.id, self.progress)
        finally:
            self._tmp.cleanup()
            self._tmp = None
            self.run.forget("stack")


def _worker() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"-{worker}" if worker else ""


def _last_line(text: str) -> str:
    return telling_line(text) or "no output"


def _port_hint(cause: str) -> str:
    if "address already in use" in cause or "port is already allocated" in cause:
        return (f"{cause}; free that port, or remove the fixed host port from your compose file "
                "(parity publishes the entry port on 127.0.0.1 itself; with docker compose >= "
                "2.24.4 it replaces the file's ports)")
    return cause
