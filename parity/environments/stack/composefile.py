"""The compose files parity writes, and what it reads from the user's own.

parity writes compose files as JSON (JSON is YAML), so it needs no YAML library. What JSON
cannot say is compose's `!override` tag, which makes an override file replace a list or a
mapping of the user's file instead of merging into it (`Replace`, `ReplaceMapping`), and its
`!reset` tag, which removes a value, a whole service even (`RESET`); `compose_yaml` writes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parity.machine.engine import OVERRIDE_SINCE_TEXT, can_override
from parity.support.errors import MissingDependencyError


class Replace(list[Any]):
    """A list in the override file that replaces the user's value instead of adding to it."""


class ReplaceMapping(dict[str, Any]):
    """A mapping in the override file that replaces the user's instead of merging into it."""


class _Reset:
    """compose's `!reset`: the override removes the user's value (a whole service, even)."""

    def __repr__(self) -> str:
        return "RESET"


RESET = _Reset()


def compose_yaml(value: object, depth: int = 0) -> str:
    """JSON, which is YAML, except for compose's `!override` (Replace, ReplaceMapping) and
    `!reset` (RESET) tags."""
    if isinstance(value, Replace):
        return "!override " + json.dumps(list(value))
    if isinstance(value, ReplaceMapping):
        return "!override " + json.dumps(dict(value))
    if value is RESET:
        return "!reset null"
    if isinstance(value, dict) and value:
        pad = "  " * (depth + 1)
        items = [f"{pad}{json.dumps(str(key))}: {compose_yaml(item, depth + 1)}"
                 for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    return json.dumps(value)


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in, mappings key by key (plain dicts only: a tagged value
    replaces); `extra` wins."""
    result = dict(base)
    for key, value in extra.items():
        mine = result.get(key)
        if (type(mine) is dict and type(value) is dict):
            result[key] = merged(mine, value)
        else:
            result[key] = value
    return result


def published_ports(resolved: Mapping[str, Any], compose_version: str,
                    shown: Path) -> dict[str, list[str]]:
    """The container ports each service publishes in a resolved compose file (`config
    --format json`); refused when this compose cannot replace them (no `!override`)."""
    published = {name: [_container_port(port) for port in service["ports"]]
                 for name, service in sorted((resolved.get("services") or {}).items())
                 if service.get("ports")}
    if published and not can_override(compose_version):
        raise MissingDependencyError(
            f"{shown} publishes ports ({', '.join(published)}), which parity replaces with "
            f"ones on 127.0.0.1; docker compose {compose_version} cannot (`!override` needs "
            f">= {OVERRIDE_SINCE_TEXT}): upgrade the compose plugin (scripts/provision "
            "installs one) or drop `ports:` from the file")
    return published


def _container_port(port: Mapping[str, Any]) -> str:
    """"80" or "53/udp", as a compose short port syntax wants it."""
    protocol = port.get("protocol") or "tcp"
    return str(port["target"]) + ("" if protocol == "tcp" else f"/{protocol}")
