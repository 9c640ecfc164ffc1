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
PROBE = r'''
import json, os, re, signal, sys, time
sys.dont_write_bytecode = True
A = json.loads(sys.argv[1])
OUT = {}
SERVERS = ("gunicorn", "uwsgi", "uvicorn", "daphne", "hypercorn", "waitress-serve")
SKIP_DIRS = {".git", ".venv", "venv", "env", "node_modules", "__pycache__", ".tox", ".nox",
             "site-packages", "staticfiles", "static", "media", "tests", "test", "build", "dist"}
IMPORT = re.compile(r"^([ \t]*)(?:from[ \t]+([A-Za-z_]\w*)[\w.]*[ \t]+import"
                    r"|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*))", re.M)

def timed_out(signum, frame):
    raise TimeoutError("the probe ran out of time (%ss)" % A["timeout"])
signal.signal(signal.SIGALRM, timed_out)
signal.alarm(A["timeout"])

TOOK = {}

def fact(name):
    def run(function):
        started = time.time()
        try:
            OUT[name] = function()
        except BaseException as exc:  # SystemExit from settings, too
            OUT[name] = {"error": "%s: %s" % (type(exc).__name__, str(exc).strip()[:300])}
        TOOK[name] = round(time.time() - started, 3)
    return run

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

def argv_of(pid):
    with open("/proc/%s/cmdline" % pid, "rb") as f:
        return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]

def app_pid():
    if A["pid"] == "self":
        return os.getpid()
    if A["pid"]:
        return int(A["pid"])
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (os.getpid(), os.getppid()):
            continue
        try:
            argv = argv_of(entry)
        except OSError:
            continue
        if any("PARITY-FACTS" in a for a in argv):
            continue
        if any(os.path.basename(a).split(":")[0] in SERVERS for a in argv[:3]):
            found.append(int(entry))
    return min(found) if found else 1

def environ_of(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        items = [i.partition(b"=") for i in f.read().split(b"\0") if b"=" in i]
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, _, v in items}

PID = app_pid()
NAMES, SOURCE = None, "the app's environment as parity passed it"
if A["pid"] != "self":
    try:
        NAMES, SOURCE = environ_of(PID), "/proc/%d/environ" % PID
    except OSError as exc:
        SOURCE = "the probe's own environment (%s)" % exc
ENV = NAMES
if A["envfile"]:
    with open(A["envfile"]) as f:
        ENV = json.load(f)
if ENV is None:
    ENV = dict(os.environ)
os.environ.clear()
os.environ.update(ENV)
if hasattr(time, "tzset"):
    time.tzset()
SETTINGS = (os.environ.get("DJANGO_SETTINGS_MODULE") or A["settings"]) if A["settings"] else None
WORKDIR = os.path.abspath(A["workdir"] or ".")  # "": docker exec's cwd, the WorkingDir
sys.path.insert(0, WORKDIR)
os.chdir(WORKDIR)

@fact("python")
def _():
    import platform
    return {"implementation": platform.python_implementation(),
            "version": platform.python_version(), "executable": sys.executable}

def scan_imports():
    """{dist: file} for module-level imports, and for imports inside a block (lazy)."""
    from importlib import metadata
    top, lazy = {}, {}
    if not hasattr(metadata, "packages_distributions"):
        return top, lazy
    owners, files = metadata.packages_distributions(), 0
    for root, dirs, names in os.walk(WORKDIR):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS
                   and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))]
        for name in names:
            if not name.endswith(".py") or name.startswith("test_") or name.endswith("_test.py") \
                    or name == "conftest.py":
                continue
            files += 1
            if files > 5000:
                return top, lazy
            path = os.path.join(root, name)
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            for indent, single, many in IMPORT.findall(text):
                for module in [single] if single else many.split(","):
                    for dist in owners.get(module.strip().split(".")[0], ()):
                        found = lazy if indent else top
                        found.setdefault(norm(dist), os.path.relpath(path, WORKDIR))
    return top, {dist: path for dist, path in lazy.items() if dist not in top}

def requirements():
    if not A["requirements"]:
        return None
    try:
        with open(os.path.join(WORKDIR, A["requirements"])) as f:
            lines = [line.split("#", 1)[0].strip() for line in f]
    except OSError:
        return None
    return sorted({norm(re.match(r"[A-Za-z0-9][\w.-]*", line).group(0))
                   for line in lines if line and re.match(r"[A-Za-z0-9]", line)})

@fact("packages")
def _():
    from importlib import metadata
    installed = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            installed.setdefault(norm(name), dist.version)
    top, lazy = scan_imports()
    return {"installed": installed, "imported": top, "lazy": lazy, "required": requirements()}

def mapped(pattern):
    names = set()
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:  # no /proc (macOS): versions only
        lines = []
    for line in lines:
        base = os.path.basename(line.split()[-1]) if len(line.split()) >= 6 else ""
        if re.match(r"lib(%s)\b" % pattern, base):
            names.add(base)
    return sorted(names)

@fact("libpq")
def _():
    try:
        import psycopg2, psycopg2.extensions
    except ImportError as exc:
        return {"missing": "psycopg2 is not importable (%s)" % exc}
    return {"runtime": psycopg2.extensions.libpq_version(),
            "compiled": psycopg2.__libpq_version__, "linked": mapped("pq")}

@fact("libssl")
def _():
    import ssl
    return {"version": ssl.OPENSSL_VERSION, "info": list(ssl.OPENSSL_VERSION_INFO),
            "linked": mapped("ssl|crypto")}

@fact("timezone")
def _():
    found = {"TZ": os.environ.get("TZ"), "tzname": list(time.tzname),
             "offset": time.strftime("%z")}
    try:
        with open("/etc/timezone") as f:
            found["etc_timezone"] = f.read().strip()
    except OSError:
        pass
    try:
        found["localtime"] = os.readlink("/etc/localtime").split("zoneinfo/", 1)[-1]
    except OSError:
        pass
    return found

@fact("locale")
def _():
    import locale
    try:
        current = locale.setlocale(locale.LC_ALL, "")
    except locale.Error as exc:
        current = "unsupported (%s)" % exc
    return {"locale": current, "encoding": locale.getpreferredencoding(False),
            "env": {k: os.environ[k] for k in ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE")
                    if k in os.environ}}

@fact("user")
def _():
    with open("/proc/%d/status" % PID) as f:
        uid = int(re.search(r"^Uid:\s+\d+\s+(\d+)", f.read(), re.M).group(1))
    try:
        import pwd
        name = pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        name = ""
    with open("/proc/%d/comm" % PID) as f:
        return {"pid": PID, "uid": uid, "name": name, "process": f.read().strip()}

def settings_files():
    import importlib.util
    spec = importlib.util.find_spec(SETTINGS)
    if spec is None or not spec.origin:
        return []
    folder = os.path.dirname(spec.origin)
    if spec.submodule_search_locations or SETTINGS.rpartition(".")[0].endswith("settings"):
        return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".py"))
    return [spec.origin]

@fact("env names")
def _():
    literals = set()
    for path in settings_files() if SETTINGS else []:
        with open(path, encoding="utf-8", errors="replace") as f:
            literals.update(re.findall(r"""['"]([A-Z][A-Z0-9_]+)['"]""", f.read()))
    names = ENV if NAMES is None else NAMES
    return {"names": sorted(names), "source": SOURCE,
            "settings_literals": sorted(literals & set(names) | literals & set(ENV))}

@fact("settings")
def _():
    if not SETTINGS:
        return {"skipped": "not a Django app"}
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    import django
    django.setup()
    from django.conf import settings
    roots = sorted({WORKDIR, os.path.realpath(WORKDIR)} - {"/"}, key=len, reverse=True)
    values = {}
    for key in dir(settings):
        if not key.isupper():
            continue
        value = getattr(settings, key)
        if key == "DATABASES":
            value = {alias: {"ENGINE": c.get("ENGINE")} for alias, c in value.items()}
        text = repr(value)
        for root in roots:
            text = text.replace(root, "<project>")
        values[key] = text
    return {"module": SETTINGS, "values": values}

OUT["_probe"] = {"pid": PID, "env_source": SOURCE, "seconds": TOOK}
sys.stdout.write("\n@@PARITY-FACTS@@" + json.dumps(OUT, sort_keys=True, default=str) + "\n")
sys.stdout.flush()
os._exit(0)
'''
