"""The benchmark harness's pure logic: medians, figures, target verdicts, results.json schema.

The benchmarks themselves are never run here: speed is measured by `benchmarks/run.py`.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from benchmarks import harness
from benchmarks.harness import Run
from benchmarks.scaling import ENDPOINTS, generated_module


def test_median_ignores_missing_values_and_rounds() -> None:
    assert harness.median([3.0, None, 1.0, 2.0]) == 2.0
    assert harness.median([1.0, 2.0]) == 1.5
    assert harness.median([0.12345]) == 0.123
    assert harness.median([None, None]) is None
    assert harness.median([]) is None


def test_figure_takes_medians_of_valid_runs_only() -> None:
    runs = [
        Run("b", 0, 20.0, True, phases={"images": 0.02, "teardown": 1.0, "tests": 10.0},
            probe={"overhead": {"total": 0.2}, "durations": {"local": {"call": 4.0}, "stack": {"call": 5.0}}}),
        Run("b", 1, 99.0, False, phases={"images": 30.0}, notes=["not warm"]),
        Run("b", 2, 22.0, True, phases={"images": 0.04, "teardown": 1.4, "tests": 10.0},
            probe={"overhead": {"total": 0.4}, "durations": {"local": {"call": 6.0}, "stack": {"call": 5.0}}}),
    ]
    figure = harness.figure("b", runs)
    assert figure["median"] == 21.0
    assert figure["valid_runs"] == 2
    assert len(figure["runs"]) == 3
    assert figure["phases"]["images"] == 0.03
    assert figure["phases"]["teardown"] == 1.2
    assert figure["recording_share"] == 0.03
    assert figure["test_calls"] == {"local": 5.0, "stack": 5.0}
    assert figure["runs"][1]["notes"] == ["not warm"]


def test_figure_keeps_the_order_of_baseline_steps() -> None:
    runs = [Run("d", 0, 40.0, True, steps={"postgres start": 1.0, "build": 13.0}),
            Run("d", 1, 42.0, True, steps={"postgres start": 3.0, "build": 11.0})]
    assert list(harness.figure("d", runs)["steps"].items()) == [("postgres start", 2.0), ("build", 12.0)]


def _figures(a: float, b: float, c: float, d: float, **phases: float) -> dict[str, dict[str, Any]]:
    b_phases = {"images": phases.get("images", 0.02), "teardown": phases.get("teardown_b", 1.0)}
    c_phases = {"images": 12.0, "teardown": phases.get("teardown_c", 1.5)}
    return {
        "a": {"median": a},
        "b": {"median": b, "phases": b_phases, "recording_share": phases.get("share", 0.01)},
        "c": {"median": c, "phases": c_phases, "recording_share": 0.02},
        "d": {"median": d},
    }


SCALING = {"parity_vs_local_per_test": 1.3}


def test_every_target_met() -> None:
    targets = {t.key: t for t in harness.targets(_figures(10.0, 14.0, 30.0, 60.0), SCALING)}
    assert targets["warm_overhead"].limit == 15.0  # 1.3 x a + 2 s
    assert targets["cold_vs_baseline"].value == 0.5
    assert targets["teardown"].value == 1.5  # the slower of b and c
    assert targets["recording_overhead"].value == 0.02
    assert targets["per_test"].value == 1.3
    assert all(t.met for t in targets.values())


@pytest.mark.parametrize(("figures", "scaling", "missed"), [
    (_figures(10.0, 15.5, 30.0, 60.0), SCALING, "warm_overhead"),
    (_figures(10.0, 14.0, 30.0, 60.0, images=0.6), SCALING, "warm_images"),
    (_figures(10.0, 14.0, 37.0, 60.0), SCALING, "cold_vs_baseline"),
    (_figures(10.0, 14.0, 30.0, 60.0, teardown_b=2.3), SCALING, "teardown"),
    (_figures(10.0, 14.0, 30.0, 60.0, share=0.06), SCALING, "recording_overhead"),
    (_figures(10.0, 14.0, 30.0, 60.0), {"parity_vs_local_per_test": 1.4}, "per_test"),
])
def test_each_target_can_be_missed(figures: dict[str, dict[str, Any]], scaling: dict[str, Any],
                                   missed: str) -> None:
    verdicts = {t.key: t.met for t in harness.targets(figures, scaling)}
    assert verdicts.pop(missed) is False
    assert all(verdicts.values())
    by = {t["key"]: t["by"] for t in harness.results(figures=figures, machine={"loadavg": {}},
                                                      settings={}, scaling=scaling)["targets"]}
    assert by[missed] > 0


def test_targets_without_measurements_are_not_measured_and_not_met() -> None:
    targets = harness.targets({"a": {"median": 10.0}})
    assert {t.met for t in targets} == {None}
    document = harness.results(figures={"a": {"median": 10.0, "runs": []}}, machine={"loadavg": {}},
                               settings={}, scaling=None)
    assert document["all_targets_met"] is False


def test_results_document_is_valid_json_with_the_schema() -> None:
    runs = {case: [Run(case, 0, 10.0 * (i + 1), True, phases={"images": 0.01, "teardown": 1.0})]
            for i, case in enumerate("abcd")}
    figures = {case: harness.figure(case, case_runs) for case, case_runs in runs.items()}
    document = harness.results(figures=figures, machine={"cpus": 2, "loadavg": {"mean": 1.0, "max": 2.0}},
                               settings={"reps": 1}, scaling=None)
    assert harness.validate(json.loads(json.dumps(document))) == []
    assert document["schema"] == harness.SCHEMA
    assert [t["key"] for t in document["targets"]] == [
        "warm_overhead", "warm_images", "cold_vs_baseline", "teardown", "recording_overhead", "per_test"]
    assert any("cold parity run" in line for line in harness.summary_lines(document))


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda d: d.pop("targets"), "targets: missing"),
    (lambda d: d.update(schema="other/1"), "schema: 'other/1'"),
    (lambda d: d["machine"].pop("loadavg"), "machine.loadavg"),
    (lambda d: d["figures"].update(z={"median": 1, "runs": []}), "figures.z: unknown case"),
    (lambda d: d["figures"]["a"].pop("runs"), "figures.a: needs median and runs"),
])
def test_validate_names_what_is_wrong(damage: Any, problem: str) -> None:
    document = harness.results(figures={"a": {"median": 1.0, "runs": []}}, machine={"loadavg": {}},
                               settings={}, scaling=None)
    damage(document)
    assert any(problem in line for line in harness.validate(document))


def test_scaling_figure_per_test_overhead_and_parallel_ratio() -> None:
    def runs(seconds: float, loop: float) -> list[dict[str, Any]]:
        return [{"seconds": seconds, "tests_wall": loop, "ok": True},
                {"seconds": 999.0, "tests_wall": 999.0, "ok": False}]

    figure = harness.scaling_figure({"local": runs(10.0, 4.0), "parity": runs(12.0, 5.0),
                                     "parity serial": runs(20.0, 10.0), "local -n 2": runs(8.0, 3.0),
                                     "parity -n 2": runs(15.0, 7.0)}, 200)
    assert figure["per_test_seconds"]["local"] == 0.02
    assert figure["parity_overhead_per_test_seconds"] == 0.005
    assert figure["parity_vs_local_per_test"] == 1.25
    assert figure["per_test_vs_local"] == {"local": 1.0, "parity": 1.25, "parity serial": 2.5,
                                           "local -n 2": 0.75, "parity -n 2": 1.75}
    assert figure["n2_vs_serial_wall"] == {"local": 0.8, "parity": 0.75}
    assert figure["parity_vs_serial_wall"] == 0.6


def test_generated_tests_are_python_with_distinct_names_and_known_endpoints() -> None:
    source = generated_module(3)
    tree = ast.parse(source)
    names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert len(names) == len(set(names)) == 20
    assert names[0] == "test_generated_060"
    paths = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and node.value.startswith("/")]
    assert paths and set(paths) <= set(ENDPOINTS)
