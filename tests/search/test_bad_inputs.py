"""Every mistake the issue lists: one clear line, exit 2, nothing launched or half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.rundir import State
from tests.helpers import orchestra, statuses, write_sweep

HEAD = """
from orchestra import Sweep, Config, Grid
from orchestra.search import Box, CMAES, CEM, RandomSearch, ASHA, MedianStopping
def train(ctx, x):
    ctx.logger("f", x); ctx.logger.dump()
"""

CASES = {
    "low-above-high": (
        "sweep = Sweep(train, Box({'x': (1.0, 0.0)}), search=RandomSearch(), objective='f', mode='min', budget=4)",
        "sweep.py:6: Box dimension 'x': low 1.0 must be below high 0.0",
    ),
    "log-through-zero": (
        "sweep = Sweep(train, Box({'x': (0, 1.0, 'log')}), search=RandomSearch(), objective='f', mode='min', budget=4)",
        "sweep.py:6: Box dimension 'x': a log range needs low > 0, got 0",
    ),
    "popsize-1": (
        "sweep = Sweep(train, Box({'x': (0, 1.0)}), search=CMAES(popsize=1), objective='f', mode='min', budget=4)",
        "sweep.py:6: CMAES popsize must be an integer >= 2 (a population to compare), got 1",
    ),
    "budget-0": (
        "sweep = Sweep(train, Box({'x': (0, 1.0)}), search=RandomSearch(), objective='f', mode='min', budget=0)",
        "sweep.py:6: Sweep budget must be a number of candidates >= 1, got 0",
    ),
    "budget-not-whole-generations": (
        "sweep = Sweep(train, Box({'x': (0, 1.0)}), search=CEM(popsize=4), objective='f', mode='min', budget=10)",
        "sweep.py:6: Sweep budget=10 is not a whole number of generations of CEM(popsize=4); use 8 or 12",
    ),
    "no-budget": (
        "sweep = Sweep(train, Box({'x': (0, 1.0)}), search=RandomSearch(), objective='f', mode='min')",
        "sweep.py:6: Sweep: a search needs budget=, the number of candidates to propose (each run once per seed)",
    ),
    "no-objective": (
        "sweep = Sweep(train, Box({'x': (0, 1.0)}), search=RandomSearch(), budget=4)",
        "sweep.py:6: Sweep: a search needs objective= (the metric it optimises, e.g. 'return') and mode='max' or 'min'",
    ),
    "box-without-search": (
        "sweep = Sweep(train, Box({'x': (0, 1.0)}))",
        "sweep.py:6: Sweep: a Box is searched, so give search= (e.g. CMAES(), OptunaSearch(), RandomSearch()) "
        "with objective=, mode= and budget=",
    ),
    "search-over-a-grid": (
        "sweep = Sweep(train, Config({'x': Grid([1, 2])}), search=RandomSearch(), objective='f', mode='min', budget=4)",
        "sweep.py:6: Sweep: a search explores a Box, e.g. Box({'lr': (1e-4, 1e-1, 'log')}); the space is a Config",
    ),
    "stopper-without-metric": (
        "sweep = Sweep(train, Config({'x': Grid([1, 2])}), stopper=ASHA())",
        "sweep.py:6: ASHA needs a metric: ASHA(metric='return', mode='max'), or Sweep(objective=, mode=)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_search_sweep_is_one_line_and_exit_2_and_writes_nothing(tmp_path: Path, case: str):
    line, message = CASES[case]
    f = write_sweep(tmp_path, HEAD + line + "\n")
    out = orchestra("up", f, "--root", tmp_path / "sweeps", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f"orchestra: error: {message}"]
    assert not (tmp_path / "sweeps").exists()


def test_an_objective_no_run_logs_is_said_once_runs_finish_and_the_sweep_exits_2(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        HEAD + "sweep = Sweep(train, Box({'x': (0, 1.0)}), seeds=[0, 1], search=CMAES(popsize=2, seed=0), "
        "objective='return', mode='max', budget=6)\n",
    )
    out = orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "4", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.splitlines() == [
        "orchestra: error: sweep.py: objective 'return' is logged by no run (run 000_x=0.9978/0 logged: f); "
        "set Sweep(objective=) to a metric the entry logs"
    ]
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert len(st) == 4 and all(s.state is State.COMPLETED for s in st.values())  # one generation, not killed


def test_a_stopper_metric_no_run_logs_is_said_once_every_run_completes_and_the_sweep_exits_2(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        HEAD
        + "sweep = Sweep(train, Config({'x': Grid([1, 2, 3])}), stopper=MedianStopping(metric='acc', mode='max'))\n",
    )
    out = orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "2", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("orchestra: error:") == 1
    assert "stopper metric 'acc' is logged by no run (run x=" in out.stderr
    assert (
        "logged: f); no run was stopped early: set MedianStopping(metric=) to a metric the entry logs"
        in out.stderr
    )
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert all(s.state is State.COMPLETED for s in st.values()) and len(st) == 3
