"""Settings for labbook, read from environment variables.

Every switch below has a default that gives the same behavior under `manage.py runserver`
and under gunicorn behind nginx. The drift scenarios flip one of them in one environment.

Database
  DATABASE_URL                    postgresql://user:password@host:port/name[?sslmode=...]
  PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE
                                  used when DATABASE_URL is not set (libpq's own variables)
Django
  DJANGO_SECRET_KEY               default: a fixed, non-secret development key
  DJANGO_DEBUG                    "1" turns DEBUG on (default "0": off)
  DJANGO_ALLOWED_HOSTS            comma-separated (default "*")
  DJANGO_CSRF_TRUSTED_ORIGINS     comma-separated origins, e.g. "https://lab.example.org"
  DJANGO_SECURE_PROXY_SSL_HEADER  "1" (default): trust X-Forwarded-Proto from the proxy for
                                  request.is_secure() and absolute URLs; "0": ignore it
  DJANGO_USE_X_FORWARDED_HOST     "1": build absolute URLs from X-Forwarded-Host instead of
                                  Host (default "0")
  DJANGO_SECURE_SSL_REDIRECT      "1": redirect every plain-http request to https, as the
                                  deployment checklist recommends (default "0")
  DJANGO_STATIC_ROOT              where collectstatic writes (default <project>/staticfiles)
  LABBOOK_MEDIA_ROOT              MEDIA_ROOT, relative to the project: media files the app
                                  serves at /media/ itself, as in development; in production
                                  the frontend serves them (default: none, no /media/)
  DJANGO_LOG_LEVEL                level of the stderr log (default "INFO")
labbook
  LABBOOK_TIME_ZONE               TIME_ZONE, used to show and read booking times
                                  (default "Europe/Berlin")
  LABBOOK_PAGE_SIZE               items per page of the JSON API (default 5)
  LABBOOK_MAX_UPLOAD_BYTES        largest accepted attachment (default 5 MiB; note nginx's
                                  own default body limit is 1 MiB)
  LABBOOK_HIGHLIGHT               "1": the instrument page highlights its setup snippet with
                                  Pygments, which requirements.txt does not list (default "0")
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use 1 or 0")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: must be an integer") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def database_from_environment() -> dict[str, object]:
    """DATABASES["default"] from DATABASE_URL, or else from libpq's PG* variables."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "labbook"),
            "USER": os.environ.get("PGUSER", ""),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", ""),
            "PORT": os.environ.get("PGPORT", ""),
        }
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL has scheme {parts.scheme!r}: labbook needs postgresql://user:pass@host:port/db"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "labbook-development-key-not-a-secret-0123456789abcdefghijkl"
)
DEBUG = env_flag("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "*")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
if env_flag("DJANGO_SECURE_PROXY_SSL_HEADER", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_flag("DJANGO_USE_X_FORWARDED_HOST", False)
SECURE_SSL_REDIRECT = env_flag("DJANGO_SECURE_SSL_REDIRECT", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "bookings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "labbook.urls"
WSGI_APPLICATION = "labbook.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "bookings.context_processors.labbook",
            ],
        },
    },
]

DATABASES = {"default": database_from_environment()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "my-bookings"
LOGOUT_REDIRECT_URL = "instrument-list"
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("LABBOOK_TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
LABBOOK_SERVES_MEDIA = bool(os.environ.get("LABBOOK_MEDIA_ROOT"))
MEDIA_ROOT = BASE_DIR / os.environ["LABBOOK_MEDIA_ROOT"] if LABBOOK_SERVES_MEDIA else ""

LABBOOK_PAGE_SIZE = env_int("LABBOOK_PAGE_SIZE", 5)
LABBOOK_MAX_UPLOAD_BYTES = env_int("LABBOOK_MAX_UPLOAD_BYTES", 5 * 1024 * 1024)
LABBOOK_HIGHLIGHT = env_flag("LABBOOK_HIGHLIGHT", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "{levelname} {name}: {message}", "style": "{"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain",
        },
    },
    "root": {"handlers": ["stderr"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
