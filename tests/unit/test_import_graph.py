"""No import cycle anywhere in the workspace.

The graph is read statically (``ast``) from every module under ``packages/*/src``. What counts
as an edge: every ``import``/``from ... import`` a module executes — at the top level and
inside functions alike (a function-level import used for laziness still ties the two modules
together when it runs, and is how cycles hide). What does not: imports under
``if TYPE_CHECKING:``, which never run (annotations are strings under ``from __future__
import annotations``). ``from package import name`` is an edge to ``package.name`` when that
is a module, else to ``package``; a module's own parent packages are not edges (Python
initialises them first anyway).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

Graph = dict[str, set[str]]


def _modules(src_roots: list[Path]) -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for src in src_roots:
        for path in src.rglob("*.py"):
            parts = list(path.relative_to(src).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join(parts)] = (path, is_package)
    return found


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_graph(src_roots: list[Path]) -> Graph:
    """Module -> the workspace modules it imports when it runs."""
    modules = _modules(src_roots)
    graph: Graph = {}
    for name, (path, is_package) in modules.items():
        targets: set[str] = set()
        pending: list[ast.AST] = [ast.parse(path.read_text("utf-8"), filename=str(path))]
        while pending:
            node = pending.pop()
            for child in ast.iter_child_nodes(node):
                if _is_type_checking(child):
                    pending.extend(getattr(child, "orelse", []))
                    continue
                if isinstance(child, ast.Import):
                    targets.update(alias.name for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = name.split(".") if is_package else name.split(".")[:-1]
                        base = base[: len(base) - (child.level - 1)]
                        module = ".".join([*base, *([child.module] if child.module else [])])
                    else:
                        module = child.module or ""
                    for alias in child.names:
                        sub = f"{module}.{alias.name}"
                        targets.add(sub if sub in modules else module)
                pending.append(child)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            if children:
                child = children.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(graph: Graph, component: list[str]) -> str:
    members = set(component)
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in component)


def test_the_walker_finds_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from pkg.c import x\n    return x\n")
    (package / "c.py").write_text("import pkg.a\nx = 1\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n"
    )
    (package / "e.py").write_text("from . import d\n")
    graph = import_graph([tmp_path / "src"])
    assert graph["pkg.b"] == {"pkg.c"} and graph["pkg.e"] == {"pkg.d"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_package_of_the_workspace_has_an_import_cycle() -> None:
    src_roots = sorted(ROOT.glob("packages/*/src"))
    assert len(src_roots) >= 6
    graph = import_graph(src_roots)
    assert {"lamdis_http.app", "lamdis_http.bootstrap", "lamdis_core.schedule"} <= set(graph)
    found = cycles(graph)
    assert found == [], "\n".join(_describe(graph, c) for c in found)
