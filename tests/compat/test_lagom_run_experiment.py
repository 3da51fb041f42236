"""lagom's run_experiment on orchestra's scheduler: layout, job order, failures, resume, GPUs.

Each test runs a real script (``run`` defined in its ``__main__``, as lagom users write them) in
a subprocess; the jobs are real processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestra.compat.lagom import Config, Grid, run_experiment
from orchestra.compat.lagom.utils import pickle_load, yaml_load
from orchestra.rundir import SweepDir, scan
from tests.helpers import orchestra, pid_alive, wait_for

HEADER = """
import json, os, sys, time
from pathlib import Path
from orchestra.compat.lagom import Config, Grid, Sample, Logger, run_experiment
"""


def script(tmp_path: Path, body: str, name: str = "exp.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def python(path: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, cwd=path.parent, timeout=timeout
    )


LAGOM_TEST = """
def run(config, seed, device, logdir):
    logger = Logger()
    for i in range(3):
        logger("iteration", i)
        logger("loss", config["network.lr"] * (3 - i) + seed)
        logger.dump()
    return config["ID"], seed, str(device), str(logdir), type(logdir).__name__, os.getpid()

config = Config({"network.lr": Grid([1e-3, 5e-3]), "network.size": [32, 16],
                 "env.id": Grid(["CartPole-v1", "Ant-v2"])})
results = run_experiment(run, config, [1, 2, 3], "some_path", max_workers=int(sys.argv[1]), chunksize=7)
print("RESULTS", json.dumps(results))
"""


def results_of(out: subprocess.CompletedProcess[str]) -> list:
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line[len("RESULTS ") :])


def test_lagoms_run_experiment_test(tmp_path: Path):
    out = python(script(tmp_path, LAGOM_TEST), "3")
    assert out.returncode == 0, out.stderr
    results = results_of(out)
    jobs = [(ID, seed) for ID in range(4) for seed in (1, 2, 3)]  # config-major, seed-minor
    assert [(r[0], r[1]) for r in results] == jobs
    assert {r[2] for r in results} == {"cpu"} and {r[4] for r in results} == {"PosixPath"}
    assert [r[3] for r in results] == [f"some_path/{ID}/{seed}" for ID, seed in jobs]
    assert len({r[5] for r in results}) == 12 and os.getpid() not in {
        r[5] for r in results
    }  # one process each

    p = tmp_path / "some_path"
    configs = pickle_load(p / "configs.pkl")
    assert [c["ID"] for c in configs] == [0, 1, 2, 3] and configs[1] == {
        "ID": 1,
        "network.size": [32, 16],
        "network.lr": 1e-3,
        "env.id": "Ant-v2",
    }
    assert (p / "source_files" / "exp.py").read_text() == (tmp_path / "exp.py").read_text()
    for c in configs:
        assert yaml_load(p / str(c["ID"]) / "config.yml") == c
        for seed in (1, 2, 3):
            job_dir = p / str(c["ID"]) / str(seed)
            assert job_dir.is_dir() and (job_dir / "metrics.jsonl").is_file()
            record = json.loads((job_dir / "config.json").read_text())
            assert record["seed"] == seed and record["config"]["ID"] == c["ID"]
    banner = (p / "1" / "2" / "output.log").read_text()
    assert "@ Experiment: ID: 1 (4), Seed: 2, Device: cpu, Job: 4 (12), PID:" in banner
    assert "# network.lr: 0.001" in banner
    assert "Experiment finished. Loggings are stored in" in out.stdout
    assert "12 runs in" in out.stdout and "12 completed" in out.stdout


def test_orchestras_tools_read_a_run_experiment_directory(tmp_path: Path):
    assert python(script(tmp_path, LAGOM_TEST), "4").returncode == 0
    p = tmp_path / "some_path"
    status = orchestra("status", p)
    assert status.returncode == 0 and "12 completed" in status.stdout
    results = orchestra("results", p, "--metric", "loss")
    assert results.returncode == 0, results.stderr
    assert "network.lr" in results.stdout and "3/3" in results.stdout
    pytest.importorskip("matplotlib")
    plot = orchestra("plot", p, "--metric", "loss", "--group-by", "network.lr", "-o", tmp_path / "c.png")
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "c.png").stat().st_size > 0


FAILING = """
def run(config, seed, device, logdir):
    with open(Path(logdir) / "starts", "a") as f:
        f.write(f"{os.getpid()}\\n")
    if config["ID"] == 1 and seed == 2 and not os.path.exists("fixed"):
        raise ValueError("bad luck")
    return [config["ID"], seed]

try:
    results = run_experiment(run, Config({"x": Grid([0, 1])}), [1, 2], "logs", max_workers=2)
except RuntimeError as exc:
    print("FAILED", type(exc).__name__, exc.failed[0][:3], exc.results)
    print("MESSAGE", exc)
    sys.exit(1)
print("RESULTS", json.dumps(results))
"""


def starts(log_dir: Path, ID: int, seed: int) -> int:
    path = log_dir / str(ID) / str(seed) / "starts"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_failed_job_lets_the_others_finish_and_a_second_call_runs_it_again(tmp_path: Path):
    exp = script(tmp_path, FAILING)
    out = python(exp)
    assert out.returncode == 1
    assert "FAILED JobsFailedError (3, 1, 2) [[0, 1], [0, 2], [1, 1], None]" in out.stdout
    assert (
        "run_experiment: 1 of 4 jobs failed: job 3 (ID 1, seed 2): exception exit 1: ValueError: bad luck"
        in out.stdout
    )
    assert f"see {tmp_path / 'logs' / '1' / '2' / 'output.log'};" in out.stdout
    assert "ValueError: bad luck" in (tmp_path / "logs" / "1" / "2" / "output.log").read_text()

    (tmp_path / "fixed").touch()
    out = python(exp)
    assert out.returncode == 0, out.stderr
    assert results_of(out) == [[0, 1], [0, 2], [1, 1], [1, 2]]
    assert "exists: resuming it (3 of 4 jobs finished and kept, 1 to run)" in out.stdout
    log = tmp_path / "logs"
    assert [starts(log, i, s) for i in (0, 1) for s in (1, 2)] == [1, 1, 1, 2]

    out = python(exp)  # all done: nothing runs, the results are read back
    assert results_of(out) == [[0, 1], [0, 2], [1, 1], [1, 2]]
    assert [starts(log, i, s) for i in (0, 1) for s in (1, 2)] == [1, 1, 1, 2]


SLOW = """
def run(config, seed, device, logdir):
    with open(Path(logdir) / "starts", "a") as f:
        f.write(f"{os.getpid()}\\n")
    while not os.path.exists("go"):
        time.sleep(0.02)
    return config["ID"] * 10 + seed

try:
    results = run_experiment(run, Config({"x": Grid([0, 1, 2])}), [0], "logs", max_workers=2)
except KeyboardInterrupt:
    print("INTERRUPTED")
    sys.exit(130)
print("RESULTS", json.dumps(results))
"""


def test_ctrl_c_stops_the_jobs_and_the_next_call_resumes(tmp_path: Path):
    exp = script(tmp_path, SLOW)
    proc = subprocess.Popen(
        [sys.executable, str(exp)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = tmp_path / "logs"
    try:
        wait_for(lambda: starts(log, 0, 0) and starts(log, 1, 0), timeout=60, what="two jobs running")
        pids = [int((log / str(i) / "0" / "starts").read_text()) for i in (0, 1)]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "INTERRUPTED" in out
    assert f"call it again with log_dir={'logs'!r} to resume" in out
    assert not any(pid_alive(pid) for pid in pids)
    assert starts(log, 2, 0) == 0  # never started

    (tmp_path / "go").touch()
    done = python(exp)
    assert done.returncode == 0, done.stderr
    assert results_of(done) == [0, 10, 20]
    assert [starts(log, i, 0) for i in range(3)] == [2, 2, 1]


def test_sample_draws_are_kept_when_a_log_dir_is_resumed(tmp_path: Path):
    exp = script(
        tmp_path,
        """
        import random
        def run(config, seed, device, logdir):
            return config["lr"]
        config = Config({"lr": Sample(lambda: random.random()), "layers": 2}, num_sample=3)
        print("RESULTS", json.dumps(run_experiment(run, config, [0], "logs", max_workers=3)))
        """,
    )
    first = results_of(python(exp))
    assert len(set(first)) == 3
    assert results_of(python(exp)) == first
    assert [c["lr"] for c in pickle_load(tmp_path / "logs" / "configs.pkl")] == first


def test_a_log_dir_of_another_experiment_is_refused(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not a run_experiment directory"):
        run_experiment(print, Config({"a": 1}), [0], "old", None)
    exp = script(
        tmp_path, "run_experiment(lambda c, s, d, l: 1, Config({'a': Grid([1, 2])}), [0], 'logs', 1)"
    )
    assert python(exp).returncode == 0
    with pytest.raises(ValueError, match="holds an experiment with other configs"):
        run_experiment(print, Config({"a": Grid([1, 3])}), [0], "logs", None)


def test_arguments_lagom_would_refuse_are_refused_with_the_builtin_types(tmp_path: Path):
    config = Config({"a": Grid([1, 2])})
    log_dir = tmp_path / "logs"
    with pytest.raises(ValueError, match="max_workers must be a positive integer"):
        run_experiment(print, config, [0], log_dir, 0)
    with pytest.raises(ValueError, match="chunksize must be >= 1"):
        run_experiment(print, config, [0], log_dir, 1, chunksize=0)
    with pytest.raises(ValueError, match="list a seed twice"):
        run_experiment(print, config, [1, 1], log_dir, 1)
    with pytest.raises(TypeError, match="config must be a Config"):
        run_experiment(print, {"a": 1}, [0], log_dir, 1)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="gpu_ids must be a list of GPU indices"):
        run_experiment(print, config, [0], log_dir, 1, use_gpu=True, gpu_ids=[-1])
    with pytest.raises(ValueError, match="an empty Grid"):
        run_experiment(print, Config({"a": Grid([])}), [0], log_dir, 1)
    assert not log_dir.exists()


GPU = """
import orchestra.compat.lagom.experiment as experiment
from orchestra.scheduler.probe import FakeProbe, NullProbe

experiment._gpu_probe = lambda: NullProbe("no NVML here") if sys.argv[1] == "none" else FakeProbe("3x24GiB")

def run(config, seed, device, logdir):
    return [str(device), os.environ["CUDA_VISIBLE_DEVICES"]]

ids = None if sys.argv[1] in ("all", "none") else [int(i) for i in sys.argv[1].split(",")]
try:
    out = run_experiment(run, Config({"x": Grid([0, 1, 2, 3])}), [0], "logs", max_workers=4, use_gpu=True,
                         gpu_ids=ids, gpu_mem=sys.argv[2] if len(sys.argv) > 2 else None)
except Exception as exc:
    print("ERROR", type(exc).__name__, exc)
    sys.exit(2)
print("RESULTS", json.dumps(out))
"""


def test_use_gpu_places_each_job_on_a_gpu_of_gpu_ids(tmp_path: Path):
    exp = script(tmp_path, GPU)
    out = python(exp, "1,2")
    assert out.returncode == 0, out.stdout + out.stderr
    results = results_of(out)
    assert {device for device, _ in results} == {"cuda:0"}
    used = {r.status.gpus[0]["index"] for r in scan(SweepDir(tmp_path / "logs"))}
    assert used <= {1, 2} and len(used) >= 1
    assert all(visible.startswith("GPU-") for _, visible in results)


def test_gpu_mem_packs_jobs_onto_shared_gpus(tmp_path: Path):
    out = python(script(tmp_path, GPU), "0", "4GiB")
    assert out.returncode == 0, out.stdout + out.stderr
    assert {r.status.gpus[0]["index"] for r in scan(SweepDir(tmp_path / "logs"))} == {0}


def test_use_gpu_without_a_gpu_or_with_an_unknown_id_says_so(tmp_path: Path):
    exp = script(tmp_path, GPU)
    out = python(exp, "none")
    assert out.returncode == 2 and "ERROR RunExperimentError" in out.stdout
    assert "this machine has no GPUs (no NVML here)" in out.stdout
    out = python(exp, "5")
    assert out.returncode == 2 and "GPU 5 was selected, but this machine has only" in out.stdout
    assert not (tmp_path / "logs").exists()


def test_a_return_value_that_cannot_be_pickled_fails_that_job_clearly(tmp_path: Path):
    exp = script(
        tmp_path,
        """
        import threading
        def run(config, seed, device, logdir):
            return threading.Lock()
        try:
            run_experiment(run, Config({"a": 1}), [0], "logs", None)
        except RuntimeError as exc:
            print("FAILED", exc)
        """,
    )
    out = python(exp)
    assert "FAILED run_experiment: 1 of 1 jobs failed" in out.stdout
    assert (
        "run returned a lock that cannot be pickled"
        in (tmp_path / "logs" / "0" / "0" / "output.log").read_text()
    )
