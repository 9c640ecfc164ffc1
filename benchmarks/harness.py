"""The benchmark's pure logic: medians, figures, the targets (issues 8 and 19), results.json.

No Docker, no subprocesses: `run.py` measures, this module turns measurements into figures
and verdicts, so it can be unit-tested (tests/unit/test_benchmarks_harness.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "parity-benchmarks/1"

CASES: dict[str, str] = {
    "a": "local-only suite (pytest)",
    "b": "warm pytest --parity (images cached; the two sides at the same time)",
    "b-serial": "warm pytest --parity --parity-serial (one process, [local] then [stack] per test)",
    "b-n2": "warm pytest --parity -n 2 (two workers, each with its own environments)",
    "c": "cold pytest --parity (no parity images, empty wheel cache, no layer cache)",
    "d": "baseline script: build.sh, Postgres, migrate, compose up --wait, suite, down; plus (a)",
}

PHASES: tuple[tuple[str, str], ...] = (
    ("postgres ready", "postgres"),
    ("images", "images"),
    ("local release step", "local release"),
    ("stack release step", "stack release"),
    ("local server ready", "local server"),
    ("stack up and answering", "stack up"),
    ("environments ready", "environments"),
    ("local side could test after", "local ready"),
    ("stack side could test after", "stack ready"),
    ("start-up total", "startup"),
    ("tests", "tests"),
    ("facts (gathered, in the background)", "facts (gathered)"),
    ("facts (waited for)", "facts (waited)"),
    ("teardown", "teardown"),
)
"""(label, key in the JSON report's meta.phases) for the phase breakdown of (b) and (c)."""

WARM_FACTOR, WARM_ALLOWANCE = 1.3, 2.0
WARM_IMAGES_LIMIT = 0.5
COLD_RATIO_LIMIT = 0.6
TEARDOWN_LIMIT = 2.0
RECORDING_LIMIT = 0.05
PER_TEST_LIMIT = 1.35
"""Per-test wall cost of `pytest --parity` over local-only `pytest`, on the scaling suite."""


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are there; None when there are none."""
    present = [float(v) for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


@dataclass
class Run:
    """One measured run of one case."""

    case: str
    rep: int
    seconds: float
    ok: bool
    phases: dict[str, float] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    """(d) only: seconds per step of the baseline script."""
    load: float = 0.0
    """The 1-minute load average when the run started."""
    notes: list[str] = field(default_factory=list)

    @property
    def recording_share(self) -> float | None:
        """Time spent recording and comparing, as a share of the test phase (None if unknown)."""
        overhead = self.probe.get("overhead", {}).get("total")
        tests = self.phases.get("tests") or self.probe.get("tests_wall")
        if overhead is None or not tests:
            return None
        return float(overhead) / float(tests)

    def calls(self, side: str) -> float | None:
        """Sum of pytest's call-phase durations on one side (from the probe)."""
        value = self.probe.get("durations", {}).get(side, {}).get("call")
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rep": self.rep, "seconds": round(self.seconds, 3), "ok": self.ok,
                               "load": round(self.load, 2)}
        if self.phases:
            out["phases"] = self.phases
        if self.steps:
            out["steps"] = self.steps
        if self.probe:
            out["probe"] = self.probe
        if self.recording_share is not None:
            out["recording_share"] = round(self.recording_share, 4)
        if self.notes:
            out["notes"] = self.notes
        return out


def figure(case: str, runs: Sequence[Run]) -> dict[str, Any]:
    """Median seconds of a case's valid runs, with the median of each phase or step."""
    valid = [run for run in runs if run.ok]
    out: dict[str, Any] = {
        "label": CASES.get(case, case),
        "median": median(run.seconds for run in valid),
        "runs": [run.to_dict() for run in runs],
        "valid_runs": len(valid),
    }
    phase_keys = sorted({key for run in valid for key in run.phases})
    if phase_keys:
        out["phases"] = {key: median(run.phases.get(key) for run in valid) for key in phase_keys}
    step_keys = list(dict.fromkeys(key for run in valid for key in run.steps))
    if step_keys:
        out["steps"] = {key: median(run.steps.get(key) for run in valid) for key in step_keys}
    sides = sorted({side for run in valid for side in run.probe.get("durations", {})})
    if sides:
        out["test_calls"] = {side: median(run.calls(side) for run in valid) for side in sides}
    shares = [run.recording_share for run in valid]
    if any(share is not None for share in shares):
        out["recording_share"] = median(shares)
    return out


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    value: float | None
    limit: float | None
    unit: str = "s"

    @property
    def met(self) -> bool | None:
        if self.value is None or self.limit is None:
            return None
        return self.value <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "target": self.text, "value": self.value, "limit": self.limit,
                "unit": self.unit, "met": self.met,
                "by": None if self.met is None or self.value is None or self.limit is None
                else round(self.value - self.limit, 3)}

    def line(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        value = "-" if self.value is None else _fmt(self.value, self.unit)
        limit = "-" if self.limit is None else _fmt(self.limit, self.unit)
        return f"{verdict:>12}  {self.text}: {value} (limit {limit})"


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.2f}s"


def _phase(fig: Mapping[str, Any] | None, key: str) -> float | None:
    if not fig:
        return None
    value = fig.get("phases", {}).get(key)
    return None if value is None else float(value)


def targets(figures: Mapping[str, Mapping[str, Any]],
            scaling: Mapping[str, Any] | None = None) -> list[Target]:
    """The targets, evaluated on the medians of one run of the benchmark."""
    a, b, c, d = (figures.get(case) for case in "abcd")
    a_s, b_s, c_s, d_s = (None if f is None else f.get("median") for f in (a, b, c, d))
    teardowns = [t for t in (_phase(b, "teardown"), _phase(c, "teardown")) if t is not None]
    shares = [float(f["recording_share"]) for f in (b, c) if f and f.get("recording_share") is not None]
    return [
        Target("warm_overhead", f"warm parity run (b) <= {WARM_FACTOR} x local-only (a) + {WARM_ALLOWANCE:g} s",
               b_s, None if a_s is None else round(WARM_FACTOR * a_s + WARM_ALLOWANCE, 3)),
        Target("warm_images", "warm run's image phase (nothing rebuilt)", _phase(b, "images"),
               WARM_IMAGES_LIMIT),
        Target("cold_vs_baseline", "cold parity run (c) / baseline script (d)",
               None if c_s is None or not d_s else round(c_s / d_s, 3), COLD_RATIO_LIMIT, "x"),
        Target("teardown", "teardown (the slower of b's and c's medians)",
               max(teardowns) if teardowns else None, TEARDOWN_LIMIT),
        Target("recording_overhead", "recording + comparison, share of the test phase",
               max(shares) if shares else None, RECORDING_LIMIT, "%"),
        Target("per_test", "per-test wall cost of --parity / local-only (scaling suite)",
               None if scaling is None else scaling.get("parity_vs_local_per_test"), PER_TEST_LIMIT, "x"),
    ]


def scaling_figure(runs: Mapping[str, Sequence[Mapping[str, Any]]], tests: int) -> dict[str, Any]:
    """Per-test cost of each configuration vs local-only, and -n 2 vs one process, from the
    scaling runs.

    `runs` maps "local", "parity" (concurrent, the default), "parity serial", "local -n 2" and
    "parity -n 2" to runs with "seconds" (wall) and "tests_wall" (first test start to last test
    end, from the probe).
    """
    med = {name: median(r.get("seconds") for r in rs if r.get("ok")) for name, rs in runs.items()}
    loop = {name: median(r.get("tests_wall") for r in rs if r.get("ok")) for name, rs in runs.items()}

    def per_test(value: float | None) -> float | None:
        return None if value is None else round(value / tests, 4)

    def ratio(top: float | None, bottom: float | None) -> float | None:
        return None if top is None or not bottom else round(top / bottom, 3)

    local, parity = loop.get("local"), loop.get("parity")
    return {
        "tests": tests,
        "wall_seconds": med,
        "test_phase_seconds": loop,
        "per_test_seconds": {name: per_test(value) for name, value in loop.items()},
        "parity_overhead_per_test_seconds": None if local is None or parity is None
        else per_test(parity - local),
        "parity_vs_local_per_test": ratio(parity, local),
        "per_test_vs_local": {name: ratio(value, local) for name, value in loop.items()},
        "n2_vs_serial_wall": {"local": ratio(med.get("local -n 2"), med.get("local")),
                              "parity": ratio(med.get("parity -n 2"), med.get("parity serial")
                                              or med.get("parity"))},
        "parity_vs_serial_wall": ratio(med.get("parity"), med.get("parity serial")),
        "runs": {name: list(rs) for name, rs in runs.items()},
    }


def results(
    *,
    figures: Mapping[str, Mapping[str, Any]],
    machine: Mapping[str, Any],
    settings: Mapping[str, Any],
    scaling: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The document written to benchmarks/results.json."""
    evaluated = targets(figures, scaling)
    verdicts = [t.met for t in evaluated]
    return {
        "schema": SCHEMA,
        "settings": dict(settings),
        "machine": dict(machine),
        "figures": {case: dict(fig) for case, fig in figures.items()},
        "targets": [t.to_dict() for t in evaluated],
        "all_targets_met": all(v is True for v in verdicts),
        "scaling": dict(scaling) if scaling is not None else None,
    }


REQUIRED = {"schema": str, "settings": dict, "machine": dict, "figures": dict, "targets": list,
            "all_targets_met": bool}


def validate(document: Mapping[str, Any]) -> list[str]:
    """What is wrong with a results document (empty when it is well formed)."""
    problems = [f"{key}: missing or not {kind.__name__}" for key, kind in REQUIRED.items()
                if not isinstance(document.get(key), kind)]
    if problems:
        return problems
    if document["schema"] != SCHEMA:
        problems.append(f"schema: {document['schema']!r}, expected {SCHEMA!r}")
    for case, fig in document["figures"].items():
        if case not in CASES:
            problems.append(f"figures.{case}: unknown case")
        elif not isinstance(fig.get("runs"), list) or "median" not in fig:
            problems.append(f"figures.{case}: needs median and runs")
    for target in document["targets"]:
        if set(target) != {"key", "target", "value", "limit", "unit", "met", "by"}:
            problems.append(f"targets: malformed entry {target!r}")
    if "loadavg" not in document["machine"]:
        problems.append("machine.loadavg: missing (the load during the run)")
    return problems


def summary_lines(document: Mapping[str, Any]) -> list[str]:
    """What run.py prints at the end."""
    lines = ["case  median    valid  what"]
    for case, fig in document["figures"].items():
        value = fig.get("median")
        shown = "-" if value is None else f"{value:7.2f}s"
        lines.append(f"{case:<5} {shown:>8}  {fig.get('valid_runs', 0)}/{len(fig.get('runs', []))}"
                     f"    {fig.get('label', '')}")
    for case in ("b", "b-serial", "c"):
        phases = document["figures"].get(case, {}).get("phases", {})
        if phases:
            shown = ", ".join(f"{label} {phases[key]:.2f}s" for label, key in PHASES
                              if phases.get(key) is not None)
            lines.append(f"{case} phases: {shown}")
    for target in document["targets"]:
        lines.append(Target(target["key"], target["target"], target["value"], target["limit"],
                            target["unit"]).line())
    scaling = document.get("scaling")
    if scaling:
        lines.append(f"scaling ({scaling['tests']} tests): per test {scaling['per_test_seconds']}, "
                     f"vs local-only {scaling.get('per_test_vs_local')}, "
                     f"-n 2 / one process {scaling['n2_vs_serial_wall']}")
    load = document["machine"].get("loadavg", {})
    lines.append(f"load average during the run: mean {load.get('mean')}, max {load.get('max')} "
                 f"({document['machine'].get('cpus')} cpus)")
    return lines
