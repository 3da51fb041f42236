"""A search's progress as a figure: ``orchestra plot DIR --x trial`` (or ``--x generation``).

Every told candidate's score (what the search was told: the objective's score averaged over the
candidate's seeds, as ``orchestra results`` ranks), the best so far, and for a generational search
each generation's mean with its 95 % interval across the population. Read from the sweep's
``search.json`` (what the search was told, in the order it was told) and ``sweep.json``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from orchestra.errors import UserError
from orchestra.rundir import SweepDir, read_json_or_none
from orchestra.search.base import SEARCH_JSON

AXES = ("trial", "generation")


def search_scores(sweep_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The sweep's search settings and its told candidates (trial, generation, value), by trial."""
    sweep = SweepDir(sweep_dir)
    plan = read_json_or_none(sweep.sweep_json) if sweep.exists() else None
    settings = plan.get("settings", {}).get("search") if isinstance(plan, dict) else None
    if not isinstance(settings, dict):
        raise UserError(
            f"{sweep.path}: not a search sweep; --x trial and --x generation plot a search's progress"
        )
    state = read_json_or_none(sweep.path / SEARCH_JSON)
    told = state.get("told", []) if isinstance(state, dict) else []
    return settings, sorted(told, key=lambda c: c["trial"])


def plot_search(sweep_dir: str | os.PathLike[str], x: str, output: str | None) -> tuple[Path, str]:
    """Draw the search's progress against ``x`` (``trial`` or ``generation``); returns the file and a summary."""
    from orchestra.results.curves import t975
    from orchestra.results.errors import require
    from orchestra.results.plot import FORMATS

    settings, told = search_scores(sweep_dir)
    name, mode = settings["objective"], settings["mode"]
    if not told:
        raise UserError(f"{sweep_dir}: the search has told no candidate yet; nothing to plot")
    generational = all(c.get("generation") is not None for c in told)
    if x == "generation" and not generational:
        raise UserError(
            f"{sweep_dir}: {settings['search'].get('kind')} has no generations; plot with --x trial"
        )
    out = Path(output or f"{Path(sweep_dir).name}-{name}-by-{x}.png")
    if out.suffix.lower() not in FORMATS:
        raise UserError(f"{out}: the plot is written as PNG or SVG; give a file name ending in .png or .svg")
    require("matplotlib", "plotting")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    better = max if mode == "max" else min
    values = [c["value"] if c["value"] is not None else math.nan for c in told]
    fig = Figure(figsize=(8, 5), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    if x == "trial":
        xs = [c["trial"] for c in told]
        ax.plot(xs, values, "o", ms=3, color="0.55", label="candidate (mean over its seeds)")
        best, run = [], math.nan
        for v in values:
            run = v if math.isnan(run) else (better(run, v) if not math.isnan(v) else run)
            best.append(run)
        ax.step(xs, best, where="post", color="tab:green", lw=2, label="best so far")
    else:
        gens = sorted({c["generation"] for c in told})
        by = {
            g: [v for c, v in zip(told, values) if c["generation"] == g and not math.isnan(v)] for g in gens
        }
        ax.plot([c["generation"] for c in told], values, "o", ms=3, color="0.6", alpha=0.7, label="candidate")
        means = [sum(by[g]) / len(by[g]) if by[g] else math.nan for g in gens]
        lows, highs = [], []
        for g, m in zip(gens, means):
            n = len(by[g])
            if n < 2:
                lows.append(math.nan)
                highs.append(math.nan)
                continue
            sd = math.sqrt(sum((v - m) ** 2 for v in by[g]) / (n - 1))
            half = t975(n - 1) * sd / math.sqrt(n)
            lows.append(m - half)
            highs.append(m + half)
        ax.plot(gens, means, color="tab:blue", lw=1.8, label="population mean")
        ax.fill_between(gens, lows, highs, color="tab:blue", alpha=0.18, lw=0, label="95 % interval")
        best, run = [], math.nan
        for g in gens:
            top = better(by[g]) if by[g] else math.nan
            run = top if math.isnan(run) else (better(run, top) if not math.isnan(top) else run)
            best.append(run)
        ax.plot(gens, best, color="tab:green", lw=2, drawstyle="steps-post", label="best so far")
    kind = settings["search"].get("kind", "search")
    ax.set_title(f"{Path(sweep_dir).name}: {name} by {x} ({kind}, {len(told)} candidates)", fontsize=12)
    ax.set_xlabel(x)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"{name} ({mode} is best)")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=4, fontsize=9, frameon=False)
    fig.savefig(out)
    top = better((v for v in values if not math.isnan(v)), default=math.nan)
    return out, f"{name} against {x}, {len(told)} candidates, best {top:.6g}"
