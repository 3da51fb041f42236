"""Results of sweeps run for real by ``orchestra up --headless``: finished, running, and orphaned."""

from __future__ import annotations

import os
import signal

import orjson
import pytest

from orchestra.compat.pyexputils import getBest, loadResults
from orchestra.results import load_sweep
from tests.helpers import orchestra, popen_orchestra, wait_for
from tests.helpers import write_sweep as write_sweep_file

SWEEP = """
    import time
    from pathlib import Path

    from orchestra import Config, Grid, Sweep


    def train(ctx, lr, hold):
        loss = 1.0
        for itr in range(5):
            loss *= 1 - lr
            ctx.logger("iteration", itr)
            ctx.logger("loss", loss)
            ctx.logger.dump()
        while hold and not Path(hold).exists():  # a run still going, until the test lets it finish
            time.sleep(0.02)
        if lr > 0.8:
            raise ValueError("diverged")
        return {"loss": loss}


    sweep = Sweep(train, Config({"lr": Grid([0.1, 0.5, 0.9]), "hold": HOLD}), seeds=[0, 1])
"""


def sweep_file(tmp_path, hold: str = ""):
    return write_sweep_file(tmp_path, SWEEP.replace("HOLD", repr(hold)))


def logged_everything(sweep_dir):
    runs = load_sweep(sweep_dir)
    return all(len(r.metrics()) == 5 for r in runs) and runs


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finished")
    out = orchestra("up", sweep_file(tmp), "--headless", "--root", tmp / "sweeps", cwd=tmp)
    assert "6 runs" in out.stdout + out.stderr, out.stdout + out.stderr
    return tmp / "sweeps" / "sweep"


def test_a_finished_sweep_loads_with_states_params_and_metrics(finished):
    sweep = load_sweep(finished)
    assert len(sweep) == 6 and sweep.seeds == (0, 1)
    assert [r.state for r in sweep] == ["completed"] * 4 + ["failed"] * 2
    run = sweep[2]  # lr 0.5, seed 0
    assert run.params == {"lr": 0.5, "hold": ""} and run.seed == 0
    m = run.metrics()
    assert m.step.tolist() == [0, 1, 2, 3, 4] and m.names == ("iteration", "loss")
    assert m["loss"].tolist() == pytest.approx([0.5 ** (k + 1) for k in range(5)])
    assert run.config["config"] == {"lr": 0.5, "hold": ""}
    assert run.result["status"] == "completed" and run.result["return"] == {"loss": pytest.approx(0.5**5)}
    assert sweep[4].result["status"] == "failed" and sweep[4].result["error"]["type"] == "ValueError"
    assert run.metadata is not None
    assert [r.index for r in sweep.missing()] == [4, 5]


def test_best_variant_of_a_finished_sweep(finished):
    sweep = load_sweep(finished)
    ranked = sweep.rank("loss", mode="min", last=1)
    assert [s.params["lr"] for s in ranked] == [0.9, 0.5, 0.1]  # failed runs' logged values count
    assert ranked[1].mean == pytest.approx(0.5**5) and ranked[1].stderr == 0.0
    assert sweep.where(lr=lambda lr: lr < 0.8).best("loss", mode="min").params["lr"] == 0.5


def test_cli_and_compat_on_a_finished_sweep(finished, tmp_path):
    out = orchestra("results", finished, "--json", "--metric", "loss", "--last", "1")
    assert out.returncode == 0, out.stderr
    doc = orjson.loads(out.stdout)
    assert doc["best"]["params"]["lr"] == 0.9 and doc["best"]["states"] == {"failed": 2}
    table = orchestra("results", finished).stdout
    assert "2/2 (2 failed)" in table and "best: lr=0.9" in table
    out = orchestra("plot", finished, "-o", tmp_path / "c.svg")
    assert out.returncode == 0 and "3 curve(s)" in out.stdout and (tmp_path / "c.svg").stat().st_size > 0
    results = list(loadResults(str(finished), "loss"))
    assert [r.params["lr"] for r in results] == [0.1, 0.5, 0.9]
    assert results[0].mean() == pytest.approx([0.9 ** (k + 1) for k in range(5)])
    assert getBest(results, comparator=lambda a, b: a > b).params["lr"] == 0.1


def test_a_running_sweep_reads_what_is_there_and_marks_it(tmp_path):
    release = tmp_path / "release"
    proc = popen_orchestra("up", sweep_file(tmp_path, str(release)), "--headless", "--root", tmp_path / "sweeps",
                           "--workers", "6", cwd=tmp_path)  # fmt: skip
    sweep_dir = tmp_path / "sweeps" / "sweep"
    try:
        wait_for(lambda: (sweep_dir / "sweep.json").exists() and logged_everything(sweep_dir), timeout=120)
        out = orchestra("results", sweep_dir, "--metric", "loss", "--mode", "min")
        assert out.returncode == 0, out.stderr
        assert "6 running" in out.stdout and "2/2 (2 running)" in out.stdout
        assert "not finished: 6 running; scores use what those runs logged so far" in out.stdout
        plot = orchestra("plot", sweep_dir, "-o", tmp_path / "live.png")
        assert plot.returncode == 0, plot.stderr
        assert (tmp_path / "live.png").stat().st_size > 0
        release.touch()
        proc.wait(timeout=120)
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert load_sweep(sweep_dir).states() == {"completed": 4, "failed": 2}


def test_runs_of_an_orchestrator_killed_with_sigkill_are_lost(tmp_path):
    release = tmp_path / "release"
    proc = popen_orchestra("up", sweep_file(tmp_path, str(release)), "--headless", "--root", tmp_path / "sweeps",
                           "--workers", "6", cwd=tmp_path)  # fmt: skip
    sweep_dir = tmp_path / "sweeps" / "sweep"
    try:
        wait_for(lambda: (sweep_dir / "sweep.json").exists() and logged_everything(sweep_dir), timeout=120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        sweep = wait_for(lambda: (s := load_sweep(sweep_dir)).states() == {"lost": 6} and s, timeout=60)
        assert not sweep.orchestrator_alive
        assert sweep.best("loss", mode="min").params["lr"] == 0.9
        out = orchestra("results", sweep_dir)
        assert "not finished: 6 lost" in out.stdout and "`orchestra up` resumes them" in out.stdout
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
