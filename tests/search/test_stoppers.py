"""ASHA and the median rule decide as Ray Tune's ASHAScheduler and MedianStoppingRule do."""

from __future__ import annotations

import numpy as np
import pytest

from orchestra.search import ASHA, MedianStopping, SearchError
from orchestra.search.stoppers import _Bracket, percentile


def test_percentile_is_numpys_linear_interpolation():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 17):
        values = list(rng.normal(size=n))
        for q in (0, 25, 50, 66.666, 75, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_a_bracket_stops_a_run_below_the_top_fraction_at_its_rung():
    # Ray's _Bracket docstring: rungs at 1, 2, 4, 8 with reduction factor 2
    b = _Bracket(1, 10, 2, 0)
    assert [m for m, _ in b.rungs] == [8, 4, 2, 1]
    assert b.on_result("t1", 1, 2) is False
    assert b.on_result("t2", 1, 4) is False
    assert b.cutoff(b.rungs[-1][1]) == 3.0
    assert b.on_result("t3", 1, 1) is True
    assert b.cutoff(b.rungs[-1][1]) == 2.0
    assert b.on_result("t1", 1.5, 0) is False  # judged at rung 1 already: goes on to the next rung
    assert b.on_result("t1", 2, 2) is False and b.on_result("t2", 2, 1) is True


def test_asha_rungs_follow_grace_period_and_reduction_factor_up_to_max_t():
    asha = ASHA(metric="acc", mode="max", max_t=81, grace_period=1, reduction_factor=3)
    assert [m for m, _ in asha._brackets[0].rungs] == [81, 27, 9, 3, 1]
    two = ASHA(metric="acc", mode="max", max_t=81, grace_period=1, reduction_factor=3, brackets=2)
    assert [m for m, _ in two._brackets[1].rungs] == [81, 27, 9, 3]
    assert {id(two._bracket(f"r{i}")) for i in range(40)} == {id(b) for b in two._brackets}


def test_asha_compares_in_the_direction_of_mode_and_stops_at_max_t():
    low = ASHA(metric="loss", mode="min", max_t=10, grace_period=1, reduction_factor=2)
    assert low.on_result("a", 1, 0.5) is False
    assert low.on_result("b", 1, 0.9) is True  # a bigger loss is worse
    assert low.on_result("c", 1, 0.1) is False
    assert low.on_result("a", 10, 0.4) is True  # max_t reached
    assert low.on_result("d", 1, float("nan")) is False  # not a number: no decision


def test_median_rule_stops_a_run_whose_best_is_below_the_median_of_the_others_running_means():
    rule = MedianStopping(metric="acc", mode="max", grace_period=2, min_samples_required=2)
    for t in range(5):
        assert rule.on_result("good", t, 0.5 + 0.1 * t) is False
        assert rule.on_result("fair", t, 0.4 + 0.1 * t) is False
    assert rule.on_result("bad", 0, 0.0) is False
    assert rule.on_result("bad", 1, 0.1) is False  # within the grace period
    # at t=2: running means of the others 0.6 and 0.5, median 0.55; the best of "bad" is 0.2
    assert rule.on_result("bad", 2, 0.2) is True
    assert rule.on_result("late", 2, 0.56) is False  # 0.56 beats the median of 0.6, 0.5 and 0.1


def test_median_rule_waits_for_enough_others_and_forgets_steps_a_retry_logs_again():
    rule = MedianStopping(metric="loss", mode="min", grace_period=0, min_samples_required=2)
    assert rule.on_result("a", 3, 1.0) is False
    assert rule.on_result("b", 3, 5.0) is False  # one other run at step 3: not enough
    assert rule.on_result("c", 3, 3.0) is False
    assert rule.on_result("b", 3, 5.0) is True  # others' means 1.0 and 3.0; 5.0 is a worse loss
    rule.on_result("c", 4, 1.0)
    rule.on_result("c", 2, 9.0)  # a retry resumed at step 2: steps from there on are replaced
    assert rule._curves["c"].steps == [2] and rule._curves["c"].values == [-9.0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ASHA(metric="a", mode="max", max_t=0), "ASHA max_t must be a number > 0"),
        (
            lambda: ASHA(metric="a", mode="max", reduction_factor=1),
            "ASHA reduction_factor must be a number > 1",
        ),
        (lambda: ASHA(metric="a", mode="max", grace_period=20, max_t=10), "must not exceed max_t"),
        (lambda: ASHA(metric="a", mode="best"), "ASHA mode must be 'max' or 'min'"),
        (lambda: MedianStopping(metric="a", mode="max", min_samples_required=0), "min_samples_required"),
    ],
)
def test_bad_stopper_options_are_refused_in_one_line(make, message):
    with pytest.raises(SearchError) as err:
        make()
    assert message in str(err.value)


def test_a_stopper_takes_the_sweeps_objective_when_it_names_no_metric():
    asha = ASHA()
    asha.bind("return", "max")
    assert (asha.metric, asha.mode) == ("return", "max")
    with pytest.raises(SearchError, match=r"ASHA needs a metric: ASHA\(metric='return', mode='max'\)"):
        ASHA().bind(None, None)
