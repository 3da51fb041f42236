"""`python -m orchestra.runtime <run-dir>` end to end: real sweep directories, real run processes."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from orchestra.rundir import EXIT_ERROR, EXIT_SETUP, EXIT_TERMINATED, read_json, write_json
from orchestra.runtime.snapshot import Snapshotter
from tests.runtime.harness import (
    REPO,
    Finished,
    prepare_sweep,
    process_gone,
    run,
    run_env,
    run_sweep,
    start,
    wait,
    wait_for,
    write_run_config,
)

TORCH = importlib.util.find_spec("torch") is not None  # a bench dependency: installed on some machines

HEADER = """\
import os, sys, time
from orchestra import Sweep, Config, Grid
from orchestra.runtime import Terminated
"""


def sweep_source(body: str, sweep: str = "sweep = Sweep(train, Config({'lr': 0.5}))") -> str:
    return HEADER + textwrap.dedent(body) + "\n" + sweep + "\n"


def test_completed_run_writes_result_metrics_snapshots_and_banner(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            def train(ctx, lr):
                start, state = ctx.resume() or (0, {"w": 0.0})
                for itr in range(start, 5):
                    state["w"] += lr
                    ctx.logger("iteration", itr)
                    ctx.logger("loss", 1.0 / (itr + 1))
                    ctx.logger.dump(index=-1)
                    ctx.snapshot(itr, state)
                return {"w": state["w"], "itrs": itr + 1}
            """,
            "sweep = Sweep(train, Config({'lr': Grid([0.5, 1.0])}), seeds=[3], snapshot_mode='gap', snapshot_gap=2)",
        ),
    )
    assert fin.code == 0, fin.log
    result = fin.result
    assert result is not None
    assert result["status"] == "completed" and result["attempt"] == 1 and result["error"] is None
    assert result["return"] == {"w": 2.5, "itrs": 5}
    assert result["duration"] >= 0 and result["ended_at"] >= result["started_at"]
    first_line = fin.log.splitlines()[0]
    assert first_line.startswith("[orchestra] run lr=0.5/3 attempt 1 pid ")
    assert first_line.endswith(" device cpu") and " host " in first_line
    assert "Iteration: 4\nLoss: 0.2\n" in fin.log
    assert [m["step"] for m in fin.metrics] == [0, 1, 2, 3, 4]
    assert fin.metrics[2]["values"] == {"iteration": 2, "loss": 1 / 3} and fin.metrics[2]["attempt"] == 1
    assert sorted(os.listdir(fin.run.snapshots)) == ["itr_0.pkl", "itr_2.pkl", "itr_4.pkl"]
    meta = fin.metadata
    assert meta["run"] == "lr=0.5/3" and meta["attempt"] == 1 and meta["start"] == {"mode": "cold"}
    assert meta["launcher"] == str(tmp_path / "sweep.py")  # not in a git repository: absolute, like garage


def test_a_run_that_cannot_join_its_cgroup_says_so_and_runs_anyway(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, sweep_source("def train(lr):\n    return lr"))
    missing = tmp_path / "no-such-cgroup"
    fin = run(write_run_config(sweep), extra_env={"ORCHESTRA_CGROUP": str(missing)})
    assert fin.code == 0, fin.log
    assert fin.result is not None and fin.result["return"] == 0.5
    lines = fin.log.splitlines()
    assert lines[0].startswith("[orchestra] run ")  # the banner first, then why it is not in its cgroup
    assert lines[1] == (
        f"[orchestra] this run is not in its cgroup {missing} (No such file or directory): its processes "
        "are found by their process group and environment only"
    )


def test_arguments_are_injected_by_name(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            def train(config, seed, device, logdir, ctx, lr, hidden, *args, optional="kept", **rest):
                return {
                    "config": config, "seed": seed, "device": device, "logdir": [type(logdir).__name__, str(logdir)],
                    "ctx": type(ctx).__name__, "lr": lr, "hidden": hidden, "optional": optional, "rest": rest,
                }
            """,
            "sweep = Sweep(train, Config({'lr': 0.1, 'hidden': 64, 'extra': 'x', 'seed': 99}), seeds=[7])",
        ),
    )
    assert fin.code == 0, fin.log
    ret = fin.result["return"]
    assert ret["config"] == {"lr": 0.1, "hidden": 64, "extra": "x", "seed": 99}
    assert ret["seed"] == 7  # the run's seed wins over a config key of the same name
    assert ret["device"] == ("device(type='cpu')" if TORCH else "cpu")  # torch.device where installed
    assert ret["logdir"] == ["PosixPath", str(fin.run.path)]
    assert ret["ctx"] == "RunContext"
    assert (ret["lr"], ret["hidden"], ret["optional"]) == (0.1, 64, "kept")
    assert ret["rest"] == {"extra": "x"}


def test_garage_ctxt_and_kwargs_get_the_whole_config(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            def train(ctxt, **kwargs):
                return {"ctxt": [ctxt.snapshot_dir, ctxt.snapshot_mode, ctxt.snapshot_gap, ctxt.attempt], "kwargs": kwargs}
            """,
            "sweep = Sweep(train, Config({'a': 1, 'b': [2, 3]}), snapshot_mode='all')",
        ),
    )
    assert fin.code == 0, fin.log
    ret = fin.result["return"]
    assert ret["ctxt"] == [str(fin.run.snapshots), "all", 1, 1]
    assert ret["kwargs"] == {"a": 1, "b": [2, 3]}


def test_missing_parameter_fails_in_setup_before_the_entry_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    fin = run_sweep(
        tmp_path,
        sweep_source(
            f"""
            def train(lr, hidden_size):
                open({str(marker)!r}, "w").close()
            """
        ),
    )
    assert fin.code == EXIT_SETUP
    assert not marker.exists()
    result = fin.result
    assert result["status"] == "failed" and result["error"]["phase"] == "setup"
    assert (
        "'hidden_size'" in result["error"]["message"] and "the config has: lr" in result["error"]["message"]
    )
    assert "hidden_size" in fin.log


def test_exception_exits_1_with_traceback_in_result_and_log(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            class Diverged(Exception):
                pass

            def train(lr):
                print("before the error")
                raise Diverged(f"loss is nan at lr={lr}")
            """
        ),
    )
    assert fin.code == EXIT_ERROR
    error = fin.result["error"]
    assert fin.result["status"] == "failed" and error["phase"] == "run"
    assert error["type"].endswith(".Diverged") and error["message"] == "loss is nan at lr=0.5"
    assert "raise Diverged" in error["traceback"]
    assert "before the error" in fin.log and "Traceback (most recent call last)" in fin.log


def test_sys_exit_keeps_the_users_code_and_says_it_was_not_setup(tmp_path: Path) -> None:
    fin = run_sweep(tmp_path, sweep_source("def train():\n    sys.exit(3)\n"))
    assert fin.code == 3
    assert fin.result["status"] == "failed" and fin.result["exit_code"] == 3
    assert fin.result["error"] is None  # an exit status, not an exception; setup failures have phase 'setup'


def test_sys_exit_with_a_message_prints_it_and_exits_1(tmp_path: Path) -> None:
    fin = run_sweep(tmp_path, sweep_source("def train():\n    sys.exit('no data found')\n"))
    assert fin.code == EXIT_ERROR and fin.result["exit_code"] == EXIT_ERROR
    assert "no data found" in fin.log


def test_sys_exit_zero_is_a_completed_run(tmp_path: Path) -> None:
    fin = run_sweep(tmp_path, sweep_source("def train():\n    sys.exit(0)\n"))
    assert fin.code == 0 and fin.result["status"] == "completed"


def test_segfault_dies_by_sigsegv_with_a_python_traceback_and_no_stale_result(tmp_path: Path) -> None:
    sweep = prepare_sweep(
        tmp_path, sweep_source("def train():\n    import ctypes\n    ctypes.string_at(0)\n")
    )
    run_dir = write_run_config(sweep)
    write_json(run_dir.result, {"status": "completed", "attempt": 1})  # an earlier attempt's
    fin = run(run_dir, attempt=2)
    assert fin.code == -signal.SIGSEGV
    assert fin.result is None
    assert "attempt 2" in fin.log and "Fatal Python error: Segmentation fault" in fin.log


def test_killed_by_a_signal_leaves_a_readable_log(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source("def train():\n    print('about to die')\n    os.kill(os.getpid(), 9)\n"),
    )
    assert fin.code == -signal.SIGKILL
    assert fin.result is None
    assert "about to die" in fin.log


def test_printing_100_megabytes_stays_on_disk_not_in_memory(tmp_path: Path) -> None:
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            """
            def train():
                line = "x" * 99
                for i in range(1_000_000):
                    print(line)
                print("the end")
            """
        ),
    )
    run_dir = write_run_config(sweep)
    # Started from a small launcher: a child's ru_maxrss starts at its parent's RSS when it forks,
    # and the pytest worker's RSS depends on the tests it ran before (numpy, pandas, matplotlib...).
    launcher = (
        "import json, os, subprocess, sys\n"
        "os.environ['ORCHESTRA_PARENT_PID'] = str(os.getpid())\n"
        "with open(sys.argv[2], 'ab') as log:\n"
        "    p = subprocess.Popen([sys.executable, '-m', 'orchestra.runtime', sys.argv[1]],\n"
        "                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)\n"
        "_, status, usage = os.wait4(p.pid, 0)\n"
        "print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", launcher, str(run_dir.path), str(run_dir.output_log)],
        env=run_env(run_dir),
        cwd=run_dir.path.parent.parent.parent.parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    code, maxrss = json.loads(out.stdout)
    assert code == 0, out.stderr
    size = run_dir.output_log.stat().st_size
    assert size > 100_000_000
    with open(run_dir.output_log, "rb") as f:
        f.seek(size - 200)
        tail = f.read().decode()
    assert tail.endswith("x" * 99 + "\nthe end\n")
    assert maxrss < 200_000  # kilobytes: the output went straight to the file
    assert read_json(run_dir.result)["status"] == "completed"


def test_sigterm_lets_the_run_save_a_last_snapshot_and_exits_143(tmp_path: Path) -> None:
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            """
            def train(ctx):
                itr = 0
                try:
                    while True:
                        ctx.logger("iteration", itr)
                        ctx.logger.dump()
                        itr += 1
                        time.sleep(0.01)
                except Terminated:
                    ctx.snapshot(itr, {"stopped_at": itr})
                    raise
            """,
            "sweep = Sweep(train, Config({}), snapshot_mode='all')",
        ),
    )
    run_dir = write_run_config(sweep)
    proc = start(run_dir)
    wait_for(
        lambda: run_dir.metrics.exists() and run_dir.metrics.read_bytes().count(b"\n") >= 5, what="metrics"
    )
    os.killpg(proc.pid, signal.SIGTERM)
    fin = wait(proc, run_dir)
    assert fin.code == EXIT_TERMINATED
    assert (
        fin.result["status"] == "terminated"
        and fin.result["error"]["type"] == "orchestra.runtime.process.Terminated"
    )
    itr, obj = Snapshotter(run_dir.snapshots, "all").load_newest()
    logged = run_dir.metrics.read_bytes().count(b"\n")
    # SIGTERM may land between a dump and `itr += 1`: the snapshot is of the iteration it stopped in
    assert obj == {"stopped_at": itr} and logged >= 5 and itr in (logged - 1, logged)
    assert "SIGTERM" in fin.log


def test_sigterm_swallowed_by_the_entry_still_counts_as_terminated(tmp_path: Path) -> None:
    flag = tmp_path / "looping"
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            f"""
            def train():
                try:
                    open({str(flag)!r}, "w").close()
                    while True:
                        time.sleep(0.01)
                except Terminated:
                    return "cleaned up"
            """
        ),
    )
    run_dir = write_run_config(sweep)
    proc = start(run_dir)
    wait_for(flag.exists, what="the loop")
    os.killpg(proc.pid, signal.SIGTERM)
    fin = wait(proc, run_dir)
    assert fin.code == EXIT_TERMINATED
    assert fin.result["status"] == "terminated" and fin.result["return"] == "cleaned up"


INTERMEDIATE_PARENT = """
import subprocess, sys, time
run_dir, log = sys.argv[1], sys.argv[2]
with open(log, "ab") as out:
    child = subprocess.Popen([sys.executable, "-m", "orchestra.runtime", run_dir], stdout=out, stderr=out,
                             env={**__import__("os").environ, "ORCHESTRA_PARENT_PID": str(__import__("os").getpid())},
                             start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def test_the_run_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    flag = tmp_path / "looping"
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            f"""
            def train():
                open({str(flag)!r}, "w").close()
                while True:
                    time.sleep(0.05)
            """
        ),
    )
    run_dir = write_run_config(sweep)
    parent = subprocess.Popen(
        [sys.executable, "-c", INTERMEDIATE_PARENT, str(run_dir.path), str(run_dir.output_log)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]])},
        cwd=tmp_path,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        wait_for(flag.exists, what="the run to start looping")
        assert not process_gone(child)
        parent.kill()
        parent.wait()
        wait_for(lambda: process_gone(child), what="the run to die with its parent")
    finally:
        parent.kill()
        parent.wait()
        if not process_gone(child):
            os.kill(child, signal.SIGKILL)


def test_a_run_whose_parent_is_already_gone_exits_before_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    sweep = prepare_sweep(tmp_path, sweep_source(f"def train():\n    open({str(marker)!r}, 'w').close()\n"))
    run_dir = write_run_config(sweep)
    fin = run(run_dir, parent=1 if os.getppid() != 1 else 2)  # a pid that is not the run's parent
    assert fin.code == -signal.SIGKILL
    assert not marker.exists() and fin.result is None
    assert "is gone before the run started" in fin.log


def test_a_directory_outside_a_sweep_is_refused_and_left_untouched(tmp_path: Path) -> None:
    stray = tmp_path / "somewhere" / "runs" / "v" / "0"
    stray.mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestra.runtime", str(stray)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == EXIT_SETUP
    assert "not the directory of a run" in proc.stderr
    assert os.listdir(stray) == []


def test_a_payload_symlinked_out_of_the_sweep_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    sweep = prepare_sweep(tmp_path, sweep_source(f"def train():\n    open({str(marker)!r}, 'w').close()\n"))
    run_dir = write_run_config(sweep)
    elsewhere = tmp_path / "elsewhere.pkl"
    sweep.dir.payload.rename(elsewhere)
    sweep.dir.payload.symlink_to(elsewhere)
    fin = run(run_dir)
    assert fin.code == EXIT_SETUP and not marker.exists()
    assert fin.result["error"]["phase"] == "setup" and "outside" in fin.result["error"]["message"]


def test_a_config_json_of_another_run_is_refused(tmp_path: Path) -> None:
    sweep = prepare_sweep(
        tmp_path, sweep_source("def train():\n    pass\n", "sweep = Sweep(train, Config({}), seeds=[0, 1])")
    )
    run_dir = write_run_config(sweep, 0)
    other = write_run_config(sweep, 1)
    run_dir.config.write_bytes(other.config.read_bytes())
    fin = run(run_dir)
    assert fin.code == EXIT_SETUP and "lies in" in fin.result["error"]["message"]


def test_no_argument_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "orchestra.runtime"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == EXIT_SETUP and "usage:" in proc.stderr


def test_a_module_missing_in_the_run_fails_setup_naming_it(tmp_path: Path) -> None:
    helpers = tmp_path / "plan_only"
    helpers.mkdir()
    (helpers / "plan_only_helpers.py").write_text("def scale(x):\n    return 2 * x\n")
    sys.path.insert(0, str(helpers))
    try:
        sweep = prepare_sweep(
            tmp_path,
            sweep_source(
                "import plan_only_helpers\n\ndef train(lr):\n    return plan_only_helpers.scale(lr)\n"
            ),
        )
    finally:
        sys.path.remove(str(helpers))
        sys.modules.pop("plan_only_helpers", None)
    fin = run(write_run_config(sweep))
    assert fin.code == EXIT_SETUP
    assert "'plan_only_helpers'" in fin.result["error"]["message"]


def test_a_retry_resumes_from_the_previous_attempts_snapshot(tmp_path: Path) -> None:
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            """
            def train(ctx):
                start, state = ctx.resume() or (0, [])
                for itr in range(start, 10):
                    state.append((ctx.attempt, itr))
                    ctx.logger("iteration", itr)
                    ctx.logger.dump()
                    ctx.snapshot(itr, state)
                    if ctx.attempt == 1 and itr == 6:
                        raise RuntimeError("crash in the middle")
                return {"start": start, "state": state}
            """,
            "sweep = Sweep(train, Config({}), snapshot_mode='gap_and_last', snapshot_gap=4, max_retries=1)",
        ),
    )
    run_dir = write_run_config(sweep)
    first = run(run_dir, attempt=1)
    assert first.code == EXIT_ERROR
    stale = run_dir.snapshots / ".params.pkl.99999.tmp"  # left by an attempt killed mid-write
    stale.write_bytes(b"half a pickle")
    second = run(run_dir, attempt=2)
    assert not stale.exists()
    assert second.code == 0, second.log
    ret = second.result["return"]
    assert ret["start"] == 7  # params.pkl holds iteration 6; the loop goes on with 7
    assert ret["state"] == [[1, i] for i in range(7)] + [[2, i] for i in range(7, 10)]
    assert second.result["attempt"] == 2
    records = second.metrics
    assert [(r["attempt"], r["step"]) for r in records] == [(1, i) for i in range(7)] + [
        (2, i) for i in range(7, 10)
    ]
    assert second.log.count("[orchestra] run ") == 2


def test_a_garage_template_can_be_a_sweep_entry(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            from orchestra.compat.garage import Snapshotter, wrap_experiment

            @wrap_experiment(snapshot_mode="all")
            def garage_exp(ctxt, lr, n=3):
                snapshotter = Snapshotter(ctxt.snapshot_dir, ctxt.snapshot_mode, ctxt.snapshot_gap)
                for epoch in range(n):
                    snapshotter.save_itr_params(epoch, {"epoch": epoch, "lr": lr})
                return type(ctxt).__name__
            """,
            "sweep = Sweep(garage_exp, Config({'lr': 0.3}), snapshot_mode='gap', snapshot_gap=2)",
        ),
    )
    assert fin.code == 0, fin.log
    assert fin.result["return"] == "RunContext"
    assert sorted(os.listdir(fin.run.snapshots)) == ["itr_0.pkl", "itr_2.pkl"]  # the sweep's snapshot mode
    assert not (tmp_path / "data").exists()  # no garage log directory of its own


def test_return_values_json_cannot_hold_become_readable_strings(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            """
            import numpy as np

            class Model:
                def __repr__(self):
                    return "Model(3 layers)"

            def train():
                return {"model": Model(), "nan": float("nan"), "inf": float("-inf"), "big": 2**80,
                        "np": np.float32(0.5), "arr": np.arange(3), 1: {"a", "b"} - {"b"}, "bytes": b"\\x00"}
            """
        ),
    )
    assert fin.code == 0, fin.log
    assert fin.result["return"] == {
        "model": "Model(3 layers)",
        "nan": "nan",
        "inf": "-inf",
        "big": str(2**80),
        "np": 0.5,
        "arr": [0, 1, 2],
        "1": ["a"],
        "bytes": "b'\\x00'",
    }


def test_metadata_records_git_host_packages_gpus_and_redacts_secrets(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    (repo / "exps").mkdir(parents=True)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README").write_text("hi\n")
    subprocess.run([*git, "add", "README"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    sweep = prepare_sweep(repo / "exps", sweep_source("def train():\n    pass\n"))
    gpus = '[{"index": 1, "uuid": "GPU-abc", "name": "NVIDIA A100"}]'
    fin = run(
        write_run_config(sweep),
        extra_env={
            "MY_API_KEY": "sk-123",
            "HF_TOKEN": "hf_456",
            "DATABASE_URL": "postgres://me:hunter2@db:5432/x",
            "PLAIN_SETTING": "visible",
            "ORCHESTRA_GPUS": gpus,
            "CUDA_VISIBLE_DEVICES": "GPU-abc",
        },
    )
    assert fin.code == 0, fin.log
    meta = fin.metadata
    assert meta["githash"] == head + "-dirty"  # the sweep file and the sweeps directory are untracked
    assert meta["launcher"] == "exps/sweep.py"
    assert meta["gpus"] == [{"index": 1, "uuid": "GPU-abc", "name": "NVIDIA A100"}]
    assert meta["cuda_visible_devices"] == "GPU-abc"
    assert meta["env"]["MY_API_KEY"] == "<redacted>" and meta["env"]["HF_TOKEN"] == "<redacted>"
    assert meta["env"]["DATABASE_URL"] == "postgres://me:<redacted>@db:5432/x"
    assert meta["env"]["PLAIN_SETTING"] == "visible"
    assert "hunter2" not in fin.run.metadata.read_text() and "sk-123" not in fin.run.metadata.read_text()
    assert meta["packages"]["numpy"] == __import__("numpy").__version__
    assert ("torch" in meta["packages"]) == TORCH
    assert meta["orchestra_version"] and meta["hostname"] and meta["python"]["executable"]
    assert meta["config_hash"] and meta["cwd"] == str(repo / "exps") and meta["argv"][-1] == str(fin.run.path)


FAKE_TORCH = """
SEEDS = []
def manual_seed(seed):
    SEEDS.append(seed)
class device:
    def __init__(self, spec):
        self.spec = spec
    def __repr__(self):
        return f"device(type={self.spec!r})"
"""


def fake_torch(tmp_path: Path) -> dict[str, str]:
    """A stand-in ``torch`` package (torch is not installed here): records seeds, makes devices."""
    fake = tmp_path / "fake_site"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text(FAKE_TORCH)
    return {"PYTHONPATH": os.pathsep.join([os.environ["PYTHONPATH"], str(fake)])}


def test_random_numpy_and_torch_are_seeded_even_when_imported_inside_the_entry(tmp_path: Path) -> None:
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            """
            import random

            def train(seed):
                import importlib.util
                assert "torch" not in sys.modules and "numpy" not in sys.modules
                assert importlib.util.find_spec("torch") is not None  # looks, does not import
                import numpy as np
                import torch
                return {"random": random.random(), "numpy": float(np.random.rand()), "torch_seeds": torch.SEEDS}
            """,
            "sweep = Sweep(train, Config({}), seeds=[12345])",
        ),
    )
    fin = run(write_run_config(sweep), extra_env=fake_torch(tmp_path))
    assert fin.code == 0, fin.log
    import random

    import numpy as np

    ret = fin.result["return"]
    assert ret["random"] == random.Random(12345).random()
    assert ret["numpy"] == np.random.RandomState(12345).rand()
    assert ret["torch_seeds"] == [12345]


def test_device_is_a_torch_device_when_torch_is_installed_and_asked_for(tmp_path: Path) -> None:
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(
            "def train(ctx, device):\n    return [repr(device), ctx.device]\n",
            "sweep = Sweep(train, Config({}))",
        ),
    )
    fin = run(write_run_config(sweep), extra_env={**fake_torch(tmp_path), "ORCHESTRA_DEVICE": "cuda:0"})
    assert fin.code == 0, fin.log
    assert fin.result["return"] == ["device(type='cuda:0')", "cuda:0"]
    assert "device cuda:0" in fin.log.splitlines()[0]


def test_numpy_imported_by_the_sweep_module_is_seeded_too(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            "import numpy as np\n\ndef train():\n    return float(np.random.rand())\n",
            "sweep = Sweep(train, Config({}), seeds=[4])",
        ),
    )
    import numpy as np

    assert fin.result["return"] == np.random.RandomState(4).rand()


BANNED = ("textual", "anyio", "pandas", "matplotlib", "rich", "psutil")


def test_the_runtime_imports_nothing_heavy(tmp_path: Path) -> None:
    probe = (
        "import sys, orchestra.runtime.entrypoint, orchestra.runtime.metadata, orchestra.runtime.payload;"
        "print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = {m.split(".")[0] for m in out.stdout.split()}
    assert loaded.isdisjoint(BANNED), loaded & set(BANNED)
    assert "numpy" not in loaded and "torch" not in loaded

    fin = run_sweep(tmp_path, sweep_source("def train():\n    return sorted(sys.modules)\n"))
    in_run = {m.split(".")[0] for m in fin.result["return"]}
    assert in_run.isdisjoint(BANNED) and "numpy" not in in_run


# What a no-op run may load beyond the bare cloudpickle floor (issue 16): the runtime's own modules,
# nothing else. Adding an import to the run's path means adding it here, on purpose.
RUN_PATH = {
    "faulthandler",
    "gc",  # built in: gc.freeze() before the payload is loaded
    "runpy",  # python -m, with what it imports where site has not already (an installed orchestra)
    "importlib.util",
    "importlib._abc",
    "__future__",  # from __future__ import annotations, in every orchestra module
    "errno",
    "orchestra",
    "orchestra.atomic",
    "orchestra.errors",
    "orchestra.redact",
    "orchestra.rundir",
    "orchestra.rundir.files",
    "orchestra.rundir.names",
    "orchestra.rundir.steps",
    "orchestra.runtime",
    "orchestra.runtime.arguments",
    "orchestra.runtime.entrypoint",
    "orchestra.runtime.joincgroup",
    "orchestra.runtime.jsonsafe",
    "orchestra.runtime.logger",
    "orchestra.runtime.metadata",
    "orchestra.runtime.payload",
    "orchestra.runtime.process",
    "orchestra.runtime.seeding",
}


def test_a_no_op_run_loads_nothing_beyond_the_cloudpickle_floor_but_the_runtime(tmp_path: Path) -> None:
    floor = subprocess.run(
        [sys.executable, "-I", "-c", "import sys, cloudpickle, json; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    fin = run_sweep(
        tmp_path,
        "import sys\nfrom orchestra import Sweep, Config\n"
        + textwrap.dedent(
            """
        def train():
            return sorted(sys.modules)

        sweep = Sweep(train, Config({}))
        """
        ),
    )
    assert fin.code == 0, fin.log
    assert (
        set(fin.result["return"]) - set(floor) <= RUN_PATH
    )  # no orchestra.space, orjson, ctypes, subprocess, ...


def test_files_beside_the_sweep_named_like_the_runtimes_imports_do_not_break_it(tmp_path: Path) -> None:
    # The runtime imports its own modules (the standard library's, cloudpickle's) with the run's own
    # directories moved behind the interpreter's (orchestra/runtime/__main__.py), so these cannot
    # shadow them; the entry function sees sys.path as docs/run-directory.md says, its files first.
    for name in ("json", "inspect", "logging", "pickle", "dis"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}.py')\n")
    (tmp_path / "helpers_beside.py").write_text("VALUE = 7\n")
    fin = run_sweep(
        tmp_path,
        "import sys\nfrom orchestra import Sweep, Config\n"
        + textwrap.dedent(
            """
        def train():
            import helpers_beside
            return {"path": sys.path, "value": helpers_beside.VALUE}

        sweep = Sweep(train, Config({}))
        """
        ),
    )
    assert fin.code == 0, fin.log
    assert fin.result is not None and fin.result["return"]["value"] == 7
    path = fin.result["return"]["path"]
    expected = [str(tmp_path), str(REPO), str(tmp_path)]  # the start directory, then PYTHONPATH
    assert path[:3] == expected, path
    # put back, not copied: nothing of the run's is left at the end
    assert path.count(str(tmp_path)) == 2, path


def test_the_run_paths_go_behind_the_interpreters_and_come_back_in_their_order(
    tmp_path: Path, monkeypatch
) -> None:
    import orchestra.runtime.__main__ as runtime_main

    monkeypatch.chdir(tmp_path)
    rel = str(tmp_path / "rel")  # site makes a relative PYTHONPATH entry absolute
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/pp/a", "rel", "/pp/b"]))
    monkeypatch.setattr(sys, "path", ["/start", "/pp/a", rel, "/pp/b", "/lib/python3.x", "/site", "/pp/b"])
    moved = runtime_main._move_run_paths_last()
    assert moved == ["/start", "/pp/a", rel, "/pp/b"]
    assert sys.path == ["/lib/python3.x", "/site", "/pp/b", "/start", "/pp/a", rel, "/pp/b"]
    sys.path.append("/appended/meanwhile")
    runtime_main._put_back(moved)
    assert sys.path == [
        "/start",
        "/pp/a",
        rel,
        "/pp/b",
        "/lib/python3.x",
        "/site",
        "/pp/b",
        "/appended/meanwhile",
    ]


def test_a_run_path_holding_a_cloudpickle_stays_in_front_with_those_after_it(
    tmp_path: Path, monkeypatch
) -> None:
    import orchestra.runtime.__main__ as runtime_main

    plain, pinned, after = (tmp_path / n for n in ("plain", "pinned", "after"))
    for d in (plain, pinned, after):
        d.mkdir()
    (pinned / "cloudpickle").mkdir()  # a cloudpickle the user put on PYTHONPATH on purpose
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(map(str, (plain, pinned, after))))
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(plain), str(pinned), str(after), "/lib/python3.x"])
    moved = runtime_main._move_run_paths_last()
    assert moved == [str(tmp_path), str(plain)]
    assert sys.path == [str(pinned), str(after), "/lib/python3.x", str(tmp_path), str(plain)]
    runtime_main._put_back(moved)
    assert sys.path == [str(tmp_path), str(plain), str(pinned), str(after), "/lib/python3.x"]
    # orchestra's root in an installed orchestra is site-packages, which holds the interpreter's own
    # cloudpickle: moving it behind finds the same one, so it moves
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(pinned), str(after), "/lib/python3.x", str(pinned)])
    moved = runtime_main._move_run_paths_last()
    assert moved == [str(tmp_path), str(pinned), str(after)]
    runtime_main._put_back(moved)
    assert sys.path == [str(tmp_path), str(pinned), str(after), "/lib/python3.x", str(pinned)]


def test_finished_result_lets_the_scheduler_tell_attempts_apart(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, sweep_source("def train(ctx):\n    return ctx.attempt\n"))
    fin: Finished = run(write_run_config(sweep), attempt=4)
    assert fin.result["attempt"] == 4 and fin.result["return"] == 4 and fin.metadata["attempt"] == 4


def test_snapshot_mode_none_writes_nothing_and_resume_finds_nothing(tmp_path: Path) -> None:
    fin = run_sweep(
        tmp_path,
        sweep_source(
            "def train(ctx):\n    ctx.snapshot(0, 'x')\n    return ctx.resume()\n",
            "sweep = Sweep(train, Config({}), snapshot_mode='none')",
        ),
    )
    assert fin.code == 0 and fin.result["return"] is None
    assert not fin.run.snapshots.exists() or os.listdir(fin.run.snapshots) == []


def test_the_quickstart_resumes_after_a_sigterm_from_its_newest_snapshot(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, (REPO / "examples" / "quickstart.py").read_text(), name="quickstart")
    run_dir = write_run_config(sweep)
    proc = start(run_dir)
    wait_for(
        lambda: run_dir.metrics.exists() and run_dir.metrics.read_bytes().count(b"\n") >= 25,
        what="25 iterations",
    )
    os.killpg(proc.pid, signal.SIGTERM)
    assert wait(proc, run_dir).code == EXIT_TERMINATED
    stopped_at = max(r["values"]["iteration"] for r in Finished(0, run_dir).metrics)
    newest_gap = stopped_at // 10 * 10
    fin = run(run_dir, attempt=2)
    assert fin.code == 0, fin.log
    second = [r["values"]["iteration"] for r in fin.metrics if r["attempt"] == 2]
    assert second == list(range(newest_gap + 1, 60))
    assert set(fin.result["return"]) == {"loss", "w", "b"}


def test_the_banner_starts_its_own_line_after_an_attempt_that_died_mid_line(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, sweep_source("def train():\n    print('second attempt')\n"))
    run_dir = write_run_config(sweep)
    run_dir.output_log.write_bytes(b"first attempt died mid-li")
    lines = run(run_dir, attempt=2).log.splitlines()
    assert lines[0] == "first attempt died mid-li"
    assert lines[1].startswith("[orchestra] run default/0 attempt 2 ")
    assert lines[2] == "second attempt"


def test_without_launch_records_the_launcher_comes_from_sweep_json(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, sweep_source("def train():\n    pass\n"), launch=False)
    assert not sweep.dir.launch.exists()
    fin = run(write_run_config(sweep))
    assert fin.metadata["launcher"] == str(tmp_path / "sweep.py")
