"""PyExpUtils' Slurm helpers (3.2.3): ``hours``, ``gigs`` and ``Options(d).cmdArgs()``.

``cmdArgs()`` gives sbatch flags in PyExpUtils' fixed order (account, time, ntasks, nodes,
ntasks-per-node, mem-per-cpu, output, mail-type, mail-user) as ``--key=value``, leaving out
options that are not set; ``output`` defaults to ``$SCRATCH/job_output_%j.txt``.

>>> Options({"account": "def-me", "time": hours(3), "cores": 1, "memPerCpu": gigs(4)}).cmdArgs()
'--account=def-me --time=2:59:59 --ntasks=1 --mem-per-cpu=4G --output=$SCRATCH/job_output_%j.txt'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

EMAIL_TYPES = ("BEGIN", "END", "FAIL", "REQUEUE", "ALL")


def hours(n: int) -> str:
    """A Slurm time limit just under ``n`` hours: ``hours(3) == '2:59:59'``."""
    return f"{n - 1}:59:59"


def gigs(n: int) -> str:
    """A Slurm memory size of ``n`` gigabytes: ``gigs(4) == '4G'``."""
    return f"{n}G"


def _optional(typ: Callable[[Any], T], thing: Any) -> T | None:
    return None if thing is None else typ(thing)


def flagString(pairs: Sequence[tuple[str, Any]], joiner: str = "=") -> str:
    """``--key=value`` for each pair whose value is not None, space-separated (PyExpUtils' cmdline).

    As in PyExpUtils, the separating space is added for every pair after the first, so a None
    first pair leaves a leading space.
    """
    s = ""
    for i, (key, value) in enumerate(pairs):
        if value is not None:
            if i > 0:
                s += " "
            s += f"{key}{joiner}{value}"
    return s


class Options:
    """Slurm job options from a dict: ``account`` and ``time`` required, the rest optional."""

    def __init__(self, d: Mapping[str, Any]) -> None:
        self.account = str(d["account"])
        self.time = str(d["time"])
        self.cores = _optional(int, d.get("cores"))
        self.nodes = _optional(int, d.get("nodes"))
        self.memPerCpu = _optional(str, d.get("memPerCpu"))
        self.coresPerNode = _optional(int, d.get("coresPerNode"))
        self.sequential = _optional(int, d.get("sequential"))
        self.parallel = _optional(int, d.get("parallel"))
        self.output = _optional(str, d.get("output", "$SCRATCH/job_output_%j.txt"))
        self.emailType = d.get("emailType")
        self.email = d.get("email")
        if self.emailType and self.emailType not in EMAIL_TYPES:
            print("WARN: <emailType> is not one of the known supported types:", list(EMAIL_TYPES))

    def cmdArgs(self) -> str:
        """The sbatch flags, e.g. ``--account=def-me --time=2:59:59 --ntasks=1 ...``."""
        return flagString(
            [
                ("--account", self.account),
                ("--time", self.time),
                ("--ntasks", self.cores),
                ("--nodes", self.nodes),
                ("--ntasks-per-node", self.coresPerNode),
                ("--mem-per-cpu", self.memPerCpu),
                ("--output", self.output),
                ("--mail-type", self.emailType),
                ("--mail-user", self.email),
            ]
        )
