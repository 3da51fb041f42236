"""Every metric of every run, with its parameters, as CSV, Parquet or TensorBoard event files.

* CSV and Parquet: one row per (run, step): ``run``, ``variant``, ``seed``, ``state``, each
  parameter (nested keys dotted), ``step``, ``time`` and each metric (empty where a record did
  not log it), the same columns as ``Runs.to_dataframe(steps=True)``. In Parquet a parameter
  whose values are not all of one type (or are lists) is written as text (JSON for lists).
* TensorBoard: one run directory per orchestra run, ``<DIR>/<variant>/<seed>/``, with every
  numeric metric as a scalar series at its step and wall time, and the run's parameters and final
  values in TensorBoard's HParams tab. Written by tensorboardX (``pip install tensorboardX``).

Nothing is half-written: files are written beside their target and renamed into place, and a
TensorBoard directory is built under a temporary name and renamed when complete (an existing
non-empty directory is refused: TensorBoard would show the old and new events together).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from orchestra.atomic import atomic_file
from orchestra.errors import UserError
from orchestra.results.errors import require
from orchestra.results.metrics import is_numeric
from orchestra.results.params import flatten

if TYPE_CHECKING:
    import pandas as pd

    from orchestra.results.runs import Runs


class ExportError(UserError):
    """An export that cannot be written where asked."""


def export_csv(runs: Runs, path: str | os.PathLike[str]) -> int:
    """Write every (run, step) row to ``path`` as CSV; returns the number of rows."""
    frame = runs.to_dataframe(steps=True)
    with _replacing(path) as f:
        frame.to_csv(f, index=False)
    return len(frame)


def export_parquet(runs: Runs, path: str | os.PathLike[str]) -> int:
    """Write every (run, step) row to ``path`` as Parquet (needs pyarrow); returns the number of rows."""
    require("pyarrow", "--parquet")
    frame = _arrow_safe(runs.to_dataframe(steps=True))
    with _replacing(path) as f:
        frame.to_parquet(f, index=False, engine="pyarrow")
    return len(frame)


def export_tensorboard(runs: Runs, directory: str | os.PathLike[str]) -> int:
    """Write one TensorBoard run per orchestra run under ``directory``; returns the number of runs written."""
    require("tensorboardX", "--tensorboard")
    from tensorboardX import SummaryWriter
    from tensorboardX.summary import hparams

    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError(f"{target}: already exists and is not empty; remove it or choose another directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    written = 0
    try:
        for run in runs:
            m = run.metrics()
            numeric = {k: v for k, v in m.values.items() if is_numeric(v)}
            if not len(m) or not numeric:
                continue
            with SummaryWriter(logdir=str(tmp / run.variant / str(run.seed)), flush_secs=3600) as w:
                steps, times = m.step.tolist(), m.time.tolist()
                for name, values in numeric.items():
                    mask = m.present.get(name)
                    for i, value in enumerate(values.tolist()):
                        if mask is None or mask[i]:
                            w.add_scalar(name, value, steps[i], times[i])
                finals = {k: float(v) for k in numeric if isinstance(v := m.final(k), (int, float))}
                for summary in hparams(_hparam_values(run.params, run.seed), finals):
                    w.file_writer.add_summary(summary)
            written += 1
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _hparam_values(params: Mapping[str, Any], seed: int) -> dict[str, bool | int | float | str]:
    """The run's parameters as TensorBoard takes them: numbers, booleans and text (others as JSON)."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in flatten(params).items():
        if isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            out[key] = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    out.setdefault("seed", seed)
    return out


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns Arrow can type: lists and dicts as JSON text, mixed types as text."""
    for col in frame.columns:
        if frame[col].dtype != object:
            continue
        values = frame[col].to_numpy()
        kinds = {type(v) for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))}
        if len(kinds) <= 1 and not kinds & {list, dict, tuple}:
            continue
        frame[col] = [None if v is None else _text(v) for v in values]
    return frame


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


@contextlib.contextmanager
def _replacing(path: str | os.PathLike[str]) -> Iterator[Any]:
    """A binary file that replaces ``path`` when the block finishes (and its directory, made if needed)."""
    out = Path(path)
    if out.is_dir():
        raise ExportError(f"{out}: is a directory; give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out, durable=False) as f:
        yield f
