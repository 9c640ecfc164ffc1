"""The HTML report: one self-contained file (inline CSS and JS, nothing fetched).

Stable hooks for tools and DOM checks: `#counts`, `#declared-differences`, `#filters` with
`button.filter[data-filter=all|match|diverge|outcome|skipped]`, `#verdicts` holding
`article.verdict.<kind>[data-verdict=<kind>]`, each difference a `div.difference` with a
`table.side-by-side` (cells `td.local` / `td.stack`, rows `tr.changed` where they differ),
`details.ignored` listing the noise rules with reasons, `div.policy` with the notes on the
frontend's policy (a `table.side-by-side` too, never a divergence), a failing verdict's
`div.layer[data-layer=frontend|app image|database|unknown]` with `ul.evidence`, and `table.facts`.
Within a changed row, the characters that differ are `<mark>`s. Run metadata is `table#meta`
(a nested `table.meta` for a mapping such as `phases`).
Every piece of text goes through `clean` (redaction) and then html.escape.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from parity.comparison.compare import VERDICT_KINDS, Difference, Verdict
from parity.reports.diffview import side_by_side_rows
from parity.reports.summary import Redactor, Summary, counts_line, declared_rows, exchange_label, write_atomically

MAX_INLINE_DIFF_CHARS = 500
"""Longer lines are marked from their first to their last differing character only."""
MIN_INLINE_SIMILARITY = 0.5
"""Below this share of common characters, two lines are different as a whole."""

_ORDER = {"outcome": 0, "diverge": 1, "match": 2, "skipped": 3}

_CSS = """
:root { --fail: #b42318; --warn: #b54708; --ok: #067647; --muted: #667085; --line: #e4e7ec;
        --del: #fde8e7; --add: #e6f4ea; --chg: #fff4d6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1400px; padding: 1rem 1.5rem 3rem; color: #101828; }
h1 { margin: .2rem 0; } h2 { margin-top: 2rem; border-bottom: 1px solid var(--line); }
code, pre, td.local, td.stack { font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
       font-size: 12.5px; }
[hidden] { display: none !important; }
.counts .count { margin-right: 1rem; font-weight: 600; }
.status { font-weight: 700; }
.status.failed { color: var(--fail); } .status.ok { color: var(--ok); }
.badge { display: inline-block; min-width: 5.5em; text-align: center; border-radius: 4px;
         padding: 0 .4em; color: #fff; font-size: 12px; text-transform: uppercase; }
.badge.match { background: var(--ok); } .badge.diverge { background: var(--fail); }
.badge.outcome { background: #7a271a; } .badge.skipped { background: var(--muted); }
#filters { position: sticky; top: 0; background: #fff; padding: .5rem 0; z-index: 1;
           border-bottom: 1px solid var(--line); }
#filters .filter { font: inherit; margin-right: .4rem; padding: .2rem .7rem; cursor: pointer;
                   border: 1px solid var(--line); border-radius: 999px; background: #fff; }
#filters .filter.active { background: #101828; color: #fff; }
.verdict { border: 1px solid var(--line); border-radius: 6px; margin: .8rem 0;
           padding: .3rem .8rem; }
.verdict.diverge, .verdict.outcome { border-left: 4px solid var(--fail); }
.verdict h3 { font-size: 14px; margin: .4rem 0; } .verdict .note, .outcomes { color: var(--muted); }
.difference h4 { font-size: 13px; margin: .8rem 0 .3rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid var(--line); padding: .15rem .4rem; vertical-align: top;
         text-align: left; }
table.side-by-side { table-layout: fixed; }
table.side-by-side td.local, table.side-by-side td.stack { white-space: pre-wrap;
       word-break: break-all; width: 50%; }
table.side-by-side td.ln, table.side-by-side th.ln { width: 3.5em; color: var(--muted);
       text-align: right; }
tr.changed td.local, tr.removed td.local { background: var(--del); }
tr.changed td.stack, tr.added td.stack { background: var(--add); }
tr.gap td { background: #f2f4f7; color: var(--muted); text-align: center; }
table.facts tr.fail td.severity { color: var(--fail); font-weight: 700; }
table.facts tr.warn td.severity { color: var(--warn); font-weight: 700; }
div.layer { margin: .4rem 0; padding: .2rem .6rem; background: var(--chg); border-radius: 4px; }
div.layer p { margin: .2rem 0; } div.layer ul.evidence { margin: .2rem 0 .4rem; padding-left: 1.2rem; }
details.ignored { margin: .5rem 0; color: var(--muted); } details.ignored table { color: #101828; }
table#meta { width: auto; } table#meta th { color: var(--muted); font-weight: normal; }
table.meta { width: auto; margin: 0; } table.meta td, table.meta th { border: 0; padding: 0 .8rem 0 0; }
mark { background: none; border-radius: 2px; }
tr.changed td.local mark { background: #f7b4ae; } tr.changed td.stack mark { background: #a6dfb5; }
div.policy { margin: .4rem 0; color: var(--muted); } div.policy table { color: #101828; }
"""

_JS = """
(function () {
  var buttons = document.querySelectorAll('#filters .filter');
  function show(wanted) {
    buttons.forEach(function (b) {
      var on = b.getAttribute('data-filter') === wanted;
      b.classList.toggle('active', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    });
    document.querySelectorAll('#verdicts .verdict').forEach(function (v) {
      v.hidden = wanted !== 'all' && v.getAttribute('data-verdict') !== wanted;
    });
  }
  buttons.forEach(function (b) {
    b.addEventListener('click', function () {
      show(b.getAttribute('data-filter'));
      history.replaceState(null, '', '#' + b.getAttribute('data-filter'));
    });
  });
  // A filter in the URL (report.html#diverge) applies on load, so a link can point at it.
  var initial = location.hash.slice(1);
  if (document.querySelector('#filters .filter[data-filter="' + initial + '"]')) { show(initial); }
})();
"""


def render_html(summary: Summary, clean: Callable[[str], str]) -> str:
    def e(value: Any) -> str:
        return html.escape(clean("" if value is None else str(value)), quote=True)

    counts = summary.counts()
    status = ("failed", "parity FAILED") if summary.failed else ("ok", "parity OK")
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(counts_line(summary))}</title>", f"<style>{_CSS}</style>", "</head>",
           "<body>", '<header id="summary">', "<h1>parity report</h1>",
           f'<p class="status {status[0]}" id="status">{e(status[1])}</p>',
           '<p id="counts" class="counts">']
    out += [f'<span class="count {kind}" data-kind="{kind}" data-count="{n}">{n} {kind}</span>'
            for kind, n in counts.items()]
    out.append("</p>")
    if summary.meta:
        out.append('<table id="meta"><tbody>')
        out += [f'<tr><th scope="row">{e(k)}</th><td>{_value(v, e)}</td></tr>'
                for k, v in summary.meta.items()]
        out.append("</tbody></table>")
    out += [f'<p class="note">{e(note)}</p>' for note in summary.notes]
    out.append("</header>")

    out += ['<section id="declared-differences">',
            "<h2>Declared per-environment differences</h2>"]
    rows = declared_rows(summary.declared_differences)
    if rows:
        out.append("<p>Set differently on purpose; the first suspects when a test diverges.</p>")
        out.append('<table class="declared"><thead><tr><th>name</th><th>local</th><th>stack</th>'
                   "</tr></thead><tbody>")
        out += [f'<tr><td><code>{e(n)}</code></td><td class="local">{e(lv)}</td>'
                f'<td class="stack">{e(sv)}</td></tr>' for n, lv, sv in rows]
        out.append("</tbody></table>")
    else:
        out.append("<p>None: both environments get the same declared settings.</p>")
    out.append("</section>")

    out += ['<h2>Tests</h2>', '<nav id="filters" aria-label="filter tests by verdict">',
            f'<button type="button" class="filter active" data-filter="all" aria-pressed="true">'
            f"all ({len(summary.verdicts)})</button>"]
    out += [f'<button type="button" class="filter" data-filter="{kind}" aria-pressed="false">'
            f"{kind} ({counts[kind]})</button>" for kind in VERDICT_KINDS]
    out += ["</nav>", '<section id="verdicts">']
    ordered = sorted(enumerate(summary.verdicts), key=lambda p: (_ORDER.get(p[1].kind, 9), p[0]))
    for number, verdict in ordered:
        out += _verdict(number, verdict, e, clean)
    if not summary.verdicts:
        out.append('<p class="empty">No test ran in both environments.</p>')
    out.append("</section>")

    out += ['<section id="facts">', "<h2>Environment facts</h2>"]
    if summary.facts:
        out.append('<table class="facts"><thead><tr><th>fact</th><th>local</th><th>stack</th>'
                   "<th>verdict</th><th>layer</th><th>detail</th></tr></thead><tbody>")
        for fact in summary.facts:
            severity = str(fact.get("severity", "info"))
            expected = " (expected)" if fact.get("expected") else ""
            out.append(f'<tr class="{e(severity)}"><td>{e(fact.get("name"))}</td>'
                       f'<td class="local">{e(_text(fact.get("local")))}</td>'
                       f'<td class="stack">{e(_text(fact.get("stack")))}</td>'
                       f'<td class="severity">{e(severity)}{e(expected)}</td>'
                       f'<td class="layer">{e(_text(fact.get("layer", "")))}</td>'
                       f'<td>{e(_text(fact.get("detail")))}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>No facts were collected.</p>")
    out += ["</section>", f"<script>{_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(out)


def _verdict(number: int, verdict: Verdict, e: Callable[[Any], str],
             clean: Callable[[str], str]) -> list[str]:
    kind = verdict.kind
    out = [f'<article class="verdict {kind}" data-verdict="{kind}" id="verdict-{number}" '
           f'data-test-id="{e(verdict.test_id)}">',
           f'<h3><span class="badge {kind}">{kind}</span> <code class="test-id">'
           f"{e(verdict.test_id)}</code></h3>"]
    if verdict.local_outcome != "passed" or verdict.stack_outcome != "passed":
        sides = []
        for side, outcome in (("local", verdict.local_outcome), ("stack", verdict.stack_outcome)):
            failure = verdict.failures.get(side)
            sides.append(f"{side}: {outcome}" + (f" ({failure})" if failure else ""))
        out.append(f'<p class="outcomes">{e(" · ".join(sides))}</p>')
    if verdict.note:
        out.append(f'<p class="note">{e(verdict.note)}</p>')
    if verdict.layer:
        out += [f'<div class="layer" data-layer="{e(verdict.layer)}">',
                f'<p>layer: <strong class="layer-name">{e(verdict.layer)}</strong></p>',
                '<ul class="evidence">', *[f"<li>{e(line)}</li>" for line in verdict.evidence],
                "</ul>", "</div>"]
    for difference in verdict.differences:
        out += _difference(difference, e, clean)
    if verdict.policy:
        out += ['<div class="policy">', "<p>the frontend's policy for static and media files "
                "(notes, not divergences):</p>"]
        for note in verdict.policy:
            out += _difference(note, e, clean)
        out.append("</div>")
    if verdict.ignored:
        total = sum(count for _, count in verdict.ignored)
        out += ['<details class="ignored">',
                f"<summary>ignored noise: {_plural(len(verdict.ignored), 'rule')}, "
                f"{_plural(total, 'time')}</summary>",
                '<table class="ignored-rules"><thead><tr><th>rule</th><th>source</th>'
                "<th>times</th><th>reason</th></tr></thead><tbody>"]
        out += [f"<tr><td><code>{e(rule.describe())}</code></td><td>{e(rule.source)}</td>"
                f"<td>{count}</td><td>{e(rule.reason)}</td></tr>"
                for rule, count in verdict.ignored]
        out += ["</tbody></table>", "</details>"]
    out.append("</article>")
    return out


def _difference(difference: Difference, e: Callable[[Any], str],
                clean: Callable[[str], str]) -> list[str]:
    label = exchange_label(difference)
    where = f"{label} — " if label else ""
    out = [f'<div class="difference" data-field="{e(difference.field)}">',
           f"<h4>{e(where)}<code>{e(difference.field)}</code></h4>",
           '<table class="side-by-side"><thead><tr><th class="ln"></th><th>local</th>'
           '<th class="ln"></th><th>stack</th></tr></thead><tbody>']
    rows = side_by_side_rows(difference.diff) if difference.diff else []
    if rows:
        for row in rows:
            local, stack = (marked(clean(row.local or ""), clean(row.stack or ""))
                            if row.tag == "changed" else (e(row.local or ""), e(row.stack or "")))
            out.append(f'<tr class="{row.tag}"><td class="ln">{e(row.local_no or "")}</td>'
                       f'<td class="local">{local}</td>'
                       f'<td class="ln">{e(row.stack_no or "")}</td>'
                       f'<td class="stack">{stack}</td></tr>')
    else:
        local, stack = marked(clean(difference.local), clean(difference.stack))
        out.append(f'<tr class="changed"><td class="ln"></td><td class="local">'
                   f'{local}</td><td class="ln"></td><td class="stack">'
                   f"{stack}</td></tr>")
    out += ["</tbody></table>", "</div>"]
    return out


def marked(local: str, stack: str) -> tuple[str, str]:
    """Both (already redacted) lines as HTML, what differs between them in `<mark>`s."""
    if local == stack:
        return html.escape(local), html.escape(stack)
    if len(local) + len(stack) > MAX_INLINE_DIFF_CHARS:
        same = next((i for i, (x, y) in enumerate(zip(local, stack, strict=False)) if x != y),
                    min(len(local), len(stack)))
        tail = 0
        while (tail < min(len(local), len(stack)) - same
               and local[len(local) - 1 - tail] == stack[len(stack) - 1 - tail]):
            tail += 1
        spans: Sequence[tuple[str, int, int, int, int]] = [
            ("equal", 0, same, 0, same),
            ("replace", same, len(local) - tail, same, len(stack) - tail),
            ("equal", len(local) - tail, len(local), len(stack) - tail, len(stack))]
    else:
        matcher = difflib.SequenceMatcher(None, local, stack, autojunk=False)
        spans = matcher.get_opcodes()
        if matcher.ratio() < MIN_INLINE_SIMILARITY:  # a few letters in common: all of it differs
            spans = [("replace", 0, len(local), 0, len(stack))]
    left: list[str] = []
    right: list[str] = []
    for tag, a_start, a_end, b_start, b_end in spans:
        for out, text in ((left, local[a_start:a_end]), (right, stack[b_start:b_end])):
            if not text:
                continue
            escaped = html.escape(text)
            out.append(escaped if tag == "equal" else f"<mark>{escaped}</mark>")
    return "".join(left), "".join(right)


def _value(value: Any, e: Callable[[Any], str]) -> str:
    """A metadata value: a mapping as a table of its own, a list comma-separated."""
    if isinstance(value, Mapping):
        if not value:
            return ""
        rows = "".join(f'<tr><th scope="row">{e(k)}</th><td>{_value(v, e)}</td></tr>'
                       for k, v in value.items())
        return f'<table class="meta"><tbody>{rows}</tbody></table>'
    return e(_text(value))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(v) for v in value)
    return str(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def write_html(summary: Summary, path: Path, secrets: Iterable[str] = ()) -> None:
    write_atomically(Path(path), render_html(summary, Redactor(secrets)))
