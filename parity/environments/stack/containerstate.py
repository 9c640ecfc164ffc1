"""What a stack's containers say about themselves while it starts: which TCP ports a container
listens on, and which services have exited (or crash-loop) instead of serving; and, at the
end, what a project left behind where `compose down` could not see it.

Listening ports come from the container's own network namespace: /proc/<pid>/net/tcp{,6} read
from the host when the engine is local, else `cat` of the same files inside the container.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import requests

from parity.support.errors import StartupError, tail, telling_line
from parity.support.net import answers

_LISTEN = "0A"
"""The TCP state of a listening socket in /proc/net/tcp."""


def parse_listening(table: str) -> set[int]:
    """Ports in LISTEN state in the text of /proc/net/tcp or /proc/net/tcp6."""
    ports = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == _LISTEN and ":" in fields[1]:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening_ports(container: Any) -> set[int] | None:
    """The TCP ports `container` listens on; None when that cannot be read."""
    try:
        container.reload()
        pid = int(container.attrs.get("State", {}).get("Pid") or 0)
    except (docker.errors.APIError, ValueError):
        return None
    if pid > 0:
        try:
            return set().union(*(parse_listening(Path(f"/proc/{pid}/net/{name}").read_text())
                                 for name in ("tcp", "tcp6")))
        except OSError:
            pass  # a remote engine, or no permission: ask the container itself
    try:
        code, output = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
    except docker.errors.APIError:
        return None
    if code != 0 and not output:
        return None
    text = output.decode(errors="replace")
    return set().union(*(parse_listening(part) for part in text.split("  sl ")))


def published_ports(containers: list[Any]) -> dict[tuple[str, int], int]:
    """(service, container port) -> host port, for every published TCP port of the containers
    (inspect data, as `containers.list` gives it): what `compose port` prints, without starting
    the CLI once per port. A scaled service counts with its first replica, as there."""
    def labels(container: Any) -> dict[str, str]:
        return (container.attrs.get("Config") or {}).get("Labels") or {}

    def number(container: Any) -> int:
        return int(labels(container).get("com.docker.compose.container-number") or 0)

    found: dict[tuple[str, int], int] = {}
    for container in sorted(containers, key=number):
        service = labels(container).get("com.docker.compose.service")
        ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for key, bindings in ports.items():
            port, _, protocol = key.partition("/")
            if not service or protocol != "tcp" or not bindings:
                continue
            found.setdefault((service, int(port)), int(bindings[0]["HostPort"]))
    return found


@dataclass(frozen=True)
class Stopped:
    service: str
    exit_code: int | None
    restarting: bool

    def describe(self) -> str:
        how = "keeps restarting" if self.restarting else "exited"
        code = f" (exit {self.exit_code})" if self.exit_code is not None else ""
        return f"{self.service} {how}{code}"


def stopped_services(containers: list[Any]) -> list[Stopped]:
    """Services whose container exited, died or crash-loops (one-off containers aside)."""
    found = []
    for container in containers:
        labels = container.labels
        if labels.get("com.docker.compose.oneoff") == "True":
            continue
        state = container.attrs.get("State", {})
        restarting = container.status == "restarting" or (
            state.get("Restarting") is True and int(container.attrs.get("RestartCount") or 0) > 0)
        if container.status in ("exited", "dead") or restarting:
            found.append(Stopped(labels.get("com.docker.compose.service", container.name),
                                 state.get("ExitCode"), restarting))
    return found


def raise_if_stopped(containers: list[Any], service_logs: Callable[[str], str], entry_service: str) -> None:
    """A service that exited or crash-loops during start-up ends it, with the reason from its
    log. The entry service is named last: it usually stops because one behind it did (nginx
    cannot resolve the app it proxies to while that crash-loops)."""
    stopped = sorted(stopped_services(containers), key=lambda found: found.service == entry_service)
    if stopped:
        first = stopped[0]
        logs = service_logs(first.service)
        why = telling_line(logs)
        raise StartupError("stack", "start", f"service {first.describe()} during start-up"
                           + (f": {why}" if why else "; its log is empty"), tail(logs))


class StartWatch:
    """The readiness check of a starting stack's entry service. It fails fast instead of
    waiting out the ready timeout: when a service exits (or crash-loops) during start-up, and
    when the entry container listens, but not on the entry port."""

    MISMATCH_GRACE = 1.5
    """Seconds the entry container must listen elsewhere before that counts: a server may
    open another port first."""

    def __init__(self, *, containers: Callable[..., list[Any]], service_logs: Callable[[str], str],
                 entry_service: str, entry_port: int, url: str, port_key: str,
                 verify: bool | str = True) -> None:
        self.containers = containers
        self.service_logs = service_logs
        self.entry_service = entry_service
        self.entry_port = entry_port
        self.url = url
        self.port_key = port_key
        self.verify = verify
        self.mismatch_since: float | None = None
        self.next_port_check = 0.0

    def ready(self) -> bool:
        raise_if_stopped(self.containers(), self.service_logs, self.entry_service)
        try:
            if answers(self.url, verify=self.verify):
                return True
        except requests.RequestException:
            pass
        self._check_entry_port()
        return False

    def _check_entry_port(self) -> None:
        now = time.monotonic()
        if now < self.next_port_check:
            return
        self.next_port_check = now + 0.5
        running = [c for c in self.containers(self.entry_service) if c.status == "running"]
        ports = listening_ports(running[0]) if running else None
        if not ports or self.entry_port in ports:
            self.mismatch_since = None
            return
        self.mismatch_since = self.mismatch_since or now
        if now - self.mismatch_since < self.MISMATCH_GRACE:
            return
        shown = ", ".join(map(str, sorted(ports)))
        raise StartupError(
            "stack", "start", f"service {self.entry_service} does not listen on {self.port_key} "
            f"{self.entry_port}: it listens on {shown}; set [tool.parity.stack] entry_port to "
            "the port it serves HTTP on (or entry_service to the service that does)")


def remove_leftovers(engine: Callable[[], Any], project: str, progress: Callable[[str], None]) -> None:
    """What `down` could not see: a `compose run` cancelled mid-way (the release step, when
    the other environment failed first) can leave its container or the media volume
    created just after `down` listed the project's resources."""
    try:
        client = engine()
        labels = {"label": f"com.docker.compose.project={project}"}
        for container in client.containers.list(all=True, filters=labels):
            container.remove(force=True)
        for volume in client.volumes.list(filters=labels):
            volume.remove(force=True)
    except Exception as error:  # teardown goes on; `parity clean` sweeps labelled leftovers
        progress(f"stack: could not remove leftovers of {project}: {error}")
