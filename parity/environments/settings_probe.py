"""The app settings parity needs before a release step: NOT imported. It runs with each side's
own interpreter and settings: locally with the virtualenv's Python (`python -c SOURCE`), and in
the app image at build time (`python settings_probe.py --record PATH --media-owner UID`).
So: any Python >= 3.8, the standard library and Django only, untyped on purpose.

It reads where uploads go (MEDIA_ROOT, made absolute as Django does, and MEDIA_URL), STATIC_URL,
and the default database (ENGINE, NAME, HOST, PORT, USER: never the password), and prints them
as one line, "@@PARITY-SETTINGS@@" + JSON. With --record it also writes that JSON to PATH and,
with --media-owner, creates MEDIA_ROOT owned by that user, so that a fresh volume mounted there
is writable by the app (Docker copies the directory's owner into an empty named volume), and
writes the nginx location that serves MEDIA_URL from the media volume next to the record.
"""
import json
import os
import re
import sys

MARKER = "@@PARITY-SETTINGS@@"
MEDIA_MOUNT = "/srv/media"
SAFE_URL = re.compile(r"^/[A-Za-z0-9._~/-]*/$")


def read():
    sys.path.insert(0, os.getcwd())
    import django
    from django.conf import settings

    django.setup()
    database = settings.DATABASES.get("default") or {}
    media_root = os.fspath(settings.MEDIA_ROOT or "")
    return {
        "module": os.environ.get("PARITY_SETTINGS_MODULE") or os.environ.get("DJANGO_SETTINGS_MODULE"),
        "MEDIA_ROOT": os.path.abspath(media_root) if media_root else "",
        "MEDIA_URL": str(settings.MEDIA_URL or ""),
        "STATIC_URL": str(settings.STATIC_URL or ""),
        "database": {key: str(database.get(key) or "") for key in ("ENGINE", "NAME", "HOST", "PORT", "USER")},
        "security": {key: _plain(getattr(settings, key, None)) for key in SECURITY},
    }


SECURITY = ("SESSION_COOKIE_SECURE", "SESSION_COOKIE_NAME", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_NAME",
            "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER",
            "CSRF_TRUSTED_ORIGINS")
"""What HTTPS changes about the app's answers: which differences follow from declared settings."""


def _plain(value):
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return str(value)


def media_location(media_url):
    """The nginx location a production site uses for uploads; "" when nginx cannot serve them."""
    if not SAFE_URL.match(media_url) or media_url == "/":
        return ""
    return "location %s {\n    alias %s/;\n}\n" % (media_url, MEDIA_MOUNT)


def main(argv):
    found = read()
    if "--record" in argv:
        record = argv[argv.index("--record") + 1]
        os.makedirs(os.path.dirname(record), exist_ok=True)
        with open(record, "w") as out:
            json.dump(found, out, sort_keys=True)
        with open(os.path.join(os.path.dirname(record), "media.conf"), "w") as out:
            out.write(media_location(found["MEDIA_URL"]) if found["MEDIA_ROOT"] else "")
        if "--media-owner" in argv and found["MEDIA_ROOT"]:
            owner = int(argv[argv.index("--media-owner") + 1])
            os.makedirs(found["MEDIA_ROOT"], exist_ok=True)
            os.chown(found["MEDIA_ROOT"], owner, owner)
    sys.stdout.write("\n" + MARKER + json.dumps(found, sort_keys=True) + "\n")
    sys.stdout.flush()


main(sys.argv)
