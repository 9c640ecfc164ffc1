"""The image build context, its digest and its generated files: no Docker engine needed."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from parity.configuration import ParityConfig, load_config
from parity.environments.images import build as images
from parity.environments.images import context as buildcontext
from parity.environments.images import recipes
from parity.environments.images.context import IgnoreRules, select_files
from parity.support.errors import MissingDependencyError

ENVIRON = {"PARITY_BASE_IMAGE": "base/python:1", "PARITY_FRONTEND_IMAGE": "base/nginx:1"}


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root, check=True, capture_output=True,
    )


APP_FILES = {
    "manage.py": "print('manage')\n",
    "labbook/__init__.py": "",
    "labbook/settings.py": "SECRET_KEY = 'x'\n",
    "labbook/wsgi.py": "application = None\n",
    "requirements.txt": "Django==5.2\n",
    "pyproject.toml": '[tool.parity]\napp = "django"\nwsgi = "labbook.wsgi:application"\n'
                      'settings = "labbook.settings"\n',
}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "labbook"
    write(root, APP_FILES)
    return root


@pytest.fixture
def repo(app: Path) -> Path:
    write(app, {
        ".gitignore": "*.log\nmedia/\n",
        ".env": "SECRET=1\n",
        "deploy/server.pem": "-----BEGIN-----\n",
        "deploy/id_rsa.pub": "ssh-rsa AAAA\n",
        "gone.py": "x = 1\n",
    })
    git(app, "init", "-q")
    git(app, "add", "-A")
    git(app, "add", "-f", ".env")  # tracked by mistake: still never enters the context
    git(app, "commit", "-q", "-m", "init")
    (app / "gone.py").unlink()
    write(app, {"new_module.py": "y = 2\n", "debug.log": "noise\n", "media/upload.png": "png"})
    return app


def test_git_context_is_the_working_tree_without_ignored_files_or_secrets(repo: Path) -> None:
    context = select_files(repo)
    assert context.source == "git"
    assert "new_module.py" in context.files  # untracked, not ignored
    assert "labbook/settings.py" in context.files
    assert ".gitignore" in context.files
    for absent in ("debug.log", "media/upload.png", "gone.py", ".env", "deploy/server.pem",
                   "deploy/id_rsa.pub"):
        assert absent not in context.files
    assert not any(name.startswith(".git/") for name in context.files)
    assert set(context.secrets_left_out) == {".env", "deploy/server.pem", "deploy/id_rsa.pub"}


def test_git_context_of_a_subdirectory_is_relative_to_it(tmp_path: Path) -> None:
    write(tmp_path, {"README": "r", "src/manage.py": "", "src/app/views.py": ""})
    git(tmp_path, "init", "-q")
    assert select_files(tmp_path / "src").files == ("app/views.py", "manage.py")


def test_dockerignore_applies_in_git_mode_too(repo: Path) -> None:
    write(repo, {".dockerignore": "docs/\n", "docs/index.md": "#"})
    assert "docs/index.md" not in select_files(repo).files


def test_outside_git_context_honours_dockerignore_and_skips_vcs_and_venvs(app: Path) -> None:
    write(app, {
        ".dockerignore": "# comment\n**/*.log\n/build\ndocs\n!docs/keep.md\nnode?modules\n",
        "a.log": "", "labbook/deep/b.log": "", "build/out.txt": "", "labbook/build/kept.txt": "",
        "docs/guide.md": "", "docs/keep.md": "", "node_modules/x.js": "",
        ".git/config": "", ".hg/store": "", "labbook/__pycache__/settings.cpython-311.pyc": "",
        "stray.pyc": "", "venv/pyvenv.cfg": "home = /usr", "venv/lib/site.py": "",
        ".tox/py/x": "", ".env.production": "K=V", "certs/tls.key": "", ".netrc": "",
        "config/credentials-prod.json": "{}",
    })
    context = select_files(app)
    assert context.source == "directory"
    expected = {*APP_FILES, ".dockerignore", "labbook/build/kept.txt", "docs/keep.md"}
    assert set(context.files) == expected
    assert set(context.secrets_left_out) == {
        ".env.production", "certs/tls.key", ".netrc", "config/credentials-prod.json"}


def test_parity_reports_never_enter_the_context(app: Path) -> None:
    """A run writes them into the project after every run: were they in the context, every
    run's digest would differ and every run would rebuild the images."""
    write(app, {"parity-report.json": "{}", "parity-report.html": "<html>", "ci/parity-report.json": "{}"})
    assert set(select_files(app).files) == set(APP_FILES)


@pytest.mark.parametrize(("patterns", "path", "ignored"), [
    ("*.md", "README.md", True),
    ("*.md", "docs/README.md", False),
    ("**/*.md", "docs/a/README.md", True),
    ("**/*.md", "README.md", True),
    ("docs", "docs/a/b.txt", True),
    ("docs/**", "docs/a/b.txt", True),
    ("/docs\n!docs/keep", "docs/keep", False),
    ("!docs/keep\ndocs", "docs/keep", True),  # the last matching pattern wins
    ("a?c", "abc", True),
    ("[!x]y", "zy", True),
    ("[!x]y", "xy", False),
    ("./tmp/", "tmp/x", True),
    ("", "anything", False),
])
def test_dockerignore_patterns(patterns: str, path: str, ignored: bool) -> None:
    assert IgnoreRules.parse(patterns).ignored(path) is ignored


# --- the digest ---------------------------------------------------------------------------

FACTS = {"base_image": "sha256:a", "frontend_image": "sha256:b", "wheelhouse": "k", "recipe": "1"}


def digest_of(root: Path, **facts: str) -> str:
    return buildcontext.digest(select_files(root), {"Dockerfile.app": "FROM x\n"},
                               {**FACTS, **facts})


def test_digest_changes_with_any_input_and_only_then(app: Path) -> None:
    first = digest_of(app)
    assert digest_of(app) == first
    os.utime(app / "manage.py", (1, 1))
    assert digest_of(app) == first, "mtimes are not inputs"
    write(app, {".env": "SECRET=2\n", ".dockerignore": "notes.txt\n"})
    first = digest_of(app)
    write(app, {".env": "SECRET=3\n", "notes.txt": "ignored"})
    assert digest_of(app) == first, "secrets and ignored files are not inputs"

    assert digest_of(app, base_image="sha256:ccc") != first
    assert digest_of(app, frontend_image="sha256:ccc") != first
    assert digest_of(app, wheelhouse="other") != first
    assert buildcontext.digest(select_files(app), {"Dockerfile.app": "FROM y\n"}, FACTS) != first
    (app / "manage.py").chmod(0o755)
    assert digest_of(app) != first
    (app / "manage.py").chmod(0o644)
    assert digest_of(app) == first
    write(app, {"labbook/settings.py": "SECRET_KEY = 'y'\n"})
    assert digest_of(app) != first


def test_written_context_tars_as_root_owned_read_only_code(app: Path, tmp_path: Path) -> None:
    (app / "labbook/settings.py").chmod(0o600)
    (app / "manage.py").chmod(0o700)
    context_dir = tmp_path / "ctx"
    buildcontext.write_context(context_dir, select_files(app), {"Dockerfile.app": "FROM x\n"}, None)
    archive = buildcontext.tar_context(context_dir, ["app", "Dockerfile.app"], tmp_path / "c.tar")
    with tarfile.open(archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert members["app/labbook/settings.py"].mode == 0o644
    assert members["app/manage.py"].mode == 0o755
    assert members["app/labbook"].mode == 0o755
    assert {member.uid for member in members.values()} == {0}
    assert "Dockerfile.app" in members


# --- the generated files ------------------------------------------------------------------

def config_for(app: Path, extra: str = "") -> ParityConfig:
    with (app / "pyproject.toml").open("a") as file:
        file.write(extra)
    return load_config(app / "pyproject.toml", environ=ENVIRON)


def test_nginx_config_proxies_to_the_app_and_serves_static_files(app: Path) -> None:
    generated = recipes.render(config_for(app, 'static_url = "/assets/"\n'))
    assert generated[recipes.SITE_CONF].endswith("include /etc/parity-run/servers.conf;\n")
    site = generated[recipes.LOCATIONS_CONF]
    assert "location /assets/ {\n    alias /srv/static/;" in site
    assert "proxy_pass http://app:8000;" in site
    for header in ("Host $http_host", "X-Forwarded-For $proxy_add_x_forwarded_for",
                   "X-Forwarded-Proto $scheme", "X-Forwarded-Host $http_host"):
        assert f"proxy_set_header {header};" in site
    main = generated[recipes.NGINX_CONF]
    assert "pid /tmp/nginx.pid;" in main
    assert "gzip on;" in main
    assert "include /etc/nginx/conf.d/*.conf;" in main
    assert "\nuser " not in main and not main.startswith("user")
    for drift_catcher in ("client_max_body_size", "underscores_in_headers", "server_tokens"):
        assert drift_catcher not in main + site, "production defaults stay the defaults"


def test_the_listeners_come_with_each_run_https_redirecting_plain_http() -> None:
    https = recipes.servers_conf("https", 50443)
    assert "listen 8443 ssl;" in https
    assert "ssl_certificate /etc/parity-run/tls/cert.pem;" in https
    assert "ssl_certificate_key /etc/parity-run/tls/key.pem;" in https
    assert "listen 8080;\n    return 301 https://$host:50443$request_uri;" in https
    assert https.count("include /etc/nginx/parity-locations.conf;") == 1  # served over TLS only
    http = recipes.servers_conf("http")
    assert "ssl" not in http and "listen 8080;" in http
    assert "include /etc/nginx/parity-locations.conf;" in http


def test_app_dockerfile_runs_gunicorn_as_non_root_and_bakes_in_no_env(app: Path) -> None:
    config = config_for(app, 'env = { API_TOKEN = "s3cr3t-shared" }\n[tool.parity.stack]\n'
                             'env = { DJANGO_SETTINGS_MODULE = "labbook.settings", PW = "pw9" }\n')
    generated = recipes.render(config)
    dockerfile = generated[recipes.APP_DOCKERFILE]
    assert dockerfile.startswith("# Generated by parity")
    assert "FROM base/python:1\n" in dockerfile
    assert "useradd --uid 10001" in dockerfile
    assert "--no-index --find-links /wheels" in dockerfile
    assert "--no-compile" in dockerfile and "-m compileall -q -j 0 /opt/venv/lib" in dockerfile
    assert "\nUSER app\n" in dockerfile
    assert "EXPOSE 8000" in dockerfile
    assert 'DJANGO_SETTINGS_MODULE="labbook.settings"' in dockerfile
    assert ('CMD ["gunicorn", "labbook.wsgi:application", "--bind", "0.0.0.0:8000"'
            in dockerfile)
    assert "collectstatic.py" in dockerfile
    everything = "".join(generated.values())
    assert "s3cr3t-shared" not in everything and "pw9" not in everything
    frontend = generated[recipes.FRONTEND_DOCKERFILE]
    assert "FROM base/nginx:1\n" in frontend
    assert "COPY --from=app /srv/static /srv/static" in frontend
    assert "\nUSER www-data\n" in frontend
    assert "EXPOSE 8080" in frontend


def test_wsgi_apps_collect_nothing(tmp_path: Path) -> None:
    write(tmp_path, {"hello.py": "def app(environ, start_response): ...\n",
                     "requirements.txt": "",
                     "pyproject.toml": '[tool.parity]\napp = "wsgi"\nwsgi = "hello:app"\n'})
    dockerfile = recipes.render(load_config(tmp_path, environ=ENVIRON))[recipes.APP_DOCKERFILE]
    assert "collectstatic" not in dockerfile
    assert "RUN mkdir -p /srv/static /srv/parity && touch /srv/parity/media.conf\n" in dockerfile
    assert 'CMD ["gunicorn", "hello:app"' in dockerfile


# --- images.py without an engine ----------------------------------------------------------

class FakeImages:
    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids

    def get(self, reference: str) -> Any:
        if reference not in self.ids:
            raise docker.errors.ImageNotFound(reference)
        return type("Image", (), {"id": self.ids[reference], "tags": [reference]})()


class FakeApi:
    timeout = 60

    def __init__(self) -> None:
        self.pulled: list[str] = []

    def pull(self, repository: str, tag: str) -> None:
        self.pulled.append(f"{repository}:{tag}")
        raise docker.errors.APIError("registry unreachable")


class FakeEngine:
    def __init__(self, ids: dict[str, str]) -> None:
        self.images = FakeImages(ids)
        self.api = FakeApi()


def test_digest_follows_the_base_image_id_not_its_name(app: Path) -> None:
    config = config_for(app)
    engine = FakeEngine({"base/python:1": "sha256:1", "base/nginx:1": "sha256:2"})
    started = time.monotonic()
    first = images.inputs_digest(config, engine=engine)
    assert time.monotonic() - started < 0.5
    assert images.inputs_digest(config, engine=engine) == first
    engine.images.ids["base/python:1"] = "sha256:rebuilt"
    assert images.inputs_digest(config, engine=engine) != first


def test_missing_base_image_is_pulled_once_then_explained(app: Path) -> None:
    engine = FakeEngine({"base/nginx:1": "sha256:2"})
    expected = ("base image base/python:1 not found locally and no registry reachable "
                "(PARITY_BASE_IMAGE names it); build or `docker pull base/python:1`, or unset "
                "PARITY_BASE_IMAGE")
    with pytest.raises(MissingDependencyError, match=re.escape(expected)):
        images.inputs_digest(config_for(app), engine=engine)
    assert engine.api.pulled == ["base/python:1"]
    assert engine.api.timeout == 60


def test_unchanged_app_builds_nothing(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_for(app)
    engine = FakeEngine({"base/python:1": "sha256:1", "base/nginx:1": "sha256:2"})
    app_tag, frontend_tag = images.image_tags(config, images.inputs_digest(config, engine=engine))
    assert app_tag.startswith("parity/labbook-app:") and len(app_tag.split(":")[1]) == 12
    engine.images.ids.update({app_tag: "sha256:3", frontend_tag: "sha256:4"})
    monkeypatch.setattr(images, "_build", None)  # building anything would crash
    monkeypatch.setattr(images, "read_image", lambda engine, tag, labels: None)
    lines: list[str] = []
    result = images.build_images(config, progress=lines.append, engine=engine)
    assert (result.app, result.frontend, result.built) == (app_tag, frontend_tag, ())
    assert len(lines) == 1 and lines[0].startswith(f"images: cached {app_tag}")


def test_build_log_tracks_steps_layers_and_the_failing_steps_tail() -> None:
    shown: list[str] = []
    log = images._StepLog("app", shown.append)
    log.feed("Step 1/3 : FROM base\n ---> 0123456789ab\nStep 2/3 : RUN pip ins")
    log.feed("tall x\n ---> Running in fedcba987654\nCollecting x\n\x1b[91mERROR: no x\n")
    log.feed("\x1b[0mRemoving intermediate container fedcba987654\n")
    error = log.error("The command '/bin/sh -c pip install x' returned a non-zero code: 1")
    assert shown[0] == "build app: Step 1/3 : FROM base"
    assert log.layers == ["0123456789ab"]
    assert error.environment == "stack"
    assert error.step == "image build (app): Step 2/3 : RUN pip install x"
    assert error.log_tail == "Collecting x\nERROR: no x"
    assert str(error).startswith("stack: image build (app): Step 2/3 : RUN pip install x failed: ")


def test_the_generated_dockerfiles_keep_the_classic_builders_steps_few(app: Path) -> None:
    """The classic builder starts a container for each RUN and commits one for every other
    instruction: the frontend copies its nginx files in one step and runs nothing."""
    generated = recipes.render(config_for(app))
    frontend = generated[recipes.FRONTEND_DOCKERFILE]
    assert "\nRUN " not in frontend
    assert frontend.count("\nCOPY ") == 3  # nginx's files, then static files and media.conf from the app
    assert "COPY frontend/ /etc/nginx/\n" in frontend
    assert generated[recipes.DEFAULT_SITE_CONF].startswith("# Emptied by parity")
    assert set(generated) >= {"frontend/nginx.conf", "frontend/conf.d/parity.conf",
                              "frontend/conf.d/default.conf", "frontend/parity-locations.conf"}
    assert generated[recipes.APP_DOCKERFILE].count("\nRUN ") == 2  # user + venv, collectstatic


def test_labels_are_one_dockerfile_line_outside_the_digest() -> None:
    labelled = recipes.with_labels("FROM x\nCMD y\n", {"parity.app": "labbook", "parity.digest": "ab12",
                                            "parity.role": "app"})
    assert labelled == 'FROM x\nCMD y\nLABEL parity.app="labbook" parity.digest="ab12" parity.role="app"\n'
