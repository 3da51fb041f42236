"""Benchmark: a fresh ``orchestra results --last-pct 10`` on 10,000 runs x 1,000 steps.

    python bench/bench_results.py [--runs 10000] [--steps 1000] [--repeat 3] [--cache DIR] [--no-formats]

The synthetic sweep (2,000 variants x 5 seeds by default; every run completed, with a
``result.json``; each ``metrics.jsonl`` record ``{"step", "time", "attempt", "values":
{"iteration", "loss", "return"}}``, about 125 bytes, so ~1.3 GB in all) is generated once into the
cache directory and reused.

Every figure comes from a fresh interpreter (``os.wait4`` gives its CPU time and peak RSS); the
files are in the page cache (a first pass reads them all). Side by side, in one run:

* ``cold cache``: ``orchestra results DIR --last-pct 10`` with no columnar cache (it parses every
  ``metrics.jsonl`` and writes the caches);
* ``warm cache``: the same command again (it reads one column of each cache);
* ``JSON lines``: the same command with ``--no-cache`` (orchestra's parser, nothing written);
* ``pandas``: the same ranking with ``pandas.read_json(path, lines=True)`` per run, the outside
  baseline (the metrics are nested under ``values``, so ``pd.DataFrame(df["values"].tolist())``).

All four must agree on the best variant. Then the cache's size on disk against the JSON lines, and
(unless ``--no-formats``) the measurement the cache's format was chosen by: one column read from
each run's cache in a fresh process, in orchestra's layout (``.npy``, header parsed once, ``pread``
of the column), with ``np.load``, from Arrow IPC (feather, uncompressed) and from Parquet files
holding the same columns. Medians of ``--repeat`` passes; ratios are baseline / orchestra.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
SEEDS = 5
T0 = 1763700000.0
PREFIX = ".metrics-cache."


def generate(root: Path, runs: int, steps: int) -> Path:
    """Write the synthetic sweep under ``root`` once; returns its directory."""
    sweep = root / f"sweep-{runs}x{steps}-v2"
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
            result = {"status": "completed", "attempt": 1, "exit_code": 0, "started_at": T0, "ended_at": T0 + 60,
                      "duration": 60.0, "return": {"final_loss": float(loss[-1])}, "error": None}  # fmt: skip
            (run / "result.json").write_bytes(orjson.dumps(result))
    marker.write_text("ok\n")
    size = sum(f.stat().st_size for f in (sweep / "runs").rglob("metrics.jsonl"))
    print(f"generated {size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s", flush=True)
    return sweep


def cache_files(sweep: Path) -> list[Path]:
    return list((sweep / "runs").glob(f"*/*/{PREFIX}*.npy"))


def drop_caches(sweep: Path) -> None:
    for p in cache_files(sweep):
        p.unlink()


def popen_wait(argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` in a fresh process; its wall time, its own CPU time and peak RSS (``wait4``), its stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{argv} failed:\n{err.read().decode()}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "stdout": out.decode()}  # fmt: skip


def best_of(stdout: str) -> str:
    return orjson.loads(stdout)["best"]["label"]


# -- the pandas baseline (a child process) -----------------------------------------------------------


def child_pandas(sweep: Path) -> None:
    import pandas as pd

    plan = orjson.loads((sweep / "sweep.json").read_bytes())
    best_name, best_score = None, float("inf")
    for v in plan["variants"]:
        scores = []
        for seed in plan["seeds"]:
            run = sweep / "runs" / v["name"] / str(seed)
            orjson.loads((run / "status.json").read_bytes())
            df = pd.read_json(run / "metrics.jsonl", lines=True)
            values = pd.DataFrame(df["values"].tolist())
            loss = values["loss"].to_numpy()
            k = max(1, -(-len(loss) // 10))
            scores.append(float(loss[-k:].mean()))
        score = sum(scores) / len(scores)
        if score < best_score:
            best_name, best_score = v["name"], score
    print(json.dumps({"best": {"label": best_name}}))


# -- reading one column from every run's cache, in four formats (a child process) -----------------------


def child_format(sweep: Path, kind: str) -> None:
    t0 = time.perf_counter()
    import numpy as np

    if kind in ("arrow", "parquet"):
        import pyarrow.feather as feather
        import pyarrow.parquet as parquet
    from orchestra.results.cache import open_npy

    t1 = time.perf_counter()
    total = 0.0
    paths = sorted(str(p) for p in cache_files(sweep))
    for p in paths:
        if kind == "npy (orchestra)":
            found = open_npy(p, ["v:loss"])
            assert found is not None
            col = found[1]["v:loss"]
        elif kind == "np.load":
            col = np.load(p)["v:loss"]
        elif kind == "arrow":
            col = feather.read_table(copy(p, "arrow"), columns=["v:loss"]).column(0).to_numpy()
        else:
            col = parquet.read_table(copy(p, "parquet"), columns=["v:loss"]).column(0).to_numpy()
        total += float(col[-100:].sum())
    t2 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "read": t2 - t1, "runs": len(paths), "check": round(total, 6)}))


def copy(cache: str | Path, fmt: str) -> str:
    """Where the Arrow or Parquet copy of a run's cache lies (a name orchestra's cache never removes)."""
    return os.path.join(os.path.dirname(cache), f"bench-copy.{fmt}")


def write_other_formats(sweep: Path) -> None:
    """Arrow IPC and Parquet copies of every cache (once), holding the same columns."""
    marker = sweep / ".formats-complete"
    if marker.exists():
        return
    import numpy as np
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as parquet

    print("writing Arrow and Parquet copies of the caches (once) ...", flush=True)
    for p in cache_files(sweep):
        record = np.load(p)
        table = pa.table({name: record[name] for name in record.dtype.names})
        feather.write_feather(table, copy(p, "arrow"), compression="uncompressed")
        parquet.write_table(table, copy(p, "parquet"))
    marker.write_text("ok\n")


def disk(paths: list[Path]) -> tuple[float, float]:
    """Apparent size and space allocated on disk, in MB."""
    stats = [p.stat() for p in paths]
    return sum(s.st_size for s in stats) / 1e6, sum(s.st_blocks * 512 for s in stats) / 1e6


# -- the driver ----------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/orchestra-bench-results"))
    ap.add_argument("--no-formats", action="store_true", help="skip the comparison of cache formats")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--sweep", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "pandas":
        child_pandas(args.sweep)
        return
    if args.child:
        child_format(args.sweep, args.child)
        return
    sweep = generate(args.cache, args.runs, args.steps)
    results = [sys.executable, "-m", "orchestra", "results", str(sweep), "--last-pct", "10", "--json"]
    pandas = [sys.executable, __file__, "--child", "pandas", "--sweep", str(sweep)]
    drop_caches(sweep)
    popen_wait([*results, "--no-cache"])  # one pass to bring the files into the page cache
    kinds = ("cold cache", "warm cache", "JSON lines", "pandas")
    passes: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for i in range(args.repeat):
        drop_caches(sweep)
        passes["cold cache"].append(popen_wait(results))
        passes["warm cache"].append(popen_wait(results))
        passes["JSON lines"].append(popen_wait([*results, "--no-cache"]))
        passes["pandas"].append(popen_wait(pandas))
        for k in kinds:
            r = passes[k][-1]
            print(f"  pass {i + 1} {k:11s} wall {r['wall']:7.2f} s  cpu {r['cpu']:7.2f} s  peak RSS {r['rss_mb']:5.0f} MB",
                  flush=True)  # fmt: skip
    bests = {best_of(r["stdout"]) for rs in passes.values() for r in rs}
    assert len(bests) == 1, f"the methods disagree on the best variant: {bests}"

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in passes[kind])

    ours = med("warm cache", "wall")
    print(f"\n{args.runs} runs x {args.steps} steps, fresh `orchestra results --last-pct 10`, "
          f"medians of {args.repeat} passes (best: {bests.pop()})")  # fmt: skip
    print(f"  {'':12s} {'wall s':>8s} {'cpu s':>8s} {'peak RSS MB':>12s}   wall / warm cache")
    for k in kinds:
        print(f"  {k:12s} {med(k, 'wall'):8.3f} {med(k, 'cpu'):8.3f} {med(k, 'rss_mb'):12.0f}   "
              f"{med(k, 'wall') / ours:6.1f}x")  # fmt: skip
    caches = cache_files(sweep)
    jsonl = list((sweep / "runs").glob("*/*/metrics.jsonl"))
    c_size, c_disk = disk(caches)
    j_size, j_disk = disk(jsonl)
    print(f"  cache on disk: {len(caches)} files, {c_size:.0f} MB ({c_disk:.0f} MB allocated); "
          f"metrics.jsonl: {j_size:.0f} MB ({j_disk:.0f} MB allocated); cache / JSON lines {c_size / j_size:.2f}")  # fmt: skip
    if args.no_formats:
        return
    write_other_formats(sweep)
    formats = ("npy (orchestra)", "np.load", "arrow", "parquet")
    reads: dict[str, list[dict[str, Any]]] = {f: [] for f in formats}
    for _ in range(args.repeat):
        for f in formats:
            r = popen_wait([sys.executable, __file__, "--child", f, "--sweep", str(sweep)])
            reads[f].append({**json.loads(r["stdout"]), "rss_mb": r["rss_mb"]})
    checks = {r["check"] for rs in reads.values() for r in rs}
    assert len(checks) == 1, f"the formats read different numbers: {checks}"
    print(
        f"\none column ('loss') from each of {reads[formats[0]][0]['runs']} runs' caches, fresh process, medians"
    )
    base = statistics.median(r["read"] for r in reads[formats[0]])
    for f in formats:
        imp = statistics.median(r["import"] for r in reads[f])
        rd = statistics.median(r["read"] for r in reads[f])
        per = rd / reads[f][0]["runs"] * 1e6
        print(f"  {f:16s} import {imp:6.3f} s  read {rd:6.3f} s ({per:6.1f} us a run)  {rd / base:5.1f}x")


if __name__ == "__main__":
    main()
