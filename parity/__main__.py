"""`python -m parity`: the same as the `parity` command."""

from __future__ import annotations

import sys

from parity.cli import main

if __name__ == "__main__":
    sys.exit(main())
