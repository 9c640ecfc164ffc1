"""`parity doctor` on this (provisioned) machine, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from parity.machine.baseimage import BaseImages, build_base_images
from tests.provisioned import nginx_image, python_image

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def images() -> BaseImages:
    return build_base_images(progress=print)


def doctor(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PARITY_", "DOCKER_"))}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "parity", "doctor"], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120, check=False)


def test_all_ok_in_a_new_shell_after_parity_base_image(images: BaseImages, tmp_path: Path) -> None:
    """No PARITY_* variable (doctor() drops them): parity finds what base-image built."""
    done = doctor(tmp_path)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[0] for line in lines] == ["ok"] * 5 + ["skip"], done.stdout
    assert lines[0].startswith("ok       docker engine        ")
    for line, wanted, provided in ((lines[2], "python:3.11-slim", python_image()),
                                   (lines[3], "nginx:stable", nginx_image())):
        if provided == wanted:
            assert f"{wanted} present (default)" in line, line
        else:
            assert f"{wanted} neither present nor pullable (default): parity uses its stand-in " \
                   f"{provided}, built by `parity base-image`" in line, line


def test_explicit_variables_are_named_as_the_source(images: BaseImages, tmp_path: Path) -> None:
    done = doctor(tmp_path, PARITY_BASE_IMAGE=images.python,
                  PARITY_FRONTEND_IMAGE=images.frontend)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
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
