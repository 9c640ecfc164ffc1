"""The config reader: documented defaults, and one clear error per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.configuration import DEFAULT_BASE_IMAGE, DEFAULT_FRONTEND_IMAGE, find_config, load_config
from parity.support.errors import ParityConfigError

GOOD = """
[tool.parity]
app = "django"
wsgi = "mysite.wsgi:application"
settings = "mysite.settings"
"""


def make_app(tmp_path: Path, config: str = GOOD, *, requirements: bool = True) -> Path:
    (tmp_path / "manage.py").write_text("# manage\n")
    (tmp_path / "mysite").mkdir()
    (tmp_path / "mysite" / "__init__.py").write_text("")
    (tmp_path / "mysite" / "wsgi.py").write_text("application = None\n")
    (tmp_path / "mysite" / "settings.py").write_text("")
    if requirements:
        (tmp_path / "requirements.txt").write_text("django\n")
    (tmp_path / "pyproject.toml").write_text(config)
    return tmp_path / "pyproject.toml"


def error_for(tmp_path: Path, config: str, **kwargs: bool) -> ParityConfigError:
    path = make_app(tmp_path, config, **kwargs)
    with pytest.raises(ParityConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "\n" not in message, "config errors are one line"
    assert str(path) in message or caught.value.file in message
    return caught.value


def test_documented_defaults(tmp_path: Path) -> None:
    config = load_config(make_app(tmp_path), environ={})
    assert config.app == "django"
    assert config.project_dir == tmp_path.resolve()
    assert config.requirements == (tmp_path / "requirements.txt").resolve()
    assert config.base_image == DEFAULT_BASE_IMAGE == "python:3.11-slim"
    assert config.frontend_image == DEFAULT_FRONTEND_IMAGE == "nginx:stable"
    assert (config.static_url, config.media_url) == ("/static/", "/media/")
    assert config.release == (("python", "manage.py", "migrate", "--noinput"),)
    assert config.stack.compose_file is None and not config.stack.user_owned
    assert (config.stack.app_service, config.stack.app_port) == ("app", 8000)
    assert (config.stack.entry_service, config.stack.entry_port) == ("frontend", 80)
    assert config.stack.database_service is None and config.stack.has_frontend
    assert config.compare.ignore_headers == ()


def test_full_config_is_read(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "deploy" / "build.sh").write_text("#!/bin/sh\n")
    config = load_config(make_app(tmp_path, GOOD + """
env = { DJANGO_DEBUG = "0" }
release = "python manage.py migrate --noinput --verbosity 0"
[tool.parity.local]
env = { DJANGO_SETTINGS_MODULE = "mysite.settings" }
[tool.parity.stack]
env = { WEB_CONCURRENCY = "2" }
compose_file = "deploy/compose.yaml"
build = "deploy/build.sh"
app_service = "web"
entry_port = 8080
[tool.parity.compare]
ignore_headers = ["X-Request-Id"]
ignore_json_paths = ["$.generated_at"]
[tool.parity.facts]
expected = ["DEBUG"]
"""), environ={})
    assert config.env == {"DJANGO_DEBUG": "0"}
    assert config.release[-1][-1] == "0"
    assert config.stack.user_owned and config.stack.app_service == "web"
    assert config.stack.database_service is None and config.stack.has_frontend
    assert config.stack.entry_port == 8080
    assert config.compare.ignore_headers == ("x-request-id",)
    assert config.facts.expected == ("DEBUG",)
    assert config.env_for("stack")["WEB_CONCURRENCY"] == "2"
    assert "WEB_CONCURRENCY" not in config.env_for("local")
    with pytest.raises(AttributeError):
        config.app = "wsgi"  # type: ignore[misc]


def test_release_may_be_a_list_of_commands_each_split_like_a_shell(tmp_path: Path) -> None:
    config = load_config(make_app(tmp_path, GOOD + """
release = ["python manage.py migrate --noinput", "sh -c 'python manage.py load_data && echo done'"]
"""), environ={})
    assert config.release == (("python", "manage.py", "migrate", "--noinput"),
                              ("sh", "-c", "python manage.py load_data && echo done"))


def test_an_empty_release_list_runs_nothing(tmp_path: Path) -> None:
    assert load_config(make_app(tmp_path, GOOD + "release = []\n"), environ={}).release == ()


def test_environment_overrides_images(tmp_path: Path) -> None:
    config = load_config(make_app(tmp_path), environ={
        "PARITY_BASE_IMAGE": "parity-base/python:3.11-x", "PARITY_FRONTEND_IMAGE": "parity-base/nginx:x",
    })
    assert config.base_image == "parity-base/python:3.11-x"
    assert config.frontend_image == "parity-base/nginx:x"


def test_wsgi_app_has_no_default_release(tmp_path: Path) -> None:
    config = load_config(make_app(tmp_path, '[tool.parity]\napp = "wsgi"\nwsgi = "mysite.wsgi"\n'), environ={})
    assert config.release == ()
    assert config.wsgi == "mysite.wsgi:application"


def test_config_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    path = make_app(tmp_path)
    assert find_config(tmp_path / "mysite") == path.resolve()


BAD_INPUTS = [
    # (id, config text, expected key, expected fragment of the fix)
    ("unknown key with suggestion", GOOD + 'reqirements = "r.txt"\n', "tool.parity.reqirements", "did you mean 'requirements'?"),
    ("unknown key without suggestion", GOOD + 'colour = "blue"\n', "tool.parity.colour", "accepted keys: app,"),
    ("unknown stack key", GOOD + '[tool.parity.stack]\ncompose = "x.yaml"\n', "tool.parity.stack.compose", "did you mean 'compose_file'?"),
    ("unknown compare key", GOOD + '[tool.parity.compare]\nignore_header = ["X"]\n', "tool.parity.compare.ignore_header", "did you mean 'ignore_headers'?"),
    ("app kind", GOOD.replace('"django"', '"flask"'), "tool.parity.app", 'use "django" or "wsgi"'),
    ("string expected", GOOD + "static_url = 5\n", "tool.parity.static_url", "write it in quotes"),
    ("static url shape", GOOD + 'static_url = "static"\n', "tool.parity.static_url", 'e.g. static_url = "/static/"'),
    ("media url shape", GOOD + 'media_url = "/media"\n', "tool.parity.media_url", 'e.g. media_url = "/media/"'),
    ("media url a number", GOOD + "media_url = 1\n", "tool.parity.media_url", "write it in quotes"),
    ("env not a table", GOOD + 'env = "DEBUG=0"\n', "tool.parity.env", 'write env = { NAME = "value" }'),
    ("env value a number", GOOD + "env = { DJANGO_DEBUG = 0 }\n", "tool.parity.env.DJANGO_DEBUG", 'quote the value: DJANGO_DEBUG = "0"'),
    ("env value a boolean", GOOD + "env = { DJANGO_DEBUG = false }\n", "tool.parity.env.DJANGO_DEBUG", "quote the value"),
    ("env name invalid", GOOD + 'env = { "2FAST" = "x" }\n', "tool.parity.env.2FAST", "letters, digits and underscores"),
    ("port not an integer", GOOD + '[tool.parity.stack]\ncompose_file = "pyproject.toml"\napp_port = "8000"\n', "tool.parity.stack.app_port", "without quotes"),
    ("port out of range", GOOD + '[tool.parity.stack]\ncompose_file = "pyproject.toml"\nentry_port = 70000\n', "tool.parity.stack.entry_port", "between 1 and 65535"),
    ("wsgi shape", GOOD.replace("mysite.wsgi:application", "mysite/wsgi.py"), "tool.parity.wsgi", 'e.g. wsgi = "mysite.wsgi:application"'),
    ("wsgi module missing", GOOD.replace("mysite.wsgi:application", "othersite.wsgi:application"), "tool.parity.wsgi", "fix the module path or project_dir"),
    ("requirements missing", GOOD + 'requirements = "requirements/prod.txt"\n', "tool.parity.requirements", "point the key at your requirements file"),
    ("requirements escape the project", GOOD + 'requirements = "../../etc/passwd"\n', "tool.parity.requirements", "point it at something inside"),
    ("absolute path", GOOD + 'requirements = "/etc/passwd"\n', "tool.parity.requirements", "give it relative to"),
    ("project dir escapes", GOOD + 'project_dir = ".."\n', "tool.parity.project_dir", "point it at something inside"),
    ("compose file missing", GOOD + '[tool.parity.stack]\ncompose_file = "deploy/compose.yaml"\n', "tool.parity.stack.compose_file", "point it at your compose file"),
    ("build without compose file", GOOD + '[tool.parity.stack]\nbuild = "build.sh"\n', "tool.parity.stack.build", "set compose_file too"),
    ("service keys need own compose file", GOOD + '[tool.parity.stack]\napp_service = "web"\n', "tool.parity.stack.app_service", "remove it, or set compose_file"),
    ("database service needs own compose file", GOOD + '[tool.parity.stack]\ndatabase_service = "db"\n', "tool.parity.stack.database_service", "remove it, or set compose_file"),
    ("database service name", GOOD + '[tool.parity.stack]\ncompose_file = "pyproject.toml"\ndatabase_service = "my db"\n', "tool.parity.stack.database_service", "letters, digits"),
    ("database service is the app", GOOD + '[tool.parity.stack]\ncompose_file = "pyproject.toml"\napp_service = "web"\ndatabase_service = "web"\n', "tool.parity.stack.database_service", "name the service that runs Postgres"),
    ("json path shape", GOOD + '[tool.parity.compare]\nignore_json_paths = ["generated_at"]\n', "tool.parity.compare.ignore_json_paths", 'e.g. "$.generated_at"'),
    ("list expected", GOOD + '[tool.parity.compare]\nignore_headers = "X-Request-Id"\n', "tool.parity.compare.ignore_headers", 'wrap it in brackets'),
    ("bad regex", GOOD + "[tool.parity.compare]\nignore_text_patterns = ['([a-z']\n", "tool.parity.compare.ignore_text_patterns", "fix the pattern"),
    ("stack not a table", GOOD + 'stack = "deploy"\n', "tool.parity.stack", "[tool.parity.stack] section"),
    ("release unbalanced quotes", GOOD + "release = \"python manage.py migrate 'x\"\n", "tool.parity.release", "balance the quotes"),
    ("release list item unbalanced", GOOD + "release = [\"python manage.py migrate\", \"sh -c 'x\"]\n", "tool.parity.release[1]", "balance the quotes"),
    ("release list of numbers", GOOD + "release = [1, 2]\n", "tool.parity.release", "release = [\"python manage.py migrate --noinput\""),
    ("image reference", GOOD + 'base_image = "Python 3.11"\n', "tool.parity.base_image", "python:3.11-slim"),
    ("settings not dotted", GOOD.replace('settings = "mysite.settings"', 'settings = "mysite/settings.py"'), "tool.parity.settings", 'settings = "mysite.settings"'),
    ("missing table", '[tool.other]\nx = 1\n', "tool.parity", "add a [tool.parity] section"),
    ("not TOML", "[tool.parity\napp = ", "tool.parity", "fix the syntax"),
]


@pytest.mark.parametrize(("config", "key", "fix"), [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_names_key_and_fix(tmp_path: Path, config: str, key: str, fix: str) -> None:
    error = error_for(tmp_path, config)
    assert error.key == key
    assert fix in error.fix
    assert str(error).startswith(f"{error.file}: {key}")


def test_missing_manage_py(tmp_path: Path) -> None:
    path = make_app(tmp_path)
    (tmp_path / "manage.py").unlink()
    with pytest.raises(ParityConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.key == "tool.parity.project_dir"
    assert "has no manage.py" in str(caught.value)
    assert "directory that holds manage.py" in caught.value.fix


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParityConfigError) as caught:
        load_config(tmp_path / "nope" / "pyproject.toml", environ={})
    assert "file not found" in str(caught.value)


def test_unreadable_file(tmp_path: Path) -> None:
    path = make_app(tmp_path)
    path.write_bytes(b"\xff\xfe[tool.parity]\n")
    with pytest.raises(ParityConfigError) as caught:
        load_config(path, environ={})
    assert "cannot be read" in str(caught.value)
    assert caught.value.fix == "make it a readable UTF-8 file"


def test_no_config_anywhere(tmp_path: Path) -> None:
    with pytest.raises(ParityConfigError) as caught:
        find_config(tmp_path)
    assert "--parity-config" in caught.value.fix


def test_an_own_compose_file_without_a_frontend_names_its_database_service(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    config = load_config(make_app(tmp_path, GOOD + """
[tool.parity.stack]
compose_file = "docker-compose.yml"
app_service = "web"
entry_service = "web"
entry_port = 8000
database_service = "postgres"
"""), environ={})
    assert config.stack.database_service == "postgres"
    assert config.stack.build is None and config.stack.user_owned
    assert not config.stack.has_frontend  # the app service serves HTTP itself
