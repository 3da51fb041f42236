"""kill -9 of the orchestrator mid-generation, then up: the search goes on as if nothing happened."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from orchestra.rundir import State
from tests.helpers import orchestra, pid_alive, popen_orchestra, statuses, wait_for, write_sweep

SLOW = """
import time
from orchestra import Sweep
from orchestra.search import Box, SEARCH
def train(ctx, x, y):
    time.sleep(0.25 + 0.25 * abs(x))
    ctx.logger("f", (x - 0.3) ** 2 + (y + 0.5) ** 2); ctx.logger.dump()
sweep = Sweep(train, Box({"x": (-1.0, 1.0), "y": (-1.0, 1.0)}), search=SEARCH(seed=3, OPTIONS),
              objective="f", mode="min", budget=BUDGET)
"""


def sweep_file(tmp_path: Path, search: str, options: str, budget: int) -> Path:
    body = SLOW.replace("SEARCH", search).replace("OPTIONS", options).replace("BUDGET", str(budget))
    return write_sweep(tmp_path, body)


def record(sweep_dir: Path) -> tuple[list, list]:
    variants = json.loads((sweep_dir / "sweep.json").read_text())["variants"]
    told = json.loads((sweep_dir / "search.json").read_text())["told"]
    return [(v["name"], v["params"], v["labels"]) for v in variants], [(c["name"], c["value"]) for c in told]


def running(sweep_dir: Path) -> dict[str, int]:
    if not (sweep_dir / "sweep.json").exists():
        return {}
    return {rid: s.pid for rid, s in statuses(sweep_dir).items() if s and s.state is State.RUNNING and s.pid}


def kill_9(proc: subprocess.Popen, sweep_dir: Path) -> None:
    pids = list(running(sweep_dir).values())
    proc.kill()
    proc.wait()
    for pid in pids:
        wait_for(
            lambda pid=pid: not pid_alive(pid), timeout=10, what=f"run {pid} to die with the orchestrator"
        )


def check_each_run_completed_once(sweep_dir: Path, before: dict[str, float]) -> None:
    for rid, s in statuses(sweep_dir).items():
        assert s.state is State.COMPLETED, rid
        assert sum(1 for e in s.history if e["state"] == "completed") == 1, (
            f"{rid} ran again after it completed"
        )
        if rid in before:
            assert s.ended_at == before[rid]


def test_kill_9_mid_generation_then_up_proposes_and_tells_exactly_what_an_uninterrupted_sweep_does(
    tmp_path: Path,
):
    f = sweep_file(tmp_path, "CMAES", "sigma0=0.4, popsize=4", 12)
    root = tmp_path / "sweeps"
    reference = orchestra("up", f, "--root", root, "--name", "ref", "--workers", "2", cwd=tmp_path)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    sweep_dir = root / "sweep"

    def mid_generation_1() -> bool:
        st = statuses(sweep_dir) if (sweep_dir / "sweep.json").exists() else {}
        gen1 = {rid: s for rid, s in st.items() if rid[:3] in ("004", "005", "006", "007")}
        states = {s.state for s in gen1.values() if s is not None}
        return State.COMPLETED in states and State.RUNNING in states

    proc = popen_orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)
    wait_for(mid_generation_1, what="generation 1 with a run completed and one running")
    kill_9(proc, sweep_dir)
    completed = {
        rid: s.ended_at for rid, s in statuses(sweep_dir).items() if s and s.state is State.COMPLETED
    }
    assert any(rid[:3] == "004" or rid[:3] in ("005", "006", "007") for rid in completed)

    rng = random.Random(7)
    for _ in range(2):  # and twice more, at random moments
        proc = popen_orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)
        try:
            proc.wait(timeout=rng.uniform(0.8, 2.5))
        except subprocess.TimeoutExpired:
            kill_9(proc, sweep_dir)
        for rid, s in statuses(sweep_dir).items():
            if s and s.state is State.COMPLETED:
                assert completed.setdefault(rid, s.ended_at) == s.ended_at, f"{rid} ran again"
    final = orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr

    assert record(sweep_dir) == record(root / "ref")
    check_each_run_completed_once(sweep_dir, completed)
    assert len(statuses(sweep_dir)) == 12


def test_an_asynchronous_search_killed_mid_way_proposes_no_candidate_twice_and_spends_its_budget(
    tmp_path: Path,
):
    f = sweep_file(tmp_path, "OptunaSearch", "max_concurrent=2", 8)
    root = tmp_path / "sweeps"
    sweep_dir = root / "sweep"
    proc = popen_orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)
    wait_for(
        lambda: (
            len([s for s in statuses(sweep_dir).values() if s and s.state is State.COMPLETED]) >= 3
            if (sweep_dir / "sweep.json").exists()
            else False
        ),
        what="three candidates done",
    )
    kill_9(proc, sweep_dir)
    completed = {
        rid: s.ended_at for rid, s in statuses(sweep_dir).items() if s and s.state is State.COMPLETED
    }
    before, told_before = record(sweep_dir)
    final = orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    after, told_after = record(sweep_dir)
    assert after[: len(before)] == before and len(after) == 8
    assert len({name for name, _, _ in after}) == 8
    assert told_after[: len(told_before)] == told_before
    assert sorted(name for name, _ in told_after) == sorted(name for name, _, _ in after)
    check_each_run_completed_once(sweep_dir, completed)
    study = json.loads((sweep_dir / "search.json").read_text())
    assert study["pending"] == [] and study["asked"] == 8


def test_up_dir_runs_a_searchs_recorded_candidates_and_up_sweep_py_then_goes_on_with_the_search(
    tmp_path: Path,
):
    f = sweep_file(tmp_path, "CMAES", "sigma0=0.4, popsize=4", 8)
    root = tmp_path / "sweeps"
    assert orchestra("up", f, "--root", root, "--name", "ref", "--workers", "2", cwd=tmp_path).returncode == 0
    sweep_dir = root / "sweep"
    proc = popen_orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)
    wait_for(lambda: len(running(sweep_dir)) == 2, what="two running runs of generation 0")
    kill_9(proc, sweep_dir)
    saved = (sweep_dir / "search.json").read_text()
    again = orchestra("up", sweep_dir, "--workers", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "a search proposes candidates only when started from its sweep file" in again.stdout
    assert len(statuses(sweep_dir)) == 4 and (sweep_dir / "search.json").read_text() == saved
    final = orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    assert record(sweep_dir) == record(root / "ref")


def test_a_population_saved_but_not_yet_in_sweep_json_when_the_orchestrator_died_is_added_and_run(
    tmp_path: Path,
):
    f = sweep_file(tmp_path, "CMAES", "sigma0=0.4, popsize=4", 12)
    root = tmp_path / "sweeps"
    assert orchestra("up", f, "--root", root, "--name", "ref", "--workers", "2", cwd=tmp_path).returncode == 0
    sweep_dir = root / "sweep"
    plan_file = sweep_dir / "sweep.json"
    proc = popen_orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)

    def generation_0_started_and_not_over() -> bool:
        runs = list((sweep_dir / "runs").glob("*/0")) if (sweep_dir / "runs").exists() else []
        started = len(runs) == 4 and all((r / "metadata.json").exists() for r in runs)
        return started and bool(running(sweep_dir))

    wait_for(generation_0_started_and_not_over, what="every run of generation 0 started, one still running")
    plan = plan_file.read_text()
    assert len(json.loads(plan)["variants"]) == 4
    # sweep.json cannot be replaced now: the next population is saved in search.json, then the
    # orchestrator dies trying to add it to the plan
    plan_file.unlink()
    plan_file.mkdir()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, out
    saved = json.loads((sweep_dir / "search.json").read_text())
    assert [c["trial"] for c in saved["pending"]] == [4, 5, 6, 7] and len(saved["told"]) == 4
    plan_file.rmdir()
    plan_file.write_text(plan)
    final = orchestra("up", f, "--root", root, "--workers", "2", cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    assert record(sweep_dir) == record(root / "ref")
    assert all(s.state is State.COMPLETED for s in statuses(sweep_dir).values())
