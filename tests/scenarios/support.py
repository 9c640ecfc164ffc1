"""scenarios/drifts/apply.py (a standalone script, not a package) loaded for the tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load_apply() -> ModuleType:
    spec = importlib.util.spec_from_file_location("drift_apply", ROOT / "scenarios" / "drifts" / "apply.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


apply = _load_apply()
DRIFTS: list[Path] = apply.scenario_dirs()
