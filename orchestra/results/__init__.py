"""Reading finished (or running) sweeps: runs, metrics, best configs, DataFrames and plots.

>>> from orchestra.results import load_sweep
>>> sweep = load_sweep("sweeps/quickstart")             # reads sweep.json and the status files
>>> best = sweep.best(last_pct=10)                      # by the sweep's objective (or "loss", mode="min")
>>> best.params, best.mean, best.stderr
>>> sweep.where(batch_size=32).split("lr")              # {0.01: <Runs>, 0.03: <Runs>, ...}
>>> sweep.plot("loss", "curves.pdf", logy=True)         # mean and a band across seeds; or ax=ax

Needs numpy (the ``analysis`` extra); ``to_dataframe`` needs pandas, plots matplotlib, exports
pyarrow or tensorboardX. docs/results.md is the guide; :mod:`orchestra.results.objective` scores
runs from their directories for a search.
"""

from orchestra.results.errors import require

require("numpy", "orchestra.results")

from orchestra.results.curves import Curve  # noqa: E402
from orchestra.results.errors import MetricError, MissingExtraError, ResultsWarning, ScoreError  # noqa: E402
from orchestra.results.metrics import Metrics, read_metrics  # noqa: E402
from orchestra.results.params import MISSING, get_param  # noqa: E402
from orchestra.results.runs import Run, Runs  # noqa: E402
from orchestra.results.scores import Score, Window  # noqa: E402
from orchestra.results.sweep import SweepResults, load_sweep  # noqa: E402

__all__ = [
    "MISSING",
    "Curve",
    "MetricError",
    "Metrics",
    "MissingExtraError",
    "ResultsWarning",
    "Run",
    "Runs",
    "Score",
    "ScoreError",
    "SweepResults",
    "Window",
    "get_param",
    "load_sweep",
    "read_metrics",
]
