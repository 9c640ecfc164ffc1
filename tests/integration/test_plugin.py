"""Acceptance tests of `pytest --parity`: a real tiny Django app, real runserver, real stack.

Each test copies tests/apps/tinyapp into a pytester directory, writes behavior tests, and
runs pytest in a subprocess, the way a user would.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.provisioned import nginx_image, python_image

pytestmark = pytest.mark.integration

TINYAPP = Path(__file__).parent.parent / "apps" / "tinyapp"

SUITE = '''
import pytest

def test_status(http):
    assert http.get("/").json() == {"ok": True}

def test_greeting_field(http):
    r = http.get("/greeting/")
    assert r.status_code == 200

def test_greeting_is_hello(http):
    assert http.get("/greeting/").json()["greeting"] == "hello"

def test_greeting_declared_volatile(http):
    http.ignore(json_paths=["$.greeting"], reason="greeting is configured per environment")
    assert http.get("/greeting/").status_code == 200

@pytest.mark.parity_skip(reason="demonstrates exclusion")
def test_skipped_from_comparison(http):
    http.get("/greeting/")

@pytest.mark.only_in("local")
def test_local_only(environment):
    assert environment.name == "local"

def test_database_is_this_environments(environment):
    with environment.db.cursor() as cur:
        cur.execute("select current_database()")
        assert f"_{environment.name}" in cur.fetchone()[0]
'''


def make_app(pytester: pytest.Pytester, stack_env: dict[str, str] | None = None) -> Path:
    shutil.copytree(TINYAPP, pytester.path, dirs_exist_ok=True)
    if stack_env:
        table = ", ".join(f'{k} = "{v}"' for k, v in stack_env.items())
        with open(pytester.path / "pyproject.toml", "a") as config:
            config.write(f"\n[tool.parity.stack]\nenv = {{ {table} }}\n")
    pytester.makepyfile(test_behavior=SUITE)
    return pytester.path


def verdicts(path: Path) -> dict[str, str]:
    report = json.loads(path.read_text())
    return {v["test_id"].split("::")[-1]: v["kind"] for v in report["verdicts"]}


def test_matching_suite_passes_and_reports(pytester: pytest.Pytester,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A new shell: no PARITY_*_IMAGE exported; parity chooses its base images itself.
    monkeypatch.delenv("PARITY_BASE_IMAGE", raising=False)
    monkeypatch.delenv("PARITY_FRONTEND_IMAGE", raising=False)
    make_app(pytester)
    result = pytester.runpytest_subprocess("--parity", "-p", "no:cacheprovider", timeout=600)
    result.assert_outcomes(passed=13)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*parity: 5 match, 0 diverge, 0 outcome, 1 skipped*"])
    meta = json.loads((pytester.path / "parity-report.json").read_text())["meta"]
    for label, wanted, used in (("base image", "python:3.11-slim", python_image()),
                                ("frontend image", "nginx:stable", nginx_image())):
        if used == wanted:
            assert meta["base images"][label] == wanted
            continue
        said = (f"{label} {wanted} is neither present nor pullable: using parity's stand-in "
                f"{used} (built by `parity base-image`)")
        assert meta["base images"][label] == said
        result.stdout.fnmatch_lines([said])  # the progress line
        assert f"{wanted} (stand-in {used})" in result.stdout.str()  # the report header
    found = verdicts(pytester.path / "parity-report.json")
    assert found["test_status"] == "match"
    assert found["test_skipped_from_comparison"] == "skipped"
    assert "test_local_only" not in found
    assert (pytester.path / "parity-report.html").read_text().count('data-verdict="match"') >= 5


def test_divergences_are_caught_and_named(pytester: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    make_app(pytester, stack_env={"TINYAPP_GREETING": "moin"})
    step_summary = pytester.path / "step-summary.md"
    step_summary.write_text("## earlier step\n")
    for name, value in (("GITHUB_STEP_SUMMARY", str(step_summary)), ("GITHUB_SERVER_URL", "https://github.com"),
                        ("GITHUB_REPOSITORY", "acme/shop"), ("GITHUB_RUN_ID", "42")):
        monkeypatch.setenv(name, value)
    result = pytester.runpytest_subprocess("--parity", "-p", "no:cacheprovider", "--junitxml=junit.xml",
                                           timeout=600)
    assert result.ret == 1
    found = verdicts(pytester.path / "parity-report.json")
    # Only a body field differs, every assert passes: still a divergence, with the field named.
    assert found["test_greeting_field"] == "diverge"
    result.stdout.fnmatch_lines(["FAILED *test_greeting_field?stack?*"])
    result.stdout.fnmatch_lines(["*$.greeting*", "*hello*", "*moin*"])
    # Passes locally, fails in the stack: an outcome divergence with both results.
    assert found["test_greeting_is_hello"] == "outcome"
    # Declared noise does not fail.
    assert found["test_greeting_declared_volatile"] == "match"
    assert found["test_status"] == "match"
    report = json.loads((pytester.path / "parity-report.json").read_text())
    field = next(v for v in report["verdicts"] if v["test_id"].endswith("test_greeting_field"))
    difference = next(d for d in field["differences"] if "greeting" in d["field"])
    assert "hello" in difference["local"] and "moin" in difference["stack"]
    layer = field["layer"]
    assert layer, "a divergence names its layer"
    # Where CI users look: the job summary (appended, never overwritten) ...
    summary = step_summary.read_text()
    assert summary.startswith("## earlier step\n### parity failed: 3 match, 1 diverge, 1 outcome, 1 skipped\n")
    assert f"| `test_behavior.py::test_greeting_field` | diverge | {layer} |" in summary
    assert "| `test_behavior.py::test_greeting_is_hello` | outcome |" in summary
    assert "test_status" not in summary
    assert "[run's artifacts](https://github.com/acme/shop/actions/runs/42)" in summary
    result.stdout.fnmatch_lines([f"summary appended to GITHUB_STEP_SUMMARY ({step_summary})"])
    # ... and the JUnit XML: both sides' cases carry the verdict and its layer, no recordings.
    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ElementTree.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    for side in ("local", "stack"):
        assert cases[f"test_greeting_field[{side}]"] == {"parity.verdict": "diverge", "parity.layer": layer}
        assert cases[f"test_status[{side}]"] == {"parity.verdict": "match", "parity.layer": ""}
    assert cases["test_local_only[local]"] == {}
    assert "parity.recording" not in (pytester.path / "junit.xml").read_text()


def test_without_parity_only_local_runs_and_docker_is_not_touched(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app(pytester)
    # An engine that cannot exist: any Docker call would fail the run.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*test_status?local? PASSED*"])
    result.stdout.no_fnmatch_line("*?stack?*")
    assert not (pytester.path / "parity-report.json").exists()
