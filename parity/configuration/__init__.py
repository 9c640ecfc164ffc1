"""`[tool.parity]`: reading and validating the app's configuration (`load`, with the typed reads of
`reader`) into frozen objects (`model`), and the release steps' command lines (`release`).

May import: parity.support.
"""

from parity.configuration.load import find_config, load_config
from parity.configuration.model import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_DJANGO_RELEASE,
    DEFAULT_FRONTEND_IMAGE,
    AppKind,
    CompareConfig,
    FactsConfig,
    LocalConfig,
    ParityConfig,
    StackConfig,
)

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_DJANGO_RELEASE",
    "DEFAULT_FRONTEND_IMAGE",
    "AppKind",
    "CompareConfig",
    "FactsConfig",
    "LocalConfig",
    "ParityConfig",
    "StackConfig",
    "find_config",
    "load_config",
]
