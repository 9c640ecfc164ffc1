"""Build the services of the user's own compose file that have a `build:` section.

`docker compose build` does the work, one service at a time, with the file's own Dockerfiles,
contexts, arguments and targets, and with the build's own cache (BuildKit's, in the engine;
the classic builder's layers where DOCKER_BUILDKIT=0): nothing in a context changed, nothing
is rebuilt. Each step that really runs is a progress line; the summary says how many steps
came from the cache.

Images: a service that names its `image:` gets that tag, as `docker compose build` gives it.
One that does not would get `<project>-<service>`, and the project name carries the run id, so
parity names it `parity/<app>-<service>:<run id>` itself, labels it with the run, and removes
the tag at teardown (the build cache keeps its layers for the next run; `parity clean` removes
a killed run's). Every image built here carries `parity.app`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from parity.environments.runs import LABEL, OWNER_LABEL, owner
from parity.support.errors import CommandError, StartupError, tail, telling_line

BUILD_TIMEOUT = 3600.0
SERVICE_LABEL = "parity.service"
_BUILDKIT_STEP = re.compile(r"^#(\d+) \[(?:[^\]]*?\s)?(\d+)/(\d+)\] (.*)$")
_BUILDKIT_VERTEX = re.compile(r"^#(\d+) (.*)$")
_CLASSIC_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TIMESTAMP = re.compile(r"^(#\d+ )?\d+\.\d+ ", re.M)

Compose = Callable[..., str]
"""Stack.compose: runs `docker compose <args>` for the run's project and files."""


def build_services(resolved: Mapping[str, Any]) -> list[str]:
    """The services of a resolved compose file that have a `build:` section."""
    return sorted(name for name, spec in (resolved.get("services") or {}).items() if spec.get("build"))


def run_images(resolved: Mapping[str, Any], app: str, run_id: str) -> dict[str, str]:
    """The image each `build:` service without an `image:` gets for this run."""
    services = resolved.get("services") or {}
    return {name: f"parity/{app}-{name}:{run_id}" for name in build_services(resolved)
            if not services[name].get("image")}


def override(resolved: Mapping[str, Any], app: str, run_id: str) -> dict[str, Any]:
    """The override's `services` entries for the `build:` services: parity's labels on the
    image, and the run's own image name where the file names none."""
    ours = run_images(resolved, app, run_id)
    services: dict[str, Any] = {}
    for name in build_services(resolved):
        labels = {"parity.app": app, SERVICE_LABEL: name}
        if name in ours:
            labels |= {LABEL: run_id, OWNER_LABEL: owner()}
        services[name] = {"build": {"labels": labels}}
        if name in ours:
            services[name]["image"] = ours[name]
    return services


@dataclass(frozen=True)
class Built:
    service: str
    steps: int
    cached: int
    seconds: float

    def summary(self) -> str:
        if self.steps and self.cached == self.steps:
            every = f"all {self.steps} steps" if self.steps > 1 else "its 1 step"
            return (f"stack: {self.service} image unchanged: {every} from the build cache "
                    f"({self.seconds:.1f}s)")
        reused = f"{self.cached} of {self.steps} steps from the build cache" if self.steps else \
            "no step reported"
        return f"stack: {self.service} image built in {self.seconds:.1f}s ({reused})"


def build(compose: Compose, services: list[str], shown: str,
          progress: Callable[[str], None]) -> list[Built]:
    """`docker compose build` for each service, with progress lines; a failure is a
    StartupError naming the service, the telling line and the build's tail."""
    results = []
    for service in services:
        progress(f"stack: building {service} ({shown} build:)")
        log = StepLog(service, progress)
        started = time.monotonic()
        try:
            compose("--progress", "plain", "build", service, timeout=BUILD_TIMEOUT,
                    what=f"image build ({service})", on_line=log.feed)
        except CommandError as error:
            said = _TIMESTAMP.sub("", error.output)  # BuildKit's "#12 0.633 " before a step's output
            raise StartupError("stack", f"image build ({service})",
                               telling_line(said) or "no output", tail(error.output)) from None
        log.flush()
        results.append(Built(service, log.steps, log.cached, round(time.monotonic() - started, 3)))
        progress(results[-1].summary())
    return results


class StepLog:
    """Reads a build's plain progress output: announces each step that really runs (a cached
    one is counted, not announced) and counts them.

    BuildKit: `#7 [app 3/9] RUN pip install ...`, then `#7 CACHED` or the step's output and
    `#7 DONE 12.3s`. The classic builder: `Step 3/9 : RUN ...`, then ` ---> Using cache` or
    ` ---> Running in ...`. FROM is not counted as a step.
    """

    def __init__(self, service: str, progress: Callable[[str], None]) -> None:
        self.service = service
        self.progress = progress
        self.steps = 0
        self.cached = 0
        self._pending: tuple[str, str] | None = None
        """(vertex id, shown step) of a step not yet known to be cached or running."""

    def feed(self, line: str) -> None:
        line = _ANSI.sub("", line).rstrip()
        step = _BUILDKIT_STEP.match(line) or _CLASSIC_STEP.match(line)
        if step is not None:
            self.flush()
            groups = step.groups()
            vertex, number, count, instruction = groups if len(groups) == 4 else ("classic", *groups)
            if not instruction.upper().startswith("FROM "):
                self.steps += 1
                self._pending = (vertex, f"{number}/{count} {_clip(instruction)}")
            return
        if self._pending is None or not line.strip():
            return
        vertex = _BUILDKIT_VERTEX.match(line)
        if (vertex is not None and vertex.group(1) == self._pending[0]
                and vertex.group(2) == "CACHED") or line.strip() == "---> Using cache":
            self.cached += 1
            self._pending = None
        elif vertex is None or vertex.group(1) == self._pending[0] or line.startswith(" ---> "):
            self.flush()

    def flush(self) -> None:
        """The pending step is running (or the build ended): announce it."""
        if self._pending is not None:
            self.progress(f"stack: build {self.service} {self._pending[1]}")
            self._pending = None


def _clip(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
