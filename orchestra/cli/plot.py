"""``orchestra plot DIR``: learning curves of a sweep, mean and 95 % interval across seeds, to PNG or SVG."""

from __future__ import annotations

import argparse

from orchestra.cli.results import parse_keys, pick_metric, reported_warnings


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="the sweep directory (<root>/<sweep>, made by `orchestra up`)")
    p.add_argument("--metric", "-m", help="the metric to plot (default: the first metric logged)")
    p.add_argument(
        "--x",
        default="step",
        metavar="X",
        help="x axis: step (default), time (seconds since each run's first record) or a metric; "
        "trial or generation: a search's candidates, their best so far (and each generation's mean)",
    )
    p.add_argument(
        "--group-by",
        metavar="KEYS",
        help="comma-separated parameters: one curve per value, pooling runs (default: one per variant)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the figure, .png or .svg (default: ./<sweep>-<metric>.png)",
    )


def run(args: argparse.Namespace) -> int:
    if args.x in ("trial", "generation"):
        from orchestra.search.plot import plot_search

        path, what = plot_search(args.dir, args.x, args.output)
        print(f"wrote {path}: {what}")
        return 0
    with reported_warnings():
        from orchestra.results import load_sweep
        from orchestra.results.errors import require
        from orchestra.results.plot import save_plot, x_label

        require("matplotlib", "orchestra plot")
        sweep = load_sweep(args.dir)
        metric, note = pick_metric(sweep, args.metric)
        keys = parse_keys(args.group_by)
        curves = sweep.curves(metric, x=args.x, group_by=keys)
        output = args.output or f"{sweep.name}-{metric}.png"
        unfinished = len(sweep) - sum(1 for r in sweep if r.finished)
        title = f"{sweep.name}: {metric}" + (
            f"  ({unfinished} of {len(sweep)} runs unfinished)" if unfinished else ""
        )
        across = "runs of each group" if keys else "seeds"
        path = save_plot(
            curves,
            output,
            title=f"{title}\nmean and 95 % interval across {across}",
            xlabel=x_label(args.x),
            ylabel=metric,
        )
        print(f"wrote {path}: {metric}{note} against {args.x}, {len(curves)} curve(s)")
    return 0
