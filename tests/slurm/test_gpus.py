"""GPU runs on Slurm: ``gpus=k`` is a GPU GRES of k; Slurm gives each job GPUs of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.slurm.helpers import result, submissions, sweep_dir, up, write_sweep

pytestmark = pytest.mark.usefixtures("slurm_cluster")

# Four runs that each wait until all four have started: they run at once, on the 4 GPUs of the node.
BARRIER = """
    import os, time
    from pathlib import Path
    from orchestra import Config, Grid, Sweep

    def train(logdir, x):
        here = Path(logdir).parent.parent.parent
        (here / f"started-{x}").touch()
        deadline = time.time() + 60
        while len(list(here.glob("started-*"))) < 4 and time.time() < deadline:
            time.sleep(0.05)
        return {
            "devices": os.environ["CUDA_VISIBLE_DEVICES"],
            "device": os.environ["ORCHESTRA_DEVICE"],
            "together": len(list(here.glob("started-*"))),
        }

    sweep = Sweep(train, Config({"x": Grid([1, 2, 3, 4])}), gpus=1)
"""


@pytest.mark.xdist_group("slurm-gpus")  # the four need every GPU of the node at once
def test_gpu_runs_running_at_once_get_distinct_cuda_visible_devices(tmp_path: Path):
    write_sweep(tmp_path, BARRIER)
    done = up(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = sweep_dir(tmp_path)
    (sub,) = submissions(sweep)
    assert "#SBATCH --gres=gpu:1\n" in (sub / "job.sh").read_text()
    results = [result(sweep / "runs" / f"x={x}" / "0")["return"] for x in (1, 2, 3, 4)]
    assert all(r["together"] == 4 for r in results), "the four ran at the same time"
    assert sorted(r["devices"] for r in results) == ["0", "1", "2", "3"]
    assert {r["device"] for r in results} == {"cuda:0"}


TOO_MANY = """
    from orchestra import Config, Sweep

    def train():
        return 0

    sweep = Sweep(train, Config({}), gpus=5)
"""


def test_asking_for_more_gpus_than_a_node_has_is_refused_before_anything_is_submitted(tmp_path: Path):
    write_sweep(tmp_path, TOO_MANY)
    done = up(tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Slurm refuses the sweep's jobs" in done.stderr
    assert "Requested node configuration is not available" in done.stderr
    assert not (tmp_path / "sweeps").exists(), "nothing written"


GPU_PLACEMENT = """
    from orchestra import Config, Sweep

    def train():
        return 0

    sweep = Sweep(train, Config({}), gpus=1, {option})
"""


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ('gpu_mem="8GiB"', "each run asks for gpu_mem, but Slurm gives whole GPUs"),
        ("max_gpu_util=50", "each run asks for max_gpu_util, which has no meaning on Slurm"),
    ],
)
def test_live_gpu_placement_options_are_a_plan_time_error_on_slurm(tmp_path: Path, option: str, message: str):
    write_sweep(tmp_path, GPU_PLACEMENT.replace("{option}", option))
    done = up(tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"sweep.py: {message}" in done.stderr
    assert not (tmp_path / "sweeps").exists()
