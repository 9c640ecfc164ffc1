"""Turn a unified diff (local → stack) into side-by-side rows for the terminal and HTML reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

RowTag = Literal["same", "changed", "removed", "added", "gap"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class Row:
    tag: RowTag
    local_no: int | None
    local: str | None
    stack_no: int | None
    stack: str | None


def side_by_side_rows(diff: str) -> list[Row]:
    """Rows of a unified diff: a run of "-" lines next to the "+" lines that replaced it."""
    lines = diff.splitlines()
    if len(lines) >= 2 and lines[0].startswith("--- ") and lines[1].startswith("+++ "):
        lines = lines[2:]
    rows: list[Row] = []
    local_no = stack_no = 1
    removed: list[tuple[int, str]] = []
    added: list[tuple[int, str]] = []

    def flush() -> None:
        for index in range(max(len(removed), len(added))):
            left = removed[index] if index < len(removed) else None
            right = added[index] if index < len(added) else None
            tag: RowTag = "changed" if left and right else ("removed" if left else "added")
            rows.append(Row(tag, left[0] if left else None, left[1] if left else None,
                            right[0] if right else None, right[1] if right else None))
        removed.clear()
        added.clear()

    for line in lines:
        hunk = _HUNK.match(line)
        if hunk:
            flush()
            if rows:
                rows.append(Row("gap", None, "…", None, "…"))
            local_no, stack_no = int(hunk.group(1)), int(hunk.group(2))
        elif line.startswith("-"):
            if added:
                flush()
            removed.append((local_no, line[1:]))
            local_no += 1
        elif line.startswith("+"):
            added.append((stack_no, line[1:]))
            stack_no += 1
        elif line.startswith(" "):
            flush()
            rows.append(Row("same", local_no, line[1:], stack_no, line[1:]))
            local_no += 1
            stack_no += 1
        elif line.strip():
            flush()
            rows.append(Row("gap", None, line, None, line))
    flush()
    return rows
