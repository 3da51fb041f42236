"""``orchestra up SWEEP.py``: plan a sweep into its directory and run it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from orchestra.errors import PlanError


def add_parser(p: argparse.ArgumentParser) -> None:
    from orchestra.cli.completion import complete_with, sweep_files

    complete_with(
        p.add_argument(
            "sweep_file", metavar="SWEEP.py", help="the sweep file (FILE.py or FILE.py:NAME to pick a Sweep)"
        ),
        sweep_files,
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="change the space: lr=0.1,0.01 sweeps lr over two values, batch_size=32 fixes it, +key=v adds "
        "a key; recorded with the plan (docs/cli.md)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="start only the planned runs with these values, e.g. --only lr=0.1 --only seed=0 (not recorded)",
    )
    p.add_argument(
        "--no-overrides",
        action="store_true",
        help="plan the sweep file's own space, dropping recorded overrides (with --update)",
    )
    p.add_argument("--name", help="sweep name (default: Sweep(name=) or the file's stem)")
    p.add_argument(
        "--root",
        default=os.environ.get("ORCHESTRA_ROOT", "sweeps"),
        help="directory that holds sweeps (default: ./sweeps or $ORCHESTRA_ROOT)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="CPU slots: runs at once (default: one per core)"
    )
    p.add_argument("--headless", action="store_true", help="no dashboard: progress and one line per run")
    p.add_argument(
        "--dry-run", action="store_true", help="print the planned runs and their directories; start nothing"
    )
    p.add_argument("--retry-failed", action="store_true", help="run failed and cancelled runs again")
    p.add_argument(
        "--update",
        action="store_true",
        help="accept a changed sweep file: keep unchanged variants' results, run changed ones anew",
    )
    p.add_argument(
        "--max-failures",
        type=int,
        default=None,
        metavar="N",
        help="stop starting runs after N runs failed (running ones finish)",
    )
    p.add_argument("--fail-fast", action="store_true", help="stop everything at the first failed run")
    g = p.add_argument_group("GPUs")
    g.add_argument(
        "--gpus", default="all", metavar="all|none|0,2", help="GPUs orchestra may use (default: all)"
    )
    g.add_argument("--avoid-gpus", default="", metavar="1,3", help="GPUs never to use (e.g. someone else's)")
    g.add_argument(
        "--gpu-headroom",
        default="512MiB",
        metavar="SIZE",
        help="memory to leave free on every GPU (default 512MiB)",
    )
    g.add_argument(
        "--fake-gpus",
        default=None,
        metavar="SPEC|FILE",
        help="pretend these GPUs exist, e.g. 4x24GiB (demos and tests; FILE is a scriptable fake state)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="time a stopped run gets between SIGTERM and SIGKILL (default 10)",
    )


def run(args: argparse.Namespace) -> int:
    from orchestra.plan.loader import load_sweep_file
    from orchestra.plan.overrides import parse_all, select
    from orchestra.plan.prepare import apply, reconcile, sweep_name
    from orchestra.rundir import SweepDir, SweepLock
    from orchestra.runtime.payload import dumps_entry
    from orchestra.scheduler.resources import CpuSlots, default_workers

    if args.no_overrides and args.overrides:
        raise PlanError("--no-overrides with overrides: give one or the other")
    overrides = parse_all(args.overrides) if args.overrides else (() if args.no_overrides else None)
    only = parse_all(args.only, "--only")
    loaded = load_sweep_file(args.sweep_file)
    sweep = loaded.sweep
    payload = dumps_entry(sweep.entry, by_value=[loaded.module])
    root = Path(args.root)
    options = dict(
        name=args.name,
        payload=payload,
        retry_failed=args.retry_failed,
        update=args.update,
        overrides=overrides,
    )
    workers = args.workers if args.workers is not None else default_workers()
    if args.max_failures is not None and args.max_failures < 1:
        raise PlanError(f"--max-failures must be at least 1, got {args.max_failures}")
    problem = CpuSlots(workers).feasible(sweep.resources.cpus)
    ledger = _gpu_ledger(args, sweep.resources)
    if problem is None and ledger is not None:
        problem = ledger.feasible(sweep.resources)
    elif problem is None and (sweep.resources.gpus or sweep.resources.gpu_mem):
        problem = "runs ask for GPUs, but --gpus none turns them off"
    if problem:
        raise PlanError(
            f"{loaded.path.name}: each run {problem}"
            if problem.startswith("asks")
            else f"{loaded.path.name}: {problem}"
        )
    sweep_dir = SweepDir(root / sweep_name(loaded, args.name))
    if args.dry_run or not sweep_dir.exists():
        # read-only: every mistake in the sweep surfaces here, before anything is written
        rec = reconcile(loaded, root, **options)
        selected = select(rec, sweep, only)
        if args.dry_run:
            _print_plan(selected, len(rec.runs))
            return 0
    sweep_dir.path.mkdir(parents=True, exist_ok=True)
    lock = SweepLock(sweep_dir)
    if not lock.acquire():
        raise PlanError(
            f"sweep {sweep_dir.path.name!r} in {sweep_dir.path} is already running (pid {lock.holder()}); "
            "watch it with `orchestra status`, or stop that orchestrator first"
        )
    try:
        rec = reconcile(loaded, root, **options)  # under the lock: what is on disk cannot move now
        selected = select(rec, sweep, only)  # before writing: a --only that selects nothing changes nothing
        for note in [*apply(rec, payload), *rec.notes]:
            print(f"orchestra: {note}")
        return _run(args, loaded, selected, workers, ledger)
    finally:
        lock.release()


def _gpu_ledger(args: argparse.Namespace, resources):  # type: ignore[no-untyped-def]
    """The GPU ledger for this sweep, or None when GPUs are off or absent and not asked for."""
    from orchestra.scheduler.gpu import GpuLedger, parse_gpu_selection
    from orchestra.scheduler.probe import make_probe
    from orchestra.units import parse_bytes

    allowed = parse_gpu_selection(args.gpus)
    avoid = parse_gpu_selection(args.avoid_gpus, "--avoid-gpus") if args.avoid_gpus else frozenset()
    headroom = parse_bytes(args.gpu_headroom, "--gpu-headroom") or 0
    if allowed is not None and not allowed:
        return None
    probe = make_probe(f"fake:{args.fake_gpus}" if args.fake_gpus else "auto")
    ledger = GpuLedger(probe, allowed=allowed, avoid=avoid or (), headroom=headroom)
    wants = resources.gpus > 0 or resources.gpu_mem is not None
    if ledger.reason and not wants:
        return None  # a CPU sweep on a machine without GPUs: nothing to show or place
    return ledger


def _run(args: argparse.Namespace, loaded, rec, workers: int, ledger) -> int:  # type: ignore[no-untyped-def]
    import anyio

    from orchestra.headless import summary_line
    from orchestra.scheduler.core import Scheduler

    sweep = loaded.sweep
    dashboard = sys.stdout.isatty() and not args.headless
    n_start = len(rec.to_start)
    skipped = _skipped_text(rec)
    print(
        f"sweep {rec.name}: {len(rec.runs)} runs, {n_start} to start{skipped}, {workers} workers -> {rec.sweep_dir.path}",
        flush=True,
    )
    if n_start == 0:
        done = all(r.status is not None and r.status.state.value == "completed" for r in rec.runs)
        print("nothing to do" + ("" if done else "; --retry-failed runs failed and cancelled runs again"))
        return 0 if done else 1
    scheduler = Scheduler.for_sweep(
        rec,
        sweep,
        loaded.path,
        workers=workers,
        grace=args.grace,
        fail_fast=args.fail_fast,
        max_failures=args.max_failures,
        gpus=ledger,
        linger=dashboard,  # the dashboard stays open when all runs are done, so the user can retry
    )
    started = time.time()
    if dashboard:
        from orchestra.tui import run_dashboard

        summary = run_dashboard(scheduler, workers=workers)
    else:
        summary = anyio.run(_headless, scheduler, workers)
    print(summary_line(scheduler.snapshot(), time.time() - started), flush=True)
    return summary.exit_code


async def _headless(scheduler, workers: int):  # type: ignore[no-untyped-def]
    import signal
    from functools import partial

    import anyio

    from orchestra.headless import show

    async def on_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            count = 0
            async for _ in signals:
                count += 1
                if count == 1:
                    print("orchestra: stopping runs (again to kill them now)", file=sys.stderr, flush=True)
                    scheduler.interrupt()
                else:
                    scheduler.kill_all()

    async with anyio.create_task_group() as tg:
        tg.start_soon(on_signals)
        tg.start_soon(partial(show, scheduler, tty=sys.stdout.isatty() or None, workers=workers))
        summary = await scheduler.run()
        tg.cancel_scope.cancel()
    return summary


def _skipped_text(rec) -> str:  # type: ignore[no-untyped-def]
    from collections import Counter

    c = Counter(r.status.state.value for r in rec.runs if not r.start and r.status is not None)
    return "".join(f", {n} {state} kept" for state, n in sorted(c.items()))


def _print_plan(rec, planned: int) -> None:  # type: ignore[no-untyped-def]
    state = "new" if rec.new else "exists"
    print(f"sweep {rec.name} -> {rec.sweep_dir.path} ({state})")
    of = f" of {planned}" if planned != len(rec.runs) else ""
    only = " selected by --only" if of else ""
    print(f"{len(rec.runs)}{of} runs{only}, {len(rec.to_start)} to start{_skipped_text(rec)}")
    for note in rec.notes:
        print(f"note: {note}")
    draws = {r.spec.variant.name: r.spec.variant for r in rec.runs if r.spec.variant.sampled}
    if draws:
        print(f"Sample draws (sample_seed {rec.record['sample_seed']}; the run uses exactly these):")
        for name, v in draws.items():
            print(f"  {name}: " + ", ".join(f"{k}={v.params[k]!r}" for k in v.sampled))
    width = max((len(r.id) for r in rec.runs), default=3)
    for r in rec.runs:
        now = r.status.state.value if r.status else "new"
        action = "start" if r.start else "keep"
        print(f"{r.spec.index:>5}  {r.id:<{width}}  {action:<5}  {now:<9}  {r.dir.path}")
