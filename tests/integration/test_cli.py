"""The `parity` command on a real app: build, up (serving both environments), down, clean."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import psycopg2
import pytest
import requests

pytestmark = pytest.mark.integration

TINYAPP = Path(__file__).parent.parent / "apps" / "tinyapp"
PARITY = [sys.executable, "-m", "parity"]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    target = tmp_path / "cliapp"
    shutil.copytree(TINYAPP, target)
    return target


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("PARITY_STATE_DIR", str(state))
    return state


def leftovers(run_id: str) -> dict[str, list[str]]:
    engine = docker.from_env()
    label = {"label": f"parity.run={run_id}"}
    processes = subprocess.run(["pgrep", "-af", f"parity_{run_id}|parity-pg-|runserver"],
                               capture_output=True, text=True).stdout
    return {
        "containers": [c.name for c in engine.containers.list(all=True, filters=label)],
        "networks": [n.name for n in engine.networks.list(filters=label)],
        "volumes": [v.name for v in engine.volumes.list(filters=label)],
        "processes": [line for line in processes.splitlines() if run_id in line],
    }


BACKGROUND_JOB = 'echo "pid $$"; "$@" & echo "pid $!"; wait $!'
"""A script that starts its command as a background job (SIGINT ignored, as POSIX shells
do without job control), says its pid, and waits for it."""


def start_up(app: Path, argv: list[str] | None = None
             ) -> tuple[subprocess.Popen[str], dict[str, str], str]:
    process = subprocess.Popen(argv or [*PARITY, "up"], cwd=app, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    urls: dict[str, str] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + 240
    for line in process.stdout:
        name, _, rest = line.partition(" ")
        if name in ("local", "stack"):
            urls[name] = rest.split()[0]
            if " CA " in rest:  # the stack speaks https with the run's throwaway CA
                urls["ca"] = rest.split(" CA ")[1].split()[0]
        if name == "pid":
            urls.setdefault("pids", "")
            urls["pids"] += rest
        if line.startswith("serving;") or time.monotonic() > deadline:
            break
    assert {"local", "stack"} <= set(urls), f"parity up did not report both URLs: {urls}"
    run_id = next(p.name for p in (Path(os.environ["PARITY_STATE_DIR"]) / "runs").iterdir())
    return process, urls, run_id


def test_up_serves_both_environments_each_from_its_own_database(app: Path, state_dir: Path) -> None:
    process, urls, run_id = start_up(app)
    ca = urls.pop("ca")
    assert urls["stack"].startswith("https://127.0.0.1:") and urls["local"].startswith("http://")
    try:
        pages = {name: requests.get(f"{base}/greeting/", timeout=10, verify=ca).json()
                 for name, base in urls.items()}
        assert pages["local"]["greeting"] == pages["stack"]["greeting"] == "hello"
        # Each environment reads its own database: give them different rows.
        databases = _database_urls(run_id)
        for name, groups in (("local", 2), ("stack", 1)):
            with psycopg2.connect(databases[name]) as connection, connection.cursor() as cursor:
                for index in range(groups):
                    cursor.execute("insert into auth_group (name) values (%s)", (f"{name}-{index}",))
        counts = {name: requests.get(f"{base}/greeting/", timeout=10, verify=ca).json()["groups"]
                  for name, base in urls.items()}
        assert counts == {"local": 2, "stack": 1}
        down = subprocess.run([*PARITY, "down"], capture_output=True, text=True, timeout=120)
        assert "stopped 1 running `parity up`" in down.stdout
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    assert leftovers(run_id) == {"containers": [], "networks": [], "volumes": [], "processes": []}


def _database_urls(run_id: str) -> dict[str, str]:
    """The host-side URLs of the run's two databases, from the app container's environment."""
    engine = docker.from_env()
    app = engine.containers.list(filters={"label": [f"parity.run={run_id}",
                                                     "com.docker.compose.service=app"]})[0]
    env = dict(item.split("=", 1) for item in app.attrs["Config"]["Env"])
    stack_url = env["DATABASE_URL"].replace("host.docker.internal", "127.0.0.1")
    assert stack_url.endswith(f"/parity_{run_id}_stack")
    return {"stack": stack_url, "local": stack_url.rsplit("/", 1)[0] + f"/parity_{run_id}_local"}


def test_ctrl_c_while_serving_leaves_nothing(app: Path, state_dir: Path) -> None:
    process, urls, run_id = start_up(app)
    urls.pop("ca")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert leftovers(run_id) == {"containers": [], "networks": [], "volumes": [], "processes": []}
    for base in urls.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(base, timeout=2)


def test_second_build_builds_nothing(app: Path) -> None:
    subprocess.run([*PARITY, "build"], cwd=app, check=True, capture_output=True, timeout=600)
    engine = docker.from_env()
    before = {image["Id"] for image in engine.api.images(all=True)}
    done = subprocess.run([*PARITY, "build"], cwd=app, check=True, capture_output=True, text=True, timeout=60)
    assert "unchanged" in done.stdout
    assert {image["Id"] for image in engine.api.images(all=True)} == before


def test_clean_dry_run_lists_then_removes_a_dead_runs_objects(state_dir: Path) -> None:
    from parity.environments.runs import LABEL, Run

    run = Run.start("cleantest" + str(os.getpid()))
    # Pretend its owner died: a pid that does not exist.
    (run.dir / "owner.pid").write_text("999999999 0")
    engine = docker.from_env()
    network = engine.networks.create(f"parity-cleantest-{os.getpid()}", labels={LABEL: run.id})
    try:
        dry = subprocess.run([*PARITY, "clean", "--dry-run"], capture_output=True, text=True, timeout=60)
        assert f"would remove network {network.name}" in dry.stdout
        assert engine.networks.list(names=[network.name])
        done = subprocess.run([*PARITY, "clean"], capture_output=True, text=True, timeout=60)
        assert f"removed network {network.name}" in done.stdout
        assert not engine.networks.list(names=[network.name])
        assert not run.dir.exists()
    finally:
        for leftover in engine.networks.list(names=[network.name]):
            leftover.remove()


def test_clean_removes_an_orphan_of_this_registry_only(state_dir: Path) -> None:
    """A run whose registry entry is gone while its network survived (teardown failed with the
    engine away): this registry's orphan goes, another registry's object stays."""
    from parity.environments.runs import LABEL, OWNER_LABEL, owner

    engine = docker.from_env()
    mine = engine.networks.create(f"parity-orphan-{os.getpid()}",
                                  labels={LABEL: f"gone{os.getpid()}", OWNER_LABEL: owner()})
    theirs = engine.networks.create(f"parity-elsewhere-{os.getpid()}",
                                    labels={LABEL: f"gone{os.getpid()}", OWNER_LABEL: "other:/state"})
    try:
        done = subprocess.run([*PARITY, "clean"], capture_output=True, text=True, timeout=60)
        assert f"removed network {mine.name}" in done.stdout, done.stdout + done.stderr
        assert theirs.name not in done.stdout
        assert not engine.networks.list(names=[mine.name])
        assert engine.networks.list(names=[theirs.name])
    finally:
        for leftover in engine.networks.list(names=[mine.name, theirs.name]):
            leftover.remove()


def test_sigint_reaches_parity_up_started_as_a_background_job_of_a_script(
        app: Path, state_dir: Path) -> None:
    """CI runners cancel with SIGINT first; a script's background job inherits it ignored."""
    assert sigint_ignored_in_background_jobs()
    process, urls, run_id = start_up(app, ["bash", "-c", BACKGROUND_JOB, "job", *PARITY, "up"])
    _script, parity = (int(pid) for pid in urls.pop("pids").split())
    urls.pop("ca")
    os.kill(parity, signal.SIGINT)
    assert process.wait(timeout=60) == 0  # bash's `wait` gives parity's exit code
    assert leftovers(run_id) == {"containers": [], "networks": [], "volumes": [], "processes": []}
    for base in urls.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(base, timeout=2)


def sigint_ignored_in_background_jobs() -> bool:
    """What the script above does to its job: SIGINT in the job's ignored set (SigIgn)."""
    done = subprocess.run(["bash", "-c", "sleep 5 & grep SigIgn /proc/$!/status; kill $!"],
                          capture_output=True, text=True, timeout=30, check=True)
    return bool(int(done.stdout.split()[1], 16) & (1 << (signal.SIGINT - 1)))
