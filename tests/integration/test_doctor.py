"""`parity doctor` on this (provisioned) machine, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from parity.baseimage import BaseImages, build_base_images

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def images() -> BaseImages:
    return build_base_images(progress=print)


def doctor(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PARITY_", "DOCKER_"))}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "parity", "doctor"], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120, check=False)


def test_all_ok_on_a_provisioned_machine(images: BaseImages, tmp_path: Path) -> None:
    done = doctor(tmp_path, PARITY_BASE_IMAGE=images.python,
                  PARITY_FRONTEND_IMAGE=images.frontend)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[0] for line in lines] == ["ok"] * 5 + ["skip"], done.stdout
    assert lines[0].startswith("ok       docker engine        ")
    assert f"{images.python} present (PARITY_BASE_IMAGE)" in lines[2]
    assert f"{images.frontend} present (PARITY_FRONTEND_IMAGE)" in lines[3]
    assert "runs as user postgres" in lines[4]
    assert lines[5].startswith("skip     app config")
    assert done.stderr == ""


def test_a_stopped_engine_is_missing_with_the_fix(images: BaseImages, tmp_path: Path) -> None:
    # Pointing DOCKER_HOST at nothing stands in for a stopped engine (others share dockerd).
    done = doctor(tmp_path, DOCKER_HOST="unix:///tmp/nope.sock",
                  PARITY_BASE_IMAGE=images.python, PARITY_FRONTEND_IMAGE=images.frontend)
    assert done.returncode != 0
    first = done.stdout.splitlines()[0]
    assert first.startswith("missing  docker engine        not reachable at unix:///tmp/nope.sock")
    assert "scripts/provision" in first and "DOCKER_HOST" in first
    assert "Traceback" not in done.stdout + done.stderr
