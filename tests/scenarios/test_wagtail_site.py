"""The wagtail-site scenario as a new user meets it: a fresh virtualenv with Wagtail 7.0 LTS
from the package index, `wagtail start` (Wagtail's own project template), parity's small
overlay (scenarios/wagtail-site), then `pytest --parity` in the generated git checkout.

Nothing generated is committed: the site is made here, every run. It must be at parity with
no per-test ignore, and the run must leave its checkout exactly as it was.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "wagtail-site"
RUN_TIMEOUT = 1200
_OUTER = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST",
          "PYTEST_ADDOPTS", "PARITY_DATABASE_URL", "VIRTUAL_ENV")


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("wagtail_site_generate", SCENARIO / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           *args], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the site's virtualenv Python, the generated checkout)."""
    root = tmp_path_factory.mktemp("wagtail-site")
    root.chmod(0o755)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    generate = _generator()
    _pip(python, generate.WAGTAIL)
    checkout = root / "mysite"
    generate.generate(checkout, str(venv / "bin" / "wagtail"))
    _pip(python, "-r", str(checkout / "requirements.txt"), "pytest", "-e", str(ROOT))
    yield python, checkout


def _state(checkout: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
                          cwd=checkout, capture_output=True, text=True, check=True).stdout


def test_the_wagtail_site_is_at_parity_and_its_checkout_untouched(site: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    python, checkout = site
    assert _state(checkout) == ""
    env = {k: v for k, v in os.environ.items() if k not in _OUTER and not k.startswith("PARITY_")}
    env.update(PYTHONDONTWRITEBYTECODE="1", COLUMNS="160",
               PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}")
    if os.environ.get("PARITY_CACHE_DIR"):
        env["PARITY_CACHE_DIR"] = os.environ["PARITY_CACHE_DIR"]
    report = tmp_path / "report.json"
    done = subprocess.run(
        [str(python), "-m", "pytest", "--parity", "-p", "no:cacheprovider", "-v",
         f"--parity-report={report}", f"--parity-html={tmp_path / 'report.html'}"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    output = done.stdout + done.stderr
    tail = "\n--- pytest --parity (tail) ---\n" + "\n".join(output.splitlines()[-80:])
    assert done.returncode == 0, tail
    found = json.loads(report.read_text())
    counts = found["counts"]
    assert counts["diverge"] == counts["outcome"] == 0 and counts["match"] >= 14, (counts, tail)
    assert [f["name"] for f in found["facts"] if f.get("failed")] == [], tail
    # Both release commands ran on each side, each named as the user wrote it.
    for side in ("local", "stack"):
        assert f"{side}: release step 2 of 2 (python manage.py load_site_data)" in output, tail
    # The uploads went to per-run storage and were served at MEDIA_URL in both environments.
    kinds = {v["test_id"].rsplit("::", 1)[1]: v["kind"] for v in found["verdicts"]}
    for test in ("test_the_loaded_photo_is_served_at_media_url",
                 "test_an_uploaded_document_is_served_at_media_url", "test_article_shows_its_photo"):
        assert kinds[test] == "match", (kinds, tail)
    # Where the image's Python made pip choose another release, the packages fact says why.
    packages = next(f for f in found["facts"] if f["name"] == "packages")
    for line in packages["detail"]:
        if line.startswith("package soupsieve: local"):
            assert "requires Python" in line and "the image runs" in line, line
    # Nothing written into the checkout: no db.sqlite3, no media, no report.
    assert _state(checkout) == "", _state(checkout)
