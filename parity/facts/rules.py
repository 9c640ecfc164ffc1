"""The per-fact comparison rules: how each fact's two sides are shown, and how they may differ.

`RULES[name](local, stack)` takes one fact's raw data from both sides (as gathered by
parity.facts.gather) and returns how each side is shown plus one Diff per difference, with its
severity; parity.facts.gather.compare_facts applies the declared expected differences and ranks them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from parity.facts.schema import diff_schema, summary

# The machinery of a virtualenv or an image, and the server parity adds to the image: never
# part of the app's behavior, so their differences are information only.
TOOLING = frozenset({"pip", "setuptools", "wheel", "distribute", "pkg-resources"})
SERVERS = frozenset({"gunicorn", "uwsgi", "pyuwsgi", "uvicorn", "daphne", "hypercorn", "waitress"})
# Names that differ between a developer's shell and a container by nature.
SHELL_NOISE = frozenset({"PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "TERM", "_",
                         "USER", "LOGNAME", "SHELL", "MAIL", "LS_COLORS"})
_UTC = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Universal", "UCT", "Etc/UCT", "Zulu",
                  "Etc/Zulu", "GMT", "Etc/GMT", "Etc/GMT0", "GMT0", "Greenwich"})


@dataclass(frozen=True)
class Diff:
    """One difference a rule found; unless not `declarable`, `[tool.parity.facts] expected`
    may name its `subject`."""

    subject: str
    severity: str
    text: str
    declarable: bool = True


def _release(version: str) -> tuple[int, ...]:
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in numbers[0].split(".")) if numbers else ()


def _version_severity(mine: str, theirs: str) -> str:
    """fail at another major.minor (or unparseable), warn at another patch level."""
    a, b = _release(mine), _release(theirs)
    if not a or not b or a[:2] != b[:2]:
        return "fail"
    return "warn"


_Rule = Callable[[dict[str, Any], dict[str, Any]], tuple[str, str, list[Diff]]]


def _python(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    shown = [f"{s['implementation']} {s['version']}" for s in (local, stack)]
    diffs = []
    if shown[0] != shown[1]:
        same_impl = local["implementation"] == stack["implementation"]
        severity = _version_severity(local["version"], stack["version"]) if same_impl else "fail"
        level = " (patch level)" if severity == "warn" else ""
        diffs.append(Diff("python", severity,
                          f"python: local {shown[0]}, stack {shown[1]}{level}"))
    return shown[0], shown[1], diffs


def _packages(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    mine: dict[str, str] = local["installed"]
    theirs: dict[str, str] = stack["installed"]
    imported = {**(stack.get("imported") or {}), **(local.get("imported") or {})}
    lazy = {**(stack.get("lazy") or {}), **(local.get("lazy") or {})}
    required = {*(local.get("required") or ()), *(stack.get("required") or ())}
    diffs, unused = [], []
    for name in sorted(set(mine) | set(theirs)):
        a, b = mine.get(name), theirs.get(name)
        if a == b:
            continue
        tool = name in TOOLING
        matters = b is not None or name in imported or name in required or name in lazy
        marker = _interpreter_marker(name, local if b is None else stack, b is None)
        if marker and (a is None or b is None) and matters:
            diffs.append(Diff(name, "info", marker))
        elif b is None:
            if name in imported and not tool:
                diffs.append(Diff(name, "fail", f"package {name}: installed locally ({a}), "
                                  f"missing in the stack, imported by {imported[name]}"))
            elif name in required and not tool:
                diffs.append(Diff(name, "fail", f"package {name}: local {a}, stack missing "
                                  "(listed in the requirements)"))
            elif name in lazy and not tool:
                diffs.append(Diff(name, "warn", f"package {name}: installed locally ({a}), "
                                  f"missing in the stack, imported inside a block by "
                                  f"{lazy[name]} (breaks when that code runs)"))
            else:
                unused.append(name)
        elif a is None:
            severity = "info" if tool or name in SERVERS else "fail"
            diffs.append(Diff(name, severity, f"package {name}: local missing, stack {b}"))
        else:
            severity = "info" if tool else _version_severity(a, b)
            why = _older_for_python(name, a, local, stack)
            diffs.append(Diff(name, "warn" if why and severity == "fail" else severity,
                              f"package {name}: local {a}, stack {b}" + (f": {why}" if why else "")))
    if unused:
        diffs.append(Diff("local-only", "info", f"{len(unused)} packages installed locally "
                          f"only, not imported by the app: {', '.join(unused)}"))
    changed = sum(mine[n] != theirs[n] for n in set(mine) & set(theirs))
    return (f"{len(mine)} installed, {len(set(mine) - set(theirs))} only here",
            f"{len(theirs)} installed, {len(set(theirs) - set(mine))} only here, {changed} changed",
            diffs)


def _interpreter_marker(name: str, side: dict[str, Any], local_only: bool) -> str | None:
    """Why a package is on one side only, when an environment marker on the Python version
    of one of that side's packages put it there (e.g. `async-timeout; python_full_version <
    "3.11.3"` from redis: installed where that side's Python is older)."""
    needed_by = (side.get("interpreter_markers") or {}).get(name)
    if not needed_by:
        return None
    where, python = ("locally", side.get("python", "?")) if local_only else ("in the stack",
                                                                             side.get("python", "?"))
    version = (side.get("installed") or {}).get(name, "?")
    return (f"package {name}: {version} {where} only: required there by {'; '.join(needed_by)}, "
            f"a marker that Python {python} meets and the other side's does not")


def _older_for_python(name: str, local_version: str, local: dict[str, Any],
                      stack: dict[str, Any]) -> str | None:
    """Why the image got another version than the virtualenv: the local release's
    Requires-Python excludes the image's Python, so pip chose an older release there."""
    specifier, python = (local.get("requires_python") or {}).get(name), stack.get("python")
    if not specifier or not python:
        return None
    try:
        excluded = not SpecifierSet(specifier).contains(python, prereleases=True)
    except InvalidSpecifier:
        return None
    if not excluded:
        return None
    return (f"{name} {local_version} requires Python {specifier}, the image runs {python}: "
            "pip chose the newest release that supports it")


def _libpq_version(number: int) -> str:
    if number >= 100000:
        return f"{number // 10000}.{number % 10000}"
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def _linked(raw: dict[str, Any]) -> str:
    return f" ({', '.join(raw['linked'])})" if raw.get("linked") else ""


def _libpq(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    """The libpq each side's driver loads (psycopg 3: binary, C or pure Python; psycopg2)."""
    shown = ["missing" if "missing" in s else _libpq_version(s["runtime"]) + _linked(s)
             for s in (local, stack)]
    if shown[0] == shown[1]:
        drivers = [s.get("driver") for s in (local, stack)]
        if drivers[0] != drivers[1]:
            return shown[0], shown[1], [Diff("libpq", "info", f"libpq: the same library through "
                                             f"other drivers: local {drivers[0]}, stack "
                                             f"{drivers[1]}")]
        return shown[0], shown[1], []
    if "missing" in local or "missing" in stack:
        severity = "fail"
    elif local["runtime"] // 10000 != stack["runtime"] // 10000:
        severity = "fail"
    else:
        severity = "warn" if local["runtime"] != stack["runtime"] else "info"
    detail = f"libpq: local {shown[0]}, stack {shown[1]}"
    drivers = [s.get("driver") or s.get("missing") for s in (local, stack)]
    if any(drivers):
        detail += f" (drivers: local {drivers[0]}, stack {drivers[1]})"
    return shown[0], shown[1], [Diff("libpq", severity, detail)]


def _libssl(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    shown = [s["version"] for s in (local, stack)]
    diffs = []
    if local["info"] != stack["info"]:
        severity = "fail" if local["info"][:2] != stack["info"][:2] else "warn"
        diffs.append(Diff("libssl", severity, f"libssl: local {shown[0]}, stack {shown[1]}"))
    elif local.get("linked") != stack.get("linked"):
        diffs.append(Diff("libssl", "info", f"libssl: same version, other files: local"
                          f"{_linked(local) or ' (none)'}, stack{_linked(stack) or ' (none)'}"))
    return shown[0], shown[1], diffs


def _zone(raw: dict[str, Any]) -> str:
    zone = (raw.get("TZ") or "").lstrip(":") or raw.get("localtime") or raw.get("etc_timezone") \
        or (raw.get("tzname") or ["?"])[0]
    return "UTC" if zone in _UTC else str(zone)


def _timezone(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    shown = [f"{_zone(s)} ({s.get('offset', '?')})" for s in (local, stack)]
    diffs = []
    if shown[0] != shown[1]:
        diffs.append(Diff("timezone", "warn", f"timezone: local {shown[0]}, stack {shown[1]}"))
    return shown[0], shown[1], diffs


def _locale(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    shown = [f"{s['locale']}, {s['encoding']}" for s in (local, stack)]
    diffs = []
    if shown[0] != shown[1]:
        diffs.append(Diff("locale", "warn", f"locale: local {shown[0]}, stack {shown[1]}"))
    for name in sorted(set(local["env"]) | set(stack["env"])):
        a, b = local["env"].get(name), stack["env"].get(name)
        if a != b:
            diffs.append(Diff(name, "info", f"locale: {name} local {a!r}, stack {b!r}"))
    return shown[0], shown[1], diffs


def _env_names(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    """Names present on one side only: `warn` when a settings file names it, else `info`.

    The local side inherits the developer's whole shell, so most one-sided names are noise;
    a name that appears as a string literal in the settings source (`os.environ["X"]`,
    `getenv("X")`, or a helper such as `env_flag("X", ...)`) is one the app reads, and a
    value only one side can see is a likely cause of diverging behavior.
    """
    mine, theirs = set(local["names"]), set(stack["names"])
    read = {*local.get("settings_literals", ()), *stack.get("settings_literals", ())}
    diffs: list[Diff] = []
    noise: dict[str, list[str]] = {"local": [], "stack": []}
    for name in sorted(mine ^ theirs):
        where = "local" if name in mine else "stack"
        if name in read and name not in SHELL_NOISE:
            diffs.append(Diff(name, "warn", f"env {name}: set in {where} only "
                              "(read by the settings)"))
        else:
            noise[where].append(name)
    for where, names in noise.items():
        if names:
            diffs.append(Diff(f"{where}-only", "info", f"env: {len(names)} names set in {where} "
                              f"only, not read by the settings: {', '.join(names)}"))
    shown = [f"{len(s)} names, {len(s & read)} read by the settings" for s in (mine, theirs)]
    return shown[0], shown[1], diffs


def _user(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    """Root in the stack always fails; the local user is whoever runs the tests (root in CI)."""
    shown = [f"{s.get('name') or '?'} (uid {s['uid']})" for s in (local, stack)]
    diffs = []
    if stack["uid"] == 0:
        diffs.append(Diff("root", "fail", f"user: stack runs as root (uid 0, process "
                          f"{stack.get('process', '?')} pid {stack.get('pid', '?')})",
                          declarable=False))
    elif shown[0] != shown[1]:
        diffs.append(Diff("user", "info", f"user: local {shown[0]}, stack {shown[1]}"))
    return shown[0], shown[1], diffs


def _schema(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    diffs = [Diff(subject, "fail", text) for subject, text in diff_schema(local, stack)]
    return summary(local), summary(stack), diffs


def _settings(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[Diff]]:
    """Every setting that differs fails, but DATABASES compares ENGINE only.

    Each side has its own database, so NAME, HOST, PORT, USER and PASSWORD differ by design;
    the probe keeps only each alias's ENGINE.
    """
    if "skipped" in local or "skipped" in stack:
        return local.get("skipped", "?"), stack.get("skipped", "?"), []
    mine: dict[str, str] = local["values"]
    theirs: dict[str, str] = stack["values"]
    diffs = []
    for name in sorted(set(mine) | set(theirs)):
        a, b = mine.get(name, "not set"), theirs.get(name, "not set")
        if a != b:
            diffs.append(Diff(name, "fail", f"setting {name}: local {_clip(a)}, stack {_clip(b)}"))
    return (f"{len(mine)} settings ({local.get('module', '?')})",
            f"{len(theirs)} settings ({stack.get('module', '?')})", diffs)


SETTINGS_MODULE = "DJANGO_SETTINGS_MODULE"


def declared_cause(fact: str, subject: str, local: dict[str, Any], stack: dict[str, Any],
                   declared: frozenset[str]) -> str | None:
    """Why a difference follows from a declared one (`declared`: the environment variables
    `[tool.parity.local]` / `[tool.parity.stack]` set differently), or None.

    A declared settings module accounts for every setting; a declared variable for the
    settings the probe saw read it (`sources`), and for its own presence on one side."""
    if fact == "env names" and subject in declared:
        return "declared"
    if fact != "settings" or not declared:
        return None
    if SETTINGS_MODULE in declared:
        return f"follows from the declared {SETTINGS_MODULE}"
    sources = {*local.get("sources", {}).get(subject, ()), *stack.get("sources", {}).get(subject, ())}
    found = sorted(sources & declared)
    return f"follows from the declared {', '.join(found)}" if found else None


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


RULES: dict[str, _Rule] = {
    "python": _python, "packages": _packages, "libpq": _libpq, "libssl": _libssl,
    "timezone": _timezone, "locale": _locale, "env names": _env_names, "user": _user,
    "schema": _schema, "settings": _settings,
}
