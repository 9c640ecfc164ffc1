"""The generated files of an image build context: the app and frontend Dockerfiles, nginx's
main and site configs, and the script that collects static files at build time.

Their text is part of the images' digest, so any change here rebuilds the images.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from parity.configuration import ParityConfig
from parity.environments.images.context import APP_DIR, WHEELS_DIR

APP_PORT = 8000
"""gunicorn in the app container binds 0.0.0.0:APP_PORT."""
FRONTEND_PORT = 8080
"""nginx listens on FRONTEND_PORT (http) inside its container, so it runs without root."""
FRONTEND_TLS_PORT = 8443
"""... and on FRONTEND_TLS_PORT (https) when the stack's scheme is https."""
RUN_CONF_DIR = "/etc/parity-run"
"""Mounted into the frontend at run time: the listeners (servers.conf) and the TLS files."""
APP_SERVICE = "app"
FRONTEND_SERVICE = "frontend"
APP_USER = "app"
APP_UID = 10001
RECIPE_VERSION = "3"
"""Bump when the way images are built changes in a way the generated files do not show."""

APP_DOCKERFILE = "Dockerfile.app"
FRONTEND_DOCKERFILE = "Dockerfile.frontend"
FRONTEND_DIR = "frontend"
"""Copied over /etc/nginx in one step: nginx.conf, conf.d/parity.conf, conf.d/default.conf
(emptied) and parity-locations.conf."""
NGINX_CONF = f"{FRONTEND_DIR}/nginx.conf"
SITE_CONF = f"{FRONTEND_DIR}/conf.d/parity.conf"
DEFAULT_SITE_CONF = f"{FRONTEND_DIR}/conf.d/default.conf"
LOCATIONS_CONF = f"{FRONTEND_DIR}/parity-locations.conf"
LOCATIONS_PATH = "/etc/nginx/parity-locations.conf"
COLLECTSTATIC_SCRIPT = "collectstatic.py"
SETTINGS_PROBE = "settings_probe.py"
BUILD_DATABASE = "collectstatic"
BUILD_DATABASE_URL = f"postgresql://{BUILD_DATABASE}@127.0.0.1:5432/{BUILD_DATABASE}"
"""Never connected to: collectstatic needs no database, some settings modules need the variable.
The settings record taken at build time shows whether the settings follow it."""
BUILD_DATABASE_ENV = {"DATABASE_URL": BUILD_DATABASE_URL, "PGHOST": "127.0.0.1", "PGPORT": "5432",
                      "PGUSER": BUILD_DATABASE, "PGDATABASE": BUILD_DATABASE}
RECORD_DIR = "/srv/parity"
MEDIA_CONF = f"{RECORD_DIR}/media.conf"
"""The nginx location serving MEDIA_URL, written by settings_probe.py at build time ('' if none)."""
STATIC_ROOT = "/srv/static"
CODE_DIR = "/srv/app"
VENV = "/opt/venv"
# Spelled out: images made with `docker import` have no PATH for `$PATH` to expand to.
_PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def render(config: ParityConfig) -> dict[str, str]:
    """The generated files of the build context, by name."""
    return {
        APP_DOCKERFILE: _app_dockerfile(config),
        FRONTEND_DOCKERFILE: _frontend_dockerfile(config),
        NGINX_CONF: _NGINX_CONF,
        SITE_CONF: _SITE_CONF,
        DEFAULT_SITE_CONF: _DEFAULT_SITE_CONF,
        LOCATIONS_CONF: locations_conf(config),
        COLLECTSTATIC_SCRIPT: _COLLECTSTATIC,
        SETTINGS_PROBE: (Path(__file__).parents[1] / SETTINGS_PROBE).read_text(encoding="utf-8"),
    }


def with_labels(dockerfile: str, labels: dict[str, str]) -> str:
    """The Dockerfile with one LABEL line at the end. Not part of the digest (the labels
    carry it); and the classic builder would make a step of each label given to the API."""
    pairs = " ".join(f"{name}={json.dumps(value)}" for name, value in labels.items())
    return f"{dockerfile.rstrip()}\nLABEL {pairs}\n"


_PIP_HAS_PYTHON_OPTION = ("import sys, pip; from pip._vendor.packaging.version import Version as V; "
                          'sys.exit(V(pip.__version__) < V("22.3"))')
"""Exits 0 where the base image's pip has `--python` (22.3 and later)."""


def _app_dockerfile(config: ParityConfig) -> str:
    env = {"PATH": _PATH, "PYTHONUNBUFFERED": "1"}
    settings = config.env_for("stack").get("DJANGO_SETTINGS_MODULE")
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    env_line = " \\\n    ".join(f"{name}={_quote(value)}" for name, value in env.items())
    copy_script = ""
    if config.app == "django":
        copy_script = f"COPY {COLLECTSTATIC_SCRIPT} {SETTINGS_PROBE} /opt/parity/\n"
        collect = (
            "# Static files are collected at build time with the settings' defaults: the run-time\n"
            "# environment (env, stack.env) comes from compose and never enters an image. Settings\n"
            "# that demand a DATABASE_URL at import get a placeholder for this one step only. The\n"
            "# settings parity needs later (MEDIA_ROOT, MEDIA_URL, the database) are recorded, and\n"
            "# MEDIA_ROOT is made the app user's, so the per-run media volume mounted there is too.\n"
            f"RUN python /opt/parity/{COLLECTSTATIC_SCRIPT}"
        )
    else:
        collect = f"RUN mkdir -p {STATIC_ROOT} {RECORD_DIR} && touch {MEDIA_CONF}"
    # gunicorn's defaults, as a deployment has them: it trusts X-Forwarded-* only from
    # 127.0.0.1, not from the frontend container, so whether a request came over TLS is the
    # app's to tell (SECURE_PROXY_SSL_HEADER), as in production.
    command = json.dumps([
        "gunicorn", config.wsgi, "--bind", f"0.0.0.0:{APP_PORT}", "--workers", "2",
        "--access-logfile", "-",
    ])
    return f"""\
# Generated by parity (recipe {RECIPE_VERSION}) for {config.name}; not part of the app's repository.
FROM {config.base_image}
COPY {WHEELS_DIR}/ /wheels/
# The wheelhouse is what `pip wheel` resolved inside this base image, for its own Python, for
# the requirements plus gunicorn (which serves the app in the stack) when they lack it:
# install all of it, offline. The base
# image's own pip installs into the venv (`--python`, pip >= 22.3): seeding the venv with
# ensurepip would double this step's time. Without such a pip, ensurepip it is (the version
# is read first: trying `pip --python` starts pip twice, 0.4 s, and is only the fallback for a
# pip whose version cannot be read). pip compiles
# the bytecode one file at a time; compileall on every core does the same in half the time
# (and, like pip, leaves a file it cannot compile uncompiled). One RUN for all of it: the
# classic builder starts a container for each.
RUN useradd --uid {APP_UID} --user-group --create-home {APP_USER} \\
 && python3 -m venv --without-pip {VENV} \\
 && if python3 -c '{_PIP_HAS_PYTHON_OPTION}' 2>/dev/null \\
       || python3 -m pip --python {VENV}/bin/python --version >/dev/null 2>&1; \\
    then set -- python3 -m pip --python {VENV}/bin/python; \\
    else {VENV}/bin/python -m ensurepip --default-pip >/dev/null && set -- {VENV}/bin/pip; fi \\
 && "$@" install --no-index --find-links /wheels --no-cache-dir --no-compile \\
        --disable-pip-version-check /wheels/*.whl \\
 && rm -rf /wheels \\
 && ({VENV}/bin/python -m compileall -q -j 0 {VENV}/lib >/dev/null || true)
ENV {env_line}
{copy_script}COPY {APP_DIR}/ {CODE_DIR}/
WORKDIR {CODE_DIR}
{collect}
USER {APP_USER}
EXPOSE {APP_PORT}
CMD {command}
"""


def _frontend_dockerfile(config: ParityConfig) -> str:
    # The app image comes in as a build argument so that this text, which the digest
    # covers, does not depend on the digest.
    return f"""\
# Generated by parity (recipe {RECIPE_VERSION}) for {config.name}; not part of the app's repository.
ARG APP_IMAGE
FROM ${{APP_IMAGE}} AS app

FROM {config.frontend_image}
COPY {FRONTEND_DIR}/ /etc/nginx/
COPY --from=app {STATIC_ROOT} {STATIC_ROOT}
COPY --from=app {MEDIA_CONF} /etc/nginx/parity-media.conf
USER www-data
EXPOSE {FRONTEND_PORT} {FRONTEND_TLS_PORT}
CMD ["nginx", "-g", "daemon off;"]
"""


_SITE_CONF = f"""\
# Generated by parity: the listeners come with each run (plain http, or https with the run's
# throwaway certificate), mounted at {RUN_CONF_DIR}; what they serve is {LOCATIONS_PATH}.
include {RUN_CONF_DIR}/servers.conf;
"""


def locations_conf(config: ParityConfig) -> str:
    """What the frontend serves: static files, media, and everything else from gunicorn."""
    static = config.static_url
    if not _SAFE_URL.match(static):
        static = json.dumps(static)
    # $http_host keeps the port the client used, so the app builds absolute URLs that point
    # back at the published port; X-Forwarded-Proto says whether the client came over TLS.
    return f"""\
# Generated by parity: nginx in front of gunicorn, serving the collected static files.
location {static} {{
    alias {STATIC_ROOT}/;
}}

# MEDIA_URL, served from the per-run media volume (the app's settings name it at build).
include /etc/nginx/parity-media.conf;

location / {{
    proxy_pass http://{APP_SERVICE}:{APP_PORT};
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
}}
"""


def servers_conf(scheme: str, https_port: int | None = None) -> str:
    """The frontend's listeners for one run. https: TLS on FRONTEND_TLS_PORT with the run's
    certificate, and plain http answering as a production nginx does, with a redirect to the
    https address the client can reach (127.0.0.1:`https_port`)."""
    locations = f"    include {LOCATIONS_PATH};\n"
    if scheme == "http":
        return f"server {{\n    listen {FRONTEND_PORT};\n{locations}}}\n"
    return (f"server {{\n    listen {FRONTEND_PORT};\n"
            f"    return 301 https://$host:{https_port}$request_uri;\n}}\n\n"
            f"server {{\n    listen {FRONTEND_TLS_PORT} ssl;\n"
            f"    ssl_certificate {RUN_CONF_DIR}/tls/cert.pem;\n"
            f"    ssl_certificate_key {RUN_CONF_DIR}/tls/key.pem;\n{locations}}}\n")


_DEFAULT_SITE_CONF = """\
# Emptied by parity: the base image's default server would answer beside parity's.
"""

_SAFE_URL = re.compile(r"^/[A-Za-z0-9._~/-]*$")

# Debian's stock nginx.conf with its production defaults (gzip for text/html only, 1m
# client_max_body_size, server_tokens on), changed only to run as a non-root user: no
# `user`, pid and temp files under /tmp, logs to stdout/stderr.
_NGINX_CONF = """\
# Generated by parity: Debian's nginx.conf, made to run as a non-root user.
worker_processes auto;
pid /tmp/nginx.pid;
error_log stderr;
include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections 768;
}

http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;

    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;

    access_log /dev/stdout;

    gzip on;

    client_body_temp_path /tmp/nginx-client-body;
    proxy_temp_path /tmp/nginx-proxy;
    fastcgi_temp_path /tmp/nginx-fastcgi;
    uwsgi_temp_path /tmp/nginx-uwsgi;
    scgi_temp_path /tmp/nginx-scgi;

    include /etc/nginx/conf.d/*.conf;
}
"""

_COLLECTSTATIC = f'''\
"""Generated by parity: collect static files into {STATIC_ROOT}, which nginx serves, then
record the settings parity needs at run time ({SETTINGS_PROBE}).

STATIC_ROOT is forced to {STATIC_ROOT} whatever the settings say; when they name another
STATIC_ROOT, that path becomes a link to {STATIC_ROOT} so the app finds them there too
(a manifest storage reads its manifest at run time). Settings that demand a database at
import get a placeholder for this step only (it is never connected to).
"""
import os
import runpy
import sys

for name, value in {BUILD_DATABASE_ENV!r}.items():
    os.environ.setdefault(name, value)
sys.path.insert(0, os.getcwd())

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

declared = getattr(settings, "STATIC_ROOT", None)
settings.STATIC_ROOT = "{STATIC_ROOT}"
django.setup()

from django.apps import apps  # noqa: E402

os.makedirs("{STATIC_ROOT}", exist_ok=True)
if not apps.is_installed("django.contrib.staticfiles"):
    print("django.contrib.staticfiles is not installed: no static files to collect")
else:
    call_command("collectstatic", interactive=False, verbosity=1)
if declared and apps.is_installed("django.contrib.staticfiles"):
    declared = os.path.abspath(os.fspath(declared))
    if declared != "{STATIC_ROOT}" and not os.path.lexists(declared):
        os.makedirs(os.path.dirname(declared), exist_ok=True)
        os.symlink("{STATIC_ROOT}", declared)
        print(f"STATIC_ROOT {{declared}} -> {STATIC_ROOT}")

# MEDIA_ROOT, MEDIA_URL, the database and the HTTPS settings, for parity at run time; and
# MEDIA_ROOT made the app user's, so the per-run media volume mounted there is writable.
sys.argv = ["{SETTINGS_PROBE}", "--record", "{RECORD_DIR}/app-settings.json",
            "--media-owner", "{APP_UID}"]
runpy.run_path("/opt/parity/{SETTINGS_PROBE}", run_name="__main__")
'''


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
