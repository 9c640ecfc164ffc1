"""Read and validate `[tool.parity]` from an app's pyproject.toml into frozen, typed objects.

Every bad value is a ParityConfigError naming the file, the key, the value and the fix.
Nothing here touches Docker, Postgres or the network.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from parity.errors import ParityConfigError

AppKind = Literal["django", "wsgi"]

DEFAULT_BASE_IMAGE = "python:3.11-slim"
DEFAULT_FRONTEND_IMAGE = "nginx:stable"
DEFAULT_DJANGO_RELEASE = "python manage.py migrate --noinput"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SERVICE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_IMAGE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*$")


@dataclass(frozen=True)
class LocalConfig:
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackConfig:
    env: Mapping[str, str] = field(default_factory=dict)
    compose_file: Path | None = None
    build: Path | None = None
    app_service: str = "app"
    app_port: int = 8000
    entry_service: str = "frontend"
    entry_port: int = 80
    scheme: Literal["http", "https"] = "https"
    """What the stack's entry speaks. Generated stacks: https by default (nginx terminates TLS
    with a throwaway CA's certificate). Own compose files: https when your frontend reads the
    certificate and key parity mounts at tls_certificate / tls_key, else http."""
    tls_certificate: str | None = None
    tls_key: str | None = None
    database_service: str | None = None
    """Own compose file: its database service, replaced by the throwaway Postgres (never started)."""

    @property
    def user_owned(self) -> bool:
        """True when the user brings their own compose file (parity adds only an override)."""
        return self.compose_file is not None

    @property
    def has_frontend(self) -> bool:
        """False when the tests talk to the app service itself (uwsgi or gunicorn serving HTTP,
        no nginx in front): there is no frontend layer to tell apart from the app."""
        return not self.user_owned or self.entry_service != self.app_service


@dataclass(frozen=True)
class CompareConfig:
    ignore_headers: tuple[str, ...] = ()
    ignore_json_paths: tuple[str, ...] = ()
    ignore_text_patterns: tuple[str, ...] = ()
    request_timeout: float = 30.0


@dataclass(frozen=True)
class FactsConfig:
    expected: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParityConfig:
    file: Path
    root: Path
    app: AppKind
    project_dir: Path
    wsgi: str
    settings: str | None
    requirements: Path
    base_image: str
    frontend_image: str
    static_url: str
    env: Mapping[str, str]
    release: tuple[tuple[str, ...], ...]
    """The release commands, each an argv, run in order per environment on its own database."""
    local: LocalConfig
    stack: StackConfig
    compare: CompareConfig
    facts: FactsConfig
    explicit_images: frozenset[str] = frozenset()
    """The image keys (base_image, frontend_image) set by PARITY_BASE_IMAGE /
    PARITY_FRONTEND_IMAGE: used as they are, never replaced by a stand-in (parity.standins)."""
    media_url: str = "/media/"
    """Where uploaded files are served (MEDIA_URL): like static_url, the comparison treats
    what a file server sets by nature on these responses as noise (parity.noise)."""

    @property
    def name(self) -> str:
        """A short, Docker-safe name for the app (from the project directory)."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.root.name.lower()).strip("-")
        return slug or "app"

    @property
    def wsgi_module(self) -> str:
        return self.wsgi.split(":", 1)[0]

    def env_for(self, environment: str) -> dict[str, str]:
        """The declared environment of one side: shared env, then that side's table."""
        merged = dict(self.env)
        if self.settings:
            merged.setdefault("DJANGO_SETTINGS_MODULE", self.settings)
        merged.update(self.local.env if environment == "local" else self.stack.env)
        return merged


_TOP_KEYS = (
    "app", "project_dir", "wsgi", "settings", "requirements", "base_image", "frontend_image",
    "static_url", "media_url", "env", "release", "local", "stack", "compare", "facts",
)
_LOCAL_KEYS = ("env",)
_STACK_KEYS = (
    "env", "compose_file", "build", "app_service", "app_port", "entry_service", "entry_port",
    "scheme", "tls_certificate", "tls_key",
    "database_service",
)
_COMPARE_KEYS = ("ignore_headers", "ignore_json_paths", "ignore_text_patterns", "request_timeout")
_FACTS_KEYS = ("expected",)


class _Reader:
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
            raise self.error(f"{prefix}.{key}", f"must be a string, not {_toml_type(value)}",
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
            raise self.error(f"{prefix}.{key}", f"must be an integer, not {_toml_type(value)}",
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
            raise self.error(f"{prefix}.{key}", f"must be a table, not {_toml_type(value)}",
                             f'write {key} = {{ NAME = "value" }}', value)
        env: dict[str, str] = {}
        for name, item in value.items():
            if not _ENV_NAME.match(name):
                raise self.error(f"{prefix}.{key}.{name}", "is not a valid environment variable name",
                                 "use letters, digits and underscores, not starting with a digit")
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.error(f"{prefix}.{key}.{name}", f"must be a string, not {_toml_type(item)}",
                                 f'quote the value, e.g. {name} = "1"', item)
            if not isinstance(item, str):
                raise self.error(f"{prefix}.{key}.{name}", "must be a string, not a number",
                                 f'quote the value: {name} = "{item}"', item)
            env[name] = item
        return env

    def subtable(self, table: Mapping[str, Any], key: str, prefix: str) -> Mapping[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise self.error(f"{prefix}.{key}", f"must be a table, not {_toml_type(value)}",
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


def _toml_type(value: object) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "a list", dict: "a table",
    }.get(type(value), type(value).__name__)


def find_config(start: Path) -> Path:
    """The nearest pyproject.toml with a [tool.parity] table, from `start` upwards."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return candidate  # load_config reports it properly
            if isinstance(data.get("tool"), dict) and "parity" in data["tool"]:
                return candidate
    raise ParityConfigError(str(start), "tool.parity", "no pyproject.toml with a [tool.parity] table here or above",
                            "add [tool.parity] to your app's pyproject.toml or pass --parity-config PATH")


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> ParityConfig:
    """Read and validate `[tool.parity]` from the pyproject.toml at `path`."""
    environ = os.environ if environ is None else environ
    file = Path(path)
    reader = _Reader(file)
    if file.is_dir():
        file = file / "pyproject.toml"
        reader = _Reader(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise reader.error("tool.parity", "file not found",
                           "pass the path of your app's pyproject.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise reader.error("tool.parity", f"cannot be read ({type(exc).__name__}: {exc})",
                           "make it a readable UTF-8 file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise reader.error("tool.parity", f"is not valid TOML ({exc})",
                           "fix the syntax at that line") from None

    tool = data.get("tool", {})
    if not isinstance(tool, dict) or "parity" not in tool:
        raise reader.error("tool.parity", "table is missing",
                           'add a [tool.parity] section, e.g. app = "django" and wsgi = "mysite.wsgi:application"')
    table = tool["parity"]
    if not isinstance(table, dict):
        raise reader.error("tool.parity", f"must be a table, not {_toml_type(table)}",
                           "write it as a [tool.parity] section")
    p = "tool.parity"
    reader.check_keys(table, _TOP_KEYS, p)
    root = file.resolve().parent

    app = reader.string(table, "app", p, "django")
    if app not in ("django", "wsgi"):
        raise reader.error(f"{p}.app", "unknown app kind", 'use "django" or "wsgi"', app)

    project_dir = reader.inside(root, reader.string(table, "project_dir", p, ".") or ".", f"{p}.project_dir")
    if not project_dir.is_dir():
        raise reader.error(f"{p}.project_dir", "is not a directory",
                           "point it at the directory that holds manage.py", str(project_dir.relative_to(root)))

    settings = reader.string(table, "settings", p, None)
    if settings is not None and not _DOTTED.match(settings):
        raise reader.error(f"{p}.settings", "is not a dotted module path",
                           'e.g. settings = "mysite.settings"', settings)

    wsgi = reader.string(table, "wsgi", p, None)
    if wsgi is None:
        if app == "django" and settings:
            wsgi = settings.split(".")[0] + ".wsgi:application"
        else:
            raise reader.error(f"{p}.wsgi", "is required",
                               'name the WSGI callable, e.g. wsgi = "mysite.wsgi:application"')
    module, _, attribute = wsgi.partition(":")
    attribute = attribute or "application"
    if not _DOTTED.match(module) or not attribute.isidentifier():
        raise reader.error(f"{p}.wsgi", "must look like 'package.module:callable'",
                           'e.g. wsgi = "mysite.wsgi:application"', wsgi)
    wsgi = f"{module}:{attribute}"
    if _module_file(project_dir, module) is None:
        raise reader.error(f"{p}.wsgi", f"module {module} not found under {project_dir}",
                           "fix the module path or project_dir", wsgi)

    if app == "django":
        if not (project_dir / "manage.py").is_file():
            raise reader.error(f"{p}.project_dir", f"has no manage.py ({project_dir})",
                               "set project_dir to the directory that holds manage.py",
                               str(project_dir.relative_to(root)) or ".")
        if settings is None:
            settings = module.rsplit(".", 1)[0] + ".settings" if "." in module else None
            if settings is None:
                raise reader.error(f"{p}.settings", "is required for app = \"django\"",
                                   'e.g. settings = "mysite.settings"')

    requirements_name = reader.string(table, "requirements", p, "requirements.txt") or "requirements.txt"
    requirements = reader.inside(root, requirements_name, f"{p}.requirements")
    if not requirements.is_file():
        raise reader.error(f"{p}.requirements", "file not found",
                           "create it (pip freeze > requirements.txt) or point the key at your requirements file",
                           requirements_name)

    base_image = environ.get("PARITY_BASE_IMAGE") or reader.string(table, "base_image", p, DEFAULT_BASE_IMAGE)
    frontend_image = environ.get("PARITY_FRONTEND_IMAGE") or reader.string(
        table, "frontend_image", p, DEFAULT_FRONTEND_IMAGE)
    for key, image in (("base_image", base_image), ("frontend_image", frontend_image)):
        assert image is not None
        if not _IMAGE.match(image):
            raise reader.error(f"{p}.{key}", "is not a Docker image reference",
                               'e.g. "python:3.11-slim" (environment PARITY_BASE_IMAGE / '
                               'PARITY_FRONTEND_IMAGE override it)', image)

    static_url = _url_path(reader, table, "static_url", "/static/")
    media_url = _url_path(reader, table, "media_url", "/media/")

    env = reader.env_table(table, "env", p)

    default_release = DEFAULT_DJANGO_RELEASE if app == "django" else None
    release = _read_release(reader, table, p, default_release)

    local_table = reader.subtable(table, "local", p)
    reader.check_keys(local_table, _LOCAL_KEYS, f"{p}.local")
    local = LocalConfig(env=reader.env_table(local_table, "env", f"{p}.local"))

    stack = _read_stack(reader, reader.subtable(table, "stack", p), root)
    compare = _read_compare(reader, reader.subtable(table, "compare", p))

    facts_table = reader.subtable(table, "facts", p)
    reader.check_keys(facts_table, _FACTS_KEYS, f"{p}.facts")
    facts = FactsConfig(expected=reader.string_list(facts_table, "expected", f"{p}.facts"))

    assert base_image is not None and frontend_image is not None
    return ParityConfig(
        file=file.resolve(), root=root, app=app,  # type: ignore[arg-type]
        project_dir=project_dir, wsgi=wsgi, settings=settings, requirements=requirements,
        base_image=base_image, frontend_image=frontend_image, static_url=static_url, env=env,
        release=release, local=local, stack=stack, compare=compare, facts=facts,
        media_url=media_url,
        explicit_images=frozenset(key for key, variable in (("base_image", "PARITY_BASE_IMAGE"),
                                                            ("frontend_image", "PARITY_FRONTEND_IMAGE"))
                                  if environ.get(variable)),
    )


def _url_path(reader: _Reader, table: Mapping[str, Any], key: str, default: str) -> str:
    p = "tool.parity"
    value = reader.string(table, key, p, default) or default
    if not (value.startswith("/") and value.endswith("/")) or "//" in value:
        raise reader.error(f"{p}.{key}", "must be a URL path that starts and ends with '/'",
                           f'e.g. {key} = "{default}"', value)
    return value


def _read_release(reader: _Reader, table: Mapping[str, Any], p: str,
                  default: str | None) -> tuple[tuple[str, ...], ...]:
    """`release`: one command, or a list of commands run in order; each split like a shell."""
    value = table.get("release", default)
    if value is None:
        return ()
    if isinstance(value, str):
        commands = [reader.string(table, "release", p, default) or ""]
    elif isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value):
        commands = list(value)
    else:
        raise reader.error(f"{p}.release", "must be a command or a list of commands",
                           'e.g. release = ["python manage.py migrate --noinput", '
                           '"python manage.py load_initial_data"]', value)
    steps = []
    for index, command in enumerate(commands):
        try:
            steps.append(tuple(shlex.split(command)))
        except ValueError as exc:
            where = f"{p}.release" if isinstance(value, str) else f"{p}.release[{index}]"
            raise reader.error(where, f"cannot be split into a command ({exc})",
                               "balance the quotes", command) from None
    return tuple(steps)


def _read_stack(reader: _Reader, table: Mapping[str, Any], root: Path) -> StackConfig:
    p = "tool.parity.stack"
    reader.check_keys(table, _STACK_KEYS, p)
    compose_file: Path | None = None
    build: Path | None = None
    compose_name = reader.string(table, "compose_file", p, None)
    if compose_name is not None:
        compose_file = reader.inside(root, compose_name, f"{p}.compose_file")
        if not compose_file.is_file():
            raise reader.error(f"{p}.compose_file", "file not found",
                               "point it at your compose file, relative to pyproject.toml", compose_name)
    build_name = reader.string(table, "build", p, None)
    if build_name is not None:
        if compose_file is None:
            raise reader.error(f"{p}.build", "is set without compose_file",
                               "a build script belongs to your own compose file: set compose_file too, or remove build")
        build = reader.inside(root, build_name, f"{p}.build")
        if not build.is_file():
            raise reader.error(f"{p}.build", "file not found", "point it at your image build script", build_name)
    services: dict[str, str | None] = {}
    for key, default in (("app_service", "app"), ("entry_service", "frontend"),
                         ("database_service", None)):
        name = reader.string(table, key, p, default)
        if name is not None and not _SERVICE.match(name):
            raise reader.error(f"{p}.{key}", "is not a valid compose service name",
                               "use letters, digits, '-', '_' and '.'", name)
        services[key] = name
    if compose_file is None:
        for key in ("app_service", "entry_service", "app_port", "entry_port", "database_service"):
            if key in table:
                raise reader.error(f"{p}.{key}", "only applies with your own compose_file",
                                   "remove it, or set compose_file", table[key])
    tls = {}
    for key in ("tls_certificate", "tls_key"):
        value = reader.string(table, key, p, None)
        if value is not None and compose_file is None:
            raise reader.error(f"{p}.{key}", "only applies with your own compose_file",
                               "remove it: generated stacks terminate TLS themselves", value)
        if value is not None and not value.startswith("/"):
            raise reader.error(f"{p}.{key}", "must be an absolute path inside your frontend container",
                               'e.g. tls_certificate = "/etc/nginx/certs/site.crt"', value)
        tls[key] = value
    if (tls["tls_certificate"] is None) != (tls["tls_key"] is None):
        missing = "tls_key" if tls["tls_key"] is None else "tls_certificate"
        raise reader.error(f"{p}.{missing}", "is missing", "name both tls_certificate and tls_key, "
                           "the paths where your frontend reads its certificate and key")
    default_scheme = "https" if compose_file is None or tls["tls_certificate"] else "http"
    scheme = reader.string(table, "scheme", p, default_scheme)
    if scheme not in ("http", "https"):
        raise reader.error(f"{p}.scheme", "must be \"https\" or \"http\"",
                           'scheme = "http" opts out of TLS in the stack', scheme)
    if scheme == "https" and compose_file is not None and not tls["tls_certificate"]:
        raise reader.error(f"{p}.scheme", "https with your own compose file needs tls_certificate "
                           "and tls_key", "name the paths where your frontend reads its certificate "
                           "and key (parity mounts its throwaway ones there), or use scheme = \"http\"",
                           scheme)
    database = services["database_service"]
    for key in ("app_service", "entry_service"):
        if database is not None and services[key] == database:
            raise reader.error(f"{p}.database_service", f"is also the {key}",
                               "name the service that runs Postgres: parity replaces it with its "
                               "throwaway database and never starts it", database)
    return StackConfig(
        env=reader.env_table(table, "env", p),
        compose_file=compose_file,
        build=build,
        app_service=services["app_service"] or "app",
        app_port=reader.integer(table, "app_port", p, 8000, 1, 65535),
        entry_service=services["entry_service"] or "frontend",
        entry_port=reader.integer(table, "entry_port", p, 80, 1, 65535),
        scheme=scheme,  # type: ignore[arg-type]
        tls_certificate=tls["tls_certificate"],
        tls_key=tls["tls_key"],
        database_service=database,
    )


def _read_compare(reader: _Reader, table: Mapping[str, Any]) -> CompareConfig:
    p = "tool.parity.compare"
    reader.check_keys(table, _COMPARE_KEYS, p)
    headers = reader.string_list(table, "ignore_headers", p)
    paths = reader.string_list(table, "ignore_json_paths", p)
    for path in paths:
        if not path.startswith("$"):
            raise reader.error(f"{p}.ignore_json_paths", "a JSON path must start with '$'",
                               'e.g. "$.generated_at" or "$.results[*].id"', path)
    patterns = reader.string_list(table, "ignore_text_patterns", p)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise reader.error(f"{p}.ignore_text_patterns", f"is not a valid regular expression ({exc})",
                               "fix the pattern (TOML literal strings '...' avoid double escaping)",
                               pattern) from None
    return CompareConfig(
        ignore_headers=tuple(h.lower() for h in headers),
        ignore_json_paths=paths,
        ignore_text_patterns=patterns,
        request_timeout=reader.number(table, "request_timeout", p, 30.0),
    )


def _module_file(project_dir: Path, module: str) -> Path | None:
    parts = module.split(".")
    as_file = project_dir.joinpath(*parts[:-1], parts[-1] + ".py")
    as_package = project_dir.joinpath(*parts, "__init__.py")
    for candidate in (as_file, as_package):
        if candidate.is_file():
            return candidate
    return None
