"""``Slurm``: a sweep's Slurm options, from the sweep file or from ``orchestra up --backend slurm``.

>>> sweep = Sweep(train, space, gpus=1, backend=Slurm(partition="gpu", time="2h", max_parallel=50))

Every field is optional: Slurm's own defaults (the partition's time limit, the cluster's default
partition) apply to what is not given. ``orchestra up --partition P --time 2h ...`` gives the same
fields on the command line; given there, they win over the sweep file's. The backend itself is
:mod:`orchestra.scheduler.backends.slurm`; docs/slurm.md says how runs become job arrays.

This module stays light: ``orchestra`` exports ``Slurm``, and every run's process imports ``orchestra``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from orchestra.errors import UserError
from orchestra.units import parse_bytes, parse_duration

# sbatch options orchestra writes itself: one from the user would break what the backend relies on
OWN_OPTIONS = {
    "--array": "one array task per run",
    "-a": "one array task per run",
    "--output": "the runs' output.log",
    "-o": "the runs' output.log",
    "--error": "the runs' output.log",
    "-e": "the runs' output.log",
    "--open-mode": "the runs' output.log",
    "--job-name": "how orchestra finds the sweep's jobs",
    "-J": "how orchestra finds the sweep's jobs",
    "--parsable": "how orchestra reads the job id",
    "--wrap": "the job script",
    "--signal": "the time-limit signal; use Slurm(signal_before=...)",
    "--export": "the run's environment",
    "--chdir": "the run's working directory",
    "-D": "the run's working directory",
    "--wait": "orchestra watches jobs itself",
    "-W": "orchestra watches jobs itself",
}

DEFAULT_SIGNAL_BEFORE = 90.0  # seconds before the time limit that a run gets SIGTERM, as submitit's default

_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_SLURM_MEM = re.compile(r"^(\d+)([KMGT]?)$", re.IGNORECASE)


FLAGS = {  # the command line's name of each field, for messages
    "partition": "--partition",
    "account": "--account",
    "qos": "--qos",
    "time": "--time",
    "mem": "--mem",
    "constraint": "--constraint",
    "max_parallel": "--max-parallel",
    "extra": "--sbatch-arg",
}


def label(field: str) -> str:
    """``Slurm time (--time)``: how messages name an option, from the sweep file or the command line."""
    flag = FLAGS.get(field)
    return f"Slurm {field} ({flag})" if flag else f"Slurm {field}"


class SlurmOptionError(UserError):
    """A Slurm option that cannot be used (a bad time limit, an sbatch flag orchestra owns)."""


@dataclass(frozen=True)
class Slurm:
    """Run a sweep's runs as Slurm job arrays; see the module docstring and docs/slurm.md.

    - ``partition``, ``account``, ``qos``, ``constraint``: sbatch's options of those names.
    - ``time``: each job's time limit, Slurm's way (``120`` minutes, ``"2:00:00"``, ``"1-12"``) or
      orchestra's (``"2h"``, ``"90m"``); rounded up to whole minutes. Default: the sweep's
      ``timeout`` (plus the grace period), else the partition's default.
    - ``mem``: memory per job (``"8G"``: Slurm's binary units; ``"8GiB"`` or ``"8GB"`` also work).
    - ``max_parallel``: at most this many of the sweep's jobs run at once (the array's ``%`` throttle).
    - ``extra``: more sbatch arguments, e.g. ``("--exclusive", "--nice=10")``; they win over the above.
    - ``signal_before``: how long before the time limit a run gets SIGTERM, to save a snapshot
      (default 90 s, at most half the limit).
    - ``python``: the Python that runs on the compute nodes (default: the one running orchestra,
      which must be at the same path there: a venv on the shared filesystem).
    - ``setup``: shell lines each job runs before its run starts (``"module load cuda/12.1"``).
    """

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str | int | None = None
    mem: str | int | None = None
    constraint: str | None = None
    max_parallel: int | None = None
    extra: tuple[str, ...] = ()
    signal_before: str | float | None = None
    python: str | None = None
    setup: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("partition", "account", "qos", "constraint", "python"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise SlurmOptionError(f"{label(name)} must be a non-empty string, got {value!r}")
        object.__setattr__(self, "extra", _strings(self.extra, "extra"))
        object.__setattr__(self, "setup", _strings(self.setup, "setup"))
        if self.max_parallel is not None and (
            isinstance(self.max_parallel, bool)
            or not isinstance(self.max_parallel, int)
            or self.max_parallel < 1
        ):
            raise SlurmOptionError(
                f"{label('max_parallel')} must be an integer >= 1, got {self.max_parallel!r}"
            )
        self.minutes()  # checked now: a bad value is a mistake in the sweep file or on the command line
        self.mem_flag()
        self.lead()
        for arg in self.extra:
            name = arg.split("=", 1)[0]
            if not name.startswith("-"):
                raise SlurmOptionError(
                    f"{label('extra')}: {arg!r} is not an sbatch option; write it as '--name=value'"
                )
            if name in OWN_OPTIONS:
                raise SlurmOptionError(
                    f"{label('extra')}: orchestra sets {name} itself ({OWN_OPTIONS[name]}); leave it out"
                )

    def minutes(self) -> int | None:
        """The time limit in whole minutes, or None (the partition's default)."""
        return None if self.time is None else slurm_minutes(self.time, label("time"))

    def mem_flag(self) -> str | None:
        """``--mem``'s value: ``"8G"`` as written, other sizes in MiB."""
        if self.mem is None:
            return None
        text = str(self.mem).strip()
        m = _SLURM_MEM.match(text)
        if m and not isinstance(self.mem, bool):
            return f"{m.group(1)}{m.group(2).upper()}"  # Slurm's own syntax: a number is MiB
        n = parse_bytes(self.mem, label("mem"))
        assert n is not None
        return f"{math.ceil(n / 2**20)}M"

    def lead(self) -> float:
        """Seconds before the time limit that a run gets SIGTERM."""
        if self.signal_before is None:
            return DEFAULT_SIGNAL_BEFORE
        lead = parse_duration(self.signal_before, "Slurm signal_before")
        assert lead is not None
        return lead

    def merged(self, over: Slurm | None) -> Slurm:
        """These options with those ``over`` gives (the command line's) put over them."""
        if over is None:
            return self
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(over, f.name)
            if f.name in ("extra", "setup"):
                changes[f.name] = (*getattr(self, f.name), *value)
            elif value is not None:
                changes[f.name] = value
        return replace(self, **changes)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Slurm:
        """The options :meth:`to_json` recorded (``orchestra up DIR`` runs a sweep from its record)."""
        return cls(
            partition=d.get("partition"),
            account=d.get("account"),
            qos=d.get("qos"),
            time=d.get("time"),
            mem=d.get("mem"),
            constraint=d.get("constraint"),
            max_parallel=d.get("max_parallel"),
            extra=tuple(d.get("extra") or ()),
            signal_before=d.get("signal_before"),
            python=d.get("python"),
            setup=tuple(d.get("setup") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        """As recorded in ``sweep.json``'s settings."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in (None, ()):
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def slurm_minutes(value: str | int | float, what: str) -> int:
    """Whole minutes (rounded up) from Slurm's time formats (``120`` is minutes, ``"1:30:00"``,
    ``"2-12"``, ``"2-12:30:00"``) or orchestra's durations (``"2h"``, ``"90m"``, ``"30s"``)."""
    if isinstance(value, bool):
        raise SlurmOptionError(f"{what}: {value!r} is not a time limit; write e.g. '2h' or '1:30:00'")
    if isinstance(value, (int, float)):
        seconds = float(value) * 60  # Slurm's meaning of a bare number: minutes
    else:
        text = value.strip()
        m = _SLURM_TIME.match(text)
        if m and ("-" in text or ":" in text or text.isdigit()):
            days, a, b, c = (int(g) if g is not None else None for g in m.groups())
            if "-" in text:  # days-hours[:minutes[:seconds]]
                seconds = (days or 0) * 86400 + (a or 0) * 3600 + (b or 0) * 60 + (c or 0)
            elif c is not None:  # hours:minutes:seconds
                seconds = (a or 0) * 3600 + (b or 0) * 60 + c
            elif b is not None:  # minutes:seconds
                seconds = (a or 0) * 60 + b
            else:  # minutes
                seconds = (a or 0) * 60
        else:
            try:
                parsed = parse_duration(text, what)
            except UserError:
                raise SlurmOptionError(
                    f"{what}: {value!r} is not a time limit; write e.g. '2h', '90m', '1:30:00' or '2-00:00:00'"
                ) from None
            assert parsed is not None
            seconds = parsed
    if seconds <= 0:
        raise SlurmOptionError(f"{what}: must be positive, got {value!r}")
    return max(1, math.ceil(seconds / 60))


def _strings(value: Iterable[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    out = tuple(value)
    for item in out:
        if not isinstance(item, str) or not item.strip():
            raise SlurmOptionError(f"{label(what)} must be a list of non-empty strings, got {item!r}")
    return out
