"""Structural JSON differences and bounded text diffs, shared by compare and learn."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from typing import Any

from parity.comparison.noise import JsonSegment

ABSENT = "(absent)"
MAX_VALUE_CHARS = 500
MAX_DIFF_LINES = 200
MAX_DIFF_INPUT_LINES = 5000
EXCERPT_CHARS = 160


class _Absent:
    def __repr__(self) -> str:
        return ABSENT


MISSING: Any = _Absent()
"""Stands for a key or list item one side does not have."""

JsonDifference = tuple[tuple[JsonSegment, ...], Any, Any]


def json_differences(a: Any, b: Any, path: tuple[JsonSegment, ...] = ()) -> list[JsonDifference]:
    """Every leaf-most place where two parsed JSON documents differ (object key order aside)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[JsonDifference] = []
        for key in dict.fromkeys([*a, *b]):
            found += json_differences(a.get(key, MISSING), b.get(key, MISSING), (*path, key))
        return found
    if isinstance(a, list) and isinstance(b, list):
        found = []
        for index in range(max(len(a), len(b))):
            found += json_differences(a[index] if index < len(a) else MISSING,
                                      b[index] if index < len(b) else MISSING, (*path, index))
        return found
    # bool is an int and 1 == 1.0 in Python; in JSON they are different values.
    if type(a) is type(b) and a == b:
        return []
    return [(path, a, b)]


def show_json(value: Any) -> str:
    if value is MISSING:
        return ABSENT
    return clip(json.dumps(value, ensure_ascii=False, sort_keys=True), MAX_VALUE_CHARS)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_difference(a: Sequence[str], b: Sequence[str]) -> int:
    """Index of the first line that differs (len of the shorter when one is a prefix)."""
    for index, (left, right) in enumerate(zip(a, b, strict=False)):
        if left != right:
            return index
    return min(len(a), len(b))


def excerpts(a_lines: Sequence[str], b_lines: Sequence[str]) -> tuple[str, str]:
    """"line N: …text…" for each side, centred on the first differing character."""
    line = first_difference(a_lines, b_lines)
    left = a_lines[line] if line < len(a_lines) else None
    right = b_lines[line] if line < len(b_lines) else None
    column = 0
    if left is not None and right is not None:
        column = next((i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y),
                      min(len(left), len(right)))

    def show(text: str | None) -> str:
        if text is None:
            return f"line {line + 1}: (end of body)"
        start = max(0, column - 40)
        piece = text[start: start + EXCERPT_CHARS]
        prefix = "…" if start else ""
        suffix = "…" if start + EXCERPT_CHARS < len(text) else ""
        return f"line {line + 1}: {prefix}{piece}{suffix}"

    return show(left), show(right)


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def unified_diff(a_lines: Sequence[str], b_lines: Sequence[str]) -> str:
    """A unified diff (local → stack) of at most MAX_DIFF_LINES lines, fast on huge bodies."""
    start = 0
    if max(len(a_lines), len(b_lines)) > MAX_DIFF_INPUT_LINES:
        start = max(0, first_difference(a_lines, b_lines) - 3)
        a_lines = a_lines[start: start + MAX_DIFF_INPUT_LINES]
        b_lines = b_lines[start: start + MAX_DIFF_INPUT_LINES]
    lines = list(difflib.unified_diff(a_lines, b_lines, "local", "stack", n=3, lineterm=""))
    if start:
        lines = [_shift_hunk(line, start) for line in lines]
    if not lines:
        return "(the bodies differ only in line endings or a final newline)"
    if len(lines) > MAX_DIFF_LINES:
        hidden = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"… {hidden} more diff lines"]
    return "\n".join(lines)


def _shift_hunk(line: str, offset: int) -> str:
    match = _HUNK.match(line)
    if not match:
        return line
    a, a_len, b, b_len = match.groups()
    return (f"@@ -{int(a) + offset}{a_len or ''} +{int(b) + offset}{b_len or ''} @@"
            + line[match.end():])
