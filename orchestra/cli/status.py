"""``orchestra status DIR``: the runs of a sweep, their states and latest metrics."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def add_parser(p: argparse.ArgumentParser) -> None:
    from orchestra.cli.completion import complete_with, directories

    complete_with(
        p.add_argument("sweep_dir", metavar="DIR", help="the sweep directory (ROOT/NAME)"), directories
    )
    p.add_argument("--json", action="store_true", help="one JSON object per run, as a list")
    p.add_argument(
        "--state",
        action="append",
        default=None,
        metavar="STATE",
        help="only runs in this state (queued, running, completed, failed, cancelled, lost); repeatable",
    )


def collect(sweep_dir: str) -> tuple[dict[str, Any], int | None, list[dict[str, Any]]]:
    """The plan, the live orchestrator's pid (or None), and one dict per run."""
    from orchestra.rundir import SweepDir, last_record, live_holder, observed_state, planned_runs

    sweep = SweepDir(sweep_dir)
    plan = {"name": sweep.path.name, **sweep.read_plan()}  # a hand-made plan may have no name
    live = live_holder(sweep)
    rows = []
    for ref in planned_runs(sweep, plan):
        status = ref.dir.read_status(strict=True)
        state = observed_state(status, live is not None)
        last = last_record(ref.dir.metrics) if status is not None else None
        values = last.get("values", {}) if isinstance(last, dict) else {}
        elapsed = None
        if status is not None and status.started_at is not None:
            end = status.ended_at if status.ended_at and status.state.finished else time.time()
            elapsed = max(0.0, end - status.started_at)
        rows.append(
            {
                "run": ref.index,
                "id": ref.id,
                "variant": ref.variant,
                "seed": ref.seed,
                "state": state,
                "attempt": status.attempt if status else 0,
                "exit": status.exit.to_json() if status and status.exit else None,
                "pid": status.pid if status else None,
                "host": status.host if status else None,
                "handle": dict(status.handle) if status and status.handle else None,
                "elapsed": elapsed,
                "gpus": list(status.gpus) if status else [],
                "step": last.get("step") if isinstance(last, dict) else None,
                "metrics": values,
                "dir": str(ref.dir.path),
            }
        )
    return plan, live, rows


def run(args: argparse.Namespace) -> int:
    from orchestra.errors import UserError
    from orchestra.rundir import dumps

    plan, live, rows = collect(args.sweep_dir)
    if args.state:
        from orchestra.rundir import STATE_NAMES

        known = set(STATE_NAMES)
        bad = [s for s in args.state if s not in known]
        if bad:
            raise UserError(f"--state {bad[0]!r}: not one of {', '.join(sorted(known))}")
        rows = [r for r in rows if r["state"] in args.state]
    if args.json:
        sys.stdout.buffer.write(dumps(rows) + b"\n")
        return 0
    _table(plan, live, rows)
    return 0


def _table(plan: dict[str, Any], live: int | None, rows: list[dict[str, Any]]) -> None:
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from orchestra.units import format_duration

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 10_000)
    counts = Counter(r["state"] for r in rows)
    where = f"running (orchestrator pid {live})" if live else "not running"
    console.print(
        f"[bold]{plan['name']}[/]  {where}  " + ", ".join(f"{n} {s}" for s, n in counts.most_common())
    )
    metric_keys: list[str] = []
    for r in rows:
        for k in r["metrics"]:
            if k not in metric_keys and len(metric_keys) < 4:
                metric_keys.append(k)
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("#", "run", "state", "try", "elapsed", "step", *metric_keys, "why"):
        table.add_column(
            col,
            overflow="fold" if col == "why" else "ellipsis",
            justify="right" if col in ("#", "try", "step") else "left",
        )
    from orchestra.present import state_style

    for r in rows:
        why = ""
        if r["exit"] and r["state"] != "completed":
            from orchestra.rundir import Exit

            why = Exit.from_json(r["exit"]).describe()
        cells = [
            str(r["run"]),
            r["id"],
            f"[{state_style(r['state']) or 'dim'}]{r['state']}[/]",
            str(r["attempt"] or ""),
            format_duration(r["elapsed"]) if r["elapsed"] is not None else "",
            "" if r["step"] is None else str(r["step"]),
            *[_fmt(r["metrics"].get(k)) for k in metric_keys],
            why,
        ]
        table.add_row(*cells)
    console.print(table)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)
