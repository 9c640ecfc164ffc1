"""The database schema an environment's release step left behind, read and compared.

`read_schema(url)` reads one database from the host (psycopg2): tables and views, columns
(type, nullability, default, identity), constraints and indexes with their definitions as
Postgres prints them, extensions, and Django's migration records when the table exists.
`diff_schema(local, stack)` names every difference; a table missing on one side is one line,
not one line per column, constraint and index it carries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import psycopg2

_USER_SCHEMA = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'")
_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view",
          "f": "foreign table"}

_TABLES = f"""
SELECT n.nspname, c.relname, c.relkind FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER_SCHEMA}"""
_COLUMNS = f"""
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND {_USER_SCHEMA}"""
_CONSTRAINTS = f"""
SELECT n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_SCHEMA}"""
_INDEXES = """
SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"""


def _table(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def read_schema(url: str, *, timeout: int = 10) -> dict[str, Any]:
    """The schema of one database as plain, JSON-ready mappings."""
    conn = psycopg2.connect(url, connect_timeout=timeout)
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(_TABLES)
            tables = {_table(s, t): _KINDS.get(k, k) for s, t, k in cur.fetchall()}
            cur.execute(_COLUMNS)
            columns = {}
            for s, t, col, type_, notnull, default, identity, generated in cur.fetchall():
                text = type_ + (" NOT NULL" if notnull else "")
                if identity:
                    text += " GENERATED " + ("ALWAYS" if identity == "a" else "BY DEFAULT") \
                        + " AS IDENTITY"
                if default is not None:
                    text += (" GENERATED ALWAYS AS " if generated else " DEFAULT ") + default
                columns[f"{_table(s, t)}.{col}"] = text
            cur.execute(_CONSTRAINTS)
            constraints = {f"{_table(s, t)}.{name}": d for s, t, name, d in cur.fetchall()}
            cur.execute(_INDEXES)
            indexes = {f"{_table(s, t)}.{name}": d for s, t, name, d in cur.fetchall()}
            cur.execute("SELECT extname FROM pg_extension")
            extensions = sorted(row[0] for row in cur.fetchall())
            migrations = None
            cur.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
            row = cur.fetchone()
            if row and row[0]:
                cur.execute("SELECT app, name FROM django_migrations")
                migrations = sorted(f"{app}.{name}" for app, name in cur.fetchall())
    finally:
        conn.close()
    return {"tables": tables, "columns": columns, "constraints": constraints,
            "indexes": indexes, "extensions": extensions, "migrations": migrations}


def summary(schema: Mapping[str, Any]) -> str:
    """A short display value: '12 tables, 18 migrations'."""
    text = f"{len(schema.get('tables') or {})} tables"
    if schema.get("migrations") is not None:
        text += f", {len(schema['migrations'])} migrations"
    return text


def diff_schema(local: Mapping[str, Any], stack: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every difference as (subject, line); the subject is the table or the migration."""
    found: list[tuple[str, str]] = []
    tables_l, tables_s = local.get("tables") or {}, stack.get("tables") or {}
    for table, kind in _differences(tables_l, tables_s):
        found.append((table, f"schema: {kind}"))
    gone = set(tables_l) ^ set(tables_s)
    for part in ("columns", "constraints", "indexes"):
        singular = part[:-1] if part != "indexes" else "index"
        for key, text in _differences(local.get(part) or {}, stack.get(part) or {}):
            table = key.rsplit(".", 1)[0]
            if table not in gone:
                found.append((table, f"schema: {singular} {text}"))
    for part, singular in (("migrations", "migration"), ("extensions", "extension")):
        mine, theirs = local.get(part), stack.get(part)
        if mine is None and theirs is None:
            continue
        for name, text in _differences(dict.fromkeys(mine or ()), dict.fromkeys(theirs or ())):
            found.append((name, f"schema: {singular} {text}"))
    return found


def _differences(local: Mapping[str, Any], stack: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, 'key missing in stack' | 'key: local 'a', stack 'b''), sorted by key."""
    for key in sorted(set(local) | set(stack)):
        if key not in stack:
            yield key, f"{_described(key, local[key])} missing in stack"
        elif key not in local:
            yield key, f"{_described(key, stack[key])} missing in local"
        elif local[key] != stack[key]:
            yield key, f"{key}: local {local[key]!r}, stack {stack[key]!r}"


def _described(key: str, value: Any) -> str:
    # Tables carry their kind ("view bookings_summary"); the rest are named by key alone.
    return f"{value} {key}" if value in _KINDS.values() else key
