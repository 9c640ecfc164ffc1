"""Read and validate `[tool.parity]` from an app's pyproject.toml into the frozen, typed
objects of parity.configuration.model.

Every bad value is a ParityConfigError naming the file, the key, the value and the fix.
Nothing here touches Docker, Postgres or the network.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parity.configuration.model import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_DJANGO_RELEASE,
    DEFAULT_FRONTEND_IMAGE,
    CompareConfig,
    FactsConfig,
    LocalConfig,
    ParityConfig,
    StackConfig,
)
from parity.configuration.reader import Reader, toml_type
from parity.support.errors import ParityConfigError

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SERVICE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_IMAGE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*$")


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
    reader = Reader(file)
    if file.is_dir():
        file = file / "pyproject.toml"
        reader = Reader(file)
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
        raise reader.error("tool.parity", f"must be a table, not {toml_type(table)}",
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


def _url_path(reader: Reader, table: Mapping[str, Any], key: str, default: str) -> str:
    p = "tool.parity"
    value = reader.string(table, key, p, default) or default
    if not (value.startswith("/") and value.endswith("/")) or "//" in value:
        raise reader.error(f"{p}.{key}", "must be a URL path that starts and ends with '/'",
                           f'e.g. {key} = "{default}"', value)
    return value


def _read_release(reader: Reader, table: Mapping[str, Any], p: str,
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


def _read_stack(reader: Reader, table: Mapping[str, Any], root: Path) -> StackConfig:
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


def _read_compare(reader: Reader, table: Mapping[str, Any]) -> CompareConfig:
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
