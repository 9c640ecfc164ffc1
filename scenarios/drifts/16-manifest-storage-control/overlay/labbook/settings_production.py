"""labbook's settings as production runs them: static files stored under content-hashed
names (collectstatic writes `site.<hash>.css` and a manifest; `{% static %}` links those)."""

from labbook.settings import *  # noqa: F403

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
