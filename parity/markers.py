"""The markers users put on behavior tests, and what they mean for parity."""

from __future__ import annotations

from typing import Any

import pytest

from parity.comparison.compare import NoiseRules
from parity.comparison.replay import ReplayMode

MARKERS = (
    "parity_skip(reason): run the test in every environment but leave it out of the comparison",
    'only_in(environment): run the test in one environment only ("local" or "stack")',
    "parity_ignore(headers=[], json_paths=[], text_patterns=[], reason=''): per-test noise",
    "parity_replay: allow replaying this test's unsafe requests against the stack's app directly",
)
ENVIRONMENT_NAMES = ("local", "stack")


def sides_for(markers: list[Any], sides: tuple[str, ...]) -> tuple[str, ...]:
    """The environments a test runs in, after its only_in marker."""
    for marker in markers:
        if marker.name != "only_in":
            continue
        wanted = marker.args[0] if marker.args else marker.kwargs.get("environment")
        if wanted not in ENVIRONMENT_NAMES:
            raise pytest.UsageError(
                f"@pytest.mark.only_in({wanted!r}): use only_in(\"local\") or only_in(\"stack\")")
        return tuple(side for side in sides if side == wanted or side.startswith(f"{wanted}-"))
    return sides


def parity_skip_reason(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("parity_skip")
    if marker is None:
        return None
    return str(marker.kwargs.get("reason") or (marker.args[0] if marker.args else "parity_skip"))


def replay_mode(item: pytest.Item) -> ReplayMode:
    """Which of the test's [stack] requests parity may send again to the app server directly:
    none for a test that is not compared, unsafe ones too with @pytest.mark.parity_replay."""
    if item.get_closest_marker("only_in") is not None or parity_skip_reason(item) is not None:
        return "off"
    return "all" if item.get_closest_marker("parity_replay") is not None else "safe"


def declared_noise(item: pytest.Item) -> NoiseRules | None:
    """Noise declared with @pytest.mark.parity_ignore(...) on the test, its class or module."""
    declared: list[NoiseRules] = []
    for marker in item.iter_markers("parity_ignore"):
        try:
            declared.append(NoiseRules.declared(
                headers=marker.kwargs.get("headers", ()),
                json_paths=marker.kwargs.get("json_paths", ()),
                text_patterns=marker.kwargs.get("text_patterns", ()),
                cookies=marker.kwargs.get("cookies", ()),
                reason=str(marker.kwargs.get("reason") or "declared by the test's parity_ignore marker"),
                source="test",
            ))
        except ValueError as error:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.parity_ignore: {error}") from None
    return NoiseRules().merge(*declared) if declared else None
