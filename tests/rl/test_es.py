"""CMAES and CEM: lagom's semantics, reproducible streams, state and restore."""

from __future__ import annotations

import pickle

import cma
import numpy as np
import pytest

from orchestra.errors import UserError
from orchestra.rl import CEM, CMAES, BaseES, ESOptionError, LinearSchedule


def sphere(x):
    return float(np.sum(np.square(x)))


def generations(es, n, f=sphere):
    for _ in range(n):
        xs = es.ask()
        es.tell(xs, [f(x) for x in xs])


def cmaes(seed=1, **opts):
    return CMAES([0.0, 0.0], 0.5, {"popsize": 6, "seed": seed, "verbose": -9, **opts})


def test_cmaes_asks_a_list_of_popsize_arrays_and_reports_pycmas_result():
    es = cmaes()
    assert es.popsize == 6 and np.allclose(es.x0, [0, 0]) and es.sigma0 == 0.5
    xs = es.ask()
    assert isinstance(xs, list) and len(xs) == 6 and all(x.shape == (2,) for x in xs)
    es.tell(xs, [sphere(x) for x in xs])
    result = es.result
    assert result.iterations == 1 and result.evaluations == 6 and result.stop == {}
    assert result.fbest == min(sphere(x) for x in xs)
    assert CMAES([0.0] * 10, 1.0, {"seed": 1, "verbose": -9}).popsize == 10  # pycma's 4 + 3 ln n


def test_cmaes_gives_pycmas_numbers_for_a_seed_without_touching_numpys_generator():
    np.random.seed(1)
    reference = cma.CMAEvolutionStrategy([0.0, 0.0], 0.5, {"popsize": 6, "seed": 1, "verbose": -9}).ask()
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    assert np.allclose(cmaes(seed=1).ask(), reference)
    assert (np.random.get_state()[1] == before).all()


def test_cmaes_is_reproducible_whatever_else_draws_random_numbers():
    a, b = cmaes(seed=4), cmaes(seed=4)
    for _ in range(3):
        xs = a.ask()
        np.random.rand(10)  # someone else's draws
        a.tell(xs, [sphere(x) for x in xs])
        generations(b, 1)
    assert np.array_equal(a.result.xfavorite, b.result.xfavorite)
    assert not np.array_equal(cmaes(seed=5).ask()[0], cmaes(seed=4).ask()[0])


@pytest.mark.parametrize("make", [cmaes, lambda: cem(seed=3)])
def test_a_restored_search_asks_what_the_uninterrupted_one_asks(make):
    es = make()
    generations(es, 3)
    state = pickle.loads(pickle.dumps(es.state()))
    expected = es.ask()
    generations(es, 1)
    other = make()
    other.restore(state)
    assert np.allclose(other.ask(), expected)
    assert other.result.iterations == 3


def test_restore_refuses_another_kind_of_state():
    with pytest.raises(UserError, match="not a CEM state"):
        cem().restore(cmaes().state())


def test_cmaes_minimises_the_sphere():
    es = cmaes(seed=2)
    generations(es, 60)
    assert es.result.fbest < 1e-6 and sphere(es.result.xfavorite) < 1e-4


def cem(seed=0, **opts):
    base = {"popsize": 4, "elite_ratio": 0.5, "noise_scheduler_args": [0.0, 0.0, 1, 0], "seed": seed}
    return CEM([0.0, 0.0], 1.0, {**base, **opts})


def test_cem_starts_from_x0_and_sigma0():
    es = cem()
    assert es.elite_size == 2 and repr(es) == "CEM in dimension 2 (seed=0)"
    r = es.result
    assert r.xbest is None and r.fbest is None and r.iterations == 0
    assert np.array_equal(r.xfavorite, np.array([0.0, 0.0], np.float32)) and r.xfavorite.dtype == np.float32
    assert np.array_equal(r.stds, np.array([1.0, 1.0], np.float32))


def test_cem_asks_from_its_own_random_state():
    xs = cem().ask()
    assert isinstance(xs, np.ndarray) and xs.shape == (4, 2)
    assert np.array_equal(xs, np.random.RandomState(0).normal([0, 0], [1, 1], size=(4, 2)))
    assert np.allclose(xs[0], [1.76405235, 0.40015721])


def test_cem_tell_moves_to_the_elite():
    es = cem()
    es.tell([[1, 1], [2, 2], [3, 3], [4, 4]], [4, 3, 2, 1])
    r = es.result
    assert np.allclose(r.xfavorite, [3.5, 3.5]) and np.allclose(r.stds, [0.5, 0.5])
    assert np.allclose(r.xbest, [4, 4]) and r.fbest == 1 and isinstance(r.fbest, int)
    assert r.iterations == 1 and r.evaluations == 4 and r.evals_best == 4


def test_cem_keeps_the_best_solution_ever_told():
    es = cem()
    es.tell([[1, 1], [2, 2], [3, 3], [4, 4]], [4, 3, 2, 1])
    es.tell([[5, 5], [6, 6], [7, 7], [8, 8]], [9, 8, 7, 6])
    assert np.allclose(es.result.xbest, [4, 4]) and es.result.fbest == 1 and es.result.evals_best == 4
    assert np.allclose(es.result.xfavorite, [7.5, 7.5])  # the distribution follows the last generation


def test_cem_ties_at_the_elite_cut_keep_ask_order():
    es = CEM([0.0], 1.0, {"popsize": 40, "elite_ratio": 0.1, "noise_scheduler_args": [0, 0, 1], "seed": 0})
    es.tell([[float(i)] for i in range(40)], [i % 2 for i in range(40)])
    assert np.allclose(es.result.xfavorite, [np.mean([0, 2, 4, 6])])


def test_cem_noise_schedule_adds_variance():
    es = cem(noise_scheduler_args=[0.01, 0.001, 400, 0])
    assert [es.noise_scheduler(i) for i in (0, 1, 200, 400, 500)] == pytest.approx(
        [0.01, 0.0099775, 0.0055, 0.001, 0.001]
    )
    wide = CEM(
        [0.0],
        0.0,
        {"popsize": 100000, "elite_ratio": 0.1, "noise_scheduler_args": [0.25, 0.25, 1], "seed": 1},
    )
    assert np.std(wide.ask()) == pytest.approx(0.5, rel=0.02)


def test_cem_minimises_a_shifted_sphere():
    es = CEM(
        [0.0] * 3,
        1.0,
        {"popsize": 32, "elite_ratio": 0.2, "noise_scheduler_args": [0.01, 0.001, 50], "seed": 0},
    )
    generations(es, 40, lambda x: float(np.sum((x - 2) ** 2)))
    assert np.allclose(es.result.xfavorite, 2, atol=0.1) and es.result.fbest < 0.05


def test_cem_without_a_seed_draws_one():
    es = CEM([0.0], 1.0, {"popsize": 2, "elite_ratio": 0.5, "noise_scheduler_args": [0, 0, 1]})
    assert isinstance(es.seed, int) and 1 <= es.seed < 2**32


def test_cem_names_what_its_options_lack():
    with pytest.raises(ESOptionError, match="CEM needs opts with 'popsize'") as info:
        CEM([0.0], 1.0)
    assert isinstance(info.value, TypeError) and isinstance(info.value, UserError)
    with pytest.raises(KeyError, match="lack 'elite_ratio', 'noise_scheduler_args'"):
        CEM([0.0], 1.0, {"popsize": 4})
    with pytest.raises(ESOptionError, match="'seed' must be an integer"):
        cem(seed=-1)
    with pytest.raises(ValueError, match="3 function values for 4 solutions"):
        cem().tell(np.zeros((4, 2)), [1, 2, 3])


def test_cmaes_is_a_base_es_and_a_subclass_must_implement_the_protocol():
    assert isinstance(cmaes(), BaseES) and isinstance(cem(), BaseES)

    class Partial(BaseES):
        def ask(self):
            return []

    with pytest.raises(TypeError):
        Partial()


def test_lagoms_linear_schedule_test():
    s = LinearSchedule(1.0, 0.1, N=3)
    assert s.get_current() is None
    assert [s(x) for x in range(6)] == [1.0, 0.7, 0.4, 0.1, 0.1, 0.1] and s.get_current() == 0.1
    s = LinearSchedule(0.5, 2.0, N=3)
    assert [s(x) for x in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    s = LinearSchedule(0.5, 2.0, N=3, start=2)
    assert [s(x) for x in range(7)] == [0.5, 0.5, 0.5, 1.0, 1.5, 2.0, 2.0]
    s = LinearSchedule(1.0, 0.1, N=3, start=2)
    assert [s(x) for x in (3, 4, 5)] == pytest.approx([0.7, 0.4, 0.1])
    for bad in ({"N": 0}, {"N": -1}, {"N": 1, "start": -1}):
        with pytest.raises(AssertionError):
            LinearSchedule(1.0, 0.1, **bad)
    for x in (-1, 1.0, np.int64(1)):
        with pytest.raises(AssertionError, match="int >= 0"):
            LinearSchedule(1.0, 0.1, N=3)(x)


def test_the_strategies_import_without_gymnasium():
    import subprocess
    import sys

    code = "import sys; sys.modules['gymnasium'] = None\nfrom orchestra.rl import CEM, CMAES\nprint('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
