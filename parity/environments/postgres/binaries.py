"""What a private Postgres cluster needs from this machine.

The server binaries, an account to run the server as when parity is root, the addresses and
a free port to listen on (loopback, and Docker's bridge gateway for the containers), and a
way to stop the server and everything it started.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import docker.errors

from parity.machine import engine
from parity.support import proc
from parity.support.errors import MissingDependencyError, StartupError

SYSTEM_USER = "postgres"
"""The unprivileged account the server runs as when parity is root (Postgres refuses root)."""
LOOPBACK = "127.0.0.1"


def find_bindir(configured: str | Path | None = None) -> Path:
    """Where `postgres` and `initdb` are: given, PARITY_PG_BINDIR, pg_config, newest Debian's."""
    explicit = configured or os.environ.get("PARITY_PG_BINDIR")
    candidates = [Path(explicit)] if explicit else []
    if not explicit:
        if shutil.which("pg_config"):
            done = proc.run(["pg_config", "--bindir"], timeout=10, check=False)
            candidates.append(Path(done.stdout.strip()))
        debian = Path("/usr/lib/postgresql").glob("*/bin")
        candidates += sorted(debian, key=lambda p: -int(p.parent.name, 36))
    for candidate in candidates:
        if all(os.access(candidate / tool, os.X_OK) for tool in ("postgres", "initdb")):
            return candidate
    raise MissingDependencyError(
        f"PostgreSQL server binaries (postgres, initdb) not found in "
        f"{explicit or 'pg_config --bindir, /usr/lib/postgresql/*/bin'}; install them with "
        "`apt-get install postgresql` (scripts/provision does), set PARITY_PG_BINDIR to their "
        "directory, or point PARITY_DATABASE_URL at an existing server")


def server_owner() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when parity is root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise MissingDependencyError(
            f"running as root, but there is no {SYSTEM_USER!r} user to run Postgres as; install "
            "postgresql (it creates one) or run parity as an unprivileged user") from None
    return entry.pw_uid, entry.pw_gid


def gateway_addresses(
    choice: str | None | Literal["auto"], say: Callable[[str], None]
) -> list[str]:
    """The Docker gateway to listen on besides loopback (`choice` "auto": the engine's bridge
    gateway), or [] when there is none on this machine; `say` tells why not."""
    if choice == "auto":
        try:
            choice = _bridge_gateway(engine.client())
        except (MissingDependencyError, docker.errors.DockerException) as exc:
            say(f"postgres: no Docker gateway ({str(exc).splitlines()[0]}); "
                "listening on 127.0.0.1 only")
            return []
    if choice is None or choice == LOOPBACK:
        return []
    if not _bindable(choice, 0):
        say(f"postgres: {choice} is not an address of this machine (remote Docker "
            "engine?); listening on 127.0.0.1 only")
        return []
    return [choice]


def _bridge_gateway(client: Any) -> str:
    try:
        return engine.bridge_gateway(client)
    except MissingDependencyError:
        # Engine 20.10 leaves Gateway out of the bridge's IPAM: it is the subnet's first host.
        for config in client.networks.get("bridge").attrs["IPAM"].get("Config") or []:
            if config.get("Subnet"):
                return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
        raise


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def free_port(addresses: list[str]) -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
        if all(_bindable(address, port) for address in addresses):
            return port
    raise StartupError("postgres", "pick a port", f"no port free on all of {addresses}")


def stop_server(pid: int, grace: float = 10.0) -> None:
    """Immediate shutdown (SIGQUIT: the cluster is deleted next, so no shutdown checkpoint);
    the whole process group is killed if it outlives `grace`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + grace
    while proc.group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill_group(pid, grace=1.0)
