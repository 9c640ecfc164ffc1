"""The baseline's (d) stand-in for parity's fixtures: what a user's own conftest would hold.

Loaded with `-p no:parity -p parity_bench_shim`, it gives the app's unchanged tests an `http`
(a requests.Session bound to BENCH_BASE_URL) and an `environment` (name, base_url, db from
BENCH_DATABASE_URL): one environment, no recording, no comparison, no parity.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest
import requests


class BaseUrlSession(requests.Session):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
            text = f"{self.base_url}/{text.lstrip('/')}"
        kwargs.setdefault("timeout", 30)
        return super().request(method, text, *args, **kwargs)

    def ignore(self, **declared: Any) -> None:
        """parity's per-test noise declaration: nothing to declare without a comparison."""


class Environment:
    def __init__(self, name: str, base_url: str, database_url: str) -> None:
        self.name, self.base_url, self.database_url = name, base_url, database_url
        self._db: psycopg2.extensions.connection | None = None

    @property
    def db(self) -> psycopg2.extensions.connection:
        if self._db is None:
            self._db = psycopg2.connect(self.database_url)
            self._db.autocommit = True
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def pytest_configure(config: pytest.Config) -> None:
    for marker in ("parity_skip(reason): parity marker", "only_in(name): parity marker",
                   "parity_ignore: parity marker"):
        config.addinivalue_line("markers", marker)


@pytest.fixture(scope="session")
def environment() -> Iterator[Environment]:
    env = Environment("stack", os.environ["BENCH_BASE_URL"], os.environ["BENCH_DATABASE_URL"])
    yield env
    env.close()


@pytest.fixture
def http(environment: Environment) -> Iterator[BaseUrlSession]:
    with BaseUrlSession(environment.base_url) as session:
        yield session
