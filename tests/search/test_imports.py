"""The orchestrator imports optuna, cma and numpy only for the sweeps that use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_sweep

PROBE = """
import json, sys, anyio
from orchestra.plan.loader import load_sweep_file
from orchestra.service.session import UpOptions, prepare, run_prepared
prepared = prepare(load_sweep_file(sys.argv[1]), UpOptions(root=sys.argv[2], workers=2))
summary, _ = anyio.run(run_prepared, prepared)
print(json.dumps({"code": summary.exit_code, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""

SWEEPS = {
    "random": (
        "from orchestra.search import Box, RandomSearch\n"
        "sweep = Sweep(train, Box({'x': (0.0, 1.0)}), search=RandomSearch(seed=0), objective='f', mode='min', budget=2)",
        {"optuna", "cma"},
    ),
    "grid-with-asha": (
        "from orchestra.search import ASHA\n"
        "sweep = Sweep(train, Config({'x': Grid([0.1, 0.2])}), stopper=ASHA(metric='f', mode='min'))",
        {"optuna", "cma", "numpy"},
    ),
}


@pytest.mark.parametrize("case", sorted(SWEEPS))
def test_the_orchestrator_imports_no_search_library_a_sweep_does_not_use(tmp_path: Path, case: str):
    body, banned = SWEEPS[case]
    f = write_sweep(
        tmp_path,
        "from orchestra import Sweep, Config, Grid\n"
        "def train(ctx, x):\n    ctx.logger('f', x); ctx.logger.dump()\n" + body + "\n",
    )
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    out = subprocess.run(
        [sys.executable, str(probe), str(f), str(tmp_path / "sweeps")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert banned.isdisjoint(result["loaded"]), banned & set(result["loaded"])
