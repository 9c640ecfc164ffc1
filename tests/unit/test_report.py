"""The terminal summary, the JSON report, the HTML report, and redaction."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from parity.comparison.compare import BUILTIN_NOISE, Difference, Verdict
from parity.reports.diffview import side_by_side_rows
from parity.reports.html import write_html
from parity.reports.summary import (
    REDACTED,
    SCHEMA_VERSION,
    Redactor,
    Summary,
    read_json,
    redact,
    write_json,
)
from parity.reports.terminal import terminal_lines

PASSWORD = "s3cr3t/pass+word"


def _summary() -> Summary:
    server_rule = BUILTIN_NOISE.header("server")
    assert server_rule is not None
    return Summary(
        verdicts=[
            Verdict("t.py::test_ok", "match", ignored=[(server_rule, 2)]),
            Verdict("t.py::test_api", "diverge", differences=[
                Difference(0, "GET /api/", "header:Content-Type", "application/json",
                           "text/html; charset=utf-8"),
                Difference(1, "GET /page", "body", "line 2: <b>old</b>", "line 2: <b>new</b>",
                           "--- local\n+++ stack\n@@ -1,3 +1,3 @@\n"
                           " a\n-<b>old</b>\n+<b>new</b>\n c"),
            ]),
            Verdict("t.py::test_login", "outcome", local_outcome="passed", stack_outcome="failed",
                    failures={"local": None, "stack": f"password {PASSWORD} refused"},
                    differences=[Difference(None, "", "outcome", "passed",
                                            f"failed: password {PASSWORD} refused")]),
            Verdict("t.py::test_skip", "skipped", note="parity_skip: flaky"),
            Verdict("t.py::test_xss", "diverge", differences=[
                Difference(0, "GET /<script>", "body:$.name", '"<script>alert(1)</script>"',
                           '"x"')]),
        ],
        facts=[
            {"name": "python", "local": "3.11.4", "stack": "3.12.1", "severity": "fail",
             "expected": False, "detail": "", "layer": "app image"},
            {"name": "timezone", "local": "UTC", "stack": "Europe/Vienna", "severity": "warn",
             "expected": True, "detail": "declared", "layer": "app image"},
            {"name": "user", "local": "dev", "stack": "app", "severity": "info",
             "expected": False, "detail": ""},
        ],
        declared_differences={"local": {"DJANGO_SETTINGS_MODULE": "app.settings.dev"},
                              "stack": {"DJANGO_SETTINGS_MODULE": "app.settings.prod",
                                        "DATABASE_PASSWORD": PASSWORD}},
        meta={"run_id": "0101abc", "duration": 12.5, "database": "throwaway Postgres"},
    )


def test_terminal_counts_first_then_divergences_then_facts() -> None:
    lines = terminal_lines(_summary(), width=100, secrets=[PASSWORD])
    assert lines[0] == "parity: 1 match, 2 diverge, 1 outcome, 1 skipped"
    assert lines[1] == "facts: 1 fail, 1 warn, 1 info"
    assert lines[2:5] == [
        "declared differences (the first suspects):",
        f"  DATABASE_PASSWORD: local (not set) │ stack {REDACTED}",
        "  DJANGO_SETTINGS_MODULE: local app.settings.dev │ stack app.settings.prod"]
    assert all(len(line) <= 100 for line in lines)
    text = "\n".join(lines)
    assert "DIVERGE t.py::test_api" in text and "OUTCOME t.py::test_login" in text
    assert "test_ok" not in text and "test_skip" not in text
    (row,) = [line for line in lines if "application/json" in line]
    assert row.index("application/json") < row.index("│") < row.index("text/html")
    assert any("<b>old</b>" in line and "<b>new</b>" in line for line in lines)
    assert "FAIL python (layer: app image): local 3.11.4 │ stack 3.12.1" in text
    assert "WARN timezone: local UTC │ stack Europe/Vienna (expected)" in text
    assert "INFO" not in text
    assert PASSWORD not in text and REDACTED in text


def test_terminal_for_a_clean_run_is_one_line() -> None:
    summary = Summary(verdicts=[Verdict("t", "match")])
    assert terminal_lines(summary) == ["parity: 1 match, 0 diverge, 0 outcome, 0 skipped"]
    assert not summary.failed


def test_json_report_schema(tmp_path: Path) -> None:
    path = tmp_path / "out" / "parity-report.json"
    write_json(_summary(), path, secrets=[PASSWORD])
    raw = path.read_text(encoding="utf-8")
    assert PASSWORD not in raw and "s3cr3t%2Fpass%2Bword" not in raw
    data = json.loads(raw)
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert set(data) == {"schema_version", "tool", "version", "ok", "counts", "meta",
                         "declared_differences", "notes", "verdicts", "facts"}
    assert data["ok"] is False
    assert data["counts"] == {"match": 1, "diverge": 2, "outcome": 1, "skipped": 1}
    verdict = data["verdicts"][1]
    assert set(verdict) == {"test_id", "kind", "local_outcome", "stack_outcome", "failures",
                            "note", "differences", "ignored", "layer", "evidence", "policy"}
    assert set(verdict["differences"][0]) == {"exchange", "request", "field", "local", "stack",
                                              "diff"}
    assert set(data["verdicts"][0]["ignored"][0]) == {"kind", "target", "reason", "source",
                                                      "paths", "count"}
    assert data["declared_differences"]["stack"]["DATABASE_PASSWORD"] == REDACTED
    assert read_json(path).counts() == _summary().counts()


def test_json_report_rejects_unknown_schema(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"schema_version": 99}')
    with pytest.raises(ValueError, match="schema_version 99"):
        read_json(path)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "input", "link"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1:]}>"
        self.open.pop()


def test_html_report_structure_escaping_and_redaction(tmp_path: Path) -> None:
    path = tmp_path / "parity-report.html"
    write_html(_summary(), path, secrets=[PASSWORD])
    page = path.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(page)
    assert parser.open == []
    tags = parser.tags
    classes = [attrs.get("class") or "" for _, attrs in tags]
    verdicts = [attrs for tag, attrs in tags if tag == "article"]
    assert [v["data-verdict"] for v in verdicts] == ["outcome", "diverge", "diverge", "match",
                                                     "skipped"]
    assert {v["class"] for v in verdicts} >= {"verdict diverge", "verdict match"}
    filters = [attrs["data-filter"] for tag, attrs in tags
               if tag == "button" and "filter" in (attrs.get("class") or "")]
    assert filters == ["all", "match", "diverge", "outcome", "skipped"]
    assert "side-by-side" in classes
    assert "changed" in classes and "ignored" in classes
    ids = [attrs["id"] for _, attrs in tags if attrs.get("id")]
    assert len(ids) == len(set(ids))
    assert page.index('id="declared-differences"') < page.index('id="verdicts"')
    assert page.index('id="verdicts"') < page.index('id="facts"')
    assert '<td class="layer">app image</td>' in page.split('id="facts"')[1]
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Within a changed line, what differs is marked: both sides keep their own text.
    assert "&lt;b&gt;<mark>old</mark>&lt;/b&gt;" in page and "&lt;b&gt;<mark>new</mark>&lt;/b&gt;" in page
    assert "runserver, gunicorn and nginx name themselves differently" in page
    assert PASSWORD not in page and REDACTED in page
    assert not any(tag in ("link", "img", "iframe") or attrs.get("src") for tag, attrs in tags)


def test_side_by_side_rows_pair_changes() -> None:
    diff = "--- local\n+++ stack\n@@ -1,4 +1,4 @@\n a\n-b\n-c\n+B\n d\n@@ -10,2 +10,3 @@\n x\n+y"
    rows = side_by_side_rows(diff)
    assert [(r.tag, r.local_no, r.local, r.stack_no, r.stack) for r in rows] == [
        ("same", 1, "a", 1, "a"),
        ("changed", 2, "b", 2, "B"),
        ("removed", 3, "c", None, None),
        ("same", 4, "d", 3, "d"),
        ("gap", None, "…", None, "…"),
        ("same", 10, "x", 10, "x"),
        ("added", None, None, 11, "y"),
    ]


def test_redact() -> None:
    assert redact(f"postgres://u:{PASSWORD}@h/db", [PASSWORD]) == f"postgres://u:{REDACTED}@h/db"
    assert redact("postgres://u:s3cr3t%2Fpass%2Bword@h", [PASSWORD]) == f"postgres://u:{REDACTED}@h"
    assert redact("a 1 b", ["1", ""]) == "a 1 b"  # too short to tell apart from text


def test_redactor_takes_secrets_literally_and_whole() -> None:
    # Regex metacharacters are text; a secret containing another is replaced whole.
    scrub = Redactor(["a.b*c", "token-1234", "token-1234-extended"])
    assert scrub("x a.b*c y axbbc") == f"x {REDACTED} y axbbc"
    assert scrub("token-1234-extended and token-1234") == f"{REDACTED} and {REDACTED}"
    assert scrub.data({"token-1234": ["a.b*c", 3, None]}) == {REDACTED: [REDACTED, 3, None]}
    assert Redactor([])("nothing to hide") == "nothing to hide"


def test_failed_counts_unexpected_failing_facts_only() -> None:
    fact = {"name": "python", "local": "3.11", "stack": "3.12", "severity": "fail",
            "expected": True, "detail": ""}
    assert not Summary(facts=[fact]).failed
    assert Summary(facts=[{**fact, "expected": False}]).failed


def test_an_empty_run_still_writes_both_reports(tmp_path: Path) -> None:
    write_json(Summary(), tmp_path / "r.json")
    write_html(Summary(), tmp_path / "r.html")
    assert json.loads((tmp_path / "r.json").read_text())["ok"] is True
    parser = _Collector()
    parser.feed((tmp_path / "r.html").read_text())
    assert parser.open == []


# --- readable differences -----------------------------------------------------------------

LONG_LOCAL = ('<link rel="stylesheet" href="/static/wagtailadmin/css/core.css?v=81dc5f8d" '
              'type="text/css" media="screen">')
LONG_STACK = ('<link rel="stylesheet" href="/static/wagtailadmin/css/core.21b470d754c3.css" '
              'type="text/css" media="screen">')


@pytest.mark.parametrize("diff", [None, f"--- local\n+++ stack\n@@ -1 +1 @@\n-{LONG_LOCAL}\n+{LONG_STACK}"],
                         ids=["value", "body line"])
def test_a_long_changed_line_shows_its_changed_part_on_each_side(diff: str | None) -> None:
    verdict = Verdict("t.py::test_page", "diverge", differences=[
        Difference(0, "GET /", "body" if diff else "header:Link", LONG_LOCAL, LONG_STACK, diff)])
    lines = terminal_lines(Summary(verdicts=[verdict]), width=80)
    (row,) = [line for line in lines if "│" in line and "core" in line]
    left, right = row.split("│")
    assert "core.css?v=81dc5f8d" in left and "core.21b470d754c3" in right, row
    assert left.strip().lstrip("~ ").startswith("…") and len(row) <= 80


def test_notes_on_the_frontends_policy_are_shown_apart_from_divergences(tmp_path: Path) -> None:
    notes = [Difference(0, "GET /static/site.css", "header:Cache-Control", "(absent)",
                        "max-age=2592000"),
             Difference(0, "GET /static/site.css", "header:Expires", "(absent)", "Date + 30 days")]
    summary = Summary(verdicts=[
        Verdict("t.py::test_css", "match", policy=notes[:1]),
        Verdict("t.py::test_page", "match", policy=notes)])
    lines = terminal_lines(summary, width=120)
    assert lines[0] == "parity: 2 match, 0 diverge, 0 outcome, 0 skipped"
    assert lines[1].startswith("the frontend's policy for static and media files (notes")
    assert lines[2] == ("  Cache-Control: local (absent) │ stack max-age=2592000  "
                        "(2 responses, e.g. GET /static/site.css)")
    assert lines[3] == "  Expires: local (absent) │ stack Date + 30 days  (GET /static/site.css)"
    assert not summary.failed
    write_json(summary, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ok"] is True and data["verdicts"][1]["policy"][1]["stack"] == "Date + 30 days"
    assert read_json(tmp_path / "r.json").verdicts[1].policy == notes
    write_html(summary, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    policy = page.split('<div class="policy">')[2].split("</div>\n</article>")[0]
    assert "max-age=2592000" in policy and "Date + 30 days" in policy


def test_html_metadata_is_tables_not_python_reprs(tmp_path: Path) -> None:
    summary = Summary(meta={
        "run_id": "0101abc",
        "phases": {"postgres": 1.02, "images": 0.03, "stack up": 0.8},
        "images": {"app": "parity/labbook-app:1a2b", "frontend": "parity/labbook-frontend:3c4d",
                   "built": []},
        "base images": {"python": "parity-base/python:3.11-bookworm (stands in for python:3.11-slim)"},
    })
    write_html(summary, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    meta = page.split('<table id="meta">')[1].split("</header>")[0]
    assert "{" not in meta and "[" not in meta and "&#x27;" not in meta
    assert '<th scope="row">stack up</th><td>0.8</td>' in meta
    assert '<th scope="row">frontend</th><td>parity/labbook-frontend:3c4d</td>' in meta
    assert meta.count('<table class="meta">') == 3
    parser = _Collector()
    parser.feed(page)
    assert parser.open == []
