"""The baseline (d): what a user scripts without parity, step after step, each step timed.

    Postgres        initdb + pg_ctl start as the postgres user (fsync off, like parity's),
                    listening on 127.0.0.1 and the Docker bridge gateway; CREATE DATABASE
    build           bash deploy/build.sh (the app's own script: pip wheel, two docker builds)
    migrate         docker compose run --rm app python manage.py migrate --noinput
    up              docker compose up --wait (the app's compose file + ports/host-gateway override)
    suite           pytest -p no:parity -p parity_bench_shim: the same tests against the stack
    down            docker compose down -v
    Postgres stop   pg_ctl stop -m fast
    local suite     pytest (local-only, case a): the dev-loop half of the check

Nothing here is parity: only the local-only suite, which *is* the user's dev loop, runs it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

APP_IMAGE = "parity-bench/labbook-app:baseline"
FRONTEND_IMAGE = "parity-bench/labbook-frontend:baseline"
STEP_TIMEOUT = 1200.0
DOCKER_POOLS = ("172.16.0.0/12", "192.168.0.0/16")


@dataclass
class Outcome:
    seconds: float = 0.0
    ok: bool = True
    steps: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class StepFailed(Exception):
    pass


def run(argv: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = STEP_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, appending its output to `log`; StepFailed names the command on failure."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, check=False)
        out.write(done.stdout)
    if check and done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-15:])
        raise StepFailed(f"{' '.join(argv[:4])}... exited {done.returncode}:\n{tail}")
    return done


def remove_images() -> None:
    """Cold start for (d): the baseline's own two tags, and with them their layers."""
    subprocess.run(["docker", "rmi", APP_IMAGE, FRONTEND_IMAGE], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300, check=False)


def no_cache_docker(directory: Path) -> Path:
    """A `docker` on PATH that adds --no-cache to `docker build`: a machine without layer cache,
    without editing the app's build script. Everything else goes to the real docker."""
    real = shutil.which("docker")
    if real is None:
        raise StepFailed("docker not found on PATH")
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "docker"
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = build ]; then shift; exec {real} build --no-cache "$@"; fi\n'
                       f'exec {real} "$@"\n')
    wrapper.chmod(0o755)
    return directory


class ManualPostgres:
    """The Postgres a user's script starts by hand: initdb and pg_ctl as the postgres user."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.dir = Path(tempfile.mkdtemp(prefix="bench-baseline-pg-"))
        self.password = secrets.token_hex(12)
        self.port = _free_port()
        self.gateway = _bridge_gateway()
        self.bindir = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                          check=True).stdout.strip())
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.started = False

    def start(self) -> None:
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        data = self.dir / "data"
        run([*self.as_postgres, str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres",
             f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync"], log=self.log)
        with (data / "pg_hba.conf").open("a") as hba:
            for pool in DOCKER_POOLS:
                hba.write(f"host all all {pool} scram-sha-256\n")
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1,{self.gateway} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self.started = True
        run([*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"),
             "-o", options, "-w", "start"], log=self.log)
        conn = psycopg2.connect(self.url("127.0.0.1", "postgres"))
        try:
            conn.autocommit = True
            conn.cursor().execute("CREATE DATABASE labbook")
        finally:
            conn.close()

    def url(self, host: str, database: str = "labbook") -> str:
        return f"postgresql://postgres:{self.password}@{host}:{self.port}/{database}"

    def stop(self) -> None:
        if self.started:
            run([*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast",
                 "-w", "stop"], log=self.log, check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bridge_gateway() -> str:
    done = subprocess.run(["docker", "network", "inspect", "bridge", "--format",
                           "{{(index .IPAM.Config 0).Gateway}}"], capture_output=True, text=True,
                          timeout=30, check=True)
    return done.stdout.strip() or "172.17.0.1"


@contextmanager
def _timed(steps: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        steps[name] = round(time.monotonic() - started, 3)


def run_baseline(
    app: Path,
    *,
    env: dict[str, str],
    python: str,
    plugins: Path,
    work: Path,
    local_suite: Callable[[], tuple[bool, float]],
) -> Outcome:
    """One sequential run of the baseline script; every step timed, everything torn down."""
    outcome = Outcome()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "baseline.log"
    project = f"parity-bench-{os.getpid()}-{int(time.time())}"
    override = work / "override.yaml"
    override.write_text(json.dumps({"services": {
        "app": {"extra_hosts": ["host.docker.internal:host-gateway"]},
        "frontend": {"ports": ["127.0.0.1::80"]},
    }}))
    compose = ["docker", "compose", "-p", project, "-f", str(app / "deploy" / "compose.yaml"),
               "-f", str(override)]
    build_env = {**env, "LABBOOK_APP_IMAGE": APP_IMAGE, "LABBOOK_FRONTEND_IMAGE": FRONTEND_IMAGE,
                 "PYTHON": python, "PATH": f"{no_cache_docker(work / 'bin')}:{env.get('PATH', '')}"}
    postgres = ManualPostgres(log)
    compose_env = {**env, "LABBOOK_APP_IMAGE": APP_IMAGE, "LABBOOK_FRONTEND_IMAGE": FRONTEND_IMAGE,
                   "DATABASE_URL": postgres.url("host.docker.internal")}
    started = time.monotonic()
    up = False
    steps = outcome.steps
    try:
        with _timed(steps, "postgres start"):
            postgres.start()
        with _timed(steps, "build (deploy/build.sh)"):
            run(["bash", str(app / "deploy" / "build.sh")], log=log, env=build_env, cwd=app)
        with _timed(steps, "migrate (compose run)"):
            run([*compose, "run", "--rm", "-T", "app", "python", "manage.py", "migrate", "--noinput"],
                log=log, env=compose_env, cwd=app)
        up = True
        with _timed(steps, "compose up --wait"):
            run([*compose, "up", "--wait"], log=log, env=compose_env, cwd=app)
        port = run([*compose, "port", "frontend", "80"], log=log, env=compose_env,
                   cwd=app).stdout.strip().rsplit(":", 1)[1]
        suite_env = {**env, "BENCH_BASE_URL": f"http://127.0.0.1:{port}",
                     "BENCH_DATABASE_URL": postgres.url("127.0.0.1"),
                     "PYTHONPATH": os.pathsep.join(filter(None, [str(plugins), env.get("PYTHONPATH")]))}
        with _timed(steps, "suite against the stack"):
            done = run([python, "-m", "pytest", "-q", "-p", "no:parity", "-p", "no:cacheprovider",
                        "-p", "parity_bench_shim", "tests"], log=log, env=suite_env, cwd=app, check=False)
        if done.returncode != 0:
            outcome.ok = False
            outcome.notes.append("suite against the stack failed: " + done.stdout.strip().splitlines()[-1])
    except (StepFailed, subprocess.SubprocessError, OSError, psycopg2.Error) as error:
        outcome.ok = False
        outcome.notes.append(f"baseline step failed: {error}")
    finally:
        if up:
            with _timed(steps, "compose down"):
                run([*compose, "down", "-v", "--remove-orphans"], log=log, env=compose_env, cwd=app,
                    check=False)
        with _timed(steps, "postgres stop"):
            postgres.stop()
    if outcome.ok:
        with _timed(steps, "local-only suite (a)"):
            local_ok, _ = local_suite()
        if not local_ok:
            outcome.ok = False
            outcome.notes.append("the local-only suite failed")
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome
