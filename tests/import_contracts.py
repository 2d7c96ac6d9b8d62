"""An import-linter contract that import-linter lacks: no import cycle between modules.

import-linter's own ``acyclic_siblings`` works on packages (``pooldesk.backend.fit`` and
``pooldesk.backend.telemetry`` importing each other anywhere inside counts as a cycle), which is
stricter than we mean. A cycle between two *modules* is the one that bites: its import order decides
whether a name exists yet, so it is "fixed" with imports hidden inside functions, which hide it
from the reader as well. This contract finds every group of modules that import each other,
directly or round a loop, counting imports inside functions too (grimp sees every ``import``
statement), and fails on any. Registered in pyproject.toml (``contract_types``) and run by
``lint-imports`` in ``make lint``; tests/unit/test_boundaries.py shows it failing on a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit): each group of two or more modules
    that can all reach each other through imports, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


class NoModuleCyclesContract(Contract):
    """``type = "no_module_cycles"``; ``containers``: the packages whose modules are checked
    (imports leaving them cannot close a loop back in without another module inside)."""

    type_name = "no_module_cycles"
    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        modules: set[str] = set()
        for container in cast(list[str], self.containers):
            if container not in graph.modules:
                raise ValueError(f"Module '{container}' does not exist.")
            modules |= {container, *graph.find_descendants(container)}
        edges = {
            module: {m for m in graph.find_modules_directly_imported_by(module) if m in modules}
            for module in modules
        }
        cycles = []
        for group in strongly_connected(edges):
            members = set(group)
            imports = [
                (importer, imported, detail["line_number"])
                for importer in group
                for imported in sorted(edges[importer] & members)
                for detail in graph.get_import_details(importer=importer, imported=imported)
            ]
            cycles.append({"modules": group, "imports": imports})
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in cast(list[dict[str, Any]], check.metadata["cycles"]):
            output.print_error(f"These modules import each other: {', '.join(cycle['modules'])}")
            for importer, imported, line in cycle["imports"]:
                output.print_error(f"  - {importer} -> {imported} (line {line})", bold=False)
            output.new_line()
