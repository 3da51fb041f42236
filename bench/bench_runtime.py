"""Benchmark the run runtime: process start-up above the cloudpickle floor, and Logger.dump throughput.

    python bench/bench_runtime.py [--starts 30] [--dumps 20000]

1. Start-up: a sweep whose entry does nothing, run as ``python -m orchestra.runtime <run-dir>``
   (the whole attempt: imports, checks, metadata.json with git, payload, result.json, exit),
   against the floor ``python -c "import cloudpickle"`` (every run must unpickle its payload),
   measured alternately in the same process so both see the same machine load, both with their
   bytecode cached (in a temporary PYTHONPYCACHEPREFIX, as an installed package has it). Done
   twice: with the sweep file outside any git repository, and inside one (two git processes).
2. ``Logger.dump()`` of a run's logger: 3 keys per record, printing to a line-buffered file (as
   output.log) and appending to metrics.jsonl, in records per second; the floor is writing the
   same records with ``JsonlWriter`` alone.

Figures are medians; the ratios are what to compare between machines.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestra.plan import prepare  # noqa: E402
from orchestra.plan.loader import load_sweep_file  # noqa: E402
from orchestra.rundir import JsonlWriter, write_json  # noqa: E402
from orchestra.runtime.logger import Logger, MetricsWriter  # noqa: E402
from orchestra.runtime.metadata import write_launch  # noqa: E402
from orchestra.runtime.payload import dumps_entry  # noqa: E402

SWEEP = textwrap.dedent(
    """
    from orchestra import Config, Sweep

    def train(ctx):
        pass

    sweep = Sweep(train, Config({"lr": 0.1}))
    """
)


def make_run(directory: Path) -> Path:
    """A real sweep directory with one run's config.json, as the orchestrator writes them."""
    file = directory / "bench_sweep.py"
    file.write_text(SWEEP)
    loaded = load_sweep_file(str(file))
    payload = dumps_entry(loaded.sweep.entry, by_value=[loaded.module])
    rec = prepare.reconcile(loaded, directory / "sweeps", payload=payload)
    prepare.apply(rec, payload)
    write_launch(rec.sweep_dir, file, archive=False)
    planned = rec.runs[0]
    planned.dir.path.mkdir(parents=True, exist_ok=True)
    spec = planned.spec
    write_json(
        planned.dir.config,
        {
            "sweep": rec.name,
            "run": spec.index,
            "variant": spec.variant.name,
            "seed": spec.seed,
            "key": spec.variant.key,
            "config": dict(spec.variant.params),
            "options": loaded.sweep.run_options(),
        },
    )
    return planned.dir.path


def timed(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        code = subprocess.call(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        elapsed = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"{cmd} exited {code}; see {log}")
    return elapsed


def bench_startup(directory: Path, starts: int, pycache: Path) -> tuple[float, float]:
    run_dir = make_run(directory)
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        # bytecode cached as in any installed package, kept out of the source tree
        "PYTHONPYCACHEPREFIX": str(pycache),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(directory)]),
        "ORCHESTRA_PARENT_PID": str(os.getpid()),
        "ORCHESTRA_DEVICE": "cpu",
        "ORCHESTRA_GPUS": "[]",
        "CUDA_VISIBLE_DEVICES": "",
    }
    run_cmd = [sys.executable, "-m", "orchestra.runtime", str(run_dir)]
    floor_cmd = [sys.executable, "-c", "import cloudpickle"]
    log = run_dir / "output.log"
    for _ in range(3):  # warm the page cache for both
        timed(run_cmd, env, directory, log)
        timed(floor_cmd, env, directory, log)
    runs, floors = [], []
    for attempt in range(starts):
        env["ORCHESTRA_ATTEMPT"] = str(attempt + 1)
        runs.append(timed(run_cmd, env, directory, log))
        floors.append(timed(floor_cmd, env, directory, log))
    return statistics.median(runs), statistics.median(floors)


def bench_dump(directory: Path, dumps: int, repeats: int = 5) -> tuple[float, float]:
    logger_rates, floor_rates = [], []
    real_stdout = sys.stdout
    for r in range(repeats):
        with open(directory / f"out{r}.log", "w", buffering=1) as out:
            sys.stdout = out
            try:
                logger = Logger(metrics=MetricsWriter(directory / f"metrics{r}.jsonl", attempt=1))
                t0 = time.perf_counter()
                for i in range(dumps):
                    logger("iteration", i)
                    logger("loss", 1.0 / (i + 1))
                    logger("lr", 3e-4)
                    logger.dump(index=-1)
                logger_rates.append(dumps / (time.perf_counter() - t0))
            finally:
                sys.stdout = real_stdout
        with JsonlWriter(directory / f"floor{r}.jsonl") as w:
            t0 = time.perf_counter()
            for i in range(dumps):
                w.write(
                    {
                        "step": i,
                        "time": time.time(),
                        "attempt": 1,
                        "values": {"iteration": i, "loss": 1.0 / (i + 1), "lr": 3e-4},
                    }
                )
            floor_rates.append(dumps / (time.perf_counter() - t0))
    return statistics.median(logger_rates), statistics.median(floor_rates)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=30, help="start-ups measured per case (default 30)")
    parser.add_argument(
        "--dumps", type=int, default=20_000, help="Logger.dump calls per repeat (default 20000)"
    )
    args = parser.parse_args()
    out = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="orchestra-bench-") as tmp:
        plain = Path(tmp) / "plain"
        plain.mkdir()
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (repo / "README").write_text("bench\n")
        git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=b"]
        subprocess.run([*git, "add", "README"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, medians of {args.starts} start-ups",
            file=out,
        )
        for label, directory in (("no git repository", plain), ("sweep file in a git repo", repo)):
            run_s, floor_s = bench_startup(directory, args.starts, Path(tmp) / "pycache")
            print(
                f"start-up ({label}): run {run_s * 1e3:.1f} ms, floor `import cloudpickle` {floor_s * 1e3:.1f} ms, "
                f"ratio {run_s / floor_s:.2f}, {(run_s - floor_s) * 1e3:.1f} ms above the floor",
                file=out,
            )
        dump_dir = Path(tmp) / "dump"
        dump_dir.mkdir()
        rate, floor = bench_dump(dump_dir, args.dumps)
        print(
            f"Logger.dump (3 keys, printed to a line-buffered file + metrics.jsonl): {rate:,.0f} records/s; "
            f"JsonlWriter alone {floor:,.0f} records/s (ratio {rate / floor:.2f})",
            file=out,
        )
    print(out.getvalue(), end="")


if __name__ == "__main__":
    main()
