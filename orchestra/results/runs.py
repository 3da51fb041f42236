"""Runs of a sweep and collections of them: filter, split, slice, find, group, rank.

Nothing here reads a metrics file until a metric is asked for; each file is then read once and
kept by its :class:`Run`, so every view of a collection (a filter, a split, a group) shares it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from orchestra.results.errors import MetricError, ResultsWarning
from orchestra.results.metrics import Metrics, read_metrics, union_names
from orchestra.results.params import MISSING, equal_except, format_value, get_param, hashable
from orchestra.rundir import STEP_KEYS, RunDir, State, Status, observed_state, read_json_or_none

if TYPE_CHECKING:
    import pandas as pd

    from orchestra.results.curves import Curve
    from orchestra.results.scores import Score

FINISHED = tuple(s.value for s in State if s.finished)


class Run:
    """One run of a sweep: a variant's parameters with a seed, its status and its files.

    ``state`` is the status's state (``queued`` when the run has no status yet) or ``lost`` for a
    run recorded as running in a sweep whose orchestrator is gone. ``metrics()``, ``config``,
    ``metadata`` and ``result`` read their file on first use and keep it.
    """

    __slots__ = (
        "_files",
        "_metrics",
        "dir",
        "index",
        "lost",
        "params",
        "seed",
        "status",
        "variant",
        "variant_index",
    )

    def __init__(
        self,
        index: int,
        variant: str,
        variant_index: int,
        seed: int,
        params: Mapping[str, Any],
        run_dir: RunDir,
        status: Status | None,
        lost: bool = False,
    ) -> None:
        self.index = index
        self.variant = variant
        self.variant_index = variant_index
        self.seed = seed
        self.params = params
        self.dir = run_dir
        self.status = status
        self.lost = lost
        self._metrics: Metrics | None = None
        self._files: dict[str, Any] = {}

    @property
    def id(self) -> str:
        """``<variant>/<seed>``, as everywhere in orchestra."""
        return f"{self.variant}/{self.seed}"

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def state(self) -> str:
        """queued, running, completed, failed, cancelled, or lost (running, orchestrator gone)."""
        return observed_state(self.status, not self.lost)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def completed(self) -> bool:
        return self.state == State.COMPLETED.value

    def param(self, key: str, default: Any = MISSING) -> Any:
        """A parameter by key (dotted or ``a:b`` paths reach into nested dicts)."""
        return get_param(self.params, key, default)

    def metrics(self) -> Metrics:
        """The run's metrics as columns; read on first call, then cached.

        A truncated last line or unreadable lines are skipped with a ResultsWarning; a finished
        run without a metrics file warns too (a queued or running one is simply empty).
        """
        if self._metrics is None:
            m = read_metrics(self.dir.metrics)
            for problem in m.problems:
                warnings.warn(f"{self.dir.metrics}: {problem}", ResultsWarning, stacklevel=2)
            if not m.exists and self.finished:
                warnings.warn(
                    f"run {self.id} is {self.state} but has no metrics.jsonl", ResultsWarning, stacklevel=2
                )
            self._metrics = m
        return self._metrics

    def curve(self, metric: str) -> tuple[Any, Any]:
        """``(steps, values)`` of the records that logged ``metric``."""
        return self.metrics().curve(metric)

    def final(self, metric: str) -> Any:
        """The last value logged for ``metric``; None if the run never logged it."""
        return self.metrics().final(metric)

    def _json(self, name: str, path: Path) -> Any:
        if name not in self._files:
            self._files[name] = read_json_or_none(path)
        return self._files[name]

    @property
    def config(self) -> dict[str, Any] | None:
        """``config.json`` (None before the run first started)."""
        return self._json("config", self.dir.config)

    @property
    def metadata(self) -> dict[str, Any] | None:
        """``metadata.json``, written by the run (None until it has)."""
        return self._json("metadata", self.dir.metadata)

    @property
    def result(self) -> dict[str, Any] | None:
        """``result.json``, written by the run at its end (None until then)."""
        return self._json("result", self.dir.result)

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.state}>"


class Runs(Sequence[Run]):
    """An ordered collection of runs; every selection returns another Runs over the same Run objects.

    >>> sweep = load_sweep("sweeps/quickstart")
    >>> sweep.where(batch_size=32).where_ge("lr", 0.03).best("loss", mode="min").params
    """

    def __init__(self, runs: Iterable[Run]) -> None:
        self._runs = tuple(runs)

    def __len__(self) -> int:
        return len(self._runs)

    @overload
    def __getitem__(self, i: int) -> Run: ...
    @overload
    def __getitem__(self, i: slice) -> Runs: ...
    def __getitem__(self, i: int | slice) -> Run | Runs:
        if isinstance(i, slice):
            return Runs(self._runs[i])
        return self._runs[i]

    def __iter__(self) -> Iterator[Run]:
        return iter(self._runs)

    def __repr__(self) -> str:
        return f"<Runs: {len(self)} runs>"

    # -- selection ------------------------------------------------------------------------------

    def filter(self, predicate: Callable[[Run], bool]) -> Runs:
        """The runs for which ``predicate(run)`` is true."""
        return Runs(r for r in self._runs if predicate(r))

    def where(self, params: Mapping[str, Any] | None = None, /, **kw: Any) -> Runs:
        """Runs whose parameters equal the given values; a callable value is a predicate on the value.

        Keys may be dotted paths (pass them in a dict: ``where({"model.lr": 1e-3})``). As in
        PyExpUtils, a run that does not have a parameter at all matches: comparing TD with GTD,
        TD has no second step size and stays in.

        >>> runs.where(lr=0.01)
        >>> runs.where({"optim.beta": lambda b: b < 0.99}, hidden=64)
        """
        conditions = {**(params or {}), **kw}

        def matches(run: Run) -> bool:
            for key, want in conditions.items():
                have = run.param(key)
                if have is MISSING:
                    continue
                if callable(want):
                    if not want(have):
                        return False
                elif have != want:
                    return False
            return True

        return self.filter(matches)

    def where_ge(self, key: str, value: Any) -> Runs:
        """Runs whose parameter ``key`` is >= ``value`` (runs without ``key`` match)."""
        return self.where({key: lambda have: have >= value})

    def split(self, key: str) -> dict[Any, Runs]:
        """``{value: runs}`` for each value of parameter ``key``, in first-seen order.

        Lists become tuples to serve as keys; runs without the parameter go under ``None``.
        """
        parts: dict[Any, list[Run]] = {}
        for r in self._runs:
            v = r.param(key, None)
            parts.setdefault(hashable(v), []).append(r)
        return {k: Runs(v) for k, v in parts.items()}

    def matching(self, ref: Run | Mapping[str, Any], ignore: Iterable[str] = ()) -> Runs:
        """Runs whose parameters equal those of ``ref`` (a run or a dict) on every key but ``ignore``."""
        params = ref.params if isinstance(ref, Run) else ref
        skip = tuple(ignore)
        return self.filter(lambda r: equal_except(params, r.params, skip))

    def find(self, ref: Run | Mapping[str, Any], ignore: Iterable[str] = ()) -> Run | None:
        """The first run whose parameters equal those of ``ref`` except ``ignore``; None if there is none.

        Every seed of a variant has its parameters, so this is the variant's first seed; use
        :meth:`matching` for all of them.
        """
        found = self.matching(ref, ignore)
        return found[0] if len(found) else None

    def slice(self, ref: Run | Mapping[str, Any], key: str) -> dict[Any, Runs]:
        """``{value of key: runs}`` with every other parameter fixed to those of ``ref`` (all seeds)."""
        return self.matching(ref, ignore=[key]).split(key)

    def by_variant(self) -> dict[str, Runs]:
        """The seeds of each variant: ``{variant name: runs}``, in sweep order."""
        parts: dict[str, list[Run]] = {}
        for r in self._runs:
            parts.setdefault(r.variant, []).append(r)
        return {k: Runs(v) for k, v in parts.items()}

    def group_by(self, keys: Sequence[str]) -> dict[tuple[Any, ...], Runs]:
        """Runs pooled by the values of ``keys``: ``{(v1, v2, ...): runs}``, in first-seen order."""
        parts: dict[tuple[Any, ...], list[Run]] = {}
        for r in self._runs:
            parts.setdefault(tuple(hashable(r.param(k, None)) for k in keys), []).append(r)
        return {k: Runs(v) for k, v in parts.items()}

    def missing(self) -> Runs:
        """Runs without a complete result: anything not ``completed`` (PyExpUtils' listMissingResults).

        That is queued (never started), running, lost (orchestrator gone), failed and cancelled
        runs: what a later ``orchestra up`` (with ``--retry-failed`` for failed ones) would run.
        """
        return self.filter(lambda r: not r.completed)

    def states(self) -> dict[str, int]:
        """How many runs are in each state."""
        out: dict[str, int] = {}
        for r in self._runs:
            out[r.state] = out.get(r.state, 0) + 1
        return out

    # -- metrics --------------------------------------------------------------------------------

    def metric_names(self) -> list[str]:
        """Every metric any of the runs logged, in first-seen order (reads the metrics files)."""
        return union_names(r.metrics() for r in self._runs)

    def check_metric(self, metric: str) -> None:
        """Raise MetricError naming the metrics that exist when no run logged ``metric``."""
        names = self.metric_names()
        if metric in names:
            return
        if not names:
            counts = ", ".join(f"{n} {s}" for s, n in self.states().items())
            raise MetricError(f"no run has logged any metric yet ({counts}); nothing to compare")
        raise MetricError(f"no run logged a metric {metric!r}; logged metrics: {', '.join(names)}")

    def default_metric(self) -> str:
        """The first metric logged by the first run with metrics, passing over step counters."""
        names = self.metric_names()
        if not names:
            self.check_metric("")
        return next((n for n in names if n not in STEP_KEYS), names[0])

    def rank(
        self,
        metric: str,
        *,
        mode: str,
        last: int | None = None,
        last_pct: float | None = None,
        group_by: Sequence[str] | None = None,
    ) -> list[Score]:
        """Variants (or groups of runs) scored by ``metric``, best first; see :mod:`orchestra.results.scores`."""
        from orchestra.results.scores import Window, rank

        return rank(self, metric, mode=mode, window=Window(last, last_pct), group_by=group_by)

    def best(
        self,
        metric: str,
        *,
        mode: str,
        last: int | None = None,
        last_pct: float | None = None,
        group_by: Sequence[str] | None = None,
    ) -> Score:
        """The best variant (or group) by ``metric``: the first of :meth:`rank`."""
        return self.rank(metric, mode=mode, last=last, last_pct=last_pct, group_by=group_by)[0]

    def curves(self, metric: str, *, x: str = "step", group_by: Sequence[str] | None = None) -> list[Curve]:
        """Learning curves of ``metric`` per variant (or group): mean and 95 % interval across runs."""
        from orchestra.results.curves import curves

        return curves(self, metric, x=x, group_by=group_by)

    def plot(
        self,
        metric: str,
        path: str | os.PathLike[str],
        *,
        x: str = "step",
        group_by: Sequence[str] | None = None,
        title: str | None = None,
    ) -> Path:
        """Draw :meth:`curves` into ``path`` (.png or .svg); needs matplotlib. Returns the path."""
        from orchestra.results.plot import save_plot, x_label

        curves = self.curves(metric, x=x, group_by=group_by)
        return save_plot(curves, path, title=title or metric, xlabel=x_label(x), ylabel=metric)

    def to_dataframe(self, *, steps: bool = False, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """A pandas DataFrame, one row per run (final values) or per (run, step); needs pandas."""
        from orchestra.results.frame import to_dataframe

        return to_dataframe(self, steps=steps, metrics=metrics)


def group_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """``lr=0.01, batch_size=32``: how a group is named in tables and legends."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in zip(keys, values))
