"""An app's own Dockerfile and docker-compose.yml as they are (scenarios/pinboard): `parity
build` builds the file's `build:` services, `parity up` serves the stack from them with the
build's cache, and the file's own database service is never created: no container, no volume,
at any moment of the run (watched on the engine's event stream, release step included)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import docker
import pytest
import requests

from tests.integration.test_cli import PARITY, leftovers, start_up, state_dir  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

PINBOARD = Path(__file__).resolve().parents[2] / "scenarios" / "pinboard"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    target = tmp_path / "pinboard"  # the directory name is the app's name: parity/pinboard-*
    shutil.copytree(PINBOARD, target, ignore=shutil.ignore_patterns("__pycache__", "staticfiles"))
    return target


class DockerEvents:
    """Every container and volume event on the engine while the block runs."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self._stream: Any = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> DockerEvents:
        self._stream = docker.from_env().events(decode=True, filters={"type": ["container", "volume"]})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        try:
            for event in self._stream:
                self.seen.append(event)
        except Exception:  # the stream was closed
            return

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        time.sleep(1)  # the teardown's last events are on their way
        self._stream.close()
        assert self._reader is not None
        self._reader.join(timeout=10)

    def of_project(self, project: str) -> Iterator[tuple[str, str, str]]:
        """(type, action, service or volume name) of the project's events."""
        for event in self.seen:
            attributes = (event.get("Actor") or {}).get("Attributes") or {}
            if event.get("Type") == "container" and attributes.get("com.docker.compose.project") == project:
                yield "container", str(event.get("Action")), attributes.get("com.docker.compose.service", "")
            name = str((event.get("Actor") or {}).get("ID") or "")
            if event.get("Type") == "volume" and name.startswith(f"{project}_"):
                yield "volume", str(event.get("Action")), name


@pytest.mark.usefixtures("state_dir")
def test_parity_up_serves_it_without_ever_creating_its_database_service(app: Path) -> None:
    build = subprocess.run([*PARITY, "build"], cwd=app, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    assert re.search(r"^web image (built in|unchanged)", build.stdout, re.M), build.stdout

    engine = docker.from_env()
    with DockerEvents() as events:
        process, urls, run_id = start_up(app)
        try:
            stack = urls["stack"]
            assert requests.get(f"{stack}/health/", timeout=10).json() == {"database": "ok", "cache": "ok"}
            # Two uWSGI workers count visits in the file's Redis: one count for both.
            assert [requests.get(f"{stack}/api/visits/", timeout=10).json()["visits"]
                    for _ in range(4)] == [1, 2, 3, 4]
            web = engine.containers.list(filters={"label": [f"parity.run={run_id}",
                                                            "com.docker.compose.service=web"]})[0]
            project = web.labels["com.docker.compose.project"]
            running = {c.labels["com.docker.compose.service"] for c in engine.containers.list(
                filters={"label": f"com.docker.compose.project={project}"})}
            assert running == {"web", "redis"}
            env = dict(item.split("=", 1) for item in web.attrs["Config"]["Env"])
            # Not the file's own URL (postgres://pinboard:pinboard@db:5432/pinboard): the
            # throwaway database's; the rest of its environment as it says.
            assert re.match(r"postgres(ql)?://[^@]+@[^/]+/parity_\w+_stack$", env["DATABASE_URL"])
            assert env["REDIS_URL"] == "redis://redis:6379/0"
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=120) == 0
    assert process.stderr is not None
    said = process.stderr.read()
    assert "service db of docker-compose.yml is replaced by parity's throwaway Postgres" in said
    # `parity build` built exactly this: nothing in the context changed, the cache says so.
    assert re.search(r"stack: web image unchanged: all \d+ steps from the build cache", said), said
    assert re.search(r"stack: redis image unchanged: (all \d+ steps|its 1 step) from the build cache",
                     said), said

    happened = set(events.of_project(project))
    assert {("container", "create", "web"), ("container", "create", "redis")} <= happened, happened
    assert not [event for event in happened if event[0] == "volume" or event[2] == "db"], happened
    assert leftovers(run_id) == {"containers": [], "networks": [], "volumes": [], "processes": []}
    tags = {tag for image in engine.images.list() for tag in image.tags}
    assert not {f"parity/pinboard-web:{run_id}", f"parity/pinboard-redis:{run_id}"} & tags
