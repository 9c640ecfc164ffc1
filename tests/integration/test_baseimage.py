"""`parity base-image` for real: debootstrap + docker import, then the images used like the
official `python:3.11-slim` and `nginx:stable` would be."""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from parity.machine import engine as docker_engine
from parity.machine.baseimage import HOST_BUNDLE, BaseImages, build_base_images, find_base_images
from parity.support.waiting import wait_until

pytestmark = pytest.mark.integration

TEST_LABELS = {"parity.test": "1"}


@pytest.fixture(scope="module")
def engine() -> Any:
    return docker_engine.client()


@pytest.fixture(scope="module")
def images() -> BaseImages:
    """Built once per machine and recipe (about 1-2 minutes), reused afterwards."""
    return build_base_images(progress=print)


@pytest.fixture
def containers(engine: Any) -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for container in started:
        container.remove(force=True)


def run(engine: Any, image: str, command: list[str], **options: Any) -> tuple[int, str]:
    """Run a command to completion in a fresh labelled container; (exit code, output)."""
    container = engine.containers.create(image, command, labels=TEST_LABELS, **options)
    try:
        container.start()
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def make_wheel(directory: Path, name: str = "paritytiny", version: str = "0.1") -> Path:
    """A pure-Python wheel of a one-module package, written by hand (no build backend needed)."""
    files = {
        f"{name}/__init__.py": b"VALUE = 'from the wheelhouse'\n",
        f"{name}-{version}.dist-info/METADATA":
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = f"{name}-{version}.dist-info/RECORD"
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def build_image(engine: Any, files: dict[str, bytes], buildargs: dict[str, str]) -> str:
    """docker build from an in-memory context; the caller removes the returned tag."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as context:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            context.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    tag = f"parity-test/baseimage:{secrets.token_hex(4)}"
    engine.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, forcerm=True,
                        labels=TEST_LABELS, buildargs=buildargs)
    return tag


# --- the python image ------------------------------------------------------------------------

def test_python_is_3_11_with_venv_pip_and_useradd(engine: Any, images: BaseImages) -> None:
    code, output = run(engine, images.python, [
        "sh", "-ec", "python --version; python3 -m venv /tmp/v; /tmp/v/bin/pip --version;"
        " command -v useradd; useradd --create-home app; id app; echo LANG=$LANG"])
    assert code == 0, output
    assert output.startswith("Python 3.11.")
    assert "/usr/sbin/useradd" in output and "uid=" in output
    assert "LANG=C.UTF-8" in output


def test_python_image_labels_and_command(engine: Any, images: BaseImages) -> None:
    config = engine.images.get(images.python).attrs["Config"]
    assert config["Cmd"] == ["python3"]
    assert config["Labels"]["parity.base-image"] == "python"
    assert images.python.endswith(config["Labels"]["parity.recipe"][:10])


def test_wheelhouse_installs_without_any_network(engine: Any, images: BaseImages,
                                                 tmp_path: Path) -> None:
    make_wheel(tmp_path)
    script = ("python3 -m venv /tmp/v; /tmp/v/bin/pip install -q --no-index --find-links /wheels"
              " paritytiny; /tmp/v/bin/python -c 'import paritytiny; print(paritytiny.VALUE)';"
              # like the official image, pip may install into the system interpreter too
              " pip install -q --no-index --find-links /wheels paritytiny;"
              " python -c 'import paritytiny'")
    code, output = run(engine, images.python, ["sh", "-ec", script], network_mode="none",
                       volumes={str(tmp_path): {"bind": "/wheels", "mode": "ro"}})
    assert code == 0, output
    assert "from the wheelhouse" in output


def test_a_dockerfile_from_the_base_image_builds(engine: Any, images: BaseImages,
                                                 tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    dockerfile = (
        "ARG PARITY_BASE_IMAGE=python:3.11-slim\nFROM $PARITY_BASE_IMAGE\n"
        "RUN useradd --create-home app\n"
        f"COPY {wheel.name} /wheels/\n"
        "RUN python -m venv /venv && /venv/bin/pip install -q --no-index --find-links /wheels "
        "paritytiny\nUSER app\n"
        'CMD ["/venv/bin/python", "-c", "import os, paritytiny; print(os.getuid(), '
        'paritytiny.VALUE)"]\n'
    )
    tag = build_image(engine, {"Dockerfile": dockerfile.encode(), wheel.name: wheel.read_bytes()},
                      {"PARITY_BASE_IMAGE": images.python})
    try:
        code, output = run(engine, tag, [])
        assert code == 0, output
        uid, _, value = output.strip().partition(" ")
        assert uid != "0" and value == "from the wheelhouse"
    finally:
        engine.images.remove(tag, force=True)


def test_a_dockerfiles_own_pip_install_reaches_the_index_the_host_reaches(
        engine: Any, images: BaseImages, tmp_path: Path) -> None:
    """As real Dockerfiles do: `pip install -r requirements.txt` from the package index inside
    the build. The stand-in trusts the CAs the host trusts, so where the host's pip reaches the
    index (through a proxy that signs with its own CA, say), the build's does too."""
    host = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                           "--isolated", "--cert", str(HOST_BUNDLE), "--dest", str(tmp_path),
                           "six"], capture_output=True, text=True, timeout=300, check=False)
    assert host.returncode == 0, f"the host's pip cannot reach the index here:\n{host.stdout}{host.stderr}"
    dockerfile = ("ARG PARITY_BASE_IMAGE=python:3.11-slim\nFROM $PARITY_BASE_IMAGE\n"
                  "COPY requirements.txt /tmp/\n"
                  "RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt\n"
                  'CMD ["/venv/bin/python", "-c", "import six; print(six.__name__)"]\n')
    tag = build_image(engine, {"Dockerfile": dockerfile.encode(), "requirements.txt": b"six\n"},
                      {"PARITY_BASE_IMAGE": images.python})
    try:
        assert run(engine, tag, []) == (0, "six\n")
    finally:
        engine.images.remove(tag, force=True)


# --- the nginx image -------------------------------------------------------------------------

def test_nginx_config_test_passes(engine: Any, images: BaseImages) -> None:
    code, output = run(engine, images.frontend, ["nginx", "-t"])
    assert code == 0, output
    assert "test is successful" in output
    config = engine.images.get(images.frontend).attrs["Config"]
    assert config["Cmd"] == ["nginx", "-g", "daemon off;"]


def _serve(engine: Any, containers: list[Any], image: str, **options: Any) -> str:
    container = engine.containers.run(image, detach=True, labels=TEST_LABELS,
                                      ports={"80/tcp": ("127.0.0.1", None)}, **options)
    containers.append(container)
    container.reload()
    port = container.ports["80/tcp"][0]["HostPort"]
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(base + "/", timeout=2).status_code > 0, timeout=30,
               what=f"nginx base image at {base}", logs=lambda: container.logs().decode())
    return base


def test_nginx_serves_a_conf_d_site_and_logs_to_docker(
    engine: Any, images: BaseImages, containers: list[Any], tmp_path: Path
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "hello.html").write_text("<p>parity base image</p>\n")
    (tmp_path / "site.conf").write_text(
        "server {\n    listen 80;\n    server_name parity.test;\n"
        "    root /srv/site;\n    location / { try_files $uri =404; }\n}\n")
    base = _serve(engine, containers, images.frontend, volumes={
        str(tmp_path / "site.conf"): {"bind": "/etc/nginx/conf.d/default.conf", "mode": "ro"},
        str(tmp_path / "site"): {"bind": "/srv/site", "mode": "ro"},
    })
    page = requests.get(base + "/hello.html", timeout=5)
    assert page.status_code == 200 and page.text == "<p>parity base image</p>\n"
    # No Debian default site: any Host reaches the only server, like the official image.
    other = requests.get(base + "/hello.html", headers={"Host": "elsewhere.example"}, timeout=5)
    assert other.status_code == 200
    assert requests.get(base + "/missing", timeout=5).status_code == 404

    container = containers[-1]
    wait_until(lambda: b"GET /hello.html" in container.logs(stdout=True, stderr=False),
               timeout=5, what="nginx access log in docker logs")


def test_nginx_default_page_like_the_official_image(
    engine: Any, images: BaseImages, containers: list[Any]
) -> None:
    base = _serve(engine, containers, images.frontend)
    page = requests.get(base + "/", timeout=5)
    assert page.status_code == 200 and "Welcome to nginx!" in page.text


def test_a_frontend_dockerfile_copying_into_conf_d_works(
    engine: Any, images: BaseImages, containers: list[Any]
) -> None:
    site = b"server { listen 80; location / { return 200 'from conf.d\\n'; } }\n"
    dockerfile = ("ARG PARITY_FRONTEND_IMAGE=nginx:stable\nFROM $PARITY_FRONTEND_IMAGE\n"
                  "COPY site.conf /etc/nginx/conf.d/default.conf\n")
    tag = build_image(engine, {"Dockerfile": dockerfile.encode(), "site.conf": site},
                      {"PARITY_FRONTEND_IMAGE": images.frontend})
    try:
        base = _serve(engine, containers, tag)
        assert requests.get(base + "/anything", timeout=5).text == "from conf.d\n"
    finally:
        for container in containers:
            container.remove(force=True)
        containers.clear()
        engine.images.remove(tag, force=True)


# --- idempotence -----------------------------------------------------------------------------

def test_second_build_is_a_no_op(engine: Any, images: BaseImages) -> None:
    lines: list[str] = []
    before = {image["Id"] for image in engine.api.images(all=True)}
    again = build_base_images(progress=lines.append)
    assert again == images
    assert {image["Id"] for image in engine.api.images(all=True)} == before
    assert lines and "present (recipe unchanged)" in lines[0]
    assert find_base_images(engine) == images
