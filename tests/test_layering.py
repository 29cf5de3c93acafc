"""The package's import direction: metrics < methods < eval. A method never imports an evaluator, and the pure
metrics import neither (nor Lightning), so they can be used anywhere."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vision_ssl"


def _parse(source: str) -> ast.Module:
    """`ast.parse` with the garbage collector paused. In one full `make test` on CPython 3.11.7 this parse raised
    "SystemError: AST constructor recursion depth mismatch" and passed alone; the interpreter's AST builder checks
    its recursion count, and a collection that runs finalisers of earlier tests' objects mid-build is the suspected
    disturbance (not proven)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source)
    finally:
        if enabled:
            gc.enable()


def _imports(folder: str) -> dict[str, set[str]]:
    """Every module imported by each file under vision_ssl/<folder> (function-local imports included)."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(_parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def test_methods_never_import_eval():
    for folder in ("methods", "metrics", "losses", "heads", "transforms", "backbones", "utils", "data"):
        bad = {f: sorted(n for n in names if n.startswith("vision_ssl.eval")) for f, names in _imports(folder).items()}
        assert not any(bad.values()), {f: n for f, n in bad.items() if n}


def test_metrics_are_free_of_lightning_and_methods():
    for file, names in _imports("metrics").items():
        assert not [n for n in names if n.startswith(("lightning", "vision_ssl.methods", "vision_ssl.eval"))], file


def test_importing_methods_loads_no_evaluator():
    code = "import sys, vision_ssl.methods; print(sorted(m for m in sys.modules if m.startswith('vision_ssl.eval')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out
