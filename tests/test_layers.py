"""The layer rules of the design (imports only point down), checked on the source and in fresh interpreters."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "orchestra"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_below_tui_imports_textual():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "tui" in path.relative_to(PACKAGE).parts:
            continue
        if any(m == "textual" or m.startswith("textual.") for m in imported_modules(path)):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


@pytest.mark.parametrize("layer", ["space", "rundir"])
def test_space_and_rundir_import_nothing_above_them(layer: str):
    paths = list((PACKAGE / layer).rglob("*.py"))
    above = (
        "orchestra.scheduler",
        "orchestra.runtime",
        "orchestra.results",
        "orchestra.tui",
        "orchestra.cli",
    )
    for path in paths:
        bad = [m for m in imported_modules(path) if m.startswith(above)]
        assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize(
    "module",
    ["orchestra.scheduler.core", "orchestra.cli.up", "orchestra.cli.status", "orchestra.headless"],
)
def test_headless_modules_do_not_load_textual(module: str):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_shipped_cites_files_outside_the_repository():
    """Docstrings, docs and examples point at what a user has: the repository, not the workplace's
    design notes (``shared/*.md``), which do not ship."""
    outside = re.compile(r"(?<![\w/])shared/[\w.-]+\.md|SEEDS-SEMANTICS|REVIEW-architecture")
    root = Path(__file__).resolve().parent.parent
    files = [root / "README.md", *root.glob("docs/*.md")]
    for folder in ("orchestra", "examples", "bench", "tests"):
        files += (root / folder).rglob("*.py")
    files = [f for f in files if f != Path(__file__).resolve()]
    cited = [f"{f.relative_to(root)}: {m.group(0)}" for f in files for m in outside.finditer(f.read_text())]
    assert not cited, cited


def test_every_install_hint_names_the_distribution():
    """The distribution is ``orchestra-sweeps``: ``orchestra`` on the package index is someone else's."""
    wrong = re.compile(r"install\s+['\"]?orchestra(\[|['\"\s]|$)", re.M)
    root = Path(__file__).resolve().parent.parent
    files = [root / "README.md", *root.glob("docs/*.md"), *(root / "orchestra").rglob("*.py")]
    files += (root / "examples").rglob("*.py")
    hints = [f"{f.relative_to(root)}: {m.group(0)!r}" for f in files for m in wrong.finditer(f.read_text())]
    assert not hints, hints
