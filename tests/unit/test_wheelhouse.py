"""The wheelhouse: keys, the gunicorn rule, the host pip settings the container takes over,
and the build flow with the container faked (the real one: tests/integration/test_wheelhouse.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from parity.environments.images import wheelhouse
from parity.support.cache import cache_root
from parity.support.errors import StartupError


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_key_follows_the_requirements_their_includes_and_the_base_image(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "-r base.txt\nDjango==5.2\n", "base.txt": "sqlparse\n"})
    req = tmp_path / "requirements.txt"
    key = wheelhouse.wheelhouse_key(req, "sha256:a")
    assert wheelhouse.wheelhouse_key(req, "sha256:a") == key
    assert wheelhouse.wheelhouse_key(req, "sha256:b") != key  # another interpreter
    write(tmp_path, {"base.txt": "sqlparse==0.5\n"})
    assert wheelhouse.wheelhouse_key(req, "sha256:a") != key


@pytest.mark.parametrize(("text", "needs"), [
    ("Django==5.2\n", True),
    ("Django==5.2\ngunicorn==22.0  # server\n", False),
    ("Gunicorn[gevent]>=21\n", False),
    ("-r base.txt\n", False),
    ("# gunicorn\ngunicorn-extras\n", True),
])
def test_gunicorn_joins_the_wheelhouse_only_when_missing(tmp_path: Path, text: str, needs: bool) -> None:
    write(tmp_path, {"requirements.txt": text, "base.txt": "gunicorn\n"})
    assert wheelhouse.needs_gunicorn(tmp_path / "requirements.txt") is needs


def test_cache_dir_follows_xdg_and_parity_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARITY_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    assert cache_root() == Path("/x/cache/parity")
    monkeypatch.setenv("PARITY_CACHE_DIR", "/y")
    assert cache_root() == Path("/y")


def test_the_container_takes_over_the_host_pips_index_links_constraints_and_cas(tmp_path: Path) -> None:
    links, index = tmp_path / "wheels", tmp_path / "pypi" / "simple"
    links.mkdir()
    index.mkdir(parents=True)
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    environ = {"PATH": os.environ["PATH"], "PIP_CONFIG_FILE": os.devnull,
               "PIP_FIND_LINKS": str(links), "PIP_EXTRA_INDEX_URL": f"file://{index} https://x.example/simple",
               "PIP_CERT": str(bundle), "HTTPS_PROXY": "http://proxy.example:3128"}
    settings = wheelhouse.host_pip_settings(sys.executable, environ)
    assert settings.env["PIP_FIND_LINKS"] == str(links)
    assert settings.env["PIP_EXTRA_INDEX_URL"] == f"file://{index} https://x.example/simple"
    assert settings.env["PIP_CERT"] == str(bundle)
    assert settings.env["HTTPS_PROXY"] == "http://proxy.example:3128"
    # A PEP 503 index's pages link to ../files/: its root goes in.
    assert sorted(settings.mounts) == sorted(f"{p}:{p}:ro" for p in (links, index.parent, bundle))


def test_without_a_configured_cert_the_hosts_ca_bundle_is_taken(tmp_path: Path) -> None:
    bundle = tmp_path / "corporate.pem"
    bundle.write_text("x")
    environ = {"PATH": os.environ["PATH"], "PIP_CONFIG_FILE": os.devnull,
               "REQUESTS_CA_BUNDLE": str(bundle)}
    settings = wheelhouse.host_pip_settings(sys.executable, environ)
    assert settings.env["PIP_CERT"] == str(bundle)
    assert f"{bundle}:{bundle}:ro" in settings.mounts


class FakePip:
    """Stands in for `pip wheel` in a container: records the images it ran in."""

    def __init__(self, results: list[tuple[int, str]]) -> None:
        self.results = results
        self.images: list[str] = []

    def __call__(self, engine: Any, image: str, requirements: Path, out: Path, run: Any,
                 timeout: float) -> tuple[int | None, str]:
        self.images.append(image)
        code, output = self.results.pop(0)
        if code == 0:
            (out / "Django-5.2-py3-none-any.whl").write_text("wheel")
        return code, output


@pytest.fixture
def req(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    write(tmp_path, {"requirements.txt": "Django==5.2\n"})
    return tmp_path / "requirements.txt"


def test_a_warm_wheelhouse_never_runs_pip(req: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip = FakePip([(0, "Successfully built")])
    monkeypatch.setattr(wheelhouse, "_pip_wheel", pip)
    first = wheelhouse.ensure_wheelhouse(None, req, "python:3.11-slim", "sha256:a", progress=print)
    assert first.is_relative_to(req.parent / "cache" / "wheels")
    assert wheelhouse.ensure_wheelhouse(None, req, "python:3.11-slim", "sha256:a", progress=print) == first
    assert pip.images == ["python:3.11-slim"]
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".building-")]


def test_a_pip_failure_names_the_requirements_and_keeps_no_partial_wheelhouse(
        req: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = ("Collecting soupsieve>1.2\nERROR: Package 'soupsieve' requires a different Python: "
              "3.11.2 not in '>=3.11.5'\n")
    monkeypatch.setattr(wheelhouse, "_pip_wheel", FakePip([(1, output)]))
    with pytest.raises(StartupError) as caught:
        wheelhouse.ensure_wheelhouse(None, req, "python:3.11-slim", "sha256:a", progress=print)
    assert caught.value.environment == "stack"
    assert str(req) in caught.value.step and "python:3.11-slim" in caught.value.step
    assert caught.value.cause == ("pip exited 1: ERROR: Package 'soupsieve' requires a different "
                                  "Python: 3.11.2 not in '>=3.11.5'")
    assert list((req.parent / "cache" / "wheels").iterdir()) == []


def test_a_package_that_needs_a_compiler_is_built_in_the_builder_image(
        req: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip = FakePip([(1, "Building wheel for uwsgi (setup.py): finished with status 'error'\n"
                       "error: command 'gcc' failed: No such file or directory\n"
                       "ERROR: Failed to build installable wheels for some pyproject.toml based "
                       "projects (uwsgi)\n"),
                   (0, "Successfully built uwsgi")])
    monkeypatch.setattr(wheelhouse, "_pip_wheel", pip)
    monkeypatch.setattr(wheelhouse, "builder_image",
                        lambda engine, base, base_id, progress, step: "parity/builder:abc")
    built = wheelhouse.ensure_wheelhouse(None, req, "python:3.11-slim", "sha256:a", progress=print)
    assert pip.images == ["python:3.11-slim", "parity/builder:abc"]
    assert (built / ".complete").is_file()


def test_a_resolution_error_is_not_retried_in_the_builder(req: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip = FakePip([(1, "ERROR: No matching distribution found for no-such-package==1\n")])
    monkeypatch.setattr(wheelhouse, "_pip_wheel", pip)
    with pytest.raises(StartupError, match="No matching distribution"):
        wheelhouse.ensure_wheelhouse(None, req, "python:3.11-slim", "sha256:a", progress=print)
    assert pip.images == ["python:3.11-slim"]
