"""Build the app and frontend images with the Docker SDK, content-addressed.

The app image is the base image, a virtualenv installed from a wheelhouse built on the host
(no network during the build), the app's code read-only under /srv/app, static files
collected into /srv/static, gunicorn as its command, and a non-root user. The frontend image
is the frontend base (nginx) serving /srv/static and proxying everything else to the app.

Both tags carry the digest of every input (`inputs_digest`): when they exist, nothing is
built. Images are a cache shared by runs, so they carry `parity.app`/`parity.digest`/
`parity.role` labels and not the per-run label.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import requests

from parity.configuration import ParityConfig
from parity.environments.appsettings import AppSettings, read_image
from parity.environments.images import context as buildcontext
from parity.environments.images import wheelhouse
from parity.environments.images.recipes import (
    APP_DOCKERFILE,
    APP_PORT,
    APP_SERVICE,
    APP_USER,
    COLLECTSTATIC_SCRIPT,
    FRONTEND_DIR,
    FRONTEND_DOCKERFILE,
    FRONTEND_PORT,
    FRONTEND_SERVICE,
    RECIPE_VERSION,
    SETTINGS_PROBE,
    render,
    with_labels,
)
from parity.environments.runs import LABEL, OWNER_LABEL, Run, owner
from parity.machine import standins
from parity.machine.engine import client, image_present
from parity.support import cache, proc
from parity.support.errors import MissingDependencyError, StartupError, telling_line

__all__ = [
    "APP_PORT", "APP_SERVICE", "APP_USER", "FRONTEND_PORT", "FRONTEND_SERVICE", "BuiltImages",
    "build_images", "image_tags", "inputs_digest",
]

ENVIRONMENT = "stack"
BUILD_TIMEOUT = 3600
LOG_TAIL = 30

_STEP = re.compile(r"^Step \d+/\d+ : ")
_LAYER = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_NONZERO = re.compile(r"returned a non-zero code: (\d+)")
_RUNNING = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$")
_CHATTER = re.compile(r"^( ---> |Removing intermediate container |Successfully (built|tagged) )")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class BuiltImages:
    app: str
    frontend: str
    built: tuple[str, ...]
    """The tags built by this call; empty when both were already present."""
    seconds: float
    app_settings: AppSettings | None = None
    """What the app's stack settings said at build time (Django apps): MEDIA_ROOT, the database."""


@dataclass(frozen=True)
class _Plan:
    context: buildcontext.ContextFiles
    generated: dict[str, str]
    digest: str
    app_tag: str
    frontend_tag: str


def _ignore(line: str) -> None:
    pass


def image_tags(config: ParityConfig, digest: str) -> tuple[str, str]:
    """(app tag, frontend tag) for a digest."""
    short = digest[:12]
    return (f"parity/{config.name}-app:{short}", f"parity/{config.name}-frontend:{short}")


def inputs_digest(config: ParityConfig, *, engine: Any = None) -> str:
    """The sha256 of every input of both images (needs the engine for the base image ids)."""
    engine = engine if engine is not None else client()
    return _plan(standins.resolve(config, engine)[0], engine).digest


def build_images(
    config: ParityConfig,
    *,
    progress: Callable[[str], None] = _ignore,
    engine: Any = None,
    run: Run | None = None,
    app_ready: Callable[[BuiltImages], None] | None = None,
) -> BuiltImages:
    """Build what is missing of the app and frontend images; return their tags.

    With `run`, the build context goes under the run's temp root and every layer committed is
    recorded in the run's registry entry: if parity is killed mid-build, the sweep removes
    the layers no image uses. `app_ready` is called once the app image exists, before the
    frontend image is built: the stack's release step needs only the app image.
    """
    started = time.monotonic()
    engine = engine if engine is not None else client()
    config, choices = standins.resolve(config, engine)
    for choice in choices:
        if choice.note:
            progress(choice.note)
    plan = _plan(config, engine)
    missing = _missing(engine, plan)
    labels = {LABEL: run.id, OWNER_LABEL: owner()} if run is not None else {}
    settings: list[AppSettings | None] = []

    def app_built() -> None:
        settings.append(read_image(engine, plan.app_tag, labels) if config.app == "django" else None)
        if app_ready is not None:
            app_ready(BuiltImages(plan.app_tag, plan.frontend_tag, (), time.monotonic() - started,
                                  settings[0]))

    if missing:
        # Concurrent runs of one app would each build the same tags: one builds, the others
        # wait and then find the images (a second build would leave its layers dangling).
        try:
            with cache.build_lock(cache.cache_root() / "locks", plan.digest,
                                  cancelled=proc.cancelled) as waited:
                missing = _missing(engine, plan) if waited else missing
                if missing:
                    _build_missing(engine, config, plan, missing, progress, run, app_built)
        except InterruptedError:
            raise StartupError(ENVIRONMENT, "image build", CANCELLED) from None
    if not settings:
        app_built()
    seconds = time.monotonic() - started
    if not missing:
        progress(f"images: cached {plan.app_tag}, {plan.frontend_tag} ({seconds:.2f}s)")
        return BuiltImages(plan.app_tag, plan.frontend_tag, (), seconds, settings[0])
    progress(f"images: built {', '.join(missing)} ({seconds:.1f}s)")
    removed = cache.prune_images(engine, config.name)
    if removed:
        progress(f"images: pruned {len(removed)} older image(s) of {config.name} "
                 f"(the newest {cache.KEEP_IMAGES} stay)")
    return BuiltImages(plan.app_tag, plan.frontend_tag, tuple(missing), seconds, settings[0])


def _missing(engine: Any, plan: _Plan) -> list[str]:
    return [tag for tag in (plan.app_tag, plan.frontend_tag) if not image_present(engine, tag)]


def _build_missing(engine: Any, config: ParityConfig, plan: _Plan, missing: list[str],
                   progress: Callable[[str], None], run: Run | None,
                   app_built: Callable[[], None]) -> None:
    if plan.context.secrets_left_out:
        left_out = ", ".join(plan.context.secrets_left_out)
        progress(f"context: left out secret-looking files: {left_out}")
    labels = {"parity.app": config.name, "parity.digest": plan.digest}
    context_dir = Path(tempfile.mkdtemp(prefix="parity-build-", dir=run.tmp if run else None))
    committed = _Committed(run)
    try:
        wheels = None
        if plan.app_tag in missing:
            wheels = wheelhouse.ensure_wheelhouse(engine, config.requirements, config.base_image,
                                                  _image_id(engine, config.base_image),
                                                  progress=progress, run=run)
        roles = {APP_DOCKERFILE: "app", FRONTEND_DOCKERFILE: "frontend"}
        generated = {**plan.generated, **{name: with_labels(plan.generated[name], {**labels, "parity.role": role})
                                          for name, role in roles.items()}}
        buildcontext.write_context(context_dir, plan.context, generated, wheels)
        if plan.app_tag in missing:
            members = [buildcontext.APP_DIR, buildcontext.WHEELS_DIR,
                       APP_DOCKERFILE, COLLECTSTATIC_SCRIPT, SETTINGS_PROBE]
            _build(engine, "app", context_dir, members, APP_DOCKERFILE, plan.app_tag,
                   {}, progress, committed)
        app_built()
        if plan.frontend_tag in missing:
            members = [FRONTEND_DOCKERFILE, FRONTEND_DIR]
            _build(engine, "frontend", context_dir, members, FRONTEND_DOCKERFILE,
                   plan.frontend_tag, {"APP_IMAGE": plan.app_tag}, progress, committed)
    finally:
        shutil.rmtree(context_dir, ignore_errors=True)
        committed.done()


def _plan(config: ParityConfig, engine: Any) -> _Plan:
    context = buildcontext.select_files(config.project_dir)
    generated = render(config)
    facts = {
        "recipe": RECIPE_VERSION,
        "base_image": _image_id(engine, config.base_image),
        "frontend_image": _image_id(engine, config.frontend_image),
        "wheelhouse": wheelhouse.wheelhouse_key(config.requirements,
                                                _image_id(engine, config.base_image)),
    }
    digest = buildcontext.digest(context, generated, facts)
    app_tag, frontend_tag = image_tags(config, digest)
    return _Plan(context, generated, digest, app_tag, frontend_tag)


def _image_id(engine: Any, reference: str) -> str:
    """The id of a base image `standins.resolve` found (present, pulled or a stand-in)."""
    try:
        return str(engine.images.get(reference).id)
    except docker.errors.ImageNotFound:
        raise MissingDependencyError(f"{reference} disappeared from the engine during the run; "
                                     "run `parity base-image` or pull it again") from None


class _StepLog:
    """Follows a classic-builder output stream: lines, the current step, layers created."""

    def __init__(self, role: str, progress: Callable[[str], None]) -> None:
        self.role = role
        self.progress = progress
        self.step = "before the first step"
        self.lines: list[str] = []
        self.layers: list[str] = []
        self.containers: list[str] = []
        """The intermediate containers of RUN steps: the one of an interrupted step may run on."""
        self.running: str | None = None
        """The container of the RUN step in progress, if one is."""
        self.settled = True
        """False from a step's first line until its layer is reported."""
        self.pending = ""

    def feed(self, text: str) -> None:
        self.pending += text
        *complete, self.pending = self.pending.split("\n")
        for line in complete:
            self._line(line)

    def flush(self) -> None:
        if self.pending:
            self._line(self.pending)
            self.pending = ""

    def _line(self, raw: str) -> None:
        line = _ANSI.sub("", raw.rstrip().rsplit("\r", 1)[-1])
        if not line.strip():
            return
        if _STEP.match(line):
            self.step = line
            self.lines = []
            self.settled, self.running = False, None
            self.progress(f"build {self.role}: {line}")  # one progress line per step; the rest is kept for errors
        elif not _CHATTER.match(line):
            self.lines.append(line)
        layer = _LAYER.match(line)
        if layer:
            self.layers.append(layer.group(1))
            self.settled, self.running = True, None
        running = _RUNNING.match(line)
        if running:
            self.containers.append(running.group(1))
            self.running = running.group(1)

    def error(self, cause: str) -> StartupError:
        self.flush()
        failed = _NONZERO.search(cause)
        if failed and self.lines:  # the engine's message repeats the command; the output says why
            cause = f"{telling_line(chr(10).join(self.lines))} (exit {failed.group(1)})"
        shown = self.step if len(self.step) <= 100 else self.step[:99] + "…"
        step = f"image build ({self.role}): {shown}"
        if "collectstatic" in self.step:
            step += " (runs with the settings' defaults: run-time env is not baked into images)"
        return StartupError(ENVIRONMENT, step, cause.strip(), "\n".join(self.lines[-LOG_TAIL:]))


def _build(
    engine: Any,
    role: str,
    context_dir: Path,
    members: list[str],
    dockerfile: str,
    tag: str,
    buildargs: dict[str, str],
    progress: Callable[[str], None],
    committed: _Committed | None = None,
) -> None:
    log = _StepLog(role, progress)
    if proc.cancelled():
        raise log.error(CANCELLED)
    archive = buildcontext.tar_context(context_dir, members, context_dir / f".{role}.tar")
    succeeded = False
    try:
        with archive.open("rb") as fileobj:
            for chunk in _stream(engine, fileobj, dockerfile, tag, buildargs, log):
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail") or {}
                    raise log.error(CANCELLED if proc.cancelled()
                                    else str(detail.get("message") or chunk.get("error")))
                if "stream" in chunk:
                    log.feed(str(chunk["stream"]))
                    if committed is not None:
                        committed.note(log.layers, log.containers)
                if proc.cancelled():
                    _stop(engine, log)
        log.flush()
        if not image_present(engine, tag):
            raise log.error(f"the build ended without producing {tag}")
        succeeded = True
    finally:
        if not succeeded:
            remove_layers(engine, log.layers, log.containers)


CANCELLED = "cancelled: the session is shutting down"


def _stop(engine: Any, log: _StepLog) -> None:
    """Stop a build on cancellation without leaving a layer nobody knows of.

    Leaving the stream makes the engine stop, but only after the step in progress, whose
    layer would then never be reported. So: between steps, leave at once; in a RUN step, kill
    its container (the step fails, nothing is committed) and read on to the error; in any
    other step (ENV, COPY: quick), read on until its layer is reported.
    """
    if log.settled:
        raise log.error(CANCELLED)
    if log.running is not None:
        running, log.running = log.running, None
        try:
            engine.api.remove_container(running, force=True)
        except docker.errors.APIError:
            pass


def _stream(
    engine: Any, fileobj: Any, dockerfile: str, tag: str, buildargs: dict[str, str], log: _StepLog,
) -> Iterator[dict[str, Any]]:
    try:
        yield from engine.api.build(
            fileobj=fileobj, custom_context=True, dockerfile=dockerfile, tag=tag,
            buildargs=buildargs, rm=True, forcerm=True, pull=False,
            decode=True, timeout=BUILD_TIMEOUT,
        )
    except docker.errors.APIError as exc:
        raise log.error(str(exc.explanation or exc)) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise log.error(f"lost the Docker engine ({type(exc).__name__}: {exc})") from None


def remove_layers(engine: Any, layers: list[str], containers: Sequence[str] = ()) -> list[str]:
    """Remove the untagged, childless layers a failed build committed (newest first);
    tagged images (the base, the app image) and layers other images build on stay.
    The build's intermediate `containers` go first: an interrupted RUN step's container
    may still be running on the newest layer. Returns the layers removed."""
    for container in containers:
        try:
            engine.api.remove_container(container, force=True)
        except docker.errors.APIError:
            continue
    removed = []
    for layer in reversed(layers):
        try:
            image = engine.images.get(layer)
            if image.tags:
                continue
            engine.api.remove_image(image.id, force=False, noprune=False)
            removed.append(layer)
        except docker.errors.APIError:
            continue
    return removed


class _Committed:
    """The layers this build has committed so far, kept in the run's registry entry."""

    def __init__(self, run: Run | None) -> None:
        self.run = run
        self.layers: list[str] = []
        self.containers: list[str] = []

    def note(self, layers: list[str], containers: list[str]) -> None:
        new = [layer for layer in layers if layer not in self.layers]
        started = [container for container in containers if container not in self.containers]
        if (new or started) and self.run is not None:
            self.layers += new
            self.containers += started
            self.run.record("build", {"layers": self.layers, "containers": self.containers})

    def done(self) -> None:
        if self.run is not None:
            self.run.forget("build")
