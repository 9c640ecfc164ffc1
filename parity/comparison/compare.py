"""Compare the two recordings of one test: its verdict, its differences, the noise it ignored.

    skipped   both sides skipped, or the plugin excluded the test (parity_skip)
    outcome   the outcomes differ (passed in one, failed/error/skipped in the other)
    diverge   same outcome, but a response (or a failure message) differs beyond noise
    match     same outcome, same responses once noise is set aside

A failed request (connection error, timeout) is an observation compared like a status.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from parity.comparison.assets import strip_cache_busting
from parity.comparison.bodydiff import (
    ABSENT,
    clip,
    excerpts,
    json_differences,
    show_json,
    unified_diff,
)
from parity.comparison.difference import Difference
from parity.comparison.fileserver import file_server_noise
from parity.comparison.headerdiff import HeaderComparer
from parity.comparison.learn import learn_noise
from parity.comparison.noise import (
    BUILTIN_NOISE,
    ERROR_BODY_HEADERS,
    ERROR_STATUS,
    IgnoreRule,
    NoiseRules,
    declared_noise,
    format_json_path,
    mask_text,
)
from parity.comparison.normalize import BaseUrlNormalizer, body_kind
from parity.comparison.recording import Exchange, Recording
from parity.configuration import CompareConfig

__all__ = [
    "BUILTIN_NOISE", "VERDICT_KINDS", "Difference", "IgnoreRule", "NoiseRules", "Verdict",
    "VerdictKind", "compare", "default_noise", "learn_noise",
]

VerdictKind = Literal["match", "diverge", "outcome", "skipped"]
VERDICT_KINDS: tuple[VerdictKind, ...] = ("match", "diverge", "outcome", "skipped")
MAX_JSON_DIFFERENCES = 50
MAX_LISTED_REQUESTS = 20


@dataclass
class Verdict:
    test_id: str
    kind: VerdictKind
    differences: list[Difference] = field(default_factory=list)
    ignored: list[tuple[IgnoreRule, int]] = field(default_factory=list)
    local_outcome: str = "passed"
    stack_outcome: str = "passed"
    failures: dict[str, str | None] = field(default_factory=dict)
    note: str | None = None
    layer: str | None = None
    """Where a failing verdict comes from (`parity.comparison.layers`): frontend, app image, database, unknown."""
    evidence: list[str] = field(default_factory=list)
    policy: list[Difference] = field(default_factory=list)
    """Notes on the frontend's policy: what a `header_policy` rule kept from being a divergence
    (the caching headers nginx adds to static files)."""

    @property
    def failed(self) -> bool:
        """Whether this verdict fails the parity session."""
        return self.kind in ("diverge", "outcome")

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id, "kind": self.kind,
            "local_outcome": self.local_outcome, "stack_outcome": self.stack_outcome,
            "failures": dict(self.failures), "note": self.note,
            "differences": [d.to_dict() for d in self.differences],
            "ignored": [{**rule.to_dict(), "count": count} for rule, count in self.ignored],
            "layer": self.layer, "evidence": list(self.evidence),
            "policy": [d.to_dict() for d in self.policy],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        kind = data["kind"]
        if kind not in VERDICT_KINDS:
            raise ValueError(f"unknown verdict kind {kind!r}")
        return cls(
            test_id=data["test_id"], kind=cast(VerdictKind, kind),
            differences=[Difference.from_dict(d) for d in data.get("differences", [])],
            ignored=[(IgnoreRule.from_dict(i), int(i.get("count", 0)))
                     for i in data.get("ignored", [])],
            local_outcome=data.get("local_outcome", "passed"),
            stack_outcome=data.get("stack_outcome", "passed"),
            failures=dict(data.get("failures", {})), note=data.get("note"),
            layer=data.get("layer"), evidence=[str(e) for e in data.get("evidence") or []],
            policy=[Difference.from_dict(d) for d in data.get("policy") or []],
        )


def default_noise(compare_config: CompareConfig | None = None,
                  expected_facts: Iterable[str] = (), *, static_url: str = "/static/",
                  media_url: str | None = "/media/") -> NoiseRules:
    """The built-in noise, plus what a file server sets by nature under `static_url` and
    `media_url`, plus what `[tool.parity.compare]` declares, plus what the facts declared
    expected in `[tool.parity.facts]` imply (a declared DEBUG: error page bodies)."""
    builtin = BUILTIN_NOISE.merge(file_server_noise(static_url, media_url))
    declared = declared_noise(expected_facts)
    if compare_config is None:
        return builtin.merge(declared)
    return builtin.merge(NoiseRules.from_config(compare_config), declared)


def compare(local: Recording, stack: Recording, noise: NoiseRules | None = None, *,
            skip_reason: str | None = None) -> Verdict:
    """The verdict on one test. `noise` defaults to `default_noise()`; the tests' own
    `http.ignore(...)` declarations are added. `skip_reason` (parity_skip) excludes it."""
    rules = (default_noise() if noise is None else noise).merge(local.ignores, stack.ignores)
    verdict = Verdict(test_id=local.test_id or stack.test_id, kind="match",
                      local_outcome=local.outcome, stack_outcome=stack.outcome,
                      failures={"local": local.failure, "stack": stack.failure})
    if skip_reason is not None or local.outcome == stack.outcome == "skipped":
        verdict.kind = "skipped"
        verdict.note = skip_reason or local.failure or stack.failure or "skipped in both"
        return verdict
    comparer = _Comparer(rules, schemes=(_scheme(local), _scheme(stack)))
    if local.outcome != stack.outcome:
        verdict.kind = "outcome"
        verdict.differences.append(Difference(None, "", "outcome", _outcome(local),
                                              _outcome(stack)))
        if "skipped" in (local.outcome, stack.outcome):
            return verdict
    elif local.outcome != "passed" and _failure_key(local) != _failure_key(stack):
        verdict.differences.append(Difference(None, "", "failure", local.failure or "",
                                              stack.failure or ""))
    verdict.differences += comparer.exchanges(local.exchanges, stack.exchanges)
    if verdict.kind == "match" and verdict.differences:
        verdict.kind = "diverge"
    verdict.ignored = [(rule, comparer.tally[rule]) for rule in (*rules, OWN_SCHEME)
                       if comparer.tally[rule]]
    verdict.policy = comparer.header_comparer.policy
    return verdict


OWN_SCHEME = IgnoreRule("scheme", "each side's own",
                        "a JSON value naming the scheme each environment is served over (local "
                        "http, the stack https): part of its base URL, like host and port")


def _scheme(recording: Recording) -> str:
    return urlsplit(recording.base_url).scheme if recording.base_url else ""


def _outcome(recording: Recording) -> str:
    if recording.failure and recording.outcome != "passed":
        return f"{recording.outcome}: {recording.failure}"
    return recording.outcome


def _failure_key(recording: Recording) -> str:
    """The failure message without what is naturally different per environment."""
    text = BaseUrlNormalizer(recording.base_url).text(recording.failure or "")
    port = urlsplit(recording.base_url).port if recording.base_url else None
    if port:
        text = re.sub(rf"(?<!\d){port}(?!\d)", "{port}", text)
    return re.sub(r"0x[0-9a-fA-F]+", "0x…", text)


def _error_type(exchange: Exchange) -> str:
    if exchange.error:
        return exchange.error.split(":", 1)[0]
    return f"status {exchange.status}"


def _listing(exchanges: Sequence[Exchange]) -> str:
    shown = [e.request for e in exchanges[:MAX_LISTED_REQUESTS]]
    if len(exchanges) > MAX_LISTED_REQUESTS:
        shown.append(f"… {len(exchanges) - MAX_LISTED_REQUESTS} more")
    noun = "request" if len(exchanges) == 1 else "requests"
    return "\n".join([f"{len(exchanges)} {noun}", *shown])


class _Comparer:
    """Compares exchanges under one set of rules, counting each rule that hid a difference."""

    def __init__(self, rules: NoiseRules, schemes: tuple[str, str] = ("", "")) -> None:
        self.schemes = schemes
        """Each side's own scheme ("http", "https"): a JSON value that is exactly that on both
        sides follows from the declared scheme, as the base URL does."""
        self.rules = rules
        self.tally: Counter[IgnoreRule] = Counter()
        self.header_comparer = HeaderComparer(rules, self.tally)
        self.assets = rules.of_kind("asset_url")

    def exchanges(self, local: Sequence[Exchange], stack: Sequence[Exchange]) -> list[Difference]:
        found: list[Difference] = []
        if len(local) != len(stack):
            found.append(Difference(None, "", "exchange count", _listing(local),
                                    _listing(stack)))
        for index, (a, b) in enumerate(zip(local, stack, strict=False)):
            if not self._same_request(a, b):
                # Out of step from here on: comparing further pairs would only add noise.
                found.append(Difference(index, a.request, "request", a.request, b.request))
                break
            found += self.pair(index, a, b)
        return found

    def _same_request(self, a: Exchange, b: Exchange) -> bool:
        """Same method and path; a path that differs only by an asset's cache-busting part
        (a test that fetched the URL its page linked) is the same request."""
        if (a.method, a.path) == (b.method, b.path):
            return True
        for rule in self.assets:
            if a.method == b.method and (strip_cache_busting(a.path, rule.target)
                                         == strip_cache_busting(b.path, rule.target)):
                self.tally[rule] += 1
                return True
        return False

    def _plain_assets(self, a: str, b: str, paths: tuple[str, str]) -> tuple[str, str]:
        """Both texts with asset URLs named without their cache-busting part."""
        for rule in self.assets:
            plain_a = strip_cache_busting(a, rule.target, inside=paths[0].startswith(rule.target))
            plain_b = strip_cache_busting(b, rule.target, inside=paths[1].startswith(rule.target))
            if a != b and (plain_a, plain_b) != (a, b):
                self.tally[rule] += 1
            a, b = plain_a, plain_b
        return a, b

    def pair(self, index: int, a: Exchange, b: Exchange) -> list[Difference]:
        request = a.request
        found: list[Difference] = []
        if a.error or b.error:
            if _error_type(a) != _error_type(b):
                found.append(Difference(index, request, "error", a.error or f"status {a.status}",
                                        b.error or f"status {b.status}"))
        else:
            if a.status != b.status:
                found.append(Difference(index, request, "status", str(a.status), str(b.status)))
            rest = (self.header_comparer.compare(index, request, a.path, a.headers, b.headers)
                    + self.body(index, request, a, b))
            error_rule = self.rules.error_body()
            if error_rule is not None and min(a.status or 0, b.status or 0) >= ERROR_STATUS:
                hidden = [d for d in rest if d.field == "body" or d.field.startswith("body:")
                          or d.field.lower().removeprefix("header:") in ERROR_BODY_HEADERS]
                if hidden:
                    self.tally[error_rule] += 1
                rest = [d for d in rest if d not in hidden]
            found += rest
        # What a test sends derives from what the environment told it (ids, tokens), so a
        # different request body is context for a different response, never a divergence.
        if found and a.request_body_sha256 != b.request_body_sha256:
            found.insert(0, Difference(index, request, "request body",
                                       f"sha256 {a.request_body_sha256 or '(empty)'}",
                                       f"sha256 {b.request_body_sha256 or '(empty)'}"))
        return found

    def body(self, index: int, request: str, a: Exchange, b: Exchange) -> list[Difference]:
        if "unread" in (a.body_encoding, b.body_encoding):
            return []
        kind_a, kind_b = body_kind(a.body_encoding, a.content_type), body_kind(
            b.body_encoding, b.content_type)
        if "binary" in (kind_a, kind_b):
            if (a.body_sha256, a.body_size) == (b.body_sha256, b.body_size):
                return []
            return [Difference(index, request, "body", _describe_bytes(a), _describe_bytes(b))]
        if kind_a == kind_b == "json":
            try:
                parsed_a, parsed_b = json.loads(a.body), json.loads(b.body)
            except ValueError:
                pass
            else:
                return self.json(index, request, parsed_a, parsed_b)
        return self.text(index, request, a.body, b.body, (a.path, b.path))

    def json(self, index: int, request: str, a: Any, b: Any) -> list[Difference]:
        found: list[Difference] = []
        hidden = 0
        for path, value_a, value_b in json_differences(a, b):
            rule = self.rules.json_path(path)
            if rule is not None:
                self.tally[rule] += 1
                continue
            if isinstance(value_a, str) and isinstance(value_b, str) and self._masked_equal(
                    value_a, value_b):
                continue
            if all(self.schemes) and (value_a, value_b) == self.schemes:
                self.tally[OWN_SCHEME] += 1
                continue
            if len(found) >= MAX_JSON_DIFFERENCES:
                hidden += 1
                continue
            field_name = "body:" + format_json_path(path)
            found.append(Difference(index, request, field_name, show_json(value_a),
                                    show_json(value_b)))
        if hidden:
            found.append(Difference(index, request, "body", f"… {hidden} more JSON differences",
                                    f"… {hidden} more JSON differences"))
        return found

    def _masked_equal(self, a: str, b: str) -> bool:
        applied: list[IgnoreRule] = []
        for rule in self.assets:
            plain_a, plain_b = (strip_cache_busting(a, rule.target),
                                strip_cache_busting(b, rule.target))
            if (plain_a, plain_b) != (a, b):
                applied.append(rule)
            a, b = plain_a, plain_b
        for rule in self.rules.of_kind("text_pattern"):
            a, found_a = mask_text(a, rule.target)
            b, found_b = mask_text(b, rule.target)
            if found_a != found_b:
                applied.append(rule)
        if a != b:
            return False
        self.tally.update(applied)
        return True

    def text(self, index: int, request: str, a: str, b: str,
             paths: tuple[str, str]) -> list[Difference]:
        a, b = self._plain_assets(a, b, paths)
        for rule in self.rules.of_kind("text_pattern"):
            a, found_a = mask_text(a, rule.target)
            b, found_b = mask_text(b, rule.target)
            if found_a != found_b:
                self.tally[rule] += 1
        if a == b:
            return []
        lines_a, lines_b = a.splitlines(), b.splitlines()
        excerpt_a, excerpt_b = excerpts(lines_a, lines_b)
        return [Difference(index, request, "body", excerpt_a, excerpt_b,
                           unified_diff(lines_a, lines_b))]


def _describe_bytes(exchange: Exchange) -> str:
    if exchange.body_sha256 is None:
        return ABSENT
    what = exchange.content_type or "no content type"
    return clip(f"{exchange.body_size} bytes, sha256 {exchange.body_sha256[:16]}…, {what}", 200)

