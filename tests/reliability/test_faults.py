"""Fault injection: a real `pytest --parity` run of tinyapp is interrupted at each phase with
SIGINT, SIGTERM or SIGKILL, and nothing it made may be left afterwards (after `parity clean`,
or after the next run's start-up sweep, for SIGKILL: nothing can run in a killed process).

Phases are found in the run's progress output, except two: Postgres start is the moment the
server has written its postmaster.pid (initdb done, server coming up, not ready yet), and
test execution waits at a gate in the [stack] test itself, so the signal arrives while a test
is certainly running.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

from tests.reliability import harness, leftovers
from tests.reliability.harness import Case

pytestmark = pytest.mark.integration

SIGINT, SIGTERM, SIGKILL = signal.SIGINT, signal.SIGTERM, signal.SIGKILL
INTERRUPTED = 2  # README: interrupted (Ctrl-C, SIGTERM); everything was torn down

PHASES = {
    "image build": r"^build app: Step \d+/\d+ : RUN .*collectstatic",  # a RUN step of a second or so
    "release step": r"^stack: release step .* in the app image$",
    "stack up": r"^stack: compose up ",
    "teardown": r"^parity run [a-z0-9]+: tearing down",
}

# Every phase at least once, every signal at least twice; SIGKILL followed by `parity clean`
# and by the next run's sweep.
MATRIX = [
    ("postgres start", SIGINT, None),
    ("postgres start", SIGKILL, "next run"),
    ("image build", SIGTERM, None),
    ("image build", SIGKILL, "parity clean"),
    ("release step", SIGINT, None),
    ("release step", SIGKILL, "next run"),
    ("stack up", SIGTERM, None),
    ("stack up", SIGKILL, "parity clean"),
    ("test execution", SIGINT, None),
    ("test execution", SIGKILL, "next run"),
    ("teardown", SIGTERM, None),
    ("teardown", SIGKILL, "parity clean"),
]


def interrupt(case: Case, phase: str, signum: signal.Signals, **env: str) -> tuple[int, str]:
    """Start a run, send `signum` once it is in `phase`; returns (exit code, output)."""
    extra = {"RELTEST_GATE": str(case.app.gate)} if phase == "test execution" else {}
    run = harness.ParityRun(case.app, env=case.app.env(**extra, **env))
    try:
        if phase == "test execution":
            harness.wait_for_file(case.app.gate / "reached", run)
        elif phase == "postgres start":
            harness.wait_for_glob(case.app.tmpdir, "parity-pg-*/data/postmaster.pid", run)
        else:
            run.wait_for(PHASES[phase], timeout=300)
        run.send(signum)
        code = run.finish(timeout=180)
    finally:
        if run.process.poll() is None:
            run.process.kill()
        case.scope.add_output(run.output)
    return code, run.output


@pytest.mark.parametrize(("phase", "signum", "then"), MATRIX,
                         ids=[f"{p}-{s.name}" + (f"-{t}" if t else "") for p, s, t in MATRIX])
def test_interrupted_run_leaves_nothing(phase: str, signum: signal.Signals, then: str | None,
                                        request: pytest.FixtureRequest) -> None:
    case: Case = request.getfixturevalue("cold" if phase == "image build" else "warm")
    code, output = interrupt(case, phase, signum)
    assert case.scope.run_ids, output[-3000:]

    if signum != SIGKILL:
        # Torn down by the run itself, before it exited: no clean-up needed.
        expected = 0 if phase == "teardown" else INTERRUPTED
        assert code == expected, output[-3000:]
        if phase == "teardown":  # the signal waits: teardown is never cut short
            assert "tearing down, please wait" in output
        assert leftovers.settle(case.scope) == "", output[-3000:]
        return

    assert code == -SIGKILL
    found = leftovers.count(case.scope)
    assert found["run dirs"], "the killed run's registry entry must be there for the sweep"
    assert any(found[kind] for kind in ("processes", "containers", "networks", "images", "temp dirs")), \
        f"the kill at {phase} left nothing to clean, so it proved nothing: {found}"
    if then == "parity clean":
        done = harness.parity_cli(case.app, "clean")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"run {next(iter(case.scope.run_ids))}" in done.stdout
    else:
        next_code, next_output = harness.run_to_end(case.app)
        case.scope.add_output(next_output)
        assert next_code == 0, next_output[-3000:]
        assert "swept leftover of a dead run" in next_output
    assert leftovers.settle(case.scope) == ""


def test_killed_run_on_an_external_server_leaves_no_database(warm: Case, external_url: str) -> None:
    """PARITY_DATABASE_URL: a killed run's databases stay on the server until the sweep, which
    drops exactly those (the server's other databases are untouched: see test_postgres)."""
    warm.scope.database_url = external_url
    code, output = interrupt(warm, "test execution", SIGKILL, PARITY_DATABASE_URL=external_url)
    assert code == -SIGKILL
    assert len(leftovers.databases(warm.scope)) == 2, output[-3000:]
    done = harness.parity_cli(warm.app, "clean", env=warm.app.env(PARITY_DATABASE_URL=external_url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert leftovers.settle(warm.scope) == ""


def test_sigint_reaches_a_run_started_as_a_background_job_of_a_script(warm: Case) -> None:
    """`pytest --parity &` in a CI script inherits SIGINT ignored; runners cancel with SIGINT
    first. parity takes SIGINT for its session: the run tears down and exits 2."""
    pidfile = warm.app.gate / "pid"
    script = f'"$@" & echo $! > {pidfile}; wait $!'
    argv = ["bash", "-c", script, "job", sys.executable, "-m", "pytest", "--parity",
            "-p", "no:cacheprovider", "-v"]
    run = harness.ParityRun(warm.app, env=warm.app.env(RELTEST_GATE=str(warm.app.gate)), argv=argv)
    try:
        harness.wait_for_file(warm.app.gate / "reached", run)
        os.kill(int(pidfile.read_text()), SIGINT)
        code = run.finish(timeout=180)
    finally:
        if run.process.poll() is None:
            run.process.kill()
        warm.scope.add_output(run.output)
    assert code == INTERRUPTED, run.output[-3000:]
    assert leftovers.settle(warm.scope) == "", run.output[-3000:]
