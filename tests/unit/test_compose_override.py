"""The override parity writes for the user's own compose file: ports it publishes itself are
replaced by ephemeral ones on 127.0.0.1 (compose's `!override`), nothing else is taken away."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from parity.configuration import load_config
from parity.environments.stack.composefile import Replace, compose_yaml, published_ports
from parity.environments.stack.stack import Stack
from parity.machine.engine import can_override
from parity.machine.engine import compose_release as release
from parity.support.errors import MissingDependencyError

TINYAPP = Path(__file__).parent.parent / "apps" / "tinyapp"
OWN = ('[tool.parity.stack]\ncompose_file = "compose.yaml"\napp_service = "web"\napp_port = 5000\n'
       'entry_service = "proxy"\nentry_port = 8080\n')


def resolved(**ports: list[dict[str, object]]) -> dict[str, object]:
    """What `docker compose config --format json` says, reduced to the services' ports."""
    return {"services": {name: {"image": "x", **({"ports": p} if p else {})}
                         for name, p in ports.items()}}


def own_stack(tmp_path: Path) -> Stack:
    shutil.copytree(TINYAPP, tmp_path, dirs_exist_ok=True)
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    with open(tmp_path / "pyproject.toml", "a") as pyproject:
        pyproject.write("\n" + OWN)
    config = load_config(tmp_path / "pyproject.toml", environ={})
    return Stack(config, {}, run=SimpleNamespace(id="r1"))  # type: ignore[arg-type]


def test_published_ports_per_service_in_short_syntax() -> None:
    found = published_ports(resolved(
        proxy=[{"mode": "ingress", "target": 8080, "published": "80", "protocol": "tcp"},
               {"mode": "ingress", "host_ip": "0.0.0.0", "target": 53, "protocol": "udp"}],
        web=[], mail=[{"target": 1025, "published": "1025"}],
    ), "2.26.1", Path("deploy/compose.yaml"))
    assert found == {"mail": ["1025"], "proxy": ["8080", "53/udp"]}


def test_a_compose_without_override_is_refused_only_when_ports_need_replacing() -> None:
    assert published_ports(resolved(web=[]), "2.20.0", Path("compose.yaml")) == {}
    with pytest.raises(MissingDependencyError) as raised:
        published_ports(resolved(proxy=[{"target": 8080, "published": "80"}]), "2.20.0",
                        Path("deploy/compose.yaml"))
    message = raised.value.one_line()
    assert message.startswith("deploy/compose.yaml publishes ports (proxy)")
    assert "docker compose 2.20.0 cannot" in message and ">= 2.24.4" in message
    assert "upgrade the compose plugin" in message and "drop `ports:`" in message


def test_the_override_replaces_every_published_port_with_a_loopback_one(tmp_path: Path) -> None:
    stack = own_stack(tmp_path)
    stack.user_ports = {"proxy": ["8080"], "web": ["5000", "9000"], "mail": ["1025", "53/udp"]}
    services = stack.compose_document()["services"]
    assert services["proxy"]["ports"] == ["127.0.0.1::8080"]
    assert services["web"]["ports"] == ["127.0.0.1::5000", "127.0.0.1::9000"]
    assert services["mail"] == {"ports": ["127.0.0.1::1025", "127.0.0.1::53/udp"]}
    assert all(isinstance(service["ports"], Replace) for service in services.values())
    # The rest of parity's additions stay additions.
    assert services["web"]["labels"]["parity.run"] == "r1"
    assert "DATABASE_URL" not in services["mail"]


def test_without_published_ports_the_override_only_adds(tmp_path: Path) -> None:
    stack = own_stack(tmp_path)
    document = stack.compose_document()
    assert set(document["services"]) == {"web", "proxy"}
    assert not any(isinstance(s["ports"], Replace) for s in document["services"].values())
    assert "!override" not in compose_yaml(document)
    assert json.loads(compose_yaml(document)) == document


def test_compose_yaml_is_json_but_for_the_override_tag() -> None:
    text = compose_yaml({"services": {"web": {"ports": Replace(["127.0.0.1::80"]),
                                              "environment": {"A": "1"}}}})
    assert '"ports": !override ["127.0.0.1::80"]' in text
    assert json.loads(text.replace("!override ", "")) == {
        "services": {"web": {"ports": ["127.0.0.1::80"], "environment": {"A": "1"}}}}


@pytest.mark.parametrize(("version", "parsed", "can"), [
    ("2.26.1-4", (2, 26, 1), True), ("v2.24.4", (2, 24, 4), True), ("2.24.3", (2, 24, 3), False),
    ("1.29.2", (1, 29, 2), False), ("unknown", (0,), False),
])
def test_compose_releases_are_compared_as_numbers(version: str, parsed: tuple[int, ...], can: bool) -> None:
    assert release(version) == parsed
    assert can_override(version) is can
