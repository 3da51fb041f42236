"""Nothing outside orchestra/tui/ imports Textual: the scheduler, the CLI and the runtime work without it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "orchestra"


def textual_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), str(path))
    lines = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if any(n == "textual" or n.startswith("textual.") for n in names):
            lines.append(node.lineno)
    return lines


def test_no_module_outside_the_tui_package_imports_textual():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "tui" not in path.relative_to(PACKAGE).parts
        for line in textual_imports(path)
    ]
    assert offenders == []


def test_the_check_catches_an_import(tmp_path: Path):
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom textual.app import App\nimport textual\n")
    assert textual_imports(module) == [2, 3]


def test_the_cli_and_the_scheduler_load_without_textual():
    code = (
        "import sys, orchestra.cli, orchestra.cli.up, orchestra.cli.status, orchestra.cli.logs, "
        "orchestra.scheduler.core, orchestra.headless\n"
        "orchestra.cli.build_parser()\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if m.startswith('textual'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
