"""How the stack's entry speaks its scheme: the run-time files and ports of TLS.

Generated stacks: nginx's listeners come with each run, in a directory mounted read-only at
RUN_CONF_DIR (recipes.servers_conf): https on FRONTEND_TLS_PORT with the run's certificate,
plain http redirecting there, or plain http only with `scheme = "http"`. The https port is
chosen before `compose up` so that the redirect can name it. Own compose files with
tls_certificate / tls_key: the run's certificate and key are mounted at those paths in the
entry service. Either way the key is handed to the uid the entry container runs as.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parity.configuration import ParityConfig
from parity.environments import tls
from parity.environments.images.recipes import FRONTEND_PORT, FRONTEND_TLS_PORT, RUN_CONF_DIR, servers_conf
from parity.machine.engine import read_image_file
from parity.support.net import free_port


class StackTLS:
    def __init__(self, config: ParityConfig, directory: Path) -> None:
        self.config = config
        self.directory = directory
        self.scheme = config.stack.scheme
        self.https_port = 0
        """Generated https stacks: the host port chosen for nginx's TLS listener."""
        self.tls: tls.RunTLS | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        if self.scheme == "https":
            self.tls = tls.make(self.directory / "tls")
        self._secrets = tls.secrets_of(self.tls) if self.tls is not None else []
        self.choose_port()

    @property
    def generated(self) -> bool:
        return not self.config.stack.user_owned

    def choose_port(self) -> None:
        """(Again, after a clash:) the https host port, and the listeners that name it."""
        if not self.generated:
            return
        if self.scheme == "https":
            self.https_port = free_port()
        (self.directory / "servers.conf").write_text(servers_conf(self.scheme, self.https_port))

    @property
    def entry_port(self) -> int:
        """The entry container's port the tests talk to."""
        if not self.generated:
            return self.config.stack.entry_port
        return FRONTEND_TLS_PORT if self.scheme == "https" else FRONTEND_PORT

    def entry_service(self) -> dict[str, Any]:
        """What parity's compose file adds to the entry service: ports and mounts."""
        if self.generated:
            ports = [f"127.0.0.1::{FRONTEND_PORT}"]
            if self.scheme == "https":
                ports.insert(0, f"127.0.0.1:{self.https_port}:{FRONTEND_TLS_PORT}")
            return {"ports": ports, "volumes": [f"{self.directory}:{RUN_CONF_DIR}:ro"]}
        found: dict[str, Any] = {"ports": [f"127.0.0.1::{self.entry_port}"]}
        if self.tls is not None:
            found["volumes"] = [f"{self.tls.certificate}:{self.config.stack.tls_certificate}:ro",
                                f"{self.tls.key}:{self.config.stack.tls_key}:ro"]
        return found

    def hand_key_to_image_user(self, engine: Any, image: str) -> None:
        """Give the key to the uid the entry image runs as (root when it names none)."""
        if self.tls is not None:
            tls.hand_key_to(self.tls, image_uid(engine, image))

    def secrets(self) -> list[str]:
        """The key's text, for redaction (kept: the file goes with the run)."""
        return list(self._secrets)


def image_uid(engine: Any, image: str) -> int:
    """The uid an image's containers run as: its USER, looked up in its own /etc/passwd."""
    user = str(engine.images.get(image).attrs.get("Config", {}).get("User") or "").split(":")[0]
    if not user or user == "root":
        return 0
    if user.isdigit():
        return int(user)
    passwd = read_image_file(engine, image, "/etc/passwd") or ""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == user and fields[2].isdigit():
            return int(fields[2])
    raise ValueError(f"{image} runs as {user!r}, whom its /etc/passwd does not know")
