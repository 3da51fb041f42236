"""examples/es_cartpole.py: CMA-ES on a linear CartPole-v1 policy reaches 500 within its budget; its curve plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import orchestra

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_es_cartpole_balances_the_pole_for_500_steps_by_its_24th_candidate(tmp_path: Path):
    # The first 24 candidates do not depend on the budget: a budget of 24 proposes exactly those.
    text = (REPO / "examples" / "es_cartpole.py").read_text()
    assert text.count("budget=40") == 1
    example = tmp_path / "es_cartpole.py"
    example.write_text(text.replace("budget=40", "budget=24"))
    done = orchestra(
        "up",
        example,
        "--root",
        tmp_path / "sweeps",
        "--workers",
        "2",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_dir = tmp_path / "sweeps" / "es_cartpole"
    told = json.loads((sweep_dir / "search.json").read_text())["told"]
    assert len(told) == 24
    first = next(c for c in told if c["value"] == 500.0)
    assert first["trial"] < 24 and first["generation"] == 2
    ranked = orchestra("results", sweep_dir, "--json", cwd=tmp_path)
    assert ranked.returncode == 0, ranked.stderr
    plotted = orchestra("plot", sweep_dir, "--x", "generation", "-o", tmp_path / "curve.png", cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    assert "24 candidates, best 500" in plotted.stdout
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_trial = orchestra("plot", sweep_dir, "--x", "trial", "-o", tmp_path / "t.svg", cwd=tmp_path)
    assert by_trial.returncode == 0 and (tmp_path / "t.svg").read_text().startswith("<?xml")
