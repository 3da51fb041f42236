"""Best variant by a metric: windows, averaging over seeds, NaN, ties, unfinished runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestra.results import MetricError, ScoreError, Window, load_sweep
from orchestra.results.scores import guess_mode
from tests.results.sweepdirs import record, write_run, write_sweep

CONFIGS = [{"lr": lr} for lr in (0.01, 0.03, 0.1)]


def sweep_of(tmp_path, curves_by_run, seeds=(0, 1), configs=CONFIGS, states=None):
    """``curves_by_run[(variant index, seed)] = {"loss": [...]}``; runs not listed never started."""
    sd, vs = write_sweep(tmp_path, configs, seeds=seeds)
    for (vi, seed), curves in curves_by_run.items():
        write_run(sd, vs[vi], seed, curves=curves, state=(states or {}).get((vi, seed), "completed"))
    return load_sweep(sd.path)


def test_best_by_mean_over_the_whole_curve_averaged_over_seeds(tmp_path):
    sweep = sweep_of(tmp_path, {
        (0, 0): {"ret": [1, 2, 3]}, (0, 1): {"ret": [3, 4, 5]},  # run means 2, 4 -> 3
        (1, 0): {"ret": [0, 0, 9]}, (1, 1): {"ret": [6, 6, 6]},  # 3, 6 -> 4.5
        (2, 0): {"ret": [4, 4, 4]}, (2, 1): {"ret": [4, 4, 4]},  # 4, 4 -> 4
    })  # fmt: skip
    ranked = sweep.rank("ret", mode="max")
    assert [s.params["lr"] for s in ranked] == [0.03, 0.1, 0.01]
    best = ranked[0]
    assert best.mean == 4.5 and best.scores == (3.0, 6.0) and best.n == 2
    assert best.stderr == pytest.approx(np.std([3.0, 6.0], ddof=1) / math.sqrt(2))
    assert best.variant == "lr=0.03" and best.label == "lr=0.03" and [r.seed for r in best.runs] == [0, 1]
    assert ranked[2].stderr == pytest.approx(1.0)  # sd of (2, 4) is sqrt 2, over sqrt 2 runs
    assert [s.params["lr"] for s in sweep.rank("ret", mode="min")] == [0.01, 0.1, 0.03]
    assert sweep.best("ret", mode="min").mean == 3.0


def test_last_n_steps_and_last_percent_choose_the_window(tmp_path):
    sweep = sweep_of(tmp_path, {
        (0, 0): {"ret": [0, 0, 0, 0, 0, 0, 0, 0, 10, 10]},  # late bloomer
        (1, 0): {"ret": [5, 5, 5, 5, 5, 5, 5, 5, 5, 5]},
    }, seeds=(0,), configs=CONFIGS[:2])  # fmt: skip
    assert sweep.best("ret", mode="max").params["lr"] == 0.03
    assert sweep.best("ret", mode="max", last=2).params["lr"] == 0.01
    assert sweep.best("ret", mode="max", last=3).mean == pytest.approx(20 / 3)
    assert sweep.best("ret", mode="max", last_pct=20).mean == 10.0
    assert sweep.best("ret", mode="max", last_pct=25).mean == pytest.approx(20 / 3)  # 2.5 steps -> 3
    assert sweep.best("ret", mode="max", last=1000).params["lr"] == 0.03  # longer than the curve: all of it


def test_window_and_mode_mistakes_are_user_errors():
    with pytest.raises(ScoreError, match="not both"):
        Window(last=3, last_pct=10)
    with pytest.raises(ScoreError, match="N >= 1"):
        Window(last=0)
    with pytest.raises(ScoreError, match="0 < p <= 100"):
        Window(last_pct=150)
    assert Window(last_pct=10).describe() == "the last 10 % of steps"


def test_a_bad_mode_is_a_user_error(tmp_path):
    sweep = sweep_of(tmp_path, {(0, 0): {"ret": [1.0]}})
    with pytest.raises(ScoreError, match="'max' or 'min'"):
        sweep.rank("ret", mode="biggest")


def test_a_seed_that_logged_nan_makes_its_variant_nan_and_rank_last_but_before_no_data(tmp_path):
    sweep = sweep_of(tmp_path, {
        (0, 0): {"loss": [1.0, "nan"]}, (0, 1): {"loss": [0.0, 0.0]},  # diverged on seed 0 (the runtime writes "nan")
        (1, 0): {"loss": [0.5, 0.5]}, (1, 1): {"loss": [0.7, 0.7]},
    })  # fmt: skip
    for mode in ("min", "max"):
        ranked = sweep.rank("loss", mode=mode)
        assert [s.params["lr"] for s in ranked] == [0.03, 0.01, 0.1]
        assert math.isnan(ranked[1].mean) and ranked[1].n == 2
        assert ranked[2].n == 0 and math.isnan(ranked[2].mean)  # never started


def test_a_window_after_the_nan_scores_normally(tmp_path):
    sweep = sweep_of(tmp_path, {(0, 0): {"loss": [None, 1.0, 2.0]}}, seeds=(0,))
    assert math.isnan(sweep.best("loss", mode="min").mean)
    assert sweep.best("loss", mode="min", last=2).mean == 1.5


def test_ties_keep_the_earlier_variant(tmp_path):
    sweep = sweep_of(tmp_path, {(0, 0): {"r": [1.0]}, (1, 0): {"r": [2.0]}, (2, 0): {"r": [2.0]}}, seeds=(0,))
    assert sweep.best("r", mode="max").params["lr"] == 0.03
    tied = sweep_of(
        tmp_path / "b", {(0, 0): {"r": [2.0]}, (1, 0): {"r": [1.0]}, (2, 0): {"r": [1.0]}}, seeds=(0,)
    )
    assert [s.params["lr"] for s in tied.rank("r", mode="min")] == [0.03, 0.1, 0.01]


def test_unfinished_runs_count_with_what_they_logged(tmp_path):
    sweep = sweep_of(
        tmp_path,
        {(0, 0): {"r": [1.0, 2.0, 3.0]}, (0, 1): {"r": [5.0]}},
        states={(0, 1): "running"},
    )
    s = sweep.rank("r", mode="max")[0]
    assert s.scores == (2.0, 5.0) and s.n == 2
    assert [r.state for r in s.unfinished] == ["lost"]  # no orchestrator holds this hand-made sweep


def test_a_sparse_metric_is_scored_on_the_steps_that_logged_it(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:1], seeds=(0,))
    recs = [record(i, loss=1.0, eval=float(i)) if i % 5 == 0 else record(i, loss=1.0) for i in range(11)]
    write_run(sd, vs[0], 0, records=recs)
    assert load_sweep(sd.path).best("eval", mode="max").mean == 5.0  # 0, 5, 10


def test_group_by_pools_the_runs_of_each_value(tmp_path):
    configs = [{"lr": lr, "bs": bs} for lr in (0.1, 0.2) for bs in (8, 32)]
    curves = {(v, s): {"r": [float(10 * v + s)]} for v in range(4) for s in (0, 1)}
    sweep = sweep_of(tmp_path, curves, configs=configs)
    ranked = sweep.rank("r", mode="max", group_by=["lr"])
    assert [s.label for s in ranked] == ["lr=0.2", "lr=0.1"]
    assert ranked[0].params == {"lr": 0.2} and ranked[0].n == 4 and ranked[0].mean == 25.5
    assert ranked[0].variant is None


def test_a_metric_no_run_logged_names_the_metrics_that_exist(tmp_path):
    sweep = sweep_of(tmp_path, {(0, 0): {"iteration": [0, 1], "loss": [1.0, 0.5]}})
    with pytest.raises(MetricError, match="no run logged a metric 'los'; logged metrics: iteration, loss"):
        sweep.best("los", mode="min")
    assert sweep.default_metric() == "loss"  # the step counter is passed over


def test_a_sweep_without_any_metrics_says_so(tmp_path):
    sweep = sweep_of(tmp_path, {})
    with pytest.raises(MetricError, match=r"no run has logged any metric yet \(6 queued\)"):
        sweep.best("loss", mode="min")


def test_a_text_metric_cannot_be_scored(tmp_path):
    sweep = sweep_of(tmp_path, {(0, 0): {"phase": ["a", "b"]}})
    with pytest.raises(MetricError, match="holds text"):
        sweep.best("phase", mode="max")


def test_mode_is_guessed_from_the_metric_name():
    assert [guess_mode(m) for m in ("loss", "val_loss", "log10_loss", "test-error", "regret")] == ["min"] * 5
    assert [guess_mode(m) for m in ("return", "accuracy", "reward", "eval/score")] == ["max"] * 4
