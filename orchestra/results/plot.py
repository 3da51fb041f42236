"""Drawing learning curves to PNG or SVG with matplotlib (the analysis extra).

The figure is built on matplotlib's object API with the Agg canvas, never pyplot, so plotting from
a notebook or a script does not change the caller's backend or open windows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from orchestra.errors import UserError
from orchestra.results.curves import Curve
from orchestra.results.errors import require
from orchestra.results.params import flatten, varying_keys
from orchestra.results.runs import group_label

FORMATS = (".png", ".svg")
MAX_LEGEND = 20


def x_label(x: str) -> str:
    """The x axis title for ``x``: a step, seconds since the run began, or a metric."""
    return "seconds since the run's first record" if x == "time" else x


def legend_labels(curves: Sequence[Curve]) -> list[str]:
    """Per-variant curves are named by the parameters that differ between them; groups by their key."""
    by_variant = all(c.key == (c.runs[0].variant,) for c in curves)
    keys = varying_keys([c.params for c in curves]) if by_variant and len(curves) > 1 else []
    labels = []
    for c in curves:
        flat = flatten(c.params)
        label = group_label(keys, [flat.get(k) for k in keys]) if keys else c.label
        unfinished = len(c.unfinished)
        if unfinished:
            label += f" ({unfinished}/{len(c.runs)} unfinished)"
        labels.append(label)
    return labels


def save_plot(
    curves: Sequence[Curve],
    path: str | os.PathLike[str],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Draw ``curves`` (mean line, 95 % band, one colour each) into ``path`` (.png or .svg)."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise UserError(f"{out}: the plot is written as PNG or SVG; give a file name ending in .png or .svg")
    require("matplotlib", "plotting")
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    many = len(curves) > 6
    fig = Figure(figsize=(10.5 if many else 8, 5), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    if len(curves) <= 10:
        colors = [colormaps["tab10"](i) for i in range(len(curves))]
    elif len(curves) <= 20:
        colors = [colormaps["tab20"](i) for i in range(len(curves))]
    else:
        colors = [colormaps["viridis"](i / (len(curves) - 1)) for i in range(len(curves))]
    for c, color, label in zip(curves, colors, legend_labels(curves)):
        style = "--" if len(c.unfinished) else "-"
        marker = "o" if len(c.x) == 1 else None
        ax.plot(c.x, c.mean, color=color, lw=1.8, ls=style, marker=marker, label=label)
        ax.fill_between(c.x, c.low, c.high, color=color, alpha=0.18, lw=0)
    ax.set_title(title, fontsize=12)
    ax.set_xlabel(xlabel, fontsize=11)
    ax.set_ylabel(ylabel, fontsize=11)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if len(curves) <= MAX_LEGEND:
        if many:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        else:
            ax.legend(fontsize=9, frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
