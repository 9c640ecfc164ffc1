"""Environment facts gathered for real: the host's virtualenv, containers, a throwaway Postgres.

A tiny Django project ("shop") plays the app. Its local stand-in process and its container
differ on purpose: the container lacks Pygments (which shop/views.py imports), only the local
side sets SHOP_TIME_ZONE (which the settings read), and the container runs as root unless told
otherwise. The stack database misses migration 0002, as when a migration file is left out of
the image.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from parity.environments.postgres.binaries import find_bindir
from parity.environments.postgres.server import Database, Postgres
from parity.facts.gather import Fact, Side, compare_facts, gather, gather_both
from parity.support.errors import MissingDependencyError
from tests.provisioned import python_image

pytestmark = pytest.mark.integration

SITE_PACKAGES = Path(psycopg2.__file__).parent.parent
# What the container gets of the host's virtualenv: the app's dependencies, not Pygments.
LENT = ("django", "asgiref", "sqlparse", "psycopg2", "psycopg2_binary", "gunicorn", "packaging")

SETTINGS = '''
import os
from urllib.parse import urlsplit

SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "shop"]
_url = urlsplit(os.environ.get("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none"))
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql",
                         "NAME": _url.path.lstrip("/"), "USER": _url.username or "",
                         "PASSWORD": _url.password or "", "HOST": _url.hostname or "",
                         "PORT": str(_url.port or "")}}
TIME_ZONE = os.environ.get("SHOP_TIME_ZONE", "UTC")
USE_TZ = True
ROOT_URLCONF = "shop.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
'''
MIGRATION_1 = '''
from django.db import migrations, models

class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.CreateModel("Booking", [
        ("id", models.BigAutoField(primary_key=True, serialize=False)),
        ("note", models.CharField(max_length=200, db_index=True))])]
'''
MIGRATION_2 = '''
from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.CreateModel("Maintenance", [
        ("id", models.BigAutoField(primary_key=True, serialize=False)),
        ("reason", models.TextField())])]
'''
FILES = {
    "manage.py": "import sys\nfrom django.core.management import execute_from_command_line\n"
                 "execute_from_command_line(sys.argv)\n",
    "requirements.txt": "Django\npsycopg2-binary\n",
    "shop/__init__.py": "",
    "shop/settings.py": SETTINGS,
    "shop/urls.py": "urlpatterns = []\n",
    "shop/wsgi.py": "from django.core.wsgi import get_wsgi_application\n"
                    "application = get_wsgi_application()\n",
    "shop/views.py": "import django.http\n\n\ndef highlighted(code):\n"
                     "    from pygments import highlight\n    return highlight\n",
    "shop/migrations/__init__.py": "",
    "shop/migrations/0001_initial.py": MIGRATION_1,
    "shop/migrations/0002_maintenance.py": MIGRATION_2,
}


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI (run scripts/provision)")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="module")
def project() -> Iterator[Path]:
    """The shop project, readable by the container's unprivileged user."""
    root = Path(tempfile.mkdtemp(prefix="parity-facts-test-"))
    try:
        for name, text in FILES.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield root
    finally:
        shutil.rmtree(root)


def _migrate(project: Path, database: Database, *, without: str | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="parity-facts-release-") as copy:
        shutil.copytree(project, copy, dirs_exist_ok=True)
        if without:
            (Path(copy) / "shop/migrations" / without).unlink()
        env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": database.url("local"),
               "DJANGO_SETTINGS_MODULE": "shop.settings"}
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
                       cwd=copy, env=env, check=True, timeout=120)


@pytest.fixture(scope="module")
def databases(project: Path) -> Iterator[dict[str, Database]]:
    """local: all migrations; stack: 0002 left out; twin: all migrations, for the equal case."""
    try:
        find_bindir()
    except MissingDependencyError:
        _missing("PostgreSQL server binaries")
    with Postgres(f"facts{secrets.token_hex(3)}", database_url="", docker_gateway=None) as pg:
        found = {name: pg.create_database(pg.database_name(name))
                 for name in ("local", "stack", "twin")}
        _migrate(project, found["local"])
        _migrate(project, found["stack"], without="0002_maintenance.py")
        _migrate(project, found["twin"])
        yield found


@pytest.fixture(scope="module")
def local_side(project: Path, databases: dict[str, Database]) -> Iterator[Side]:
    """A stand-in for runserver: a process of the venv's interpreter with the app's env."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root", "LANG": "C.UTF-8",
           "DJANGO_SETTINGS_MODULE": "shop.settings", "SHOP_SECRET_KEY": "s3cr3t-local",
           "DATABASE_URL": databases["local"].url("local"), "SHOP_TIME_ZONE": "Europe/Berlin"}
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                              env=env, cwd=project)
    try:
        yield Side("local", "local://", sys.executable, server.pid, str(project),
                   databases["local"].url("local"), env, "shop.settings", "requirements.txt")
    finally:
        server.kill()
        server.wait()


@contextlib.contextmanager
def container(project: Path, *args: str, command: tuple[str, ...]) -> Iterator[str]:
    """A container of the base image with the project at /srv/app and the lent packages."""
    name = f"parity-facts-test-{secrets.token_hex(4)}"
    mounts = [f"{path}:/opt/site/{path.name}:ro" for path in sorted(SITE_PACKAGES.iterdir())
              if path.name.lower().split("-")[0].removesuffix(".libs") in LENT]
    argv = ["docker", "run", "-d", "--name", name, "--label", "parity.test=1",
            "-v", f"{project}:/srv/app:ro", "-w", "/srv/app", "-e", "PYTHONPATH=/opt/site",
            "-e", "DJANGO_SETTINGS_MODULE=shop.settings", "-e", "SHOP_SECRET_KEY=s3cr3t-stack",
            "-e", "DATABASE_URL=postgresql://parity:pw@host.docker.internal:5432/x"]
    for mount in mounts:
        argv += ["-v", mount]
    try:
        subprocess.run([*argv, *args, python_image(), *command], check=True, capture_output=True,
                       timeout=60)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        _missing(f"a Docker engine with {python_image()} ({exc})")
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def stack_side(name: str, database: Database, workdir: str = "/srv/app") -> Side:
    return Side("stack", f"docker://{name}", "python3", None, workdir, database.url("local"),
                None, "shop.settings", "requirements.txt")


def by_name(facts: list[Fact]) -> dict[str, Fact]:
    return {fact.name: fact for fact in facts}


def test_local_facts_come_from_the_app_process(local_side: Side) -> None:
    facts: dict[str, Any] = gather(local_side)
    assert facts["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert facts["env names"]["source"] == f"/proc/{local_side.app_pid}/environ"
    assert facts["env names"]["names"] == sorted(local_side.env or {})
    assert "SHOP_TIME_ZONE" in facts["env names"]["settings_literals"]
    assert facts["user"]["uid"] == os.getuid() and facts["user"]["pid"] == local_side.app_pid
    values = facts["settings"]["values"]
    assert values["TIME_ZONE"] == "'Europe/Berlin'"
    assert values["SECRET_KEY"] == "***"
    assert values["DATABASES"] == "{'default': {'ENGINE': 'django.db.backends.postgresql'}}"
    assert "s3cr3t" not in str(facts)
    assert facts["packages"]["imported"]["django"] in ("manage.py", "shop/views.py")
    assert facts["packages"]["lazy"] == {"pygments": "shop/views.py"}
    assert facts["packages"]["required"] == ["django", "psycopg2-binary"]
    assert facts["libpq"]["runtime"] >= 100000
    assert set(facts["schema"]["tables"]) >= {"shop_booking", "shop_maintenance",
                                             "django_migrations"}


def test_drift_against_a_root_container_is_named(
    project: Path, local_side: Side, databases: dict[str, Database],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with container(project, command=("python3", "-c", "import time; time.sleep(300)")) as name:
        stack = stack_side(name, databases["stack"])
        gather_both(local_side, stack)  # cold: the first docker exec and imports
        times = []
        for _ in range(3):  # the best of three: a busy CI machine should not fail this
            started = time.monotonic()
            mine, theirs = gather_both(local_side, stack)
            times.append(time.monotonic() - started)
    facts = by_name(compare_facts(mine, theirs))
    with capsys.disabled():
        print(f"\ngather_both, warm: {', '.join(f'{t:.2f}s' for t in times)}")
    assert min(times) < 2.0
    assert facts["user"].detail == ["user: stack runs as root (uid 0, process python3 pid 1)"]
    assert facts["user"].failed
    assert "setting TIME_ZONE: local 'Europe/Berlin', stack 'UTC'" in facts["settings"].detail
    assert "env SHOP_TIME_ZONE: set in local only (read by the settings)" \
        in facts["env names"].detail
    assert f"package pygments: installed locally ({version('pygments')}), missing in the stack, " \
        "imported inside a block by shop/views.py (breaks when that code runs)" \
        in facts["packages"].detail
    assert facts["packages"].severity == "warn"
    assert facts["schema"].detail == ["schema: table shop_maintenance missing in stack",
                                      "schema: migration shop.0002_maintenance missing in stack"]
    assert facts["python"].severity in ("ok", "warn")
    assert facts["libpq"].severity == "ok"  # the same psycopg2-binary wheel on both sides
    assert "s3cr3t" not in str(theirs) + str(facts)
    declared = by_name(compare_facts(mine, theirs, expected=("TIME_ZONE", "shop_*", "shop.*")))
    assert not declared["settings"].failed and not declared["schema"].failed
    # SHOP_TIME_ZONE declared for the local side only: TIME_ZONE follows from it, by the
    # settings source the probe read; the schema still fails.
    per_side = by_name(compare_facts(mine, theirs, declared={
        "local": {"SHOP_TIME_ZONE": "Europe/Berlin"}, "stack": {}}))
    assert "setting TIME_ZONE: local 'Europe/Berlin', stack 'UTC' (follows from the declared " \
        "SHOP_TIME_ZONE)" in per_side["settings"].detail
    assert not per_side["settings"].failed and per_side["schema"].failed


def test_an_unprivileged_container_passes_and_its_server_process_is_found(
    project: Path, local_side: Side, databases: dict[str, Database]
) -> None:
    serve = "python3 -m gunicorn --bind 127.0.0.1:8000 --workers 1 shop.wsgi & exec sleep 300"
    with container(project, "--user", "10001", command=("sh", "-c", serve)) as name:
        stack = stack_side(name, databases["twin"], workdir="")  # the image's WorkingDir
        deadline = time.monotonic() + 20
        while True:
            theirs: dict[str, Any] = gather(stack)
            if theirs["user"].get("pid") != 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    facts = by_name(compare_facts(gather(local_side), theirs))
    assert theirs["user"]["uid"] == 10001
    assert theirs["user"]["pid"] != 1, "the gunicorn master, not PID 1 (sleep)"
    assert theirs["env names"]["source"] == f"/proc/{theirs['user']['pid']}/environ"
    assert not facts["user"].failed
    assert facts["schema"].severity == "ok"
    assert theirs["settings"]["values"]["ROOT_URLCONF"] == "'shop.urls'"


@pytest.mark.parametrize(("requirement", "build", "library"), [
    ("psycopg[binary]", "binary", "psycopg_binary.libs/libpq-"),
    ("psycopg", "python", "libpq.so.5"),
], ids=["binary", "pure-python"])
def test_psycopg_3_and_the_libpq_it_loads_are_recognised(tmp_path: Path, local_side: Side,
                                                          requirement: str, build: str,
                                                          library: str) -> None:
    """An app on psycopg 3 only: its own libpq (binary) or the system's (pure Python)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", requirement],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"pip install {requirement} (needs the package index): " \
                                 f"{done.stderr[-2000:]}"
    side = Side("stack", "local://", str(venv / "bin/python"), None, str(tmp_path),
                "postgresql://nobody@127.0.0.1:1/none", env={"PATH": "/usr/bin:/bin"})
    raw: dict[str, Any] = gather(side)["libpq"]  # type: ignore[assignment]
    assert raw["driver"].startswith("psycopg 3.") and raw["driver"].endswith(f"({build})")
    assert raw["runtime"] >= 100000
    loaded = subprocess.run([str(venv / "bin/python"), "-c", "import os, psycopg; print(*{"
                             "l.split()[-1] for l in open('/proc/self/maps') "
                             "if os.path.basename(l.split()[-1]).startswith('libpq')})"],
                            capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert len(loaded) == 1 and library in loaded[0], loaded
    assert raw["linked"] == [Path(loaded[0]).name]
    fact = by_name(compare_facts(gather(local_side), {"libpq": raw}))["libpq"]
    assert "missing" not in fact.stack and fact.stack.startswith(f"{raw['runtime'] // 10000}.")
    # The local side runs psycopg2: the drivers are named, whatever the versions say.
    assert fact.detail and f"stack {raw['driver']}" in fact.detail[0], fact.detail
