"""The bounded caches: one builder per digest, images pruned per app, wheelhouses pruned."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from parity.support import cache


def test_build_lock_makes_the_second_builder_wait_and_says_so(tmp_path: Path) -> None:
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with cache.build_lock(tmp_path, "digest-a") as waited:
            order.append(f"first waited={waited}")
            first_in.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with cache.build_lock(tmp_path, "digest-a", poll=0.01) as waited:
        order.append(f"second waited={waited}")
    thread.join()
    assert order == ["first waited=False", "first done", "second waited=True"]
    assert len(list(tmp_path.iterdir())) == 1


def test_build_lock_wait_ends_on_cancellation(tmp_path: Path) -> None:
    with cache.build_lock(tmp_path, "k"):
        holder = threading.Event()
        errors: list[BaseException] = []

        def waiter() -> None:
            try:
                with cache.build_lock(tmp_path, "k", cancelled=holder.is_set, poll=0.01):
                    pass
            except InterruptedError as exc:
                errors.append(exc)

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.05)
        holder.set()
        thread.join(5)
    assert len(errors) == 1 and "cancelled" in str(errors[0])


def test_lock_files_stay_bounded(tmp_path: Path) -> None:
    for number in range(500):
        with cache.build_lock(tmp_path, f"digest-{number}"):
            pass
    assert len(list(tmp_path.iterdir())) <= cache.LOCK_BUCKETS


class FakeAPI:
    def __init__(self, images: list[dict[str, Any]], used: tuple[str, ...], refuse: frozenset[str]) -> None:
        self._images, self.used, self.refuse = images, used, refuse
        self.removed: list[str] = []

    def images(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        assert filters == {"label": "parity.app=shop"}
        return self._images

    def containers(self, all: bool) -> list[dict[str, Any]]:
        return [{"ImageID": image_id} for image_id in self.used]

    def remove_image(self, tag: str, noprune: bool) -> None:
        if tag in self.refuse:
            raise docker.errors.APIError("conflict")
        self.removed.append(tag)


class FakeEngine:
    def __init__(self, images: list[dict[str, Any]], used: tuple[str, ...] = (),
                 refuse: frozenset[str] = frozenset()) -> None:
        self.api = FakeAPI(images, used, refuse)


def image(tag: str, digest: str, created: int) -> dict[str, Any]:
    return {"Id": f"sha256:{tag}", "RepoTags": [tag], "Created": created,
            "Labels": {"parity.app": "shop", "parity.digest": digest}}


def versions(count: int) -> list[dict[str, Any]]:
    found = []
    for n in range(count):
        found += [image(f"app:{n}", f"d{n}", 1000 + n), image(f"frontend:{n}", f"d{n}", 1000 + n)]
    return found


def test_prune_keeps_the_newest_digests_of_an_app() -> None:
    engine = FakeEngine(versions(5))
    removed = cache.prune_images(engine, "shop", keep=3)
    assert sorted(removed) == sorted(engine.api.removed) == ["app:0", "app:1", "frontend:0", "frontend:1"]


def test_prune_leaves_images_in_use_and_survives_refusals() -> None:
    engine = FakeEngine(versions(5), used=("sha256:app:0",), refuse=frozenset({"frontend:1"}))
    removed = cache.prune_images(engine, "shop", keep=3)
    assert sorted(removed) == ["app:1", "frontend:0"]


def test_prune_with_few_versions_removes_nothing() -> None:
    assert cache.prune_images(FakeEngine(versions(3)), "shop", keep=3) == []


def make_wheelhouse(root: Path, name: str, used: float) -> Path:
    path = root / name
    path.mkdir()
    (path / "x.whl").write_text("wheel")
    (path / ".complete").touch()
    os.utime(path / ".complete", (used, used))
    return path


def test_wheelhouses_beyond_the_most_recently_used_are_removed(tmp_path: Path) -> None:
    now = time.time()
    for n in range(7):
        make_wheelhouse(tmp_path, f"w{n}", now - 1000 + n)
    cache.touch(tmp_path / "w0")  # used just now: stays
    removed = cache.prune_wheelhouses(tmp_path, keep=5)
    assert sorted(p.name for p in removed) == ["w1", "w2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w0", "w3", "w4", "w5", "w6"]


def test_half_built_wheelhouses_go_only_when_stale(tmp_path: Path) -> None:
    fresh, stale = tmp_path / ".building-fresh", tmp_path / ".building-stale"
    fresh.mkdir()
    stale.mkdir()
    old = time.time() - cache.STALE_BUILDING - 10
    os.utime(stale, (old, old))
    cache.prune_wheelhouses(tmp_path)
    assert fresh.is_dir() and not stale.exists()


@pytest.mark.parametrize("missing", [True, False])
def test_pruning_a_missing_or_empty_cache_is_a_no_op(tmp_path: Path, missing: bool) -> None:
    target = tmp_path / "wheels"
    if not missing:
        target.mkdir()
    assert cache.prune_wheelhouses(target) == []


def test_prune_never_fails_a_run() -> None:
    class Gone:
        def images(self, filters: dict[str, str]) -> list[dict[str, Any]]:
            raise docker.errors.NotFound("another run removed it meanwhile")

    engine = FakeEngine([])
    engine.api = Gone()  # type: ignore[assignment]
    assert cache.prune_images(engine, "shop") == []
