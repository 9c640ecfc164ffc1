"""pinboard's settings: one module, everything that differs between deployments read from the
environment, as docker-compose.yml sets it.

    DATABASE_URL           the database (dj-database-url; libpq's PG* variables otherwise)
    REDIS_URL              a Redis the cache lives in, shared by every uWSGI worker; without
                           it, each process's own memory (runserver: one process)
    DJANGO_SECRET_KEY      default: a fixed development key
    DJANGO_DEBUG           "1": DEBUG on (default off)
    DJANGO_ALLOWED_HOSTS   comma-separated (default 127.0.0.1,localhost)
    PINBOARD_SHOW_DRAFTS   set: the board lists draft pins too (an editor's preview)
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "pinboard-development-key-not-a-secret"
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
                 if h.strip()]

# Any non-empty value turns the preview on.
SHOW_DRAFTS = bool(os.environ.get("PINBOARD_SHOW_DRAFTS"))

INSTALLED_APPS = [
    # WhiteNoise serves the static files under runserver too (not runserver's own handler),
    # so development sees the headers production sends.
    "whitenoise.runserver_nostatic",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "pinboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise serves the collected static files: there is no web server in front.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pinboard.urls"
WSGI_APPLICATION = "pinboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {"default": dj_database_url.config(default="postgres:///pinboard", conn_max_age=60)}

if os.environ.get("REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["REDIS_URL"]}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# From the apps' static/ folders as well as STATIC_ROOT: nothing to collect in development.
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
