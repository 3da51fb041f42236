"""Learning curves across seeds: alignment, mean, 95 % t-interval, x axes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestra.results import MetricError, ResultsWarning, load_sweep
from orchestra.results.curves import t975
from tests.results.sweepdirs import T0, write_run, write_sweep


def test_t_quantiles_match_the_tables():
    assert t975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t975(2) == pytest.approx(4.3027, abs=1e-4)
    assert t975(31) == pytest.approx(2.0395, abs=2e-4)
    assert t975(60) == pytest.approx(2.0003, abs=2e-4)
    assert t975(120) == pytest.approx(1.9799, abs=2e-4)
    assert t975(10**6) == pytest.approx(1.96, abs=1e-3)
    assert t975(30) > t975(31) > t975(40)  # the table hands over to the expansion smoothly


def test_mean_and_interval_per_step_across_seeds(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"lr": 0.1}, {"lr": 0.2}], seeds=(0, 1, 2))
    data = {0: [1.0, 2.0, 3.0], 1: [2.0, 4.0, 6.0], 2: [3.0, 6.0, 9.0]}
    for seed, ys in data.items():
        write_run(sd, vs[0], seed, curves={"ret": ys})
    write_run(sd, vs[1], 0, curves={"other": [1.0]})
    curves = load_sweep(sd.path).curves("ret")
    assert len(curves) == 1  # the second variant never logged "ret"
    c = curves[0]
    assert c.label == vs[0].name and c.x.tolist() == [0, 1, 2] and c.n.tolist() == [3, 3, 3]
    matrix = np.array(list(data.values()))
    mean, sd_ = matrix.mean(axis=0), matrix.std(axis=0, ddof=1)
    assert c.mean == pytest.approx(mean)
    assert c.stderr == pytest.approx(sd_ / math.sqrt(3))
    assert c.high - c.mean == pytest.approx(4.3027 * sd_ / math.sqrt(3), rel=1e-4)
    assert c.mean - c.low == pytest.approx(c.high - c.mean)


def test_a_run_still_going_only_counts_where_it_has_logged(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"lr": 0.1}], seeds=(0, 1))
    write_run(sd, vs[0], 0, curves={"ret": [1.0, 1.0, 1.0, 1.0]})
    write_run(sd, vs[0], 1, curves={"ret": [3.0, 3.0]}, state="running")
    c = load_sweep(sd.path).curves("ret")[0]
    assert c.n.tolist() == [2, 2, 1, 1]
    assert c.mean.tolist() == [2.0, 2.0, 1.0, 1.0]
    assert np.isnan(c.low[2:]).all()  # one run: no interval
    assert [r.seed for r in c.unfinished] == [1]


def test_time_on_x_interpolates_runs_onto_a_common_grid(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"lr": 0.1}], seeds=(0, 1))
    for seed, dt in ((0, 1.0), (1, 2.0)):
        recs = [{"step": i, "time": T0 + dt * i, "attempt": 1, "values": {"ret": float(i)}} for i in range(5)]
        write_run(sd, vs[0], seed, records=recs)
    c = load_sweep(sd.path).curves("ret", x="time")[0]
    assert c.x[0] == 0.0 and c.x[-1] == 8.0 and len(c.x) == 256
    half = c.x <= 4.0  # both runs there: seed 0 at ret = t, seed 1 at ret = t / 2
    assert c.mean[half] == pytest.approx(0.75 * c.x[half])
    assert (c.n[~half] == 1).all() and c.mean[~half] == pytest.approx(c.x[~half] / 2)


def test_another_metric_on_x(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"lr": 0.1}], seeds=(0, 1))
    for seed in (0, 1):
        write_run(
            sd,
            vs[0],
            seed,
            curves={"env_steps": [100, 200, 300], "ret": [seed + 1.0, seed + 2.0, seed + 3.0]},
        )
    sweep = load_sweep(sd.path)
    c = sweep.curves("ret", x="env_steps")[0]
    assert c.x.tolist() == [100.0, 200.0, 300.0] and c.mean.tolist() == [1.5, 2.5, 3.5]
    with pytest.raises(
        MetricError,
        match=r"no run logged a numeric 'frames' to plot against; the x axis can be: step, time, env_steps, ret$",
    ):
        sweep.curves("ret", x="frames")


def test_group_by_pools_runs_into_one_curve_per_value(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"lr": lr, "bs": bs} for lr in (0.1, 0.2) for bs in (8, 32)], seeds=(0,))
    for i, v in enumerate(vs):
        write_run(sd, v, 0, curves={"ret": [float(i)]})
    curves = load_sweep(sd.path).curves("ret", group_by=["lr"])
    assert [c.label for c in curves] == ["lr=0.1", "lr=0.2"]
    assert [c.mean.tolist() for c in curves] == [[0.5], [2.5]] and curves[0].n.tolist() == [2]


def test_moving_average_is_centred_shrinks_at_the_ends_and_keeps_nan_where_it_reaches():
    from orchestra.results.curves import moving_average

    assert moving_average(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 3).tolist() == [1.5, 2.0, 3.0, 4.0, 4.5]
    out = moving_average(np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0]), 3)
    assert np.isnan(out[:3]).all() and out[3:].tolist() == [4.0, 5.0, 5.5]


def test_a_log_axis_takes_geometric_means_and_warns_of_values_it_cannot_show(tmp_path):
    sd, vs = write_sweep(tmp_path, [{"lr": 0.1}], seeds=(0, 1, 2))
    for seed, scale in zip((0, 1, 2), (1.0, 100.0, 10.0)):
        write_run(sd, vs[0], seed, curves={"loss": [scale, scale / 10, 0.0 if seed == 2 else scale / 100]})
    sweep = load_sweep(sd.path)
    with pytest.warns(ResultsWarning, match=r"1 value\(s\) of loss are 0 or below"):
        (c,) = sweep.curves("loss", log=True)
    assert c.log and c.mean.tolist() == pytest.approx([10.0, 1.0, 0.1])  # 1, 100, 10 -> 10; 0.01, 1 -> 0.1
    assert (c.low > 0).all() and c.n.tolist() == [3, 3, 2] and c.minmax.tolist() == [False, False, True]
