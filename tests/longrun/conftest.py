"""The long-run suite (50 consecutive runs, several minutes) runs only when asked for:
`pytest -m longrun tests/longrun` (tox -e longrun). Otherwise its tests are deselected, so a
plain `pytest` (CI's every run) never starts it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import harness


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    root = harness.scratch_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "longrun: long-running soak tests; run with -m longrun")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "longrun" in (config.getoption("markexpr") or ""):
        return
    chosen = [item for item in items if not item.get_closest_marker("longrun")]
    if len(chosen) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("longrun")])
        items[:] = chosen
