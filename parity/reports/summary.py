"""What a parity run reports: the terminal summary, the JSON report, the HTML report.

All three come from one `Summary` and take the secrets to scrub: a report never shows the
database password or a secret setting's value. The JSON schema is in docs/report-schema.md.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from parity import __version__
from parity.compare import VERDICT_KINDS, Difference, Verdict
from parity.config import ParityConfig
from parity.diffview import side_by_side_rows

SCHEMA_VERSION = 1
REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4
"""Shorter "secrets" cannot be told apart from ordinary text, so they are not scrubbed."""
MAX_TERMINAL_VERDICTS = 20
MAX_TERMINAL_DIFFERENCES = 5
MAX_TERMINAL_ROWS = 8
MAX_TERMINAL_EVIDENCE = 4
MAX_FACT_DETAILS = 3
MAX_TERMINAL_POLICY = 5
FACT_SEVERITIES = ("fail", "warn", "info")
FOCUS_CONTEXT = 12
"""Characters shown before the first difference when a long line is cut to its changed span."""


@dataclass
class Summary:
    verdicts: list[Verdict] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    """Each {"name", "local", "stack", "severity": "fail"|"warn"|"info", "expected", "detail"}."""
    declared_differences: dict[str, Any] = field(default_factory=dict)
    """{"local": {NAME: value} or [NAME, ...], "stack": ...}: what only one side is given."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Run id, duration, engine, images, database: never passwords."""
    notes: list[str] = field(default_factory=list)
    """Free-form lines every report shows (e.g. tests that ran in one environment only)."""

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(VERDICT_KINDS, 0)
        for verdict in self.verdicts:
            counts[verdict.kind] += 1
        return counts

    def failing_facts(self) -> list[dict[str, Any]]:
        return [f for f in self.facts if f.get("severity") == "fail" and not f.get("expected")]

    @property
    def failed(self) -> bool:
        """A verdict diverges or has a different outcome, or an unexpected fact fails."""
        return any(v.failed for v in self.verdicts) or bool(self.failing_facts())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": "parity",
            "version": __version__,
            "ok": not self.failed,
            "counts": self.counts(),
            "meta": dict(self.meta),
            "declared_differences": _plain(self.declared_differences),
            "notes": list(self.notes),
            "verdicts": [v.to_dict() for v in self.verdicts],
            "facts": [_plain(fact) for fact in self.facts],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"parity report schema_version {version!r} is not supported "
                             f"(this parity reads {SCHEMA_VERSION})")
        return cls(verdicts=[Verdict.from_dict(v) for v in data.get("verdicts", [])],
                   facts=list(data.get("facts", [])),
                   declared_differences=dict(data.get("declared_differences", {})),
                   meta=dict(data.get("meta", {})), notes=list(data.get("notes", [])))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (also percent-, JSON- and HTML-encoded) replaced."""
    variants: set[str] = set()
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET_CHARS:
            continue
        variants.update({secret, quote(secret, safe=""), quote_plus(secret),
                         json.dumps(secret)[1:-1], html.escape(secret)})
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, REDACTED)
    return text


def redact_data(data: Any, secrets: Iterable[str]) -> Any:
    """A copy of JSON-like data with every string (keys too) redacted."""
    secrets = list(secrets)
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, Mapping):
        return {redact(str(k), secrets): redact_data(v, secrets) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(item, secrets) for item in data]
    return data


def _plain(data: Any) -> Any:
    """Sets become sorted lists, mappings dicts: what json.dumps accepts."""
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, set | frozenset):
        return sorted(str(item) for item in data)
    if isinstance(data, list | tuple):
        return [_plain(item) for item in data]
    return data


def declared_rows(declared: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(name, local value, stack value) for each declared per-environment setting."""

    def side(name: str) -> dict[str, str]:
        value = declared.get(name) or {}
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        return {str(item): "(set)" for item in value}

    local, stack = side("local"), side("stack")
    return [(name, local.get(name, "(not set)"), stack.get(name, "(not set)"))
            for name in sorted({*local, *stack})]


@dataclass(frozen=True)
class PolicyNote:
    """One way the frontend's policy differs from [local] (a header, both values), with how
    many responses showed it and the first request that did."""

    field: str
    local: str
    stack: str
    count: int
    example: str


def policy_notes(verdicts: Iterable[Verdict]) -> list[PolicyNote]:
    """The verdicts' notes on the frontend's policy, one per (header, values)."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for verdict in verdicts:
        for note in verdict.policy:
            found.setdefault((note.field, note.local, note.stack), []).append(note.request)
    return [PolicyNote(key[0], key[1], key[2], len(requests), requests[0])
            for key, requests in found.items()]


def counts_line(summary: Summary) -> str:
    return "parity: " + ", ".join(f"{n} {kind}" for kind, n in summary.counts().items())


def terminal_lines(summary: Summary, width: int = 100, secrets: Iterable[str] = ()) -> list[str]:
    """Counts first, the declared differences, one block per failing verdict, then facts."""
    secrets = list(secrets)
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
    return [_fit(redact(line, secrets), width) for line in lines]


def exchange_label(difference: Difference) -> str:
    """"#1 GET /x" (1-based for people; `exchange` in the JSON is the 0-based index)."""
    if difference.exchange is None:
        return ""
    return f"#{difference.exchange + 1} {difference.request}"


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


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(summary: Summary, path: Path, secrets: Iterable[str] = ()) -> None:
    data = redact_data(summary.to_dict(), secrets)
    _write_atomically(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Summary:
    return Summary.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def write_html(summary: Summary, path: Path, secrets: Iterable[str] = ()) -> None:
    from parity.htmlreport import render_html  # htmlreport imports this module

    secrets = list(secrets)

    def clean(text: str) -> str:
        return redact(text, secrets)

    _write_atomically(Path(path), render_html(summary, clean))


def paths(json_path: str | None, html_path: str | None, base: Path) -> tuple[Path, Path]:
    """Where the reports go: the options' values, else parity-report.{json,html} in `base`."""
    return (Path(json_path) if json_path else base / "parity-report.json",
            Path(html_path) if html_path else base / "parity-report.html")


def header_line(config: ParityConfig, parity: bool, images: str | None = None) -> str:
    """One line for pytest's report header: what runs where. Never a password.
    `images`: the base images as chosen (parity.standins.describe), else as configured."""
    local = "runserver" if config.app == "django" else "WSGI dev server"
    if not parity:
        return (f"parity: {config.name}: local only ({local}); "
                "add --parity to compare with the stack")
    if config.stack.compose_file is not None:
        stack = f"your compose file {config.stack.compose_file.name}"
    else:
        stack = images or f"{config.base_image} + {config.frontend_image}"
    database = ("PARITY_DATABASE_URL" if os.environ.get("PARITY_DATABASE_URL")
                else "a throwaway Postgres")
    engine = os.environ.get("DOCKER_HOST") or "the local Docker engine"
    return (f"parity: {config.name}: local ({local} in this virtualenv) vs stack ({stack}) "
            f"on {engine}, database {database}")
