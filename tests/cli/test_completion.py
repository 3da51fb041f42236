"""Shell completion through the real shells: the script `orchestra completion SHELL` prints, sourced."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import orchestra, wait_for, write_sweep
from tests.tui.test_tmux import TMUX, Terminal


def on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``orchestra`` is this checkout's (the scripts call it by name)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "orchestra"
    launcher.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m orchestra "$@"\n')
    launcher.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def bash_complete(line: str, env: dict[str, str], cwd: Path) -> list[str]:
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    script = (
        "source <(orchestra completion bash)\n"
        f"COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        '_python_argcomplete orchestra\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert out.returncode == 0, out.stderr
    return [w.strip() for w in out.stdout.splitlines() if w.strip()]


def test_bash_completes_commands_options_sweep_files_and_runs(tmp_path: Path):
    env = on_path(tmp_path)
    assert bash_complete("orchestra sta", env, tmp_path) == ["status"]
    assert bash_complete("orchestra up sweep.py --wor", env, tmp_path) == ["--workers"]
    write_sweep(tmp_path, "x = 1\n")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "sweeps").mkdir()
    files = bash_complete("orchestra up ", env, tmp_path)
    assert "sweep.py" in files and "sweeps/" in files and "notes.txt" not in files
    sweep_dir = tmp_path / "sweeps" / "demo"
    sweep_dir.mkdir()
    variant = {"index": 0, "name": "lr=0.1", "key": "k0", "params": {"lr": 0.1}, "sampled": []}
    plan = {"format": 1, "name": "demo", "seeds": [0, 1], "variants": [variant]}
    (sweep_dir / "sweep.json").write_text(json.dumps(plan))
    assert bash_complete("orchestra logs sweeps/demo lr", env, tmp_path) == ["lr=0.1/0", "lr=0.1/1"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (.ci/run installs it)")
def test_fish_completes_commands_and_options(tmp_path: Path):
    env = on_path(tmp_path)
    script = "orchestra completion fish | source; complete -C 'orchestra sta'; complete -C 'orchestra up x.py --wor'"
    out = subprocess.run(["fish", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    completions = [line.split("\t")[0] for line in out.stdout.splitlines()]
    assert completions == ["status", "--workers"], out.stdout


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (.ci/run installs it)")
@pytest.mark.skipif(TMUX is None, reason="tmux is not installed; zsh completes only on a terminal")
def test_zsh_completes_a_command_on_a_real_terminal(tmp_path: Path):
    env = {**on_path(tmp_path), "TERM": "xterm-256color", "ZDOTDIR": str(tmp_path)}
    term = Terminal(f"cd {shlex.quote(str(tmp_path))} && zsh -f", env)
    try:
        term.send(
            "autoload -U compinit && compinit -u && source <(orchestra completion zsh) && echo READY", "Enter"
        )
        term.wait_for_text("READY\n")
        term.send("orchestra stat", "Tab")
        wait_for(lambda: "orchestra status" in term.screen(), timeout=60, what="zsh to complete 'status'")
    finally:
        term.close()


def test_completion_for_an_unknown_shell_is_one_line_and_exit_2(tmp_path: Path):
    out = orchestra("completion", "tcsh")
    assert out.returncode == 2
    assert (
        out.stderr.splitlines()[-1]
        == "orchestra completion: error: argument SHELL: 'tcsh' is not one of bash, zsh, fish"
    )
