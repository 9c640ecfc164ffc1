"""One progress mark per test pair: the twins of a test ([local], [stack], [local-rerun]) show
as one letter (one line with -v), given when the last twin reports, the worst of theirs.

The other twins' reports keep their category, so pytest's counts ("126 passed") are those of
a serial run; only their letter and word are held back. After the test loop every report
shows as pytest would show it (the short test summary asks again).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from parity.comparison.recording import base_test_id, side_of

_RANK = {"F": 6, "E": 5, "X": 4, "x": 3, "s": 2, "R": 1}


class PairMarks:
    def __init__(self, sides: Iterable[str]) -> None:
        self.sides = tuple(sides)
        self.active = True
        self._twins: dict[str, int] = {}
        self._seen: dict[str, dict[str, tuple[str, str, Any]]] = {}
        self._shown: set[str] = set()
        self._decided: dict[tuple[str, str], tuple[str, Any]] = {}
        self.held: list[str] = []
        """The twins whose marks the last pair mark stands for (pytest's progress counts them)."""

    def expect(self, nodeids: Iterable[str]) -> None:
        """The collected tests: how many twins each test has."""
        counts = Counter(self._base(nodeid)[1] for nodeid in nodeids)
        self._twins = {base: count for base, count in counts.items() if base and count > 1}

    def mark(self, nodeid: str, when: str, letter: str, word: Any) -> tuple[str, Any]:
        """The letter and word to show for one report (the same answer when asked again)."""
        if not self.active or not (letter or word):
            return letter, word
        key = (nodeid, when)
        if key not in self._decided:
            self._decided[key] = self._decide(nodeid, letter, word)
        return self._decided[key]

    def _base(self, nodeid: str) -> tuple[str | None, str | None]:
        side = side_of(nodeid, self.sides)
        return side, base_test_id(nodeid, side) if side else None

    def _decide(self, nodeid: str, letter: str, word: Any) -> tuple[str, Any]:
        side, base = self._base(nodeid)
        if side is None or base is None or base not in self._twins or base in self._shown:
            return letter, word  # not a twin, or a further mark (an error at teardown): as pytest shows it
        seen = self._seen.setdefault(base, {})
        if nodeid in seen:
            return letter, word
        seen[nodeid] = (side, letter, word)
        if len(seen) < self._twins[base]:
            return "", ""
        del self._seen[base]
        self._shown.add(base)
        self.held = [twin for twin in seen if twin != nodeid]
        marks = sorted(seen.values(), key=lambda mark: self.sides.index(mark[0]))
        worst = max(marks, key=lambda mark: _RANK.get(mark[1], 0))
        texts = [_text(mark[2]) for mark in marks]
        text = texts[0] if len(set(texts)) == 1 else ", ".join(
            f"{mark[0]} {shown}" for mark, shown in zip(marks, texts, strict=True))
        combined = (text, worst[2][1]) if isinstance(worst[2], tuple) else text
        return worst[1], combined


def _text(word: Any) -> str:
    return str(word[0]) if isinstance(word, tuple) else str(word)
