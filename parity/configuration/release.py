"""The release step: the app's own commands (migrate, data loading) run in order, in each
environment with its own code against its own database, before it serves.

Commands are shown shell-quoted (`sh -c 'a && b'`, as the user would type them); with more than
one, each is named by its place ("release step 2 of 3") in progress lines and errors.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


def shown(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def label(index: int, total: int) -> str:
    return "release step" if total == 1 else f"release step {index + 1} of {total}"


def describe(steps: Sequence[Sequence[str]]) -> str:
    """All steps on one line, for a report: "a; b"."""
    return "; ".join(shown(step) for step in steps)
