"""The ``orchestra`` command: ``up``, ``run``, ``status``, ``logs``, ``results``, ``plot``, ``gpus``, ``completion``.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``
and is imported only when it is the one asked for, so ``orchestra status`` never pays for the
dashboard. User mistakes (:class:`orchestra.errors.UserError`) print one line and exit 2; a
mistyped command or option also gets the usage of the command it was given to, and a "did you
mean" when something close exists. Shell completion goes through argcomplete
(``orchestra completion SHELL``, docs/cli.md).
"""

from __future__ import annotations

import argparse
import errno
import gc
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from orchestra import __version__
from orchestra.errors import UserError, did_you_mean

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
    "run": "run one run of a sweep in the foreground, on this terminal (pdb, breakpoint())",
    "status": "show the runs of a sweep and their states",
    "logs": "print (or follow) the output of one run",
    "gpus": "show the GPUs, their use by others, and what orchestra holds",
    "results": "compare the variants of a sweep by a metric: mean +- standard error across seeds, best first",
    "plot": "plot learning curves of a sweep: the mean and a 95-percent band across seeds, one colour per group",
    "export": "write every metric of every run, with its parameters, as CSV, Parquet or TensorBoard events",
    "completion": "print the shell completion script for bash, zsh or fish",
}


class UsageError(UserError):
    """A command line argparse refused; ``prog`` is the (sub)command it was given to."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, "did you mean", and positionals mixed freely with options.

    A subcommand parses intermixed (``up sweep.py --headless lr=0.1`` gives ``lr=0.1`` to the
    overrides, where plain argparse would leave it over once ``--headless`` came between).
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._subparsers is None and not _completing() and not getattr(self, "_intermixing", False):
            self._given = list(sys.argv[1:] if args is None else args)
            self._intermixing = True  # parse_known_intermixed_args calls back into parse_known_args
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self._intermixing = False
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        unknown = [a for a in getattr(self, "_given", ()) if _unknown_option(self, a)]
        if unknown and message.startswith("the following arguments are required"):
            message = _unrecognized(self, unknown)  # the typo explains the missing argument
        raise UsageError(self.prog, _with_suggestion(self, message))


def build_parser(
    only: str | None = None,
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, and each subcommand's parser by name.

    With ``only`` (the command a command line names), the other subcommands are listed but their
    options are not built: a command pays for its own parser (and module) only, not for all of them.
    """
    parser = _Parser(prog="orchestra", description="Run ML experiment sweeps and watch them live.")
    parser.add_argument("--version", action="version", version=f"orchestra {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands: dict[str, argparse.ArgumentParser] = {}
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            _module(name).add_parser(p)
        commands[name] = p
    return parser, commands


MODULES = {verb: "control" for verb in ("cancel", "kill", "retry", "pause", "resume", "stop")}


def _module(name: str) -> Any:
    return importlib.import_module(f"orchestra.cli.{MODULES.get(name, name)}")


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EIO)


_own_process = False  # main() runs in a process of its own: see console()


def console() -> int:
    """The ``orchestra`` command itself (its console script, ``python -m orchestra``): :func:`main`
    in a process of its own. No collection runs while the command's modules are imported (they make
    no garbage); the heap is then frozen (``gc.freeze``), and again when the command is done. Full
    collections skip the start-up's objects, and the interpreter's exit does not walk the heap (an
    ``orchestra up`` ends ~15 ms sooner)."""
    global _own_process
    _own_process = True
    gc.disable()
    code = main()
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        named = argv[0] if argv and argv[0] in COMMANDS and not _completing() else None
        parser, commands = build_parser(named)
        if _completing():
            import argcomplete

            argcomplete.autocomplete(parser)  # answers the shell and exits
        args, extra = parser.parse_known_args(argv)
        if extra:
            target = commands.get(args.command, parser)
            target.error(_unrecognized(target, extra))
        args.argv = argv  # ``up`` restarts itself as a service with the same words
        if not args.command:
            parser.print_help()
            return 2
        command = _module(args.command)
        if _own_process:
            gc.freeze()  # the start-up's objects: never garbage, no longer walked by full collections
            gc.enable()
        code: int = command.run(args)
        return code
    except UsageError as err:
        print(f"{err.prog}: error: {err}", file=sys.stderr)
        return err.exit_code
    except UserError as err:
        print(f"orchestra: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("orchestra: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:
        if err.errno not in _NO_ROOM:
            raise  # ours
        # the machine's, not ours: one line (a file's name, or the output when none)
        what = err.filename if err.filename is not None else "the output"
        say_error(f"orchestra: error: cannot write {what}: {err.strerror}")
        return 1
    finally:
        _drop_unwritable_output()


def say_error(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


def _drop_unwritable_output() -> None:
    """Lines that could not be written (stdout on a full disk, a closed pipe) stay in Python's buffer,
    and the interpreter's last flush would fail again and exit 120; they are dropped instead, the
    exit code stays the command's (``up > log`` with the log on a full disk still says how the sweep
    went)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass
        except ValueError:  # closed
            pass


def _completing() -> bool:
    return "_ARGCOMPLETE" in os.environ


# ---------------------------------------------------------------------------------------------
# "did you mean"


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings if s.startswith("--")]


def _unknown_option(parser: argparse.ArgumentParser, arg: str) -> bool:
    if not arg.startswith("--") or arg == "--":
        return False
    option = arg.split("=", 1)[0]
    return not any(known.startswith(option) for known in _options(parser))  # argparse takes prefixes


def _unrecognized(parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """The message for arguments the (sub)command does not take, the first unknown option first."""
    for arg in extra:
        if arg.startswith("-") and arg != "-":
            option = arg.split("=", 1)[0]
            return f"unrecognized option {option!r}" + did_you_mean(option, _options(parser))
    return "unrecognized arguments: " + " ".join(extra)


_INVALID_CHOICE = re.compile(r"argument (\S+): invalid choice: '?([^'(]*?)'? \(choose from (.*)\)$")


def _with_suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's message, with an unknown command or choice named plainly and a suggestion."""
    m = _INVALID_CHOICE.match(message)
    if m is None:
        return message
    what, value, choices_text = m.groups()
    choices = [c.strip().strip("'\"") for c in choices_text.split(",")]
    if what == "COMMAND":
        return f"unknown command {value!r}" + (
            did_you_mean(value, choices) or f" (commands: {', '.join(choices)})"
        )
    return f"argument {what}: {value!r} is not one of {', '.join(choices)}" + did_you_mean(value, choices)


if __name__ == "__main__":
    sys.exit(main())
