"""The package's import direction: metrics < methods < eval. A method never imports an evaluator, and the pure
metrics import neither (nor Lightning), so they can be used anywhere. No two modules import each other, directly
or through others."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vision_ssl"


def _parse(source: str) -> ast.Module:
    """`ast.parse` with the garbage collector paused, for CPython bug gh-106905 (3.11 before 3.11.8, 3.12 before
    3.12.2): the AST builder kept its recursion counter in state shared by all threads, and a garbage collection
    during the build can run finalisers that release the GIL, so a parse in another thread moves the counter and
    this one fails with "SystemError: AST constructor recursion depth mismatch" (seen once in a full `make test` on
    3.11.7). Fixed in CPython by python/cpython#113035 (3.11 backport #113476); with no collection during the
    build, the build never releases the GIL, so the pause is the workaround on the interpreters we still run."""
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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph(deferred: bool) -> dict[str, set[str]]:
    """module -> the package modules it imports: at module level (`deferred`: inside functions too). Importing
    `a.b.c` runs the package `a.b` first, so that is an edge too, unless the importer is inside `a.b` (a package
    importing its own submodules is Python's normal order); the root package is lazy and counts only when named."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = _parse(path.read_text())
        nodes, todo = [], list(tree.body)
        while todo:
            node = todo.pop()
            nodes.append(node)
            if deferred or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                todo.extend(ast.iter_child_nodes(node))
        targets: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                               for a in node.names)
        edges = set()
        for target in targets & set(modules):
            parts = target.split(".")
            edges.add(target)
            edges.update(p for p in (".".join(parts[:i]) for i in range(2, len(parts)))
                         if not (name == p or name.startswith(p + ".")))
        graph[name] = edges - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycle_at_module_level():
    cycles = _cycles(_import_graph(deferred=False))
    assert not cycles, f"modules importing each other: {cycles}"


def test_imports_inside_functions_close_no_new_cycle():
    """A deferred import hides a cycle from the interpreter, not from the reader (as registry <-> backbones did)."""
    cycles = _cycles(_import_graph(deferred=True))
    assert not cycles, f"modules importing each other (counting imports inside functions): {cycles}"
