"""The configuration as parity uses it: frozen, typed objects, read from `[tool.parity]` by
parity.configuration.load (which validates every value first)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

AppKind = Literal["django", "wsgi"]

DEFAULT_BASE_IMAGE = "python:3.11-slim"
DEFAULT_FRONTEND_IMAGE = "nginx:stable"
DEFAULT_DJANGO_RELEASE = "python manage.py migrate --noinput"


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
    PARITY_FRONTEND_IMAGE: used as they are, never replaced by a stand-in (parity.machine.standins)."""
    media_url: str = "/media/"
    """Where uploaded files are served (MEDIA_URL): like static_url, the comparison treats
    what a file server sets by nature on these responses as noise (parity.comparison.noise)."""

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
