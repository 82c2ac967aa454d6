"""The import graph of ``src/`` (issue 13): no cycles, and a composition root nothing imports
back. ``lint-imports`` checks the layers in CI; this test says the same in the suite."""

from __future__ import annotations

import pytest

grimp = pytest.importorskip("grimp")  # the dev extra (import-linter); not the core environment

ROOT = "tokenizer_acquisition"


@pytest.fixture(scope="module")
def graph() -> object:
    return grimp.build_graph(ROOT, exclude_type_checking_imports=True)


def _cycles(graph: object) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    modules = sorted(graph.modules)  # type: ignore[attr-defined]
    edges = {m: sorted(graph.find_modules_directly_imported_by(m))  # type: ignore[attr-defined]
             for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(edges[succ])))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_imports_itself_back(graph: object) -> None:
    """Zero import cycles in src/, function-level imports included."""
    assert _cycles(graph) == []


def test_nothing_but_the_entrypoints_imports_the_composition_root(graph: object) -> None:
    """The container is imported only by the command line (and resolved lazily by the
    package's ``__getattr__``); the facade never reaches it, even indirectly."""
    importers = graph.find_modules_that_directly_import(f"{ROOT}.container")  # type: ignore[attr-defined]
    assert {m for m in importers if not m.startswith(f"{ROOT}.entrypoints.")} == set()
    assert not graph.chain_exists(f"{ROOT}.facade", f"{ROOT}.container")  # type: ignore[attr-defined]
