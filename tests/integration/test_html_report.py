"""The HTML report as a person sees it: rendered by headless Chromium, offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from parity.comparison.compare import compare
from parity.comparison.recording import Exchange, Recording
from parity.reports.html import write_html
from parity.reports.summary import Summary

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def recording(environment: str, greeting: str, status: int = 200) -> Recording:
    body = json.dumps({"greeting": greeting, "count": 3})
    exchange = Exchange("GET", "/greeting/", status=status, headers=[("Content-Type", "application/json")],
                        body=body, content_type="application/json", body_size=len(body))
    return Recording("tests/test_app.py::test_greeting", environment, [exchange])


def matching(name: str) -> tuple[Recording, Recording]:
    local, stack = recording("local", "hello"), recording("stack", "hello")
    local.test_id = stack.test_id = f"tests/test_app.py::{name}"
    return local, stack


def render(tmp_path: Path, url_suffix: str = "") -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: run scripts/setup-env as root (it installs it)")
    report = tmp_path / "report.html"
    verdicts = [compare(recording("local", "hello"), recording("stack", "<moin>")),
                compare(*matching("test_status"))]
    write_html(Summary(verdicts=verdicts, declared_differences={"local": {}, "stack": {"GREETING": "moin"}}),
               report)
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         report.as_uri() + url_suffix],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return done.stdout


def test_report_renders_side_by_side_diff(tmp_path: Path) -> None:
    dom = render(tmp_path)
    article = re.search(r'<article[^>]*data-verdict="diverge".*?</article>', dom, re.S)
    assert article is not None, "the diverging test is shown"
    block = article.group(0)
    assert 'class="side-by-side"' in block
    local_cells = re.findall(r'<td class="local[^"]*">(.*?)</td>', block, re.S)
    stack_cells = re.findall(r'<td class="stack[^"]*">(.*?)</td>', block, re.S)
    assert any("hello" in cell for cell in local_cells)
    assert any("&lt;moin&gt;" in cell for cell in stack_cells), "values are escaped, not injected"
    assert "$.greeting" in block
    assert "<moin>" not in dom


def test_filter_from_url_hides_other_verdicts(tmp_path: Path) -> None:
    dom = render(tmp_path, "#diverge")
    match = re.search(r'<article[^>]*data-verdict="match"[^>]*>', dom)
    diverge = re.search(r'<article[^>]*data-verdict="diverge"[^>]*>', dom)
    assert match is not None and diverge is not None
    assert "hidden" in match.group(0), "the filter hid the matching test"
    assert "hidden" not in diverge.group(0)
