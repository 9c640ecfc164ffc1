"""Small network helpers: free loopback ports and "does this URL answer" probes."""

from __future__ import annotations

import socket

import requests


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` right now (the kernel's pick, so concurrent runs do not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def answers(url: str, *, timeout: float = 2.0, bad_statuses: tuple[int, ...] = (502, 503, 504),
            verify: bool | str = True) -> bool:
    """True once `url` returns an HTTP response that is not a gateway error (`verify`: the
    CA bundle an https URL's certificate must chain to)."""
    with requests.Session() as session:
        session.trust_env = False  # a loopback probe never goes through the shell's proxy
        response = session.get(url, timeout=timeout, allow_redirects=False, verify=verify)
    return response.status_code not in bad_statuses
