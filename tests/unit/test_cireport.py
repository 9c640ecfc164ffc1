"""Reports where CI users look: the GitHub job summary and JUnit XML properties (no Docker)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

from parity.comparison.compare import Difference, Verdict
from parity.reports.ci import add_junit_properties, append_step_summary, step_summary
from parity.reports.summary import Summary

GITHUB = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "lab/labbook",
          "GITHUB_RUN_ID": "42"}


def summary() -> Summary:
    return Summary(
        verdicts=[
            Verdict("tests/test_pages.py::test_home", "match"),
            Verdict("tests/test_pages.py::test_css", "outcome", layer="frontend",
                    differences=[Difference(0, "GET /static/x.css", "status", "200", "404")]),
            Verdict("tests/test_api.py::test_list[2]", "diverge", layer="app image",
                    differences=[Difference(0, "GET /api/", "body:$.count", "3", "4")]),
        ],
        facts=[{"name": "user", "severity": "fail", "local": "ada (uid 1000)", "stack": "root (uid 0)",
                "layer": "app image", "expected": False}])


def test_the_job_summary_names_each_divergence_with_its_layer_and_links_the_report() -> None:
    text = step_summary(summary(), Path("parity-report.html"), GITHUB, secrets=["s3cr3t"])
    assert text.startswith("### parity failed: 1 match, 1 diverge, 1 outcome, 0 skipped\n")
    assert "| `tests/test_pages.py::test_css` | outcome | frontend | status: 200 → 404 |" in text
    assert "| `tests/test_api.py::test_list[2]` | diverge | app image | body:$.count: 3 → 4 |" in text
    assert "test_home" not in text
    assert "- **user** (layer: app image): local ada (uid 1000) │ stack root (uid 0)" in text
    assert text.rstrip().endswith("Side-by-side differences: `parity-report.html` in the "
                                  "[run's artifacts](https://github.com/lab/labbook/actions/runs/42).")


def test_a_passing_run_says_so_and_where_its_report_is() -> None:
    passed = Summary(verdicts=[Verdict("tests/test_pages.py::test_home", "match")])
    text = step_summary(passed, Path("parity-report.html"), {})
    assert text == ("### parity passed: 1 match, 0 diverge, 0 outcome, 0 skipped\n\n"
                    "The HTML report: `parity-report.html`.\n\n")


def test_the_summary_is_appended_only_where_github_asks_for_it(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert append_step_summary(summary(), None, {}) is None
    assert append_step_summary(summary(), None, {"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert target.read_text().startswith("earlier step\n### parity failed:")


def test_secrets_never_reach_the_summary() -> None:
    leaky = Summary(verdicts=[Verdict("t.py::test_x", "diverge", differences=[
        Difference(0, "GET /", "body:$.dsn", "postgresql://u:hunter22@db/x", "x")])])
    assert "hunter22" not in step_summary(leaky, None, {}, secrets=["hunter22"])


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_pages" name="test_css[local]" time="0.1"/>
<testcase classname="tests.test_pages" name="test_css[stack]" time="0.1"><failure message="x"/></testcase>
<testcase classname="tests.test_api" name="test_list[local-2]" time="0.1"/>
<testcase classname="tests.test_api" name="test_list[stack-2]" time="0.1"/>
<testcase classname="tests.test_plain" name="test_unit" time="0.1"/>
</testsuite></testsuites>"""


def test_junit_cases_of_both_sides_carry_the_verdict_and_layer(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    assert add_junit_properties(path, summary().verdicts) == 4
    cases = {(c.get("classname"), c.get("name")): {p.get("name"): p.get("value")
                                                   for p in c.iter("property")}
             for c in ElementTree.parse(path).getroot().iter("testcase")}
    assert cases[("tests.test_pages", "test_css[stack]")] == {"parity.verdict": "outcome",
                                                              "parity.layer": "frontend"}
    assert cases[("tests.test_pages", "test_css[local]")]["parity.verdict"] == "outcome"
    assert cases[("tests.test_api", "test_list[local-2]")] == {"parity.verdict": "diverge",
                                                               "parity.layer": "app image"}
    assert cases[("tests.test_plain", "test_unit")] == {}
