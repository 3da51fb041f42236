"""``orchestra up SWEEP.py``: plan a sweep into its directory and run it.

On a terminal, ``up`` starts the sweep's service (its own session, no terminal, ``service.log``)
and attaches the dashboard to it: losing the terminal only detaches. ``-d`` starts the service and
returns. Without a terminal (a job script, a pipe, CI) or with ``--foreground``, the sweep runs in
this process: plain progress, exit codes 0/1/2/130, and SIGINT, SIGTERM or SIGHUP interrupt it
cleanly. Every live orchestrator serves the control socket, so ``orchestra cancel ...`` works
against all of them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestra.service.session import Prepared, Session, UpOptions
    from orchestra.slurm import Slurm


def add_parser(p: argparse.ArgumentParser) -> None:
    from orchestra.cli.completion import complete_with, sweep_files

    complete_with(
        p.add_argument(
            "sweep_file",
            metavar="SWEEP.py|DIR",
            help="the sweep file (FILE.py or FILE.py:NAME to pick a Sweep), or a sweep's directory to run "
            "its recorded plan again",
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
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "-d", "--detach", action="store_true", help="start the sweep's service and return at once"
    )
    mode.add_argument(
        "--foreground",
        action="store_true",
        help="run the sweep in this process (job scripts, CI, debugging); it ends with this process",
    )
    mode.add_argument("--headless", action="store_true", help="no dashboard: progress and one line per run")
    p.add_argument(
        "--dry-run", action="store_true", help="print the planned runs and their directories; start nothing"
    )
    p.add_argument("--retry-failed", action="store_true", help="run failed and cancelled runs again")
    p.add_argument(
        "--retry",
        action="append",
        default=[],
        metavar="RUN",
        help="run this finished run again (number, VARIANT/SEED or a unique prefix); repeatable",
    )
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
    s = p.add_argument_group("Slurm (docs/slurm.md)")
    s.add_argument(
        "--backend",
        choices=("local", "slurm"),
        default=None,
        help="where runs run: this machine, or Slurm job arrays (default: the sweep file's backend=, else local)",
    )
    s.add_argument("--partition", default=None, help="sbatch --partition")
    s.add_argument("--account", default=None, help="sbatch --account")
    s.add_argument("--qos", default=None, help="sbatch --qos")
    s.add_argument(
        "--time", default=None, metavar="LIMIT", help="each job's time limit: 2h, 90m, 1:30:00, 2-00:00:00"
    )
    s.add_argument("--mem", default=None, metavar="SIZE", help="memory per job, e.g. 8G")
    s.add_argument("--constraint", default=None, help="sbatch --constraint (node features)")
    s.add_argument(
        "--max-parallel",
        type=int,
        default=None,
        metavar="N",
        help="at most N of the sweep's jobs run at once",
    )
    s.add_argument(
        "--sbatch-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="another sbatch argument, as --sbatch-arg=--exclusive (repeatable)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="time a stopped run gets between SIGTERM and SIGKILL (default 10)",
    )
    p.add_argument("--service-ready-fd", type=int, default=None, help=argparse.SUPPRESS)


def options(args: argparse.Namespace) -> UpOptions:
    from orchestra.errors import PlanError
    from orchestra.plan.overrides import parse_all
    from orchestra.service.session import UpOptions

    if args.no_overrides and args.overrides:
        raise PlanError("--no-overrides with overrides: give one or the other")
    return UpOptions(
        backend=args.backend,
        slurm=_slurm_options(args),
        overrides=parse_all(args.overrides) if args.overrides else (() if args.no_overrides else None),
        only=tuple(parse_all(args.only, "--only")),
        retry=tuple(args.retry),
        root=Path(args.root),
        name=args.name,
        workers=args.workers,
        retry_failed=args.retry_failed,
        update=args.update,
        max_failures=args.max_failures,
        fail_fast=args.fail_fast,
        grace=args.grace,
        gpus=args.gpus,
        avoid_gpus=args.avoid_gpus,
        gpu_headroom=args.gpu_headroom,
        fake_gpus=args.fake_gpus,
    )


def _slurm_options(args: argparse.Namespace) -> Slurm | None:
    """The Slurm options given on the command line (None when none was)."""
    from orchestra.slurm import Slurm

    given = {
        "partition": args.partition,
        "account": args.account,
        "qos": args.qos,
        "time": args.time,
        "mem": args.mem,
        "constraint": args.constraint,
        "max_parallel": args.max_parallel,
    }
    if all(v is None for v in given.values()) and not args.sbatch_arg:
        return None
    return Slurm(**given, extra=tuple(args.sbatch_arg))


def run(args: argparse.Namespace) -> int:
    from orchestra.plan.loader import load_sweep_file
    from orchestra.service.session import prepare

    dashboard = sys.stdout.isatty() and args.service_ready_fd is None and not (args.headless or args.detach)
    keymap = None
    if dashboard:
        from orchestra.tui.keys import load_keymap

        keymap = load_keymap()  # read (and checked) first: a mistake in it starts no run
    if os.path.isdir(args.sweep_file):
        from orchestra.rundir import SweepDir
        from orchestra.service.session import prepare_recorded

        prepared = prepare_recorded(SweepDir(args.sweep_file), options(args))
    else:
        prepared = prepare(load_sweep_file(args.sweep_file), options(args))
    if args.dry_run:
        _print_plan(prepared)
        return 0
    if args.service_ready_fd is not None:
        from orchestra.service.daemon import serve

        return serve(prepared, args.service_ready_fd)
    if args.detach or (dashboard and not args.foreground):
        from orchestra.service.daemon import start_service

        return start_service(args, prepared, attach=dashboard, keymap=keymap)
    import anyio

    return anyio.run(_foreground, prepared, dashboard, keymap)


async def _foreground(prepared: Prepared, dashboard: bool, keymap: dict[str, str] | None) -> int:
    from orchestra.headless import say, show, stop_on_signals
    from orchestra.present import summary_line
    from orchestra.service.server import ControlServer
    from orchestra.service.session import describe_start, open_session

    started = time.time()
    async with open_session(prepared) as session:
        for note in session.notes:
            say(f"orchestra: {note}")
        say(describe_start(session))
        if _nothing_to_do(session):
            return _say_nothing_to_do(session)
        server = ControlServer.for_session(session)
        if dashboard:
            from orchestra.tui import run_foreground

            async with server.serving():
                summary = await run_foreground(session.scheduler, workers=_workers(prepared), keymap=keymap)
        else:
            async with server.serving():
                summary = await session.run(
                    [
                        lambda s: show(s, tty=sys.stdout.isatty() or None, workers=_workers(prepared)),
                        stop_on_signals,
                    ]
                )
        snap = session.scheduler.snapshot()
        say(summary_line(snap, time.time() - started, len(summary.unrecorded)))
        _say_unrecorded(summary.unrecorded)
        if summary.error:
            say(f"orchestra: error: {summary.error}", file=sys.stderr)
    return summary.exit_code


def _workers(prepared: Prepared) -> int:
    slots = getattr(prepared.backend, "slots", None)
    return slots.total if slots is not None else 1


def _nothing_to_do(session: Session) -> bool:
    return session.scheduler.idle


def _say_nothing_to_do(session: Session) -> int:
    from orchestra.headless import say

    done = all(
        r.status is not None and r.status.state.value in ("completed", "stopped") for r in session.rec.runs
    )
    say("nothing to do" + ("" if done else "; --retry-failed runs failed and cancelled runs again"))
    return 0 if done else 1


def _say_unrecorded(unrecorded: dict[str, str]) -> None:
    from orchestra.headless import say

    if unrecorded:
        path, error = next(iter(unrecorded.items()))
        say(
            f"orchestra: error: {len(unrecorded)} status file(s) could not be written ({error}, e.g. {path}); "
            "their runs are shown above as they ended but are not recorded: free the disk and run up again",
            file=sys.stderr,
        )


def _print_plan(prepared: Prepared) -> None:
    from collections import Counter

    rec, planned = prepared.selected, len(prepared.rec.runs)
    state = "new" if rec.new else "exists"
    print(f"sweep {rec.name} -> {rec.sweep_dir.path} ({state})")
    kept = Counter(
        r.status.state.value for r in rec.runs if not r.start and r.status is not None and not r.orphaned
    )
    to_start = sum(1 for r in rec.runs if r.start or r.orphaned)
    of = f" of {planned}" if planned != len(rec.runs) else ""
    only = " selected by --only" if of else ""
    print(
        f"{len(rec.runs)}{of} runs{only}, {to_start} to start"
        + "".join(f", {n} {s} kept" for s, n in sorted(kept.items()))
    )
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
        action = "recover" if r.orphaned else ("start" if r.start else "keep")
        print(f"{r.spec.index:>5}  {r.id:<{width}}  {action:<7}  {now:<11}  {r.dir.path}")
