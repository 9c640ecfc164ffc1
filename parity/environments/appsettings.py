"""What parity reads of a Django app's own settings before any release step, and what follows.

    local   settings_probe.py with the virtualenv's Python and the local settings, just before
            the local release step
    stack   the record settings_probe.py wrote into the app image at build time (with the
            stack's settings), read from the image once per image id and cached

What follows: the app must use the database parity provides (DATABASE_URL / PG*), else the run
stops before any release step with one line naming the settings module, what DATABASES
['default'] is, and the fix; and uploads go to per-run storage on both sides, never into the
checkout: locally a settings module of parity's own wraps the app's and moves MEDIA_ROOT into
the run's temp dir; in the stack a per-run volume is mounted at the image's MEDIA_ROOT.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity.comparison.noise import IgnoreRule, NoiseRules
from parity.machine.engine import read_image_file
from parity.support import proc
from parity.support.cache import cache_root
from parity.support.errors import CommandError, SettingsError, StartupError, tail, telling_line

PROBE = (Path(__file__).parent / "settings_probe.py").read_text(encoding="utf-8")
MARKER = "@@PARITY-SETTINGS@@"
RECORD = "/srv/parity/app-settings.json"
"""Where the app image keeps what settings_probe.py read at build time."""
WRAPPER = "parity_local_settings"
"""The module name of the local wrapper settings (in the run's temp dir)."""
PROBE_TIMEOUT = 120.0
DJ_DATABASE_URL_FIX = ("make the settings read DATABASE_URL, e.g. with dj-database-url: "
                       "DATABASES = {'default': dj_database_url.config(conn_max_age=600)}")


@dataclass(frozen=True)
class AppSettings:
    module: str
    media_root: str
    media_url: str
    static_url: str
    database: Mapping[str, str] = field(default_factory=dict)
    security: Mapping[str, Any] = field(default_factory=dict)
    """The settings that decide what HTTPS changes: Secure cookies, HSTS, SSL redirect."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppSettings:
        return cls(module=str(data.get("module") or "?"), media_root=str(data.get("MEDIA_ROOT") or ""),
                   media_url=str(data.get("MEDIA_URL") or ""),
                   static_url=str(data.get("STATIC_URL") or ""),
                   database={str(k): str(v) for k, v in (data.get("database") or {}).items()},
                   security=dict(data.get("security") or {}))


def read_local(python: str, cwd: Path, env: Mapping[str, str]) -> AppSettings:
    """The local settings as the dev server will see them (nothing is written anywhere)."""
    try:
        done = proc.run([python, "-c", PROBE], timeout=PROBE_TIMEOUT, cwd=cwd, env=env,
                        what="settings")
    except CommandError as error:
        raise StartupError("local", "settings", telling_line(error.output) or str(error),
                           tail(error.output)) from None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            return AppSettings.from_dict(json.loads(line[len(MARKER):]))
    raise StartupError("local", "settings", "the settings probe printed nothing", tail(done.stdout))


def read_image(engine: Any, image: str, labels: Mapping[str, str] | None = None) -> AppSettings | None:
    """The record in the app image (None for an image without one: a WSGI app); cached per id."""
    image_id = str(engine.images.get(image).id)
    cached = cache_root() / "app-settings" / f"{image_id.removeprefix('sha256:')}.json"
    with contextlib.suppress(OSError, ValueError):
        return AppSettings.from_dict(json.loads(cached.read_text()))
    text = read_image_file(engine, image, RECORD, dict(labels or {}))
    if text is None:
        return None
    found = AppSettings.from_dict(json.loads(text))
    cached.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        cached.write_text(text)
    return found


def check_database(settings: AppSettings, expected: str, side: str, project: Path | None = None) -> None:
    """Stop when the settings ignore the database parity provides (before any release step)."""
    database = settings.database
    if database.get("NAME") == expected and "postg" in database.get("ENGINE", "").lower():
        return
    engine = database.get("ENGINE", "").rsplit(".", 1)[-1] or "no ENGINE"
    name = database.get("NAME", "")
    if project is not None and name.startswith(str(project) + os.sep):
        name = "<project>/" + os.path.relpath(name, project)
    where = name if "sqlite" in engine else f"database {name or '(no NAME)'}" + (
        f" at {database['HOST']}:{database.get('PORT') or 5432}" if database.get("HOST") else "")
    raise SettingsError(f"{side}: settings {settings.module}: DATABASES['default'] is {engine} "
                        f"({where}), not the database parity provides (DATABASE_URL, PG*); "
                        f"{DJ_DATABASE_URL_FIX}")


def local_wrapper(directory: Path, wrapped: str, media_root: Path) -> dict[str, str]:
    """Write parity's local settings module (the app's, with MEDIA_ROOT in per-run storage);
    returns the environment that makes the dev server and the release step use it."""
    directory.mkdir(parents=True, exist_ok=True)
    media_root.mkdir(parents=True, exist_ok=True)
    (directory / f"{WRAPPER}.py").write_text(
        "# Generated by parity for one run: the app's own settings (every upper-case name, as\n"
        "# Django reads them), with uploads in per-run storage instead of the checkout.\n"
        "import importlib as _importlib\n\n"
        f"globals().update((_name, _value) for _name, _value in vars(_importlib.import_module({wrapped!r}))"
        ".items() if _name.isupper())\n"
        f"MEDIA_ROOT = {str(media_root)!r}\n")
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH", "")) if p)
    return {"DJANGO_SETTINGS_MODULE": WRAPPER, "PARITY_SETTINGS_MODULE": wrapped, "PYTHONPATH": path}


def declared_noise(local: AppSettings | None, stack: AppSettings | None) -> NoiseRules:
    """What follows from HTTPS together with settings only the stack's declare: the Secure
    flag of its session and CSRF cookies, and HSTS. Shown as declared, never a divergence;
    everything else about those cookies and responses is still compared."""
    if local is None or stack is None:
        return NoiseRules()
    mine, theirs = local.security, stack.security
    rules = []
    for setting, name_setting, default in (("SESSION_COOKIE_SECURE", "SESSION_COOKIE_NAME", "sessionid"),
                                           ("CSRF_COOKIE_SECURE", "CSRF_COOKIE_NAME", "csrftoken")):
        if theirs.get(setting) and not mine.get(setting):
            name = str(theirs.get(name_setting) or default)
            rules.append(IgnoreRule("cookie_flag", f"{name}:secure",
                                    f"declared: only the stack's settings ({stack.module}) set "
                                    f"{setting}: the cookie travels over HTTPS only", "declared"))
    if int(theirs.get("SECURE_HSTS_SECONDS") or 0) > 0 and not int(mine.get("SECURE_HSTS_SECONDS") or 0):
        rules.append(IgnoreRule("header", "strict-transport-security",
                                f"declared: only the stack's settings ({stack.module}) set "
                                "SECURE_HSTS_SECONDS: HSTS is sent over HTTPS", "declared"))
    return NoiseRules(rules)
