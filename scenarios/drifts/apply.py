"""Materialize a drift scenario: its base app copied to a directory, with the drift applied.

    python scenarios/drifts/apply.py 03-upload-over-nginx-limit /tmp/drift
    cd /tmp/drift/labbook && pytest --parity

A scenario directory holds `expected.toml` (what parity must report, see README.md), and the
one change it makes to its base app (`base`, default "labbook"):

    overlay/       files copied over the copy of the base app (a test, a deploy file, ...)
    config.toml    a fragment deep-merged into the copy's [tool.parity] table

`extends = "<scenario>"` applies that scenario's overlay and config first (a drift plus one
declaration). `stack_mode = "own"` switches the copy to the app's own deploy/ compose file
and build script; `stack_mode = "file"` says the base names its own compose file itself
(pinboard: its Dockerfile and docker-compose.yml, as they are). `shell_env` is not applied
here: it is what the shell that runs `pytest --parity` sets, and the printed command shows it.

Standard library only, so it runs with any Python 3.11.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DRIFTS = Path(__file__).resolve().parent
SCENARIOS = DRIFTS.parent
OWN_STACK = {
    "compose_file": "deploy/compose.yaml",
    "build": "deploy/build.sh",
    "app_service": "app",
    "app_port": 8000,
    "entry_service": "frontend",
    "entry_port": 80,
}
"""labbook's own deploy/ (the commented example in its pyproject.toml)."""
LEFT_OUT = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", "parity-report.*", "staticfiles", ".venv",
)
"""What a copy leaves out: what git ignores in the base app, so its images stay the same."""


def scenario_dirs() -> list[Path]:
    """Every drift scenario, in order."""
    return sorted(p for p in DRIFTS.iterdir() if (p / "expected.toml").is_file())


def load_expected(scenario: Path) -> dict[str, Any]:
    with open(scenario / "expected.toml", "rb") as file:
        return tomllib.load(file)


def materialize(scenario: Path, destination: Path) -> Path:
    """Copy the scenario's base app into destination/<base> and apply the drift; returns the
    app directory. The base keeps its directory name, so parity names its images the same."""
    expected = load_expected(scenario)
    chain = [scenario]
    parent = expected.get("extends")
    if parent:
        # A scenario that is another one plus a declaration: its overlay and config first.
        chain.insert(0, DRIFTS / str(parent))
    app = copy_base(str(expected.get("base", "labbook")), destination)
    fragment: dict[str, Any] = {}
    for step in chain:
        overlay = step / "overlay"
        if overlay.is_dir():
            shutil.copytree(overlay, app, dirs_exist_ok=True, ignore=LEFT_OUT)
        if (step / "config.toml").is_file():
            with open(step / "config.toml", "rb") as file:
                fragment = merge(fragment, tomllib.load(file))
    configure(app, fragment, str(expected.get("stack_mode", "generated")), scenario.name)
    return app


def copy_base(base_name: str, destination: Path) -> Path:
    """A copy of scenarios/<base_name> at destination/<base_name>."""
    base = SCENARIOS / base_name
    if not (base / "pyproject.toml").is_file():
        raise SystemExit(f"base {base} has no pyproject.toml")
    app = destination / base.name
    shutil.copytree(base, app, ignore=LEFT_OUT, symlinks=True)
    return app


def configure(app: Path, fragment: Mapping[str, Any], stack_mode: str, what: str) -> None:
    """Merge `fragment` into the copy's [tool.parity]; "own" adds labbook's deploy/ keys,
    "file" keeps the compose file the base names itself."""
    if stack_mode == "own":
        fragment = merge({"stack": OWN_STACK}, fragment)  # the scenario's own keys win
    elif stack_mode not in ("generated", "file"):
        raise SystemExit(f"{what}: stack_mode {stack_mode!r}: use \"generated\", \"own\" or \"file\"")
    if fragment:
        apply_fragment(app / "pyproject.toml", fragment)


def apply_fragment(pyproject: Path, fragment: Mapping[str, Any]) -> None:
    """Deep-merge `fragment` into [tool.parity] of `pyproject` (rewritten without comments)."""
    with open(pyproject, "rb") as file:
        data = tomllib.load(file)
    tool = data.setdefault("tool", {})
    tool["parity"] = merge(tool.get("parity", {}), fragment)
    pyproject.write_text(dumps(data), encoding="utf-8")


def merge(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value in `change` replaces the base's."""
    merged = dict(base)
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def dumps(data: Mapping[str, Any]) -> str:
    """TOML for what pyproject files hold: tables, strings, numbers, booleans, lists of those."""
    lines: list[str] = []
    _table(data, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(table: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    if path and (scalars or not table):
        lines += ["", "[" + ".".join(_key(p) for p in path) + "]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
    for key, value in table.items():
        if isinstance(value, Mapping):
            _table(value, (*path, key), lines)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else _string(key)


def _string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def command(expected: Mapping[str, Any]) -> str:
    """The shell command that runs the scenario, as a person would type it."""
    env = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in expected.get("shell_env", {}).items())
    argv = ["pytest", "--parity", *expected.get("args", [])]
    return (env + " " if env else "") + shlex.join(argv)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        names = ", ".join(p.name for p in scenario_dirs())
        print(f"usage: apply.py SCENARIO DESTINATION\nscenarios: {names}", file=sys.stderr)
        return 2
    scenario = Path(argv[0])
    if not scenario.is_dir():
        scenario = DRIFTS / argv[0]
    if not (scenario / "expected.toml").is_file():
        print(f"{argv[0]}: no such scenario (no expected.toml)", file=sys.stderr)
        return 2
    destination = Path(argv[1])
    destination.mkdir(parents=True, exist_ok=True)
    app = materialize(scenario, destination)
    print(f"{scenario.name} -> {app}\nrun: cd {shlex.quote(str(app))} && {command(load_expected(scenario))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
