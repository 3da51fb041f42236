"""PyExpUtils' Slurm helpers (3.2.3, ``PyExpUtils.runner.Slurm``): ``hours``, ``gigs``,
``Options(d).cmdArgs()``, ``fromFile``, ``buildParallel`` and ``schedule``.

``cmdArgs()`` gives sbatch flags in PyExpUtils' fixed order (account, time, ntasks, nodes,
ntasks-per-node, mem-per-cpu, output, mail-type, mail-user) as ``--key=value``, leaving out
options that are not set; ``output`` defaults to ``$SCRATCH/job_output_%j.txt``. ``buildParallel``
makes the GNU parallel line a job script runs (each task through ``srun``), and ``schedule``
submits such a script with ``sbatch``. orchestra's own way to run a sweep on Slurm is
``orchestra up --backend slurm`` (docs/slurm.md); these keep PyExpUtils' scripts working.

>>> Options({"account": "def-me", "time": hours(3), "cores": 1, "memPerCpu": gigs(4)}).cmdArgs()
'--account=def-me --time=2:59:59 --ntasks=1 --mem-per-cpu=4G --output=$SCRATCH/job_output_%j.txt'
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from orchestra.compat.pyexputils.cmdline import flagString
from orchestra.compat.pyexputils.runner import parallel

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


def fromFile(path: str) -> Options:
    """``Options`` from a JSON file of them (``account``, ``time``, ...)."""
    with open(path) as f:
        d = json.load(f)
    return Options(d)


def buildParallel(
    executable: str,
    tasks: Iterable[Any],
    opts: Mapping[str, Any],
    parallelOpts: Mapping[str, Any] | None = None,
) -> str | None:
    """A GNU parallel line that runs ``executable`` once per task, each through
    ``srun -N{nodes-per-process} -n{threads-per-process} --exclusive`` (defaults 1 and 1), with
    ``opts['ntasks']`` at once and half a second between starts; ``parallelOpts`` override any of
    ``executable``, ``tasks``, ``cores`` and ``delay``. None without tasks.

    >>> buildParallel("python run.py", [0, 1], {"ntasks": 2})
    'parallel -j 2 --delay 0.5 srun -N1 -n1 --exclusive python run.py ::: 0 1'
    """
    nodes = opts.get("nodes-per-process", 1)
    threads = opts.get("threads-per-process", 1)
    d: dict[str, Any] = {
        "executable": f"srun -N{nodes} -n{threads} --exclusive {executable}",
        "tasks": tasks,
        "cores": opts["ntasks"],
        "delay": 0.5,  # srun asks the controller: a short delay between starts avoids its intermittent errors
    }
    d.update(parallelOpts or {})
    return parallel.build(d)


def schedule(
    script: str, opts: Options | None = None, script_name: str = "auto_slurm.sh", cleanup: bool = True
) -> None:
    """Write ``script`` to ``script_name``, run ``sbatch {opts.cmdArgs()} {script_name}`` through the
    shell (so ``$SCRATCH`` in the default output path expands), and remove the file again
    (``cleanup``). sbatch's own output and errors go to this process's, as with ``os.system``."""
    with open(script_name, "w") as f:
        f.write(script)
    args = opts.cmdArgs() if opts is not None else ""
    try:
        subprocess.run(f"sbatch {args} {script_name}", shell=True, check=False)
    finally:
        if cleanup:
            os.remove(script_name)
