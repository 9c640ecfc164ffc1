"""The terminal summary: counts first, then declared differences, failing verdicts, facts.

Lines fit the terminal's width, cut around a long line's first difference, and never show a
secret.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from parity.comparison.compare import Difference, Verdict
from parity.reports.diffview import side_by_side_rows
from parity.reports.summary import Redactor, Summary, counts_line, declared_rows, exchange_label, policy_notes

MAX_TERMINAL_VERDICTS = 20
MAX_TERMINAL_DIFFERENCES = 5
MAX_TERMINAL_ROWS = 8
MAX_TERMINAL_EVIDENCE = 4
MAX_FACT_DETAILS = 3
MAX_TERMINAL_POLICY = 5
FACT_SEVERITIES = ("fail", "warn", "info")
FOCUS_CONTEXT = 12
"""Characters shown before the first difference when a long line is cut to its changed span."""


def terminal_lines(summary: Summary, width: int = 100, secrets: Iterable[str] = ()) -> list[str]:
    """Counts first, the declared differences, one block per failing verdict, then facts."""
    lines = [counts_line(summary)]
    severities = [f.get("severity") for f in summary.facts]
    if summary.facts:
        lines.append("facts: " + ", ".join(f"{severities.count(s)} {s}" for s in FACT_SEVERITIES
                                           if severities.count(s)))
    declared = declared_rows(summary.declared_differences)
    if declared:
        lines.append("declared differences (the first suspects):")
        lines += [f"  {name}: local {local} │ stack {stack}" for name, local, stack in declared]
    lines += summary.notes
    notes = policy_notes(summary.verdicts)
    if notes:
        lines.append("the frontend's policy for static and media files (notes, not divergences):")
        for note in notes[:MAX_TERMINAL_POLICY]:
            times = f"{note.count} responses, e.g. " if note.count > 1 else ""
            lines.append(f"  {note.field.removeprefix('header:')}: local {note.local} │ stack "
                         f"{note.stack}  ({times}{note.example})")
        if len(notes) > MAX_TERMINAL_POLICY:
            lines.append(f"  … {len(notes) - MAX_TERMINAL_POLICY} more (see the HTML report)")
    failing = [v for v in summary.verdicts if v.failed]
    for verdict in failing[:MAX_TERMINAL_VERDICTS]:
        layer = f"  (layer: {verdict.layer})" if verdict.layer else ""
        lines += ["", f"{verdict.kind.upper()} {verdict.test_id}{layer}"]
        for line in verdict.evidence[:MAX_TERMINAL_EVIDENCE]:
            lines += textwrap.wrap(line, width, initial_indent="  ↳ ", subsequent_indent="    ")
        lines.append(_row(" ", "local", "stack", width))
        for difference in verdict.differences[:MAX_TERMINAL_DIFFERENCES]:
            lines += _difference_lines(difference, width)
        hidden = len(verdict.differences) - MAX_TERMINAL_DIFFERENCES
        if hidden > 0:
            lines.append(f"  … {hidden} more differences (see the HTML report)")
    if len(failing) > MAX_TERMINAL_VERDICTS:
        lines += ["", f"… {len(failing) - MAX_TERMINAL_VERDICTS} more failing tests "
                      "(see the HTML report)"]
    shown_facts = [f for f in summary.facts if f.get("severity") in ("fail", "warn")]
    if shown_facts:
        lines.append("")
    for fact in shown_facts:
        expected = " (expected)" if fact.get("expected") else ""
        # Failing facts are divergences too: they name their layer like failing verdicts do.
        fails_the_run = fact.get("severity") == "fail" and not fact.get("expected")
        layer = f" (layer: {fact['layer']})" if fails_the_run and fact.get("layer") else ""
        lines.append(f"{str(fact.get('severity')).upper()} {fact.get('name')}{layer}: "
                     f"local {fact.get('local')} │ stack {fact.get('stack')}{expected}")
        details = [str(d) for d in fact.get("detail") or []]
        lines += [f"    {detail}" for detail in details[:MAX_FACT_DETAILS]]
        if len(details) > MAX_FACT_DETAILS:
            lines.append(f"    … {len(details) - MAX_FACT_DETAILS} more (see the HTML report)")
    scrub = Redactor(secrets)
    return [_fit(scrub(line), width) for line in lines]


def _row(mark: str, left: str | None, right: str | None, width: int) -> str:
    column = max(10, (width - 7) // 2)
    shown_left, shown_right = focus(left or "", right or "", column)
    return f"   {mark} {shown_left:<{column}} │ {shown_right}"


def focus(left: str, right: str, column: int) -> tuple[str, str]:
    """Both lines cut to `column` characters around their first difference: a long line that
    changes at its end shows that end on each side, not the start they share."""
    if len(left) <= column and len(right) <= column:
        return left, right
    same = next((i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y),
                min(len(left), len(right)))
    start = max(0, same - FOCUS_CONTEXT) if same + FOCUS_CONTEXT >= column else 0

    def cut(text: str) -> str:
        if start == 0 or start >= len(text):
            return _fit(text, column)
        return _fit("…" + text[start:], column)

    return cut(left), cut(right)


def _difference_lines(difference: Difference, width: int) -> list[str]:
    label = exchange_label(difference)
    lines = [f"  {label}  {difference.field}" if label else f"  {difference.field}"]
    if difference.diff and difference.field == "body":
        rows = [r for r in side_by_side_rows(difference.diff) if r.tag != "same"]
        for item in rows[:MAX_TERMINAL_ROWS]:
            lines.append(_row("~" if item.tag != "gap" else " ", item.local, item.stack, width))
        if len(rows) > MAX_TERMINAL_ROWS:
            lines.append(f"     … {len(rows) - MAX_TERMINAL_ROWS} more changed lines")
        return lines
    left, right = difference.local.splitlines() or [""], difference.stack.splitlines() or [""]
    for index in range(min(max(len(left), len(right)), MAX_TERMINAL_ROWS)):
        lines.append(_row(" ", left[index] if index < len(left) else "",
                          right[index] if index < len(right) else "", width))
    return lines


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_verdict(verdict: Verdict) -> str:
    """The divergence as the failing [stack] test shows it: what, where, both values."""
    lines = [f"parity: [stack] {verdict.kind} from [local] ({len(verdict.differences)} difference"
             f"{'s' if len(verdict.differences) != 1 else ''})"]
    if verdict.kind == "outcome":
        lines.append(f"  local: {verdict.local_outcome}  {verdict.failures.get('local') or ''}".rstrip())
        lines.append(f"  stack: {verdict.stack_outcome}  {verdict.failures.get('stack') or ''}".rstrip())
    if verdict.layer:
        lines.append(f"  layer: {verdict.layer}")
        lines += [f"    - {line}" for line in verdict.evidence]
    shown = [d for d in verdict.differences if not (verdict.kind == "outcome" and d.field == "outcome")]
    for difference in shown[:10]:  # the outcomes are said above
        lines.append(f"  {exchange_label(difference)} {difference.field}".rstrip())
        lines.append(f"    local: {difference.local}")
        lines.append(f"    stack: {difference.stack}")
        if difference.diff:
            lines += ["    " + line for line in difference.diff.splitlines()[:20]]
    return "\n".join(lines)
