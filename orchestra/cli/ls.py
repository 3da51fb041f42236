"""``orchestra ls [--root DIR] [--json]``: every sweep under the root, its service and its runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        default=os.environ.get("ORCHESTRA_ROOT", "sweeps"),
        help="directory that holds sweeps (default: ./sweeps or $ORCHESTRA_ROOT)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per sweep, in a list")


def collect(root: Path) -> list[dict[str, Any]]:
    """One dict per sweep under ``root``: name, dir, service, counts per state, started, last activity."""
    from orchestra.errors import RunDirError
    from orchestra.rundir import SweepDir, live_holder, observed_state, planned_runs

    out = []
    for plan_file in sorted(root.glob("*/sweep.json")):
        sweep = SweepDir(plan_file.parent)
        try:
            plan = sweep.read_plan()
        except RunDirError:
            continue
        holder = live_holder(sweep)
        counts: dict[str, int] = {}
        last = plan.get("updated") or plan.get("created")
        for ref in planned_runs(sweep, plan):
            status = ref.dir.read_status()
            state = observed_state(status, holder is not None)
            counts[state] = counts.get(state, 0) + 1
            if status is not None:
                last = max(
                    t for t in (last, status.ended_at, status.started_at, status.queued_at) if t is not None
                )
        host = None
        if holder is not None:
            try:
                words = sweep.lock.read_text().split()
                host = words[1] if len(words) > 1 else None
            except OSError:
                pass
        service = {"pid": holder, "host": host} if holder is not None else None
        out.append(
            {
                "name": plan.get("name", sweep.path.name),
                "dir": str(sweep.path),
                "service": service,
                "counts": counts,
                "runs": sum(counts.values()),
                "started": plan.get("created"),
                "last_activity": last,
            }
        )
    return out


def run(args: argparse.Namespace) -> int:
    from orchestra.errors import UserError
    from orchestra.rundir import dumps

    root = Path(args.root)
    if not root.is_dir():
        raise UserError(f"{root}: no such directory; give --root, the directory that holds your sweeps")
    sweeps = collect(root)
    if args.json:
        sys.stdout.buffer.write(dumps(sweeps) + b"\n")
        return 0
    if not sweeps:
        print(f"no sweeps under {root}")
        return 0
    _table(sweeps)
    return 0


def _table(sweeps: list[dict[str, Any]]) -> None:
    import time

    from rich.console import Console
    from rich.table import Table

    from orchestra.present import state_style
    from orchestra.units import format_duration

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("sweep", "service", "runs", "started", "last activity"):
        table.add_column(col)
    now = time.time()
    for s in sweeps:
        svc = s["service"]
        service = (
            f"[cyan]live pid {svc['pid']}{' on ' + svc['host'] if svc.get('host') else ''}[/]"
            if svc
            else "[dim]not running[/]"
        )
        counts = ", ".join(f"[{state_style(k) or 'dim'}]{n} {k}[/]" for k, n in sorted(s["counts"].items()))
        started = f"{format_duration(now - s['started'])} ago" if s.get("started") else ""
        last = f"{format_duration(now - s['last_activity'])} ago" if s.get("last_activity") else ""
        table.add_row(s["name"], service, f"{s['runs']}: {counts}", started, last)
    Console(highlight=False).print(table)
