"""A deliberately tiny Django app for parity's own plugin tests: one JSON view, one model table."""

import os
from urllib.parse import urlparse

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "tinyapp-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
ROOT_URLCONF = "tinyapp.urls"
USE_TZ = True
STATIC_URL = "/static/"
_db = urlparse(os.environ.get("DATABASE_URL", "postgresql://localhost/tinyapp"))
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "",
        "PORT": _db.port or "",
    }
}
GREETING = os.environ.get("TINYAPP_GREETING", "hello")
MEDIA_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "media")
MEDIA_URL = "/media/"
# Behind a TLS-terminating proxy that says so (nginx: X-Forwarded-Proto), as in production.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
