"""``orchestra gpus``: the GPUs, their memory and utilisation, other users' processes, and orchestra's runs.

The readings are live (NVML, or ``--fake-gpus``). What orchestra holds is known only to the
orchestrator of a sweep, so with ``--sweep DIR`` the command reads the ``status.json`` of that
sweep's running runs (when a live orchestrator holds its lock) and shows, per device, each run's
reservation (the sweep's ``gpu_mem``) and the memory its process group uses now. Without
``--sweep`` only live readings are shown, and the output says so. No GPUs (NVML not loading) is
not an error: one line says why, and the exit status is 0.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fake-gpus",
        metavar="SPEC",
        help="pretend devices instead of NVML: 4x24GiB, 2x80GiB,1x16GiB, or a fake GPU state file",
    )
    p.add_argument("--sweep", metavar="DIR", help="also show what the runs of this running sweep hold")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


@dataclass
class _SweepRuns:
    """The running runs of a sweep directory and their GPU grants."""

    path: str
    orchestrator: int | None  # pid of the live orchestrator, None when none holds the lock
    runs: dict[str, Any] = field(default_factory=dict)  # run id -> (GpuGrant, pid)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "orchestrator": self.orchestrator, "runs": sorted(self.runs)}


def run(args: argparse.Namespace) -> int:
    from orchestra.proc import group_members
    from orchestra.scheduler.gpu import GpuLedger
    from orchestra.scheduler.probe import NvmlProbe, Probe, fake_probe

    sweep = _read_sweep(args.sweep) if args.sweep else None
    probe: Probe = fake_probe(args.fake_gpus) if args.fake_gpus else NvmlProbe()
    try:
        pgids = {key: pid for key, (_, pid) in (sweep.runs if sweep else {}).items()}
        ledger = GpuLedger(probe, pids_of=lambda key: group_members(pgids[key]) if pgids.get(key) else [])
        for key, (grant, _) in (sweep.runs if sweep else {}).items():
            ledger.adopt(key, grant)
        views = ledger.views()
        reason = ledger.reason
    finally:
        probe.close()
    if args.json:
        doc = {
            "reason": reason,
            "devices": [v.to_json() for v in views],
            "sweep": sweep.to_json() if sweep else None,
        }
        print(json.dumps(doc, indent=2))
        return 0
    if reason:
        print(f"No GPUs: {reason}")
        return 0
    print(_table(views))
    print(_footer(sweep))
    return 0


def _read_sweep(path: str) -> _SweepRuns:
    from orchestra.rundir import State, SweepDir, SweepLock, scan
    from orchestra.scheduler.gpu import GpuDevice, GpuGrant
    from orchestra.sweep import Resources

    sweep_dir = SweepDir(path)
    plan = sweep_dir.read_plan()
    resources = Resources.from_json(plan.get("settings", {}).get("resources", {}))
    out = _SweepRuns(str(sweep_dir.path), SweepLock(sweep_dir).holder())
    if out.orchestrator is None:
        return out  # "running" records of a dead orchestrator hold nothing
    for rec in scan(sweep_dir):
        status = rec.status
        if status is None or status.state is not State.RUNNING or not status.gpus:
            continue
        devices = tuple(
            GpuDevice(int(g["index"]), str(g["uuid"]), str(g.get("name", ""))) for g in status.gpus
        )
        grant = GpuGrant(devices, resources.gpu_mem, exclusive=resources.gpus > 0)
        out.runs[f"{rec.variant}/{rec.seed}"] = (grant, status.pid)
    return out


def _table(views: list[Any]) -> str:
    from orchestra.units import format_bytes as b

    rows = [("GPU", "NAME", "UTIL", "USED/TOTAL", "FREE", "OTHERS", "ORCHESTRA", "RESERVED")]
    details: dict[int, list[str]] = {}
    for v in views:
        if not v.ok:
            rows.append((str(v.index), v.name or "?", "-", "unavailable", "", "", "", ""))
            details[len(rows) - 1] = [f"error: {v.error}"]
            continue
        util = "-" if v.util is None else f"{v.util:.0f}%"
        rows.append(
            (
                str(v.index),
                v.name,
                util,
                f"{b(v.used)}/{b(v.total)}",
                b(v.free),
                b(v.others),
                b(v.orchestra),
                b(v.reserved),
            )
        )
        lines = details.setdefault(len(rows) - 1, [])
        lines += [
            f"pid {pid} {_process_label(pid)}: {'?' if used is None else b(used)}"
            for pid, used in v.processes
        ]
        for r in v.runs:
            what = "whole GPU" if r.exclusive else f"{b(r.reserved)} reserved"
            state = ", releasing" if r.releasing else ""
            lines.append(f"run {r.key}: {what}, {b(r.used)} in use{state}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        out += [f"     {line}" for line in details.get(n, [])]
    return "\n".join(out)


def _process_label(pid: int) -> str:
    """``(alice python)`` for a process we can see, else ``(?)``."""
    import psutil

    try:
        p = psutil.Process(pid)
        return f"({p.username()} {p.name()})"
    except (psutil.Error, OSError):
        return "(?)"


def _footer(sweep: _SweepRuns | None) -> str:
    if sweep is None:
        return "Live readings only; give --sweep DIR to show what a running sweep's runs hold."
    if sweep.orchestrator is None:
        return f"{sweep.path}: no orchestrator is running this sweep; live readings only."
    n = len(sweep.runs)
    return f"{sweep.path}: orchestrator pid {sweep.orchestrator}, {n} running run{'s' if n != 1 else ''} on GPUs."
