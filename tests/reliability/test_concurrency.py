"""Three `pytest --parity` runs of the same app at once, from a cold start: all three build the
same image tags and the same wheelhouse at the same moment, share one PARITY_STATE_DIR (each
run's start-up sweep must leave the others alone), and must still all pass, each with its
own run id, compose project, ports and databases, and leave nothing behind."""

from __future__ import annotations

import json
import re

import pytest

from tests.reliability import harness, leftovers
from tests.reliability.harness import Case

pytestmark = pytest.mark.integration

SUITE = '''
import json
import os
from pathlib import Path


def test_status(http):
    assert http.get("/").json() == {"ok": True}


def test_where_am_i(http, environment):
    assert http.get("/greeting/").status_code == 200
    with environment.db.cursor() as cur:
        cur.execute("select current_database()")
        database = cur.fetchone()[0]
    seen = {"side": environment.name, "base_url": environment.base_url, "database": database}
    Path(os.environ["RELTEST_SEEN"], f"{os.getpid()}-{environment.name}.json").write_text(json.dumps(seen))
'''

RUNS = 3


def test_three_concurrent_runs_of_one_app_all_pass_without_collisions(cold: Case) -> None:
    app = cold.app
    (app.dir / "test_behavior.py").write_text(SUITE)
    env = app.env(RELTEST_SEEN=str(app.gate))
    runs = [harness.ParityRun(app, f"--parity-report=report-{i}.json", f"--parity-html=report-{i}.html",
                              env=env) for i in range(RUNS)]
    codes = [run.finish(timeout=600) for run in runs]
    outputs = [run.output for run in runs]
    for output in outputs:
        cold.scope.add_output(output)
    assert codes == [0] * RUNS, "\n\n".join(output[-2500:] for output in outputs)

    run_ids = [set(leftovers.RUN_LINE.findall(output)) for output in outputs]
    assert all(len(ids) == 1 for ids in run_ids) and len(set.union(*run_ids)) == RUNS
    projects = {m for output in outputs for m in re.findall(r"stack: compose up \((\S+)\)", output)}
    assert len(projects) == RUNS
    assert not any("swept leftover" in output for output in outputs), "a run swept a live one"

    seen = [json.loads(path.read_text()) for path in app.gate.glob("*.json")]
    assert len(seen) == 2 * RUNS
    assert len({entry["database"] for entry in seen}) == 2 * RUNS
    assert len({entry["base_url"] for entry in seen}) == 2 * RUNS
    for i in range(RUNS):
        report = json.loads((app.dir / f"report-{i}.json").read_text())
        assert report["counts"]["match"] == 2 and report["ok"], report["counts"]
    assert leftovers.settle(cold.scope) == ""
