"""Environment facts: what each side runs, gathered with testinfra and compared side by side.

    local, stack = gather_both(Side("local", "local://", ...), Side("stack", "docker://app", ...))
    for fact in compare_facts(local, stack, expected=config.facts.expected): ...

One round trip per side: a probe script run with the side's interpreter (`host.run`) prints
one JSON blob (Python, distributions, libpq/libssl, time zone, locale, the app process's
user and environment variable names, Django's effective settings), while the schema is read
from the host with psycopg2 in a second thread. A fact that cannot be gathered becomes
`{"error": ...}`; it never raises. Environment variable values never leave the probe, and
secret-looking settings are redacted before a settings dict is returned.

Severity: `fail` (schema or settings differ, stack runs as root, a distribution missing or at
another major.minor, Python implementation or major.minor), `warn` (patch levels, locale,
time zone, an environment variable the settings read that only one side sets), `info` (the
rest), `ok` (equal). A difference declared in `[tool.parity.facts] expected` (a fact name, a
setting, package, variable, table or migration; `fnmatch` patterns allowed) is shown marked
"(expected)" and never fails; so is one that follows from a per-side declaration (a setting
read from a variable `[tool.parity.local]`/`[tool.parity.stack]` set differently, or every
setting when they name different settings modules), marked with that cause.

This module gathers and ranks; each fact's comparison rule is in parity.facts.rules, and the
redaction of secrets in parity.support.redaction.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Imported here, in the thread that imports this module, never first in a gathering thread:
# under pytest, testinfra's modules (a pytest plugin) are assertion-rewritten on import, and
# CPython 3.11's AST recursion check is shared by all threads, so two threads building ASTs at
# once can fail with "SystemError: AST constructor recursion depth mismatch".
import testinfra
import testinfra.backend.docker
import testinfra.backend.local

from parity.facts.rules import RULES, Diff, declared_cause
from parity.facts.schema import read_schema
from parity.support.redaction import REDACTED, URL_CREDENTIALS, redact_settings

SEVERITIES = ("fail", "warn", "info", "ok")
FACT_NAMES = ("python", "packages", "libpq", "libssl", "timezone", "locale", "env names", "user",
              "schema", "settings")
APP_IMAGE, DATABASE = "app image", "database"
"""The layers (see parity.comparison.layers) a fact is about: the schema is the database's, every other
fact describes the app container: its image, and the environment compose gives it."""
PROBE_TIMEOUT = 60
"""Wall seconds, generous: at nice 10 on cores the tests keep busy, the probe's half second
of CPU comes in slices (about 3 % of a core against eight busy processes on two cores)."""
LOW_PRIORITY = "exec $(command -v nice >/dev/null 2>&1 && echo nice -n 10) "
"""The probe runs beside the tests: it yields them the CPU, where the side has `nice`."""


@dataclass(frozen=True)
class Side:
    """Where and how to gather one environment's facts.

    `app_pid` None: locally the probe stands in for the app (with `env`); in a container the
    gunicorn/uwsgi/uvicorn master is looked up, else PID 1. `workdir` "" means the directory
    `docker exec` starts in, which is the image's WorkingDir.
    """

    name: str
    host_spec: str
    python: str
    app_pid: int | None
    workdir: str
    database_url: str
    env: Mapping[str, str] | None = None
    settings_module: str | None = None
    requirements: str | None = None
    """The requirements file on that side, relative to workdir; its names count as the app's."""
    tmpdir: str | None = None
    """Where the probe's env file (it holds secrets) goes: the run's temp root, swept with it."""

    @property
    def is_local(self) -> bool:
        return self.host_spec.startswith("local://")


@dataclass
class Fact:
    name: str
    severity: str
    local: str
    stack: str
    detail: list[str]
    expected: bool = False

    @property
    def failed(self) -> bool:
        """A fail that the user did not declare expected: this one fails the session."""
        return self.severity == "fail" and not self.expected

    @property
    def layer(self) -> str:
        return DATABASE if self.name == "schema" else APP_IMAGE

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "failed": self.failed, "layer": self.layer}


# --- gathering --------------------------------------------------------------------------


def gather(side: Side, *, timeout: float = PROBE_TIMEOUT) -> dict[str, object]:
    """Every raw fact of one side: the probe and the schema read run in parallel."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"facts-{side.name}") as pool:
        probe = pool.submit(_probe, side, timeout)
        schema = pool.submit(_guarded, lambda: read_schema(side.database_url))
        found: dict[str, object] = dict(probe.result())
        found["schema"] = schema.result()
    found["_meta"] = {"side": side.name, "host": side.host_spec,
                      "seconds": round(time.monotonic() - started, 3)}
    return found


def gather_both(local: Side, stack: Side) -> tuple[dict[str, object], dict[str, object]]:
    """Both sides at once, in parallel: a Gathering started with both."""
    if (local.name, stack.name) != ("local", "stack"):  # a Gathering keys its sides by name
        raise ValueError(f"sides named local and stack, not {local.name} and {stack.name}")
    gathering = Gathering()
    try:
        gathering.start(local)
        gathering.start(stack)
        both = gathering.result()
    finally:
        gathering.close()
    assert both is not None
    return both


class Gathering:
    """Both sides' facts, each gathered in the background from the moment its side is ready:
    the local side's while the stack still starts, so less of it overlaps the tests."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="parity-facts")
        self._futures: dict[str, Future[dict[str, object]]] = {}
        self._span: list[float] = []

    def start(self, side: Side) -> None:
        self._span.append(time.monotonic())
        self._futures[side.name] = self._pool.submit(self._gather, side)

    def close(self) -> None:
        """No more sides: the worker threads end once their gathering (if any) is done."""
        self._pool.shutdown(wait=False)

    def _gather(self, side: Side) -> dict[str, object]:
        try:
            return gather(side)
        finally:
            self._span.append(time.monotonic())

    def result(self) -> tuple[dict[str, object], dict[str, object]] | None:
        """(local, stack) once both are in; None when a side never started."""
        if set(self._futures) != {"local", "stack"}:
            return None
        return self._futures["local"].result(), self._futures["stack"].result()

    @property
    def seconds(self) -> float:
        """From the first side's start to the last side's end (so far)."""
        return round(max(self._span) - min(self._span), 3) if self._span else 0.0


def _guarded(read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return read()
    except Exception as exc:
        return {"error": _error(exc)}


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _probe(side: Side, timeout: float) -> dict[str, Any]:
    """Run the probe on the side's host; every probe fact is an error when it cannot run."""
    pid: int | str | None = side.app_pid
    if pid is None and side.is_local:
        pid = "self"  # no dev server: the probe itself stands in for it, with side.env
    args: dict[str, object] = {"pid": pid, "workdir": side.workdir, "envfile": None,
                               "settings": side.settings_module, "timeout": int(timeout),
                               "requirements": side.requirements}
    try:
        with contextlib.ExitStack() as cleanup:
            if side.is_local and side.env is not None:
                # The app's env (with secrets) goes through a 0600 file, never through argv.
                fd, path = tempfile.mkstemp(prefix="parity-facts-", suffix=".json", dir=side.tmpdir)
                cleanup.callback(os.unlink, path)
                with os.fdopen(fd, "w") as file:
                    json.dump(dict(side.env), file)
                args["envfile"] = path
            host = testinfra.get_host(side.host_spec)
            result = host.run(LOW_PRIORITY + "%s -c %s %s", side.python, PROBE, json.dumps(args))
    except Exception as exc:
        return _all_failed(f"could not run the probe on {side.host_spec}: {_error(exc)}")
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(MARKER):
            found: dict[str, Any] = json.loads(line[len(MARKER):])
            for raw in found.values():
                if isinstance(raw, dict) and isinstance(raw.get("error"), str):
                    raw["error"] = URL_CREDENTIALS.sub(rf"\1{REDACTED}@", raw["error"])
            settings = found.get("settings")
            if isinstance(settings, dict) and isinstance(settings.get("values"), dict):
                settings["values"] = redact_settings(settings["values"])
            return found
    tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
    return _all_failed(f"`{side.python}` probe on {side.host_spec} exited {result.rc}: "
                       + " | ".join(tail))


def _all_failed(message: str) -> dict[str, Any]:
    return {name: {"error": message} for name in FACT_NAMES if name != "schema"}


# --- comparison -------------------------------------------------------------------------


def compare_facts(
    local: Mapping[str, Any], stack: Mapping[str, Any], expected: Iterable[str] = (),
    declared: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Fact]:
    """One Fact per fact name, sorted fail, warn, info (then the declared ones), ok.
    `declared`: each side's declared environment ({"local": {...}, "stack": {...}})."""
    patterns = [_norm(p) for p in expected]
    differing = declared_names(declared)
    facts = []
    for name in FACT_NAMES:
        mine, theirs = local.get(name), stack.get(name)
        problems = [f"{name}: could not gather on {where}: "
                    + (str(raw.get("error")) if isinstance(raw, dict) else "not gathered")
                    for where, raw in (("local", mine), ("stack", theirs))
                    if not isinstance(raw, dict) or "error" in raw]
        if not problems:
            assert isinstance(mine, dict) and isinstance(theirs, dict)
            try:
                shown_local, shown_stack, diffs = RULES[name](mine, theirs)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                problems = [f"{name}: could not compare: {_error(exc)}"]
        if problems:
            facts.append(Fact(name, "warn", _shown(mine), _shown(theirs), problems))
        else:
            assert isinstance(mine, dict) and isinstance(theirs, dict)
            causes = {d.subject: declared_cause(name, d.subject, mine, theirs, differing)
                      for d in diffs}
            facts.append(_fact(name, shown_local, shown_stack, diffs, patterns, causes))
    # A declared difference ranks with the information: it is shown, it does not alarm.
    return sorted(facts, key=lambda f: (SEVERITIES.index("info" if f.expected else f.severity),
                                        f.expected, FACT_NAMES.index(f.name)))


def declared_names(declared: Mapping[str, Mapping[str, str]] | None) -> frozenset[str]:
    """The variables the two sides' declared environments set differently (or on one side)."""
    local, stack = ((declared or {}).get(side) or {} for side in ("local", "stack"))
    return frozenset(name for name in {*local, *stack} if local.get(name) != stack.get(name))


def failures(facts: Iterable[Fact]) -> list[Fact]:
    return [fact for fact in facts if fact.failed]


def _shown(raw: object) -> str:
    return "error" if not isinstance(raw, dict) or "error" in raw else "-"


def _norm(text: str) -> str:
    return re.sub(r"[-_.\s]+", "-", text).casefold()


def _is_expected(fact: str, subject: str, patterns: list[str]) -> bool:
    names = (_norm(fact), _norm(subject), _norm(f"{fact}:{subject}"))
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


def _fact(name: str, local: str, stack: str, diffs: list[Diff], patterns: list[str],
          causes: Mapping[str, str | None] | None = None) -> Fact:
    """`causes`: per subject, the declared difference it follows from (never fails either)."""
    marks = []
    for d in diffs:
        cause = (causes or {}).get(d.subject) if d.declarable else None
        expected = d.declarable and _is_expected(name, d.subject, patterns)
        marks.append(" (expected)" if expected else f" ({cause})" if cause else "")
    live = [d for d, mark in zip(diffs, marks, strict=True) if not mark]
    counted = live or diffs
    severity = min((d.severity for d in counted), key=SEVERITIES.index, default="ok")
    detail = [d.text + mark for d, mark in zip(diffs, marks, strict=True)]
    return Fact(name, severity, local, stack, detail, expected=bool(diffs) and not live)


# --- the probe: runs on each side with the app's interpreter (any Python >= 3.8) ----------

MARKER = "@@PARITY-FACTS@@"
PROBE = (Path(__file__).parent / "probe.py").read_text(encoding="utf-8")
"""The source of probe.py, sent to each side's interpreter with `-c`."""
