"""`pytest --parity` on every scenario: the reference apps at parity, each drift caught.

Each test copies a scenario into its tmp dir (scenarios/drifts/apply.py), runs
`python -m pytest --parity` there in a subprocess, the way a user would, and checks the exit
code and the JSON report against what the scenario's expected.toml names (the schema is in
scenarios/drifts/README.md). The reference apps must report no divergence and no failing fact.

Every scenario runs in each way `pytest --parity` can run (`MODES`): the sides at the same
time (the default), in one process (`--parity-serial`), and with `-n 2`; each must give the
verdicts expected.toml names.

Runs with labbook's own deploy/ stack tag their images per scenario
(`labbook-app:scenario-<name>`) so that concurrent runs of other scenarios, or a developer's
`labbook-app:dev`, are never overwritten; those tags stay as the build cache of the next run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.support import DRIFTS, apply

pytestmark = pytest.mark.integration

RUN_TIMEOUT = 900
MODES = {"concurrent": (), "serial": ("--parity-serial",), "n2": ("-n", "2")}


class ParityRun:
    def __init__(self, app: Path, exit_code: int, output: str, report: dict[str, Any]) -> None:
        self.app = app
        self.exit_code = exit_code
        self.output = output
        self.report = report

    def verdict(self, test_id: str) -> dict[str, Any]:
        found = [v for v in self.report["verdicts"] if v["test_id"] == test_id]
        assert found, f"no verdict for {test_id}; verdicts: {[v['test_id'] for v in self.report['verdicts']]}"
        return dict(found[0])

    def fact(self, name: str) -> dict[str, Any]:
        found = [f for f in self.report["facts"] if f["name"] == name]
        assert found, f"no fact {name!r}; facts: {[f['name'] for f in self.report['facts']]}"
        return dict(found[0])

    def failing(self) -> list[str]:
        verdicts = [f"{v['test_id']}: {v['kind']}" for v in self.report["verdicts"]
                    if v["kind"] in ("diverge", "outcome")]
        facts = [f"fact {f['name']}: {f['detail']}" for f in self.report["facts"] if f.get("failed")]
        return verdicts + facts

    def context(self) -> str:
        """What an assertion message shows: the end of pytest's output."""
        return "\n--- pytest --parity output (tail) ---\n" + "\n".join(self.output.splitlines()[-60:])


def run_parity(app: Path, tmp: Path, *, args: list[str], shell_env: Mapping[str, str],
               own_stack_tag: str | None) -> ParityRun:
    report = tmp / "report.json"
    env = dict(os.environ)
    env.update(shell_env)
    env.pop("PYTEST_ADDOPTS", None)  # the outer run's options are not the app's
    if own_stack_tag is not None:
        env["LABBOOK_APP_IMAGE"] = f"labbook-app:scenario-{own_stack_tag}"
        env["LABBOOK_FRONTEND_IMAGE"] = f"labbook-frontend:scenario-{own_stack_tag}"
    argv = [sys.executable, "-m", "pytest", "--parity", "-q", "-p", "no:cacheprovider",
            f"--parity-report={report}", f"--parity-html={tmp / 'report.html'}", *args]
    done = subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)
    output = done.stdout + done.stderr
    assert report.is_file(), f"no JSON report (exit {done.returncode})\n{output[-4000:]}"
    return ParityRun(app, done.returncode, output, json.loads(report.read_text()))


# --- the reference apps ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("base", "stack_mode", "at_least"), [
    ("labbook", "generated", 63),
    ("labbook", "own", 63),
    ("wsgi-hello", "generated", 10),
    ("pinboard", "file", 11),
], ids=["labbook", "labbook-own-deploy", "wsgi-hello", "pinboard-own-dockerfile"])
def test_reference_app_is_at_parity(tmp_path: Path, base: str, stack_mode: str, at_least: int,
                                    mode: str) -> None:
    app = apply.copy_base(base, tmp_path)
    apply.configure(app, {}, stack_mode, base)
    run = run_parity(app, tmp_path, args=list(MODES[mode]), shell_env={},
                     own_stack_tag="reference" if stack_mode == "own" else None)
    counts = run.report["counts"]
    assert run.failing() == [], run.context()
    assert (run.exit_code, run.report["ok"]) == (0, True), run.context()
    assert counts["diverge"] == counts["outcome"] == counts["skipped"] == 0
    assert counts["match"] >= at_least, counts
    facts = {f["name"] for f in run.report["facts"]}
    assert {"python", "packages", "user", "schema"} <= facts


# --- the drift scenarios and their controls ---------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", DRIFTS, ids=[p.name for p in DRIFTS])
def test_drift_scenario(tmp_path: Path, scenario: Path, mode: str) -> None:
    expected = apply.load_expected(scenario)
    app = apply.materialize(scenario, tmp_path)
    own = expected.get("stack_mode") == "own"  # labbook's deploy/, tagged per scenario
    run = run_parity(app, tmp_path, args=[*MODES[mode], *expected.get("args", [])],
                     shell_env=dict(expected.get("shell_env", {})),
                     own_stack_tag=scenario.name if own else None)

    session = expected.get("session", {})
    assert run.exit_code == session.get("exit_code", 1), run.context()
    if "ok" in session:
        assert run.report["ok"] is session["ok"], run.failing()
        if session["ok"]:
            assert run.failing() == [], run.context()
    for expectation in expected.get("expect", []):
        check_verdict(run, expectation)
    for expectation in expected.get("expect_fact", []):
        check_fact(run, expectation)


def check_verdict(run: ParityRun, expectation: Mapping[str, Any]) -> None:
    verdict = run.verdict(expectation["test"])
    shown = json.dumps(verdict, indent=1)[:3000]
    assert verdict["kind"] == expectation["verdict"], shown + run.context()
    if "field" in expectation:
        wanted = (expectation["field"], expectation.get("local", ""), expectation.get("stack", ""))
        matching = [d for d in verdict["differences"]
                    if wanted[0] in d["field"] and wanted[1] in d["local"] and wanted[2] in d["stack"]]
        assert matching, f"no difference with field ~ {wanted[0]!r}, local ~ {wanted[1]!r}, " \
                         f"stack ~ {wanted[2]!r} in\n{shown}"
    if "ignored" in expectation:
        rules = [f"{rule['kind']} {rule['target']}" for rule in verdict["ignored"] if rule["count"]]
        assert any(expectation["ignored"] in rule for rule in rules), \
            f"no ignored rule ~ {expectation['ignored']!r} hid a difference; ignored: {rules}"
    if "policy" in expectation:
        notes = [note["field"] for note in verdict.get("policy") or []]
        assert expectation["policy"] in notes, \
            f"no note on the frontend's policy ~ {expectation['policy']!r}; notes: {notes}"
    if "layer" in expectation:
        assert verdict.get("layer") == expectation["layer"], shown
    if "evidence" in expectation:
        assert any(expectation["evidence"] in line for line in verdict.get("evidence") or []), \
            f"no evidence line ~ {expectation['evidence']!r} for layer {verdict.get('layer')!r}\n{shown}"


def check_fact(run: ParityRun, expectation: Mapping[str, Any]) -> None:
    fact = run.fact(expectation["name"])
    shown = json.dumps(fact, indent=1)
    for key in ("severity", "expected", "failed", "layer"):
        if key in expectation:
            assert fact.get(key) == expectation[key], f"{key}: {fact.get(key)!r}, not {expectation[key]!r}\n{shown}"
    if "detail" in expectation:
        lines = fact["detail"] if isinstance(fact["detail"], list) else [fact["detail"]]
        assert any(expectation["detail"] in line for line in lines), shown
