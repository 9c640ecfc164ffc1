"""Root conftest for parity's own tests.

Integration tests need a real Docker engine and Postgres binaries. On a developer's laptop
without them they are skipped with the reason; in CI (CI=true) a missing part is a failure,
so a broken provisioning step can never turn into a green run that tested nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent

# pytester moves HOME into each test's tmp dir; keep one wheel cache for every run.
os.environ.setdefault("PARITY_CACHE_DIR", str(Path.home() / ".cache" / "parity"))


def _missing_parts() -> list[str]:
    missing = []
    try:
        import docker

        docker.from_env(version="auto", timeout=10).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        missing.append(f"Docker engine ({type(exc).__name__})")
    candidates = list(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not candidates and not shutil.which("postgres"):
        missing.append("Postgres server binaries")
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    browser = [item for item in items if item.get_closest_marker("browser")]
    if browser and not (shutil.which("chromium") or shutil.which("chromium-browser")):
        message = "the HTML report tests need chromium; run `bash scripts/setup-env` as root"
        if os.environ.get("CI"):
            raise pytest.UsageError(f"CI must run the browser tests, but {message}")
        for item in browser:
            item.add_marker(pytest.mark.skip(reason=message))
    integration = [item for item in items if item.get_closest_marker("integration")]
    if not integration:
        return
    missing = _missing_parts()
    if not missing:
        return
    message = f"integration tests need: {', '.join(missing)}; run `bash scripts/provision` as root"
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run the integration tests, but {message}")
    for item in integration:
        item.add_marker(pytest.mark.skip(reason=message))
