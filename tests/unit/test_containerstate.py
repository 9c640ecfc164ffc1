"""What a stack's containers say about themselves, read from inspect data. No Docker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from parity.environments.stack.containerstate import parse_listening, published_ports, raise_if_stopped
from parity.support.errors import StartupError


def _container(service: str, number: int, ports: dict[str, Any]) -> SimpleNamespace:
    labels = {"com.docker.compose.service": service, "com.docker.compose.container-number": str(number)}
    return SimpleNamespace(attrs={"Config": {"Labels": labels}, "NetworkSettings": {"Ports": ports}})


def test_published_ports_as_compose_port_prints_them() -> None:
    frontend = _container("frontend", 1, {
        "8080/tcp": None,  # exposed, not published
        "8443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "41257"}],
    })
    app = _container("app", 1, {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "39001"}],
                                "9000/udp": [{"HostIp": "127.0.0.1", "HostPort": "39002"}]})
    assert published_ports([frontend, app]) == {("frontend", 8443): 41257, ("app", 8000): 39001}


def test_published_ports_of_a_scaled_service_are_its_first_replicas() -> None:
    second = _container("app", 2, {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "2"}]})
    first = _container("app", 1, {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "1"}]})
    assert published_ports([second, first]) == {("app", 8000): 1}


def test_published_ports_of_a_restarting_container_are_unknown() -> None:
    # Inspect data of a container between restarts: no bindings. The caller then asks compose.
    assert published_ports([_container("frontend", 1, {})]) == {}
    assert published_ports([SimpleNamespace(attrs={})]) == {}


def test_parse_listening() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000\n"  # 8080, LISTEN
        "   1: 0100007F:1F40 0100007F:A0B2 01 00000000:00000000\n"  # 8000, ESTABLISHED
    )
    assert parse_listening(table) == {8080}


def _stopped(service: str, status: str, exit_code: int) -> SimpleNamespace:
    return SimpleNamespace(name=f"p-{service}-1", status=status,
                           labels={"com.docker.compose.service": service},
                           attrs={"State": {"ExitCode": exit_code, "Restarting": status == "restarting"},
                                  "RestartCount": 3})


def test_a_crashed_app_is_named_before_the_entry_that_stopped_with_it() -> None:
    # Newest first, as the engine lists them: nginx exited because the app it proxies to is gone.
    containers = [_stopped("frontend", "exited", 1), _stopped("app", "restarting", 3)]
    logs = {"app": "Traceback\nRuntimeError: TINYAPP_CRASH is set\n",
            "frontend": "host not found in upstream \"app:8000\"\n"}
    with pytest.raises(StartupError) as raised:
        raise_if_stopped(containers, logs.__getitem__, "frontend")
    assert "service app keeps restarting (exit 3) during start-up" in str(raised.value)
    assert "TINYAPP_CRASH is set" in str(raised.value)

    with pytest.raises(StartupError, match="service frontend exited"):  # alone, it is the cause
        raise_if_stopped(containers[:1], logs.__getitem__, "frontend")
    raise_if_stopped([], logs.__getitem__, "frontend")  # nothing stopped: nothing raised
