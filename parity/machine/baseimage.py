"""Local stand-ins for `python:3.11-slim` and `nginx:stable`, for machines without a registry.

Each image is a Debian `debootstrap --variant=minbase` root file system from the archive apt
is configured with, a few declarative post-steps, then `docker import` with Dockerfile-style
changes. Tags are content-addressed by a recipe hash (suite, archive, packages, post-steps,
recipe version), so an unchanged recipe is never rebuilt and a changed one gets a new tag.
Every image is smoke-tested before it is tagged: a tag that exists is an image that worked.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parity.machine import engine as engine_mod
from parity.machine import rootfs
from parity.machine.rootfs import Progress, Step
from parity.support import proc
from parity.support.errors import MissingDependencyError, ParityError

RECIPE_VERSION = 1
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
LABEL_KIND = "parity.base-image"
LABEL_RECIPE = "parity.recipe"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEBOOTSTRAP_TIMEOUT = 1200.0
_PYTHON_BY_SUITE = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}


def print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BaseImages:
    python: str
    frontend: str


@dataclass(frozen=True)
class Recipe:
    kind: str
    repository: str
    tag_prefix: str
    suite: str
    mirror: str
    packages: tuple[str, ...]
    steps: tuple[Step, ...]
    changes: tuple[str, ...]
    smoke: tuple[str, ...]

    @property
    def digest(self) -> str:
        recipe = {
            "version": RECIPE_VERSION, "kind": self.kind, "suite": self.suite,
            "mirror": self.mirror.rstrip("/"), "packages": sorted(self.packages),
            "steps": self.steps, "changes": self.changes, "smoke": self.smoke,
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag_prefix}{self.suite}-{self.digest[:10]}"

    def import_changes(self) -> list[str]:
        labels = f"LABEL {LABEL_KIND}={self.kind} {LABEL_RECIPE}={self.digest}"
        return [*self.changes, labels]


_APT_CLEAN: tuple[Step, ...] = (
    ("rm", "/var/cache/apt/archives/*.deb"),
    ("rm", "/var/lib/apt/lists/*"),
)

_NGINX_DEFAULT_SITE = """\
server {
    listen       80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""
_NGINX_INDEX = "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n" \
    "<body><h1>Welcome to nginx!</h1></body></html>\n"
_NGINX_50X = "<!DOCTYPE html>\n<html><head><title>Error</title></head>\n" \
    "<body><h1>An error occurred.</h1></body></html>\n"


def python_recipe(suite: str = DEFAULT_SUITE, mirror: str = DEFAULT_MIRROR) -> Recipe:
    """Like python:3.11-slim: python/python3, pip outside a venv, venv, useradd, tzdata, and
    the shared libpython (the official image's Python is built with it: an extension such as
    uwsgi links it)."""
    version = _PYTHON_BY_SUITE.get(suite)
    return Recipe(
        kind="python", repository="parity-base/python",
        tag_prefix=f"{version}-" if version else "", suite=suite, mirror=mirror,
        packages=("python3", "python3-venv", "python3-pip", "python-is-python3",
                  "ca-certificates", "netbase", "tzdata", *([f"libpython{version}"] if version else [])),
        # The official image lets `pip install` write to the system interpreter: no PEP 668 marker.
        steps=(("rm", "/usr/lib/python3*/EXTERNALLY-MANAGED"), *_APT_CLEAN, *host_trust()),
        changes=("ENV LANG=C.UTF-8", f"ENV PATH={PATH}", 'CMD ["python3"]'),
        smoke=("sh", "-ec", "python --version; python3 -m venv /tmp/v; /tmp/v/bin/pip --version;"
               " pip --version; command -v useradd"),
    )


def nginx_recipe(suite: str = DEFAULT_SUITE, mirror: str = DEFAULT_MIRROR) -> Recipe:
    """Like nginx:stable: conf.d/*.conf, no Debian default site, logs to stdout/stderr."""
    return Recipe(
        kind="nginx", repository="parity-base/nginx", tag_prefix="", suite=suite, mirror=mirror,
        packages=("nginx-light", "ca-certificates"),
        steps=(
            ("rm", "/etc/nginx/sites-enabled/default"),
            ("rm", "/var/log/nginx/*.log"),
            ("symlink", "/var/log/nginx/access.log", "/dev/stdout"),
            ("symlink", "/var/log/nginx/error.log", "/dev/stderr"),
            ("mkdir", "/etc/nginx/conf.d"),
            ("write", "/etc/nginx/conf.d/default.conf", _NGINX_DEFAULT_SITE),
            ("mkdir", "/usr/share/nginx/html"),
            ("write", "/usr/share/nginx/html/index.html", _NGINX_INDEX),
            ("write", "/usr/share/nginx/html/50x.html", _NGINX_50X),
            *_APT_CLEAN,
            *host_trust(),
        ),
        changes=(f"ENV PATH={PATH}", "EXPOSE 80", 'CMD ["nginx", "-g", "daemon off;"]'),
        smoke=("sh", "-ec", "nginx -t; nginx -T 2>/dev/null | grep -q conf.d/default.conf;"
               ' test -z "$(ls -A /etc/nginx/sites-enabled)"'),
    )


HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")


def host_trust(bundle: Path = HOST_BUNDLE, extra: Path = HOST_EXTRA_CAS) -> tuple[Step, ...]:
    """The certificate authorities the host trusts, into the image: its CA bundle, and the
    local CAs it added (a corporate proxy's), where `update-ca-certificates` in a Dockerfile
    finds them again. A base image from a registry behind such a proxy carries them too.
    Part of the recipe: when the host's trust changes, the stand-ins are rebuilt."""
    steps: list[Step] = []
    if bundle.is_file():
        steps.append(("write", "/etc/ssl/certs/ca-certificates.crt", bundle.read_text(errors="replace")))
    local = sorted(p for p in extra.rglob("*.crt") if p.is_file()) if extra.is_dir() else []
    if local:
        steps.append(("mkdir", "/usr/local/share/ca-certificates/parity-host"))
    for path in local:
        steps.append(("write", f"/usr/local/share/ca-certificates/parity-host/{path.name}",
                      path.read_text(errors="replace")))
    return tuple(steps)


def archive_uri(etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian archive apt uses: deb822 debian.sources first, then sources.list."""
    deb822 = etc_apt / "sources.list.d" / "debian.sources"
    with contextlib.suppress(OSError):
        for stanza in deb822.read_text(encoding="utf-8").split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith((" ", "#")):
                    fields[key.strip().lower()] = value.strip()
            uris, suites = fields.get("uris", "").split(), fields.get("suites", "").split()
            is_deb = "deb" in fields.get("types", "deb").split()
            if uris and is_deb and not _security(uris[0], suites):
                return uris[0]
    with contextlib.suppress(OSError):
        for line in (etc_apt / "sources.list").read_text(encoding="utf-8").splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] != ["deb"]:
                continue
            words = words[1:]
            if words and words[0].startswith("["):
                while words and not words[0].endswith("]"):
                    words.pop(0)
                words = words[1:]
            if len(words) >= 2 and not _security(words[0], words[1:2]):
                return words[0]
    return DEFAULT_MIRROR


def _security(uri: str, suites: list[str]) -> bool:
    return "security" in uri or any(s.endswith("-security") for s in suites)


def recipes(suite: str = DEFAULT_SUITE, mirror: str | None = None) -> tuple[Recipe, Recipe]:
    mirror = mirror or archive_uri()
    return python_recipe(suite, mirror), nginx_recipe(suite, mirror)


def find_base_images(
    engine: Any, *, suite: str = DEFAULT_SUITE, mirror: str | None = None
) -> BaseImages | None:
    """The current recipe's images, when both are present in the engine."""
    python, nginx = recipes(suite, mirror)
    if engine_mod.image_present(engine, python.reference) and engine_mod.image_present(
        engine, nginx.reference
    ):
        return BaseImages(python.reference, nginx.reference)
    return None


def standin_lines(images: BaseImages) -> list[str]:
    """What `parity base-image` prints: the stand-ins, which parity finds by itself."""
    width = max(len(images.python), len(images.frontend))
    return [
        f"{images.python:<{width}}  stands in for python:{images.python.split(':')[1].split('-')[0]}"
        "(-slim) where it is neither present nor pullable",
        f"{images.frontend:<{width}}  stands in for nginx:stable where it is neither present "
        "nor pullable",
    ]


def build_base_images(
    *, force: bool = False, mirror: str | None = None, suite: str = DEFAULT_SUITE,
    progress: Progress = print_to_stderr,
) -> BaseImages:
    """Build (or reuse) both base images; returns their references."""
    wanted = recipes(suite, mirror)
    engine = engine_mod.client()
    images = BaseImages(wanted[0].reference, wanted[1].reference)
    if not force and find_base_images(engine, suite=suite, mirror=wanted[0].mirror):
        progress(f"base-image: {images.python} and {images.frontend} present (recipe unchanged)")
        return images
    _require_debootstrap()
    with rootfs.build_lock(progress):
        todo = [r for r in wanted if force or not engine_mod.image_present(engine, r.reference)]
        if not todo:  # another process built them while we waited for the lock
            return images
        rootfs.sweep_stale(progress)
        with rootfs.sigterm_raises_interrupt():
            _build_parallel(engine, todo, progress)
    return images


def debootstrap_path() -> str | None:
    """debootstrap lives in /usr/sbin, which a non-root PATH often lacks."""
    found = shutil.which("debootstrap")
    return found or ("/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").is_file() else None)


def _require_debootstrap() -> None:
    if debootstrap_path() is None:
        raise MissingDependencyError(
            "debootstrap not found: parity base-image builds its images with it; install it "
            "with `apt-get install debootstrap` (scripts/provision does)"
        )
    if os.geteuid() != 0:
        raise ParityError(
            "parity base-image must run as root: debootstrap needs root to create device "
            "nodes and chroot; rerun it as root (e.g. `sudo parity base-image`)"
        )


def _build_parallel(engine: Any, todo: list[Recipe], progress: Progress) -> None:
    """One debootstrap per recipe, in parallel; the first failure or Ctrl-C cancels the rest."""
    cancel = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(len(todo), thread_name_prefix="base-image")
    futures = [pool.submit(_build_one, engine, r, progress, cancel) for r in todo]
    try:
        done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
        for future in done:
            future.result()
    except BaseException:
        cancel.set()
        while not all(f.done() for f in futures):  # kill until every worker has unwound
            rootfs.kill_builds()
            concurrent.futures.wait(futures, timeout=0.2)
        raise
    finally:
        pool.shutdown(wait=True)


def _build_one(engine: Any, recipe: Recipe, progress: Progress, cancel: threading.Event) -> None:
    started = time.monotonic()
    workdir = rootfs.make_workdir(recipe.kind)
    try:
        root, tarball = workdir / "rootfs", workdir / "rootfs.tar"
        progress(f"base-image: debootstrap {recipe.kind} ({recipe.suite} from {recipe.mirror}) …")
        debootstrap = debootstrap_path() or "debootstrap"
        _checkpoint(cancel)
        proc.run(
            [debootstrap, "--variant=minbase", "--components=main",
             "--include=" + ",".join(recipe.packages), recipe.suite, str(root), recipe.mirror],
            timeout=DEBOOTSTRAP_TIMEOUT, what=f"debootstrap {recipe.kind}",
        )
        bootstrapped = time.monotonic()
        _checkpoint(cancel)
        rootfs.unmount_below(root)
        for step in recipe.steps:
            rootfs.apply_step(root, step)
        proc.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball),
                  "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "."],
                 timeout=600, what=f"tar {recipe.kind} root file system")
        _checkpoint(cancel)
        image_id = _import(engine, recipe, tarball)
        try:
            _smoke(engine, recipe, image_id)
            _retag(engine, image_id, recipe.reference)
        except BaseException:
            with contextlib.suppress(Exception):
                engine.images.remove(image_id, force=True)
            raise
        now = time.monotonic()
        progress(f"base-image: imported {recipe.reference} in {now - started:.1f}s "
                 f"(debootstrap {bootstrapped - started:.1f}s, pack+import+check "
                 f"{now - bootstrapped:.1f}s)")
    finally:
        rootfs.remove_workdir(workdir, progress)


def _checkpoint(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise KeyboardInterrupt


def _import(engine: Any, recipe: Recipe, tarball: Path) -> str:
    answer = engine.api.import_image(src=str(tarball), changes=recipe.import_changes())
    for line in reversed(str(answer).strip().splitlines()):
        status = json.loads(line).get("status", "")
        if str(status).startswith("sha256:"):
            return str(status)
    raise ParityError(f"docker import of {recipe.kind} gave no image id: {str(answer)[:200]}")


def _retag(engine: Any, image_id: str, reference: str) -> None:
    """Point the tag at the new image; drop the image it replaces (--force) if nothing uses it."""
    previous = engine_mod.image_present(engine, reference) and engine.images.get(reference).id
    repository, tag = reference.rsplit(":", 1)
    engine.api.tag(image_id, repository, tag, force=True)
    if previous and previous != image_id:
        with contextlib.suppress(Exception):  # in use by a container or another tag: keep it
            engine.images.remove(previous)


def _smoke(engine: Any, recipe: Recipe, image_id: str) -> None:
    container = engine.containers.create(image_id, list(recipe.smoke),
                                         labels={"parity.base-image-check": recipe.kind})
    try:
        container.start()
        status = container.wait(timeout=120).get("StatusCode")
        if status != 0:
            tail = container.logs().decode(errors="replace").strip().splitlines()[-5:]
            raise ParityError(f"the new {recipe.kind} base image failed its check "
                              f"({' '.join(recipe.smoke)}), exit {status}: {' | '.join(tail)}")
    finally:
        container.remove(force=True)


def image_availability(engine: Any, reference: str, *, timeout: int = 10) -> str | None:
    """'present' when the engine has the image, 'pullable' when its registry answers for it."""
    if engine_mod.image_present(engine, reference):
        return "present"
    import docker  # local: the probe client has its own short timeout

    try:
        probe = docker.from_env(version="auto", timeout=timeout)
        probe.images.get_registry_data(reference)
    except Exception:  # any failure (DNS, auth, 404, timeout) means not pullable
        return None
    return "pullable"
