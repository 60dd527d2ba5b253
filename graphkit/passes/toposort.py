"""toposort: order every graph's nodes so each value is produced before it is read.

Stable: among nodes that are ready, the one earlier in the current order goes first, so a sorted
graph is left exactly as it is. A node whose subgraph reads an outer value depends on that
value's producer. A cycle raises GraphError naming the nodes on it.
"""
from __future__ import annotations

import heapq

from graphkit.errors import GraphError
from graphkit.passes.base import Pass, Report, graph_label
from graphkit.surgery._util import all_graphs, label


class Toposort(Pass):
    name = "toposort"

    def run(self, model, report: Report) -> None:
        for g in all_graphs(model.graph):
            moved = sort_graph(g)
            if moved:
                report.add("reordered", graph=graph_label(g), nodes_moved=moved)


def _outer_reads(node) -> list:
    reads = []
    for sub in node.subgraphs():
        for n in sub.walk():
            reads.extend(v for v in n.inputs if v is not None)
        reads.extend(sub.outputs)
    return reads


def _is_sorted(g) -> bool:
    """One cheap pass: is every value of this graph produced before it is read?"""
    done: set = set()  # nodes already passed (hashed by identity)
    add = done.add
    for node in g:
        reads = node.inputs if node._attrs is None else [*node.inputs, *_outer_reads(node)]
        for v in reads:
            if v is not None:
                p = v._producer
                if p is not None and p not in done and p._graph is g:
                    return False
        add(node)
    return True


def sort_graph(g) -> int:
    """Sort one graph in place; returns how many nodes changed position (0: already sorted)."""
    found = _sorted_order(g)
    if found is None:
        return 0
    nodes, order = found
    g.reorder(nodes[i] for i in order)
    return sum(1 for k, i in enumerate(order) if k != i)


def check_acyclic(model) -> None:
    """Raise GraphError naming a cycle if any graph of `model` has one; changes nothing.

    The passes that walk producers and consumers (fold, prune, fuse, simplify) call this first: on a
    cyclic graph their results would be meaningless, and "no change" would hide the real problem."""
    for g in all_graphs(model.graph):
        _sorted_order(g)


def _sorted_order(g) -> tuple[list, list[int]] | None:
    """(nodes, order) where `nodes[i] for i in order` is a stable topological order, or None when
    the graph is already sorted. GraphError naming the nodes of a cycle if there is one."""
    if _is_sorted(g):
        return None
    nodes = list(g)
    position = {id(n): i for i, n in enumerate(nodes)}
    deps: list[list[int]] = []
    unsorted = False
    for i, node in enumerate(nodes):
        mine = []
        reads = node.inputs if node._attrs is None else [*node.inputs, *_outer_reads(node)]
        for v in reads:
            if v is None:
                continue
            p = v._producer
            if p is None or p._graph is not g:
                continue
            j = position[id(p)]
            if j == i:
                raise GraphError(f"cycle: node {label(node)!r} reads its own output {v.name!r}")
            mine.append(j)
            if j > i:
                unsorted = True
        deps.append(mine)
    if not unsorted:
        return None
    pending = [len(set(d)) for d in deps]
    users: list[list[int]] = [[] for _ in nodes]
    for i, d in enumerate(deps):
        for j in set(d):
            users[j].append(i)
    ready = [i for i, c in enumerate(pending) if c == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            pending[u] -= 1
            if pending[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        cycle = _find_cycle([i for i, c in enumerate(pending) if c > 0], deps, pending)
        names = " -> ".join(repr(label(nodes[i])) for i in cycle)
        raise GraphError(f"graph {graph_label(g)!r} has a cycle: {names}")
    return nodes, order


def _find_cycle(stuck: list[int], deps: list[list[int]], pending: list[int]) -> list[int]:
    """Follow unresolved dependencies from a stuck node until one repeats: that loop is a cycle."""
    path, seen = [], {}
    i = stuck[0]
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        i = next(j for j in deps[i] if pending[j] > 0)
    cycle = path[seen[i]:]
    return list(reversed(cycle)) + [cycle[-1]]
