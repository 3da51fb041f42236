"""``orchestra cancel|kill|retry DIR RUN...``, ``orchestra pause|resume DIR``, ``orchestra stop [--now] DIR``.

Each sends a command to the sweep's live orchestrator over its control socket and prints one line
per run saying what happened (``--json``: the replies as JSON). Exit status: 0 done, 1 some runs
could not be acted on (already finished, say), 2 bad input (no such run, no live orchestrator).
RUN is what ``orchestra logs`` takes: a run number, ``VARIANT/SEED``, a variant with one seed, or
a unique prefix; ``--state failed`` names every run in a state.
"""

from __future__ import annotations

import argparse
import json

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
    from orchestra.service import oneshot

    verb = args.command
    op = {"stop": "stop_now" if getattr(args, "now", False) else "stop"}.get(verb, PER_RUN.get(verb, verb))
    words, states = (list(args.runs), list(args.state)) if verb in PER_RUN else ([], [])
    if verb in PER_RUN and not words and not states:
        raise UserError(f"orchestra {verb}: name at least one RUN, or --state STATE")
    try:
        # The service resolves the RUN words against its live table: this process reads no plan.
        replies = oneshot.send(args.sweep_dir, op, select=words, states=states)
    except oneshot.NoService as no_service:
        _check_offline(args.sweep_dir, words, states)  # a bad DIR, RUN or state is said as such, then
        raise no_service from None
    if args.json:
        print(json.dumps(replies))
    elif not replies:  # --state matched no run: nothing to do, and that is no mistake
        print(f"no run is {' or '.join(states)}: nothing to {verb}")
    else:
        for reply in replies:
            print(reply_text(reply))
    return 0 if all(r["ok"] for r in replies) else 1


def _check_offline(sweep_dir: str, words: list[str], states: list[str]) -> None:
    """With no live orchestrator: raise the one-line error for a DIR that is no sweep, a RUN that
    names no run of it (read from its files) or an unknown state, as the service would have."""
    from orchestra.rundir import SweepDir, check_state_names, planned_runs, resolve_run

    sweep = SweepDir(sweep_dir)
    refs = planned_runs(sweep, sweep.read_plan())
    for word in words:
        resolve_run(refs, word)
    check_state_names(states)
