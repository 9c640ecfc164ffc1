"""Bad input: each case is a real `pytest --parity` run of a broken tinyapp copy (or a broken
machine, simulated for this process only). Every case must end with the exit code the README
documents, state its cause on ONE line that names what is wrong and how to fix it, and leave
nothing behind.

Exit codes (README): 1 tests failed or diverged, 4 configuration/usage, 6 a machine part is
missing, 7 an environment failed to start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import parity
from parity.environments.images import recipes
from tests.provisioned import nginx_image
from tests.reliability import harness, leftovers
from tests.reliability.harness import Case

pytestmark = pytest.mark.integration

CONFIG = '''[tool.parity]
app = "{app}"
wsgi = "{wsgi}"
settings = "{settings}"
'''

EXTRA_VIEWS = '''
import time as _time

from django.http import StreamingHttpResponse


def slow(request):
    _time.sleep(20)
    return JsonResponse({"slow": True})


def big(request):
    chunk = b"x" * (1024 * 1024)
    return StreamingHttpResponse((chunk for _ in range(100)), content_type="application/octet-stream")


urlpatterns += [path("slow/", slow), path("big/", big)]
'''

MEMORY_PROBE = '''
import os
import resource
from pathlib import Path


def pytest_sessionfinish(session):  # in every pytest process: the main one and its workers
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(os.environ["RELTEST_OUT"], f"peak-rss-kib-{os.getpid()}").write_text(str(peak_kib))
'''

FAILING_MIGRATION = '''
from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this migration fails on purpose")


class Migration(migrations.Migration):
    operations = [migrations.RunPython(fail)]
'''


PARITY_FRAME = re.compile(rf'File "{re.escape(str(Path(parity.__file__).parent))}/')


@dataclass
class Bad:
    """One bad input: how to break the app (returns extra env / args), and what must be said."""

    name: str
    exit_code: int
    says: tuple[str | tuple[str, ...], ...]
    """Substrings that must all be on one line: what is wrong, and the fix (a tuple: one of)."""
    setup: Callable[[harness.App, Path], dict[str, str]]
    args: tuple[str, ...] = ()
    tests: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def config(app: harness.App, extra: str, kind: str = "django", wsgi: str = "tinyapp.wsgi:application",
           settings: str | None = None) -> None:
    text = CONFIG.format(app=kind, wsgi=wsgi, settings=settings or app.settings)
    (app.dir / "pyproject.toml").write_text(text + extra)


def configured(extra: str = "", **keys: str) -> Callable[[harness.App, Path], dict[str, str]]:
    def setup(app: harness.App, scratch: Path) -> dict[str, str]:
        config(app, extra, **keys)
        return {}
    return setup


def removed(name: str) -> Callable[[harness.App, Path], dict[str, str]]:
    def setup(app: harness.App, scratch: Path) -> dict[str, str]:
        (app.dir / name).unlink()
        return {}
    return setup


def env(**values: str) -> Callable[[harness.App, Path], dict[str, str]]:
    def setup(app: harness.App, scratch: Path) -> dict[str, str]:
        return dict(values)
    return setup


def without_compose(app: harness.App, scratch: Path) -> dict[str, str]:
    """A `docker` without the compose plugin, for this run only: a wrapper first on PATH that
    answers `compose` the way the CLI does when the plugin is absent; every other command is
    the real docker. Directories holding a legacy docker-compose are left off PATH too."""
    real = shutil.which("docker")
    assert real is not None
    bin_dir = app.gate.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "docker"
    wrapper.write_text('#!/bin/sh\nif [ "$1" = compose ]; then\n'
                       '  echo "docker: \'compose\' is not a docker command." >&2\n  exit 1\nfi\n'
                       f'exec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not Path(d, "docker-compose").exists()]
    return {"PATH": os.pathsep.join([str(bin_dir), *path])}


def settings_fail(app: harness.App, scratch: Path) -> dict[str, str]:
    with open(app.dir / "tinyapp" / "settings.py", "a") as settings:
        settings.write("\nimport tinyapp_local_overrides  # noqa\n")
    return {}


def failing_migration(app: harness.App, scratch: Path) -> dict[str, str]:
    package = app.dir / "brokenapp"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "__init__.py").write_text("")
    (package / "migrations" / "0001_initial.py").write_text(FAILING_MIGRATION)
    with open(app.dir / "tinyapp" / "settings.py", "a") as settings:
        settings.write('\nINSTALLED_APPS = [*INSTALLED_APPS, "brokenapp"]\n')
    return {}


SQLITE = ('from tinyapp.settings import *  # noqa\n'
          'DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", '
          '"NAME": os.path.join(os.path.dirname(os.path.dirname(__file__)), "db.sqlite3")}}\n')


def sqlite_settings(side: str) -> Callable[[harness.App, Path], dict[str, str]]:
    """Settings that ignore DATABASE_URL, as every fresh `django-admin startproject` does."""
    def setup(app: harness.App, scratch: Path) -> dict[str, str]:
        (app.dir / "tinyapp" / "settings_sqlite.py").write_text("import os\n" + SQLITE)
        config(app, f'[tool.parity.{side}]\nenv = {{ DJANGO_SETTINGS_MODULE = "tinyapp.settings_sqlite" }}\n')
        return {}
    return setup


def vault_settings(app: harness.App, scratch: Path) -> dict[str, str]:
    """Settings that need a secret at import: collectstatic fails while the image builds."""
    with open(app.dir / "tinyapp" / "settings.py", "a") as settings:
        settings.write('\nSECRET_KEY = os.environ["TINYAPP_KEY_FROM_VAULT"]\n')
    return {}


def failing_second_release_step(app: harness.App, scratch: Path) -> dict[str, str]:
    config(app, 'release = ["python manage.py migrate --noinput", "sh -c \'python manage.py '
                'nosuchcommand && echo never\'"]\n')
    return {}


def crashing_gunicorn(app: harness.App, scratch: Path) -> dict[str, str]:
    wsgi = app.dir / "tinyapp" / "wsgi.py"
    wsgi.write_text('import os\n\nif os.environ.get("TINYAPP_CRASH"):\n'
                    '    raise RuntimeError("tinyapp refuses to start: TINYAPP_CRASH is set")\n'
                    + wsgi.read_text())
    config(app, '[tool.parity.stack]\nenv = { TINYAPP_CRASH = "1" }\n')
    return {}


def unreadable_compose_file(app: harness.App, scratch: Path) -> dict[str, str]:
    (app.dir / "compose.yaml").write_text("services:\n  app:\n    image: [unclosed\n")
    config(app, '[tool.parity.stack]\ncompose_file = "compose.yaml"\napp_port = 8000\n'
                "entry_port = 8080\n")
    return {}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nobody listens once the probe is closed


def with_views(request_timeout: float | None = None,
               memory_probe: bool = False) -> Callable[[harness.App, Path], dict[str, str]]:
    def setup(app: harness.App, scratch: Path) -> dict[str, str]:
        with open(app.dir / "tinyapp" / "urls.py", "a") as urls:
            urls.write(EXTRA_VIEWS)
        if memory_probe:
            (app.dir / "conftest.py").write_text(MEMORY_PROBE)
        if request_timeout is not None:
            config(app, f"[tool.parity.compare]\nrequest_timeout = {request_timeout}\n")
        return {}
    return setup


SLOW_TEST = '''
def test_slow(http):
    http.get("/slow/")
'''

BIG_TEST = '''
def test_big(http):
    response = http.get("/big/")
    assert response.status_code == 200
    assert len(response.content) == 100 * 1024 * 1024
    recorded = http.recording.exchanges[-1]  # only its digest and size: the recording is capped
    assert (recorded.body_encoding, recorded.body, recorded.body_size) == ("digest", "", len(response.content))
'''

CASES = [
    # --- configuration and usage: refused before anything starts (exit 4)
    # pytest reads pyproject.toml first: its one line names the file, line and column.
    Bad("malformed toml", 4, ("ERROR: ", "pyproject.toml", "at line 5, column 21"),
        configured("[tool.parity.compare\nrequest_timeout = 3\n")),
    Bad("misspelt key", 4, ("tool.parity.reqirements", "did you mean 'requirements'"),
        configured('reqirements = "requirements.txt"\n')),
    Bad("build script without compose file", 4, ("tool.parity.stack.build", "set compose_file too"),
        configured('[tool.parity.stack]\nbuild = "manage.py"\n')),
    Bad("app_port without compose file", 4, ("tool.parity.stack.app_port", "remove it, or set compose_file"),
        configured("[tool.parity.stack]\napp_port = 8000\n")),
    Bad("timeout not a number", 4, ("tool.parity.compare.request_timeout", "positive number", "request_timeout = 30"),
        configured('[tool.parity.compare]\nrequest_timeout = "fast"\n')),
    Bad("unknown app kind", 4, ("tool.parity.app", "flask", 'use "django" or "wsgi"'),
        configured(kind="flask")),
    Bad("missing manage.py", 4, ("has no manage.py", "set project_dir to the directory that holds manage.py"),
        removed("manage.py")),
    Bad("missing requirements", 4, ("tool.parity.requirements", "file not found", "pip freeze"),
        removed("requirements.txt")),
    Bad("wsgi module missing", 4, ("module nope.wsgi not found", "fix the module path"),
        configured(wsgi="nope.wsgi:application")),
    Bad("env value not a string", 4, ("tool.parity.env.DJANGO_DEBUG", "quote the value"),
        configured("env = { DJANGO_DEBUG = 1 }\n")),
    Bad("project_dir outside the project", 4, ("tool.parity.project_dir", "escapes the project directory"),
        configured('project_dir = "../.."\n')),
    Bad("invalid noise pattern", 4, ("ignore_text_patterns", "not a valid regular expression", "fix the pattern"),
        configured('[tool.parity.compare]\nignore_text_patterns = ["(unclosed"]\n')),
    Bad("--parity-config names no file", 4, ("nope/pyproject.toml", "file not found", "pass the path"),
        env(), args=("--parity-config=nope/pyproject.toml",)),
    Bad("own compose file unreadable", 4, ("compose.yaml: compose config: docker compose cannot read it",
                                           "fix the file", "docker compose -f compose.yaml config"),
        unreadable_compose_file),
    Bad("local settings ignore the database", 4,
        ("local: settings tinyapp.settings_sqlite: DATABASES['default'] is sqlite3 (<project>/db.sqlite3), "
         "not the database parity provides", "read DATABASE_URL", "dj-database-url"), sqlite_settings("local")),
    Bad("stack settings ignore the database", 4,
        ("stack: settings tinyapp.settings_sqlite: DATABASES['default'] is sqlite3", "/db.sqlite3), "
         "not the database parity provides", "read DATABASE_URL"), sqlite_settings("stack")),
    Bad("PARITY_DATABASE_URL not a postgres URL", 4, ("PARITY_DATABASE_URL", "postgresql://USER:PASSWORD@HOST"),
        env(PARITY_DATABASE_URL="mysql://root@localhost/app")),
    # --- a machine part is missing (exit 6)
    Bad("engine not running", 6, ("parity: Docker engine not reachable", "DOCKER_HOST"),
        env(DOCKER_HOST="unix:///nonexistent/docker.sock")),
    Bad("compose missing", 6, ("docker compose not found", "install the compose v2 plugin"), without_compose),
    Bad("postgres binaries missing", 6, ("PostgreSQL server binaries", "apt-get install postgresql"),
        env(PARITY_PG_BINDIR="/nonexistent/bin")),
    Bad("base image missing", 6, ("parity-base/python:no-such-tag not found", "parity base-image"),
        env(PARITY_BASE_IMAGE="parity-base/python:no-such-tag")),
    # --- an environment fails to start (exit 7)
    Bad("settings fail to import", 7,
        ("parity: ", "failed: ModuleNotFoundError: No module named 'tinyapp_local_overrides'"),
        settings_fail),
    Bad("failing migration", 7, ("release step", "this migration fails on purpose"), failing_migration),
    Bad("base image without Python", 7, ("wheelhouse (pip wheel -r", "python3: not found"),
        lambda app, scratch: {"PARITY_BASE_IMAGE": nginx_image()}),
    # The image build (collectstatic) and the local side (which no longer waits for the
    # images) both import the settings: whichever fails first is the one named.
    Bad("image build error", 7, (("image build (app)", "local: settings failed"),
                                 "KeyError: 'TINYAPP_KEY_FROM_VAULT'"),
        vault_settings),
    Bad("gunicorn crash loop", 7, ("stack: start failed: service app exited (exit ", "during start-up",
                                   "TINYAPP_CRASH is set"), crashing_gunicorn),
    Bad("unknown release command", 7, ("release step", "Unknown command: 'nosuchcommand'"),
        configured('release = "python manage.py nosuchcommand"\n')),
    # With -n each worker starts its own environments: the run still ends with their one line.
    Bad("unknown release command, -n 2", 7, ("release step", "Unknown command: 'nosuchcommand'"),
        configured('release = "python manage.py nosuchcommand"\n'), args=("-n", "2")),
    Bad("second release command fails", 7,
        ("release step 2 of 2 (sh -c 'python manage.py nosuchcommand && echo never') failed",
         "Unknown command: 'nosuchcommand'"), failing_second_release_step),
    Bad("unreachable PARITY_DATABASE_URL", 7, ("PARITY_DATABASE_URL", "Connection refused", "start that server"),
        lambda app, scratch: {"PARITY_DATABASE_URL": f"postgresql://u:pw@127.0.0.1:{closed_port()}/db"}),
    # --- a test misbehaves (exit 1)
    Bad("hanging view", 1, ("ReadTimeout", "request_timeout"), with_views(request_timeout=2), tests=SLOW_TEST),
]


@pytest.fixture
def broken(scratch: Path) -> Iterator[Case]:
    app = harness.make_app(scratch, "relbad", unique_settings=True)
    case = Case(app, app.scope(leftovers.image_ids()))
    yield case
    leftovers.remove_all(case.scope)
    harness.remove_app_images(app.name)
    shutil.rmtree(app.dir.parent, ignore_errors=True)


def one_line(output: str, says: tuple[str | tuple[str, ...], ...]) -> str:
    """The last line saying all of `says` (the run's final word, not an earlier progress line)."""
    for line in reversed(output.splitlines()):
        if all(any(one in line for one in ((text,) if isinstance(text, str) else text))
               for text in says):
            return line
    raise AssertionError(f"no single line says all of {says}:\n{output[-4000:]}")


@pytest.mark.parametrize("bad", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_with_a_fix_and_leaves_nothing(bad: Bad, broken: Case, scratch: Path) -> None:
    extra = bad.setup(broken.app, scratch)
    if bad.tests is not None:
        (broken.app.dir / "test_behavior.py").write_text(bad.tests)
    checkout = sorted(str(p.relative_to(broken.app.dir)) for p in broken.app.dir.rglob("*"))
    run = harness.ParityRun(broken.app, *bad.args, env=broken.app.env(**extra))
    code = run.finish(timeout=300)
    output = run.output
    broken.scope.add_output(output)
    assert code == bad.exit_code, output[-4000:]
    line = one_line(output, bad.says)
    # The app's own traceback may be shown as the failing step's log tail; parity's never.
    assert not PARITY_FRAME.search(output) and "INTERNALERROR" not in output, output[-4000:]
    assert len(line) < 600, line
    assert leftovers.settle(broken.scope) == "", output[-3000:]
    # Nothing was written into the app's checkout (no db.sqlite3, no media, no report).
    after = sorted(str(p.relative_to(broken.app.dir)) for p in broken.app.dir.rglob("*")
                   if not p.name.startswith("parity-report."))
    assert after == checkout, set(after) ^ set(checkout)


def test_ports_your_compose_file_publishes_become_loopback_ones(broken: Case, warm_app: harness.App) -> None:
    """Your own compose file publishes ports on every interface, one of them a fixed port that
    something else holds: parity replaces them with ephemeral ones on 127.0.0.1 and runs."""
    engine = leftovers.client()
    tags = {image.labels["parity.role"]: image.tags[0]
            for image in engine.images.list(filters={"label": f"parity.app={warm_app.name}"})}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        (broken.app.dir / "compose.yaml").write_text(json.dumps({"services": {
            "app": {"image": tags["app"], "ports": ["8000"]},
            "frontend": {"image": tags["frontend"], "ports": [f"{port}:8080", "9443:8080"],
                         "volumes": [listeners(broken)]},
        }}))
        config(broken.app, '[tool.parity.stack]\ncompose_file = "compose.yaml"\n'
                           "app_port = 8000\nentry_port = 8080\n", settings=warm_app.settings)
        run = harness.ParityRun(broken.app, env=broken.app.env(RELTEST_GATE=str(broken.app.gate)))
        try:
            harness.wait_for_file(broken.app.gate / "reached", run, timeout=300)
            (run_id,) = broken.scope.add_output(run.output)
            bindings = {container.labels["com.docker.compose.service"]: sorted(
                f"{b['HostIp']}:{b['HostPort']}->{inner}"
                for inner, bound in (container.attrs["NetworkSettings"]["Ports"] or {}).items()
                for b in bound or [])
                for container in engine.containers.list(filters={"label": f"parity.run={run_id}"})}
        finally:
            (broken.app.gate / "go").touch()
            code = run.finish(timeout=300)
    broken.scope.add_output(run.output)
    assert code == 0, run.output[-4000:]
    assert set(bindings) == {"app", "frontend"}, bindings
    assert [len(bound) for bound in bindings.values()] == [1, 1], bindings
    for bound in bindings.values():
        host, _, rest = bound[0].partition(":")
        assert host == "127.0.0.1" and rest.split("->")[0] not in (str(port), "9443", "8000"), bindings
    assert leftovers.settle(broken.scope) == "", run.output[-3000:]


def warm_tags(warm_app: harness.App) -> dict[str, str]:
    engine = leftovers.client()
    return {image.labels["parity.role"]: image.tags[0]
            for image in engine.images.list(filters={"label": f"parity.app={warm_app.name}"})}


def listeners(case: Case) -> str:
    """The volume that gives parity's generated frontend image its listeners (plain http):
    parity mounts them per run in generated stacks; an own compose file reusing that image
    mounts them itself."""
    directory = case.app.dir.parent / "frontend-listeners"
    directory.mkdir(exist_ok=True)
    directory.chmod(0o755)
    (directory / "servers.conf").write_text(recipes.servers_conf("http"))
    return f"{directory}:{recipes.RUN_CONF_DIR}:ro"


def own_compose_file(case: Case, warm_app: harness.App, services: dict[str, object],
                     entry_port: int = 8080) -> None:
    frontend = services.get("frontend")
    if isinstance(frontend, dict):
        frontend["volumes"] = [listeners(case)]
    (case.app.dir / "compose.yaml").write_text(json.dumps({"services": services}))
    config(case.app, '[tool.parity.stack]\ncompose_file = "compose.yaml"\n'
                     f"app_port = 8000\nentry_port = {entry_port}\n", settings=warm_app.settings)


def assert_fails_fast(case: Case, says: tuple[str, ...]) -> str:
    """Exit 7 with one line naming the service, what is wrong and the fix; nothing left."""
    code, output = harness.run_to_end(case.app, env=case.app.env())
    case.scope.add_output(output)
    assert code == 7, output[-4000:]
    line = one_line(output, says)
    assert len(line) < 600 and "not ready after" not in output, output[-4000:]
    assert leftovers.settle(case.scope) == "", output[-3000:]
    return line


def test_an_entry_service_listening_elsewhere_fails_fast_naming_its_ports(
        broken: Case, warm_app: harness.App) -> None:
    """entry_port says 81; nginx listens on 8080: said at once, not after 90 s of waiting."""
    tags = warm_tags(warm_app)
    own_compose_file(broken, warm_app, {"app": {"image": tags["app"]},
                                        "frontend": {"image": tags["frontend"]}}, entry_port=81)
    assert_fails_fast(broken, ("stack: start failed: service frontend does not listen on "
                               "entry_port 81: it listens on 8080",
                               "set [tool.parity.stack] entry_port"))


def test_a_container_exiting_during_start_up_is_named_with_its_log(
        broken: Case, warm_app: harness.App) -> None:
    tags = warm_tags(warm_app)
    sidecar = {"image": tags["app"], "command": ["python", "-c",
               "import sys; print('sidecar: cannot reach the queue'); sys.exit(3)"]}
    # nginx starts two seconds late: the worker is certainly gone before the stack answers.
    late = {"image": tags["frontend"],
            "command": ["sh", "-c", "sleep 2; exec nginx -g 'daemon off;'"]}
    own_compose_file(broken, warm_app, {"app": {"image": tags["app"]}, "frontend": late,
                                        "worker": sidecar})
    line = assert_fails_fast(broken, ("stack: start failed: service worker exited (exit 3) "
                                      "during start-up", "cannot reach the queue"))
    assert "app" not in line.split("during start-up")[0].replace("service worker", "")


def test_an_image_nothing_built_and_no_registry_has_is_named_before_the_release_step(
        broken: Case, warm_app: harness.App) -> None:
    tags = warm_tags(warm_app)
    own_compose_file(broken, warm_app, {"app": {"image": "parity-test/never-built:1"},
                                        "frontend": {"image": tags["frontend"]}})
    line = assert_fails_fast(broken, (
        "stack: images of compose.yaml failed: service app: image parity-test/never-built:1 is "
        "neither present nor pullable (no build script builds it)", "fix the service's `image:`"))
    assert "release step" not in line and "registry-1.docker.io" not in line


def test_hundred_megabyte_response_is_capped_and_memory_stays_bounded(broken: Case, scratch: Path) -> None:
    with_views(memory_probe=True)(broken.app, scratch)
    (broken.app.dir / "test_behavior.py").write_text(BIG_TEST)
    code, output = harness.run_to_end(broken.app, "--parity-report=report.json",
                                      env=broken.app.env(RELTEST_OUT=str(broken.app.gate)))
    broken.scope.add_output(output)
    assert code == 0, output[-4000:]
    peaks = [int(path.read_text()) / 1024 for path in broken.app.gate.glob("peak-rss-kib-*")]
    assert len(peaks) == 3, peaks  # the main process and one worker per side
    assert max(peaks) < 450, f"a pytest --parity process peaked at {max(peaks):.0f} MiB for two 100 MB responses"
    assert "1 match" in output
    assert (broken.app.dir / "report.json").stat().st_size < 1024 * 1024
    assert leftovers.settle(broken.scope) == ""
