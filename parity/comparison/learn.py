"""Learn noise the way Diffy does: what differs between two runs of the SAME side of one test
cannot be a difference between the environments, so it is noise for that test."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections import Counter
from typing import Any

from parity.comparison.bodydiff import json_differences
from parity.comparison.headerdiff import HeaderComparer
from parity.comparison.noise import (
    BUILTIN_NOISE,
    IgnoreRule,
    JsonSegment,
    NoiseRules,
    RuleKind,
    format_json_path,
    mask_text,
)
from parity.comparison.normalize import body_kind, cookies_by_name, header_map
from parity.comparison.recording import Exchange, Recording

MIN_CONTEXT_CHARS = 4
"""A learned line pattern needs this much fixed text around the changing part."""


def learn_noise(first: Recording, second: Recording, known: NoiseRules | None = None) -> NoiseRules:
    """Rules (source "learned") for what changed between two runs of one side of one test.

    What `known` (default: the built-in noise) already covers is not learned again. JSON
    list indices become `[*]` except in last position, text lines become line patterns.
    """
    known = (BUILTIN_NOISE if known is None else known).merge(first.ignores, second.ignores)
    learner = _Learner(known, f"changed between two runs of the {first.environment} side")
    for a, b in zip(first.exchanges, second.exchanges, strict=False):
        if (a.method, a.path) != (b.method, b.path):
            break
        if not (a.error or b.error):
            learner.exchange(a, b)
    return NoiseRules(learner.rules).merge()


class _Learner:
    def __init__(self, known: NoiseRules, reason: str) -> None:
        self.known = known
        self.reason = reason
        self.rules: list[IgnoreRule] = []

    def add(self, kind: RuleKind, target: str) -> None:
        self.rules.append(IgnoreRule(kind, target, self.reason, "learned"))

    def exchange(self, a: Exchange, b: Exchange) -> None:
        self.headers(a, b)
        if "unread" in (a.body_encoding, b.body_encoding):
            return
        kind_a = body_kind(a.body_encoding, a.content_type)
        kind_b = body_kind(b.body_encoding, b.content_type)
        if kind_a == kind_b == "json":
            try:
                self.json(json.loads(a.body), json.loads(b.body))
                return
            except ValueError:
                pass
        if kind_a != "binary" and kind_b != "binary":
            self.text(a.body, b.body)

    def headers(self, a: Exchange, b: Exchange) -> None:
        map_a, map_b = header_map(a.headers), header_map(b.headers)
        # What the known rules already absorb (an Expires that moves with Date, a policy
        # note on a static file) is not learned as a header to ignore entirely.
        still = {d.field.removeprefix("header:").lower()
                 for d in HeaderComparer(self.known, Counter()).compare(0, "", a.path, a.headers,
                                                                        b.headers)}
        for name in dict.fromkeys([*map_a, *map_b]):
            values_a = map_a[name][1] if name in map_a else []
            values_b = map_b[name][1] if name in map_b else []
            if values_a == values_b or self.known.header(name) is not None:
                continue
            if name != "set-cookie":
                if name in still:
                    self.add("header", name)
                continue
            cookies_a, cookies_b = cookies_by_name(values_a), cookies_by_name(values_b)
            for cookie_name in set(cookies_a) & set(cookies_b):
                for x, y in zip(cookies_a[cookie_name], cookies_b[cookie_name], strict=False):
                    if x.value != y.value and self.known.cookie_value(cookie_name) is None:
                        self.add("cookie_value", cookie_name)
                    for attribute in set(x.attributes) & set(y.attributes):
                        if (x.attributes[attribute] != y.attributes[attribute]
                                and self.known.cookie_attr(attribute) is None):
                            self.add("cookie_attr", attribute)

    def json(self, a: Any, b: Any) -> None:
        for path, value_a, value_b in json_differences(a, b):
            if self.known.json_path(path) is not None:
                continue
            if isinstance(value_a, str) and isinstance(value_b, str):
                if self._masked(value_a) == self._masked(value_b):
                    continue
            general: list[JsonSegment | None] = [
                None if isinstance(segment, int) and position < len(path) - 1 else segment
                for position, segment in enumerate(path)]
            self.add("json_path", format_json_path(general))

    def text(self, a: str, b: str) -> None:
        lines_a, lines_b = self._masked(a).splitlines(), self._masked(b).splitlines()
        matcher = difflib.SequenceMatcher(None, lines_a, lines_b, autojunk=False)
        for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
            if tag != "replace" or a_end - a_start != b_end - b_start:
                continue
            for left, right in zip(lines_a[a_start:a_end], lines_b[b_start:b_end], strict=True):
                pattern = line_pattern(left, right)
                if pattern is not None:
                    self.add("text_pattern", pattern)

    def _masked(self, text: str) -> str:
        for rule in self.known.of_kind("text_pattern"):
            text, _ = mask_text(text, rule.target)
        return text


def line_pattern(a: str, b: str) -> str | None:
    """A regex matching both lines, with the part that changed as its group, or None when
    too little around the change is fixed to make a specific pattern."""
    prefix = os.path.commonprefix([a, b])
    tail = os.path.commonprefix([a[len(prefix):][::-1], b[len(prefix):][::-1]])[::-1]
    # Back off to token boundaries: "12:00:0" must not pin the first digits of a time.
    prefix = re.sub(r"[\w.:+-]+$", "", prefix)
    tail = re.sub(r"^[\w.:+-]+", "", tail)
    if len(prefix.strip()) + len(tail.strip()) < MIN_CONTEXT_CHARS:
        return None
    return f"^{re.escape(prefix)}(.*?){re.escape(tail)}$"
