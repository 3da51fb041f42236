"""The columnar cache: the same metrics as the JSON lines, written once per finished run, never stale."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from orchestra.results import load_sweep
from orchestra.results.cache import PREFIX
from orchestra.rundir import JsonlWriter, write_json
from tests.results.sweepdirs import record, write_run, write_status, write_sweep

RECORDS = [
    record(0, iteration=0, loss=1.0, phase="warmup", flag=True),
    record(1, iteration=1, loss="nan", phase="train"),
    record(2, iteration=2, loss=0.5, eval=7.0, phase="train"),
    record(2, attempt=2, iteration=2, loss=0.4, phase="train"),  # a retry from step 2
    record(3, attempt=2, iteration=3, loss="-inf", phase="done"),
]


def caches(run):
    return sorted(p.name for p in run.path.iterdir() if p.name.startswith(PREFIX))


def same(a, b):
    assert a.names == b.names and a.step.tolist() == b.step.tolist() and a.time.tolist() == b.time.tolist()
    for name in a.names:
        x, y = a.values[name], b.values[name]
        assert x.dtype.kind == y.dtype.kind or {x.dtype.kind, y.dtype.kind} == {"O"}
        assert [repr(v) for v in x.tolist()] == [repr(v) for v in y.tolist()], name
    assert {k: m.tolist() for k, m in a.present.items()} == {k: m.tolist() for k, m in b.present.items()}


@pytest.fixture
def sweep_dir(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"lr": 0.1}, {"lr": 0.2}], seeds=(0,))
    run = write_run(sd, vs[0], 0, records=RECORDS, attempt=2)
    write_json(run.result, {"status": "completed", "attempt": 2, "ended_at": 1763700099.0,
                            "return": {"loss": 0.25, "best": {"acc": 0.9}, "note": "text", "big": [1, 2]}})  # fmt: skip
    write_run(sd, vs[1], 0, curves={"loss": [3.0, 2.0]}, state="running")
    return sd.path


def test_the_cache_holds_exactly_what_the_json_lines_and_result_hold(sweep_dir):
    parsed = load_sweep(sweep_dir, cache=False)[0]
    cold = load_sweep(sweep_dir)[0]
    assert caches(parsed) == []  # cache=False wrote nothing
    same(cold.metrics(), parsed.metrics())
    assert len(caches(cold)) == 1
    warm = load_sweep(sweep_dir)[0]
    same(warm.metrics(), parsed.metrics())
    m = warm.metrics()
    assert m["loss"].tolist()[:2] == [1.0, pytest.approx(math.nan, nan_ok=True)]
    assert m.final("loss") == 0.25 and m.final("best.acc") == 0.9 and m.final("phase") == "done"
    assert "note" not in m and "big" not in m  # returned text and lists are not metrics
    assert "eval" not in m  # logged only by a record the retry superseded
    fresh = load_sweep(sweep_dir)[0]
    assert fresh.curve("loss")[0].tolist() == [0, 1, 2, 3]
    assert fresh._metrics is None  # one column read from the cache, not every column
    assert fresh.values("best.acc").tolist() == [0.9] and fresh.metric_kinds()["phase"] in "OU"


def test_a_change_to_the_metrics_file_makes_a_new_cache_and_removes_the_old(sweep_dir):
    run = load_sweep(sweep_dir)[0]
    run.metrics()
    (old,) = caches(run)
    with JsonlWriter(run.dir.metrics) as w:
        w.write(record(4, attempt=2, iteration=4, loss=0.125, phase="done"))
    again = load_sweep(sweep_dir)[0]
    steps, loss = again.curve("loss")
    assert steps.tolist() == [0, 1, 2, 3, 4] and loss[-1] == 0.25  # the returned loss is the final value
    (new,) = caches(again)
    assert new != old


def test_a_new_attempt_is_a_new_key_and_a_running_run_is_never_cached(sweep_dir):
    run = load_sweep(sweep_dir)[0]
    run.metrics()
    write_status(run.dir, "running", attempt=3)
    os.remove(run.dir.result)  # what a starting attempt does
    running = load_sweep(sweep_dir)[0]
    assert running.final("loss") == -math.inf  # not the previous attempt's returned 0.25
    assert running.metrics().final("best.acc") is None
    assert (
        load_sweep(sweep_dir)[1].metrics().step.tolist() == [0, 1] and caches(load_sweep(sweep_dir)[1]) == []
    )


def test_a_damaged_or_foreign_cache_file_is_ignored(sweep_dir):
    run = load_sweep(sweep_dir)[0]
    expected = run.metrics()
    (name,) = caches(run)
    path = run.path / name
    path.write_bytes(path.read_bytes()[:-8])  # cut short
    same(load_sweep(sweep_dir)[0].metrics(), expected)
    assert load_sweep(sweep_dir)[0].curve("loss")[1].tolist()[-1] == 0.25
    path.write_bytes(b"not a numpy file")
    same(load_sweep(sweep_dir)[0].metrics(), expected)


def test_a_cache_that_cannot_be_written_changes_nothing(sweep_dir):
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # every write fails, as on a full disk\n"
        "from orchestra.results import load_sweep\n"
        "print(load_sweep(sys.argv[1])[0].final('loss'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(sweep_dir)], capture_output=True, text=True, timeout=60
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "0.25\n", "")
    run = load_sweep(sweep_dir)[0]
    assert caches(run) == [] and not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]
