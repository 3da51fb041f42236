"""examples/lagom_cartpole.py learns CartPole-v1 clearly better than RandomAgent (a short run of it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import orchestra

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lagom_cartpole.py"


def test_the_cartpole_example_beats_the_random_agent(tmp_path: Path):
    log_dir = tmp_path / "cartpole"
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--iterations", "20", "--workers", "2", "--log-dir", str(log_dir)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    rows = re.findall(r"^\s+([\d.]+)\s+(\d)\s+([\d.]+)\s+([\d.]+)$", out.stdout, re.M)
    assert len(rows) == 9
    for lr, _, learned, random in rows:
        if float(lr) == 10.0:
            assert float(learned) > 2 * float(random)  # the largest learning rate has clearly learnt
    learned_mean, random_mean = map(
        float, re.search(r"mean over all jobs: ([\d.]+) learned vs ([\d.]+) random", out.stdout).groups()
    )
    assert learned_mean > 1.5 * random_mean
    assert len(list(log_dir.glob("*/*/train_logs.pkl"))) == 9
    results = orchestra("results", log_dir, "--metric", "return", "--mode", "max", cwd=tmp_path)
    assert results.returncode == 0 and "best: agent.lr=10" in results.stdout
