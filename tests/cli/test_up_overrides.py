"""`orchestra up` with overrides, --only and dry-run draws, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from orchestra.rundir import State
from tests.helpers import orchestra, statuses, write_sweep

SWEEP = """
    import random
    from orchestra import Sweep, Config, Grid, Sample
    def train(config, seed):
        print("config", config, "seed", seed)
    sweep = Sweep(
        train,
        Config({"lr": Grid([0.1, 0.01, 0.001]), "bs": 32, "wd": Sample(lambda: random.uniform(0, 1))}),
        seeds=[0, 1],
    )
"""


def up(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return orchestra("up", "sweep.py", "--root", "sweeps", "--workers", "2", *args, cwd=tmp_path)


def plan(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((tmp_path / "sweeps" / "sweep" / "sweep.json").read_text())


def test_overrides_are_recorded_and_a_bare_up_resumes_with_them(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    first = up(tmp_path, "lr=0.1,0.01", "bs=64")
    assert first.returncode == 0, first.stderr
    recorded = plan(tmp_path)
    assert recorded["overrides"] == ["lr=0.1,0.01", "bs=64"]
    assert sorted({v["params"]["lr"] for v in recorded["variants"]}) == [0.01, 0.1]
    assert {v["params"]["bs"] for v in recorded["variants"]} == {64}
    st = statuses(tmp_path / "sweeps" / "sweep")
    assert len(st) == 4 and all(s.state is State.COMPLETED for s in st.values())

    again = up(tmp_path)
    assert again.returncode == 0, again.stderr
    assert "planned with the overrides lr=0.1,0.01 bs=64 (recorded in sweep.json)" in again.stdout
    assert "4 runs, 0 to start, 4 completed kept" in again.stdout
    assert plan(tmp_path)["variants"] == recorded["variants"]

    same = up(tmp_path, "bs=64", "lr=1e-1,0.01")
    assert same.returncode == 0, "the same overrides, spelt differently, are the same plan"


def test_other_overrides_on_an_existing_sweep_need_update_and_change_nothing_without_it(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    assert up(tmp_path, "lr=0.1").returncode == 0
    before = (tmp_path / "sweeps" / "sweep" / "sweep.json").read_bytes()
    refused = up(tmp_path, "lr=0.01")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "orchestra: error: sweep 'sweep' was planned with the overrides lr=0.1, not lr=0.01; add --update to "
        "re-plan it with these (unchanged variants keep their results), or run `orchestra up sweep.py --name NEW "
        "...` for a new sweep"
    )
    assert (tmp_path / "sweeps" / "sweep" / "sweep.json").read_bytes() == before
    dropped = up(tmp_path, "--no-overrides")
    assert dropped.returncode == 2 and "planned with the overrides lr=0.1, not none" in dropped.stderr

    widened = up(tmp_path, "lr=0.1,0.01", "--update")
    assert widened.returncode == 0, widened.stderr
    assert "overrides changed from lr=0.1 to lr=0.1,0.01" in widened.stdout
    assert "4 runs, 2 to start, 2 completed kept" in widened.stdout, "lr=0.1 keeps its results"
    assert plan(tmp_path)["overrides"] == ["lr=0.1,0.01"]


def test_unknown_keys_are_one_line_exit_2_and_nothing_is_written(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    out = up(tmp_path, "lrr=0.1")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "orchestra: error: override 'lrr=0.1': the sweep has no key 'lrr'; did you mean 'lr'? "
        "(keys: lr, bs, wd, seed; +lrr=... adds one)"
    )
    bad = up(tmp_path, "lr=[0.1")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "sweeps").exists()


def test_only_runs_a_subset_and_a_later_up_runs_the_rest(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    out = up(tmp_path, "--only", "lr=0.01", "--only", "seed=1")
    assert out.returncode == 0, out.stderr
    assert "sweep sweep: 1 runs (of 6, selected by --only), 1 to start" in out.stdout
    st = statuses(tmp_path / "sweeps" / "sweep")
    done = [rid for rid, s in st.items() if s is not None]
    assert len(done) == 1 and done[0].startswith("lr=0.01_") and done[0].endswith("/1")
    assert plan(tmp_path)["overrides"] == [], "--only is not part of the plan"
    rest = up(tmp_path)
    assert rest.returncode == 0
    assert "6 runs, 5 to start, 1 completed kept" in rest.stdout

    none = up(tmp_path, "--only", "lr=0.5")
    assert none.returncode == 2
    assert (
        none.stderr.strip()
        == "orchestra: error: --only 'lr=0.5' matches no run of the plan (lr: 0.1, 0.01, 0.001)"
    )


def test_dry_run_shows_the_draws_the_run_uses_and_two_dry_runs_agree(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    dry = up(tmp_path, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == up(tmp_path, "--dry-run").stdout, "two dry runs agree"
    draws = [line.strip() for line in dry.stdout.splitlines() if line.startswith("  ") and ": wd=" in line]
    assert len(draws) == 3
    assert up(tmp_path).returncode == 0
    recorded = {v["name"]: v["params"]["wd"] for v in plan(tmp_path)["variants"]}
    assert draws == [f"{name}: wd={wd!r}" for name, wd in recorded.items()], (
        "the run used the dry run's draws"
    )
    seeded = write_sweep(
        tmp_path, SWEEP.replace("seeds=[0, 1],", "seeds=[0, 1], sample_seed=7,"), "seeded.py"
    )
    a = orchestra("up", seeded, "--dry-run", "--name", "a", cwd=tmp_path).stdout
    b = orchestra("up", seeded, "--dry-run", "--name", "b", cwd=tmp_path).stdout

    def shown_draws(out: str) -> list[str]:
        return [line for line in out.splitlines() if ": wd=" in line]

    assert "sample_seed 7" in a and shown_draws(a) == shown_draws(b), "sample_seed, not the name, decides"
