"""``orchestra plot DIR``: learning curves of a sweep, the mean and a band across seeds, to PNG, SVG or PDF.

The band is the 95 % interval of the mean where three or more runs contribute and their min-max
where two do; the legend's title says which. Without ``--metric``: the sweep's objective, else the
first metric logged that is neither the step nor a counter.
"""

from __future__ import annotations

import argparse

from orchestra.cli.results import add_no_cache, parse_keys, pick_metric, reported_warnings


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="the sweep directory (<root>/<sweep>, made by `orchestra up`)")
    p.add_argument(
        "--metric",
        "-m",
        help="the metric to plot (default: the sweep's objective, else the first metric logged)",
    )
    p.add_argument(
        "--x",
        default="step",
        metavar="X",
        help="x axis: step (default: the sweep's step), time (seconds since each run's first record) or a "
        "metric; trial or generation: a search's candidates, their best so far (and each generation's mean)",
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
        help="where to write the figure, .png, .svg or .pdf (default: ./<sweep>-<metric>.png)",
    )
    p.add_argument(
        "--logy",
        action="store_true",
        help="a logarithmic y axis (the line: geometric mean; band in log space)",
    )
    p.add_argument(
        "--smooth",
        type=int,
        default=1,
        metavar="N",
        help="smooth each run by a centred moving average over N points before averaging runs",
    )
    p.add_argument("--title", help="the figure's title (default: the sweep and the metric)")
    p.add_argument("--xlabel", help="the x axis label (default: the step's name, or --x)")
    p.add_argument("--ylabel", help="the y axis label (default: the metric)")
    p.add_argument("--size", metavar="W,H", help="the figure's width and height in inches (default: 7,4.2)")
    add_no_cache(p)


def run(args: argparse.Namespace) -> int:
    if args.x in ("trial", "generation"):
        from orchestra.search.plot import plot_search

        path, what = plot_search(args.dir, args.x, args.output)
        print(f"wrote {path}: {what}")
        return 0
    with reported_warnings():
        from orchestra.results import load_sweep
        from orchestra.results.errors import require
        from orchestra.results.plot import parse_size, save

        require("matplotlib", "orchestra plot")
        size = parse_size(args.size) if args.size else None
        sweep = load_sweep(args.dir, cache=not args.no_cache)
        metric, note = pick_metric(sweep, args.metric)
        keys = parse_keys(args.group_by)
        output = args.output or f"{sweep.name}-{metric}.png"
        title = args.title
        if title is None:
            unfinished = len(sweep) - sum(1 for r in sweep if r.finished)
            title = f"{sweep.name}: {metric}" + (
                f"  ({unfinished} of {len(sweep)} runs unfinished)" if unfinished else ""
            )
        curves = sweep.curves(metric, x=args.x, group_by=keys, smooth=args.smooth, log=args.logy)
        path = save(
            curves,
            output,
            metric=metric,
            x=args.x,
            smooth=args.smooth,
            title=title,
            xlabel=args.xlabel,
            ylabel=args.ylabel,
            logy=args.logy,
            size=size,
            what="runs" if keys else "seeds",
            step_name=sweep.step_name(),
        )
        against = (sweep.step_name() or "step") if args.x == "step" else args.x
        print(f"wrote {path}: {metric}{note} against {against}, {len(curves)} curve(s)")
    return 0
