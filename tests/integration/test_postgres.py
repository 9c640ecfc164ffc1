"""The throwaway Postgres against a real server and a real container."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from parity.environments.postgres.binaries import find_bindir
from parity.environments.postgres.server import Database, Postgres, marker
from parity.environments.postgres.sweep import stale_clusters, sweep_stale_clusters
from parity.environments.runs import LABEL, Run
from parity.machine import engine
from parity.support.errors import DatabaseRefusedError, MissingDependencyError, StartupError
from tests.provisioned import python_image

pytestmark = pytest.mark.integration

KEPT = {"state", "bin"}  # the run registry and fake binaries live in the scratch root too
SITE_PACKAGES = Path(psycopg2.__file__).parent.parent
# The image has python3 but no psycopg2: lend it the host venv's manylinux wheel, read-only.
CONTAINER_PROBE = """
import os, sys, psycopg2
try:
    conn = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=5)
except psycopg2.OperationalError as exc:
    print("REFUSED", str(exc).strip()); sys.exit(3)
cur = conn.cursor(); cur.execute("select current_user, current_database()")
print("CONNECTED", *cur.fetchone())
"""


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI (run scripts/provision)")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="module")
def docker_gateway() -> str:
    """The address host-gateway maps to, read from the docker0 interface itself."""
    try:
        engine.client()
    except MissingDependencyError:
        _missing("a Docker engine")
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "docker0"],
                           capture_output=True, text=True, check=True).stdout
    return shown.split()[3].partition("/")[0]


@pytest.fixture(autouse=True)
def _binaries() -> None:
    try:
        find_bindir()
    except MissingDependencyError:
        _missing("PostgreSQL server binaries")


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private temp root (traversable by the postgres user) that must end up empty."""
    root = Path(tempfile.mkdtemp(prefix="parity-test-pg-", dir="/tmp"))
    root.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setenv("PARITY_STATE_DIR", str(root / "state"))
    monkeypatch.delenv("PARITY_DATABASE_URL", raising=False)
    yield root
    leftovers = [p for p in root.iterdir() if p.name not in KEPT]
    processes = _processes_mentioning(str(root))
    for pid in processes:
        os.killpg(pid, signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)
    assert not leftovers and not processes, f"left behind: {leftovers} {processes}"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _assert_clean(root: Path) -> None:
    assert [p.name for p in root.iterdir() if p.name not in KEPT] == []
    assert _processes_mentioning(str(root)) == []


def _listening(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a listening TCP socket on `port`, from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                if len(address) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    found.add(address)
    return found


def _in_container(url: str, network: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["docker", "run", "--rm", "--add-host", f"{engine.HOST_GATEWAY_NAME}:host-gateway",
            "-v", f"{SITE_PACKAGES}/psycopg2:/opt/pg/psycopg2:ro",
            "-v", f"{SITE_PACKAGES}/psycopg2_binary.libs:/opt/pg/psycopg2_binary.libs:ro",
            "-e", "PYTHONPATH=/opt/pg", "-e", f"DATABASE_URL={url}"]
    if network:
        argv += ["--network", network]
    return subprocess.run([*argv, python_image(), "python3", "-c", CONTAINER_PROBE],
                          capture_output=True, text=True, timeout=60, check=False)


def _sql(db: Database, statement: str) -> list[tuple[object, ...]]:
    """Run one statement as the app would (parity's role, over TCP), committed."""
    with contextlib.closing(db.connect()) as conn, conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall() if cur.description else []


@contextlib.contextmanager
def _superuser(pg: Postgres, dbname: str = "postgres") -> Iterator[psycopg2.extensions.cursor]:
    """A superuser cursor over the cluster's private socket, as an outsider to parity."""
    conn = psycopg2.connect(host=str(pg.directory), port=pg.port, user="postgres", dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def test_cluster_admits_only_its_role_with_password(scratch: Path, docker_gateway: str) -> None:
    # How fast it starts is a benchmark figure (phases.postgres in benchmarks/results.json).
    with Postgres("t1", database_url="") as pg:
        assert pg.directory is not None and pg.directory.parent == scratch
        assert stat.S_IMODE(pg.directory.stat().st_mode) == 0o700
        assert _listening(pg.port) == {"127.0.0.1", docker_gateway}
        server_uid = (pg.directory / "data" / "postmaster.pid").stat().st_uid
        assert os.geteuid() != 0 or server_uid != 0, "the server must not run as root"
        hba = (pg.directory / "data" / "pg_hba.conf").read_text()
        rules = [line.split() for line in hba.splitlines() if not line.startswith("#")]
        assert rules == [["local", "all", "all", "trust"],
                         ["host", "all", "parity", "127.0.0.1/32", "scram-sha-256"],
                         ["host", "all", "parity", "172.16.0.0/12", "scram-sha-256"],
                         ["host", "all", "parity", "192.168.0.0/16", "scram-sha-256"]]
        assert pg.password not in repr(pg)

        db = pg.create_database(pg.database_name("local"))
        assert _sql(db, "select current_user, current_database(), current_setting('fsync')") == [
            ("parity", db.name, "off")]
        env = db.env("local")
        assert env["PGHOST"] == "127.0.0.1" and env["PGPORT"] == str(pg.port)
        assert env["DATABASE_URL"] == db.url("local")

        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(db.url("local").replace(pg.password, "wrong"))
        with pytest.raises(psycopg2.OperationalError, match="no pg_hba.conf entry"):
            psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres")
    _assert_clean(scratch)


@pytest.mark.parametrize("network", ["default bridge", "compose-like network"])
def test_container_reaches_cluster_through_host_gateway_with_password_only(
    scratch: Path, docker_gateway: str, network: str
) -> None:
    client = engine.client()
    created = None
    if network != "default bridge":
        created = client.networks.create(f"parity-test-pg-{os.getpid()}", driver="bridge",
                                         labels={LABEL: "test-postgres"})
    try:
        with Postgres("t2", database_url="") as pg:
            db = pg.create_database(pg.database_name("stack"))
            url = db.url("container")
            assert f"@{engine.HOST_GATEWAY_NAME}:{pg.port}/" in url
            name = created.name if created else None
            good = _in_container(url, name)
            assert good.returncode == 0, good.stdout + good.stderr
            assert good.stdout.split() == ["CONNECTED", "parity", db.name]
            bad = _in_container(url.replace(pg.password, "not-the-password"), name)
            assert bad.returncode == 3, bad.stdout + bad.stderr
            assert "password authentication failed" in bad.stdout
    finally:
        if created is not None:
            created.remove()
    _assert_clean(scratch)


def test_create_copy_and_drop_databases(scratch: Path) -> None:
    with Postgres("t3", database_url="", docker_gateway=None) as pg:
        assert _listening(pg.port) == {"127.0.0.1"}
        local = pg.create_database(pg.database_name("local"))
        _sql(local, "create table t (v text); insert into t values ('copied')")
        stack = pg.create_database(pg.database_name("stack"), template=local.name)
        assert _sql(stack, "select v from t") == [("copied",)]
        with _superuser(pg) as cur:
            cur.execute("select datname, shobj_description(oid, 'pg_database'), "
                        "pg_get_userbyid(datdba) from pg_database where datname like 'parity%' "
                        "order by 1")
            assert cur.fetchall() == [(local.name, marker("t3"), "parity"),
                                      (stack.name, marker("t3"), "parity")]

        with pytest.raises(DatabaseRefusedError):
            pg.drop_database("postgres")
        with pytest.raises(DatabaseRefusedError):
            pg.create_database(pg.database_name("other"), template="postgres")
        with pytest.raises(DatabaseRefusedError):
            pg.create_database(local.name)

        pg.drop_database(local.name)
        pg.drop_database(stack.name)
        with _superuser(pg) as cur:
            cur.execute("select count(*) from pg_database where datname like 'parity%'")
            assert cur.fetchone() == (0,)
        with pytest.raises(DatabaseRefusedError):
            pg.drop_database(local.name)
    _assert_clean(scratch)


def test_nothing_left_after_an_exception_inside_the_block(scratch: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), Postgres("t4", database_url="") as pg:
        pg.create_database(pg.database_name("local"))
        raise RuntimeError("boom")
    _assert_clean(scratch)


def test_nothing_left_after_a_failed_start_on_a_taken_port(scratch: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        with pytest.raises(StartupError) as caught, \
                Postgres("t5", database_url="", port=squatter.getsockname()[1]):
            pass
    assert caught.value.environment == "postgres"
    assert caught.value.step in ("start", "listen")
    assert "Address already in use" in caught.value.log_tail
    _assert_clean(scratch)


def test_nothing_left_after_initdb_fails_half_way(scratch: Path) -> None:
    fake = scratch / "bin"
    fake.mkdir()
    for tool in ("initdb", "postgres"):
        (fake / tool).write_text("#!/bin/sh\necho 'initdb: could not create directory' >&2\n"
                                 "exit 1\n")
        (fake / tool).chmod(0o755)
    with pytest.raises(StartupError, match="initdb") as caught, \
            Postgres("t6", database_url="", bindir=fake):
        pass
    assert "could not create directory" in caught.value.log_tail
    _assert_clean(scratch)


def test_missing_binaries_say_how_to_install_them(scratch: Path) -> None:
    with pytest.raises(MissingDependencyError, match="apt-get install postgresql"), \
            Postgres("t7", database_url="", bindir=scratch / "nowhere"):
        pass
    _assert_clean(scratch)


def test_sweep_cleans_up_after_a_killed_owner(scratch: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from parity.environments.runs import Run\nfrom parity.environments.postgres.server import Postgres\n"
         "run = Run.start('killed')\n"
         "pg = Postgres(run.id, run=run, database_url='').__enter__()\n"
         "print(pg.directory, flush=True)\ntime.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(scratch)},
    )
    try:
        directory = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
        assert directory.parent == scratch, "the child did not start its cluster"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
    assert _processes_mentioning(str(directory)), "the cluster should outlive its owner"

    assert stale_clusters() == [f"{directory} (run killed)"]
    cleaned = sweep_stale_clusters()
    assert f"postgres pid {postmaster} (run killed)" in cleaned
    assert f"cluster dir {directory} (run killed)" in cleaned
    assert not (scratch / "state" / "runs" / "killed").exists()
    _assert_clean(scratch)
    assert sweep_stale_clusters() == []


def test_external_server_other_databases_stay_byte_for_byte_untouched(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Postgres("host", database_url="", docker_gateway=None) as server:
        with _superuser(server) as cur:
            cur.execute("alter role parity createdb")
            cur.execute("create database foreign_app")
            cur.execute("comment on database foreign_app is 'precious'")
            cur.execute("create database parity_ext_stack")  # our name, but not our database
        with _superuser(server, "foreign_app") as cur:
            cur.execute("create table booking (id serial primary key, room int, note text);"
                        "insert into booking (room, note) values (3, 'keep'), (4, 'me')")
        pg_dump = str(find_bindir() / "pg_dump")
        # pg_dump >= 15.14 writes a random \restrict key into every dump unless given one.
        fixed = subprocess.run([pg_dump, "--help"], capture_output=True, text=True,
                               check=True).stdout
        key = ["--restrict-key=parity"] if "--restrict-key" in fixed else []

        def dump(name: str) -> bytes:
            return subprocess.run(
                [pg_dump, *key, "--create", "-h", str(server.directory),
                 "-p", str(server.port), "-U", "postgres", name],
                capture_output=True, check=True, timeout=30).stdout

        before = {name: dump(name) for name in ("foreign_app", "parity_ext_stack")}
        assert b"'keep'" in before["foreign_app"] or b"\tkeep\n" in before["foreign_app"]
        assert b"'precious'" in before["foreign_app"]
        url = f"postgresql://parity:{server.password}@localhost:{server.port}/postgres"
        monkeypatch.setenv("PARITY_DATABASE_URL", url)
        run = Run.start("ext")
        with Postgres("ext", run=run) as pg:
            assert pg.external and pg.port == server.port and pg.directory is None
            assert server.password not in repr(pg)
            db = pg.create_database(pg.database_name("local"))
            assert db.url("container").startswith(f"postgresql://parity:{server.password}"
                                                   f"@host.docker.internal:{server.port}/")
            _sql(db, "create table t (v int); insert into t values (1)")
            for attempt in (lambda: pg.drop_database("foreign_app"),
                            lambda: pg.create_database("foreign_app"),
                            lambda: pg.create_database("parity_ext_x", template="foreign_app"),
                            lambda: pg.create_database("parity_ext_stack"),
                            lambda: pg.drop_database("parity_ext_stack")):
                with pytest.raises(DatabaseRefusedError):
                    attempt()
            tampered = pg.create_database("parity_ext_tampered")
            with _superuser(server) as cur:
                cur.execute("comment on database parity_ext_tampered is 'someone else'")
                with pytest.raises(DatabaseRefusedError, match="someone else"):
                    pg.drop_database(tampered.name)
                cur.execute(f"comment on database parity_ext_tampered is '{marker('ext')}'")
            assert (run.dir / "postgres.json").exists()
        assert not (run.dir / "postgres.json").exists()

        # A run killed with its databases still on the server: the next sweep drops them.
        dead = Run.start("dead")
        orphan = Postgres("dead", run=dead).__enter__()
        left = orphan.create_database(orphan.database_name("local"))
        (dead.dir / "owner.pid").write_text("999999999 0")
        assert sweep_stale_clusters() == [f"database {left.name} (run dead)"]

        with _superuser(server) as cur:
            cur.execute("select datname from pg_database where datname like 'parity%'")
            assert cur.fetchall() == [("parity_ext_stack",)]
        after = {name: dump(name) for name in before}
        assert after == before
        run.finish()
    _assert_clean(scratch)
