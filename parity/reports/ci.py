"""Reports where CI users look: the job summary page, and the JUnit XML their CI reads.

- With GITHUB_STEP_SUMMARY set (GitHub Actions), a Markdown summary is appended to that file:
  the counts, one line per divergence with its layer, the failing facts, and a link to the
  run's page, whose artifacts hold the HTML report.
- With `--junitxml`, each test case of a compared test gets `parity.verdict` and
  `parity.layer` properties (both sides' cases), added to the file pytest wrote, once the
  verdicts are final (their layers need the environment facts gathered at the end).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping
from pathlib import Path

from parity.comparison.compare import Verdict
from parity.comparison.recording import base_test_id, side_of
from parity.environments.session import ENVIRONMENTS, RERUN
from parity.reports.summary import Summary, counts_line, redact

MAX_SUMMARY_LINES = 50


def step_summary(summary: Summary, html_report: Path | None, environ: Mapping[str, str],
                 secrets: Iterable[str] = ()) -> str:
    """The Markdown a GitHub job summary shows for this run."""
    secrets = list(secrets)
    status = "failed" if summary.failed else "passed"
    lines = [f"### parity {status}: {counts_line(summary).removeprefix('parity: ')}", ""]
    failing = [v for v in summary.verdicts if v.failed]
    if failing:
        lines += ["| test | verdict | layer | first difference |", "| --- | --- | --- | --- |"]
        for verdict in failing[:MAX_SUMMARY_LINES]:
            first = verdict.differences[0] if verdict.differences else None
            where = (f"{first.field}: {_cell(first.local)} → {_cell(first.stack)}"
                     if first is not None else "")
            lines.append(f"| `{verdict.test_id}` | {verdict.kind} | {verdict.layer or ''} | "
                         f"{_cell(where, 160)} |")
        if len(failing) > MAX_SUMMARY_LINES:
            lines.append(f"| … {len(failing) - MAX_SUMMARY_LINES} more | | | |")
        lines.append("")
    facts = summary.failing_facts()
    if facts:
        lines += ["Failing environment facts:", ""]
        lines += [f"- **{fact.get('name')}** (layer: {fact.get('layer', '')}): local "
                  f"{_cell(str(fact.get('local')))} │ stack {_cell(str(fact.get('stack')))}"
                  for fact in facts]
        lines.append("")
    run = _run_url(environ)
    report = f"`{html_report}`" if html_report is not None else "the HTML report"
    what = "Side-by-side differences" if failing or facts else "The HTML report"
    if run:
        lines.append(f"{what}: {report} in the [run's artifacts]({run}).")
    elif html_report is not None:
        lines.append(f"{what}: {report}.")
    return redact("\n".join(lines).rstrip() + "\n\n", secrets)


def append_step_summary(summary: Summary, html_report: Path | None,
                        environ: Mapping[str, str] | None = None,
                        secrets: Iterable[str] = ()) -> Path | None:
    """Append the summary to $GITHUB_STEP_SUMMARY; the file, or None when it is not set."""
    environ = os.environ if environ is None else environ
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with open(path, "a", encoding="utf-8") as out:
        out.write(step_summary(summary, html_report, environ, secrets))
    return path


def _run_url(environ: Mapping[str, str]) -> str | None:
    server, repository, run = (environ.get(name) for name in
                               ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repository}/actions/runs/{run}" if server and repository and run else None


def _cell(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def add_junit_properties(path: Path, verdicts: Iterable[Verdict]) -> int:
    """Give every test case of a compared test its verdict and layer; returns how many."""
    by_case = {_junit_key(verdict.test_id): verdict for verdict in verdicts}
    tree = ElementTree.parse(path)
    changed = 0
    for case in tree.getroot().iter("testcase"):
        verdict = by_case.get((case.get("classname", ""), _without_side(case.get("name", ""))))
        if verdict is None:
            continue
        properties = case.find("properties")
        if properties is None:
            properties = ElementTree.Element("properties")
            case.insert(0, properties)
        for name, value in (("parity.verdict", verdict.kind), ("parity.layer", verdict.layer or "")):
            ElementTree.SubElement(properties, "property", name=name, value=value)
        changed += 1
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return changed


def _junit_key(test_id: str) -> tuple[str, str]:
    """(classname, name) as pytest's JUnit XML writes a node id ("tests.test_x", "test_y[2]")."""
    path, bracket, params = test_id.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def _without_side(name: str) -> str:
    """"test_x[stack-2]" -> "test_x[2]", "test_x[local-rerun]" -> "test_x" (parity's side ids)."""
    side = side_of(name, SIDE_IDS)
    return base_test_id(name, side) if side else name


SIDE_IDS = (*ENVIRONMENTS, RERUN)
"""The side ids a test case's name may carry: both environments, and learn's second local pass."""
