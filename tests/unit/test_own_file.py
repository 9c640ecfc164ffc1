"""An own compose file with `build:` services and its own Postgres: which service is the
database, what the override does to it and to the services that used it, the build's progress
lines, and the override document as a whole (no Docker: resolved files are written here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from parity.configuration import load_config
from parity.environments.runs import LABEL
from parity.environments.stack import composebuild, dbservice
from parity.environments.stack.composebuild import Built, StepLog
from parity.environments.stack.composefile import RESET, Replace, ReplaceMapping, compose_yaml, merged
from parity.environments.stack.ownfile import OwnFile
from parity.environments.stack.stack import Stack
from parity.support.errors import CommandError, ParityConfigError, StartupError

TINYAPP = Path(__file__).parent.parent / "apps" / "tinyapp"
OURS = {"DATABASE_URL": "postgresql://parity:s3cret@host.docker.internal:5433/parity_r1_stack",
        "PGHOST": "host.docker.internal", "PGPORT": "5433", "PGUSER": "parity",
        "PGPASSWORD": "s3cret", "PGDATABASE": "parity_r1_stack"}
HEALTHY = {"condition": "service_healthy", "required": True}
STARTED = {"condition": "service_started", "required": True}


def resolved() -> dict[str, Any]:
    """What `docker compose config --format json` says of a typical development file."""
    return {"services": {
        "web": {"build": {"context": "/src", "dockerfile": "Dockerfile"},
                "environment": {"DATABASE_URL": "postgres://app:app@db:5432/app",
                                "REDIS_URL": "redis://redis:6379/0"},
                "depends_on": {"db": HEALTHY, "redis": STARTED},
                "ports": [{"target": 8000, "published": "8000"}]},
        "worker": {"image": "shop:latest", "links": ["db:database", "redis"],
                   "environment": {"DB_HOST": "db", "DB_PORT": "5432", "DB_NAME": "app",
                                   "DB_USER": "app", "DB_PASSWORD": "app", "QUEUE": "default"},
                   "depends_on": {"db": HEALTHY}},
        "db": {"image": "postgres:16", "environment": {"POSTGRES_PASSWORD": "app"},
               "ports": [{"target": 5432, "published": "5432"}]},
        "redis": {"build": {"context": "/src/redis"}, "environment": {"LOGLEVEL": "notice"}},
    }}


# --- which service is the database ---------------------------------------------------------

def find(file: dict[str, Any], configured: str | None = None) -> str | None:
    return dbservice.find(file, configured, config_file="pyproject.toml", shown="compose.yaml",
                          skip=("web",))


def test_the_only_service_running_postgres_is_the_database_service() -> None:
    assert find(resolved()) == "db"
    for image in ("postgres", "docker.io/library/postgres:16-alpine", "postgis/postgis:16-3.4",
                  "bitnami/postgresql:16", "postgres@sha256:" + "0" * 64):
        assert dbservice.is_postgres(image), image
    for image in ("redis:7", "shop:latest", "mypostgres-exporter:1", None, ""):
        assert not dbservice.is_postgres(image), image
    assert find({"services": {"web": {"image": "postgres:16"}}}) is None  # the app is no database


def test_two_postgres_services_must_be_told_apart_and_a_named_one_must_exist() -> None:
    file = resolved()
    file["services"]["reports-db"] = {"image": "postgres:15"}
    with pytest.raises(ParityConfigError) as ambiguous:
        find(file)
    assert ambiguous.value.key == "tool.parity.stack.database_service"
    assert "runs Postgres in 2 services (db, reports-db)" in ambiguous.value.problem
    assert 'database_service = "db"' in ambiguous.value.fix
    assert find(file, "reports-db") == "reports-db"
    with pytest.raises(ParityConfigError) as missing:
        find(file, "database")
    assert "compose.yaml has no such service" in str(missing.value)
    assert "db, redis, reports-db, web, worker" in missing.value.fix


# --- what the override does ------------------------------------------------------------------

def test_the_database_service_is_removed_and_its_dependents_start_without_it() -> None:
    services = dbservice.override(resolved(), "db", OURS)
    assert services["db"] is RESET
    assert services["web"]["depends_on"] == {"redis": STARTED}
    assert isinstance(services["web"]["depends_on"], ReplaceMapping)
    assert services["worker"]["depends_on"] == {}
    assert services["worker"]["links"] == ["redis"] and isinstance(services["worker"]["links"], Replace)
    assert "redis" not in services  # nothing of it used the database: as the file says


def test_every_service_that_connected_gets_the_throwaway_database_in_its_own_names() -> None:
    services = dbservice.override(resolved(), "db", OURS)
    web, worker = services["web"]["environment"], services["worker"]["environment"]
    # What named the database now names the throwaway one; the rest stays as the file says.
    assert web["DATABASE_URL"] == OURS["DATABASE_URL"]
    assert "REDIS_URL" not in web
    assert {k: worker[k] for k in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD")} == {
        "DB_HOST": "host.docker.internal", "DB_PORT": "5433", "DB_NAME": "parity_r1_stack",
        "DB_USER": "parity", "DB_PASSWORD": "s3cret"}
    assert "QUEUE" not in worker
    for env in (web, worker):  # and libpq's variables, wherever a service connected
        assert {k: env[k] for k in OURS if k != "DATABASE_URL"} == {k: v for k, v in OURS.items()
                                                                    if k != "DATABASE_URL"}
    assert services["web"]["extra_hosts"] == ["host.docker.internal:host-gateway"]


@pytest.mark.parametrize(("environment", "expected"), [
    ({"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "x", "POSTGRES_DB": "app", "POSTGRES_HOST": "db"},
     {"POSTGRES_USER": "parity", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "parity_r1_stack",
      "POSTGRES_HOST": "host.docker.internal"}),
    ({"PGHOST": "db", "PGSSLMODE": "disable"}, {"PGHOST": "host.docker.internal"}),
    ({"DATABASE_URL": None}, {"DATABASE_URL": OURS["DATABASE_URL"]}),
    ({"CELERY_RESULT_BACKEND": "db+postgresql://app:app@db/app"},
     {"CELERY_RESULT_BACKEND": "db+postgresql://parity:s3cret@host.docker.internal:5433/parity_r1_stack"}),
    ({"DB_ADDRESS": "db:5432"}, {"DB_ADDRESS": "host.docker.internal:5433"}),
], ids=["postgres-image-names", "libpq", "passed-through", "url-in-other-scheme", "host-and-port"])
def test_connection_settings_in_the_names_a_service_used(environment: dict[str, Any],
                                                         expected: dict[str, str]) -> None:
    found = dbservice.connection_env(environment, "db", OURS)
    assert {k: found[k] for k in expected} == expected
    assert found["DATABASE_URL"] and found["PGPASSWORD"] == "s3cret"


def test_a_service_that_never_connected_gets_nothing() -> None:
    assert dbservice.connection_env({"REDIS_URL": "redis://redis:6379/0", "DEBUG": "dbg",
                                     "SEARCH_URL": "http://search:9200/dbindex"}, "db", OURS) == {}


def test_the_override_writes_compose_tags() -> None:
    document = {"services": {"db": RESET, "web": {"depends_on": ReplaceMapping({}),
                                                  "ports": Replace(["127.0.0.1::8000"])}}}
    text = compose_yaml(document)
    assert '"db": !reset null' in text
    assert '"depends_on": !override {}' in text and '"ports": !override ["127.0.0.1::8000"]' in text
    assert merged({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]}) == {"a": {"b": 1, "c": 3}, "l": [2]}


# --- the `build:` services -------------------------------------------------------------------

def test_built_services_get_parity_labels_and_a_per_run_name_where_the_file_names_none() -> None:
    file = resolved()
    file["services"]["web"]["image"] = "shop:latest"
    assert composebuild.build_services(file) == ["redis", "web"]
    services = composebuild.override(file, "shop", "r1")
    assert "image" not in services["web"]  # the file's own tag, as `docker compose build` gives it
    assert services["web"]["build"]["labels"] == {"parity.app": "shop", "parity.service": "web"}
    assert services["redis"]["image"] == "parity/shop-redis:r1"
    assert services["redis"]["build"]["labels"][LABEL] == "r1"  # `parity clean` finds a killed run's
    assert composebuild.run_images(file, "shop", "r1") == {"redis": "parity/shop-redis:r1"}


BUILDKIT = """\
#0 building with "default" instance using docker driver

#1 [web internal] load build definition from Dockerfile
#1 DONE 0.0s

#4 [web 1/4] FROM docker.io/library/python:3.11-slim
#4 DONE 0.0s

#6 [web 2/4] RUN apt-get update && apt-get install -y postgresql-client
#6 CACHED

#7 [web 3/4] COPY requirements.txt /tmp/
#7 CACHED

#8 [web 4/4] RUN pip install -r /tmp/requirements.txt
#8 0.912 Collecting Django==5.2.19
#8 DONE 8.5s

#9 [web] exporting to image
#9 DONE 0.3s
"""

CLASSIC = """\
Step 1/4 : FROM python:3.11-slim
 ---> bf6a932ccd7e
Step 2/4 : COPY requirements.txt /tmp/
 ---> Using cache
 ---> b586a3b7f032
Step 3/4 : RUN pip install -r /tmp/requirements.txt
 ---> Running in 23892846bb39
Successfully installed Django-5.2.19
Step 4/4 : USER app
 ---> Running in 3c4d5e6f7a8b
Successfully built b66881e4ae2e
"""


@pytest.mark.parametrize(("output", "steps", "cached", "announced"), [
    (BUILDKIT, 3, 2, ["stack: build web 4/4 RUN pip install -r /tmp/requirements.txt"]),
    (CLASSIC, 3, 1, ["stack: build web 3/4 RUN pip install -r /tmp/requirements.txt",
                     "stack: build web 4/4 USER app"]),
], ids=["buildkit", "classic"])
def test_steps_that_run_are_announced_and_cached_ones_counted(output: str, steps: int, cached: int,
                                                              announced: list[str]) -> None:
    said: list[str] = []
    log = StepLog("web", said.append)
    for line in output.splitlines():
        log.feed(line)
    log.flush()
    assert (log.steps, log.cached, said) == (steps, cached, announced)


def test_the_summary_says_what_came_from_the_build_cache() -> None:
    assert Built("web", 7, 7, 0.8).summary() == \
        "stack: web image unchanged: all 7 steps from the build cache (0.8s)"
    assert Built("redis", 1, 1, 0.4).summary().endswith("its 1 step from the build cache (0.4s)")
    assert Built("web", 7, 5, 12.34).summary() == \
        "stack: web image built in 12.3s (5 of 7 steps from the build cache)"


# --- the override as a whole -----------------------------------------------------------------

def own_stack(tmp_path: Path, stack_keys: str) -> Stack:
    shutil.copytree(TINYAPP, tmp_path, dirs_exist_ok=True)
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    with open(tmp_path / "pyproject.toml", "a") as pyproject:
        pyproject.write('\n[tool.parity.stack]\ncompose_file = "docker-compose.yml"\n' + stack_keys)
    config = load_config(tmp_path / "pyproject.toml", environ={})
    return Stack(config, OURS, run=SimpleNamespace(id="r1"))  # type: ignore[arg-type]


def test_without_a_frontend_the_app_service_publishes_its_port_once(tmp_path: Path) -> None:
    stack = own_stack(tmp_path, 'app_service = "web"\nentry_service = "web"\nentry_port = 8000\n')
    stack.own = OwnFile(resolved(), "db", {"web": ["8000"]})
    stack.user_ports = stack.own.ports
    services = stack.compose_document()["services"]
    web = services["web"]
    assert web["ports"] == ["127.0.0.1::8000"] and isinstance(web["ports"], Replace)
    # parity's environment for the app service wins over the file's moved settings ...
    assert web["environment"]["DATABASE_URL"] == OURS["DATABASE_URL"]
    assert web["environment"]["DJANGO_SETTINGS_MODULE"] == "tinyapp.settings"
    # ... and the database service's removal, the dependencies and the build labels are merged in.
    assert web["depends_on"] == {"redis": STARTED}
    assert web["build"]["labels"]["parity.service"] == "web"
    assert web["image"] == "parity/" + stack.config.name + "-web:r1"
    assert services["db"] is RESET
    assert services["worker"]["environment"]["DB_HOST"] == "host.docker.internal"
    assert "labels" not in services["worker"]  # parity labels what it runs the tests through
    text = compose_yaml(stack.compose_document())
    assert json.loads(text.replace("!reset null", "null").replace("!override ", ""))["services"]["db"] is None


def test_a_build_script_builds_everything_itself(tmp_path: Path) -> None:
    (tmp_path / "build.sh").write_text("true\n")
    stack = own_stack(tmp_path, 'build = "build.sh"\napp_service = "web"\n')
    stack.own = OwnFile(resolved(), "db", {})
    services = stack.compose_document()["services"]
    assert "build" not in services["web"] and "redis" not in services
    assert services["db"] is RESET


def test_a_failing_build_names_the_service_and_the_telling_line() -> None:
    output = """\
#12 [web 8/8] RUN python -c 'import nonexistent_module'
#12 0.633 ModuleNotFoundError: No module named 'nonexistent_module'
#12 ERROR: executor failed running [/bin/sh -c python -c 'import nonexistent_module']: exit code: 1
------
 > [web 8/8] RUN python -c 'import nonexistent_module':
0.633 ModuleNotFoundError: No module named 'nonexistent_module'
------
failed to solve: executor failed running [/bin/sh -c python -c 'import nonexistent_module']: exit code: 1
"""

    def compose(*args: str, **options: Any) -> str:
        for line in output.splitlines():
            options["on_line"](line)
        raise CommandError(["docker", "compose", *args], 1, output, options["what"])

    said: list[str] = []
    with pytest.raises(StartupError) as failed:
        composebuild.build(compose, ["web"], "docker-compose.yml", said.append)
    assert failed.value.step == "image build (web)"
    assert failed.value.cause == "ModuleNotFoundError: No module named 'nonexistent_module'"
    assert "#12 ERROR" in failed.value.log_tail
    assert said == ["stack: building web (docker-compose.yml build:)",
                    "stack: build web 8/8 RUN python -c 'import nonexistent_module'"]


def test_each_service_is_built_on_its_own_with_plain_progress() -> None:
    calls: list[tuple[str, ...]] = []

    def compose(*args: str, **options: Any) -> str:
        calls.append(args)
        for line in BUILDKIT.replace("web", args[-1]).splitlines():
            options["on_line"](line)
        return ""

    built = composebuild.build(compose, ["redis", "web"], "compose.yaml", lambda line: None)
    assert calls == [("--progress", "plain", "build", "redis"), ("--progress", "plain", "build", "web")]
    assert [(b.service, b.steps, b.cached) for b in built] == [("redis", 3, 2), ("web", 3, 2)]
