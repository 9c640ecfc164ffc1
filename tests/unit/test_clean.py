"""The sweep removes the Docker objects of dead runs only, never those of unknown runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from parity import clean
from parity.runs import LABEL, Run


class FakeObject:
    def __init__(self, name: str, run_id: str, removed: list[str]) -> None:
        self.name = name
        self.attrs = {"Labels": {LABEL: run_id}}
        self._removed = removed

    def remove(self, **_: Any) -> None:
        self._removed.append(self.name)


class FakeCollection:
    def __init__(self, objects: list[FakeObject]) -> None:
        self.objects = objects

    def list(self, **_: Any) -> list[FakeObject]:
        return self.objects


class FakeEngine:
    def __init__(self, run_ids: dict[str, str], removed: list[str]) -> None:
        self.containers = FakeCollection([FakeObject(n, r, removed) for n, r in run_ids.items()])
        self.networks = FakeCollection([])
        self.volumes = FakeCollection([])


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
