"""The ``orchestra`` command: ``up``, ``status``, ``logs``, ``results``, ``plot``, ``gpus``.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``
and is imported only when it is the one asked for, so ``orchestra status`` never pays for the
dashboard. User mistakes (:class:`orchestra.errors.UserError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from orchestra import __version__
from orchestra.errors import UserError

COMMANDS = {
    "up": "run a sweep (the dashboard on a terminal, plain progress otherwise)",
    "attach": "open the dashboard of a sweep (live, or from its files when its service is not running)",
    "ls": "list the sweeps under a root: their service, runs per state, last activity",
    "cancel": "cancel runs of a live sweep (SIGTERM, then SIGKILL after the grace period)",
    "kill": "kill runs of a live sweep now (SIGKILL)",
    "retry": "queue failed, cancelled or interrupted runs of a live sweep again",
    "pause": "start no new runs in a live sweep (running runs go on)",
    "resume": "start queued runs of a live sweep again",
    "stop": "stop a live sweep: let running runs finish (--now: interrupt them; they resume on the next up)",
    "status": "show the runs of a sweep and their states",
    "logs": "print (or follow) the output of one run",
    "gpus": "show the GPUs, their use by others, and what orchestra holds",
    "results": "compare the variants of a sweep by a metric: mean +- standard error across seeds, best first",
    "plot": "plot learning curves of a sweep: the mean and a 95-percent band across seeds, one colour per group",
    "export": "write every metric of every run, with its parameters, as CSV, Parquet or TensorBoard events",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UserError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="orchestra", description="Run ML experiment sweeps and watch them live.")
    parser.add_argument("--version", action="version", version=f"orchestra {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        module = _module(name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_parser(p)
    return parser


MODULES = {verb: "control" for verb in ("cancel", "kill", "retry", "pause", "resume", "stop")}


def _module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"orchestra.cli.{MODULES.get(name, name)}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = argv  # ``up`` restarts itself as a service with the same words
        if not args.command:
            parser.print_help()
            return 2
        code: int = _module(args.command).run(args)
        return code
    except UserError as err:
        print(f"orchestra: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("orchestra: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
