"""The stack's TLS, as production has it, with a throwaway certificate authority.

Each run makes its own CA (trustme: an ECDSA key, never written anywhere but the run's temp
dir) and from it a server certificate for 127.0.0.1 and localhost. The frontend reads the
certificate and key from a directory mounted at run time only (never an image layer); the
key is readable by the frontend's user only (parity running as root gives it to that uid;
otherwise it can only make it world-readable inside that private directory). The test
client trusts the CA's certificate for the stack. Everything goes with the run's temp dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

IDENTITIES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class RunTLS:
    directory: Path
    ca: Path
    """The CA certificate: public, what the `http` client trusts for the stack."""
    certificate: Path
    """The server certificate chain the frontend presents."""
    key: Path
    """The server's private key: readable by the frontend's user only."""


def make(directory: Path) -> RunTLS:
    """A fresh CA and server certificate in `directory` (created 0755: the container user
    must traverse it); the key stays 0600 until `hand_key_to` gives it to the frontend's uid."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    ca = trustme.CA(organization_name="parity throwaway CA")
    server = ca.issue_cert(*IDENTITIES, organization_name="parity stack")
    tls = RunTLS(directory, directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(tls.ca))
    with open(tls.certificate, "wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    fd = os.open(tls.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(server.private_key_pem.bytes())
    for public in (tls.ca, tls.certificate):
        public.chmod(0o644)
    return tls


def hand_key_to(tls: RunTLS, uid: int) -> None:
    """Make the key readable by `uid` (the frontend container's user) and nobody else; a
    parity that is not root cannot give files away: the key is then readable inside the
    run's private directory only."""
    if os.geteuid() == 0:
        os.chown(tls.key, uid, uid)
        tls.key.chmod(0o400)
    elif uid != os.geteuid():
        tls.key.chmod(0o444)


def secrets_of(tls: RunTLS) -> list[str]:
    """What no report or log may show: the server key's PEM body (the CA key is never on disk)."""
    try:
        text = tls.key.read_text()
    except OSError:
        return []
    body = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
    return [body, text] if body else []
