"""The database service of the user's own compose file, replaced by the throwaway Postgres.

A compose file made for development runs its own Postgres next to the app (`db: image:
postgres:16`, a volume for its data). parity's runs use their own throwaway database instead,
so that service is never started:

- which one: `[tool.parity.stack] database_service`, else the one service whose image is
  Postgres (`postgres`, `postgresql`, `postgis`); two such services and none named is an error;
- the override removes it (compose's `!reset`): no container, no volume (a named volume only it
  used is not created either), no published port;
- the services that depended on it keep their other dependencies (`depends_on: !override`)
  and so start without it;
- every service whose environment held its connection settings gets the throwaway database's:
  `DATABASE_URL` and libpq's `PG*` (all of them), the postgres image's `POSTGRES_USER`,
  `_PASSWORD`, `_DB`, `_HOST`, `_PORT`, any URL whose host is the service (its scheme kept),
  and a variable naming the service as its host (`DB_HOST=db`) with that variable's siblings
  (`DB_PORT`, `DB_NAME`, `DB_USER`, `DB_PASSWORD`), plus the host gateway to reach it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from parity.environments.stack.composefile import RESET, Replace, ReplaceMapping
from parity.machine import engine as docker_engine
from parity.machine.standins import split_reference
from parity.support.errors import ParityConfigError

POSTGRES_IMAGES = frozenset({"postgres", "postgresql", "postgis"})
"""The last part of an image's repository that makes its service a database service."""
_POSTGRES_VARIABLES = {"POSTGRES_USER": "PGUSER", "POSTGRES_PASSWORD": "PGPASSWORD",
                       "POSTGRES_DB": "PGDATABASE", "POSTGRES_HOST": "PGHOST",
                       "POSTGRES_PORT": "PGPORT"}
_SIBLINGS = {"PORT": "PGPORT", "NAME": "PGDATABASE", "DB": "PGDATABASE", "DATABASE": "PGDATABASE",
             "USER": "PGUSER", "USERNAME": "PGUSER", "PASSWORD": "PGPASSWORD", "PASS": "PGPASSWORD"}
"""A host variable's siblings (DB_HOST=db: DB_PORT, DB_NAME, ...) and what they get."""


def is_postgres(image: str | None) -> bool:
    if not image:
        return False
    repository = split_reference(image.split("@", 1)[0])[0]
    return repository.rsplit("/", 1)[-1] in POSTGRES_IMAGES


def find(resolved: Mapping[str, Any], configured: str | None, *, config_file: str, shown: str,
         skip: tuple[str, ...] = ()) -> str | None:
    """The database service of the resolved compose file: the configured one, which must be
    there, or the only service running a Postgres image (never one of `skip`); None if none."""
    services = resolved.get("services") or {}
    key = "tool.parity.stack.database_service"
    if configured is not None:
        if configured not in services:
            raise ParityConfigError(config_file, key, f"{shown} has no such service",
                                    "name one of its services: " + ", ".join(sorted(services)),
                                    configured)
        return configured
    found = sorted(name for name, spec in services.items()
                   if name not in skip and is_postgres(spec.get("image")))
    if len(found) > 1:
        raise ParityConfigError(config_file, key, f"{shown} runs Postgres in {len(found)} services "
                                f"({', '.join(found)})", "name the one parity replaces with its "
                                "throwaway database, e.g. database_service = " f'"{found[0]}"')
    return found[0] if found else None


def override(resolved: Mapping[str, Any], database: str,
             database_env: Mapping[str, str]) -> dict[str, Any]:
    """The override's `services` entries that replace `database`: it is removed, the others
    start without it, and those that connected to it get `database_env`."""
    services: dict[str, Any] = {database: RESET}
    for name, spec in sorted((resolved.get("services") or {}).items()):
        if name == database:
            continue
        ours: dict[str, Any] = {}
        depends = spec.get("depends_on") or {}
        if database in depends:
            ours["depends_on"] = ReplaceMapping({k: v for k, v in depends.items() if k != database})
        links = list(spec.get("links") or [])
        kept = [link for link in links if link.split(":", 1)[0] != database]
        if kept != links:
            ours["links"] = Replace(kept)
        environment = connection_env(spec.get("environment") or {}, database, database_env)
        if environment:
            ours["environment"] = environment
            ours["extra_hosts"] = [f"{docker_engine.HOST_GATEWAY_NAME}:host-gateway"]
        if ours:
            services[name] = ours
    return services


def connection_env(environment: Mapping[str, Any], database: str,
                   database_env: Mapping[str, str]) -> dict[str, str]:
    """What a service's environment becomes when it held the database service's connection
    settings ({} when it held none): the throwaway database's, in the names it used."""
    replaced: dict[str, str] = {}
    connects = False
    values = {name: "" if value is None else str(value) for name, value in environment.items()}
    for name, value in values.items():
        if name in database_env:
            replaced[name] = database_env[name]
        elif name in _POSTGRES_VARIABLES and _POSTGRES_VARIABLES[name] in database_env:
            replaced[name] = database_env[_POSTGRES_VARIABLES[name]]
        elif value == database or value.startswith(f"{database}:"):
            replaced[name] = _host(value, database_env)
            prefix = name[:-4] if name.endswith("HOST") else None
            for sibling, source in _SIBLINGS.items():
                if prefix and prefix + sibling in values and source in database_env:
                    replaced[prefix + sibling] = database_env[source]
        elif "://" in value and _url_host(value) == database:
            replaced[name] = _url(value, database_env["DATABASE_URL"])
        connects = connects or name.startswith(("PG", "POSTGRES_")) or name in replaced
    return {**database_env, **replaced} if connects else {}


def _host(value: str, database_env: Mapping[str, str]) -> str:
    """"db" → the throwaway database's host; "db:5432" → its host and port."""
    return database_env["PGHOST"] + (f":{database_env['PGPORT']}" if ":" in value else "")


def _url_host(value: str) -> str | None:
    try:
        return urlsplit(value).hostname
    except ValueError:
        return None


def _url(value: str, ours: str) -> str:
    """The throwaway database's URL in the scheme the user's had (`postgres://`,
    `db+postgresql://`)."""
    mine = urlsplit(ours)
    return urlunsplit((urlsplit(value).scheme, mine.netloc, mine.path, mine.query, ""))
