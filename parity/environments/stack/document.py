"""The compose document parity writes for a stack: the whole stack from parity's images
(generated mode), or the override of the user's own file (own mode), as data (JSON is YAML).

Every service publishes on 127.0.0.1 only, on ephemeral host ports; every object carries the
run's labels; uploads live in a per-run volume that `down -v` removes.
"""

from __future__ import annotations

from typing import Any, Protocol

from parity.configuration import ParityConfig
from parity.environments.runs import LABEL, OWNER_LABEL, Run, owner
from parity.environments.stack import ownfile
from parity.environments.stack.composefile import RESET, Replace, merged
from parity.environments.stack.tls import StackTLS
from parity.machine import engine as docker_engine

STOP_TIMEOUT = 2
MEDIA_VOLUME = "media"
MEDIA_MOUNT = "/srv/media"
"""Where the frontend sees the media volume (settings_probe.MEDIA_MOUNT: its nginx location)."""


class StackParts(Protocol):
    """What the document is made from: a Stack's configuration, run, images and wiring."""

    config: ParityConfig
    run: Run
    images: Any
    own: ownfile.OwnFile
    user_ports: dict[str, list[str]]
    wiring: StackTLS | None
    database_env: dict[str, str]

    @property
    def app_service(self) -> str: ...
    @property
    def entry_service(self) -> str: ...
    @property
    def entry_port(self) -> int: ...
    @property
    def internal_app_port(self) -> int: ...
    def environ(self) -> dict[str, str]: ...


def compose_document(stack: StackParts) -> dict[str, Any]:
    """The compose file for `stack`, as data."""
    labels = {LABEL: stack.run.id, OWNER_LABEL: owner()}
    gateway = [f"{docker_engine.HOST_GATEWAY_NAME}:host-gateway"]
    app: dict[str, Any] = {
        "environment": stack.environ(),
        "ports": [f"127.0.0.1::{stack.internal_app_port}"],
        "extra_hosts": gateway,
        "labels": labels,
        "stop_grace_period": f"{STOP_TIMEOUT}s",
    }
    entry: dict[str, Any] = {
        "ports": [f"127.0.0.1::{stack.entry_port}"],
        "labels": labels,
        "stop_grace_period": f"{STOP_TIMEOUT}s",
    }
    if stack.wiring is not None:
        entry.update(stack.wiring.entry_service())
    services: dict[str, Any] = {stack.app_service: app}
    if stack.entry_service == stack.app_service:  # no frontend: the app serves HTTP itself
        ports = list(dict.fromkeys([*app["ports"], *entry["ports"]]))
        app.update({key: value for key, value in entry.items() if key not in app}, ports=ports)
    else:
        services[stack.entry_service] = entry
    document: dict[str, Any] = {"services": services, "networks": {"default": {"labels": labels}}}
    if not stack.config.stack.user_owned:
        assert stack.images is not None, "generated mode needs built images"
        app["image"] = stack.images.app
        entry["image"] = stack.images.frontend
        entry["depends_on"] = [stack.app_service]
        media_root = stack.images.app_settings.media_root if stack.images.app_settings else ""
        if media_root:
            # Uploads as production keeps them: one volume, written by the release step and
            # the app, served by nginx; per run (the project name), removed by `down -v`.
            app["volumes"] = [f"{MEDIA_VOLUME}:{media_root}"]
            entry["volumes"] = [*entry.get("volumes", []), f"{MEDIA_VOLUME}:{MEDIA_MOUNT}:ro"]
            document["volumes"] = {MEDIA_VOLUME: {"labels": labels}}
    elif stack.user_ports:
        # Only 127.0.0.1, only ephemeral host ports: the user's own mappings are replaced.
        for service, targets in stack.user_ports.items():
            ours = services.setdefault(service, {"ports": []})
            ours["ports"] += [f"127.0.0.1::{target}" for target in targets]
        for ours in services.values():
            ours["ports"] = Replace(dict.fromkeys(ours["ports"]))
    if stack.config.stack.user_owned:
        for name, extra in ownfile.overrides(stack.own, stack.config, stack.run.id,
                                             stack.database_env).items():
            services[name] = extra if extra is RESET else merged(extra, services.get(name, {}))
    return document
