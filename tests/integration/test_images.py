"""Building the app and frontend images of a real Django project with a real Docker engine."""

from __future__ import annotations

import importlib.metadata
import io
import os
import re
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests

from parity.configuration import ParityConfig, load_config
from parity.environments.images import build as images_module
from parity.environments.images import recipes
from parity.environments.images.build import (
    APP_PORT,
    APP_SERVICE,
    APP_USER,
    FRONTEND_PORT,
    BuiltImages,
    build_images,
)
from parity.environments.runs import LABEL
from parity.machine import engine as docker_engine
from parity.support.errors import MissingDependencyError, StartupError
from parity.support.waiting import wait_until
from tests.provisioned import nginx_image, python_image

pytestmark = pytest.mark.integration

TEST_LABEL = {"parity.test": "1"}
SECRET = "hunter2-" + secrets.token_hex(4)
CSS = "body { color: #0b5fff; }\n"

SETTINGS = """\
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-only-for-tests")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.staticfiles", "labbook"]
ROOT_URLCONF = "labbook.urls"
WSGI_APPLICATION = "labbook.wsgi.application"
DATABASES = {}
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
USE_TZ = True
"""

URLS = """\
from django.http import JsonResponse
from django.urls import path


def home(request):
    return JsonResponse({"app": "labbook", "next": request.build_absolute_uri("/next/")})


urlpatterns = [path("", home)]
"""

WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")
application = get_wsgi_application()
"""

MANAGE = """\
#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labbook.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI (run scripts/provision)")
    pytest.skip(f"{what} not available")


def make_django_app(root: Path) -> Path:
    files = {
        "manage.py": MANAGE,
        "labbook/__init__.py": "",
        "labbook/settings.py": SETTINGS,
        "labbook/urls.py": URLS,
        "labbook/wsgi.py": WSGI,
        "labbook/static/labbook/site.css": CSS,
        "requirements.txt": (f"Django=={importlib.metadata.version('django')}\n"
                             f"psycopg2-binary=={importlib.metadata.version('psycopg2-binary')}\n"),
        "pyproject.toml": ('[tool.parity]\napp = "django"\nwsgi = "labbook.wsgi:application"\n'
                           'settings = "labbook.settings"\nenv = { DJANGO_DEBUG = "0" }\n'),
        ".env": f"DJANGO_SECRET_KEY={SECRET}\n",
        "deploy/tls.key": SECRET,
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


@pytest.fixture(scope="module")
def engine() -> Any:
    try:
        return docker_engine.client()
    except MissingDependencyError:
        _missing("a Docker engine")


@pytest.fixture(scope="module")
def environ(engine: Any) -> dict[str, str]:
    """No PARITY_*_IMAGE variable: parity chooses the base images itself, as in a new shell
    after `parity base-image` (the stand-ins, where the official images are not available)."""
    python_image(), nginx_image()  # provisioned, or this module cannot run
    return {}


APP_NAME = f"labbook-{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def workspace(engine: Any) -> Iterator[Path]:
    """A directory outside any git repository; every image built from it is removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="parity-test-images-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)
    for image in engine.images.list(filters={"label": f"parity.app={APP_NAME}"}):
        for tag in image.tags:
            try:
                engine.images.remove(tag, force=True)
            except docker.errors.APIError:
                pass


def config_at(root: Path, environ: dict[str, str]) -> ParityConfig:
    return load_config(root / "pyproject.toml", environ=environ)


@pytest.fixture(scope="module")
def app_dir(workspace: Path) -> Path:
    return make_django_app(workspace / APP_NAME)


@pytest.fixture(scope="module")
def built(app_dir: Path, environ: dict[str, str], engine: Any) -> tuple[ParityConfig, BuiltImages]:
    config = config_at(app_dir, environ)
    lines: list[str] = []
    result = build_images(config, progress=lines.append, engine=engine)
    print(f"cold build: {result.seconds:.1f}s")
    assert result.built == (result.app, result.frontend)
    assert any(re.match(r"build app: Step \d+/\d+ : RUN ", line) for line in lines)
    assert any(line.startswith("context: left out secret-looking files: .env") for line in lines)
    return config, result


def run_in(engine: Any, image: str, *command: str) -> str:
    output = engine.containers.run(image, list(command), remove=True, labels=TEST_LABEL)
    return bytes(output).decode().strip()


def test_app_image_runs_gunicorn_as_a_non_root_user_with_collected_static(
    built: tuple[ParityConfig, BuiltImages], engine: Any
) -> None:
    config, images = built
    assert run_in(engine, images.app, "id", "-u") == "10001"
    assert run_in(engine, images.app, "id", "-un") == APP_USER
    assert run_in(engine, images.app, "cat", "/srv/static/labbook/site.css") == CSS.strip()
    # The settings' own STATIC_ROOT points at the collected files too.
    assert run_in(engine, images.app, "readlink", "/srv/app/staticfiles") == "/srv/static"
    assert run_in(engine, images.app, "python", "-c",
                  "import gunicorn, django, psycopg2; print(gunicorn.__version__)")
    # Code is read-only for the app user.
    assert "denied" in run_in(engine, images.app, "sh", "-c", "touch /srv/app/x 2>&1 || true")
    attributes = engine.images.get(images.app).attrs["Config"]
    assert attributes["User"] == APP_USER
    assert attributes["Cmd"][:4] == ["gunicorn", config.wsgi, "--bind", f"0.0.0.0:{APP_PORT}"]
    for tag, role in ((images.app, "app"), (images.frontend, "frontend")):
        labels = engine.images.get(tag).labels
        assert labels["parity.app"] == config.name
        assert labels["parity.role"] == role
        assert tag.endswith(":" + labels["parity.digest"][:12])
        assert LABEL not in labels, "images are a cache shared by runs"
    assert run_in(engine, images.frontend, "id", "-un") == "www-data"


def test_no_secret_file_enters_any_layer(
    built: tuple[ParityConfig, BuiltImages], engine: Any, tmp_path: Path
) -> None:
    _, images = built
    for tag in (images.app, images.frontend):
        saved = tmp_path / "image.tar"
        with saved.open("wb") as file:
            for chunk in engine.images.get(tag).save():
                file.write(chunk)
        names: list[str] = []
        with tarfile.open(saved) as image_tar:
            for member in image_tar.getmembers():
                if member.name.endswith("layer.tar"):
                    layer = image_tar.extractfile(member)
                    assert layer is not None
                    with tarfile.open(fileobj=io.BytesIO(layer.read())) as layer_tar:
                        names.extend(layer_tar.getnames())
        basenames = {name.rsplit("/", 1)[-1] for name in names}
        assert ".env" not in basenames and "tls.key" not in basenames
        if tag == images.app:
            assert "srv/app/manage.py" in names
        saved.unlink()


def test_frontend_serves_static_files_and_proxies_to_the_app(
    built: tuple[ParityConfig, BuiltImages], engine: Any, tmp_path: Path
) -> None:
    _, images = built
    # The listeners come with each run (parity.environments.stack.tls): here plain http.
    listeners = tmp_path / "run"
    listeners.mkdir(mode=0o755)
    (listeners / "servers.conf").write_text(recipes.servers_conf("http"))
    listeners.chmod(0o755)
    tmp_path.chmod(0o755)
    name = f"parity-test-{secrets.token_hex(4)}"
    network = engine.networks.create(name, labels=TEST_LABEL)
    containers = []
    try:
        containers.append(engine.containers.run(
            images.app, detach=True, name=f"{name}-app", labels=TEST_LABEL, network=name,
            networking_config={name: engine.api.create_endpoint_config(aliases=[APP_SERVICE])},
        ))
        frontend = engine.containers.run(
            images.frontend, detach=True, name=f"{name}-frontend", labels=TEST_LABEL,
            network=name, ports={f"{FRONTEND_PORT}/tcp": ("127.0.0.1", None)},
            volumes={str(listeners): {"bind": recipes.RUN_CONF_DIR, "mode": "ro"}},
        )
        containers.append(frontend)
        frontend.reload()
        port = frontend.ports[f"{FRONTEND_PORT}/tcp"][0]["HostPort"]
        base = f"http://127.0.0.1:{port}"

        def app_answers() -> bool:
            return requests.get(base + "/", timeout=2).status_code == 200

        wait_until(app_answers, timeout=30, what=f"frontend at {base}",
                   logs=lambda: "\n".join(c.logs().decode() for c in containers))
        css = requests.get(base + "/static/labbook/site.css", timeout=5)
        assert css.status_code == 200
        assert css.text == CSS
        assert css.headers["Content-Type"] == "text/css"
        assert css.headers["Server"].startswith("nginx")
        home = requests.get(base + "/", timeout=5)
        assert home.json() == {"app": "labbook", "next": f"{base}/next/"}
        assert "gunicorn" not in home.headers.get("Server", "")
        assert "GET / HTTP" in containers[0].logs().decode(), "gunicorn logs access to stdout"
    finally:
        for container in containers:
            container.remove(force=True)
        network.remove()


def test_an_unchanged_app_builds_nothing(
    built: tuple[ParityConfig, BuiltImages], environ: dict[str, str], engine: Any
) -> None:
    # How long the no-op takes is a benchmark figure (phases.images of the warm run).
    config, first = built
    before = {image["Id"] for image in engine.api.images(all=True)}
    lines: list[str] = []
    again = build_images(config_at(config.root, environ), progress=lines.append, engine=engine)
    assert (again.app, again.frontend, again.built) == (first.app, first.frontend, ())
    assert {image["Id"] for image in engine.api.images(all=True)} == before
    # Besides the stand-in notes (where the official base images are not available), one line.
    said = [line for line in lines if not line.endswith("(built by `parity base-image`)")]
    assert len(said) == 1 and said[0].startswith(f"images: cached {first.app}"), lines
    assert len(lines) == 1 + (python_image() != "python:3.11-slim") + (nginx_image() != "nginx:stable")


def test_a_changed_view_builds_new_images(
    built: tuple[ParityConfig, BuiltImages], app_dir: Path, environ: dict[str, str],
    engine: Any, tmp_path: Path,
) -> None:
    _, first = built
    changed = tmp_path / app_dir.name
    shutil.copytree(app_dir, changed)
    urls = changed / "labbook/urls.py"
    urls.write_text(urls.read_text().replace('"app": "labbook"', '"app": "labbook-2"'))
    result = build_images(config_at(changed, environ), engine=engine)
    assert result.built == (result.app, result.frontend)
    assert result.app != first.app
    assert '"labbook-2"' in run_in(engine, result.app, "cat", "/srv/app/labbook/urls.py")


def test_a_failing_step_names_the_step_shows_its_log_and_leaves_nothing_behind(
    app_dir: Path, environ: dict[str, str], engine: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = tmp_path / app_dir.name
    shutil.copytree(app_dir, broken)
    with (broken / "labbook/settings.py").open("a") as settings:
        settings.write('SECRET_KEY = os.environ["DJANGO_SECRET_KEY_FROM_VAULT"]\n')
    images_before = {image["Id"] for image in engine.api.images(all=True)}
    lines: list[str] = []
    cleaned: list[tuple[list[str], list[str]]] = []  # what the build removes as it fails
    remove_layers = images_module.remove_layers

    def spy(engine: Any, layers: list[str], containers: Sequence[str] = ()) -> list[str]:
        cleaned.append((list(layers), list(containers)))
        return remove_layers(engine, layers, containers)

    monkeypatch.setattr(images_module, "remove_layers", spy)
    with pytest.raises(StartupError) as caught:
        build_images(config_at(broken, environ), progress=lines.append, engine=engine)
    error = caught.value
    assert error.environment == "stack"
    assert re.match(r"image build \(app\): Step \d+/\d+ : RUN .*collectstatic", error.step)
    assert error.cause == "KeyError: 'DJANGO_SECRET_KEY_FROM_VAULT' (exit 1)"  # the output's telling line
    assert "KeyError: 'DJANGO_SECRET_KEY_FROM_VAULT'" in error.log_tail
    assert error.log_tail.count("\n") < 40
    assert str(error).startswith("stack: image build (app): Step ")

    [(layers, containers)] = cleaned
    assert containers, "the build ran steps in containers"
    for container in containers:
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(container)
    created = [layer for layer in layers
               if not any(known.startswith(f"sha256:{layer}") for known in images_before)]
    assert created, "the failed build committed layers before the failing step"
    for layer in created:
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(layer)


def test_an_uninstallable_requirement_fails_before_docker_with_pips_output(
    app_dir: Path, environ: dict[str, str], engine: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    broken = tmp_path / app_dir.name
    shutil.copytree(app_dir, broken)
    (broken / "requirements.txt").write_text("parity-no-such-package-7f3a==1.0\n")
    with pytest.raises(StartupError) as caught:
        build_images(config_at(broken, environ), engine=engine)
    assert caught.value.step == (f"wheelhouse (pip wheel -r {broken / 'requirements.txt'} "
                                 f"in {python_image()})")
    assert "parity-no-such-package-7f3a" in caught.value.log_tail
    assert list((tmp_path / "cache" / "wheels").iterdir()) == []


def test_a_missing_base_image_says_how_to_get_one(
    app_dir: Path, environ: dict[str, str], engine: Any
) -> None:
    missing = {**environ, "PARITY_BASE_IMAGE": "parity-test/no-such-image:1"}
    with pytest.raises(MissingDependencyError, match="parity base-image"):
        build_images(config_at(app_dir, missing), engine=engine)
