"""PyExpUtils' results API, README era (code up to 2020-12), over orchestra sweeps and old .npy results.

``loadResults(exp, result_file)`` reads one of two things:

* an orchestra sweep: ``exp`` is its directory (or a ``load_sweep`` collection) and
  ``result_file`` a metric name. Each variant is one Result (PyExpUtils' "permutation"); its
  ``load()`` is ``[mean, stderr, runs]`` across the variant's seeds, curves aligned by step
  (stderr = sample std / sqrt(n), NaN with one seed), as PyExpUtils' own result files hold.
  ``params`` is the variant's config, or its ``metaParameters`` section for a sweep planned from
  an ExperimentDescription (as PyExpUtils' ``Result.params``); ``idx`` is the variant's index,
  which for such a sweep is the permutation index. ``path`` is ``<sweep>/runs/<variant>/<metric>``,
  a label rather than a file.
* PyExpUtils' own layout: ``exp`` is an experiment description (anything with
  ``numPermutations()``, ``getPermutation(i)`` and ``interpolateSavePath(i)``) and
  ``result_file`` a ``.npy`` file under each save path holding ``np.array([mean, stderr, runs])``.
  The CSV and HDF5 backends of PyExpUtils 3.x are not supported.

The helpers keep PyExpUtils' semantics, quirks included: ``load()`` prints ``Result not found ::
<path>`` and returns ``(nan, nan, 0)`` without raising or caching; ``whereParameterEquals``
lets a result without the parameter (or with None) through; ``sliceOverParameter`` gives one
result per value; ``getBest`` keeps the earlier result on ties, replaces a NaN best, and
``int(steps * percent) == 0`` scores the whole curve. Run indices of an orchestra sweep are its
own (variant-major: run i is variant i // len(seeds)), not PyExpUtils' ``p + r * P``.

numpy and :mod:`orchestra.results` are imported where they are used, so importing the package for
``ExperimentDescription`` alone does not need the analysis extra.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from orchestra.errors import UserError

if TYPE_CHECKING:
    from orchestra.results import Runs


class Result:
    """A lazily loaded PyExpUtils result file (``np.array([mean, stderr, runs])``), cached once loaded."""

    def __init__(self, path: str, exp: Any, idx: int) -> None:
        self.path = path
        self.exp = exp
        self.idx = idx
        self.params = exp.getPermutation(idx)[_keys(exp)[0]]
        self._data: Any = None

    def _load(self) -> Any:
        """Read the data; override for other file formats."""
        import numpy as np

        return np.load(self.path, allow_pickle=True)

    def _default(self) -> Any:
        return (math.nan, math.nan, 0)

    def _lazyLoad(self) -> Any:
        if self._data is not None:
            return self._data
        try:
            data = self._load()
            if data is None:
                raise LookupError("no data")
            self._data = data
            return data
        except Exception:
            # PyExpUtils' contract: plotting scripts keep going over missing results
            print("Result not found :: " + self.path)
            return self._default()

    def reducer(self, lm: Callable[[Any], Any]) -> ResultView:
        """A view applying ``lm`` to what ``load``/``mean``/``stderr`` return, sharing this cache."""
        return ResultView(self).reducer(lm)

    def load(self) -> Any:
        return self._lazyLoad()

    def mean(self) -> Any:
        return self.load()[0]

    def stderr(self) -> Any:
        return self.load()[1]

    def runs(self) -> Any:
        return self.load()[2]

    def __repr__(self) -> str:
        return f"<Result {self.idx} {self.path}>"


class SweepResult(Result):
    """One variant of an orchestra sweep as a PyExpUtils Result of one metric."""

    def __init__(self, variant_runs: Runs, metric: str, idx: int, sweep: Any) -> None:
        self.path = str(variant_runs[0].path.parent / metric)
        self.exp = sweep
        self.idx = idx
        self.params = _section(variant_runs[0].params)
        self.metric = metric
        self.variant_runs = variant_runs
        self._data = None

    def _load(self) -> Any:
        import numpy as np

        curves = self.variant_runs.curves(self.metric)
        if not curves:
            return None
        c = curves[0]
        out = np.empty(3, dtype=object)  # PyExpUtils' layout; element-wise, as the curves are arrays
        out[0], out[1], out[2] = c.mean, c.stderr, int(c.n.max())
        return out


def _section(params: Any) -> Any:
    """PyExpUtils' ``Result.params`` is the ``metaParameters`` section of a description's permutation.

    A sweep planned from an ExperimentDescription has the whole permuted description as each
    variant's config; other sweeps' configs are their parameters already.
    """
    section = params.get("metaParameters")
    return section if isinstance(section, dict) else params


class ResultView:
    """A window over a Result with its own reducer, sharing the Result's cache (PyExpUtils' ResultView)."""

    def __init__(self, result: Result) -> None:
        self._result = result
        self._reducer: Callable[[Any], Any] = _identity
        self.idx = result.idx
        self.exp = result.exp
        self.params = result.params
        self.path = result.path

    def reducer(self, lm: Callable[[Any], Any]) -> ResultView:
        self._reducer = lm
        return self

    def load(self) -> Any:
        return self._reducer(self._result.load())

    def mean(self) -> Any:
        return self._reducer(self._result.mean())

    def stderr(self) -> Any:
        return self._reducer(self._result.stderr())

    def runs(self) -> Any:
        return self._result.runs()


def _identity(m: Any) -> Any:
    return m


def _is_sweep(exp: Any) -> bool:
    if isinstance(exp, (str, os.PathLike)):
        return True
    from orchestra.results import Runs

    return isinstance(exp, Runs)


def _sweep(exp: Any) -> Runs:
    from orchestra.results import Runs, load_sweep

    return exp if isinstance(exp, Runs) else load_sweep(exp)


def _keys(exp: Any) -> list[str]:
    get = getattr(exp, "getKeys", None) or getattr(exp, "_getKeys", None)
    keys = get() if get else "metaParameters"
    return [keys] if isinstance(keys, str) else list(keys)


def loadResults(
    exp: Any, result_file: str, base: str | type[Result] | None = None, ResultClass: type[Result] = Result
) -> Iterator[Result]:
    """A generator of Results, one per variant (sweep) or permutation (description); reads nothing.

    For a description the file of permutation ``i`` is ``<save path of i>/<result_file>``, below
    ``base`` when it is given (PyExpUtils 2.10 on). The third positional argument may also be a
    Result class, as in PyExpUtils' older ``loadResults(exp, result_file, ResultClass)``.
    """
    if isinstance(base, type):
        ResultClass = base
        base = None
    if _is_sweep(exp):
        if base is not None:
            raise UserError(
                f"loadResults(base={base!r}): base is for experiment descriptions; give the sweep's path"
            )
        sweep = _sweep(exp)
        for i, runs in enumerate(sweep.by_variant().values()):
            yield SweepResult(runs, result_file, i, sweep)
        return
    if not result_file.endswith(".npy"):
        raise UserError(
            f"loadResults({result_file!r}): only .npy result files of PyExpUtils' layout can be read; "
            "for an orchestra sweep pass its directory and a metric name"
        )
    for i, path in enumerate(listResultsPaths(exp)):
        where = path + "/" + result_file if base is None else os.path.join(base, path, result_file)
        yield ResultClass(where, exp, i)


def listResultsPaths(exp: Any, runs: int = 1, key: str | None = None) -> Iterator[str]:
    """The save path of every index, ``range(numPermutations * runs)`` (``key``: another template)."""
    for i in range(exp.numPermutations() * runs):
        yield exp.interpolateSavePath(i, key=key)


def listMissingResultPaths(exp: Any, runs: int = 1, key: str | None = None) -> Iterator[str]:
    """The save paths of :func:`listResultsPaths` that do not exist (PyExpUtils' ``paths.listMissingResults``)."""
    for path in listResultsPaths(exp, runs, key):
        if not os.path.exists(path):
            yield path


def listIndices(exp: Any, runs: int | None = None) -> range:
    """Every index: ``range(numPermutations * runs)``; for a sweep, its run indices (all seeds)."""
    if _is_sweep(exp):
        _no_runs(runs)
        return range(len(_sweep(exp)))
    return range(exp.numPermutations() * (1 if runs is None else runs))


def listMissingResults(exp: Any, runs: int | None = None) -> Iterator[int]:
    """Indices without a result: for a sweep, runs not completed (by status); else a missing save path."""
    if _is_sweep(exp):
        _no_runs(runs)
        for r in _sweep(exp).missing():
            yield r.index
        return
    for i in listIndices(exp, runs):
        if not os.path.exists(exp.interpolateSavePath(i)):
            yield i


def _no_runs(runs: int | None) -> None:
    if runs is not None:
        raise UserError(
            "an orchestra sweep's runs per variant are its seeds; call this without runs= (it lists every seed)"
        )


def _get(d: Any, key: str, default: Any = None) -> Any:
    """PyExpUtils' ``utils.dict.get``: dotted paths, ``a.[i]`` list items; a None value counts as absent."""
    if key == "":
        return d
    parts = key.split(".")
    el = d.get(parts[0])
    if el is None:
        return default
    if isinstance(el, list) and len(parts) > 1:
        idx = int(re.findall(r"\[(\d+)\]", parts[1])[0])
        if len(el) <= idx:
            return default
        return _get(el[idx], ".".join(parts[2:]), default)
    if isinstance(el, dict):
        return _get(el, ".".join(parts[1:]), default)
    return el


def _equal(d1: dict[str, Any], d2: dict[str, Any], ignore: Iterable[str] = ()) -> bool:
    """PyExpUtils' ``utils.dict.equal``: same top-level keys and values, except ``ignore``."""
    skip = list(ignore)
    for k in list(d1.keys()) + list(d2.keys()):
        if k in skip:
            continue
        if k not in d2 or k not in d1 or d1[k] != d2[k]:
            return False
    return True


def splitOverParameter(results: Iterable[Any], param: str) -> dict[Any, list[Any]]:
    """``{value: [results]}`` in first-seen order; ``param`` may be dotted; missing -> ``None``."""
    parts: dict[Any, list[Any]] = {}
    for r in results:
        parts.setdefault(_get(r.params, param), []).append(r)
    return parts


def sliceOverParameter(results: Iterable[Any], slicer: Any, param: str) -> dict[Any, Any]:
    """``{value of param: the one result matching slicer on every other parameter (or None)}``."""
    parts = splitOverParameter(results, param)
    return {k: find(v, slicer, ignore=[param]) for k, v in parts.items()}


def find(stream: Iterable[Any], other: Any, ignore: Iterable[str] = ()) -> Any:
    """The first result whose params equal ``other.params`` on every top-level key but ``ignore``."""
    skip = list(ignore)
    for res in stream:
        if _equal(other.params, res.params, skip):
            return res
    return None


def whereParameterEquals(results: Iterable[Any], param: str, value: Any) -> Iterator[Any]:
    """Results whose ``param`` equals ``value``; results without it (or with None) match too."""
    return filter(lambda r: _get(r.params, param, value) == value, results)


def _partial_equal(d1: Any, d2: Any) -> bool:
    """PyExpUtils' ``partialEqual``: keys of ``d1`` absent from ``d2`` are ignored; nested dicts recursively."""
    for k in d1:
        if k not in d2:
            continue
        if isinstance(d1[k], dict) and isinstance(d2[k], dict):
            if not _partial_equal(d1[k], d2[k]):
                return False
        elif d1[k] != d2[k]:
            return False
    return True


def whereParametersEqual(results: Iterable[Any], d: dict[str, Any]) -> Iterator[Any]:
    """Results whose params equal ``d`` on every key they have (a key a result lacks matches)."""
    return filter(lambda r: _partial_equal(d, r.params), results)


def whereParameterGreaterEq(results: Iterable[Any], param: str, value: Any) -> Iterator[Any]:
    """Results whose ``param`` is >= ``value``; results without it (or with None) match too."""
    return filter(lambda r: _get(r.params, param, value) >= value, results)


def getBest(
    results: Iterable[Any],
    steps: int | None = None,
    percent: float = 1.0,
    comparator: Callable[[Any, Any], bool] = lambda a, b: a < b,
) -> Any:
    """The best result by the mean of its curve's last ``int(steps * percent)`` points (0: all of it).

    ``steps`` defaults to the curve length of the first result that loads (PyExpUtils took the
    first result's and crashed when it was missing). The default comparator picks the smallest.
    A best whose score is NaN is replaced by the next result; ties keep the earlier one.
    """
    import numpy as np

    items = list(results)
    if not items:
        return None
    if steps is None:
        lengths = (np.shape(r.mean()) for r in items)
        steps = next((s[0] for s in lengths if s), 1)
    steps = int(steps * percent)
    low = items[0]
    for r in items[1:]:
        am = np.mean(np.atleast_1d(r.mean())[0 - steps :])
        bm = np.mean(np.atleast_1d(low.mean())[0 - steps :])
        if np.isnan(bm) or comparator(am, bm):
            low = r
    return low
