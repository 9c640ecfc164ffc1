"""What a test sees of one environment: name, base URL, its database, its logs, its host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions


@dataclass
class Environment:
    """One side of the comparison ("local" or "stack"), as handed to tests."""

    name: str
    base_url: str
    database_url: str
    host_spec: str
    _logs: Callable[[], str] = field(repr=False)
    ca_bundle: str | None = None
    """The CA certificate to trust for this environment's https base URL (the stack's
    throwaway CA); None: the system's trust, or plain http."""
    _db: psycopg2.extensions.connection | None = field(default=None, repr=False)
    _host: Any = field(default=None, repr=False)

    @property
    def db(self) -> psycopg2.extensions.connection:
        """A psycopg2 connection to THIS environment's database (autocommit: it sees what the app wrote)."""
        if self._db is None or self._db.closed:
            self._db = psycopg2.connect(self.database_url)
            self._db.autocommit = True
        return self._db

    @property
    def host(self) -> Any:
        """A testinfra host: `local://` for the virtualenv side, `docker://<container>` for the stack."""
        if self._host is None:
            import testinfra

            self._host = testinfra.get_host(self.host_spec)
        return self._host

    def logs(self) -> str:
        return self._logs()

    def close(self) -> None:
        if self._db is not None and not self._db.closed:
            self._db.close()
        self._db = None

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, base_url={self.base_url!r}, host={self.host_spec!r})"
