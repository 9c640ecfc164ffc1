"""The Docker engine and compose CLI as parity sees them: client, compose argv, images, gateway."""

from __future__ import annotations

import contextlib
import functools
import io
import re
import shutil
import subprocess
import tarfile
from typing import Any

import docker
import docker.errors

from parity.support.errors import MissingDependencyError

HOST_GATEWAY_NAME = "host.docker.internal"


def client() -> Any:
    """A Docker SDK client for DOCKER_HOST / the current context, with the API version negotiated."""
    try:
        engine = docker.from_env(version="auto", timeout=120)
        engine.ping()
    except docker.errors.DockerException as exc:
        raise MissingDependencyError(
            f"Docker engine not reachable ({_short(exc)}); start it (scripts/provision, or "
            "`setsid dockerd &`) or point DOCKER_HOST at a running engine"
        ) from None
    return engine


@functools.cache
def compose_command() -> tuple[str, ...]:
    """argv prefix of the compose CLI: the v2 plugin, else the legacy docker-compose binary."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version", "--short"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        if probe.returncode == 0:
            return ("docker", "compose")
    legacy = shutil.which("docker-compose")
    if legacy:
        return (legacy,)
    raise MissingDependencyError(
        "docker compose not found; install the compose v2 plugin (scripts/provision does) "
        "or the legacy docker-compose"
    )


def compose_version() -> str:
    argv = [*compose_command(), "version", "--short"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip() or "unknown"


OVERRIDE_SINCE = (2, 24, 4)
"""The first docker compose release that reads the `!override` tag in an override file."""
OVERRIDE_SINCE_TEXT = ".".join(map(str, OVERRIDE_SINCE))


def compose_release(version: str) -> tuple[int, ...]:
    """(2, 26, 1) from "2.26.1-4" or "v2.26.1"; (0,) when it names no number."""
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3]) or (0,)


def can_override(version: str) -> bool:
    """Whether this compose release reads `!override` (replaces a list in an override file)."""
    return compose_release(version) >= OVERRIDE_SINCE


def image_present(engine: Any, reference: str) -> bool:
    try:
        engine.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


def read_image_file(engine: Any, image: str, path: str,
                    labels: dict[str, str] | None = None) -> str | None:
    """A text file of an image (None when it has none), read without starting a container."""
    container = engine.containers.create(image, ["true"], labels=dict(labels or {}))
    try:
        stream, _ = container.get_archive(path)
        archive = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
        member = archive.extractfile(archive.getmembers()[0])
        return member.read().decode(errors="replace") if member is not None else None
    except docker.errors.NotFound:
        return None
    finally:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)


def bridge_gateway(engine: Any) -> str:
    """The default bridge's gateway address, which `host-gateway` maps to (172.17.0.1 usually)."""
    import ipaddress

    bridge = engine.networks.get("bridge")
    for config in bridge.attrs.get("IPAM", {}).get("Config") or []:
        if config.get("Gateway"):
            return str(config["Gateway"])
        # Docker 20.10 lists only the subnet for the default bridge; its gateway is the first host.
        if config.get("Subnet"):
            return str(next(ipaddress.ip_network(config["Subnet"], strict=False).hosts()))
    raise MissingDependencyError("the Docker bridge network has no gateway; is dockerd running with --bridge=none?")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
