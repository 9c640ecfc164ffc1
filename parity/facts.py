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
"(expected)" and never fails.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from parity.schema import diff_schema, read_schema, summary

SEVERITIES = ("fail", "warn", "info", "ok")
FACT_NAMES = ("python", "packages", "libpq", "libssl", "timezone", "locale", "env names", "user",
              "schema", "settings")
APP_IMAGE, DATABASE = "app image", "database"
"""The layers (see parity.layers) a fact is about: the schema is the database's, every other
fact describes the app container: its image, and the environment compose gives it."""
PROBE_TIMEOUT = 25
# The machinery of a virtualenv or an image, and the server parity adds to the image: never
# part of the app's behavior, so their differences are information only.
TOOLING = frozenset({"pip", "setuptools", "wheel", "distribute", "pkg-resources"})
SERVERS = frozenset({"gunicorn", "uwsgi", "uvicorn", "daphne", "hypercorn", "waitress"})
# Names that differ between a developer's shell and a container by nature.
SHELL_NOISE = frozenset({"PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "TERM", "_",
                         "USER", "LOGNAME", "SHELL", "MAIL", "LS_COLORS"})
_UTC = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Universal", "UCT", "Etc/UCT", "Zulu",
                  "Etc/Zulu", "GMT", "Etc/GMT", "Etc/GMT0", "GMT0", "Greenwich"})


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


@dataclass(frozen=True)
class _Diff:
    subject: str
    severity: str
    text: str
    declarable: bool = True


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
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="facts") as pool:
        mine, theirs = pool.submit(gather, local), pool.submit(gather, stack)
        return mine.result(), theirs.result()


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
        import testinfra

        with contextlib.ExitStack() as cleanup:
            if side.is_local and side.env is not None:
                # The app's env (with secrets) goes through a 0600 file, never through argv.
                fd, path = tempfile.mkstemp(prefix="parity-facts-", suffix=".json", dir=side.tmpdir)
                cleanup.callback(os.unlink, path)
                with os.fdopen(fd, "w") as file:
                    json.dump(dict(side.env), file)
                args["envfile"] = path
            host = testinfra.get_host(side.host_spec)
            result = host.run("%s -c %s %s", side.python, PROBE, json.dumps(args))
    except Exception as exc:
        return _all_failed(f"could not run the probe on {side.host_spec}: {_error(exc)}")
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(MARKER):
            found: dict[str, Any] = json.loads(line[len(MARKER):])
            for raw in found.values():
                if isinstance(raw, dict) and isinstance(raw.get("error"), str):
                    raw["error"] = _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", raw["error"])
            settings = found.get("settings")
            if isinstance(settings, dict) and isinstance(settings.get("values"), dict):
                settings["values"] = redact_settings(settings["values"])
            return found
    tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
    return _all_failed(f"`{side.python}` probe on {side.host_spec} exited {result.rc}: "
                       + " | ".join(tail))


def _all_failed(message: str) -> dict[str, Any]:
    return {name: {"error": message} for name in FACT_NAMES if name != "schema"}


# --- redaction --------------------------------------------------------------------------

_SECRET_WORDS = frozenset({"SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PWD", "TOKEN",
                           "TOKENS", "CREDENTIALS", "CREDENTIAL", "PRIVATE", "APIKEY", "DSN",
                           "KEY", "KEYS", "SALT"})
# "KEY_PREFIX", "PASSWORD_HASHERS": the word names what the setting configures, not a secret.
_DESCRIBING = frozenset({"PREFIX", "FUNCTION", "FUNC", "HASHERS", "VALIDATORS", "RESET",
                         "TIMEOUT", "FIELD", "LENGTH", "MIN", "MAX", "BACKEND", "BACKENDS",
                         "CLASS", "PATH", "FILE", "NAME", "HEADER", "COOKIE", "TRANSFORM"})
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")
_NESTED = re.compile(r"""(?P<q>['"])(?P<key>\w+)(?P=q)(?P<sep>\s*:\s*)"""
                     r"""(?P<v>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""")
REDACTED = "***"


def is_secret_name(name: str) -> bool:
    words = name.upper().split("_")
    return any(word in _SECRET_WORDS and (i + 1 == len(words) or words[i + 1] not in _DESCRIBING)
               for i, word in enumerate(words))


def redact_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """Settings (name → repr) with secret-looking values, nested ones and URL credentials masked."""

    def nested(match: re.Match[str]) -> str:
        if not is_secret_name(match["key"]):
            return match[0]
        return f"{match['q']}{match['key']}{match['q']}{match['sep']}'{REDACTED}'"

    return {name: REDACTED if is_secret_name(name)
            else _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", _NESTED.sub(nested, value))
            for name, value in settings.items()}


# --- comparison -------------------------------------------------------------------------


def compare_facts(
    local: Mapping[str, Any], stack: Mapping[str, Any], expected: Iterable[str] = ()
) -> list[Fact]:
    """One Fact per fact name, sorted fail, warn, info (then the declared ones), ok."""
    patterns = [_norm(p) for p in expected]
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
                shown_local, shown_stack, diffs = _RULES[name](mine, theirs)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                problems = [f"{name}: could not compare: {_error(exc)}"]
        if problems:
            facts.append(Fact(name, "warn", _shown(mine), _shown(theirs), problems))
        else:
            facts.append(_fact(name, shown_local, shown_stack, diffs, patterns))
    # A declared difference ranks with the information: it is shown, it does not alarm.
    return sorted(facts, key=lambda f: (SEVERITIES.index("info" if f.expected else f.severity),
                                        f.expected, FACT_NAMES.index(f.name)))


def failures(facts: Iterable[Fact]) -> list[Fact]:
    return [fact for fact in facts if fact.failed]


def _shown(raw: object) -> str:
    return "error" if not isinstance(raw, dict) or "error" in raw else "-"


def _norm(text: str) -> str:
    return re.sub(r"[-_.\s]+", "-", text).casefold()


def _is_expected(fact: str, subject: str, patterns: list[str]) -> bool:
    names = (_norm(fact), _norm(subject), _norm(f"{fact}:{subject}"))
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


def _fact(name: str, local: str, stack: str, diffs: list[_Diff], patterns: list[str]) -> Fact:
    flagged = [(d, d.declarable and _is_expected(name, d.subject, patterns)) for d in diffs]
    live = [d for d, declared in flagged if not declared]
    counted = live or diffs
    severity = min((d.severity for d in counted), key=SEVERITIES.index, default="ok")
    detail = [d.text + (" (expected)" if declared else "") for d, declared in flagged]
    return Fact(name, severity, local, stack, detail, expected=bool(diffs) and not live)


def _release(version: str) -> tuple[int, ...]:
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in numbers[0].split(".")) if numbers else ()


def _version_severity(mine: str, theirs: str) -> str:
    """fail at another major.minor (or unparseable), warn at another patch level."""
    a, b = _release(mine), _release(theirs)
    if not a or not b or a[:2] != b[:2]:
        return "fail"
    return "warn"


_Rule = Callable[[dict[str, Any], dict[str, Any]], tuple[str, str, list[_Diff]]]


def _python(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
    shown = [f"{s['implementation']} {s['version']}" for s in (local, stack)]
    diffs = []
    if shown[0] != shown[1]:
        same_impl = local["implementation"] == stack["implementation"]
        severity = _version_severity(local["version"], stack["version"]) if same_impl else "fail"
        level = " (patch level)" if severity == "warn" else ""
        diffs.append(_Diff("python", severity,
                           f"python: local {shown[0]}, stack {shown[1]}{level}"))
    return shown[0], shown[1], diffs


def _packages(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
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
        if b is None:
            if name in imported and not tool:
                diffs.append(_Diff(name, "fail", f"package {name}: installed locally ({a}), "
                                   f"missing in the stack, imported by {imported[name]}"))
            elif name in required and not tool:
                diffs.append(_Diff(name, "fail", f"package {name}: local {a}, stack missing "
                                   "(listed in the requirements)"))
            elif name in lazy and not tool:
                diffs.append(_Diff(name, "warn", f"package {name}: installed locally ({a}), "
                                   f"missing in the stack, imported inside a block by "
                                   f"{lazy[name]} (breaks when that code runs)"))
            else:
                unused.append(name)
        elif a is None:
            severity = "info" if tool or name in SERVERS else "fail"
            diffs.append(_Diff(name, severity, f"package {name}: local missing, stack {b}"))
        else:
            severity = "info" if tool else _version_severity(a, b)
            diffs.append(_Diff(name, severity, f"package {name}: local {a}, stack {b}"))
    if unused:
        diffs.append(_Diff("local-only", "info", f"{len(unused)} packages installed locally "
                           f"only, not imported by the app: {', '.join(unused)}"))
    changed = sum(mine[n] != theirs[n] for n in set(mine) & set(theirs))
    return (f"{len(mine)} installed, {len(set(mine) - set(theirs))} only here",
            f"{len(theirs)} installed, {len(set(theirs) - set(mine))} only here, {changed} changed",
            diffs)


def _libpq_version(number: int) -> str:
    if number >= 100000:
        return f"{number // 10000}.{number % 10000}"
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def _linked(raw: dict[str, Any]) -> str:
    return f" ({', '.join(raw['linked'])})" if raw.get("linked") else ""


def _libpq(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
    shown = ["missing" if "missing" in s else _libpq_version(s["runtime"]) + _linked(s)
             for s in (local, stack)]
    if shown[0] == shown[1]:
        return shown[0], shown[1], []
    if "missing" in local or "missing" in stack:
        severity = "fail"
    elif local["runtime"] // 10000 != stack["runtime"] // 10000:
        severity = "fail"
    else:
        severity = "warn" if local["runtime"] != stack["runtime"] else "info"
    return shown[0], shown[1], [_Diff("libpq", severity,
                                      f"libpq: local {shown[0]}, stack {shown[1]}")]


def _libssl(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
    shown = [s["version"] for s in (local, stack)]
    diffs = []
    if local["info"] != stack["info"]:
        severity = "fail" if local["info"][:2] != stack["info"][:2] else "warn"
        diffs.append(_Diff("libssl", severity, f"libssl: local {shown[0]}, stack {shown[1]}"))
    elif local.get("linked") != stack.get("linked"):
        diffs.append(_Diff("libssl", "info", f"libssl: same version, other files: local"
                           f"{_linked(local) or ' (none)'}, stack{_linked(stack) or ' (none)'}"))
    return shown[0], shown[1], diffs


def _zone(raw: dict[str, Any]) -> str:
    zone = (raw.get("TZ") or "").lstrip(":") or raw.get("localtime") or raw.get("etc_timezone") \
        or (raw.get("tzname") or ["?"])[0]
    return "UTC" if zone in _UTC else str(zone)


def _timezone(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
    shown = [f"{_zone(s)} ({s.get('offset', '?')})" for s in (local, stack)]
    diffs = []
    if shown[0] != shown[1]:
        diffs.append(_Diff("timezone", "warn", f"timezone: local {shown[0]}, stack {shown[1]}"))
    return shown[0], shown[1], diffs


def _locale(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
    shown = [f"{s['locale']}, {s['encoding']}" for s in (local, stack)]
    diffs = []
    if shown[0] != shown[1]:
        diffs.append(_Diff("locale", "warn", f"locale: local {shown[0]}, stack {shown[1]}"))
    for name in sorted(set(local["env"]) | set(stack["env"])):
        a, b = local["env"].get(name), stack["env"].get(name)
        if a != b:
            diffs.append(_Diff(name, "info", f"locale: {name} local {a!r}, stack {b!r}"))
    return shown[0], shown[1], diffs


def _env_names(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
    """Names present on one side only: `warn` when a settings file names it, else `info`.

    The local side inherits the developer's whole shell, so most one-sided names are noise;
    a name that appears as a string literal in the settings source (`os.environ["X"]`,
    `getenv("X")`, or a helper such as `env_flag("X", ...)`) is one the app reads, and a
    value only one side can see is a likely cause of diverging behavior.
    """
    mine, theirs = set(local["names"]), set(stack["names"])
    read = {*local.get("settings_literals", ()), *stack.get("settings_literals", ())}
    diffs: list[_Diff] = []
    noise: dict[str, list[str]] = {"local": [], "stack": []}
    for name in sorted(mine ^ theirs):
        where = "local" if name in mine else "stack"
        if name in read and name not in SHELL_NOISE:
            diffs.append(_Diff(name, "warn", f"env {name}: set in {where} only "
                               "(read by the settings)"))
        else:
            noise[where].append(name)
    for where, names in noise.items():
        if names:
            diffs.append(_Diff(f"{where}-only", "info", f"env: {len(names)} names set in {where} "
                               f"only, not read by the settings: {', '.join(names)}"))
    shown = [f"{len(s)} names, {len(s & read)} read by the settings" for s in (mine, theirs)]
    return shown[0], shown[1], diffs


def _user(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
    """Root in the stack always fails; the local user is whoever runs the tests (root in CI)."""
    shown = [f"{s.get('name') or '?'} (uid {s['uid']})" for s in (local, stack)]
    diffs = []
    if stack["uid"] == 0:
        diffs.append(_Diff("root", "fail", f"user: stack runs as root (uid 0, process "
                           f"{stack.get('process', '?')} pid {stack.get('pid', '?')})",
                           declarable=False))
    elif shown[0] != shown[1]:
        diffs.append(_Diff("user", "info", f"user: local {shown[0]}, stack {shown[1]}"))
    return shown[0], shown[1], diffs


def _schema(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
    diffs = [_Diff(subject, "fail", text) for subject, text in diff_schema(local, stack)]
    return summary(local), summary(stack), diffs


def _settings(local: dict[str, Any], stack: dict[str, Any]) -> tuple[str, str, list[_Diff]]:
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
            diffs.append(_Diff(name, "fail", f"setting {name}: local {_clip(a)}, stack {_clip(b)}"))
    return (f"{len(mine)} settings ({local.get('module', '?')})",
            f"{len(theirs)} settings ({stack.get('module', '?')})", diffs)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


_RULES: dict[str, _Rule] = {
    "python": _python, "packages": _packages, "libpq": _libpq, "libssl": _libssl,
    "timezone": _timezone, "locale": _locale, "env names": _env_names, "user": _user,
    "schema": _schema, "settings": _settings,
}

# --- the probe: runs on each side with the app's interpreter (any Python >= 3.8) ----------

MARKER = "@@PARITY-FACTS@@"
PROBE = (Path(__file__).parent / "facts_probe.py").read_text(encoding="utf-8")
"""The source of facts_probe.py, sent to each side's interpreter with `-c`."""
