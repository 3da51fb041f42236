"""Search benchmarks (issue #13): every candidate a real run, each figure beside its baseline, one run.

    python bench/bench_search.py [cmaes|asha|tpe|all] [--workers 2] [--repeats 3]

cmaes  CMA-ES through orchestra on a 10-D Rosenbrock (each evaluation a run of its own) against
       ``cma`` called in-process with the same seed on the same function of the same unit-cube
       point: the best value after each evaluation must be the same curve. Overhead per
       generation: the orchestrator's dead time between a generation's last run ending and the
       next generation's first run starting (scoring, tell, ask, sweep.json, spawn), and the wall
       time per generation beside the in-process loop's.
asha   A synthetic learning-curve task with a known best config: 81 configs whose curves rise to
       known final values (time constants 6-10 steps, noise 0.02), 81 steps each. The full grid,
       ASHA (grace 3, reduction factor 3) and median stopping (grace 9) on it: run-steps spent
       (records logged, the steps a stopped run logged before its SIGTERM landed included) as a
       share of the full grid's, and whether the known best config ran to the end and came out
       best. Orders of arrival differ between repeats (the grid shuffled); medians.
tpe    Optuna's TPE against random search on the same budget (40 candidates, 2 at a time) and
       task (the 6-D Hartmann function, minimum -3.32237): the best value found, over search seeds;
       medians.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def run_sweep(work: Path, name: str, body: str, workers: int) -> Path:
    """Run a sweep file in this process as ``orchestra up`` would (metrics read every 20 ms)."""
    import anyio

    from orchestra.plan.loader import load_sweep_file
    from orchestra.service.session import UpOptions, prepare, run_prepared

    path = work / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    options = UpOptions(root=work / "sweeps", workers=workers, cwd=work, metrics_interval=0.02, grace=5)
    summary, session = anyio.run(run_prepared, prepare(load_sweep_file(str(path)), options))
    if summary.exit_code != 0:
        raise SystemExit(
            f"{name}: the sweep ended with {summary.exit_code}: {summary.error or summary.counts}"
        )
    return session.sweep_dir.path


def told(sweep_dir: Path) -> list[dict[str, Any]]:
    return sorted(json.loads((sweep_dir / "search.json").read_text())["told"], key=lambda c: c["trial"])


def statuses(sweep_dir: Path) -> dict[str, Any]:
    from orchestra.rundir import SweepDir, planned_runs

    sweep = SweepDir(sweep_dir)
    return {r.id: r.dir.read_status() for r in planned_runs(sweep, sweep.read_plan())}


def running_best(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in values:
        out.append(v if not out or v < out[-1] else out[-1])
    return out


# -------------------------------------------------------------------------------------------- cmaes

ROSEN = """
from orchestra import Sweep
from orchestra.search import Box, CMAES
def train(ctx, config):
    x = [config[f"x{i}"] for i in range(10)]
    f = sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2 for i in range(9))
    ctx.logger("f", f); ctx.logger.dump()
sweep = Sweep(train, Box({f"x{i}": (-2.0, 2.0) for i in range(10)}), search=CMAES(sigma0=0.3, seed=SEED),
              objective="f", mode="min", budget=BUDGET)
"""


def rosen_in_process(seed: int, generations: int) -> tuple[list[float], list[float]]:
    """The baseline: pycma on the same function of the same unit-cube point, same seed and options."""
    import cma

    es = cma.CMAEvolutionStrategy(
        [0.5] * 10, 0.3, {"bounds": [0, 1], "verbose": -9, "popsize": 10, "seed": seed}
    )
    values, walls = [], []
    for _ in range(generations):
        t0 = time.perf_counter()
        points = es.ask()
        fs = []
        for p in points:
            x = [-2.0 + float(u) * (2.0 - -2.0) for u in p]
            fs.append(sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2 for i in range(9)))
        es.tell(points, fs)
        walls.append(time.perf_counter() - t0)
        values.extend(fs)
    return values, walls


def bench_cmaes(workers: int, repeats: int, generations: int = 20) -> None:
    print(
        f"cmaes: 10-D Rosenbrock, popsize 10, {generations} generations ({generations * 10} runs) per seed, {workers} workers"
    )
    gaps, walls, base_walls, same = [], [], [], []
    for seed in range(1, repeats + 1):
        work = Path(tempfile.mkdtemp(prefix="orch-bench-cmaes-"))
        try:
            body = ROSEN.replace("SEED", str(seed)).replace("BUDGET", str(generations * 10))
            sweep_dir = run_sweep(work, f"rosen{seed}", body, workers)
            ours = [c["value"] for c in told(sweep_dir)]
            theirs, base = rosen_in_process(seed, generations)
            curve_a, curve_b = running_best(ours), running_best(theirs)
            same.append(curve_a == curve_b)
            st = statuses(sweep_dir)
            plan = json.loads((sweep_dir / "sweep.json").read_text())
            gen_of = {v["name"]: v["labels"]["generation"] for v in plan["variants"]}
            spans: dict[int, list[float]] = {}
            for rid, s in st.items():
                g = gen_of[rid.split("/")[0]]
                lo, hi = spans.get(g, [math.inf, -math.inf])
                spans[g] = [min(lo, s.started_at), max(hi, s.ended_at)]
            for g in range(1, generations):
                gaps.append(spans[g][0] - spans[g - 1][1])
                walls.append(spans[g][1] - spans[g - 1][1])
            base_walls.extend(base)
            print(
                f"  seed {seed}: best after {len(ours)} evaluations {curve_a[-1]:.6g} (orchestra) vs "
                f"{curve_b[-1]:.6g} (cma in-process); same curve at every evaluation: {curve_a == curve_b}"
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"  overhead per generation (last run of g ended -> first run of g+1 started): "
        f"median {statistics.median(gaps) * 1000:.0f} ms (p90 {sorted(gaps)[int(0.9 * len(gaps))] * 1000:.0f} ms)"
    )
    print(
        f"  wall per generation: orchestra median {statistics.median(walls) * 1000:.0f} ms "
        f"(10 runs, each a fresh process, {workers} at a time) vs cma in-process "
        f"{statistics.median(base_walls) * 1000:.2f} ms (ask, 10 evaluations, tell)"
    )
    print(f"  same best-value curve as cma in-process: {sum(same)}/{len(same)} seeds")


# --------------------------------------------------------------------------------------------- asha

CURVES = """
import math, random, time
from orchestra import Sweep, Config, Grid
from orchestra.search import ASHA, MedianStopping
def train(ctx, k):
    rng = random.Random(TASK)
    finals = [0.3 + 0.65 * rng.random() for _ in range(81)]
    taus = [rng.uniform(6, 10) for _ in range(81)]
    for t in range(81):
        noise = random.Random(k * 1000 + t).gauss(0, 0.02)
        ctx.logger("step", t); ctx.logger("acc", finals[k] * (1 - math.exp(-(t + 1) / taus[k])) + noise)
        ctx.logger.dump()
        time.sleep(0.02)
sweep = Sweep(train, Config({"k": Grid(ORDER)}), STOPPER)
"""

STOPPERS = {
    "full grid": "objective='acc', mode='max'",
    "ASHA": "stopper=ASHA(metric='acc', mode='max', max_t=100, grace_period=3, reduction_factor=3)",
    "median stopping": "stopper=MedianStopping(metric='acc', mode='max', grace_period=9, min_samples_required=3)",
}


def bench_asha(workers: int, repeats: int, task: int = 0) -> None:
    rng = random.Random(task)
    finals = [0.3 + 0.65 * rng.random() for _ in range(81)]
    best = max(range(81), key=lambda k: finals[k])
    full = 81 * 81
    print(
        f"asha: 81 configs x 81 steps (20 ms a step), the known best k={best} (final {finals[best]:.3f}), "
        f"{workers} workers; full grid = {full} run-steps"
    )
    for label, stopper in STOPPERS.items():
        shares, found, walls = [], [], []
        for rep in range(1 if label == "full grid" else repeats):
            order = list(range(81))
            random.Random(1000 + rep).shuffle(order)
            work = Path(tempfile.mkdtemp(prefix="orch-bench-asha-"))
            try:
                body = (
                    CURVES.replace("TASK", str(task)).replace("ORDER", str(order)).replace("STOPPER", stopper)
                )
                t0 = time.perf_counter()
                sweep_dir = run_sweep(work, f"curves{rep}", body, workers)
                walls.append(time.perf_counter() - t0)
                st = statuses(sweep_dir)
                steps = sum(
                    (sweep_dir / "runs" / rid / "metrics.jsonl").read_bytes().count(b"\n") for rid in st
                )
                shares.append(steps / full)
                completed = [
                    int(rid.split("=")[1].split("/")[0])
                    for rid, s in st.items()
                    if s.state.value == "completed"
                ]
                found.append(best in completed and max(completed, key=lambda k: finals[k]) == best)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        print(
            f"  {label:<16} run-steps {statistics.median(shares) * 100:5.1f} % of the full grid "
            f"(runs: {', '.join(f'{s * 100:.1f}' for s in shares)} %), best config found and completed "
            f"{sum(found)}/{len(found)}, wall median {statistics.median(walls):.1f} s"
        )


# ---------------------------------------------------------------------------------------------- tpe

HARTMANN = """
import math
from orchestra import Sweep
from orchestra.search import Box, OptunaSearch, RandomSearch
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
C = [1.0, 1.2, 3.0, 3.2]
def train(ctx, config):
    x = [config[f"x{j}"] for j in range(6)]
    f = -sum(C[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2 for j in range(6))) for i in range(4))
    ctx.logger("f", f); ctx.logger.dump()
sweep = Sweep(train, Box({f"x{j}": (0.0, 1.0) for j in range(6)}), search=SEARCH,
              objective="f", mode="min", budget=40)
"""


def bench_tpe(workers: int, repeats: int) -> None:
    optimum = -3.32237
    print(
        f"tpe: 6-D Hartmann (minimum {optimum}), 40 candidates, {workers} in flight, {repeats} search seeds"
    )
    for label, search in (
        ("Optuna TPE", f"OptunaSearch(seed=SEED, max_concurrent={workers})"),
        ("random", f"RandomSearch(seed=SEED, max_concurrent={workers})"),
    ):
        bests, at20 = [], []
        for seed in range(repeats):
            work = Path(tempfile.mkdtemp(prefix="orch-bench-tpe-"))
            try:
                body = HARTMANN.replace("SEARCH", search.replace("SEED", str(seed)))
                values = [c["value"] for c in told(run_sweep(work, f"hartmann{seed}", body, workers))]
                bests.append(min(values))
                at20.append(min(values[:20]))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        print(
            f"  {label:<10} best after 40: median {statistics.median(bests):.4f} "
            f"(gap {statistics.median(bests) - optimum:.4f}; seeds {', '.join(f'{b:.3f}' for b in bests)}), "
            f"after 20: median {statistics.median(at20):.4f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", default="all", choices=["cmaes", "asha", "tpe", "all"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    if args.what in ("cmaes", "all"):
        bench_cmaes(args.workers, args.repeats)
    if args.what in ("asha", "all"):
        bench_asha(args.workers, args.repeats)
    if args.what in ("tpe", "all"):
        bench_tpe(args.workers, max(5, args.repeats))


if __name__ == "__main__":
    main()
