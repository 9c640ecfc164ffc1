"""Every way of running `pytest --parity` gives the verdicts of a serial run, on a stateful app.

The app is tests/apps/tinyapp plus a small JSON API whose rows (auth groups) are created by
the tests, which then use the ids they got back in later requests and compare the answers.
Such ids agree between [local] and [stack] only when both sides see the same sequence of
tests: the concurrent default (a worker per side), `-n 2` and `-n 3` (both twins of a test on
one worker) and `--parity-noise=learn` (the rerun against its own fresh database) must give
the serial run's verdicts byte for byte, and find no divergence the app does not have.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

TINYAPP = Path(__file__).parent.parent / "apps" / "tinyapp"

VIEWS = '''
import json as _json

from django.http import JsonResponse as _Json
from django.views.decorators.http import require_http_methods as _methods


def _shown(group):
    return {"id": group.id, "name": group.name}


@_methods(["GET", "POST"])
def groups(request):
    if request.method == "POST":
        group = Group.objects.create(name=_json.loads(request.body)["name"])
        return _Json(_shown(group), status=201)
    return _Json({"groups": [_shown(g) for g in Group.objects.order_by("id")]})


def group(request, pk):
    found = Group.objects.filter(pk=pk).first()
    if found is None:
        return _Json({"error": f"no group {pk}"}, status=404)
    if request.method == "POST":
        found.name = _json.loads(request.body)["name"]
        found.save()
    return _Json({**_shown(found), "link": request.build_absolute_uri(f"/api/groups/{pk}/")})


urlpatterns += [path("api/groups/", groups), path("api/groups/<int:pk>/", group)]
'''

STATEFUL = '''
def test_create_then_fetch_{n}(http):
    created = http.post("/api/groups/", json={{"name": "seminar-{n}-a"}})
    assert created.status_code == 201
    pk = created.json()["id"]
    assert http.get(f"/api/groups/{{pk}}/").json()["name"] == "seminar-{n}-a"


def test_rename_{n}(http):
    pk = http.post("/api/groups/", json={{"name": "seminar-{n}-b"}}).json()["id"]
    renamed = http.post(f"/api/groups/{{pk}}/", json={{"name": "seminar-{n}-b2"}})
    assert renamed.json()["name"] == "seminar-{n}-b2"


def test_listing_{n}(http, environment):
    http.post("/api/groups/", json={{"name": "seminar-{n}-c"}})
    names = [g["name"] for g in http.get("/api/groups/").json()["groups"]]
    assert "seminar-{n}-c" in names
    with environment.db.cursor() as cur:
        cur.execute("select count(*) from auth_group")
        assert cur.fetchone()[0] == len(names)
'''

DRIFT = '''
def test_greeting(http):
    assert http.get("/greeting/").status_code == 200
'''

MODULES = 4


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("modes") / "statefulapp"
    shutil.copytree(TINYAPP, directory, ignore=shutil.ignore_patterns("__pycache__"))
    with open(directory / "tinyapp" / "urls.py", "a") as urls:
        urls.write(VIEWS)
    for n in range(MODULES):
        (directory / f"test_stateful_{n}.py").write_text(STATEFUL.format(n=n))
    (directory / "test_drift.py").write_text(DRIFT)
    return directory


def configure(app: Path, *, drift: bool) -> None:
    """The stack greets differently (one real divergence, the same in every mode), or not."""
    text = (TINYAPP / "pyproject.toml").read_text()
    if drift:
        text += '\n[tool.parity.stack]\nenv = { TINYAPP_GREETING = "moin" }\n'
    (app / "pyproject.toml").write_text(text)


_OUTER = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS")


def run(app: Path, name: str, *args: str) -> tuple[int, dict[str, Any], str]:
    """`pytest --parity ARGS` in the app, as a user runs it: exit code, JSON report, output."""
    report = app / f"{name}.json"
    env = {key: value for key, value in os.environ.items() if key not in _OUTER}
    done = subprocess.run([sys.executable, "-m", "pytest", "--parity", "-p", "no:cacheprovider",
                           f"--parity-report={report}", f"--parity-html={app / name}.html", *args],
                          cwd=app, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert report.is_file(), f"no report (exit {done.returncode}):\n{output[-4000:]}"
    return done.returncode, json.loads(report.read_text()), output


def verdicts(report: dict[str, Any]) -> str:
    """The verdicts as JSON text, but for one count that depends on the clock in every mode:
    whether the Date headers of the two sides differed (and the built-in rule hid them)
    depends on whether their responses fell in the same second."""
    shown = [{**v, "ignored": [rule for rule in v["ignored"] if rule["target"] != "date"]}
             for v in report["verdicts"]]
    return json.dumps(shown, indent=1, sort_keys=True)


def kinds(report: dict[str, Any]) -> dict[str, str]:
    return {v["test_id"]: v["kind"] for v in report["verdicts"]}


def test_every_mode_gives_the_serial_verdicts_byte_for_byte(app: Path) -> None:
    configure(app, drift=True)
    code, serial, output = run(app, "serial", "--parity-serial")
    assert code == 1, output[-4000:]
    found = kinds(serial)
    # The one real drift, and nothing else: the stateful tests match on the serial run.
    assert found.pop("test_drift.py::test_greeting") == "diverge", output[-4000:]
    assert set(found.values()) == {"match"} and len(found) == 3 * MODULES, found
    for name, args in (("concurrent", ()), ("n2", ("-n", "2")), ("n3", ("-n", "3"))):
        code, report, output = run(app, name, *args)
        assert code == 1, f"{name}:\n{output[-4000:]}"
        assert verdicts(report) == verdicts(serial), f"{name}: {kinds(report)}\n{output[-3000:]}"
        assert report["counts"] == serial["counts"], name


def test_the_concurrent_run_fails_the_diverging_stack_test_once_with_both_sides(app: Path) -> None:
    configure(app, drift=True)
    code, report, output = run(app, "concurrent-output", "-rf")
    assert code == 1, output[-4000:]
    assert output.count("FAILED test_drift.py::test_greeting[stack]") == 1, output[-4000:]
    # Once in the failures section (pytest's short summary may repeat the message's first line).
    failures = output.split("short test summary info")[0]
    assert failures.count("parity: [stack] diverge from [local]") == 1, output[-4000:]
    assert '    local: "hello"' in output and '    stack: "moin"' in output, output[-4000:]
    tests = 3 * MODULES + 1
    # One progress mark per pair; pytest still counts every test instance.
    marks = next(line for line in output.splitlines() if line.endswith("[100%]")).split()[0]
    assert len(marks) == tests and marks.count("F") == 1 and set(marks) == {".", "F"}, marks
    assert f"1 failed, {2 * tests - 1} passed" in output, output[-2000:]


@pytest.mark.parametrize("args", [(), ("--parity-serial",), ("-n", "2")],
                         ids=["concurrent", "serial", "n2"])
def test_learn_reruns_the_local_side_on_its_own_database_and_finds_nothing(
        app: Path, args: tuple[str, ...]) -> None:
    configure(app, drift=False)
    code, report, output = run(app, "learn-" + "-".join(args), "--parity-noise=learn", *args)
    assert code == 0, output[-4000:]
    counts = report["counts"]
    assert counts["diverge"] == counts["outcome"] == 0 and counts["match"] == 3 * MODULES + 1, counts
    # The rerun saw the ids the first local run saw: nothing differed between them to learn.
    learned = [rule for v in report["verdicts"] for rule in v["ignored"] if rule["source"] == "learned"]
    assert learned == [], learned
    # Unique names per test: a rerun on the first run's database would fail to create its rows.
    assert f"{3 * (3 * MODULES + 1)} passed" in output, output[-2000:]
    if "-n" not in args:  # with -n, each worker reports its own start-up
        phases = report["meta"]["phases"]
        assert "local-rerun release" in phases and "local-rerun server" in phases, phases
