"""``orchestra results DIR``: the variants of a sweep ranked by a metric, and the best config.

Without ``--metric`` the sweep's objective is used (``Sweep(objective=..., mode=...)``), else
the first metric logged that is a number and neither the step nor a counter; without ``--mode``
the objective's, else a guess from the name (``min`` for loss, error, regret, ...); the output
says which was chosen. A rich table on a terminal, aligned plain text otherwise, or ``--json`` /
``--csv`` for scripts. Works on a sweep that is still running.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.results import Runs, Score, SweepResults

MAX_WARNINGS = 10


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="the sweep directory (<root>/<sweep>, made by `orchestra up`)")
    p.add_argument(
        "--metric",
        "-m",
        help="the metric to compare (default: the sweep's objective, else the first metric logged "
        "that is neither the step nor a counter)",
    )
    p.add_argument(
        "--mode",
        choices=("max", "min"),
        help="whether bigger or smaller is better (default: the objective's, else from the name)",
    )
    window = p.add_mutually_exclusive_group()
    window.add_argument("--last", type=int, metavar="N", help="score the last N steps of each run")
    window.add_argument(
        "--last-pct", type=float, metavar="P", help="score the last P percent of each run's steps"
    )
    p.add_argument(
        "--group-by",
        metavar="KEYS",
        help="comma-separated parameters: pool runs by their values (default: each variant's seeds)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the ranking as JSON")
    out.add_argument("--csv", action="store_true", help="print the ranking as CSV")
    add_no_cache(p)


def add_no_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="read every metrics.jsonl; neither read nor write the runs' columnar caches",
    )


def run(args: argparse.Namespace) -> int:
    with reported_warnings():
        from orchestra.results import load_sweep
        from orchestra.results.scores import Window

        sweep = load_sweep(args.dir, cache=not args.no_cache)
        metric, metric_note = pick_metric(sweep, args.metric)
        mode, mode_note = pick_mode(sweep, metric, args.mode)
        window = Window(args.last, args.last_pct)
        keys = parse_keys(args.group_by)
        scores = sweep.rank(metric, mode=mode, last=args.last, last_pct=args.last_pct, group_by=keys)
        if args.json:
            _print_json(sweep, metric, mode, window.to_json(), keys, scores)
        elif args.csv:
            _print_csv(sweep, keys, scores)
        else:
            print(f"sweep {sweep.name} ({sweep.path}): {len(sweep)} runs, {_states(sweep.states())}")
            print(f"metric {metric}{metric_note}; {mode} is best{mode_note}; scored over {window.describe()}")
            _print_table(sweep, metric, keys, scores)
            _print_best(scores[0], metric)
            _print_unfinished(sweep)
    return 0


def pick_metric(sweep: Runs, metric: str | None) -> tuple[str, str]:
    """The metric asked for, or the default one with a note saying why."""
    if metric:
        return metric, ""
    if sweep.objective() is not None:
        return sweep.default_metric(), " (the sweep's objective)"
    return (
        sweep.default_metric(),
        " (the first metric logged that is not a step or counter; --metric to choose)",
    )


def pick_mode(sweep: Runs, metric: str, mode: str | None) -> tuple[str, str]:
    """The mode asked for, the objective's, or a guess from the metric's name; with a note saying which."""
    from orchestra.results.scores import guess_mode

    if mode:
        return mode, ""
    declared = sweep.objective()
    if declared is not None and declared[0] == metric:
        return declared[1], " (the sweep's objective)"
    return guess_mode(metric), " (guessed from the name; --mode to choose)"


def parse_keys(text: str | None) -> list[str] | None:
    """``"lr,batch_size"`` -> ``["lr", "batch_size"]``; None when not given."""
    if not text:
        return None
    return [k.strip() for k in text.split(",") if k.strip()] or None


@contextlib.contextmanager
def reported_warnings() -> Iterator[None]:
    """Print the results warnings raised inside as ``orchestra: warning: ...`` lines (at most 10)."""
    from orchestra.results.errors import ResultsWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        try:
            yield
        finally:
            mine = [w for w in caught if issubclass(w.category, ResultsWarning)]
            for w in mine[:MAX_WARNINGS]:
                print(f"orchestra: warning: {w.message}", file=sys.stderr)
            if len(mine) > MAX_WARNINGS:
                print(
                    f"orchestra: warning: ... and {len(mine) - MAX_WARNINGS} more like these", file=sys.stderr
                )


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in states.items())


def _columns(sweep: SweepResults, keys: Sequence[str] | None) -> list[str]:
    return list(keys) if keys else sweep.varying_keys()


def _cells(score: Score, columns: Sequence[str]) -> list[str]:
    from orchestra.results.params import flatten, format_value, get_param

    if not columns:
        return [score.label]
    flat = flatten(score.params)
    return [format_value(flat[c] if c in flat else get_param(score.params, c, None)) for c in columns]


def _value(score: Score) -> str:
    from orchestra.results.params import format_value

    if score.n == 0:
        return "no data"
    if score.n == 1:
        return format_value(score.mean)
    return f"{format_value(score.mean)} ± {format_value(score.stderr)}"


def _runs_cell(score: Score) -> str:
    """``scored/all`` runs, with the states of those not completed: ``1/2 (1 running)``."""
    text = f"{score.n}/{len(score.runs)}"
    others = score.runs.missing()
    if len(others):
        text += f" ({_states(others.states())})"
    return text


def _print_table(sweep: SweepResults, metric: str, keys: Sequence[str] | None, scores: list[Score]) -> None:
    columns = _columns(sweep, keys)
    header = ["#", *(columns or ["variant"]), f"{metric} (mean ± se)", "runs"]
    rows = [[str(i), *_cells(s, columns), _value(s), _runs_cell(s)] for i, s in enumerate(scores, 1)]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header, header_style="bold")
        for col in (0, len(header) - 2):
            table.columns[col].justify = "right"
        for i, row in enumerate(rows):
            table.add_row(*row, style="bold green" if i == 0 else None)
        Console().print(table)
        return
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _print_best(best: Score, metric: str) -> None:
    from orchestra.rundir import dumps

    print()
    if best.n == 0 or math.isnan(best.mean):
        print(f"best: none; no variant has a finite {metric} (every score is NaN: diverged runs?)")
        return
    name = f" (variant {best.variant})" if best.variant and best.variant != best.label else ""
    print(f"best: {best.label}{name}: {metric} {_value(best)} over {best.n} run(s)")
    print(dumps(dict(best.params)).decode())


def _print_unfinished(sweep: SweepResults) -> None:
    states = sweep.missing().states()
    states.pop("failed", None)
    states.pop("cancelled", None)
    if not states:
        return
    print(f"\nnot finished: {_states(states)}; scores use what those runs logged so far")
    if "lost" in states:
        print(
            f"lost runs were running when the orchestrator died; `orchestra up` resumes them ({sweep.path})"
        )


def _print_json(
    sweep: SweepResults,
    metric: str,
    mode: str,
    window: dict[str, Any],
    keys: Sequence[str] | None,
    scores: list[Score],
) -> None:
    from orchestra.rundir import dumps

    ranking = [{"rank": i, **s.to_json()} for i, s in enumerate(scores, 1)]
    doc = {
        "sweep": sweep.name,
        "path": str(sweep.path),
        "metric": metric,
        "mode": mode,
        "window": window,
        "group_by": list(keys) if keys else None,
        "states": sweep.states(),
        "ranking": ranking,
        "best": ranking[0] if scores[0].n and not math.isnan(scores[0].mean) else None,
    }
    sys.stdout.write(dumps(doc).decode() + "\n")


def _print_csv(sweep: SweepResults, keys: Sequence[str] | None, scores: list[Score]) -> None:
    from orchestra.results.params import flatten, get_param

    columns = _columns(sweep, keys)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["rank", "label", *columns, "mean", "stderr", "n", "runs", "unfinished"])
    for i, s in enumerate(scores, 1):
        flat = flatten(s.params)
        cells = [flat.get(c, get_param(s.params, c, "")) for c in columns]
        w.writerow([i, s.label, *cells, repr(s.mean), repr(s.stderr), s.n, len(s.runs), len(s.unfinished)])
