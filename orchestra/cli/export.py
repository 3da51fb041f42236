"""``orchestra export DIR``: every metric of every run, with its parameters, as CSV, Parquet or TensorBoard."""

from __future__ import annotations

import argparse

from orchestra.cli.results import add_no_cache, reported_warnings
from orchestra.errors import UserError


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="the sweep directory (<root>/<sweep>, made by `orchestra up`)")
    p.add_argument(
        "--csv", metavar="FILE", help="one row per run and step: identity, parameters, step, time, metrics"
    )
    p.add_argument("--parquet", metavar="FILE", help="the same rows as Parquet (needs pyarrow)")
    p.add_argument(
        "--tensorboard",
        metavar="OUTDIR",
        help="one TensorBoard run per run (OUTDIR/<variant>/<seed>), parameters in the HParams tab",
    )
    add_no_cache(p)


def run(args: argparse.Namespace) -> int:
    if not (args.csv or args.parquet or args.tensorboard):
        raise UserError(
            "orchestra export: say what to write: --csv FILE, --parquet FILE and/or --tensorboard OUTDIR"
        )
    with reported_warnings():
        from orchestra.results import load_sweep
        from orchestra.results.errors import require
        from orchestra.results.export import export_csv, export_parquet, export_tensorboard

        if args.csv or args.parquet:
            require("pandas", "orchestra export --csv/--parquet")
        sweep = load_sweep(args.dir, cache=not args.no_cache)
        if args.csv:
            print(f"wrote {args.csv}: {export_csv(sweep, args.csv)} rows (one per run and step)")
        if args.parquet:
            print(f"wrote {args.parquet}: {export_parquet(sweep, args.parquet)} rows (one per run and step)")
        if args.tensorboard:
            n = export_tensorboard(sweep, args.tensorboard)
            print(f"wrote {args.tensorboard}: {n} run(s); tensorboard --logdir {args.tensorboard}")
    return 0
