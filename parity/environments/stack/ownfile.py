"""The user's own compose file as parity runs it, and what parity's override adds to it.

`read` resolves the file with `docker compose config --format json` (compose v2; the legacy
docker-compose reads nothing, and then parity adds its override blind), finds its database
service (`dbservice`) and the ports it publishes (`composefile`). `overrides` are the
override's entries for the database service and the `build:` services (`composebuild`);
`check_images` fails fast on an image nothing built. `stack` writes the override and runs
compose.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from parity.configuration import ParityConfig
from parity.environments.stack import composebuild, dbservice
from parity.environments.stack.composefile import RESET, merged, published_ports
from parity.machine import engine as docker_engine
from parity.machine import standins
from parity.machine.engine import OVERRIDE_SINCE_TEXT, can_override
from parity.support.errors import CommandError, MissingDependencyError, ParityConfigError, StartupError, telling_line

CONFIG_TIMEOUT = 60.0


@dataclass(frozen=True)
class OwnFile:
    resolved: dict[str, Any] = field(default_factory=dict)
    """As `docker compose config` resolves it; {} with the legacy docker-compose."""
    database: str | None = None
    """The database service, replaced by the throwaway Postgres (parity.environments.stack.dbservice)."""
    ports: dict[str, list[str]] = field(default_factory=dict)
    """The container ports each other service publishes ("80", "53/udp")."""


def shown_file(config: ParityConfig) -> Path:
    assert config.stack.compose_file is not None
    return config.stack.compose_file.relative_to(config.root)


def read(config: ParityConfig, compose: Callable[..., str],
         progress: Callable[[str], None]) -> OwnFile:
    """The user's compose file as compose resolves it, its database service and its ports."""
    shown = shown_file(config)
    if docker_engine.compose_command() != ("docker", "compose"):
        if config.stack.database_service:
            raise MissingDependencyError(
                f"[tool.parity.stack] database_service: the legacy docker-compose cannot leave "
                f"out a service of {shown} (`!reset`); install the compose v2 plugin "
                "(scripts/provision does)")
        # The legacy docker-compose has neither `config --format json` nor `!override`.
        progress(f"stack: legacy docker-compose: ports {shown} publishes itself stay as "
                 "they are (the compose v2 plugin replaces them with 127.0.0.1 ones)")
        return OwnFile()
    try:
        resolved: dict[str, Any] = json.loads(compose(
            "config", "--format", "json", timeout=CONFIG_TIMEOUT, what="compose config"))
    except CommandError as error:
        raise ParityConfigError(str(shown), "compose config", "docker compose cannot read it: "
                                f"{telling_line(error.output) or 'no output'}",
                                f"fix the file (check with `docker compose -f {shown} config`)"
                                ) from None
    version = docker_engine.compose_version()
    database = dbservice.find(resolved, config.stack.database_service, config_file=str(config.file),
                              shown=str(shown), skip=(config.stack.app_service, config.stack.entry_service))
    if database is not None:
        if not can_override(version):
            raise MissingDependencyError(
                f"{shown}: parity replaces its database service {database} with its throwaway "
                f"Postgres; docker compose {version} cannot leave it out (`!reset` needs >= "
                f"{OVERRIDE_SINCE_TEXT}): upgrade the compose plugin (scripts/provision installs one)")
        progress(f"stack: service {database} of {shown} is replaced by parity's throwaway "
                 "Postgres: never started, its dependents and connection settings moved to it")
    others = {**resolved, "services": {name: spec for name, spec in (resolved.get("services") or {}).items()
                                       if name != database}}
    return OwnFile(resolved, database, published_ports(others, version, shown))


def builds(own: OwnFile, config: ParityConfig) -> list[str]:
    """The services parity builds: the file's `build:` ones, unless a build script builds."""
    if config.stack.build is not None:
        return []
    return [name for name in composebuild.build_services(own.resolved) if name != own.database]


def overrides(own: OwnFile, config: ParityConfig, run_id: str,
              database_env: Mapping[str, str]) -> dict[str, Any]:
    """The override's `services` entries for the database service and the built services."""
    built = set(builds(own, config))
    services: dict[str, Any] = {name: entry for name, entry in
                                composebuild.override(own.resolved, config.name, run_id).items()
                                if name in built}
    if own.database is not None:
        for name, entry in dbservice.override(own.resolved, own.database, database_env).items():
            services[name] = entry if entry is RESET else merged(services.get(name, {}), entry)
    return services


def run_images(own: OwnFile, config: ParityConfig, run_id: str) -> list[str]:
    """The images parity named for this run (removed at teardown)."""
    built = set(builds(own, config))
    return [image for name, image in composebuild.run_images(own.resolved, config.name, run_id).items()
            if name in built]


def image_of(own: OwnFile, config: ParityConfig, run_id: str, service: str) -> str | None:
    """The image a service of the file runs: its own `image:`, or the one parity named."""
    spec = (own.resolved.get("services") or {}).get(service) or {}
    if spec.get("image"):
        return str(spec["image"])
    if service in builds(own, config):
        return composebuild.run_images(own.resolved, config.name, run_id).get(service)
    return None


def remove_run_images(own: OwnFile, config: ParityConfig, run_id: str,
                      progress: Callable[[str], None]) -> None:
    """Teardown: the images this run's build named go (the build cache keeps their layers)."""
    images = run_images(own, config, run_id)
    if not images:
        return
    engine = docker_engine.client()
    for image in images:
        try:
            engine.images.remove(image)
        except docker.errors.ImageNotFound:
            continue
        except Exception as error:  # `parity clean` removes it by the run's label
            progress(f"stack: could not remove image {image}: {error}")


def check_images(own: OwnFile, config: ParityConfig) -> None:
    """Every image the file names exists now (built, or the build script ran) or can be
    pulled: otherwise say so here, not as a registry error from the release step."""
    engine = docker_engine.client() if own.resolved else None
    for service, spec in sorted((own.resolved.get("services") or {}).items()):
        image = spec.get("image")
        if "build" in spec or not image or service == own.database:
            continue
        if docker_engine.image_present(engine, image) or standins.pull(engine, image):
            continue
        built = (f"the build script {config.stack.build.relative_to(config.root)} "
                 "did not build it" if config.stack.build else "no build script builds it")
        raise StartupError("stack", f"images of {shown_file(config)}",
                           f"service {service}: image {image} is neither present nor pullable "
                           f"({built}); give the service a `build:` section, build it in "
                           "your build script ([tool.parity.stack] build), or fix the service's "
                           "`image:`")
