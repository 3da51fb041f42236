"""Benchmark: expand a 100,000-variant space and scan a 10,000-run sweep directory.

    python bench/bench_space.py [--repeats 5]

Each figure is the median of several repeats, printed beside a bare baseline measured in the same
run on the same data: ``itertools.product`` + ``json.dumps`` for the expansion (what any sweep tool
must at least do), ``os.walk`` + ``json.load`` of every ``status.json`` for the scan.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestra.rundir import Exit, Reason, State, Status, SweepDir, scan
from orchestra.space import Config, Description, ExperimentGrid, Grid

AXES = 5
PER_AXIS = 10  # 10**5 = 100,000 variants
VARIANTS = 1_000
SEEDS = 10  # 10,000 runs


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def grid_values() -> dict[str, list[float]]:
    return {f"param{i}": [round(0.1 * j + i, 3) for j in range(PER_AXIS)] for i in range(AXES)}


def baseline_expand() -> list[str]:
    values = grid_values()
    keys = list(values)
    return [json.dumps(dict(zip(keys, combo))) for combo in itertools.product(*values.values())]


def expand_config() -> int:
    return len(Config({k: Grid(v) for k, v in grid_values().items()} | {"env": "CartPole-v1"}).variants())


def expand_experiment_grid() -> int:
    eg = ExperimentGrid("bench")
    eg.add("env", "CartPole-v1")
    for k, v in grid_values().items():
        eg.add(k, v)
    return len(eg.variants())


def expand_description() -> int:
    return len(Description({"metaParameters": grid_values(), "environment": "CartPole-v1"}).variants())


def build_sweep(root: Path) -> SweepDir:
    sweep = SweepDir(root / "bench-sweep")
    done = Status(State.QUEUED, queued_at=1.0).moved(
        State.RUNNING, 2.0, attempt=1, pid=4242, host="bench", started_at=2.0
    )
    done = done.moved(State.COMPLETED, 9.0, ended_at=9.0, exit=Exit(Reason.SUCCESS, 0))
    for v in range(VARIANTS):
        for seed in range(SEEDS):
            run = sweep.run(f"lr={v}_bs={v % 7}", seed)
            run.path.mkdir(parents=True)
            run.write_status(done)
    return sweep


def baseline_scan(sweep: SweepDir) -> int:
    n = 0
    for directory, _, files in os.walk(sweep.runs):
        if "status.json" in files:
            with open(os.path.join(directory, "status.json")) as f:
                json.load(f)
            n += 1
    return n


def row(what: str, seconds: float, baseline: float, unit: str) -> None:
    print(
        f"  {what:<44} {seconds * 1000:9.1f} ms   baseline {baseline * 1000:8.1f} ms   ratio {seconds / baseline:5.2f}x  {unit}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = PER_AXIS**AXES

    print(f"expand {n:,} variants ({AXES} axes x {PER_AXIS} values), median of {args.repeats}")
    assert expand_config() == expand_experiment_grid() == expand_description() == len(baseline_expand()) == n
    base = median_seconds(baseline_expand, args.repeats)
    for what, fn in [
        ("Config with 5 Grids .variants()", expand_config),
        ("ExperimentGrid with 5 keys .variants()", expand_experiment_grid),
        ("Description with 5 swept keys .variants()", expand_description),
    ]:
        took = median_seconds(fn, args.repeats)
        row(what, took, base, f"{took / n * 1e6:.1f} us/variant")

    with tempfile.TemporaryDirectory(prefix="orchestra-bench-") as tmp:
        start = time.perf_counter()
        sweep = build_sweep(Path(tmp))
        built = time.perf_counter() - start
        runs = VARIANTS * SEEDS
        print(
            f"\nscan a sweep of {runs:,} runs (status.json each, written by rundir in {built:.1f} s), median of {args.repeats}"
        )
        records = scan(sweep)
        assert len(records) == runs == baseline_scan(sweep) and all(r.status is not None for r in records)
        base = median_seconds(lambda: baseline_scan(sweep), args.repeats)
        took = median_seconds(lambda: scan(sweep), args.repeats)
        row("scan(sweep) -> RunRecords with Status", took, base, f"{took / runs * 1e6:.1f} us/run")


if __name__ == "__main__":
    main()
