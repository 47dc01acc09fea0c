"""The package graph of ``jobs/core``: which sub-package imports which, and no cycles.

``python -m jobs.core.runtime.check_layout`` prints, per sub-package of ``jobs/core``
(``runtime``, ``tables``, ``storage``, ``rules``, ...), the sub-packages it imports, in
dependency order (a package is listed after everything it imports), and exits 1 naming
the modules of any cycle. Every ``import`` counts, including those inside functions: a
lazy import of another core module is reported, because it is how a cycle hides.
``tests/test_architecture.py`` runs the same checks.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CORE = Path(__file__).resolve().parents[1]
PREFIX = "jobs.core."


@dataclass
class Layout:
    """The import graph of ``jobs/core`` (module names relative to ``jobs.core``).

    Attributes:
        modules: module name (``storage.delta``) to the core modules it imports.
        lazy: ``(module, line, imported)`` for each core import inside a function.
    """

    modules: dict[str, set[str]] = field(default_factory=dict)
    lazy: list[tuple[str, int, str]] = field(default_factory=list)

    def packages(self) -> dict[str, set[str]]:
        """Sub-package to the other sub-packages its modules import."""
        graph: dict[str, set[str]] = {}
        for module, deps in self.modules.items():
            pkg = package_of(module)
            graph.setdefault(pkg, set()).update(package_of(d) for d in deps if package_of(d) != pkg)
        return graph


def package_of(module: str) -> str:
    """``storage.delta`` → ``storage``; a top-level module of ``jobs/core`` is its own."""
    return module.split(".", 1)[0]


def _module_name(path: Path, core: Path = CORE) -> str:
    rel = path.relative_to(core).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts) or "__init__"


def _core_targets(node: ast.AST, known: set[str]) -> Iterable[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    for name in names:
        if name.startswith(PREFIX):
            rel = name[len(PREFIX) :]
            while rel and rel not in known:
                rel = rel.rpartition(".")[0]
            if rel:
                yield rel


def scan(core: Path = CORE) -> Layout:
    """Read every module of ``core`` and collect its imports of other core modules."""
    files = sorted(f for f in core.rglob("*.py") if f != core / "__init__.py")
    known = {_module_name(f, core) for f in files}
    layout = Layout()
    for file in files:
        name = _module_name(file, core)
        tree = ast.parse(file.read_text(), str(file))
        deps: set[str] = set()
        for top in tree.body:
            for node in ast.walk(top):
                targets = sorted({t for t in _core_targets(node, known) if t != name})
                deps.update(t for t in targets if "." in t or t in known)
                if targets and isinstance(
                    top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                ):
                    layout.lazy.extend((name, getattr(node, "lineno", 0), t) for t in targets)
        # a package's __init__ importing its own modules is not a dependency of the package
        layout.modules[name] = {d for d in deps if d not in {"__init__"}}
    return layout


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def dependency_order(graph: dict[str, set[str]]) -> list[str]:
    """Packages sorted so each comes after the packages it imports (ties by name)."""
    done: list[str] = []
    left = dict(graph)
    while left:
        ready = sorted(p for p, deps in left.items() if deps <= set(done) | {p})
        if not ready:  # a cycle: list the rest as they are
            done.extend(sorted(left))
            break
        done.extend(ready)
        for p in ready:
            del left[p]
    return done


def main(argv: list[str] | None = None) -> int:
    """Print the package graph; exit 1 when a cycle or a lazy core import exists."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.core.runtime.check_layout",
        description="Print the sub-packages of jobs/core with the sub-packages each imports; "
        "exit 1 naming any import cycle (of packages or modules) or lazy core import.",
    )
    parser.parse_args(argv)
    layout = scan()
    graph = layout.packages()
    for pkg in dependency_order(graph):
        deps = ", ".join(sorted(graph[pkg])) or "-"
        print(f"{pkg:<12} -> {deps}")
    problems = [f"package cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    problems += [f"module cycle: {' <-> '.join(c)}" for c in cycles(layout.modules)]
    problems += [
        f"lazy import of jobs.core.{t} in jobs/core/{m.replace('.', '/')}.py:{line}: "
        "import it at the top (a lazy import hides a cycle)"
        for m, line, t in layout.lazy
    ]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{len(layout.modules)} modules in {len(graph)} packages, no cycles")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
