"""The scenario definitions themselves, without Docker: every expected.toml is well formed,
every scenario materializes into an app whose [tool.parity] parity accepts, and every drift
is a small change to its base, not a copy of it."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

import pytest

from parity.comparison.compare import VERDICT_KINDS
from parity.configuration import load_config
from parity.facts.gather import FACT_NAMES, SEVERITIES
from tests.scenarios.support import DRIFTS, apply

TOP_KEYS = {"description", "base", "extends", "stack_mode", "shell_env", "args", "session",
            "expect", "expect_fact"}
EXPECT_KEYS = {"test", "verdict", "field", "local", "stack", "ignored", "policy", "layer", "evidence"}
FACT_KEYS = {"name", "severity", "detail", "expected", "failed", "layer"}
LAYERS = {"frontend", "app image", "database", "unknown"}
MAX_CHANGED_LINES = 12
"""An overlaid file that replaces one of the base app's may change this many lines at most."""


def test_there_is_a_scenario_for_every_drift_in_the_issue() -> None:
    numbers = sorted({p.name[:2] for p in DRIFTS})
    # 11-13: the HTTPS issue's drifts; 15-16: controls for what file servers change by nature
    assert numbers == [f"{n:02d}" for n in range(1, 17)]


LAYER_OF_THE_DRIFT = {
    "02-dependency-not-in-requirements": {"app image"},
    "03-upload-over-nginx-limit": {"frontend"},
    "04-underscore-header": {"frontend"},
    "07-migration-left-out": {"database"},
    "08-app-runs-as-root": {"app image"},
    "11-ssl-redirect-loop": {"app image"},
    "12-csrf-origin-behind-tls": {"frontend"},
    "13-tls-proxy-without-forwarded-proto": {"frontend"},
    "14-compose-flag-read-as-set": {"app image"},
}
"""The layer each of these drifts must be attributed to (its divergence, or for a drift every
test survives, its failing fact): test_scenarios checks it against the real run."""


@pytest.mark.parametrize("name", sorted(LAYER_OF_THE_DRIFT))
def test_the_drift_is_attributed_to_its_layer(name: str) -> None:
    expected = apply.load_expected(apply.DRIFTS / name)
    failing = [e for e in expected["expect"] if e["verdict"] in ("diverge", "outcome")]
    failing += [f for f in expected.get("expect_fact", []) if f.get("severity") == "fail"]
    assert failing and all("layer" in item for item in failing), failing
    assert {item["layer"] for item in failing} == LAYER_OF_THE_DRIFT[name]


@pytest.mark.parametrize("scenario", DRIFTS, ids=[p.name for p in DRIFTS])
def test_expected_toml_is_well_formed(scenario: Path) -> None:
    expected: dict[str, Any] = apply.load_expected(scenario)
    assert set(expected) <= TOP_KEYS, set(expected) - TOP_KEYS
    assert expected["description"].strip()
    assert (scenario / "README.md").is_file()
    assert expected.get("stack_mode", "generated") in ("generated", "own", "file")
    assert expected.get("extends") is None or (apply.DRIFTS / expected["extends"]).is_dir()
    assert expected["expect"] or expected.get("expect_fact"), "a scenario must name what is reported"
    for item in expected["expect"]:
        assert set(item) <= EXPECT_KEYS and {"test", "verdict"} <= set(item), item
        assert item["verdict"] in VERDICT_KINDS
        assert item.get("layer", "frontend") in LAYERS
        assert "evidence" not in item or "layer" in item, "evidence is checked with its layer"
        assert "[local]" not in item["test"] and "[stack]" not in item["test"]
    for item in expected.get("expect_fact", []):
        assert set(item) <= FACT_KEYS and "name" in item, item
        assert item["name"] in FACT_NAMES
        assert item.get("severity", "ok") in SEVERITIES
        assert item.get("layer", "app image") in LAYERS - {"frontend", "unknown"}
    session = expected.get("session", {})
    assert set(session) <= {"exit_code", "ok"}
    if session.get("ok"):
        assert session.get("exit_code") == 0
    else:
        # A drift must be caught: the run fails, and at least one test or fact says why.
        assert session.get("exit_code", 1) == 1
        assert any(e["verdict"] in ("diverge", "outcome") for e in expected["expect"]) or any(
            f.get("severity") == "fail" for f in expected.get("expect_fact", []))


@pytest.mark.parametrize("scenario", DRIFTS, ids=[p.name for p in DRIFTS])
def test_scenario_materializes_into_a_valid_app(scenario: Path, tmp_path: Path) -> None:
    expected = apply.load_expected(scenario)
    app = apply.materialize(scenario, tmp_path)
    config = load_config(app / "pyproject.toml", environ={})
    assert config.stack.user_owned is (expected.get("stack_mode") in ("own", "file"))
    assert app.name == expected.get("base", "labbook")
    for item in expected["expect"]:
        path, _, name = item["test"].partition("::")
        function = name.split("[")[0]
        assert f"def {function}(" in (app / path).read_text(), f"{item['test']} is not in {app}"
    for argument in expected.get("args", []):
        assert (app / argument.split("::")[0]).exists(), argument
    assert not list(app.rglob("parity-report.*")) and not list(app.rglob("__pycache__"))


@pytest.mark.parametrize("scenario", DRIFTS, ids=[p.name for p in DRIFTS])
def test_an_overlay_is_a_small_change_not_a_copy(scenario: Path) -> None:
    base = apply.SCENARIOS / apply.load_expected(scenario).get("base", "labbook")
    overlay = scenario / "overlay"
    for file in sorted(p for p in overlay.rglob("*") if p.is_file()) if overlay.is_dir() else []:
        original = base / file.relative_to(overlay)
        if not original.is_file():
            # A new test, or a new config file of a few lines (.dockerignore, gunicorn.conf.py).
            settings = [line for line in file.read_text().splitlines()
                        if line.strip() and not line.lstrip().startswith("#")]
            assert file.parent.name == "tests" or 0 < len(settings) <= MAX_CHANGED_LINES, file
            continue
        diff = difflib.unified_diff(original.read_text().splitlines(), file.read_text().splitlines(),
                                    lineterm="", n=0)
        changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        assert 0 < len(changed) <= MAX_CHANGED_LINES, f"{file}: {len(changed)} lines changed"


def test_config_fragments_merge_into_tool_parity(tmp_path: Path) -> None:
    app = apply.copy_base("labbook", tmp_path)
    apply.configure(app, {"env": {"LABBOOK_HIGHLIGHT": "1"}, "local": {"env": {"DJANGO_DEBUG": "1"}}},
                    "own", "test")
    data = tomllib.loads((app / "pyproject.toml").read_text())
    parity = data["tool"]["parity"]
    assert parity["env"] == {"DJANGO_DEBUG": "0", "LABBOOK_HIGHLIGHT": "1"}
    assert parity["local"] == {"env": {"DJANGO_DEBUG": "1"}}
    assert parity["stack"]["compose_file"] == "deploy/compose.yaml"
    assert "compare" not in parity  # labbook declares no noise of its own
    assert data["tool"]["pytest"]["ini_options"] == {"testpaths": ["tests"]}
    assert data["project"]["name"] == "labbook"


def test_toml_writer_round_trips() -> None:
    data = {"a": {"s": 'quote " and \\ and\nnewline', "n": 3, "f": 1.5, "b": False,
                  "l": ["x", "y"], "t": {"k-1": "v", "deep": {"x": []}}}, "top": "level",
            "b": {"c": {"d": {"e": 1}}}}
    assert tomllib.loads(apply.dumps(data)) == data
