"""Runs as a pandas DataFrame: one row per run (final values) or one per (run, step).

Columns: ``run``, ``variant``, ``seed``, ``state``, then each parameter (nested keys dotted), then
``step`` and ``time`` (per step only) and each metric. A parameter named like one of the first
four columns becomes ``param:<name>``; a metric named like a column before it, ``metric:<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestra.results.errors import require
from orchestra.results.params import flatten

if TYPE_CHECKING:
    import pandas as pd

    from orchestra.results.runs import Runs

IDENTITY = ("run", "variant", "seed", "state")


def to_dataframe(runs: Runs, *, steps: bool = False, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """See :meth:`orchestra.results.Runs.to_dataframe`; ``metrics`` limits the metric columns."""
    pd = require("pandas", "to_dataframe()")
    if metrics is None:
        names = runs.metric_names()
    else:
        names = list(metrics)
        for name in names:
            runs.check_metric(name)
    flats = [flatten(r.params) for r in runs]
    param_keys = list(dict.fromkeys(k for f in flats for k in f))
    taken = set(IDENTITY) | ({"step", "time"} if steps else set())
    param_cols = {k: (f"param:{k}" if k in taken else k) for k in param_keys}
    taken |= set(param_cols.values())
    metric_cols = {m: (f"metric:{m}" if m in taken else m) for m in names}
    if steps:
        return pd.DataFrame(_per_step(runs, flats, param_cols, metric_cols))
    columns: dict[str, list[Any]] = {c: [] for c in (*IDENTITY, *param_cols.values(), *metric_cols.values())}
    for r, flat in zip(runs, flats):
        for c, v in zip(IDENTITY, (r.id, r.variant, r.seed, r.state)):
            columns[c].append(v)
        for k, c in param_cols.items():
            columns[c].append(flat.get(k))
        if metric_cols:
            m = r.metrics()
            for name, c in metric_cols.items():
                columns[c].append(m.final(name))
    return pd.DataFrame(columns)


def _per_step(
    runs: Runs, flats: list[dict[str, Any]], param_cols: dict[str, str], metric_cols: dict[str, str]
) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {
        c: [] for c in (*IDENTITY, *param_cols.values(), "step", "time", *metric_cols.values())
    }
    for r, flat in zip(runs, flats):
        m = r.metrics()
        n = len(m)
        if n == 0:
            continue
        for c, v in zip(IDENTITY, (r.id, r.variant, r.seed, r.state)):
            parts[c].append(_repeat(v, n))
        for k, c in param_cols.items():
            parts[c].append(_repeat(flat.get(k), n))
        parts["step"].append(m.step)
        parts["time"].append(m.time)
        for name, c in metric_cols.items():
            if name not in m:
                parts[c].append(np.full(n, np.nan))
                continue
            col = m.values[name]
            mask = m.present.get(name)
            if mask is not None and col.dtype == object:
                col = col.copy()
                col[~mask] = None
            parts[c].append(col)
    return {c: (np.concatenate(arrays) if arrays else np.zeros(0)) for c, arrays in parts.items()}


def _repeat(value: Any, n: int) -> np.ndarray:
    if isinstance(value, (int, float)):  # bool is an int: kept typed, like numbers
        return np.full(n, value)
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out
