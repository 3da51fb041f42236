"""Drawing learning curves with matplotlib (the analysis extra): into a PNG, SVG or PDF, or onto an ``ax``.

Paper-ready by default: vector PDF and SVG with their text kept as text (TrueType in PDF, which
publishers ask for instead of Type 3; real ``<text>`` in SVG), 200 dpi PNG, the legend outside
the axes so that it never covers a curve, and a legend title that says what the line and the band
are (the band is a 95 % interval where three or more runs contribute, their min-max where two do:
:mod:`orchestra.results.curves`). ``title``, ``xlabel``, ``ylabel``, ``logy`` and ``size``
(inches) change the rest.

A file is drawn on matplotlib's object API with the Agg canvas, never pyplot, so plotting from a
notebook or a script does not change the caller's backend or open windows; matplotlib's settings
are changed only inside :func:`save`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestra.errors import UserError
from orchestra.results.curves import Curve
from orchestra.results.errors import require
from orchestra.results.params import flatten, varying_keys
from orchestra.results.runs import group_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = (".png", ".svg", ".pdf")
LEGENDS = ("below", "right", "best", None)
MAX_LEGEND = 20
SIZE = (7.0, 4.2)  # inches: a figure that reads well at a page's width
PAPER_RC: dict[str, Any] = {
    "pdf.fonttype": 42,  # TrueType, not Type 3: text selectable, accepted by publishers
    "ps.fonttype": 42,
    "svg.fonttype": "none",  # text as <text>, editable
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "savefig.dpi": 200,
}


class PlotError(UserError):
    """A plot that cannot be drawn as asked: a file type, a size."""


def x_label(x: str, step_name: str | None = None) -> str:
    """The x axis title: the step's name, seconds since the run began, or the metric."""
    if x == "step":
        return step_name or "step (record number)"
    return "seconds since the run's first record" if x == "time" else x


def parse_size(text: str) -> tuple[float, float]:
    """``"6,4"`` (inches, width and height) -> ``(6.0, 4.0)``; PlotError for anything else."""
    try:
        w, h = (float(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise PlotError(f"--size {text!r}: give the width and height in inches, e.g. --size 6,4") from None
    if not (0.5 <= w <= 100 and 0.5 <= h <= 100):
        raise PlotError(f"--size {text!r}: width and height must be between 0.5 and 100 inches")
    return w, h


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


def band_note(curves: Sequence[Curve], what: str = "seeds", smooth: int = 1) -> str:
    """What the lines and bands show: ``mean ± 95 % CI of 3 seeds``, ``... min–max of 2 seeds``."""
    most = max((int(c.n.max()) for c in curves if len(c.n)), default=0)
    ci = any(bool((c.n >= 3).any()) for c in curves)
    mm = any(bool(c.minmax.any()) for c in curves)
    mean = "geometric mean" if any(c.log for c in curves) else "mean"
    if ci and mm:
        note = f"{mean}; band: 95 % CI where 3+ {what}, min–max where 2"
    elif ci:
        some = "" if all(int(c.n.min()) == most for c in curves) else "up to "
        note = f"{mean} ± 95 % CI of {some}{most} {what}"
    elif mm:
        note = f"{mean}; band: min–max of 2 {what} (fewer than 3)"
    else:
        note = f"{mean} of one run each (no band)" if mean != "mean" else "one run each (no band)"
    if smooth > 1:
        note += f"; smoothed over {smooth} points"
    return note


def draw(
    curves: Sequence[Curve],
    ax: Axes,
    *,
    metric: str,
    x: str = "step",
    smooth: int = 1,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logy: bool = False,
    what: str = "seeds",
    step_name: str | None = None,
    legend: str | None = "below",
) -> Axes:
    """Draw ``curves`` (mean line, band, one colour each) onto ``ax``, label it, and return it.

    ``legend``: ``"below"`` the axes (under the x label) or ``"right"`` of them, both outside so
    that it covers no curve; ``"best"`` inside, where matplotlib finds the least overlap; None for
    none (e.g. one legend for a grid of axes: ``fig.legend(*ax.get_legend_handles_labels())``).
    Its title says what the line and band are. More than 20 curves get no legend (the title says so).
    """
    if legend not in LEGENDS:
        raise PlotError(f"legend={legend!r}: choose one of {', '.join(map(repr, LEGENDS))}")
    from matplotlib import rcParams
    from matplotlib.transforms import ScaledTranslation

    colors = _colors(len(curves))
    for c, color, label in zip(curves, colors, legend_labels(curves)):
        style = "--" if len(c.unfinished) else "-"
        single = int(np.isfinite(c.mean).sum()) == 1
        ax.plot(c.x, c.mean, color=color, lw=1.6, ls=style, marker="o" if single else None, ms=4, label=label)
        ax.fill_between(c.x, c.low, c.high, color=color, alpha=0.2, lw=0)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.set_xlabel(xlabel or x_label(x, step_name))
    ax.set_ylabel(ylabel or metric)
    ax.grid(alpha=0.3, lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.01)
    note = band_note(curves, what, smooth)
    if len(curves) > MAX_LEGEND:
        ax.set_title(f"{title + chr(10) if title else ''}{len(curves)} curves (no legend); {note}")
    elif legend == "right":
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title=note, alignment="left")
    elif legend == "best":
        ax.legend(loc="best", frameon=True, framealpha=0.85, title=note)
    elif legend == "below":
        labels = legend_labels(curves)
        width = ax.get_position().width * ax.get_figure().get_size_inches()[0]  # type: ignore[union-attr]
        # below the tick labels and the x label: about two lines of text and their pads, in points
        drop = 2.4 * rcParams["font.size"] + 14
        below: dict[str, Any] = {
            "loc": "upper center",
            "bbox_to_anchor": (0.5, 0.0),
            "bbox_transform": ax.transAxes + ScaledTranslation(0, -drop / 72, ax.figure.dpi_scale_trans),
            "ncols": _legend_columns(labels, width),
            "frameon": False,
            "title": note,
        }
        ax.legend(**below)
    return ax


def save(
    curves: Sequence[Curve],
    path: str | os.PathLike[str],
    *,
    metric: str,
    size: tuple[float, float] | None = None,
    **style: Any,
) -> Path:
    """Draw ``curves`` into ``path`` (.png, .svg or .pdf, by its suffix), written atomically."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise PlotError(
            f"{out}: the plot is written as PNG, SVG or PDF; give a file name ending in .png, .svg or .pdf"
        )
    require("matplotlib", "plotting")
    import matplotlib

    from orchestra.atomic import atomic_file

    with matplotlib.rc_context(PAPER_RC):  # type: ignore[arg-type]
        fig = figure(curves, metric=metric, size=size, **style)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(out, durable=False) as f:
            fig.savefig(f, format=out.suffix.lower()[1:])
    return out


def figure(
    curves: Sequence[Curve], *, metric: str, size: tuple[float, float] | None = None, **style: Any
) -> Figure:
    """The figure :func:`save` writes: one axes, the legend outside below it (a figure legend)."""
    from matplotlib.figure import Figure

    width, height = size or SIZE
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    draw(curves, ax, metric=metric, legend=None, **style)
    if len(curves) <= MAX_LEGEND:
        handles, labels = ax.get_legend_handles_labels()
        note = band_note(curves, style.get("what", "seeds"), style.get("smooth", 1))
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=_legend_columns(labels, width),
            frameon=False,
            title=note,
        )
    return fig


def _legend_columns(labels: Sequence[str], width: float) -> int:
    """As many columns as fit the figure's width (about 0.075 inch a character at 9 points)."""
    longest = max((len(s) for s in labels), default=1)
    fit = int(width / (0.075 * longest + 0.5))
    return max(1, min(len(labels), fit, 4))


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]
