"""What a parity run reports, as data: the `Summary`, its JSON report, and the pieces the terminal
lines (parity.reports.terminal) and the HTML report (parity.reports.html) share.

All reports come from one `Summary` and take the secrets to scrub: a report never shows the
database password or a secret setting's value. The JSON schema is in docs/report-schema.md.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from parity.comparison.compare import VERDICT_KINDS, Difference, Verdict
from parity.configuration import ParityConfig
from parity.support.version import VERSION

SCHEMA_VERSION = 1
REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4
"""Shorter "secrets" cannot be told apart from ordinary text, so they are not scrubbed."""


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
            "version": VERSION,
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


class Redactor:
    """Replaces every secret, also percent-, JSON- and HTML-encoded, in a text. The variants are
    worked out once: a report has thousands of strings to scrub."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET_CHARS:
                continue
            variants.update({secret, quote(secret, safe=""), quote_plus(secret),
                             json.dumps(secret)[1:-1], html.escape(secret)})
        # Longest first: a secret that contains another is replaced whole.
        alternatives = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
        self._pattern = re.compile(alternatives) if variants else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text

    def data(self, data: Any) -> Any:
        """A copy of JSON-like data with every string (keys too) redacted."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, Mapping):
            return {self(str(k)): self.data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.data(item) for item in data]
        return data


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (also percent-, JSON- and HTML-encoded) replaced."""
    return Redactor(secrets)(text)


def redact_data(data: Any, secrets: Iterable[str]) -> Any:
    """A copy of JSON-like data with every string (keys too) redacted."""
    return Redactor(secrets).data(data)


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


def exchange_label(difference: Difference) -> str:
    """"#1 GET /x" (1-based for people; `exchange` in the JSON is the 0-based index)."""
    if difference.exchange is None:
        return ""
    return f"#{difference.exchange + 1} {difference.request}"


def write_atomically(path: Path, text: str) -> None:
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
    write_atomically(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Summary:
    return Summary.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def paths(json_path: str | None, html_path: str | None, base: Path) -> tuple[Path, Path]:
    """Where the reports go: the options' values, else parity-report.{json,html} in `base`."""
    return (Path(json_path) if json_path else base / "parity-report.json",
            Path(html_path) if html_path else base / "parity-report.html")


def header_line(config: ParityConfig, parity: bool, images: str | None = None) -> str:
    """One line for pytest's report header: what runs where. Never a password.
    `images`: the base images as chosen (parity.machine.standins.describe), else as configured."""
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
