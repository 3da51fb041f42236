"""Search sweeps through the real CLI: candidates are runs, recorded, told, reproducible, refused when changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra.rundir import Reason, State, SweepDir, planned_runs
from tests.helpers import orchestra, statuses, write_sweep

ES = """
import time
from orchestra import Sweep
from orchestra.search import Box, CMAES, CEM, OptunaSearch, RandomSearch
def train(ctx, x, y, seed):
    # two records, and a seed that shifts the value: the told score is the mean of both, over seeds
    for i in range(2):
        ctx.logger("iteration", i); ctx.logger("f", (x - 0.3) ** 2 + (y + 0.5) ** 2 + seed + i); ctx.logger.dump()
sweep = Sweep(train, Box({"x": (-1.0, 1.0), "y": (-1.0, 1.0)}, fixed={"task": "quad"}), seeds=[0, 2],
              search=SEARCH, objective="f", mode="min", budget=BUDGET)
"""


def es_sweep(tmp_path: Path, search: str, budget: int, name: str = "sweep.py") -> Path:
    return write_sweep(tmp_path, ES.replace("SEARCH", search).replace("BUDGET", str(budget)), name)


def up(tmp_path: Path, f: Path, *args: str):
    return orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "2", *args, cwd=tmp_path)


def proposals(sweep_dir: Path) -> list[dict]:
    return [v for v in json.loads((sweep_dir / "sweep.json").read_text())["variants"] if v.get("proposed")]


def told(sweep_dir: Path) -> list[dict]:
    return json.loads((sweep_dir / "search.json").read_text())["told"]


def test_cmaes_runs_whole_generations_and_tells_each_candidate_its_seed_averaged_score(tmp_path: Path):
    f = es_sweep(tmp_path, "CMAES(sigma0=0.3, popsize=4, seed=1)", 12)
    done = up(tmp_path, f)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_dir = tmp_path / "sweeps" / "sweep"
    made = proposals(sweep_dir)
    assert len(made) == 12 and [v["labels"]["trial"] for v in made] == list(range(12))
    assert [v["labels"]["generation"] for v in made] == [0] * 4 + [1] * 4 + [2] * 4
    assert all(v["params"]["task"] == "quad" for v in made)
    assert made[0]["name"].startswith("000_x=") and len({v["name"] for v in made}) == 12
    st = statuses(sweep_dir)
    assert len(st) == 24 and all(s.state is State.COMPLETED for s in st.values())
    # a whole population, then one tell: generation g+1 starts after every run of g ended
    for g in (1, 2):
        ended = max(
            st[f"{v['name']}/{s}"].ended_at
            for v in made
            if v["labels"]["generation"] == g - 1
            for s in (0, 2)
        )
        started = min(
            st[f"{v['name']}/{s}"].started_at for v in made if v["labels"]["generation"] == g for s in (0, 2)
        )
        assert started >= ended
    for c in told(sweep_dir):
        x, y = c["config"]["x"], c["config"]["y"]
        base = (x - 0.3) ** 2 + (y + 0.5) ** 2
        assert c["value"] == pytest.approx(base + 1.5)  # mean of i in {0, 1} and seed in {0, 2}
    ranked = orchestra("results", sweep_dir, "--metric", "f", "--mode", "min", "--json", cwd=tmp_path)
    assert ranked.returncode == 0, ranked.stderr
    best = json.loads(ranked.stdout)
    best = best["ranking"][0] if isinstance(best, dict) else best[0]
    assert best["mean"] == pytest.approx(min(c["value"] for c in told(sweep_dir)))
    status = orchestra("status", sweep_dir, cwd=tmp_path)
    assert status.returncode == 0 and made[-1]["name"] in status.stdout
    again = up(tmp_path, f)
    assert again.returncode == 0 and "nothing to do" in again.stdout


@pytest.mark.parametrize(
    ("search", "budget"),
    [
        ("CMAES(sigma0=0.3, popsize=4, seed=11)", 8),
        ("CEM(sigma0=0.3, popsize=4, elite_ratio=0.5, seed=11)", 8),
        ("RandomSearch(seed=11)", 6),
        ("OptunaSearch(seed=11, max_concurrent=1)", 4),
    ],
    ids=["cmaes", "cem", "random", "optuna-one-at-a-time"],
)
def test_a_fixed_search_seed_proposes_the_same_candidates(tmp_path: Path, search: str, budget: int):
    f = es_sweep(tmp_path, search, budget)
    for name in ("a", "b"):
        assert up(tmp_path, f, "--name", name).returncode == 0
    a, b = proposals(tmp_path / "sweeps" / "a"), proposals(tmp_path / "sweeps" / "b")
    assert [(v["name"], v["params"]) for v in a] == [(v["name"], v["params"]) for v in b]
    assert len(a) == budget


def test_an_asynchronous_search_asks_for_a_new_candidate_as_each_one_finishes(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep
        from orchestra.search import Box, RandomSearch
        def train(ctx, d):
            time.sleep(d)
            ctx.logger("loss", d); ctx.logger.dump()
        sweep = Sweep(train, Box({"d": (0.1, 1.2)}), search=RandomSearch(seed=4),
                      objective="loss", mode="min", budget=9)
        """,
    )
    done = orchestra("up", f, "--root", tmp_path / "sweeps", "--workers", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    st = statuses(tmp_path / "sweeps" / "sweep")
    runs = sorted(st.values(), key=lambda s: s.started_at)
    assert len(runs) == 9
    # never more candidates at once than slots, and never waiting for a whole batch to end
    for r in runs:
        assert sum(1 for o in runs if o.started_at <= r.started_at < o.ended_at) <= 3
    overtaken = [r for k, r in enumerate(runs[3:], 3) if r.started_at < max(o.ended_at for o in runs[:k])]
    assert overtaken, "each new candidate waited for every earlier one"


def test_a_changed_search_is_refused_a_bigger_budget_goes_on(tmp_path: Path):
    f = es_sweep(tmp_path, "CMAES(sigma0=0.3, popsize=4, seed=1)", 4)
    assert up(tmp_path, f).returncode == 0
    sweep_dir = tmp_path / "sweeps" / "sweep"
    first = proposals(sweep_dir)
    f.write_text(f.read_text().replace("sigma0=0.3", "sigma0=0.5"))
    refused = up(tmp_path, f)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "orchestra: error: sweep.py: the search changed since sweep 'sweep' was planned "
        "(search.sigma0 0.3 -> 0.5); a search goes on only as it started: run `orchestra up sweep.py "
        "--name NEW` for a new sweep"
    ]
    assert proposals(sweep_dir) == first
    f.write_text(f.read_text().replace("sigma0=0.5", "sigma0=0.3").replace("budget=4", "budget=8"))
    more = up(tmp_path, f)
    assert more.returncode == 0, more.stderr
    assert "budget changed from 4 to 8 candidates" in more.stdout
    grown = proposals(sweep_dir)
    assert grown[:4] == first and len(grown) == 8
    assert f.read_text().count("seeds=[0, 2]") == 1
    f.write_text(f.read_text().replace("seeds=[0, 2]", "seeds=[0, 1, 2]"))
    assert "(seeds [0, 2] -> [0, 1, 2])" in up(tmp_path, f).stderr


def test_the_dashboards_file_source_shows_each_runs_trial_and_generation(tmp_path: Path):
    from orchestra.service.files import read_rows

    f = es_sweep(tmp_path, "CMAES(popsize=4, seed=3)", 8)
    assert up(tmp_path, f).returncode == 0
    rows = read_rows(SweepDir(tmp_path / "sweeps" / "sweep"))
    assert [(r.labels["trial"], r.labels["generation"]) for r in rows[::2]] == [(t, t // 4) for t in range(8)]
    refs = planned_runs(
        SweepDir(tmp_path / "sweeps" / "sweep"),
        json.loads((tmp_path / "sweeps" / "sweep" / "sweep.json").read_text()),
    )
    assert [r.index for r in refs] == list(range(16))


STOPPED = """
import time
from orchestra import Sweep, Config, Grid
from orchestra.search import ASHA, MedianStopping
def train(ctx, q):
    start, _ = ctx.resume() or (0, None)
    for i in range(start, 40):
        ctx.logger("iteration", i); ctx.logger("acc", q * (1 - 0.9 ** (i + 1))); ctx.logger.dump()
        ctx.snapshot(i, None)
        time.sleep(0.03)
sweep = Sweep(train, Config({"q": Grid([0.9, 0.5, 0.8, 0.2, 0.7, 0.1])}), max_retries=2, snapshot_mode="last",
              STOPPER)
"""


@pytest.mark.parametrize(
    "stopper",
    [
        "stopper=ASHA(metric='acc', mode='max', max_t=100, grace_period=3, reduction_factor=2)",
        "objective='acc', mode='max', stopper=MedianStopping(grace_period=3, min_samples_required=1)",
    ],
    ids=["asha", "median"],
)
def test_a_stopper_on_a_grid_stops_hopeless_runs_as_finished_not_failed_and_never_retries_them(
    tmp_path: Path, stopper: str
):
    f = write_sweep(tmp_path, STOPPED.replace("STOPPER", stopper))
    done = up(tmp_path, f)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_dir = tmp_path / "sweeps" / "sweep"
    st = statuses(sweep_dir)
    stopped = {rid for rid, s in st.items() if s.state is State.STOPPED}
    assert "q=0.9/0" not in stopped and {"q=0.2/0", "q=0.1/0"} <= stopped
    for rid in stopped:
        s = st[rid]
        assert s.exit.reason is Reason.STOPPED_EARLY and s.attempt == 1
        lines = (sweep_dir / "runs" / rid / "metrics.jsonl").read_text().splitlines()
        assert len(lines) < 40  # its curve ends where it was stopped
    assert "stopped" in orchestra("status", sweep_dir, cwd=tmp_path).stdout
    again = up(tmp_path, f)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_a_search_is_told_a_stopped_runs_score_as_it_stood(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        import time
        from orchestra import Sweep
        from orchestra.search import Box, RandomSearch, ASHA
        def train(ctx, q):
            for i in range(30):
                ctx.logger("iteration", i); ctx.logger("acc", q * i); ctx.logger.dump()
                time.sleep(0.03)
        sweep = Sweep(train, Box({"q": (0.0, 1.0)}), search=RandomSearch(seed=5, max_concurrent=2),
                      objective="acc", mode="max", budget=6,
                      stopper=ASHA(max_t=100, grace_period=3, reduction_factor=2))
        """,
    )
    done = up(tmp_path, f)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_dir = tmp_path / "sweeps" / "sweep"
    st = statuses(sweep_dir)
    stopped = [rid for rid, s in st.items() if s.state is State.STOPPED]
    assert stopped, "ASHA stopped none of the runs"
    values = {c["name"]: c["value"] for c in told(sweep_dir)}
    for rid in stopped:
        logged = [
            json.loads(line)["values"]["acc"] for line in (sweep_dir / "runs" / rid / "metrics.jsonl").open()
        ]
        assert 3 < len(logged) < 30
        assert values[rid.split("/")[0]] == pytest.approx(sum(logged) / len(logged))


def test_a_grids_changed_stopper_is_refused_unless_updated(tmp_path: Path):
    f = write_sweep(
        tmp_path,
        """
        from orchestra import Sweep, Config, Grid
        from orchestra.search import ASHA
        def train(ctx, q):
            ctx.logger("acc", q); ctx.logger.dump()
        sweep = Sweep(train, Config({"q": Grid([1, 2])}), stopper=ASHA(metric="acc", mode="max", grace_period=3))
        """,
    )
    assert up(tmp_path, f).returncode == 0
    f.write_text(f.read_text().replace("grace_period=3", "grace_period=5"))
    refused = up(tmp_path, f)
    assert refused.returncode == 2 and refused.stderr.splitlines() == [
        "orchestra: error: sweep.py: the stopper changed since sweep 'sweep' was planned; run `orchestra up "
        "sweep.py --name NEW` for a new sweep, or add --update to go on with the new stopper"
    ]
    updated = up(tmp_path, f, "--update")
    assert (
        updated.returncode == 0
        and "the stopper changed; runs still to run follow the new one" in updated.stdout
    )
