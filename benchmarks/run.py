"""Measure parity on the reference app and write benchmarks/results.json.

    python benchmarks/run.py [--reps 3] [--quick] [--only a,b,b-serial,b-n2,c,d,scaling] [--out PATH]

Cases (see benchmarks/README.md), run side by side and alternating, `--reps` times each:
(a) local-only suite, (b) warm `pytest --parity` (the sides at the same time), (b-serial) the
same in one process, (b-n2) the same with `-n 2`, (c) cold `pytest --parity`, (d) the
sequential script a user would write without parity; then the scaling figure (200 generated
tests: the per-test cost of each way of running vs local-only). Medians, the phase breakdown of
(b), (b-serial) and (c), the targets and the load average during the run go to results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import baseline, harness  # noqa: E402 - after the path fix: run as a script
from benchmarks.cases import CASE_RUNNERS, Bench, base_image_env, pytest_run  # noqa: E402
from benchmarks.scaling import TESTS, run_scaling  # noqa: E402

ALL = ",".join([*harness.CASES, "scaling"])


class LoadSampler:
    """os.getloadavg() every few seconds while the benchmark runs (the machine may be shared)."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, Any]:
        samples = self.samples or [os.getloadavg()[0]]
        return {"mean": round(sum(samples) / len(samples), 2), "max": round(max(samples), 2),
                "min": round(min(samples), 2), "samples": len(samples), "every_seconds": self.every,
                "at_end": [round(x, 2) for x in os.getloadavg()]}


def machine(load: dict[str, Any]) -> dict[str, Any]:
    def version(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "unknown"

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "docker": version(["docker", "version", "--format", "{{.Server.Version}}"]),
            "compose": version(["docker", "compose", "version", "--short"]), "loadavg": load}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each case (default 3)")
    parser.add_argument("--quick", action="store_true", help="one repetition of everything: for debugging")
    parser.add_argument("--only", default=ALL, help=f"comma-separated subset of {ALL}")
    parser.add_argument("--app", type=Path, default=ROOT / "scenarios" / "labbook", help="the reference app")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: benchmarks/results.json; benchmarks/out/results-partial.json "
                             "for --quick or --only runs")
    parser.add_argument("--tests", type=int, default=TESTS, help="size of the generated scaling suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps = 1
    if args.out is None:
        partial = args.quick or args.reps < 3 or set(args.only.split(",")) != set(ALL.split(","))
        args.out = ROOT / "benchmarks" / ("out/results-partial.json" if partial else "results.json")
    unknown = set(args.only.split(",")) - {*harness.CASES, "scaling"}
    if unknown or args.reps < 1:
        parser.error(f"--only: unknown {sorted(unknown)}" if unknown else "--reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    wanted = args.only.split(",")
    cases = [case for case in CASE_RUNNERS if case in wanted]
    work = ROOT / "benchmarks" / "out"
    work.mkdir(parents=True, exist_ok=True)

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    images = base_image_env(sys.executable)
    if len(images) != 2:
        say("base images unknown: run `parity base-image` or set PARITY_BASE_IMAGE and PARITY_FRONTEND_IMAGE")
        return 6
    env = {**os.environ, **images}
    bench = Bench(app=args.app.resolve(), python=sys.executable, out=work, env=env,
                  plugins=ROOT / "benchmarks" / "plugins", say=say)
    started = datetime.now(UTC)
    runs: dict[str, list[harness.Run]] = {case: [] for case in cases}
    scaling_runs: dict[str, list[dict[str, Any]]] | None = None
    with LoadSampler() as load:
        if {"b", "b-serial", "b-n2", "c"} & set(cases):
            say("warm-up: pytest --parity (untimed: builds the images when the app changed)")
            warmup = pytest_run(bench, "warmup", 0, ["--parity"])
            if not warmup.ok:
                say(f"warm-up failed: {'; '.join(warmup.notes)}")
                return 1
        for rep in range(args.reps):
            for case in cases:
                run = CASE_RUNNERS[case](bench, rep)
                runs[case].append(run)
                say(f"{case} rep {rep + 1}/{args.reps}: {run.seconds:.1f}s "
                    f"(load {run.load:.2f}){'' if run.ok else ' INVALID: ' + '; '.join(run.notes)}")
        if "scaling" in wanted:
            scaling_runs = run_scaling(bench, args.reps, args.tests)
    if "d" in cases:
        baseline.remove_images()  # the baseline's own two images; parity's stay (they are its cache)
    figures = {case: harness.figure(case, case_runs) for case, case_runs in runs.items()}
    scaling = harness.scaling_figure(scaling_runs, args.tests) if scaling_runs else None
    document = harness.results(
        figures=figures, machine=machine(load.summary()), scaling=scaling,
        settings={"reps": args.reps, "quick": args.quick, "app": str(bench.app.relative_to(ROOT)),
                  "started": started.isoformat(timespec="seconds"),
                  "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
                  "base_image": images["PARITY_BASE_IMAGE"], "frontend_image": images["PARITY_FRONTEND_IMAGE"]})
    problems = harness.validate(document)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    for line in harness.summary_lines(document):
        say(line)
    say(f"wrote {args.out}")
    if problems:
        say("results.json is malformed: " + "; ".join(problems))
        return 3
    return 0 if document["all_targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
