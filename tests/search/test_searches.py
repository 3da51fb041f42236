"""The searches' ask/tell over a Box: the same candidates as the libraries themselves, resumable."""

from __future__ import annotations

import math
import pickle

import cma
import numpy as np
import pytest

from orchestra.search import CEM, CMAES, Box, OptunaSearch, RandomSearch, SearchError

BOX = Box({"x": (-2.0, 2.0), "y": (-2.0, 2.0), "z": (-2.0, 2.0)})


def sphere(config):
    return config["x"] ** 2 + config["y"] ** 2 + config["z"] ** 2


def test_cmaes_proposes_what_pycma_does_in_the_unit_cube_with_the_same_seed():
    search = CMAES(sigma0=0.3, popsize=6, seed=5)
    search.setup(BOX, "min")
    es = cma.CMAEvolutionStrategy([0.5] * 3, 0.3, {"bounds": [0, 1], "verbose": -9, "popsize": 6, "seed": 5})
    for _ in range(4):
        configs = search.ask(6)
        points = es.ask()
        assert [[c["x"], c["y"], c["z"]] for c in configs] == [[-2.0 + 4.0 * u for u in p] for p in points]
        values = [sphere(c) for c in configs]
        search.tell(configs, values)
        es.tell(points, values)
    assert search.es.result.fbest == es.result.fbest


def test_a_score_to_maximise_is_told_negated_and_a_missing_one_as_the_worst():
    a, b = CMAES(popsize=4, seed=1), CMAES(popsize=4, seed=1)
    a.setup(BOX, "max")
    b.setup(BOX, "min")
    ca, cb = a.ask(4), b.ask(4)
    assert ca == cb
    a.tell(ca, [1.0, 2.0, math.nan, 4.0])
    b.tell(cb, [-1.0, -2.0, math.inf, -4.0])
    assert a.ask(4) == b.ask(4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: CMAES(sigma0=0.4, popsize=5, seed=3),
        lambda: CEM(sigma0=0.4, popsize=8, elite_ratio=0.25, seed=3),
        lambda: RandomSearch(seed=3),
        lambda: OptunaSearch(seed=3),
    ],
    ids=["cmaes", "cem", "random", "optuna"],
)
def test_state_and_restore_go_on_exactly_as_the_uninterrupted_search(make):
    def step(search, n):
        configs = search.ask(n)
        search.tell(configs, [sphere(c) for c in configs])
        return configs

    n = make().popsize if isinstance(make(), (CMAES, CEM)) else 4
    straight = make()
    straight.setup(BOX, "min")
    asked = [step(straight, n) for _ in range(4)]

    first = make()
    first.setup(BOX, "min")
    step(first, n)
    step(first, n)
    mid = first.ask(n)  # saved between an ask and its tell, as a sweep is mid-generation
    saved = pickle.loads(pickle.dumps(first.state()))
    resumed = make()
    resumed.setup(BOX, "min")
    resumed.restore(saved)
    resumed.tell(mid, [sphere(c) for c in mid])
    assert mid == asked[2]
    assert step(resumed, n) == asked[3]


def test_cem_keeps_lagoms_options_and_clips_candidates_into_the_box():
    search = CEM(sigma0=2.0, popsize=10, elite_ratio=0.2, noise_scheduler_args=[0.0, 0.0, 1], seed=0)
    search.setup(Box({"x": (0.0, 1.0)}), "max")
    configs = search.ask(10)
    assert all(0.0 <= c["x"] <= 1.0 for c in configs)
    assert {c["x"] for c in configs} & {0.0, 1.0}  # sigma0 2.0 throws some outside: clipped
    assert search.es.elite_size == 2
    raw = np.random.RandomState(0).normal([0.5], [2.0], size=(10, 1))
    assert [c["x"] for c in configs] == [min(1.0, max(0.0, float(r[0]))) for r in raw]


def test_random_search_is_uniform_in_the_log_and_ignores_results():
    box = Box({"lr": (1e-5, 1e-1, "log")})
    a, b = RandomSearch(seed=7), RandomSearch(seed=7)
    a.setup(box, "max")
    b.setup(box, "max")
    first = b.ask(3)
    b.tell(first, [1.0, 2.0, 3.0])
    assert a.ask(3) + a.ask(3) == first + b.ask(3)
    logs = [math.log10(c["lr"]) for c in a.ask(4000)]
    assert 0.22 < sum(1 for v in logs if v < -4) / len(logs) < 0.28  # one decade of four


def test_optuna_search_runs_optunas_own_study_and_marks_a_missing_value_failed():
    import optuna

    search = OptunaSearch(sampler=optuna.samplers.RandomSampler(seed=0))
    box = Box({"x": (0.0, 1.0), "k": (1, 3, "int"), "act": ["a", "b"]}, fixed={"env": "e"})
    search.setup(box, "max")
    configs = search.ask(3)
    assert all(c["env"] == "e" and c["act"] in ("a", "b") and c["k"] in (1, 2, 3) for c in configs)
    search.tell(configs[1:2], [0.5])
    search.tell([configs[0], configs[2]], [math.nan, 0.7])
    states = [t.state.name for t in search.study.trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"]
    assert search.study.best_value == 0.7 and search.study.direction.name == "MAXIMIZE"
    with pytest.raises(ValueError, match="was not asked"):
        search.tell(configs[:1], [1.0])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CMAES(popsize=1), "CMAES popsize must be an integer >= 2"),
        (lambda: CEM(popsize=1), "CEM popsize must be an integer >= 2"),
        (lambda: CMAES(sigma0=0), "CMAES sigma0 must be a number > 0"),
        (lambda: CEM(elite_ratio=0), "CEM elite_ratio must be a fraction in (0, 1]"),
        (lambda: CMAES(opts={"seed": 3}), "CMAES opts 'seed': give it as CMAES(seed=...) instead"),
        (lambda: RandomSearch(seed=-1), "RandomSearch seed must be an integer in [0, 2**32)"),
        (lambda: RandomSearch(max_concurrent=0), "RandomSearch max_concurrent must be an integer >= 1"),
    ],
)
def test_bad_options_are_refused_in_one_line(make, message):
    with pytest.raises(SearchError) as err:
        make()
    assert message in str(err.value)


def test_an_es_refuses_a_box_with_choices():
    with pytest.raises(
        SearchError, match="CMAES searches numbers, but Box dimension 'act' is a list of choices"
    ):
        CMAES().check(Box({"x": (0.0, 1.0), "act": ["a", "b"]}))


SAVE_THEN_RESUME = """
import pickle, sys
from orchestra.search import CEM, CMAES, Box
box = Box({"x": (-1.0, 1.0), "y": (-1.0, 1.0)})
f = lambda c: (c["x"] - 0.3) ** 2 + (c["y"] + 0.5) ** 2
make = lambda: SEARCH
if sys.argv[1] == "save":
    s = make(); s.setup(box, "min")
    pickle.dump((s.ask(s.popsize), s.state()), open(sys.argv[2], "wb"))
else:
    asked, state = pickle.load(open(sys.argv[2], "rb"))
    s = make(); s.setup(box, "min"); s.restore(state)
    s.tell(asked, [f(c) for c in asked])
    print(repr(s.ask(s.popsize)))
"""


@pytest.mark.parametrize(
    "search", ["CMAES(sigma0=0.4, popsize=4, seed=3)", "CEM(sigma0=0.4, popsize=4, elite_ratio=0.5, seed=3)"]
)
def test_a_population_saved_by_one_process_is_told_by_another_as_if_nothing_happened(tmp_path, search):
    import os
    import subprocess
    import sys

    script = tmp_path / "resume.py"
    script.write_text(SAVE_THEN_RESUME.replace("SEARCH", search))
    state = tmp_path / "state.pkl"
    for step, hashseed in (("save", "1"), ("resume", "2")):  # pycma keys what it sent by hash
        out = subprocess.run(
            [sys.executable, str(script), step, str(state)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hashseed},
        )
    straight = eval(search, {"CMAES": CMAES, "CEM": CEM})
    box = Box({"x": (-1.0, 1.0), "y": (-1.0, 1.0)})
    straight.setup(box, "min")
    asked = straight.ask(4)
    straight.tell(asked, [(c["x"] - 0.3) ** 2 + (c["y"] + 0.5) ** 2 for c in asked])
    assert out.stdout.strip() == repr(straight.ask(4))
