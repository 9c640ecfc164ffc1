"""Which base images a run uses: the configured ones, or parity's stand-ins (no Docker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from parity.configuration import load_config
from parity.machine import standins
from parity.machine.baseimage import recipes
from parity.machine.standins import ROLES, choose, find_standin, resolve, stands_in_for
from parity.support.errors import MissingDependencyError

BASE, FRONTEND = ROLES


@pytest.mark.parametrize(("reference", "expected"), [
    ("python:3.11-slim", True),
    ("python:3.11", True),
    ("python:3.11-slim-bookworm", True),
    ("python:3.11-bookworm", True),
    ("docker.io/library/python:3.11-slim", True),
    ("library/python:3.11-slim", True),
    ("python:3", True),
    ("python", True),
    ("python:slim", True),
    ("python:3.12-slim", False),          # another minor version
    ("python:3.11.9-slim", False),        # a patch level the stand-in does not have
    ("python:3.11-alpine", False),
    ("python:3.11-slim-bullseye", False),  # another Debian suite
    ("corp.example/python:3.11-slim", False),
    ("python@sha256:" + "0" * 64, False),
    ("nginx:stable", False),
])
def test_python_stand_in_covers_its_version_and_variants(reference: str, expected: bool) -> None:
    assert stands_in_for("python", "3.11-bookworm-88ae336a48", reference) is expected


@pytest.mark.parametrize(("reference", "expected"), [
    ("nginx:stable", True),
    ("nginx", True),
    ("nginx:latest", True),
    ("nginx:mainline", True),
    ("nginx:stable-bookworm", True),
    ("docker.io/library/nginx:stable", True),
    ("nginx:1.27", False),                # an exact version the stand-in does not have
    ("nginx:stable-alpine", False),
    ("nginx:stable-perl", False),
    ("openresty/openresty:stable", False),
    ("python:3.11-slim", False),
])
def test_nginx_stand_in_covers_the_release_channels(reference: str, expected: bool) -> None:
    assert stands_in_for("nginx", "bookworm-0e871bb588", reference) is expected


class FakeImage:
    def __init__(self, tag: str, created: int = 1767225600) -> None:
        self.tags = [tag]
        self.id = "sha256:" + tag
        self.created = created


class FakeImages:
    def __init__(self, present: list[FakeImage]) -> None:
        self.present = present

    def get(self, reference: str) -> FakeImage:
        for image in self.present:
            if reference in image.tags:
                return image
        raise docker.errors.ImageNotFound(reference)

    def summaries(self, filters: dict[str, str]) -> list[dict[str, object]]:
        kind = filters["label"].split("=", 1)[1]
        return [{"Id": image.id, "RepoTags": image.tags, "Created": image.created}
                for image in self.present if image.tags[0].startswith(f"parity-base/{kind}:")]


class FakeApi:
    timeout = 120

    def __init__(self, images: FakeImages, registry: dict[str, FakeImage]) -> None:
        self.images_ = images
        self.registry = registry
        self.pulled: list[str] = []

    def images(self, filters: dict[str, str]) -> list[dict[str, object]]:
        return self.images_.summaries(filters)

    def pull(self, repository: str, tag: str) -> None:
        reference = f"{repository}:{tag}"
        self.pulled.append(reference)
        if reference not in self.registry:
            raise docker.errors.APIError("no such host")
        self.images_.present.append(self.registry[reference])


class FakeEngine:
    def __init__(self, present: tuple[str, ...] = (), registry: tuple[str, ...] = ()) -> None:
        self.images = FakeImages([FakeImage(tag) for tag in present])
        self.api = FakeApi(self.images, {tag: FakeImage(tag) for tag in registry})


CURRENT_PYTHON, CURRENT_NGINX = (recipe.reference for recipe in recipes())


def test_a_present_image_is_used_as_it_is() -> None:
    engine = FakeEngine(present=("python:3.11-slim", CURRENT_PYTHON))
    choice = choose(engine, BASE, "python:3.11-slim", explicit=False)
    assert (choice.used, choice.how, choice.note) == ("python:3.11-slim", "present", None)
    assert engine.api.pulled == []


def test_a_pullable_image_is_pulled_before_any_stand_in_is_considered() -> None:
    engine = FakeEngine(present=(CURRENT_PYTHON,), registry=("python:3.11-slim",))
    choice = choose(engine, BASE, "python:3.11-slim", explicit=False)
    assert (choice.used, choice.how) == ("python:3.11-slim", "pulled")
    assert engine.api.pulled == ["python:3.11-slim"]


def test_neither_present_nor_pullable_uses_the_stand_in_and_says_so() -> None:
    engine = FakeEngine(present=(CURRENT_PYTHON, CURRENT_NGINX))
    choice = choose(engine, FRONTEND, "nginx:stable", explicit=False)
    assert (choice.used, choice.how) == (CURRENT_NGINX, "stand-in")
    assert choice.note == (f"frontend image nginx:stable is neither present nor pullable: using "
                           f"parity's stand-in {CURRENT_NGINX} (built by `parity base-image`)")
    assert engine.api.pulled == ["nginx:stable"]


def test_without_a_stand_in_the_error_names_the_fix() -> None:
    engine = FakeEngine()
    with pytest.raises(MissingDependencyError) as raised:
        choose(engine, BASE, "python:3.11-slim", explicit=False)
    assert raised.value.one_line() == (
        "base image python:3.11-slim not found locally and no registry reachable; run "
        "`parity base-image` (it builds a local stand-in that parity then uses) or "
        "`docker pull python:3.11-slim`")


def test_an_explicit_variable_wins_and_is_never_replaced() -> None:
    engine = FakeEngine(present=(CURRENT_PYTHON))
    with pytest.raises(MissingDependencyError, match="unset PARITY_BASE_IMAGE"):
        choose(engine, BASE, "python:3.11-slim", explicit=True)


def test_a_stand_in_for_another_python_is_not_used() -> None:
    engine = FakeEngine(present=(CURRENT_PYTHON))
    with pytest.raises(MissingDependencyError, match="python:3.12-slim not found"):
        choose(engine, BASE, "python:3.12-slim", explicit=False)


def test_the_current_recipe_wins_over_a_newer_older_recipe_image() -> None:
    engine = FakeEngine()
    engine.images.present = [FakeImage("parity-base/python:3.11-bookworm-0000000000", 1800000000),
                             FakeImage(CURRENT_PYTHON, 1700000000)]
    assert find_standin(engine, "python", "python:3.11-slim") == CURRENT_PYTHON
    engine.images.present = [FakeImage("parity-base/python:3.11-bookworm-0000000000", 1600000000),
                             FakeImage("parity-base/python:3.11-bookworm-1111111111", 1650000000)]
    assert find_standin(engine, "python", "python:3.11-slim") == \
        "parity-base/python:3.11-bookworm-1111111111"


def app(root: Path) -> Path:
    (root / "mysite").mkdir()
    (root / "mysite" / "wsgi.py").write_text("application = None\n")
    (root / "manage.py").write_text("")
    (root / "requirements.txt").write_text("django\n")
    (root / "pyproject.toml").write_text('[tool.parity]\nwsgi = "mysite.wsgi:application"\n'
                                         'settings = "mysite.settings"\n')
    return root


def test_resolve_gives_a_config_built_on_what_is_used(tmp_path: Path) -> None:
    config = load_config(app(tmp_path), environ={})
    engine = FakeEngine(present=(CURRENT_PYTHON, CURRENT_NGINX))
    resolved, choices = resolve(config, engine)
    assert (resolved.base_image, resolved.frontend_image) == (CURRENT_PYTHON, CURRENT_NGINX)
    assert [c.wanted for c in choices] == ["python:3.11-slim", "nginx:stable"]
    assert resolved.explicit_images == frozenset()


def test_explicit_images_come_from_the_environment_only(tmp_path: Path) -> None:
    config = load_config(app(tmp_path), environ={"PARITY_FRONTEND_IMAGE": "corp/nginx:1"})
    assert config.explicit_images == {"frontend_image"}
    assert config.frontend_image == "corp/nginx:1"


def test_the_header_names_the_stand_ins_without_pulling(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine(present=(CURRENT_PYTHON, "nginx:stable"))
    monkeypatch.setattr(standins, "client", lambda: engine)
    shown = standins.describe(load_config(app(tmp_path), environ={}))
    assert shown == f"python:3.11-slim (stand-in {CURRENT_PYTHON}) + nginx:stable"
    assert engine.api.pulled == []


def test_the_header_never_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def away() -> Any:
        raise MissingDependencyError("Docker engine not reachable")

    monkeypatch.setattr(standins, "client", away)
    assert standins.describe(load_config(app(tmp_path), environ={})) == \
        "python:3.11-slim + nginx:stable"
