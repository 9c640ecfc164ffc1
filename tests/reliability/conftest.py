"""Fixtures of the reliability suite: private copies of tinyapp, each with its own TMPDIR and
PARITY_STATE_DIR, whose leftovers are counted (and, after the assertions, removed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import harness, leftovers
from tests.reliability.harness import Case


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    root = harness.scratch_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def warm_app(scratch: Path) -> Iterator[harness.App]:
    """One tinyapp copy whose images are built once: runs of it start warm (~3 s)."""
    app = harness.make_app(scratch, "relwarm")
    done = harness.parity_cli(app, "build", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    yield app
    harness.remove_app_images(app.name)


@pytest.fixture
def warm(warm_app: harness.App) -> Iterator[Case]:
    warm_app.reset_private_dirs()
    case = Case(warm_app, warm_app.scope(leftovers.image_ids()))
    yield case
    leftovers.remove_all(case.scope)


@pytest.fixture
def cold(scratch: Path) -> Iterator[Case]:
    """A tinyapp copy with a settings module of its own: its first run builds for real."""
    app = harness.make_app(scratch, "relcold", unique_settings=True)
    case = Case(app, app.scope(leftovers.image_ids()))
    yield case
    leftovers.remove_all(case.scope)
    harness.remove_app_images(app.name)
    shutil.rmtree(app.dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def external_url() -> Iterator[str]:
    """An "existing server" for PARITY_DATABASE_URL: a cluster of our own whose `parity` role
    may create databases, as a shared development server's account would."""
    import psycopg2

    from parity.environments.postgres.server import Postgres

    with Postgres("relexternal", database_url="") as server:
        admin = psycopg2.connect(host=str(server.directory), port=server.port, user="postgres",
                                 dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("ALTER ROLE parity CREATEDB")
        admin.close()
        yield f"postgresql://parity:{server.password}@127.0.0.1:{server.port}/postgres"
