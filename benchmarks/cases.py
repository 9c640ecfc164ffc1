"""How each case is run and measured: a pytest subprocess, timed from outside, plus what the
JSON report (meta.phases) and the probe plugin (test phase, recording overhead) say."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks import baseline
from benchmarks.harness import Run

RUN_TIMEOUT = 1800.0


@dataclass
class Bench:
    """What every case needs: the app, the interpreter, where output goes, the environment."""

    app: Path
    python: str
    out: Path
    env: dict[str, str]
    plugins: Path
    say: Callable[[str], None]

    def environ(self, **extra: str) -> dict[str, str]:
        env = {**self.env, **extra}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.plugins), self.env.get("PYTHONPATH")]))
        return env


def pytest_run(bench: Bench, case: str, rep: int, args: list[str], *, cwd: Path | None = None,
               extra_env: dict[str, str] | None = None) -> Run:
    """One timed `pytest` run in `cwd` (the app); its log, report and probe land in out/."""
    cwd = cwd or bench.app
    tag = f"{case}-{rep}".replace(" ", "")
    report, probe, log = (bench.out / f"{tag}.report.json", bench.out / f"{tag}.probe.json",
                          bench.out / f"{tag}.log")
    for stale in (report, probe):
        stale.unlink(missing_ok=True)
    argv = [bench.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "parity_bench_probe",
            f"--parity-report={report}", f"--parity-html={bench.out / f'{tag}.report.html'}", *args]
    load = os.getloadavg()[0]
    started = time.monotonic()
    with log.open("w") as out:
        code = run_process(argv, cwd=cwd, env=bench.environ(PARITY_BENCH_PROBE=str(probe), **(extra_env or {})),
                           output=out)
    seconds = time.monotonic() - started
    result = Run(case=case, rep=rep, seconds=seconds, ok=code == 0, load=load)
    if code != 0:
        result.notes.append(f"pytest exited {code}: see {log}")
    meta = _read(report).get("meta", {})
    result.phases = dict(meta.get("phases", {}))
    result.probe = _read(probe)
    if meta.get("images") is not None:
        result.probe["images_built"] = list(meta["images"].get("built", []))
    return result


def run_process(argv: list[str], *, cwd: Path, env: dict[str, str], output: IO[str],
                timeout: float = RUN_TIMEOUT) -> int | None:
    """Run a command in its own process group; on timeout SIGTERM the group (parity tears down
    on SIGTERM), then SIGKILL. Returns the exit code, None on timeout."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        return process.wait(timeout=timeout)
    except BaseException:
        for sig, grace in ((signal.SIGTERM, 60.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
                break
        if isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
            return None
        raise


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --- the cases ------------------------------------------------------------------------------

def local_only(bench: Bench, rep: int) -> Run:
    """(a) the floor: the suite against runserver only."""
    return pytest_run(bench, "a", rep, [])


def warm(bench: Bench, rep: int, case: str = "b", args: tuple[str, ...] = ()) -> Run:
    """(b) pytest --parity with the images already built: the two sides at the same time."""
    run = pytest_run(bench, case, rep, ["--parity", *args])
    built = run.probe.get("images_built")
    if built:
        run.ok = False
        run.notes.append(f"not warm: built {built} (the app changed during the benchmark?)")
    return run


def warm_serial(bench: Bench, rep: int) -> Run:
    """(b-serial) the same, in one process: [local] then [stack] per test."""
    return warm(bench, rep, "b-serial", ("--parity-serial",))


def warm_n2(bench: Bench, rep: int) -> Run:
    """(b-n2) the same with -n 2: two workers, each with its own Postgres, dev server and stack."""
    return warm(bench, rep, "b-n2", ("-n", "2"))


def cold(bench: Bench, rep: int) -> Run:
    """(c) pytest --parity on a machine that never built this app: no parity images of the app,
    an empty wheel cache, no layer cache (--no-cache builds); base images present."""
    leftover = remove_app_images(app_name(bench.app))
    cache = Path(tempfile.mkdtemp(prefix="cold-cache-", dir=bench.out))
    try:
        run = pytest_run(bench, "c", rep, ["--parity"], extra_env={
            "PARITY_CACHE_DIR": str(cache), "PARITY_BENCH_NOCACHE": "1"})
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if leftover:
        run.notes.append(f"could not remove (in use by someone's containers): {', '.join(leftover)}")
    built = run.probe.get("images_built") or []
    if run.ok and len(built) != 2:
        run.ok = False
        run.notes.append(f"not cold: built only {built}")
    return run


def script_baseline(bench: Bench, rep: int) -> Run:
    """(d) the sequential script a user writes without parity (see baseline.py)."""
    baseline.remove_images()

    def local_suite() -> tuple[bool, float]:
        inner = pytest_run(bench, "d-local", rep, [])
        return inner.ok, inner.seconds

    load = os.getloadavg()[0]
    outcome = baseline.run_baseline(bench.app, env=bench.environ(), python=bench.python,
                                    plugins=bench.plugins, work=bench.out / f"d-{rep}",
                                    local_suite=local_suite)
    return Run(case="d", rep=rep, seconds=outcome.seconds, ok=outcome.ok, steps=outcome.steps, load=load,
               notes=outcome.notes)


CASE_RUNNERS: dict[str, Callable[[Bench, int], Run]] = {
    "a": local_only, "b": warm, "b-serial": warm_serial, "b-n2": warm_n2, "c": cold, "d": script_baseline,
}


# --- images ---------------------------------------------------------------------------------

def app_name(app: Path) -> str:
    """parity's name for the app (its directory's name, Docker-safe), as config.name has it."""
    from parity.configuration import load_config

    return load_config(app / "pyproject.toml").name


def remove_app_images(name: str) -> list[str]:
    """`docker rmi` every tagged image labelled parity.app=<name>: only those, and never by force
    (an image a container uses stays). Returns the tags that could not be removed."""
    listed = subprocess.run(["docker", "images", "--filter", f"label=parity.app={name}", "--format",
                             "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True, timeout=60,
                            check=True).stdout.split()
    tags = [tag for tag in listed if not tag.endswith(":<none>")]
    if not tags:
        return []
    subprocess.run(["docker", "rmi", *tags], capture_output=True, text=True, timeout=600, check=False)
    still = subprocess.run(["docker", "images", "--filter", f"label=parity.app={name}", "--format",
                            "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True, timeout=60,
                           check=True).stdout.split()
    return [tag for tag in still if tag in tags]


def base_image_env(python: str) -> dict[str, str]:
    """PARITY_BASE_IMAGE / PARITY_FRONTEND_IMAGE for every case alike: from the environment,
    else what parity itself would use (after `parity base-image --if-no-registry`, which
    builds stand-ins only where python:3.11-slim / nginx:stable are missing). The sequential
    script (d) needs them to build its own images."""
    wanted = ("PARITY_BASE_IMAGE", "PARITY_FRONTEND_IMAGE")
    if all(os.environ.get(name) for name in wanted):
        return {name: os.environ[name] for name in wanted}
    parity = str(Path(python).parent / "parity")
    command = [parity] if Path(parity).exists() else [python, "-m", "parity"]
    done = subprocess.run([*command, "base-image", "--if-no-registry"], capture_output=True, text=True,
                          timeout=1800, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return {}
    from parity.configuration import DEFAULT_BASE_IMAGE, DEFAULT_FRONTEND_IMAGE
    from parity.machine import engine, standins
    from parity.support.errors import MissingDependencyError

    client = engine.client()
    found = {}
    for role, default in zip(standins.ROLES, (DEFAULT_BASE_IMAGE, DEFAULT_FRONTEND_IMAGE), strict=True):
        try:
            found[role.variable] = standins.choose(client, role, default, explicit=False).used
        except MissingDependencyError as error:
            sys.stderr.write(error.one_line() + "\n")
    return found
