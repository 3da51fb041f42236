"""``orchestra completion bash|zsh|fish``: print the shell completion script (argcomplete).

Install it once (docs/cli.md): ``orchestra completion bash >
~/.local/share/bash-completion/completions/orchestra``, ``orchestra completion zsh >
~/.zfunc/_orchestra`` (with ``~/.zfunc`` on ``fpath``), ``orchestra completion fish >
~/.config/fish/completions/orchestra.fish``. The script asks ``orchestra`` itself for the
completions, so they follow the installed version: commands, options, sweep files, sweep
directories and the runs of a sweep.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")


def run(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["orchestra"], shell=args.shell), end="")
    return 0


# Completers: argcomplete calls them with the word typed so far (``prefix``) and what was parsed.


def sweep_files(prefix: str, **_: Any) -> list[str]:
    """Python files and directories under what was typed."""
    return [p for p in _entries(prefix) if p.endswith("/") or p.endswith(".py")]


def directories(prefix: str, **_: Any) -> list[str]:
    return [p for p in _entries(prefix) if p.endswith("/")]


def run_ids(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The runs of the sweep named so far: ``DIR`` (``logs``) or the sweep file under ``--root``."""
    from orchestra.rundir import SweepDir, planned_runs

    directory = getattr(parsed_args, "sweep_dir", None)
    if directory is None and getattr(parsed_args, "sweep_file", None):
        stem = Path(parsed_args.sweep_file.split(":")[0]).stem
        directory = Path(parsed_args.root) / (parsed_args.name or stem)
    if directory is None:
        return []
    try:
        sweep = SweepDir(directory)
        return [r.id for r in planned_runs(sweep, sweep.read_plan()) if r.id.startswith(prefix)]
    except Exception:  # a half-typed path or a damaged plan: no completions, never a traceback
        return []


def _entries(prefix: str) -> list[str]:
    head, _, _ = prefix.rpartition("/")
    base = Path(head or ".")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    out = []
    for name in names:
        if name.startswith(".") and not prefix.rpartition("/")[2].startswith("."):
            continue
        text = f"{head}/{name}" if head else name
        if text.startswith(prefix):
            out.append(text + "/" if (base / name).is_dir() else text)
    return out


def complete_with(action: argparse.Action, completer: Callable[..., list[str]]) -> argparse.Action:
    """Give ``action`` an argcomplete completer (the attribute argcomplete reads)."""
    action.completer = completer  # type: ignore[attr-defined]
    return action
