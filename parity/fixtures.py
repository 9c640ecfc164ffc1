"""The fixtures tests use: `environment` and `http`. Three lines each; the logic is elsewhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parity.comparison.recording import RecordingSession
from parity.environments.environment import Environment
from parity.markers import declared_noise, replay_mode
from parity.runner import ParityRunner

runner_key = pytest.StashKey[ParityRunner]()


def _runner(request: pytest.FixtureRequest) -> ParityRunner:
    __tracebackhide__ = True
    if runner_key not in request.config.stash:
        raise pytest.UsageError(
            "parity: no [tool.parity] configuration found for this test session; add a "
            "[tool.parity] table to your app's pyproject.toml or pass --parity-config PATH")
    return request.config.stash[runner_key]


@pytest.fixture
def parity_side(request: pytest.FixtureRequest) -> str:
    """The environment this test instance runs against ("local" or "stack")."""
    return str(getattr(request, "param", "local"))


@pytest.fixture
def environment(parity_side: str, request: pytest.FixtureRequest) -> Iterator[Environment]:
    """The environment under test: name, base_url, db, database_url, logs(), host."""
    with _runner(request).using(request.node.nodeid, parity_side, request.node.user_properties) as env:
        yield env


@pytest.fixture
def http(environment: Environment, parity_side: str, request: pytest.FixtureRequest) -> Iterator[RecordingSession]:
    """A requests.Session bound to the environment's base URL that records every exchange."""
    runner, noise, replay = _runner(request), declared_noise(request.node), replay_mode(request.node)
    with runner.recording_session(request.node.nodeid, environment, parity_side, noise, replay) as session:
        yield session
