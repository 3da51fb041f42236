"""Per-sweep launch records (git.json, diff.patch, garage's launch archive) and git metadata."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from orchestra.plan.launch import git_info, package_versions, write_launch
from orchestra.redact import redact_env
from orchestra.rundir import SweepDir, read_json

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


def make_repo(root: Path) -> tuple[Path, str]:
    """A repository with a launcher in a subdirectory, as garage's own archive test sets it up."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "subdir").mkdir()
    (root / "subdir" / "run_exp.py").write_text("print('hi')\n")
    (root / "deleted.txt").write_text("soon gone\n")
    (root / "README").write_text("one\n")
    (root / ".gitignore").write_text("*.log\n")
    subprocess.run([*GIT, "add", "."], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "init"], cwd=root, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    return root / "subdir" / "run_exp.py", head


def test_git_info_is_garages_metadata(tmp_path: Path) -> None:
    launcher, head = make_repo(tmp_path / "repo")
    assert git_info(launcher) == (str(tmp_path / "repo"), {"githash": head, "launcher": "subdir/run_exp.py"})
    (tmp_path / "repo" / "new.py").write_text("")  # an untracked file makes it dirty, as in garage
    assert git_info(launcher)[1]["githash"] == head + "-dirty"
    outside = tmp_path / "plain" / "exp.py"
    outside.parent.mkdir()
    outside.write_text("")
    assert git_info(outside) == (None, {"launcher": str(outside)})


def test_write_launch_records_git_the_diff_and_the_archive(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    launcher, head = make_repo(repo)
    (repo / "README").write_text("two\n")
    (repo / "deleted.txt").unlink()
    (repo / "test.txt").write_text("untracked, not ignored\n")
    (repo / "debug.log").write_text("ignored\n")
    with open(repo / "large.obj", "wb") as f:
        f.truncate(10 * 2**20)
    sweep = SweepDir(tmp_path / "sweeps" / "s")
    warnings = write_launch(sweep, launcher, archive=True)

    record = read_json(sweep.launch / "git.json")
    assert record["githash"] == head + "-dirty" and record["launcher"] == "subdir/run_exp.py"
    assert record["launcher_path"] == str(launcher) and record["git_root"] == str(repo)
    diff = (sweep.launch / "diff.patch").read_text()
    assert "-one\n+two" in diff and "deleted file mode" in diff
    listing = subprocess.run(
        ["tar", "-tJf", str(sweep.launch / "launch_archive.tar.xz")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {"subdir/run_exp.py", "test.txt", "README", ".gitignore"} <= set(listing)
    assert not {"large.obj", "deleted.txt", "debug.log"} & set(listing)
    assert any("10 MiB" in w and "archive_launch_repo=False" in w for w in warnings)
    assert any("large.obj" in w for w in warnings)
    assert [n for n in os.listdir(sweep.launch) if n.endswith(".tmp")] == []


def test_write_launch_outside_a_repository(tmp_path: Path) -> None:
    launcher = tmp_path / "sweep.py"
    launcher.write_text("")
    sweep = SweepDir(tmp_path / "sweeps" / "s")
    assert write_launch(sweep, launcher, archive=False) == []
    assert read_json(sweep.launch / "git.json") == {
        "launcher": str(launcher),
        "launcher_path": str(launcher),
        "git_root": None,
    }
    warnings = write_launch(sweep, launcher, archive=True)
    assert len(warnings) == 1 and "not in a git repository" in warnings[0]
    assert sorted(os.listdir(sweep.launch)) == ["git.json", "packages.json"]


def test_secret_looking_names_and_url_passwords_are_redacted() -> None:
    env = {
        "AWS_SECRET_ACCESS_KEY": "a",
        "GITHUB_TOKEN": "b",
        "DB_PASSWORD": "c",
        "GOOGLE_APPLICATION_CREDENTIALS": "d",
        "ssh_private_thing": "e",
        "HTTP_AUTH": "f",
        "PIP_INDEX_URL": "https://user:s3cret@pypi.example.com/simple",
        "HOME": "/home/me",
    }
    out = redact_env(env)
    assert [k for k, v in out.items() if v == "<redacted>"] == sorted(
        k for k in env if k not in ("PIP_INDEX_URL", "HOME")
    )
    assert out["PIP_INDEX_URL"] == "https://user:<redacted>@pypi.example.com/simple"
    assert out["HOME"] == "/home/me"


def test_package_versions_come_from_installed_dist_info() -> None:
    import numpy

    assert package_versions(["numpy", "no-such-package"]) == {"numpy": numpy.__version__}


def test_a_git_that_hangs_counts_as_no_repository(tmp_path: Path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text("#!/bin/sh\nexec sleep 60\n")
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), os.environ["PATH"]]))
    launcher = tmp_path / "exp.py"
    launcher.write_text("")
    assert git_info(launcher, timeout=0.5) == (None, {"launcher": str(launcher)})
