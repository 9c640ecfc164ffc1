"""Which base images a run builds on: the configured ones, or parity's stand-ins for them.

`base_image` and `frontend_image` (python:3.11-slim and nginx:stable by default) are used
when the engine has them or can pull them. Where it can do neither (a machine without a
registry), a stand-in that `parity base-image` built for that reference takes its place, with
no variable to export: the choice is said in a progress line and in the reports. A
PARITY_BASE_IMAGE / PARITY_FRONTEND_IMAGE set in the environment is used as it is, never
replaced: it is the user's explicit choice.

A python stand-in (`parity-base/python:3.11-bookworm-<recipe>`) stands in for
`python:<its major.minor>` in its plain, `-slim` and `-<suite>` variants (and for
`python`/`python:3`); an nginx stand-in for `nginx:stable`, `:mainline`, `:latest` and their
`-<suite>` variants. Among several, the current recipe's image wins, else the newest.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal

from parity.configuration import ParityConfig
from parity.machine.baseimage import LABEL_KIND, recipes
from parity.machine.engine import client, image_present
from parity.support.errors import MissingDependencyError

PULL_TIMEOUT = 30
How = Literal["present", "pulled", "stand-in"]


@dataclass(frozen=True)
class Role:
    key: str
    """The config key: base_image or frontend_image."""
    label: str
    kind: str
    """The stand-in's kind (its parity.base-image label)."""
    variable: str


ROLES = (
    Role("base_image", "base image", "python", "PARITY_BASE_IMAGE"),
    Role("frontend_image", "frontend image", "nginx", "PARITY_FRONTEND_IMAGE"),
)


@dataclass(frozen=True)
class ImageChoice:
    role: Role
    wanted: str
    used: str
    how: How

    @property
    def note(self) -> str | None:
        """The progress line and report entry for a stand-in; None when the image is its own."""
        if self.how != "stand-in":
            return None
        return (f"{self.role.label} {self.wanted} is neither present nor pullable: using "
                f"parity's stand-in {self.used} (built by `parity base-image`)")

    def to_dict(self) -> dict[str, str]:
        return {"wanted": self.wanted, "used": self.used, "how": self.how}


def pull(engine: Any, reference: str, timeout: int = PULL_TIMEOUT) -> bool:
    """One short pull; True when the image is there afterwards."""
    repository, tag = split_reference(reference)
    saved = engine.api.timeout
    engine.api.timeout = timeout
    try:
        engine.api.pull(repository, tag=tag)
        return image_present(engine, reference)
    except Exception:  # any pull failure (DNS, auth, 404, timeout) means: not available here
        return False
    finally:
        engine.api.timeout = saved


def split_reference(reference: str) -> tuple[str, str]:
    """("nginx", "stable") from "nginx:stable"; the tag defaults to "latest"."""
    if ":" in reference.rsplit("/", 1)[-1]:
        repository, _, tag = reference.rpartition(":")
        return repository, tag
    return reference, "latest"


def choose(engine: Any, role: Role, wanted: str, *, explicit: bool,
           pulling: bool = True) -> ImageChoice:
    """The image to use for `wanted`: itself when present or pullable, else a stand-in.
    `pulling` False: a missing image is not pulled (a guess for a report header)."""
    if image_present(engine, wanted):
        return ImageChoice(role, wanted, wanted, "present")
    if pulling and pull(engine, wanted):
        return ImageChoice(role, wanted, wanted, "pulled")
    if explicit:
        raise MissingDependencyError(
            f"{role.label} {wanted} not found locally and no registry reachable ({role.variable} "
            f"names it); build or `docker pull {wanted}`, or unset {role.variable} so that "
            f"parity uses its own stand-in (`parity base-image` builds it)")
    standin = find_standin(engine, role.kind, wanted)
    if standin is not None:
        return ImageChoice(role, wanted, standin, "stand-in")
    raise MissingDependencyError(
        f"{role.label} {wanted} not found locally and no registry reachable; run "
        f"`parity base-image` (it builds a local stand-in that parity then uses) or "
        f"`docker pull {wanted}`")


def resolve(config: ParityConfig, engine: Any) -> tuple[ParityConfig, list[ImageChoice]]:
    """The config with the base images a run really uses, and how each was chosen."""
    choices = [choose(engine, role, getattr(config, role.key),
                      explicit=role.key in config.explicit_images) for role in ROLES]
    return _using(config, choices), choices


def resolve_leniently(config: ParityConfig, engine: Any, *,
                      pulling: bool = True) -> tuple[ParityConfig, list[ImageChoice]]:
    """As `resolve`, but an image that cannot be found stays as configured: for own compose
    files, whose build script may not use parity's base images at all."""
    choices: list[ImageChoice] = []
    for role in ROLES:
        try:
            choices.append(choose(engine, role, getattr(config, role.key),
                                  explicit=role.key in config.explicit_images, pulling=pulling))
        except MissingDependencyError:
            continue
    return _using(config, choices), choices


def _using(config: ParityConfig, choices: list[ImageChoice]) -> ParityConfig:
    used = {choice.role.key: choice.used for choice in choices}
    return dataclasses.replace(config, base_image=used.get("base_image", config.base_image),
                               frontend_image=used.get("frontend_image", config.frontend_image))


# --- which stand-in is for which reference ----------------------------------------------

_VERSION = re.compile(r"^\d+(\.\d+)*$")
_OFFICIAL = ("docker.io/library/", "index.docker.io/library/", "library/", "docker.io/")
_NGINX_CHANNELS = frozenset({"stable", "mainline", "latest"})


def _official(reference: str) -> tuple[str, str] | None:
    if "@" in reference:
        return None  # a digest names one exact image: nothing else stands in for it
    repository, tag = split_reference(reference)
    for prefix in _OFFICIAL:
        if repository.startswith(prefix):
            repository = repository[len(prefix):]
            break
    return repository, tag


def stands_in_for(kind: str, standin_tag: str, reference: str) -> bool:
    """Whether the stand-in of `kind` tagged `standin_tag` may replace `reference`.

    Python tags read "3.11-bookworm-<recipe>", nginx tags "bookworm-<recipe>".
    """
    official = _official(reference)
    if official is None:
        return False
    repository, tag = official
    parts = standin_tag.split("-")
    if kind == "python":
        if repository != "python" or len(parts) < 2:
            return False
        python, suite = parts[0], parts[1]
        words = tag.split("-")
        if words[0] == "latest":
            words = words[1:]
        elif _VERSION.match(words[0]):
            version, words = words[0], words[1:]
            if not (python == version or python.startswith(version + ".")):
                return False
        return set(words) <= {"slim", suite}
    if kind == "nginx":
        if repository != "nginx" or not parts:
            return False
        suite = parts[0]
        words = tag.split("-")
        return words[0] in _NGINX_CHANNELS | {suite} and set(words[1:]) <= {suite}
    return False


def find_standin(engine: Any, kind: str, reference: str) -> str | None:
    """The stand-in parity built for `reference`: the current recipe's, else the newest."""
    candidates: list[tuple[str, str]] = []
    # The summaries, not images.list(): that gets each image again, and one another process
    # removes meanwhile would fail the lookup.
    for image in engine.api.images(filters={"label": f"{LABEL_KIND}={kind}"}):
        for name in image.get("RepoTags") or ():
            repository, tag = split_reference(name)
            if repository == f"parity-base/{kind}" and stands_in_for(kind, tag, reference):
                candidates.append((f"{image.get('Created', 0):020}", name))
    if not candidates:
        return None
    current = {recipe.reference for recipe in recipes()}
    preferred = [name for _, name in candidates if name in current]
    return preferred[0] if preferred else max(candidates)[1]


def describe(config: ParityConfig) -> str:
    """"python:3.11-slim + nginx:stable" for a report header, naming the stand-in that will
    be used for each (without trying a pull: start-up does); never fails."""
    try:
        _, choices = resolve_leniently(config, client(), pulling=False)
    except Exception:  # the engine is away: start-up will say so
        choices = []
    used = {choice.role.key: choice for choice in choices}
    shown = []
    for role in ROLES:
        wanted, choice = getattr(config, role.key), used.get(role.key)
        shown.append(f"{wanted} (stand-in {choice.used})" if choice and choice.how == "stand-in"
                     else wanted)
    return " + ".join(shown)
