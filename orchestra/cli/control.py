"""``orchestra cancel|kill|retry DIR RUN...``, ``orchestra pause|resume DIR``, ``orchestra stop [--now] DIR``.

Each sends a command to the sweep's live orchestrator over its control socket and prints one line
per run saying what happened (``--json``: the replies as JSON). Exit status: 0 done, 1 some runs
could not be acted on (already finished, say), 2 bad input (no such run, no live orchestrator).
RUN is what ``orchestra logs`` takes: a run number, ``VARIANT/SEED``, a variant with one seed, or
a unique prefix; ``--state failed`` names every run in a state.
"""

from __future__ import annotations

import argparse
import sys

PER_RUN = {"cancel": "cancel", "kill": "kill", "retry": "retry"}


def add_parser(p: argparse.ArgumentParser) -> None:
    verb = p.prog.split()[-1]
    p.add_argument("sweep_dir", metavar="DIR", help="the sweep's directory (as `orchestra up` printed it)")
    if verb in PER_RUN:
        p.add_argument("runs", metavar="RUN", nargs="*", help="run number, VARIANT/SEED, or a unique prefix")
        p.add_argument(
            "--state",
            action="append",
            default=[],
            metavar="STATE",
            help="every run in this state (e.g. failed); repeatable",
        )
    if verb == "stop":
        p.add_argument(
            "--now",
            action="store_true",
            help="interrupt running runs (SIGTERM, SIGKILL after the grace); they resume on the next up",
        )
    p.add_argument("--json", action="store_true", help="print the replies as JSON")


def run(args: argparse.Namespace) -> int:
    from orchestra.errors import UserError
    from orchestra.present import reply_text
    from orchestra.rundir import SweepDir, dumps
    from orchestra.scheduler.commands import Command, Op
    from orchestra.service import oneshot

    sweep = SweepDir(args.sweep_dir)
    sweep.read_plan()  # a bad DIR is one line, whether or not a service runs
    verb = args.command
    if verb in PER_RUN:
        ids = _select(sweep, args)
        command = Command(Op(PER_RUN[verb]), tuple(ids))
    elif verb == "stop":
        command = Command(Op.STOP_NOW if args.now else Op.STOP)
    else:
        command = Command(Op(verb))
    if verb in PER_RUN and not command.runs:
        raise UserError(f"orchestra {verb}: name at least one RUN, or --state STATE")
    replies = oneshot.command(sweep.path, command)
    if args.json:
        sys.stdout.buffer.write(dumps([r.to_json() for r in replies]) + b"\n")
    else:
        for reply in replies:
            print(reply_text(reply))
    return 0 if all(r.ok for r in replies) else 1


def _select(sweep: object, args: argparse.Namespace) -> list[str]:
    """Run ids from RUN words (resolved against sweep.json) and --state (read from the live table)."""
    from orchestra.errors import UserError
    from orchestra.rundir import STATE_NAMES, SweepDir, planned_runs, resolve_run
    from orchestra.service import oneshot

    assert isinstance(sweep, SweepDir)
    refs = planned_runs(sweep, sweep.read_plan())
    ids = [resolve_run(refs, text).id for text in args.runs]
    if args.state:
        bad = [s for s in args.state if s not in STATE_NAMES]
        if bad:
            raise UserError(f"--state {bad[0]!r}: not one of {', '.join(STATE_NAMES)}")
        snap, _ = oneshot.snapshot(sweep.path)
        ids += [r.id for r in snap.rows if r.state.value in args.state and r.id not in ids]
    return ids
