"""Slurm's commands, as the orchestrator runs them: asynchronously, counted, and with one-line errors.

Every call the backend makes goes through :class:`SlurmCommands`, which counts them per command
(the watcher's cost, reported by ``bench/bench_slurm.py``) and turns a failure into a
:class:`SlurmCommandError` that carries Slurm's own message. Commands that fail because the
controller is busy ("Socket timed out", "temporarily unable") are tried again a few times first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio

TRANSIENT = re.compile(r"timed out|temporarily|try again|slurm_load_jobs error: Unable to contact", re.I)
TIMEOUT = 60.0  # seconds a Slurm command may take before it counts as failed
RETRIES = (1.0, 3.0, 10.0)  # waits before each new try of a command the controller was too busy for


class SlurmCommandError(OSError):
    """A Slurm command failed; ``str()`` is its own message, on one line."""


class SlurmCommands:
    """Runs ``sbatch``, ``squeue``, ``scancel``, ``scontrol`` and ``sacct``; counts every call."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.calls: Counter[str] = Counter()

    @staticmethod
    def missing() -> str | None:
        """The first Slurm command that is not on PATH, or None."""
        for name in ("sbatch", "squeue", "scancel", "scontrol"):
            if shutil.which(name) is None:
                return name
        return None

    async def run(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        check: bool = True,
        retry: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command; its completed process. A failure raises :class:`SlurmCommandError` (``check``)."""
        waits = list(RETRIES) if retry else []
        while True:
            self.calls[args[0]] += 1
            try:
                with anyio.fail_after(TIMEOUT):
                    done = await anyio.run_process(
                        list(args), env=dict(env or self.env), cwd=cwd, check=False
                    )
            except TimeoutError:
                message = f"{args[0]} did not answer within {TIMEOUT:g}s"
                code = -1
            except OSError as exc:
                raise SlurmCommandError(f"{args[0]}: {exc.strerror or exc}") from None
            else:
                out = done.stdout.decode(errors="replace")
                err = done.stderr.decode(errors="replace")
                if done.returncode == 0 or not check:
                    return subprocess.CompletedProcess(list(args), done.returncode, out, err)
                message = first_line(err) or first_line(out) or f"exit status {done.returncode}"
                code = done.returncode
            if not waits or not TRANSIENT.search(message):
                raise SlurmCommandError(f"{args[0]} failed ({message})" if code else message)
            await anyio.sleep(waits.pop(0))

    def run_sync(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The same, blocking (plan-time checks, before any event loop runs): never raises for an exit status."""
        self.calls[args[0]] += 1
        try:
            return subprocess.run(
                list(args), env=dict(env or self.env), capture_output=True, text=True, timeout=TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlurmCommandError(f"{args[0]}: {exc}") from None

    def version(self) -> tuple[int, int]:
        """Slurm's (major, minor) version, e.g. (22, 5); (0, 0) when it cannot be told."""
        try:
            out = self.run_sync(["squeue", "--version"]).stdout
        except SlurmCommandError:
            return (0, 0)
        m = re.search(r"(\d+)\.(\d+)", out)
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def first_line(text: str) -> str:
    """The first meaningful line of a command's output, without Slurm's ``sbatch: error:`` prefix."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return re.sub(r"^\w+: error: ", "", line)
    return ""
