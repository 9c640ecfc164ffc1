"""The sweep removes the Docker objects of dead runs only, never those of unknown runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from parity.environments import clean
from parity.environments.runs import LABEL, OWNER_LABEL, Run, owner


class FakeObject:
    def __init__(self, name: str, labels: dict[str, str], removed: list[str]) -> None:
        self.name = self.id = self.short_id = name
        self.tags = [f"parity/app-web:{name}"]
        self.attrs = {"Labels": labels}
        self._removed = removed

    def remove(self, **_: Any) -> None:
        self._removed.append(self.name)


class FakeCollection:
    """The engine's label filter: "key" (present) or "key=value"."""

    def __init__(self, objects: list[FakeObject]) -> None:
        self.objects = objects

    def list(self, filters: dict[str, str], **_: Any) -> list[FakeObject]:
        key, _, value = filters["label"].partition("=")
        return [o for o in self.objects
                if key in o.attrs["Labels"] and (not value or o.attrs["Labels"][key] == value)]


class FakeImages(FakeCollection):
    def __init__(self, objects: list[FakeObject], removed: list[str]) -> None:
        super().__init__(objects)
        self.removed = removed

    def remove(self, image: str, force: bool = False) -> None:
        assert force, "an image of a dead run goes with every tag"
        self.removed.append(image)


class FakeEngine:
    def __init__(self, objects: dict[str, str | dict[str, str]], removed: list[str],
                 images: dict[str, str] | None = None) -> None:
        self.containers = FakeCollection([
            FakeObject(name, {LABEL: labels} if isinstance(labels, str) else labels, removed)
            for name, labels in objects.items()])
        self.networks = FakeCollection([])
        self.volumes = FakeCollection([])
        self.images = FakeImages([FakeObject(name, {LABEL: run}, removed)
                                  for name, run in (images or {}).items()], removed)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARITY_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(clean, "_sweep_postgres", lambda dry_run: [])
    return tmp_path


def dead_run(run_id: str) -> Run:
    run = Run.start(run_id)
    (run.dir / "owner.pid").write_text(f"{os.getpid()} not-the-start-time")
    return run


def test_sweep_removes_dead_runs_objects_and_leaves_unknown_ones(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[str] = []
    dead_run("deadrun")
    live = Run.start("liverun")
    engine = FakeEngine({"c-dead": "deadrun", "c-live": "liverun", "c-elsewhere": "otherregistry"}, removed)
    monkeypatch.setattr(clean.docker_engine, "client", lambda: engine)

    said = clean.sweep()

    assert removed == ["c-dead"]
    assert "container c-dead" in said and "run deadrun" in said
    assert live.dir.is_dir() and not (registry / "runs" / "deadrun").exists()


def test_sweep_including_live_runs_removes_every_labelled_object(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[str] = []
    Run.start("liverun")
    engine = FakeEngine({"c-live": "liverun", "c-elsewhere": "otherregistry"}, removed)
    monkeypatch.setattr(clean.docker_engine, "client", lambda: engine)

    clean.sweep(include_live=True)

    assert sorted(removed) == ["c-elsewhere", "c-live"]


def test_sweep_removes_orphans_of_this_registry_and_the_dead_runs_compose_projects(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[str] = []
    dead = dead_run("deadrun")
    dead.record("stack", {"project": "parity-app-deadrun"})
    Run.start("liverun")
    engine = FakeEngine({
        # teardown failed and the registry entry went: this registry's, so an orphan
        "c-orphan": {LABEL: "goneentry", OWNER_LABEL: owner()},
        # the same, but another registry's (another PARITY_STATE_DIR): maybe alive
        "c-other-owner": {LABEL: "goneentry", OWNER_LABEL: "otherhost:/tmp/parity-state"},
        # a service of the user's own compose file, unlabelled by parity, in the dead project
        "c-user-service": {"com.docker.compose.project": "parity-app-deadrun"},
        "c-someone-elses": {"com.docker.compose.project": "shop"},
        "c-live": {LABEL: "liverun", OWNER_LABEL: owner()},
    }, removed)
    monkeypatch.setattr(clean.docker_engine, "client", lambda: engine)

    said = clean.sweep(dry_run=True)

    assert removed == []
    assert {"container c-orphan", "container c-user-service"} <= set(said)
    assert not {"container c-other-owner", "container c-someone-elses", "container c-live"} & set(said)
    clean.sweep()
    assert sorted(removed) == ["c-orphan", "c-user-service"]


def test_sweep_removes_the_images_a_dead_run_built_from_an_own_compose_file(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[str] = []
    dead_run("deadrun")
    Run.start("liverun")
    engine = FakeEngine({}, removed, images={"i-dead": "deadrun", "i-live": "liverun"})
    monkeypatch.setattr(clean.docker_engine, "client", lambda: engine)

    assert "image parity/app-web:i-dead" in clean.sweep(dry_run=True)
    assert removed == []
    clean.sweep()
    assert removed == ["i-dead"]
