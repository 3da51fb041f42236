"""Benchmark: load_sweep + best-variant selection over 10,000 runs x 1,000 steps.

    python bench/bench_results.py [--runs 10000] [--steps 1000] [--repeat 3] [--cache DIR]

The synthetic sweep (2,000 variants x 5 seeds by default; every run completed; each
metrics.jsonl record ``{"step", "time", "attempt", "values": {"iteration", "loss", "return"}}``,
about 115 bytes, so ~1.1 GB in all) is generated once into the cache directory and reused.

Each measurement runs in a fresh interpreter (so nothing is cached in Python; the files are in
the page cache after the first pass: "cold-ish") and reports wall time and its own peak RSS:

* ``orchestra``: ``load_sweep`` then ``best("loss", mode="min", last_pct=10)``; then the same
  ``best`` again in the same process ("warm": every metrics file already parsed and cached).
* ``json loop``: the same selection by hand, ``json.loads`` on every line of every file.
* ``orjson loop``: the same with ``orjson.loads`` per line (no orchestra).

Medians of ``--repeat`` runs (wall and CPU time: the CPU figure is steadier on a shared machine)
are printed with the ratio baseline / orchestra for both baselines (above 1: orchestra is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
SEEDS = 5
T0 = 1763700000.0


def generate(root: Path, runs: int, steps: int) -> Path:
    """Write the synthetic sweep under ``root`` once; returns its directory."""
    sweep = root / f"sweep-{runs}x{steps}"
    marker = sweep / ".complete"
    if marker.exists():
        return sweep
    import numpy as np

    variants = runs // SEEDS
    print(f"generating {runs} runs x {steps} steps into {sweep} (once) ...", flush=True)
    start = time.perf_counter()
    sweep.mkdir(parents=True, exist_ok=True)
    plan = {
        "format": 1, "name": sweep.name, "created": T0, "updated": T0, "orchestra_version": "0.1.0",
        "sweep_file": "bench.py", "sweep_attr": "sweep", "entry": "train", "entry_module": "bench",
        "payload_sha256": None, "settings": {}, "seeds": list(range(SEEDS)),
        "variants": [
            {"index": i, "name": f"lr={1e-4 * (1 + i % 100):.4g}_h={64 * (1 + i // 100)}", "key": f"{i:016x}",
             "params": {"lr": 1e-4 * (1 + i % 100), "hidden": 64 * (1 + i // 100)}, "sampled": []}
            for i in range(variants)
        ],
        "retired": [],
    }  # fmt: skip
    (sweep / "sweep.json").write_bytes(orjson.dumps(plan))
    rng = np.random.default_rng(0)
    status = orjson.dumps({"state": "completed", "attempt": 1, "exit": {"reason": "success", "code": 0,
                           "signal": None, "message": ""}, "pid": 1, "host": "bench", "gpus": [],
                           "queued_at": T0, "started_at": T0, "ended_at": T0 + 60, "history": []})  # fmt: skip
    step_range = np.arange(steps)
    for v in plan["variants"]:
        for seed in range(SEEDS):
            run = sweep / "runs" / v["name"] / str(seed)
            run.mkdir(parents=True, exist_ok=True)
            (run / "status.json").write_bytes(status)
            loss = (1.0 / (1 + step_range * v["params"]["lr"] * 10)) + rng.random(steps) * 0.01
            ret = (-loss * 100).tolist()
            times = (T0 + step_range * 0.05).tolist()
            lines = [
                orjson.dumps({"step": i, "time": times[i], "attempt": 1,
                              "values": {"iteration": i, "loss": lo, "return": ret[i]}})
                for i, lo in enumerate(loss.tolist())
            ]  # fmt: skip
            (run / "metrics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    marker.write_text("ok\n")
    size = sum(f.stat().st_size for f in (sweep / "runs").rglob("metrics.jsonl"))
    print(f"generated {size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s", flush=True)
    return sweep


# -- what each child process measures -------------------------------------------------------------


def child_orchestra(sweep: Path) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from orchestra.results import load_sweep

    c0, t0 = time.process_time(), time.perf_counter()
    results = load_sweep(sweep)
    t1 = time.perf_counter()
    best = results.best("loss", mode="min", last_pct=10)
    c2, t2 = time.process_time(), time.perf_counter()
    again = results.best("loss", mode="min", last_pct=10)
    t3 = time.perf_counter()
    assert again.label == best.label
    return {
        "load": t1 - t0,
        "best": t2 - t1,
        "total": t2 - t0,
        "cpu": c2 - c0,
        "warm": t3 - t2,
        "best_label": best.label,
    }


def child_loop(sweep: Path, loads: str) -> dict[str, float]:
    """Plain per-line parsing of every file; the same selection (mean of the last 10 %, per variant)."""
    parse = json.loads if loads == "json" else orjson.loads
    c0, t0 = time.process_time(), time.perf_counter()
    plan = parse((sweep / "sweep.json").read_bytes())
    best_name, best_score = None, float("inf")
    for v in plan["variants"]:
        scores = []
        for seed in plan["seeds"]:
            run = sweep / "runs" / v["name"] / str(seed)
            parse((run / "status.json").read_bytes())
            with open(run / "metrics.jsonl", "rb") as f:
                records = [parse(line) for line in f]
            losses = [r["values"]["loss"] for r in records]
            k = max(1, -(-len(losses) // 10))
            scores.append(sum(losses[-k:]) / k)
        score = sum(scores) / len(scores)
        if score < best_score:
            best_name, best_score = v["name"], score
    return {"total": time.perf_counter() - t0, "cpu": time.process_time() - c0, "best_label": best_name}


def child_main(kind: str, sweep: Path) -> None:
    out = child_orchestra(sweep) if kind == "orchestra" else child_loop(sweep, kind)
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


# -- the driver ------------------------------------------------------------------------------------


def measure(kind: str, sweep: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--sweep", str(sweep)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/orchestra-bench-results"))
    ap.add_argument("--child", choices=("orchestra", "json", "orjson"), help=argparse.SUPPRESS)
    ap.add_argument("--sweep", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args.child, args.sweep)
        return
    sweep = generate(args.cache, args.runs, args.steps)
    measure("orjson", sweep)  # one pass to bring the files into the page cache
    results: dict[str, list[dict[str, float]]] = {"orchestra": [], "orjson": [], "json": []}
    for i in range(args.repeat):
        for kind in results:
            r = measure(kind, sweep)
            results[kind].append(r)
            print(
                f"  pass {i + 1} {kind:9s} wall {r['total']:7.2f} s  cpu {r['cpu']:7.2f} s  peak RSS {r['rss_mb']:5.0f} MB",
                flush=True,
            )
    labels = {r["best_label"] for rs in results.values() for r in rs}
    assert len(labels) == 1, f"the three methods disagree on the best variant: {labels}"

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    ours, ours_cpu = med("orchestra", "total"), med("orchestra", "cpu")
    print(f"\n{args.runs} runs x {args.steps} steps, {args.repeat} passes, medians (best: {labels.pop()})")
    print(f"  orchestra load_sweep            {med('orchestra', 'load'):8.3f} s wall")
    print(f"  orchestra best (parse + score)  {med('orchestra', 'best'):8.3f} s wall")
    print(
        f"  orchestra load + best           {ours:8.3f} s wall {ours_cpu:8.3f} s cpu   peak RSS {med('orchestra', 'rss_mb'):5.0f} MB"
    )
    print(f"  orchestra best again (warm)     {med('orchestra', 'warm'):8.3f} s wall")
    for kind in ("orjson", "json"):
        base, base_cpu = med(kind, "total"), med(kind, "cpu")
        print(
            f"  {kind + ' line loop':30s}  {base:8.3f} s wall {base_cpu:8.3f} s cpu   peak RSS {med(kind, 'rss_mb'):5.0f} MB"
            f"   baseline / orchestra: {base / ours:.2f} (wall), {base_cpu / ours_cpu:.2f} (cpu)"
        )


if __name__ == "__main__":
    main()
