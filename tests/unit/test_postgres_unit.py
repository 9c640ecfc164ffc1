"""parity.environments.postgres (server, binaries) without a server: names, refusals, URLs, redaction, pg_hba rules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2.errors
import pytest

from parity.environments.postgres.binaries import find_bindir
from parity.environments.postgres.server import Database, Postgres, hba_rules, marker, redact
from parity.support.errors import DatabaseRefusedError, MissingDependencyError, ParityError

SECRET = "s3cr3t-p@ss:w/rd"


class FakeServer:
    """Stands in for the admin connection: records statements, answers the marker query."""

    def __init__(self, comments: dict[str, str | None] | None = None) -> None:
        self.comments = comments or {}
        self.statements: list[str] = []
        self.server_version = 150000
        self._row: tuple[Any, ...] | None = None

    @contextlib.contextmanager
    def admin(self) -> Iterator[FakeServer]:
        yield self

    @contextlib.contextmanager
    def cursor(self) -> Iterator[FakeServer]:
        yield self

    def execute(self, statement: object, params: tuple[Any, ...] = ()) -> None:
        text = repr(statement) if not isinstance(statement, str) else statement
        self.statements.append(text)
        if "shobj_description" in text:
            name = params[0]
            self._row = (self.comments[name],) if name in self.comments else None
        elif text.startswith("Composed([SQL('CREATE DATABASE '), Identifier("):
            name = text.split("Identifier('")[1].split("'")[0]
            if name in self.comments:
                raise psycopg2.errors.DuplicateDatabase(f'database "{name}" already exists')

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._row


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    server = FakeServer()
    monkeypatch.setattr(Postgres, "_admin", lambda _pg: server.admin())
    return server


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARITY_DATABASE_URL", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


def test_database_names_carry_run_environment_and_xdist_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg = Postgres("0612abc", database_url="")
    assert pg.database_name("local") == "parity_0612abc_local"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert pg.database_name("stack") == "parity_0612abc_stack_gw3"


@pytest.mark.parametrize("environment", ["Local", "st-ack", "", "x" * 60, "a;drop"])
def test_bad_environment_names_are_rejected(environment: str) -> None:
    with pytest.raises(ValueError, match="environment"):
        Postgres("r1", database_url="").database_name(environment)


@pytest.mark.parametrize("run_id", ["", "Run", "r-1", "r 1"])
def test_bad_run_ids_are_rejected(run_id: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        Postgres(run_id, database_url="")


@pytest.mark.parametrize("name", [
    "postgres", "template1", "app", "parity_other_local", "parity_r1_Local",
    "parity_r1_", "parity_r1_a;b", "parity_r1_" + "x" * 60,
])
def test_create_refuses_names_parity_does_not_give(name: str) -> None:
    with pytest.raises(DatabaseRefusedError, match="database_name"):
        Postgres("r1", database_url="").create_database(name)


def test_create_and_drop_refuse_without_touching_the_server(fake: FakeServer) -> None:
    pg = Postgres("r1", database_url="")
    with pytest.raises(DatabaseRefusedError, match="did not create"):
        pg.drop_database("postgres")
    with pytest.raises(DatabaseRefusedError, match="use as a template"):
        pg.create_database("parity_r1_local", template="production")
    assert fake.statements == []


def test_create_comments_owns_and_drops_only_its_own(fake: FakeServer) -> None:
    pg = Postgres("r1", database_url="")
    db = pg.create_database("parity_r1_local")
    assert "SQL(' OWNER '), Identifier('parity')" in fake.statements[0]
    assert f"Literal('{marker('r1')}')" in fake.statements[-1]
    copy = pg.create_database("parity_r1_stack", template=db.name)
    assert copy.name == "parity_r1_stack"

    fake.comments["parity_r1_local"] = "not parity's"
    with pytest.raises(DatabaseRefusedError, match="not parity's"):
        pg.drop_database("parity_r1_local")
    fake.comments["parity_r1_local"] = marker("r1")
    pg.drop_database("parity_r1_local")
    assert "DROP DATABASE IF EXISTS" in fake.statements[-1]
    assert "WITH (FORCE)" in fake.statements[-1]
    with pytest.raises(DatabaseRefusedError):
        pg.drop_database("parity_r1_local")


def test_create_refuses_an_existing_database_it_did_not_create(fake: FakeServer) -> None:
    fake.comments["parity_r1_local"] = None
    pg = Postgres("r1", database_url="postgresql://u:p@db.example.com/postgres")
    with pytest.raises(DatabaseRefusedError, match="already exists"):
        pg.create_database("parity_r1_local")
    with pytest.raises(DatabaseRefusedError):
        pg.drop_database("parity_r1_local")


@pytest.mark.parametrize(("host", "container_host"), [
    ("localhost", "host.docker.internal"),
    ("127.0.0.1", "host.docker.internal"),
    ("db.example.com", "db.example.com"),
])
def test_external_mode_urls(fake: FakeServer, host: str, container_host: str) -> None:
    url = f"postgresql://app%40ci:{SECRET.replace('@', '%40').replace('/', '%2F')}@{host}:6543/x"
    pg = Postgres("r1", database_url=url + "?sslmode=prefer")
    assert pg.external and pg.port == 6543 and pg.password == SECRET
    assert SECRET not in repr(pg) and "%40ci:***@" in repr(pg)
    db = pg.create_database("parity_r1_local")
    assert "OWNER" not in "".join(fake.statements)
    assert db.url("container") == (
        f"postgresql://app%40ci:s3cr3t-p%40ss%3Aw%2Frd@{container_host}:6543/parity_r1_local"
        "?sslmode=prefer")
    assert db.env("local")["PGHOST"] == host and db.env("local")["PGUSER"] == "app@ci"


def test_external_mode_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARITY_DATABASE_URL", "postgresql://u@db:5432/postgres")
    assert Postgres("r1").external
    assert not Postgres("r1", database_url="").external
    assert Postgres("r1", database_url="postgres://db/x").port == 5432


@pytest.mark.parametrize("url", ["mysql://u:p@h/x", "postgresql:///x?host=/run/postgresql"])
def test_external_mode_needs_a_tcp_postgres_url(url: str) -> None:
    with pytest.raises(ParityError, match="PARITY_DATABASE_URL"):
        Postgres("r1", database_url=url)


def test_database_urls_and_env_for_both_sides() -> None:
    db = Database("parity_r1_local", "127.0.0.1", "host.docker.internal", 5544, "parity", SECRET)
    assert db.url("local") == "postgresql://parity:s3cr3t-p%40ss%3Aw%2Frd@127.0.0.1:5544/parity_r1_local"
    assert db.url("container").startswith("postgresql://parity:s3cr3t-p%40ss%3Aw%2Frd@host.docker")
    assert db.env("container") == {
        "DATABASE_URL": db.url("container"), "PGHOST": "host.docker.internal", "PGPORT": "5544",
        "PGUSER": "parity", "PGPASSWORD": SECRET, "PGDATABASE": "parity_r1_local"}
    assert "PGPASSWORD" not in Database("d", "h", "h", 1, "u", "").env("local")
    with pytest.raises(ValueError, match="side"):
        db.url("remote")  # type: ignore[arg-type]


def test_passwords_never_show_in_repr() -> None:
    db = Database("parity_r1_local", "127.0.0.1", "host.docker.internal", 5544, "parity", SECRET)
    assert SECRET not in repr(db) and SECRET not in str(db)
    pg = Postgres("r1", database_url="")
    assert pg.password and pg.password not in repr(pg)


def test_redact() -> None:
    assert redact("postgresql://u:pw@h:1/d") == "postgresql://u:***@h:1/d"
    assert redact("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redact("postgresql://u:p%40w@h/d?sslmode=require") == "postgresql://u:***@h/d?sslmode=require"


def test_hba_trusts_only_the_socket_and_admits_only_parity_over_tcp() -> None:
    rules = [line.split() for line in hba_rules(gateway=True).splitlines() if line[:1] != "#"]
    assert rules[0] == ["local", "all", "all", "trust"]
    assert all(rule[0] == "host" and rule[2] == "parity" and rule[-1] == "scram-sha-256"
               for rule in rules[1:])
    assert [rule[3] for rule in rules[1:]] == ["127.0.0.1/32", "172.16.0.0/12", "192.168.0.0/16"]
    assert "172.16" not in hba_rules(gateway=False)


def test_missing_binaries_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError, match="apt-get install postgresql"):
        find_bindir(tmp_path)
