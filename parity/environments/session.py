"""One session that owns everything: Postgres, images, both environments, and their teardown.

Start-up runs as much in parallel as the dependencies allow:

    sweep leftovers of dead runs
    ├── Postgres start ──┬── local: its database, release step, runserver     -> ready
    │                    └─┐
    └── image build ───────┴── stack: its database, (build script), release
                                      step, compose up                        -> ready

Each environment is announced as soon as it is ready (`on_ready`): a concurrent run's
[local] worker starts its tests then, while the stack is still building or coming up.

Teardown runs in reverse on every exit path: normal end, exception, Ctrl-C, SIGTERM.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from parity.comparison.noise import NoiseRules
from parity.configuration import ParityConfig
from parity.environments import clean
from parity.environments.appsettings import declared_noise
from parity.environments.environment import Environment

# At module level, not in the start-up threads: under pytest, parity's modules are
# assertion-rewritten on import, and two threads building ASTs at once can fail on CPython
# 3.11 (see parity.facts.gather).
from parity.environments.images.build import build_images
from parity.environments.images.pending import PendingImages
from parity.environments.local import LocalServer
from parity.environments.postgres.server import Postgres
from parity.environments.runs import Run
from parity.environments.stack.stack import Stack
from parity.environments.startup import Alongside, run_parallel
from parity.machine import standins
from parity.machine.engine import client as engine_client
from parity.support import proc
from parity.support.interrupts import raise_interrupt

if TYPE_CHECKING:
    from parity.facts.gather import Gathering, Side

T = TypeVar("T")
ENVIRONMENTS = ("local", "stack")
RERUN = "local-rerun"
"""--parity-noise=learn: a second local environment (own database, release step, dev server)."""


@dataclass
class Timings:
    """Seconds per phase, for the report and the benchmarks."""

    phases: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = round(time.monotonic() - started, 3)


class ParitySession:
    """Brings both environments up and hands out `Environment` objects; a context manager."""

    def __init__(
        self,
        config: ParityConfig,
        *,
        environments: tuple[str, ...] = ENVIRONMENTS,
        progress: Callable[[str], None] = lambda line: None,
        run_id: str | None = None,
        on_ready: Callable[[str, Environment], None] = lambda name, environment: None,
    ) -> None:
        self.config = config
        self.on_ready = on_ready
        """Called (from a start-up thread) as each environment is ready, before the others are."""
        self.wanted = environments
        self.progress = progress
        self.run_id = run_id
        self.run: Run | None = None
        self.postgres: Postgres | None = None
        self.images: Any = None
        self._pending_images: PendingImages | None = None
        self.base_images: list[standins.ImageChoice] = []
        self.local: LocalServer | None = None
        self.locals: dict[str, LocalServer] = {}
        """Every local dev server by environment name: "local", and RERUN when wanted."""
        self.stack: Stack | None = None
        self.environments: dict[str, Environment] = {}
        self._databases: dict[str, Any] = {}
        self.timings = Timings()
        self._exit = contextlib.ExitStack()
        self._facts: Gathering | None = None
        self._old_handlers: dict[int, Any] = {}
        self._alongside = Alongside()

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> ParitySession:
        self.install_signal_handlers()
        try:
            self._start()
        except BaseException:
            self._teardown()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._teardown()

    def _start(self) -> None:
        started = time.monotonic()
        with self.timings.phase("sweep"):
            for line in clean.sweep():
                self.progress(f"swept leftover of a dead run: {line}")
        proc.reset_cancel()
        self.run = Run.start(self.run_id)
        self._exit.callback(self.run.finish)
        proc.register_groups_in(self.run.dir)
        self._exit.callback(proc.register_groups_in, None)
        # The stack goes down alongside the dev server and Postgres; the run ends after it.
        self._exit.callback(self._alongside.join)
        self.progress(f"parity run {self.run.id}")

        want_stack = "stack" in self.wanted
        build_images = want_stack and not self.config.stack.user_owned
        if want_stack:
            with self.timings.phase("base images"):
                self._choose_base_images(strict=build_images)
        # Each side starts as soon as what it needs is there, and is announced (`on_ready`)
        # at once: a concurrent run's [local] worker tests while the images build and the
        # stack releases and comes up.
        jobs: dict[str, Callable[[], Any]] = {"postgres": self._start_postgres}
        needs: dict[str, tuple[str, ...]] = {}
        if build_images:
            self._pending_images = PendingImages()
            jobs["images"] = self._build_images
        for name in ("local", RERUN):
            if name in self.wanted:
                jobs[name], needs[name] = self._local_job(name, started), ("postgres",)
        if want_stack:
            jobs["stack"] = functools.partial(self._stack_job, started)
            needs["stack"] = ("postgres",)  # and the app image: see _stack_job
        if "local" in self.wanted and want_stack:
            from parity.facts.gather import Gathering  # here: not in a start-up thread

            self._facts = Gathering()
            self._exit.callback(self._facts.close)
        with self.timings.phase("environments"):
            run_parallel(jobs, needs, finish=("images",))
        self.local = self.locals.get("local")
        for side in (*self.locals.values(), self.stack):
            if side is not None:
                self.timings.phases.update({f"{side.name} {step}": s for step, s in side.timings.items()})
        self.timings.phases["startup"] = round(time.monotonic() - started, 3)
        self.progress(f"environments ready in {time.monotonic() - started:.1f}s: "
                      + ", ".join(f"{e.name} {e.base_url}" for e in self.environments.values()))

    def _database(self, name: str) -> Any:
        assert self.postgres is not None
        database = self.postgres.create_database(self.postgres.database_name(name.replace("-", "_")))
        self._databases[name] = database
        return database

    def _local_job(self, name: str, started: float) -> Callable[[], LocalServer]:
        def job() -> LocalServer:
            database = self._database(name)
            server = self._enter(LocalServer(self.config, database.env("local"), run=self.run,
                                             progress=self.progress, name=name))
            self.locals[name] = server
            # The rerun is the local side run again: tests see it as "local".
            self._ready(name, Environment("local", server.base_url, database.url("local"),
                                          "local://", server.logs), started)
            return server
        return job

    def _stack_job(self, started: float) -> Stack:
        # The database is made while the images build; the release step runs in the app image
        # while the frontend image builds.
        database = self._database("stack")
        pending = self._pending_images
        images = pending.app_image() if pending is not None else None
        stack = self.stack = self._enter(Stack(self.config, database.env("container"), run=self._run(),
                                               images=images, progress=self.progress,
                                               frontend_built=pending.all_built if pending else None),
                                         alongside=True)
        self._ready("stack", Environment("stack", stack.base_url, database.url("local"),
                                         f"docker://{stack.container_name()}", stack.logs,
                                         ca_bundle=stack.ca_bundle), started)
        return stack

    def _ready(self, name: str, environment: Environment, started: float) -> None:
        with _exit_lock:
            self._exit.callback(environment.close)
        self.environments[name] = environment
        self.timings.phases[f"{name} ready"] = round(time.monotonic() - started, 3)
        self.on_ready(name, environment)
        if self._facts is not None and name in ENVIRONMENTS:
            self._facts.start(self._facts_side(name))

    def _choose_base_images(self, *, strict: bool) -> None:
        """The configured base images, or parity's stand-ins where they are not available.

        Strict for generated stacks (parity builds on them); lenient for an own compose file,
        whose build script only sees them as PARITY_BASE_IMAGE / PARITY_FRONTEND_IMAGE.
        """
        resolve = standins.resolve if strict else standins.resolve_leniently
        self.config, self.base_images = resolve(self.config, engine_client())
        for choice in self.base_images:
            if choice.note:
                self.progress(choice.note)

    def _facts_side(self, name: str) -> Side:
        """Where and how to gather one side's environment facts."""
        from parity.facts.gather import Side  # imported already, with Gathering

        settings = self.config.settings if self.config.app == "django" else None
        requirements = os.path.relpath(self.config.requirements, self.config.project_dir)
        database = self._databases[name].url("local")
        if name == "local":
            local = self.locals["local"]
            assert local.process is not None
            return Side("local", "local://", local.python, local.process.pid,
                        str(self.config.project_dir), database, local.environ(), settings,
                        requirements, str(self._run().tmp))
        return Side("stack", self.environments["stack"].host_spec, "python", None,
                    "" if self.config.stack.user_owned else "/srv/app", database, None, settings,
                    requirements)

    def facts(self) -> list[dict[str, Any]]:
        """The environment facts compared side by side (waits for the gathering to finish)."""
        from parity.facts.gather import compare_facts

        gathered = None
        if self._facts is not None:
            with self.timings.phase("facts (waited)"):
                gathered = self._facts.result()
            self.timings.phases["facts (gathered)"] = self._facts.seconds
        if gathered is None:
            return []
        local, stack = gathered
        declared = {side: self.config.env_for(side) for side in ("local", "stack")}
        return [fact.to_dict() for fact in compare_facts(local, stack, self.config.facts.expected,
                                                         declared)]

    def declared_noise(self) -> NoiseRules:
        """Noise that follows from what only one side's settings declare (parity.environments.appsettings)."""
        local = self.local.app_settings if self.local is not None else None
        stack = getattr(self.images, "app_settings", None)
        return declared_noise(local, stack)

    def _run(self) -> Run:
        assert self.run is not None
        return self.run

    def _start_postgres(self) -> Postgres:
        # Local-only runs never touch Docker: the cluster then listens on loopback only.
        gateway = "auto" if "stack" in self.wanted else None
        with self.timings.phase("postgres"):
            self.postgres = self._enter(Postgres(self._run().id, log=self.progress, run=self._run(),
                                                 docker_gateway=gateway))
        if self.postgres.external:
            # Its databases are dropped at teardown: not while the stack's app is connected.
            with _exit_lock:
                self._exit.callback(self._alongside.join)
        return self.postgres

    def describe(self) -> dict[str, Any]:
        """What the reports say about this session (never a password: it goes to `_secrets`)."""
        facts: dict[str, Any] = {"phases": dict(self.timings.phases)}
        if self.run is not None:
            facts["run_id"] = self.run.id
        if self.base_images:
            facts["base images"] = {choice.role.label: choice.note or choice.used
                                    for choice in self.base_images}
        if self.images is not None:
            facts["images"] = {"app": self.images.app, "frontend": self.images.frontend,
                               "built": list(self.images.built)}
        if self.postgres is not None:
            facts["database"] = ("PARITY_DATABASE_URL" if self.postgres.external
                                 else f"throwaway Postgres on 127.0.0.1:{self.postgres.port}")
            facts["_secrets"] = [self.postgres.password]
        if self.stack is not None and self.stack.wiring is not None:
            facts.setdefault("_secrets", []).extend(self.stack.wiring.secrets())
            facts["scheme"] = self.stack.scheme
        return facts

    def _build_images(self) -> Any:
        assert self._pending_images is not None
        try:
            with self.timings.phase("images"):
                self.images = build_images(self.config, progress=self.progress, run=self._run(),
                                           app_ready=self._pending_images.app_ready)
        except BaseException as error:
            self._pending_images.finished(error)
            raise
        self._pending_images.finished()
        return self.images

    def _enter(self, resource: AbstractContextManager[T], *, alongside: bool = False) -> T:
        """Enter a resource and register its exit; thread-safe (ExitStack calls are serialized).
        `alongside`: its exit runs in a thread while the teardown goes on (see Alongside)."""
        value = resource.__enter__()
        name = getattr(resource, "name", type(resource).__name__.lower())

        def exit_timed(kind: type[BaseException] | None, exc: BaseException | None,
                       tb: TracebackType | None) -> bool | None:
            with self.timings.phase(f"teardown {name}"):
                return resource.__exit__(kind, exc, tb)

        def exit_alongside(kind: type[BaseException] | None, exc: BaseException | None,
                           tb: TracebackType | None) -> None:
            self._alongside.start(name, lambda: exit_timed(kind, exc, tb))

        with _exit_lock:
            self._exit.push(exit_alongside if alongside else exit_timed)
        return value

    # --- teardown --------------------------------------------------------------------------
    def _teardown(self) -> None:
        """Reverse order; further Ctrl-C / SIGTERM are ignored until everything is gone."""
        with self.signals_wait():
            started = time.monotonic()
            if self.run is not None:
                self.progress(f"parity run {self.run.id}: tearing down")
            try:
                self._exit.close()
            finally:
                self.timings.phases["teardown"] = round(time.monotonic() - started, 3)
        self.restore_signal_handlers()

    @contextlib.contextmanager
    def signals_wait(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM only say "please wait" while the block runs (main thread only):
        a teardown, or the main thread waiting for one in a start-up thread, is never cut short."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, self._during_teardown)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _during_teardown(self, signum: int, frame: FrameType | None) -> None:
        self.progress("parity: tearing down, please wait (a second signal will not leave things behind)")

    def install_signal_handlers(self) -> None:
        """SIGTERM tears down as Ctrl-C does (main thread only: the caller of a session that
        starts in another thread calls this first, and `restore_signal_handlers` after)."""
        # pytest has no SIGTERM handler: without one a CI cancellation would kill us mid-run.
        if threading.current_thread() is not threading.main_thread():
            return
        self._old_handlers[signal.SIGTERM] = signal.signal(signal.SIGTERM, raise_interrupt)

    def restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()


_exit_lock = threading.Lock()
