"""load_sweep: the plan, statuses, lost runs, laziness and caching, bad directories."""

from __future__ import annotations

import warnings

import pytest

from orchestra.errors import RunDirError, UserError
from orchestra.results import ResultsWarning, load_sweep
from orchestra.rundir import JsonlWriter, read_json, write_json
from tests.results.sweepdirs import live_orchestrator, record, write_run, write_status, write_sweep

CONFIGS = [{"lr": lr, "bs": bs} for lr in (0.01, 0.1) for bs in (8, 32)]


def test_runs_are_variants_times_seeds_numbered_variant_major(tmp_path):
    sd, variants = write_sweep(tmp_path, CONFIGS, seeds=(3, 5, 7))
    sweep = load_sweep(sd.path)
    assert len(sweep) == 12 and sweep.seeds == (3, 5, 7) and sweep.name == "demo"
    for i, run in enumerate(sweep):
        v = variants[i // 3]
        assert run.index == i
        assert run.variant == v.name and run.variant_index == i // 3
        assert run.seed == (3, 5, 7)[i % 3]
        assert run.params == v.params
        assert run.path == sd.path / "runs" / v.name / str(run.seed)
        assert run.id == f"{v.name}/{run.seed}"
    assert sweep.varying_keys() == ["lr", "bs"]


def test_states_come_from_status_files_and_a_run_without_one_is_queued(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS, seeds=(0,))
    write_run(sd, vs[0], 0, state="completed")
    write_run(sd, vs[1], 0, state="failed")
    write_run(sd, vs[2], 0, state="cancelled")
    sweep = load_sweep(sd.path)
    assert [r.state for r in sweep] == ["completed", "failed", "cancelled", "queued"]
    assert [r.finished for r in sweep] == [True, True, True, False]
    assert sweep[3].status is None and sweep.states() == {
        "completed": 1,
        "failed": 1,
        "cancelled": 1,
        "queued": 1,
    }


def test_running_runs_of_a_dead_orchestrator_are_lost(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:2], seeds=(0,))
    write_run(sd, vs[0], 0, state="running", curves={"loss": [1.0, 0.5]})
    write_run(sd, vs[1], 0, state="completed", curves={"loss": [1.0, 0.4]})
    sweep = load_sweep(sd.path)
    assert not sweep.orchestrator_alive
    assert [r.state for r in sweep] == ["lost", "completed"]
    assert sweep[0].lost and not sweep[0].finished


def test_running_runs_of_a_live_orchestrator_are_running(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:2], seeds=(0,))
    write_run(sd, vs[0], 0, state="running", curves={"loss": [1.0, 0.5]})
    with live_orchestrator(sd):
        sweep = load_sweep(sd.path)
        assert sweep.orchestrator_alive
        assert [r.state for r in sweep] == ["running", "queued"]
    assert load_sweep(sd.path)[0].state == "lost"  # the holder exited: its lock went with it


def test_metrics_are_read_when_asked_not_when_loading(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:1], seeds=(0,))
    run_dir = write_run(sd, vs[0], 0, state="running", curves={"loss": [1.0, 0.5]})
    sweep = load_sweep(sd.path)
    with JsonlWriter(run_dir.metrics) as w:  # logged after load_sweep: still seen
        w.write(record(2, loss=0.25))
    assert sweep[0].curve("loss")[1].tolist() == [1.0, 0.5, 0.25]


def test_each_metrics_file_is_read_once(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:1], seeds=(0,))
    run_dir = write_run(sd, vs[0], 0, curves={"loss": [1.0, 0.5]})
    sweep = load_sweep(sd.path)
    first = sweep[0].metrics()
    run_dir.metrics.unlink()
    assert sweep[0].metrics() is first
    assert sweep.where(lr=0.01)[0].final("loss") == 0.5  # views share the run objects and their cache


def test_config_metadata_and_result_are_read_lazily(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:1], seeds=(0,))
    run_dir = write_run(sd, vs[0], 0)
    sweep = load_sweep(sd.path)
    write_json(run_dir.result, {"status": "completed", "return": {"loss": 0.1}, "error": None})
    write_json(run_dir.metadata, {"git": {"commit": "abc"}})
    run = sweep[0]
    assert run.config == read_json(run_dir.config) and run.config["config"] == {"lr": 0.01, "bs": 8}
    assert run.result["return"] == {"loss": 0.1}
    assert run.metadata["git"]["commit"] == "abc"
    assert sweep.where(lr=0.01)[0].result is run.result


def test_a_run_never_started_has_no_files_and_no_warning(tmp_path):
    sd, _ = write_sweep(tmp_path, CONFIGS[:1], seeds=(0,))
    run = load_sweep(sd.path)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(run.metrics()) == 0
    assert run.config is None and run.result is None and run.metadata is None


def test_a_finished_run_without_metrics_is_reported(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:1], seeds=(0,))
    write_run(sd, vs[0], 0, state="completed")
    with pytest.warns(ResultsWarning, match=rf"run {vs[0].name}/0 is completed but has no metrics.jsonl"):
        load_sweep(sd.path)[0].metrics()


def test_a_truncated_last_line_warns_naming_the_file(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:1], seeds=(0,))
    run_dir = write_run(sd, vs[0], 0, curves={"loss": [1.0, 0.5]})
    with open(run_dir.metrics, "ab") as f:
        f.write(b'{"step": 2, "time": 1.0, "val')
    with pytest.warns(ResultsWarning, match="metrics.jsonl: skipped a truncated last line"):
        assert load_sweep(sd.path)[0].curve("loss")[1].tolist() == [1.0, 0.5]


def test_retired_variants_are_not_runs_of_the_sweep(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS, seeds=(0,))
    plan = read_json(sd.sweep_json)
    plan["retired"], plan["variants"] = plan["variants"][:1], plan["variants"][1:]
    write_json(sd.sweep_json, plan)
    write_run(sd, vs[0], 0)
    assert [r.variant for r in load_sweep(sd.path)] == [v.name for v in vs[1:]]


def test_a_directory_that_is_not_a_sweep_is_a_user_error(tmp_path):
    with pytest.raises(RunDirError, match="not a sweep directory"):
        load_sweep(tmp_path)
    with pytest.raises(RunDirError, match="no such directory"):
        load_sweep(tmp_path / "nope")
    (tmp_path / "sweep.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_sweep(tmp_path)


def test_a_malformed_status_file_counts_as_no_status(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS[:2], seeds=(0,))
    run_dir = write_run(sd, vs[0], 0)
    run_dir.status.write_text('{"state": "exploded"}')
    write_run(sd, vs[1], 0)
    write_status(sd.run(vs[1].name, 0), "running")
    assert [r.state for r in load_sweep(sd.path)] == ["queued", "lost"]
