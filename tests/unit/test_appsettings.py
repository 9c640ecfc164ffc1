"""What parity reads of the app's settings before a release step, and what follows (no Docker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from parity.configuration.release import label, shown
from parity.environments.appsettings import AppSettings, check_database, local_wrapper
from parity.support.errors import SettingsError


def settings(**database: str) -> AppSettings:
    return AppSettings(module="mysite.settings.dev", media_root="/p/media", media_url="/media/",
                       static_url="/static/", database=database)


def test_the_database_parity_provides_passes() -> None:
    check_database(settings(ENGINE="django.db.backends.postgresql", NAME="parity_x_local"),
                   "parity_x_local", "local")
    check_database(settings(ENGINE="django.contrib.gis.db.backends.postgis", NAME="parity_x_local"),
                   "parity_x_local", "local")


def test_sqlite_in_the_checkout_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        check_database(settings(ENGINE="django.db.backends.sqlite3", NAME=str(tmp_path / "db.sqlite3")),
                       "parity_x_local", "local", tmp_path)
    assert raised.value.exit_code == 4
    assert raised.value.one_line() == (
        "local: settings mysite.settings.dev: DATABASES['default'] is sqlite3 (<project>/db.sqlite3), "
        "not the database parity provides (DATABASE_URL, PG*); make the settings read DATABASE_URL, "
        "e.g. with dj-database-url: DATABASES = {'default': dj_database_url.config(conn_max_age=600)}")


def test_another_postgres_database_is_named_with_its_host() -> None:
    with pytest.raises(SettingsError, match=r"is postgresql \(database shop at db.internal:5432\)"):
        check_database(settings(ENGINE="django.db.backends.postgresql", NAME="shop", HOST="db.internal"),
                       "parity_x_stack", "stack")


def test_the_local_wrapper_keeps_the_apps_settings_and_moves_only_media_root(tmp_path: Path) -> None:
    package = tmp_path / "app" / "mysite"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text("DEBUG = True\nMEDIA_ROOT = '/checkout/media'\n__all__ = []\n"
                                         "SECRET_KEY = 'x'\n")
    env = local_wrapper(tmp_path / "wrapper", "mysite.settings", tmp_path / "media")
    assert env["DJANGO_SETTINGS_MODULE"] == "parity_local_settings"
    assert env["PARITY_SETTINGS_MODULE"] == "mysite.settings"
    assert (tmp_path / "media").is_dir()
    probe = ("import importlib, os; m = importlib.import_module(os.environ['DJANGO_SETTINGS_MODULE']); "
             "print(m.DEBUG, m.MEDIA_ROOT)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "app", capture_output=True,
                          text=True, check=True,
                          env={"PYTHONPATH": env["PYTHONPATH"] + ":" + str(tmp_path / "app"),
                               "DJANGO_SETTINGS_MODULE": env["DJANGO_SETTINGS_MODULE"]})
    assert done.stdout.split() == ["True", str(tmp_path / "media")]


def test_release_commands_are_shown_as_typed() -> None:
    assert shown(("sh", "-c", "python manage.py migrate && python manage.py load")) == \
        "sh -c 'python manage.py migrate && python manage.py load'"
    assert label(0, 1) == "release step"
    assert label(1, 3) == "release step 2 of 3"
