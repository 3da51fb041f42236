"""Runs of a sweep and collections of them: filter, split, slice, find, group, rank.

Nothing here reads a metrics file until a metric is asked for; each file is then read once and
kept by its :class:`Run`, so every view of a collection (a filter, a split, a group) shares it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from orchestra.results.cache import CacheFile, curve_fields, curve_from, load_metrics, open_cache
from orchestra.results.errors import MetricError, ParamError, ResultsWarning, ScoreError
from orchestra.results.metrics import Metrics
from orchestra.results.params import MISSING, equal_except, flatten, format_value, get_param, hashable
from orchestra.rundir import RunDir, State, Status, observed_state, read_json_or_none
from orchestra.rundir.steps import is_step_key, step_key

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from orchestra.results.curves import Curve
    from orchestra.results.scores import Score

FINISHED = frozenset(s.value for s in State if s.finished)


class Run:
    """One run of a sweep: a variant's parameters with a seed, its status and its files.

    ``state`` is the status's state (``queued`` when the run has no status yet) or ``lost`` for a
    run recorded as running in a sweep whose orchestrator is gone. ``metrics()``, ``config``,
    ``metadata`` and ``result`` read their file on first use and keep it. Metrics come with the
    run's returned scalars as their final values, from the run's columnar cache when it is
    current (:mod:`orchestra.results.cache`; ``cache=False`` neither reads nor writes it).
    """

    __slots__ = (
        "_cache",
        "_file",
        "_files",
        "_kinds",
        "_metrics",
        "_state",
        "dir",
        "index",
        "lost",
        "params",
        "seed",
        "settings",
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
        *,
        settings: Mapping[str, Any] | None = None,
        cache: bool = True,
    ) -> None:
        self.index = index
        self.variant = variant
        self.variant_index = variant_index
        self.seed = seed
        self.params = params
        self.dir = run_dir
        self.status = status
        self.lost = lost
        self.settings: Mapping[str, Any] = settings or {}  # the sweep's (shared by its runs)
        self._cache = cache
        self._state: str | None = None
        self._metrics: Metrics | None = None
        self._kinds: dict[str, str] | None = None  # metric name -> numpy dtype kind, in logged order
        self._file: CacheFile | Literal[False] | None = None  # the current cache; False: none
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
        if self._state is None:
            self._state = observed_state(self.status, not self.lost)
        return self._state

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def completed(self) -> bool:
        return self.state == State.COMPLETED.value

    @property
    def attempt(self) -> int:
        """The attempt the status records (0 before the first)."""
        return self.status.attempt if self.status is not None else 0

    def param(self, key: str, default: Any = MISSING) -> Any:
        """A parameter by key (dotted or ``a:b`` paths reach into nested dicts)."""
        return get_param(self.params, key, default)

    def metrics(self) -> Metrics:
        """The run's metrics as columns, its returned scalars as final values; read on first call, then kept.

        A truncated last line or unreadable lines are skipped with a ResultsWarning; a finished
        run with neither metrics nor returned values warns too (a queued or running one is simply empty).
        """
        if self._metrics is None:
            m = load_metrics(os.fspath(self.dir), self.attempt, self.finished, use_cache=self._cache)
            for problem in m.problems:
                warnings.warn(f"{self.dir.metrics}: {problem}", ResultsWarning, stacklevel=2)
            if not m.exists and not len(m) and self.finished:
                warnings.warn(
                    f"run {self.id} is {self.state} but has no metrics.jsonl and returned no numbers",
                    ResultsWarning,
                    stacklevel=2,
                )
            self._metrics = m
            self._kinds = {k: v.dtype.kind for k, v in m.values.items()}
            self._file = None  # the load may have written the cache
        return self._metrics

    def _from_cache(self, fields: list[str] | None) -> dict[str, Any] | None:
        """``fields`` of the run's current cache (None: only look), while its full metrics are not in
        memory; None when there is no current cache (the caller parses the JSON lines instead).
        """
        if self._metrics is not None or not self._cache or self._file is False or not self.finished:
            return None
        try:
            if self._file is None:
                found = open_cache(os.fspath(self.dir), self.attempt, fields)
                if found is None:
                    self._file = False
                    return None
                self._file, cols = found
                if self._kinds is None:
                    self._kinds = self._file.kinds()
                return cols
            return self._file.read(fields) if fields else {}
        except OSError:  # replaced or cut short since: parse the JSON lines from now on
            self._file = False
            return None

    def metric_kinds(self) -> dict[str, str]:
        """``{metric: dtype kind}`` (``i`` integers, ``f`` numbers, ``O``/``U`` text), in the order first logged."""
        if self._kinds is None and self._from_cache(None) is None:
            self.metrics()
        assert self._kinds is not None
        return self._kinds

    def curve(self, metric: str) -> tuple[Any, Any]:
        """``(steps, values)`` of the records that logged ``metric`` (a returned value is the last).

        From a current cache only this metric's columns are read (and not kept), so scoring a big
        sweep holds one column at a time.
        """
        cols = self._from_cache(curve_fields(metric))
        if cols is not None:
            return curve_from(cols, metric)
        return self.metrics().curve(metric)

    def values(self, metric: str) -> Any:
        """The values of ``metric`` the run logged, in order (the second half of :meth:`curve`)."""
        cols = self._from_cache(curve_fields(metric, steps=False))
        if cols is not None:
            return curve_from(cols, metric)[1]
        values = self.metrics().curve(metric)[1]
        if self._cache and self._file is None and self.finished:
            # just cached? then later reads take the cache, and a big sweep is not all held in memory
            kept, self._metrics = self._metrics, None
            if self._from_cache(None) is None:  # not written (a read-only directory, a damaged file)
                self._metrics = kept
        return values

    def final(self, metric: str) -> Any:
        """The last value of ``metric`` (the returned one if the run returned it); None if none."""
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
        """Every metric any of the runs logged or returned, in first-seen order (reads the metrics)."""
        order: dict[str, None] = {}
        for r in self._runs:
            order.update(dict.fromkeys(r.metric_kinds()))
        return list(order)

    def check_metric(self, metric: str) -> None:
        """Raise MetricError naming the metrics that exist when no run logged ``metric``."""
        names = self.metric_names()
        if metric in names:
            return
        if not names:
            counts = ", ".join(f"{n} {s}" for s, n in self.states().items())
            raise MetricError(f"no run has logged any metric yet ({counts}); nothing to compare")
        raise MetricError(f"no run logged a metric {metric!r}; logged metrics: {', '.join(names)}")

    @property
    def settings(self) -> Mapping[str, Any]:
        """The sweep's recorded settings (``sweep.json``): ``step``, ``objective``, ``mode``, ..."""
        return self._runs[0].settings if self._runs else {}

    def objective(self) -> tuple[str, str] | None:
        """The sweep's declared ``(objective, mode)`` (``Sweep(objective=..., mode=...)``), or None."""
        objective, mode = self.settings.get("objective"), self.settings.get("mode")
        if isinstance(objective, str) and mode in ("max", "min"):
            return objective, mode
        return None

    def default_metric(self) -> str:
        """The metric to compare when none is named: the sweep's objective when it declares one;
        else the first metric logged (or returned) that is a number and neither the step nor a
        counter (an integer that only ever grows, such as ``episode``).

        Metrics are taken in the order the runs first logged them, so this reads the runs only
        until one of them has such a metric.
        """
        declared = self.objective()
        if declared is not None:
            return declared[0]  # ranking or plotting it says so if no run logged it
        step = self.settings.get("step")
        seen: dict[str, None] = {}
        for r in self._runs:
            for name, kind in r.metric_kinds().items():
                if name in seen:
                    continue
                seen[name] = None
                if is_step_key(name, step) or kind not in ("i", "f"):
                    continue
                if kind == "i" and self._is_counter(name):
                    continue
                return name
        if not seen:
            self.check_metric("")
        raise MetricError(
            f"every metric the runs logged is a step, a counter or text ({', '.join(seen)}); "
            "name one with --metric"
        )

    def _is_counter(self, name: str) -> bool:
        """An integer metric that never decreases within a run and grows in some run."""
        grows = False
        for r in self._runs:
            if name not in r.metric_kinds():
                continue
            _, v = r.curve(name)
            if len(v) > 1:
                if not bool((v[1:] >= v[:-1]).all()):
                    return False
                grows = grows or bool(v[-1] > v[0])
        return grows

    def check_x(self, x: str) -> None:
        """Raise MetricError unless ``x`` is ``step``, ``time`` or a numeric metric some run logged."""
        if x in ("step", "time"):
            return
        numeric: dict[str, None] = {}
        for r in self._runs:
            numeric.update((n, None) for n, k in r.metric_kinds().items() if k in "if")
        if x not in numeric:
            known = ", ".join(["step", "time", *numeric])
            raise MetricError(f"no run logged a numeric {x!r} to plot against; the x axis can be: {known}")

    def param_keys(self) -> list[str]:
        """Every parameter key of the runs (nested keys dotted), in first-seen order."""
        order: dict[str, None] = {}
        for r in self._runs:
            order.update(dict.fromkeys(flatten(r.params)))
        return list(order)

    def check_keys(self, keys: Sequence[str]) -> list[str]:
        """``keys`` as a list; ParamError naming the parameters there are when a run has none of one."""
        keys = list(keys)
        for key in keys:
            if not any(r.param(key) is not MISSING for r in self._runs):
                known = ", ".join(self.param_keys()) or "none"
                raise ParamError(f"no run has a parameter {key!r} to group by; parameters: {known}")
        return keys

    def resolve(self, metric: str | None, mode: str | None) -> tuple[str, str]:
        """``(metric, mode)`` with the defaults filled in: :meth:`default_metric`, and the
        objective's mode when the metric is the sweep's objective; ScoreError when a mode is needed.
        """
        metric = metric or self.default_metric()
        if mode is None:
            declared = self.objective()
            if declared is None or declared[0] != metric:
                raise ScoreError(
                    f"say whether bigger or smaller {metric} is better: mode='max' or mode='min'"
                )
            mode = declared[1]
        return metric, mode

    def rank(
        self,
        metric: str | None = None,
        *,
        mode: str | None = None,
        last: int | None = None,
        last_pct: float | None = None,
        group_by: Sequence[str] | None = None,
    ) -> list[Score]:
        """Variants (or groups of runs) scored by ``metric``, best first; see :mod:`orchestra.results.scores`.

        Without ``metric`` and ``mode``: the sweep's objective (``Sweep(objective=..., mode=...)``).
        """
        from orchestra.results.scores import Window, rank

        metric, mode = self.resolve(metric, mode)
        return rank(self, metric, mode=mode, window=Window(last, last_pct), group_by=group_by)

    def best(
        self,
        metric: str | None = None,
        *,
        mode: str | None = None,
        last: int | None = None,
        last_pct: float | None = None,
        group_by: Sequence[str] | None = None,
    ) -> Score:
        """The best variant (or group) by ``metric``: the first of :meth:`rank`."""
        return self.rank(metric, mode=mode, last=last, last_pct=last_pct, group_by=group_by)[0]

    def curves(
        self,
        metric: str | None = None,
        *,
        x: str = "step",
        group_by: Sequence[str] | None = None,
        smooth: int = 1,
        log: bool = False,
    ) -> list[Curve]:
        """Learning curves of ``metric`` per variant (or group) across runs; see :mod:`orchestra.results.curves`."""
        from orchestra.results.curves import curves

        return curves(self, metric or self.default_metric(), x=x, group_by=group_by, smooth=smooth, log=log)

    def plot(
        self,
        metric: str | None = None,
        path: str | os.PathLike[str] | None = None,
        *,
        x: str = "step",
        group_by: Sequence[str] | None = None,
        smooth: int = 1,
        ax: Axes | None = None,
        **style: Any,
    ) -> Path | Axes:
        """Draw :meth:`curves` into ``path`` (.png, .svg or .pdf) or onto a matplotlib ``ax``.

        ``style``: ``title``, ``xlabel``, ``ylabel``, ``logy``, ``size`` (inches, for a file) as
        :func:`orchestra.results.plot.draw` takes them. Returns the path written, or ``ax``.

        >>> fig, (left, right) = plt.subplots(1, 2)
        >>> sweep.plot("return", x="env_steps", ax=left, title="CartPole")
        """
        from orchestra.results.plot import draw, save

        metric = metric or self.default_metric()
        curves = self.curves(metric, x=x, group_by=group_by, smooth=smooth, log=bool(style.get("logy")))
        style.setdefault("what", "runs" if group_by else "seeds")
        style.setdefault("step_name", self.step_name())
        if ax is not None:
            if path is not None:
                raise ScoreError("plot() draws either onto ax= or into a file, not both")
            return draw(curves, ax, metric=metric, x=x, smooth=smooth, **style)
        if path is None:
            raise ScoreError("plot() needs a file to write (path=...) or an ax= to draw on")
        return save(curves, path, metric=metric, x=x, smooth=smooth, **style)

    def step_name(self) -> str | None:
        """What ``step`` counts: the sweep's declared step, else the recognised step name the runs logged."""
        declared = self.settings.get("step")
        return declared if isinstance(declared, str) else step_key(self.metric_names())

    def to_dataframe(self, *, steps: bool = False, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """A pandas DataFrame, one row per run (final values) or per (run, step); needs pandas."""
        from orchestra.results.frame import to_dataframe

        return to_dataframe(self, steps=steps, metrics=metrics)


def group_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """``lr=0.01, batch_size=32``: how a group is named in tables and legends."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in zip(keys, values))
