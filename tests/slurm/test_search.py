"""Adaptive sweeps on a real Slurm: a search's candidates are jobs, and a stopper ends hopeless jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra.rundir import Reason, State
from tests.slurm.helpers import statuses, submissions, sweep_dir, up, write_sweep

pytestmark = pytest.mark.usefixtures("slurm_cluster")


def test_a_generational_search_submits_each_generation_as_jobs_and_tells_their_scores(tmp_path: Path):
    write_sweep(
        tmp_path,
        """
        import os
        from orchestra import Sweep
        from orchestra.search import Box, CMAES
        def train(ctx, x, y):
            ctx.logger("job", int(os.environ["SLURM_JOB_ID"]))
            ctx.logger("f", (x - 0.3) ** 2 + (y + 0.5) ** 2)
            ctx.logger.dump()
        sweep = Sweep(train, Box({"x": (-1.0, 1.0), "y": (-1.0, 1.0)}), search=CMAES(sigma0=0.3, popsize=4, seed=1),
                      objective="f", mode="min", budget=8)
        """,
    )
    done = up(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = sweep_dir(tmp_path)
    st = statuses(sweep)
    assert len(st) == 8 and all(s.state is State.COMPLETED for s in st.values()), st
    assert all(s.handle and s.handle["backend"] == "slurm" for s in st.values())
    # a whole population, then one tell, then the next population: one submission per generation
    assert len(submissions(sweep)) == 2
    made = [v for v in json.loads((sweep / "sweep.json").read_text())["variants"] if v.get("proposed")]
    assert [v["labels"]["generation"] for v in made] == [0] * 4 + [1] * 4
    gen0_end = max(st[f"{v['name']}/0"].ended_at for v in made[:4])
    assert min(st[f"{v['name']}/0"].started_at for v in made[4:]) >= gen0_end
    told = json.loads((sweep / "search.json").read_text())["told"]
    assert len(told) == 8
    for c in told:
        x, y = c["config"]["x"], c["config"]["y"]
        assert c["value"] == pytest.approx((x - 0.3) ** 2 + (y + 0.5) ** 2)


def test_a_stopper_on_a_grid_scancels_hopeless_jobs_which_end_stopped_early(tmp_path: Path):
    write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep, Config, Grid
        from orchestra.search import ASHA
        def train(ctx, q):
            for i in range(60):
                ctx.logger("iteration", i); ctx.logger("acc", q * (1 - 0.9 ** (i + 1))); ctx.logger.dump()
                time.sleep(0.1)
        sweep = Sweep(train, Config({"q": Grid([0.9, 0.5, 0.8, 0.2, 0.7, 0.1])}), max_retries=2,
                      stopper=ASHA(metric="acc", mode="max", max_t=100, grace_period=3, reduction_factor=2))
        """,
    )
    done = up(tmp_path, "--max-parallel", "2")  # two at a time, as the local stopper test runs them
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = sweep_dir(tmp_path)
    st = statuses(sweep)
    stopped = {rid for rid, s in st.items() if s.state is State.STOPPED}
    assert "q=0.9/0" not in stopped and {"q=0.2/0", "q=0.1/0"} <= stopped, {r: s.state for r, s in st.items()}
    for rid in stopped:
        s = st[rid]
        assert s.exit is not None and s.exit.reason is Reason.STOPPED_EARLY and s.attempt == 1, s
        lines = (sweep / "runs" / rid / "metrics.jsonl").read_text().splitlines()
        assert len(lines) < 60  # the job ended where it was stopped
    assert st["q=0.9/0"].state is State.COMPLETED
    assert len(submissions(sweep)) == 1, "a stopped run is not submitted again"
