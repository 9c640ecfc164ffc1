"""`parity doctor`: is this machine (and this app) ready for `pytest --parity`?

One line per check: `ok`, `skip`, `missing` or `fail`, with the exact fix. Each check is a
small function whose machine access comes in through `Probes`, so tests can fake it. A check
that raises unexpectedly is reported as `fail` with the exception's line, never a traceback.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from parity.configuration import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_FRONTEND_IMAGE,
    ParityConfig,
    find_config,
    load_config,
)
from parity.machine import baseimage, standins
from parity.machine import engine as engine_mod
from parity.machine.engine import OVERRIDE_SINCE_TEXT, can_override
from parity.support import proc
from parity.support.errors import MissingDependencyError, ParityConfigError, ParityError

Status = Literal["ok", "skip", "missing", "fail"]
T = TypeVar("T")
PASSING: frozenset[str] = frozenset({"ok", "skip"})
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
ENGINE_FIX = ("start it: `scripts/provision` (or `setsid dockerd >/var/log/dockerd.log 2>&1 &`), "
              "or point DOCKER_HOST at a running engine")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def passed(self) -> bool:
        return self.status in PASSING


def _connect() -> Any:
    import docker.errors  # own client with a short timeout: a dead TCP host cannot hang us

    try:
        client = docker.from_env(version="auto", timeout=10)
        client.ping()
    except docker.errors.DockerException as exc:
        raise MissingDependencyError(str(exc).splitlines()[0][:200] if str(exc) else "") from None
    return client


def _run(argv: list[str]) -> tuple[int, str]:
    done = proc.run(argv, timeout=30, check=False)
    return done.returncode, done.stdout


def _postgres_bindir() -> Path | None:
    """The directory holding the `postgres` server binary: pg_config --bindir, else Debian's."""
    if shutil.which("pg_config"):
        done = proc.run(["pg_config", "--bindir"], timeout=30, check=False)
        candidate = Path(done.stdout.strip())
        if done.returncode == 0 and (candidate / "postgres").is_file():
            return candidate
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "postgres").is_file()]
    return max(found, key=lambda d: [int(x) for x in re.findall(r"\d+", d.parent.name)] or [0],
               default=None)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass
class Probes:
    """Everything the checks learn from the machine; tests replace any of these."""

    connect: Callable[[], Any] = _connect
    compose_command: Callable[[], tuple[str, ...]] = engine_mod.compose_command
    compose_version: Callable[[], str] = engine_mod.compose_version
    image_availability: Callable[[Any, str], str | None] = baseimage.image_availability
    standin: Callable[[Any, str, str], str | None] = standins.find_standin
    postgres_bindir: Callable[[], Path | None] = _postgres_bindir
    run: Callable[[list[str]], tuple[int, str]] = _run
    has_user: Callable[[str], bool] = _has_user
    euid: Callable[[], int] = os.geteuid
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Callable[[], Path] = Path.cwd


def check_engine(probes: Probes) -> tuple[Check, Any]:
    name = "docker engine"
    host = probes.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    try:
        client = probes.connect()
    except MissingDependencyError as exc:
        socket = host.removeprefix("unix://") if host.startswith("unix://") else ""
        if socket and not Path(socket).exists():
            why = " (no such socket)"
        else:
            why = f" ({exc.one_line()})" if str(exc) else ""
        return Check(name, "missing", f"not reachable at {host}{why}", ENGINE_FIX), None
    version = client.version().get("Version", "unknown")
    return Check(name, "ok", f"{version} at {host}"), client


def check_compose(probes: Probes) -> Check:
    name = "docker compose"
    try:
        command = probes.compose_command()
    except MissingDependencyError:
        return Check(name, "missing", "neither `docker compose` nor `docker-compose` answers",
                     "install the compose v2 plugin: `scripts/provision` does it")
    version = probes.compose_version()
    if tuple(command) == ("docker", "compose"):
        if not can_override(version):
            # Only own compose files that publish ports need it: a note, not a failure.
            return Check(name, "ok", f"v2 plugin {version} (an own compose file that publishes "
                                     f"ports needs >= {OVERRIDE_SINCE_TEXT}: "
                                     "`scripts/provision` installs one)")
        return Check(name, "ok", f"v2 plugin {version}")
    return Check(name, "ok", f"legacy docker-compose {version} at {command[0]} "
                             "(the v2 plugin is preferred: `scripts/provision` installs it)")


def check_image(probes: Probes, client: Any, role: standins.Role, reference: str,
                source: str) -> Check:
    name = role.label
    if client is None:
        return Check(name, "missing", f"{reference} not checked: docker engine not reachable",
                     "fix the docker engine first")
    found = probes.image_availability(client, reference)
    if found:
        where = "present" if found == "present" else "pullable from its registry"
        return Check(name, "ok", f"{reference} {where} ({source})")
    explicit = source == role.variable
    standin = None if explicit else probes.standin(client, role.kind, reference)
    if standin is not None:
        return Check(name, "ok", f"{reference} neither present nor pullable ({source}): parity "
                                 f"uses its stand-in {standin}, built by `parity base-image`")
    detail = f"{reference} not present and not pullable"
    if explicit:
        fix = (f"build or `docker pull {reference}`, or unset {role.variable} so that parity "
               "uses its own stand-in")
    else:
        fix = f"run `parity base-image` (no registry: a local stand-in) or `docker pull {reference}`"
    if not explicit and baseimage.debootstrap_path() is None:
        fix += "; parity base-image needs `apt-get install debootstrap`"
    return Check(name, "missing", detail, fix)


def check_postgres(probes: Probes) -> Check:
    name = "postgres binaries"
    bindir = probes.postgres_bindir()
    if bindir is None:
        return Check(name, "missing", "no `postgres` server binary (pg_config --bindir, "
                     "/usr/lib/postgresql/*/bin)", "`apt-get install postgresql` "
                     "(`scripts/provision` does), or put its pg_config on PATH")
    binary = str(bindir / "postgres")
    as_root = probes.euid() == 0
    if as_root:
        if not probes.has_user("postgres"):
            return Check(name, "missing", f"{bindir}: no `postgres` user to run the server as "
                         "(Postgres refuses to run as root)",
                         "`useradd --system --home /var/lib/postgresql --shell /bin/sh postgres` "
                         "(`scripts/provision` does)")
        argv = ["runuser", "-u", "postgres", "--", binary, "--version"]
    else:
        argv = [binary, "--version"]
    code, output = probes.run(argv)
    match = re.search(r"\(PostgreSQL\)\s+(\S+)", output)
    if code != 0 or match is None:
        last = output.strip().splitlines()[-1] if output.strip() else f"exit {code}"
        who = "user postgres" if as_root else "this user"
        return Check(name, "fail", f"{binary} --version fails as {who}: {last}",
                     "make the binaries readable and executable by that user (scripts/provision)")
    runs_as = "runs as user postgres" if as_root else "runs as the current user"
    return Check(name, "ok", f"{bindir} ({match.group(1)}), {runs_as}")


def check_config(probes: Probes, config_path: Path | None) -> tuple[Check, ParityConfig | None]:
    name = "app config"
    if config_path is None:
        try:
            config_path = find_config(probes.cwd())
        except ParityConfigError:
            return Check(name, "skip", "no [tool.parity] in a pyproject.toml here or above "
                         "(skipped; run in the app's directory or pass --config PATH)"), None
    try:
        config = load_config(config_path, environ=probes.environ)
    except ParityConfigError as exc:
        return Check(name, "fail", exc.one_line()), None
    return Check(name, "ok", f"{config.file}: {config.app} app {config.wsgi}"), config


def _guarded(name: str, func: Callable[[], tuple[Check, T]]) -> tuple[Check, T | None]:
    try:
        return func()
    except MissingDependencyError as exc:
        return Check(name, "missing", exc.one_line()), None
    except ParityError as exc:
        return Check(name, "fail", exc.one_line()), None
    except Exception as exc:  # a doctor reports, it never crashes
        line = str(exc).splitlines()[0] if str(exc) else ""
        return Check(name, "fail", f"{type(exc).__name__}: {line}".rstrip(": ")), None


def _single(name: str, func: Callable[..., Check], *args: Any) -> Check:
    return _guarded(name, lambda: (func(*args), None))[0]


def _image_source(env: Mapping[str, str], env_name: str, config: ParityConfig | None,
                  value: str | None, default: str) -> tuple[str, str]:
    if env.get(env_name):
        return env[env_name], env_name
    if config is not None and value and value != default:
        return value, f"{config.file.name} [tool.parity]"
    return default, "default"


def run_checks(config_path: Path | None, probes: Probes | None = None) -> list[Check]:
    """All checks, in display order: engine, compose, images, postgres, app config."""
    p = probes or Probes()
    config_check, config = _guarded("app config", lambda: check_config(p, config_path))
    engine_check, client = _guarded("docker engine", lambda: check_engine(p))
    checks = [engine_check, _single("docker compose", check_compose, p)]
    defaults = {"base_image": DEFAULT_BASE_IMAGE, "frontend_image": DEFAULT_FRONTEND_IMAGE}
    for role in standins.ROLES:
        configured = getattr(config, role.key) if config else None
        reference, source = _image_source(p.environ, role.variable, config, configured,
                                          defaults[role.key])
        checks.append(_single(role.label, check_image, p, client, role, reference, source))
    checks.append(_single("postgres binaries", check_postgres, p))
    checks.append(config_check)
    return checks


def format_checks(checks: list[Check]) -> list[str]:
    lines = []
    for check in checks:
        line = f"{check.status:<8} {check.name:<20} {check.detail}"
        if check.fix:
            line += f" — {check.fix}"
        lines.append(line)
    return lines


def exit_code(checks: list[Check]) -> int:
    return 0 if all(check.passed for check in checks) else 1
