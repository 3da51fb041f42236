"""Issue 11, item 4: a symlink planted in a sweep is never followed by the run or the orchestrator's helpers.

Each test plants a link the way a careless copy or a hostile neighbour would, starts a real run
process (or calls the helper the orchestrator calls), and checks that nothing outside the sweep
was written or loaded.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from orchestra.atomic import temp_name, write_bytes
from orchestra.rundir import OUTPUT_LOG, PlantedLinkError, ensure_run_dir, open_run_file
from orchestra.rundir.names import EXIT_ERROR, EXIT_SETUP
from tests.runtime.harness import prepare_sweep, run, write_run_config
from tests.runtime.test_entry import sweep_source


class Booby:
    """Unpickling it leaves a marker: proof that a planted snapshot's code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.marker), "code from outside the sweep ran"))


def planted_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(Booby(str(marker))))


def test_a_run_directory_that_is_a_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    sweep = prepare_sweep(tmp_path, sweep_source(f"def train():\n    open({str(marker)!r}, 'w').close()\n"))
    run_dir = write_run_config(sweep)
    outside = tmp_path / "outside"
    run_dir.path.rename(outside)
    run_dir.path.symlink_to(outside)
    fin = run(run_dir)
    assert fin.code == EXIT_SETUP and not marker.exists()
    # no result.json, no metadata.json written through the link; output.log is the harness's, which
    # opened it by path as today's backend does (ensure_run_dir/open_run_file are for the backend)
    assert sorted(os.listdir(outside)) == ["config.json", "output.log"]
    assert "is a symbolic link" in (outside / "output.log").read_text()


def test_a_variant_directory_linked_into_another_sweep_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    sweep = prepare_sweep(tmp_path, sweep_source(f"def train():\n    open({str(marker)!r}, 'w').close()\n"))
    run_dir = write_run_config(sweep)
    other = tmp_path / "other" / "sweeps" / "x"  # a sweep of its own: a link into it looks like a run
    (other / "runs").mkdir(parents=True)
    (other / "sweep.json").write_text(sweep.dir.sweep_json.read_text())
    (other / "payload.pkl").write_bytes(sweep.dir.payload.read_bytes())
    variant = run_dir.path.parent
    variant.rename(other / "runs" / variant.name)
    variant.symlink_to(other / "runs" / variant.name)
    fin = run(run_dir)
    assert fin.code == EXIT_SETUP and not marker.exists()
    moved = other / "runs" / variant.name / "0"
    assert not (moved / "result.json").exists() and not (moved / "metadata.json").exists()


def test_a_planted_config_json_link_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    sweep = prepare_sweep(tmp_path, sweep_source(f"def train():\n    open({str(marker)!r}, 'w').close()\n"))
    run_dir = write_run_config(sweep)
    outside = tmp_path / "config.json"
    run_dir.config.rename(outside)
    run_dir.config.symlink_to(outside)
    fin = run(run_dir)
    assert fin.code == EXIT_SETUP and not marker.exists()
    assert "config.json: is a symbolic link" in fin.result["error"]["message"]


def test_result_and_metadata_links_are_replaced_not_written_through(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, sweep_source("def train():\n    return 7\n"))
    run_dir = write_run_config(sweep)
    victims = {name: tmp_path / f"victim-{name}" for name in ("result.json", "metadata.json")}
    for name, victim in victims.items():
        victim.write_text("precious\n")
        (run_dir.path / name).symlink_to(victim)
    fin = run(run_dir)
    assert fin.code == 0, fin.log
    assert fin.result["return"] == 7
    for name, victim in victims.items():
        assert victim.read_text() == "precious\n"
        assert not (run_dir.path / name).is_symlink()


def test_a_planted_metrics_link_fails_the_run_instead_of_writing_outside(tmp_path: Path) -> None:
    sweep = prepare_sweep(
        tmp_path, sweep_source("def train(ctx):\n    ctx.logger('loss', 1.0)\n    ctx.logger.dump()\n")
    )
    run_dir = write_run_config(sweep)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    run_dir.metrics.symlink_to(victim)
    fin = run(run_dir)
    assert fin.code == EXIT_ERROR
    assert "metrics.jsonl: is a symbolic link" in fin.result["error"]["message"]
    assert victim.read_text() == "precious\n"


def test_a_snapshots_directory_that_is_a_link_is_refused_before_the_entry_runs(tmp_path: Path) -> None:
    marker, entered = tmp_path / "unpickled", tmp_path / "entered"
    sweep = prepare_sweep(
        tmp_path,
        sweep_source(f"def train(ctx):\n    open({str(entered)!r}, 'w').close()\n    return ctx.resume()\n"),
    )
    run_dir = write_run_config(sweep)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted_pickle(elsewhere / "params.pkl", marker)
    run_dir.snapshots.symlink_to(elsewhere)
    fin = run(run_dir)
    assert fin.code == EXIT_SETUP
    assert not entered.exists() and not marker.exists()
    assert "snapshots: is a symbolic link" in fin.result["error"]["message"]


def test_resume_loads_snapshots_only_from_regular_files_inside_the_run(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    sweep = prepare_sweep(tmp_path, sweep_source("def train(ctx):\n    return ctx.resume()\n"))
    run_dir = write_run_config(sweep)
    run_dir.snapshots.mkdir()
    planted = tmp_path / "planted.pkl"
    planted_pickle(planted, marker)
    (run_dir.snapshots / "params.pkl").symlink_to(planted)
    fin = run(run_dir)
    assert fin.code == EXIT_ERROR
    assert not marker.exists()
    assert "params.pkl: is a symbolic link" in fin.result["error"]["message"]


def test_snapshots_are_written_inside_the_run_even_when_a_temp_name_is_planted(tmp_path: Path) -> None:
    target = tmp_path / "snap.pkl"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    Path(temp_name(str(target))).symlink_to(victim)  # the name this process's next write would use
    write_bytes(target, b"data")
    assert target.read_bytes() == b"data" and victim.read_text() == "precious\n"


# ------------------------------------------------------------------ the helpers the orchestrator calls


def test_ensure_run_dir_makes_a_run_directory_and_refuses_links_on_the_way(tmp_path: Path) -> None:
    sweep = tmp_path / "sweeps" / "s"
    sweep.mkdir(parents=True)
    run_dir = sweep / "runs" / "lr=0.1" / "0"
    ensure_run_dir(run_dir)
    assert run_dir.is_dir()
    (sweep / "runs" / "other").symlink_to(tmp_path)
    with pytest.raises(PlantedLinkError, match="runs/other: is a symbolic link"):
        ensure_run_dir(sweep / "runs" / "other" / "0")
    assert not (tmp_path / "0").exists()
    with pytest.raises(Exception, match="not the directory of a run"):
        ensure_run_dir(sweep / "elsewhere" / "v" / "0")


def test_open_run_file_refuses_a_planted_output_log_and_a_fifo(tmp_path: Path) -> None:
    (tmp_path / "sweeps" / "s").mkdir(parents=True)
    run_dir = tmp_path / "sweeps" / "s" / "runs" / "v" / "0"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    fd = open_run_file(run_dir, OUTPUT_LOG, flags, create_dir=True)
    os.write(fd, b"hello\n")
    os.close(fd)
    assert (run_dir / OUTPUT_LOG).read_text() == "hello\n"
    (run_dir / OUTPUT_LOG).unlink()
    (run_dir / OUTPUT_LOG).symlink_to(victim)
    with pytest.raises(PlantedLinkError, match=r"output\.log: is a symbolic link"):
        open_run_file(run_dir, OUTPUT_LOG, flags)
    assert victim.read_text() == "precious\n"
    os.mkfifo(run_dir / "metrics.jsonl")
    with pytest.raises(PlantedLinkError, match=r"metrics\.jsonl: is not a regular file"):
        open_run_file(run_dir, "metrics.jsonl", os.O_RDONLY)  # would hang on a FIFO without O_NONBLOCK
