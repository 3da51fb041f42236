"""Slurm options and the user's mistakes with them: one line, exit 2, nothing submitted or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra import Slurm, Sweep
from orchestra.errors import UserError
from orchestra.slurm import slurm_minutes
from tests.helpers import orchestra, write_sweep

SWEEP = """
    from orchestra import Config, Grid, Sweep

    def train(x):
        return x

    sweep = Sweep(train, Config({"x": Grid([1, 2])}))
"""


@pytest.mark.parametrize(
    ("value", "minutes"),
    [
        (120, 120),
        ("120", 120),
        ("2h", 120),
        ("90m", 90),
        ("30s", 1),
        ("61s", 2),
        ("1:30:00", 90),
        ("10:30", 11),
        ("2-00:00:00", 2880),
        ("1-12", 2160),
        ("1-0:30", 1470),
    ],
)
def test_time_limits_are_read_slurms_way_or_orchestras_and_rounded_up_to_minutes(value, minutes):
    assert slurm_minutes(value, "--time") == minutes


@pytest.mark.parametrize("value", ["banana", "0", "-5", "1:xx", True])
def test_a_bad_time_limit_is_one_line(value):
    with pytest.raises(UserError, match="--time"):
        slurm_minutes(value, "--time")


def test_memory_is_slurms_or_converted_to_mib():
    assert Slurm(mem="8G").mem_flag() == "8G"
    assert Slurm(mem=4096).mem_flag() == "4096"
    assert Slurm(mem="8GiB").mem_flag() == "8192M"
    assert Slurm(mem="1GB").mem_flag() == "954M"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extra": ["--array=0-3"]}, "orchestra sets --array itself"),
        ({"extra": ["--output=x.log"]}, "orchestra sets --output itself"),
        ({"extra": ["exclusive"]}, "is not an sbatch option"),
        ({"max_parallel": 0}, r"max_parallel \(--max-parallel\) must be an integer >= 1"),
        ({"partition": ""}, r"partition \(--partition\) must be a non-empty string"),
        ({"mem": "lots"}, "Slurm mem"),
        ({"signal_before": "soon"}, "signal_before"),
    ],
)
def test_slurm_options_refuse_mistakes_at_once(kwargs, message):
    with pytest.raises(UserError, match=message):
        Slurm(**kwargs)


def test_the_command_lines_options_go_over_the_sweep_files():
    mine = Slurm(partition="gpu", time="2h", extra=("--nice=5",), setup=("module load cuda",))
    merged = mine.merged(Slurm(time="30m", max_parallel=4, extra=("--exclusive",)))
    assert merged == Slurm(
        partition="gpu",
        time="30m",
        max_parallel=4,
        extra=("--nice=5", "--exclusive"),
        setup=("module load cuda",),
    )
    assert Slurm.from_json(merged.to_json()) == merged


def test_a_sweep_takes_slurm_or_local_and_nothing_else():
    def train() -> None:
        return None

    assert Sweep(train, {}, backend="slurm").backend == Slurm()
    assert Sweep(train, {}, backend="local").backend is None
    with pytest.raises(UserError, match="Sweep backend must be Slurm"):
        Sweep(train, {}, backend="kubernetes")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partition", "debug"], "are Slurm's options: add --backend slurm"),
        (["--backend", "slurm", "--workers", "4"], "--workers is for this machine"),
        (["--backend", "slurm", "--fake-gpus", "2x8GiB"], "--fake-gpus is for this machine"),
        (["--backend", "slurm", "--sbatch-arg=--array=1-3"], "orchestra sets --array itself"),
        (["--backend", "slurm", "--time", "forever"], "Slurm time (--time): 'forever' is not a time limit"),
        (
            ["--backend", "slurm", "--max-parallel", "0"],
            "Slurm max_parallel (--max-parallel) must be an integer >= 1",
        ),
    ],
)
def test_mistakes_on_the_command_line_are_one_line_and_write_nothing(tmp_path: Path, args, message):
    write_sweep(tmp_path, SWEEP)
    done = orchestra("up", "sweep.py", "--foreground", "--root", "sweeps", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "sweeps").exists()


@pytest.mark.usefixtures("slurm_cluster")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partition", "nope"], "invalid partition"),
        (["--sbatch-arg=--gres=gpu:9"], "Requested node configuration is not available"),
    ],
)
def test_what_slurm_refuses_is_one_line_before_anything_is_submitted(tmp_path: Path, args, message):
    write_sweep(tmp_path, SWEEP)
    done = orchestra(
        "up", "sweep.py", "--foreground", "--root", "sweeps", "--backend", "slurm", *args, cwd=tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Slurm refuses the sweep's jobs" in done.stderr
    assert message in done.stderr.lower() or message in done.stderr
    assert not (tmp_path / "sweeps").exists()


def test_without_slurms_commands_up_says_where_to_run_it(tmp_path: Path):
    write_sweep(tmp_path, SWEEP)
    done = orchestra(
        "up", "sweep.py", "--foreground", "--backend", "slurm", cwd=tmp_path, env={"PATH": "/nonexistent"}
    )
    assert done.returncode == 2
    assert "sbatch is not on PATH; run orchestra where Slurm's commands are" in done.stderr
