"""PyExpUtils' Slurm helpers (PyExpUtils' documented semantics): ``fromFile``, ``buildParallel`` and ``schedule``,
the last one submitting to the real cluster."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchestra.compat import pyexputils
from orchestra.compat.pyexputils import Options, buildParallel, fromFile, hours, schedule
from tests.helpers import wait_for


def test_from_file_reads_options_from_json(tmp_path: Path):
    path = tmp_path / "slurm.json"
    path.write_text(json.dumps({"account": "def-me", "time": "2:59:59", "cores": "4", "memPerCpu": "2G"}))
    opts = fromFile(str(path))
    assert isinstance(opts, Options) and opts.cores == 4
    assert opts.cmdArgs() == (
        "--account=def-me --time=2:59:59 --ntasks=4 --mem-per-cpu=2G --output=$SCRATCH/job_output_%j.txt"
    )
    (tmp_path / "bad.json").write_text(json.dumps({"time": "1:00:00"}))
    with pytest.raises(KeyError):
        fromFile(str(tmp_path / "bad.json"))


def test_build_parallel_runs_each_task_through_srun_with_half_a_second_between_starts():
    assert (
        buildParallel("python run.py", [0, 1, 2], {"ntasks": 3})
        == "parallel -j 3 --delay 0.5 srun -N1 -n1 --exclusive python run.py ::: 0 1 2"
    )
    line = buildParallel(
        "python run.py",
        range(2),
        {"ntasks": 4, "nodes-per-process": 2, "threads-per-process": 8},
        {"delay": None, "batch": 5},
    )
    assert line == "parallel -j 4 -n 5 srun -N2 -n8 --exclusive python run.py ::: 0 1"
    assert buildParallel("x", [], {"ntasks": 1}) is None
    with pytest.raises(KeyError):
        buildParallel("x", [1], {})
    assert pyexputils.buildParallel is buildParallel and pyexputils.schedule is schedule


@pytest.mark.usefixtures("slurm_cluster")
def test_schedule_submits_the_script_with_the_options_and_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCRATCH", str(tmp_path))
    script = "#!/bin/bash\necho ran on $SLURM_JOB_NODELIST > done.txt\necho hello from the job\n"
    schedule(script, Options({"account": "def-me", "time": hours(1), "cores": 1}))
    assert not (tmp_path / "auto_slurm.sh").exists(), "cleaned up once submitted"
    out = capfd.readouterr().out
    match = re.search(r"Submitted batch job (\d+)", out)
    assert match, out
    job = match.group(1)
    wait_for(lambda: (tmp_path / "done.txt").exists(), timeout=60, what="the job's own file")
    output = tmp_path / f"job_output_{job}.txt"
    wait_for(
        lambda: output.exists() and "hello from the job" in output.read_text(), timeout=30, what="its output"
    )

    schedule("#!/bin/bash\ntrue\n", script_name="kept.sh", cleanup=False)
    assert (tmp_path / "kept.sh").read_text() == "#!/bin/bash\ntrue\n"
