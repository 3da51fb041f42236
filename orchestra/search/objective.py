"""The value a candidate is told: its objective's score averaged over its seeds.

PLACEHOLDER until issue 15 (``orchestra.results.objective.score_group``) lands on main: this one
function is replaced by a call to that one implementation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

from orchestra.rundir import read_jsonl


def candidate_score(run_dirs: Iterable[str | os.PathLike[str]], metric: str) -> tuple[float, int]:
    """The mean over runs of each run's mean of ``metric`` (NaN when none logged it), and how many did."""
    scores = []
    for d in run_dirs:
        path = os.path.join(d, "metrics.jsonl")
        if not os.path.exists(path):
            continue
        values = [
            float(r["values"][metric])
            for r in read_jsonl(path).records
            if isinstance(r, dict) and isinstance(r.get("values"), dict) and metric in r["values"]
        ]
        if values:
            scores.append(sum(values) / len(values))
    return (sum(scores) / len(scores) if scores else math.nan), len(scores)
