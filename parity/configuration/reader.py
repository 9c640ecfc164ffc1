"""Validation helpers for `[tool.parity]`: typed reads of TOML values that fail with a
ParityConfigError naming the file, the key, the value and the fix."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parity.support.errors import ParityConfigError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Reader:
    """Validation helpers that know which file they report on."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.shown = str(file)

    def error(self, key: str, problem: str, fix: str, value: object = None) -> ParityConfigError:
        return ParityConfigError(self.shown, key, problem, fix, value)

    def check_keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "accepted keys: " + ", ".join(allowed)
            raise self.error(f"{prefix}.{key}", "unknown key", hint)

    def string(self, table: Mapping[str, Any], key: str, prefix: str, default: str | None) -> str | None:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            raise self.error(f"{prefix}.{key}", f"must be a string, not {toml_type(value)}",
                             f'write it in quotes, e.g. {key} = "{value}"', value)
        if not value.strip():
            raise self.error(f"{prefix}.{key}", "must not be empty", "give a value or remove the key", value)
        return value

    def integer(self, table: Mapping[str, Any], key: str, prefix: str, default: int,
                low: int, high: int) -> int:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{prefix}.{key}", f"must be an integer, not {toml_type(value)}",
                             f"write a number between {low} and {high} without quotes", value)
        if not low <= value <= high:
            raise self.error(f"{prefix}.{key}", "out of range",
                             f"use a number between {low} and {high}", value)
        return value

    def number(self, table: Mapping[str, Any], key: str, prefix: str, default: float) -> float:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(f"{prefix}.{key}", "must be a positive number of seconds",
                             f"e.g. {key} = 30", value)
        return float(value)

    def string_list(self, table: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        if key not in table:
            return ()
        value = table[key]
        if isinstance(value, str):
            raise self.error(f"{prefix}.{key}", "must be a list of strings, not a string",
                             f'wrap it in brackets: {key} = ["{value}"]', value)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(f"{prefix}.{key}", "must be a list of non-empty strings",
                             f'e.g. {key} = ["a", "b"]', value)
        return tuple(value)

    def env_table(self, table: Mapping[str, Any], key: str, prefix: str) -> dict[str, str]:
        if key not in table:
            return {}
        value = table[key]
        if not isinstance(value, dict):
            raise self.error(f"{prefix}.{key}", f"must be a table, not {toml_type(value)}",
                             f'write {key} = {{ NAME = "value" }}', value)
        env: dict[str, str] = {}
        for name, item in value.items():
            if not ENV_NAME.match(name):
                raise self.error(f"{prefix}.{key}.{name}", "is not a valid environment variable name",
                                 "use letters, digits and underscores, not starting with a digit")
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.error(f"{prefix}.{key}.{name}", f"must be a string, not {toml_type(item)}",
                                 f'quote the value, e.g. {name} = "1"', item)
            if not isinstance(item, str):
                raise self.error(f"{prefix}.{key}.{name}", "must be a string, not a number",
                                 f'quote the value: {name} = "{item}"', item)
            env[name] = item
        return env

    def subtable(self, table: Mapping[str, Any], key: str, prefix: str) -> Mapping[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise self.error(f"{prefix}.{key}", f"must be a table, not {toml_type(value)}",
                             f"write it as a [{prefix}.{key}] section", value)
        return value

    def inside(self, base: Path, relative: str, key: str) -> Path:
        candidate = Path(relative)
        if candidate.is_absolute():
            raise self.error(key, "must be a path relative to the project",
                             f"give it relative to {base}", relative)
        resolved = (base / candidate).resolve()
        if not resolved.is_relative_to(base.resolve()):
            raise self.error(key, "escapes the project directory",
                             f"point it at something inside {base}", relative)
        return resolved


def toml_type(value: object) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "a list", dict: "a table",
    }.get(type(value), type(value).__name__)
