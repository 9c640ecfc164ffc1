"""parity: prove the containerized stack behaves like the local dev server.

The public API, for tests and for code that drives parity without pytest. Names load on first
use, so `parity --help` and the dev server parity starts do not import Docker, Postgres and
the comparison. The layers behind them are parity's subpackages (see the README's "How parity
works"): support, configuration, machine, facts, comparison, environments, reports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from parity.support.version import VERSION

if TYPE_CHECKING:
    from parity.comparison.compare import Difference, Verdict, compare
    from parity.comparison.noise import IgnoreRule, NoiseRules
    from parity.comparison.recording import Exchange, Recording, RecordingSession
    from parity.configuration import ParityConfig, find_config, load_config
    from parity.environments.environment import Environment
    from parity.environments.session import ParitySession
    from parity.reports.summary import Summary, read_json
    from parity.support.errors import ParityConfigError, ParityError

__version__ = VERSION

__all__ = [
    "Difference",
    "Environment",
    "Exchange",
    "IgnoreRule",
    "NoiseRules",
    "ParityConfig",
    "ParityConfigError",
    "ParityError",
    "ParitySession",
    "Recording",
    "RecordingSession",
    "Summary",
    "Verdict",
    "compare",
    "find_config",
    "load_config",
    "read_json",
]

_HOMES = {
    "Difference": "parity.comparison.compare",
    "Environment": "parity.environments.environment",
    "Exchange": "parity.comparison.recording",
    "IgnoreRule": "parity.comparison.noise",
    "NoiseRules": "parity.comparison.noise",
    "ParityConfig": "parity.configuration",
    "ParityConfigError": "parity.support.errors",
    "ParityError": "parity.support.errors",
    "ParitySession": "parity.environments.session",
    "Recording": "parity.comparison.recording",
    "RecordingSession": "parity.comparison.recording",
    "Summary": "parity.reports.summary",
    "Verdict": "parity.comparison.compare",
    "compare": "parity.comparison.compare",
    "find_config": "parity.configuration",
    "load_config": "parity.configuration",
    "read_json": "parity.reports.summary",
}
"""Where each public name lives: the module `__getattr__` imports on first use."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'parity' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
