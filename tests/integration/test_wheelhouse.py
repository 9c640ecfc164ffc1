"""The wheelhouse resolved inside the base image, for its own interpreter, for real.

Two packages made here decide between the host's Python and the image's: a requirement whose
environment marker is true only for the image's exact version, and a package whose newest
release's Requires-Python excludes the image's version. A third case builds uwsgi, which ships
only an sdist needing a compiler, in the builder image.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from parity.environments.images import wheelhouse
from parity.machine import engine as docker_engine
from tests.provisioned import python_image

pytestmark = pytest.mark.integration

MARKED = "parity-test-marked-7f3a"
PINNED = "parity-test-pyreq-7f3a"


def make_wheel(directory: Path, name: str, version: str, requires_python: str | None = None) -> Path:
    """A pure-Python wheel of a one-module package, written by hand (no build backend)."""
    module = name.replace("-", "_")
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{module}-{version}.dist-info/METADATA": metadata.encode(),
        f"{module}-{version}.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = f"{module}-{version}.dist-info/RECORD"
    lines = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
             f"{len(data)}" for path, data in files.items()]
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def engine() -> Any:
    return docker_engine.client()


@pytest.fixture(scope="module")
def image(engine: Any) -> tuple[str, str, str]:
    """(reference, id, the exact Python version it runs)."""
    reference = python_image()
    version = subprocess.run(["docker", "run", "--rm", reference, "python3", "-c",
                              "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    return reference, str(engine.images.get(reference).id), version


def wheel_names(directory: Path) -> set[str]:
    return {wheel.name for wheel in directory.glob("*.whl")}


def test_markers_and_requires_python_are_the_images_own(image: tuple[str, str, str], engine: Any,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    reference, image_id, version = image
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    links = tmp_path / "app" / "wheels"
    links.mkdir(parents=True)
    make_wheel(links, MARKED, "1.0")
    major, minor, patch = (int(part) for part in version.split("."))
    newer = f"{major}.{minor}.{patch + 1}"
    make_wheel(links, PINNED, "2.0", requires_python=f">={newer}")
    make_wheel(links, PINNED, "1.0")
    requirements = tmp_path / "app" / "requirements.txt"
    requirements.write_text(
        "--find-links ./wheels\n"
        f'{MARKED}==1.0; python_full_version == "{version}"\n'
        f"{PINNED}\n"
        "gunicorn\n")  # named, so parity adds nothing from the index to this wheelhouse
    lines: list[str] = []
    built = wheelhouse.ensure_wheelhouse(engine, requirements, reference, image_id, progress=lines.append)
    names = wheel_names(built)
    # The marker holds for the image's exact version: installed, whatever the host runs.
    assert f"{MARKED.replace('-', '_')}-1.0-py3-none-any.whl" in names, names
    # Requires-Python of 2.0 excludes the image's Python: pip took 1.0 there.
    assert f"{PINNED.replace('-', '_')}-1.0-py3-none-any.whl" in names, names
    assert f"{PINNED.replace('-', '_')}-2.0-py3-none-any.whl" not in names, names
    assert any(f"in {reference}, for its own Python" in line for line in lines), lines
    # A second call reuses the wheelhouse: no container runs.
    again: list[str] = []
    assert wheelhouse.ensure_wheelhouse(engine, requirements, reference, image_id,
                                        progress=again.append) == built
    assert again == []


def test_an_sdist_that_needs_a_compiler_builds_in_the_builder_image(
        image: tuple[str, str, str], engine: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """uwsgi ships only an sdist with C code: the slim base image has no gcc."""
    reference, image_id, _version = image
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("uwsgi\ngunicorn\n")
    lines: list[str] = []
    built = wheelhouse.ensure_wheelhouse(engine, requirements, reference, image_id, progress=lines.append)
    uwsgi = [name for name in wheel_names(built) if name.lower().startswith("uwsgi-")]
    assert len(uwsgi) == 1 and "linux" in uwsgi[0], wheel_names(built)
    assert any("a package needs a compiler" in line for line in lines), lines
    builder = f"parity/builder:{image_id.removeprefix('sha256:')[:12]}"
    assert engine.images.get(builder).labels.get("parity.role") == "builder"
    # The wheel was built for the image's interpreter: it imports there.
    done = subprocess.run(["docker", "run", "--rm", "-v", f"{built}:/w:ro", reference, "sh", "-c",
                           f"python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --no-index /w/{uwsgi[0]} "
                           "&& /tmp/v/bin/uwsgi --version"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
