"""The throwaway Postgres: a private cluster, or parity's own databases on an existing server.

    with Postgres(run_id) as pg:                 # PARITY_DATABASE_URL set: use that server instead
        db = pg.create_database(pg.database_name("local"))
        db.env("container")                      # DATABASE_URL and PG* for the app containers

parity only ever drops or writes databases it created itself: their names carry the run id
and they carry the comment `parity run <run id>`; anything else is a DatabaseRefusedError.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg2
import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from parity.environments.postgres.binaries import (
    LOOPBACK,
    find_bindir,
    free_port,
    gateway_addresses,
    server_owner,
    stop_server,
)
from parity.environments.runs import Run, worker_suffix
from parity.machine import engine
from parity.support import proc
from parity.support.errors import (
    CommandError,
    DatabaseRefusedError,
    ParityConfigError,
    ParityError,
    StartupError,
)
from parity.support.waiting import wait_until

Side = Literal["local", "container"]
T = TypeVar("T")

ROLE = "parity"
"""The cluster's only TCP login: no superuser, owns the databases parity creates."""
SUPERUSER = "postgres"
DIR_PREFIX = "parity-pg-"
SERVER_TEMPLATES = frozenset({"template0", "template1"})
# Compose networks take their subnets from Docker's default address pools, and their
# containers reach host.docker.internal (the default bridge's gateway) from their own
# network's address: the bridge subnet (172.17.0.0/16) alone would refuse every compose app.
DOCKER_POOLS = ("172.16.0.0/12", "192.168.0.0/16")
_NAME = re.compile(r"[a-z0-9_]+")
_MAX_NAME = 63  # NAMEDATALEN - 1: Postgres silently truncates longer names


def marker(run_id: str) -> str:
    """The comment on every database parity creates."""
    return f"parity run {run_id}"


@dataclass(frozen=True)
class Database:
    """One database parity created, with the connection facts for either side."""

    name: str
    host: str
    container_host: str
    port: int
    user: str
    password: str = field(repr=False)
    query: str = field(default="", repr=False)

    def url(self, side: Side) -> str:
        auth = quote(self.user, safe="") + (f":{quote(self.password, safe='')}"
                                            if self.password else "")
        host = self._host(side)
        netloc = f"{auth}@{f'[{host}]' if ':' in host else host}:{self.port}"
        return urlunsplit(("postgresql", netloc, "/" + quote(self.name), self.query, ""))

    def env(self, side: Side) -> dict[str, str]:
        """DATABASE_URL plus libpq's PG* variables, as both environments receive them."""
        found = {"DATABASE_URL": self.url(side), "PGHOST": self._host(side),
                 "PGPORT": str(self.port), "PGUSER": self.user, "PGDATABASE": self.name}
        return found | ({"PGPASSWORD": self.password} if self.password else {})

    def connect(self) -> Connection:
        """A new psycopg2 connection from the host side (the caller closes it)."""
        return psycopg2.connect(self.url("local"))

    def _host(self, side: Side) -> str:
        if side not in ("local", "container"):
            raise ValueError(f"side must be 'local' or 'container', not {side!r}")
        return self.host if side == "local" else self.container_host


class Postgres:
    """A throwaway cluster, or parity's databases on PARITY_DATABASE_URL's server.

    `database_url=None` reads PARITY_DATABASE_URL; `""` forces a private cluster. `run`
    registers the cluster (or external databases) so `pgsweep.sweep_stale_clusters` can undo
    a killed run; `port` and `bindir` override the free port and the binaries found.
    """

    def __init__(
        self,
        run_id: str,
        *,
        database_url: str | None = None,
        docker_gateway: str | None | Literal["auto"] = "auto",
        log: Callable[[str], None] | None = None,
        run: Run | None = None,
        port: int | None = None,
        bindir: str | Path | None = None,
    ) -> None:
        if not _NAME.fullmatch(run_id):
            raise ValueError(f"run id {run_id!r} must be lowercase letters, digits and '_'")
        if run is not None and run.id != run_id:
            raise ValueError(f"run {run.id!r} does not match run id {run_id!r}")
        self.run_id = run_id
        self._run, self._gateway, self._bindir = run, docker_gateway, bindir
        self._say = log or (lambda _message: None)
        self._created: list[str] = []
        self._lock = threading.Lock()
        self._dir: Path | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._last_log = ""
        url = os.environ.get("PARITY_DATABASE_URL", "") if database_url is None else database_url
        self._url = url.strip()
        self._host, self._port, self._user, self._query = LOOPBACK, port or 0, ROLE, ""
        self._password = secrets.token_urlsafe(24)
        if self._url:
            parts = urlsplit(self._url)
            if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
                raise ParityConfigError(
                    "environment", "PARITY_DATABASE_URL", "is not a TCP Postgres URL",
                    "use postgresql://USER:PASSWORD@HOST:PORT/DBNAME, or unset it for a "
                    "throwaway cluster", redact(self._url))
            self._host, self._port, self._query = parts.hostname, parts.port or 5432, parts.query
            self._user = unquote(parts.username or "") or getpass.getuser()
            self._password = unquote(parts.password or "")

    def __repr__(self) -> str:
        where = redact(self._url) if self._url else f"cluster {self._dir} port {self._port}"
        return f"<Postgres run={self.run_id} {where}>"

    @property
    def external(self) -> bool:
        return bool(self._url)

    @property
    def port(self) -> int:
        return self._port

    @property
    def password(self) -> str:
        return self._password

    @property
    def directory(self) -> Path | None:
        """The private cluster's temp dir (data dir, socket, server log); None when external."""
        return self._dir

    def __enter__(self) -> Postgres:
        try:
            if self.external:
                self._step("connect to PARITY_DATABASE_URL", self._reachable,
                           fix="start that server, correct the URL, or unset "
                               "PARITY_DATABASE_URL for a throwaway cluster")
                self._say(f"postgres: using {redact(self._url)}")
            else:
                self._start_cluster()
        except BaseException:
            self._teardown(raising=False)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._teardown(raising=kind is None)

    def database_name(self, environment: str) -> str:
        name = f"parity_{self.run_id}_{environment}{worker_suffix()}"
        if not _NAME.fullmatch(environment) or len(name) > _MAX_NAME:
            raise ValueError(f"environment {environment!r} gives no valid database name ({name!r})")
        return name

    def create_database(self, name: str, template: str | None = None) -> Database:
        """A new database with parity's marker; `template`: template0/1 or one of this run's."""
        prefix = f"parity_{self.run_id}_"
        if not (name.startswith(prefix) and _NAME.fullmatch(name[len(prefix):])
                and len(name) <= _MAX_NAME):
            raise DatabaseRefusedError(
                f"refusing to create database {name!r}: parity only creates databases named "
                f"{prefix}<environment> (lowercase, at most {_MAX_NAME} bytes); "
                "use Postgres.database_name()")
        with self._lock:
            if template is not None and template not in SERVER_TEMPLATES:
                self._check_ours(template, "use as a template")
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template or "template1"))
            if not self.external:
                statement += sql.SQL(" OWNER {}").format(sql.Identifier(ROLE))
            with self._admin() as admin, admin.cursor() as cur:
                try:
                    cur.execute(statement)
                except psycopg2.errors.DuplicateDatabase:
                    raise DatabaseRefusedError(
                        f"refusing to write database {name!r}: it already exists and this parity "
                        "run did not create it; drop it yourself if it is a leftover") from None
                self._created.append(name)
                self._record()
                cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(name), sql.Literal(marker(self.run_id))))
        container_host = engine.HOST_GATEWAY_NAME if self._host in (
            "127.0.0.1", "localhost", "::1") else self._host
        return Database(name, self._host, container_host, self._port, self._user,
                        self._password, self._query)

    def drop_database(self, name: str) -> None:
        with self._lock:
            if self._check_ours(name, "drop"):
                with self._admin() as admin, admin.cursor() as cur:
                    # FORCE: the app's own connections must not keep the database alive.
                    force = " WITH (FORCE)" if admin.server_version >= 130000 else ""
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                        sql.Identifier(name)) + sql.SQL(force))
            self._created.remove(name)
            self._record()

    def logs(self, lines: int = 60) -> str:
        """The tail of the private cluster's server log ('' when external)."""
        try:
            text = (self._dir / "server.log").read_text(errors="replace") if self._dir else ""
        except OSError:
            text = ""
        return "\n".join(text.splitlines()[-lines:]) if text else self._last_log

    # --- internals ------------------------------------------------------------------------

    def _check_ours(self, name: str, action: str) -> bool:
        """Refuse unless this run created `name` and it still has our marker; False if gone."""
        refusal = f"refusing to {action} database {name!r}: this parity run did not create it"
        if name not in self._created:
            raise DatabaseRefusedError(refusal)
        with self._admin() as admin, admin.cursor() as cur:
            cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                        "WHERE datname = %s", (name,))
            row = cur.fetchone()
        if row is not None and row[0] != marker(self.run_id):
            raise DatabaseRefusedError(f"{refusal} (its comment is {row[0]!r}, "
                                       f"not {marker(self.run_id)!r})")
        return row is not None

    @contextlib.contextmanager
    def _admin(self) -> Iterator[Connection]:
        """Autocommit, for CREATE/DROP DATABASE: the superuser on the socket, or the URL."""
        if self.external:
            conn = psycopg2.connect(self._url, connect_timeout=10)
        else:
            conn = psycopg2.connect(host=str(self._dir), port=self._port, user=SUPERUSER,
                                    dbname="postgres", connect_timeout=5)
        try:
            conn.autocommit = True
            yield conn
        finally:
            conn.close()

    def _reachable(self) -> bool:
        with self._admin():
            return True

    def _step(self, step: str, action: Callable[[], T], fix: str = "") -> T:
        try:
            return action()
        except StartupError:
            raise
        except (ParityError, OSError, psycopg2.Error) as exc:
            tail = exc.output if isinstance(exc, CommandError) else self.logs(20)
            cause = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise StartupError("postgres", step, f"{cause}; {fix}" if fix else cause, tail) from exc

    def _start_cluster(self) -> None:
        started = time.monotonic()
        bindir = find_bindir(self._bindir)
        addresses = [LOOPBACK, *gateway_addresses(self._gateway, self._say)]
        owner = server_owner()
        as_owner = [] if owner is None else [
            "setpriv", f"--reuid={owner[0]}", f"--regid={owner[1]}", "--clear-groups", "--"]
        self._dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        self._record()
        data, env = self._dir / "data", {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        locale = "C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "C"
        initdb = [*as_owner, str(bindir / "initdb"), "-D", str(data), "--no-sync", "-E", "UTF8",
                  f"--locale={locale}", "-U", SUPERUSER, "--auth-local=trust",
                  "--auth-host=reject"]
        if owner:
            os.chown(self._dir, *owner)
        self._step("initdb", lambda: proc.run(initdb, timeout=60, env=env, what="initdb"))
        (data / "pg_hba.conf").write_text(hba_rules(gateway=len(addresses) > 1))
        self._port = self._port or free_port(addresses)
        argv = [*as_owner, str(bindir / "postgres"), "-D", str(data), "-p", str(self._port),
                "-k", str(self._dir), "-c", f"listen_addresses={','.join(addresses)}",
                "-c", "unix_socket_permissions=0700", "-c", "password_encryption=scram-sha-256",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "lc_messages=C", "-c", "logging_collector=off"]
        with open(self._dir / "server.log", "ab") as log:  # proc.run is for commands that end
            server = self._server = self._step("start", lambda: subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True))
        self._record()
        self._step("start", lambda: wait_until(
            lambda: server.poll() is not None or self._reachable(), timeout=30,
            what=f"postgres on port {self._port}", pause=0.02, logs=self.logs))
        if server.poll() is not None:
            raise StartupError("postgres", "start", f"server exited with {server.returncode}",
                               self.logs(20))
        # Postgres starts if it can bind any one address; parity needs all of them.
        for address in addresses:
            if f'listening on IPv4 address "{address}", port {self._port}' not in self.logs():
                raise StartupError("postgres", "listen", f"not listening on {address}:"
                                   f"{self._port} (port taken?)", self.logs(20))
        self._step("create role", self._create_role)
        self._say(f"postgres: cluster on {', '.join(addresses)} port {self._port} ready in "
                  f"{time.monotonic() - started:.2f}s ({self._dir})")

    def _create_role(self) -> None:
        with self._admin() as admin, admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(ROLE)),
                        (self._password,))

    def _record(self) -> None:
        if self._run is not None and self.external:
            self._run.record("postgres", {"mode": "external", "server": redact(self._url),
                                          "databases": list(self._created)})
        elif self._run is not None:
            pid = self._server.pid if self._server else None
            self._run.record("postgres", {"mode": "cluster", "dir": str(self._dir), "pid": pid})

    def _teardown(self, *, raising: bool) -> None:
        problems: list[Exception] = []
        try:
            for name in reversed(self._created[:] if self.external else []):
                try:
                    self.drop_database(name)
                except Exception as exc:  # drop the others, report after
                    self._say(f"postgres: could not drop {name}: {exc}")
                    problems.append(exc)
        finally:
            try:
                if self._server is not None:
                    stop_server(self._server.pid)
                    self._server.wait()
            finally:
                self._server = None
                if self._dir is not None:
                    self._last_log = self.logs()
                    shutil.rmtree(self._dir, ignore_errors=True)
                    self._dir = None
                if self._run is not None and not problems:
                    self._run.forget("postgres")
        if problems and raising:
            raise problems[0]




def hba_rules(*, gateway: bool) -> str:
    """pg_hba.conf: trust only on the private socket; parity's role with a password over TCP."""
    rules = ["local all all trust", f"host all {ROLE} {LOOPBACK}/32 scram-sha-256"]
    if gateway:
        rules += [f"host all {ROLE} {pool} scram-sha-256" for pool in DOCKER_POOLS]
    return "# written by parity.environments.postgres.server; nothing else is allowed\n" + "\n".join(rules) + "\n"


def redact(url: str) -> str:
    """The URL with its password replaced by '***'."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{hostport}"))
