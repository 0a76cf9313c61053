"""The import rules of the packages (docs/architecture.md), checked on the import graph.

The graph is grimp's (import-linter's engine): every import statement of every
module, those inside functions included, so a cycle cannot hide behind a lazy
import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PACKAGES = ("harness", "baselines", "alexnet", "decade")
ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        *PACKAGES,
        include_external_packages=False,
        exclude_type_checking_imports=True,
        cache_dir=None,
    )


def _imports(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    return [
        (a, b) for a in sorted(graph.modules) for b in graph.find_modules_directly_imported_by(a)
    ]


def test_no_import_cycle(graph: grimp.ImportGraph) -> None:
    cycles = set()
    for importer, imported in _imports(graph):
        back = graph.find_shortest_chain(importer=imported, imported=importer)
        if back:
            cycles.add(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def test_the_core_never_imports_a_method(graph: grimp.ImportGraph) -> None:
    bad = [
        (a, b)
        for a, b in _imports(graph)
        if a.startswith("harness") and b.split(".")[0] in ("baselines", "alexnet", "decade")
    ]
    assert not bad, bad


def test_no_method_module_imports_the_cli_or_the_runner(graph: grimp.ImportGraph) -> None:
    """Methods, and launchers like alexnet.train_ddp, use the public API (harness.experiment)."""
    private = ("harness.cli", "harness.runner")
    bad = [
        (a, b)
        for a, b in _imports(graph)
        if a.split(".")[0] in ("baselines", "alexnet", "decade") and b in private
    ]
    assert not bad, bad


def test_decade_is_a_plugin_on_the_public_surface(graph: grimp.ImportGraph) -> None:
    """decade/ imports from the harness only what a third-party plugin may, and baselines.cnn."""
    public = {"harness.api", "harness.types", "harness.params", "harness.protocol"}
    allowed = public | {"harness.registry", "baselines.cnn"}
    bad = [
        (a, b)
        for a, b in _imports(graph)
        if a.split(".")[0] == "decade" and b.split(".")[0] != "decade" and b not in allowed
    ]
    assert not bad, bad


def test_no_library_module_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_importing_the_contract_loads_no_layout_reader() -> None:
    code = (
        "import sys, harness.api\n"
        "print(','.join(m for m in sys.modules if m.startswith(('harness.data', 'baselines', 'alexnet', 'pandas'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", out.stdout
