"""Soak: 50 consecutive `pytest --parity` runs of one app show no growth of anything parity
keeps or leaves: Docker objects, processes, temp dirs, open files, images per app, wheel cache.

Most runs are warm (nothing to build: the probe below writes outside the app, and parity's
own reports never enter the build context). Every tenth run changes the app's code, so its images
are rebuilt under a new digest (the app keeps only its newest few); every fifth run changes the
requirements, so a new wheelhouse is built (offline, from a local mirror of the first one; the
cache keeps only the most recently used few). The wheel cache is private to this test.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from parity.support import cache
from tests.reliability import harness, leftovers

pytestmark = [pytest.mark.longrun, pytest.mark.integration]

RUNS = 50

FD_PROBE = '''
import json
import os
import threading
from pathlib import Path

_at_start = {}


def pytest_configure(config):
    _at_start["fds"] = len(os.listdir("/proc/self/fd"))


def pytest_unconfigure(config):
    Path(os.environ["RELTEST_OUT"], "fds.json").write_text(json.dumps({
        "start": _at_start["fds"], "end": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count()}))
'''


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _open_files_under(*roots: Path) -> list[str]:
    """Open file descriptors of any process that point into the test's directories."""
    found = []
    needles = tuple(str(root) for root in roots)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith(needles):
                    found.append(f"{entry.name}: {target}")
        except OSError:
            continue
    return found


def test_fifty_runs_leave_nothing_and_keep_caches_bounded(scratch: Path) -> None:
    app = harness.make_app(scratch, "relsoak")
    wheel_cache = scratch / "cache"
    mirror = scratch / "wheel-mirror"
    env = app.env(PARITY_CACHE_DIR=str(wheel_cache), RELTEST_OUT=str(app.gate))
    (app.dir / "conftest.py").write_text(FD_PROBE)
    requirements = (app.dir / "requirements.txt").read_text()
    scope = app.scope(leftovers.image_ids())
    samples: list[dict[str, object]] = []
    try:
        for number in range(RUNS):
            if number and number % 10 == 0:
                with open(app.dir / "tinyapp" / "urls.py", "a") as urls:
                    urls.write(f"\n# revision {number}\n")
            if number and number % 5 == 0:
                (app.dir / "requirements.txt").write_text(
                    f"--no-index\n--find-links {mirror}\n{requirements}# variant {number}\n")
            code, output = harness.run_to_end(app, env=env)
            scope.add_output(output)
            assert code == 0, f"run {number}:\n{output[-3000:]}"
            if number == 0:
                wheelhouse = next((wheel_cache / "wheels").iterdir())
                shutil.copytree(wheelhouse, mirror, ignore=shutil.ignore_patterns(".complete"))
            fds = json.loads((app.gate / "fds.json").read_text())
            tags = [tag for image in leftovers.client().images.list(filters={"label": f"parity.app={app.name}"})
                    for tag in image.tags]
            rebuilt = "images: built" in output
            assert rebuilt == (number % 5 == 0), f"run {number} built={rebuilt}: only changes rebuild"
            samples.append({
                "run": number, "left": leftovers.settle(scope, grace=10),
                "open files": _open_files_under(app.dir.parent),
                "fds gained": fds["end"] - fds["start"], "threads": fds["threads"],
                "tags": len(tags), "wheelhouses": len(list((wheel_cache / "wheels").iterdir())),
                "wheel bytes": _size(wheel_cache / "wheels"), "tmp entries": len(list(app.tmpdir.iterdir())),
            })
        report = "\n".join(json.dumps(sample) for sample in samples)
        print(report)  # the figures, for `pytest -m longrun -rP`
        assert all(sample["left"] == "" for sample in samples), report
        assert all(sample["open files"] == [] for sample in samples), report
        assert all(sample["tmp entries"] == 1 for sample in samples), report  # the state dir
        gained = [int(str(sample["fds gained"])) for sample in samples]
        assert max(gained) <= 8 and max(gained[-10:]) <= max(gained[:10]), report  # no fd leak, no trend
        assert all(int(str(sample["tags"])) <= 2 * cache.KEEP_IMAGES for sample in samples), report
        assert samples[-1]["tags"] == 2 * cache.KEEP_IMAGES, "five revisions built, three kept"
        assert all(int(str(sample["wheelhouses"])) <= cache.KEEP_WHEELHOUSES for sample in samples), report
        per_wheelhouse = int(str(samples[0]["wheel bytes"]))
        assert int(str(samples[-1]["wheel bytes"])) <= cache.KEEP_WHEELHOUSES * per_wheelhouse * 1.1, report
    finally:
        leftovers.remove_all(scope)
        harness.remove_app_images(app.name)
