"""Pattern rewriter: describe a small subgraph in code, replace every match.

    from graphkit.rewriter import Pattern, Const, Rule, rewrite

    conv_relu = (Pattern("conv_relu")
                 .node("conv", "Conv", inputs={1: Const()})       # weight must be constant
                 .node("relu", "Relu", inputs={0: "conv"}))       # reads conv's output 0
    def replace(m):                                               # m: the Match
        conv = m["conv"]
        return m.node("FusedConvRelu", conv.inputs, domain="my.ops", **conv.attributes)
    rewrite(model, Rule("conv_relu", conv_relu, replace))        # -> number of rewrites

Input specs (a dict {index: spec} or a list): a pattern node name (`"conv"`, or `"split:1"` for
output 1), `Const(where=lambda a: ..., optional=False)` (an initializer or Constant output; the
predicate gets the numpy array), `ANY` (anything, or absent) and `ABSENT`. A node may require
`attrs={"axis": 1}` (a value, or a predicate on the value), a `where=lambda node: ...`, and be
`commutative=True` (two inputs, tried in both orders). `Pattern.where(lambda m: ...)` checks the
whole match.

The last node added is the root: every other pattern node must feed it. Matching runs in every
graph, subgraphs (If/Loop/Scan bodies) included. Matches never overlap, and a match whose inner
values escape (read outside the match, or graph outputs) is left alone: only the root's outputs
may be read elsewhere. The replacement returns a Node or a list of Nodes (the last one produces
the root's outputs, which keep their Value objects and names), or None to decline.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from graphkit.errors import UsageError
from graphkit.ir.node import Node
from graphkit.ir.value import Value
from graphkit.surgery._util import NameGen, all_graphs, ensure_ir_allows_free_initializers, label


class _Any:
    def __repr__(self):
        return "ANY"


class _Absent:
    def __repr__(self):
        return "ABSENT"


ANY, ABSENT = _Any(), _Absent()


@dataclass
class Const:
    """Input spec: a constant value (initializer or Constant node output)."""

    where: Callable[[np.ndarray], bool] | None = None
    optional: bool = False


@dataclass
class _PNode:
    name: str
    op: str
    domain: str
    inputs: dict
    attrs: dict
    where: Callable | None
    commutative: bool


class Pattern:
    """A small DAG of ops; see the module docstring."""

    def __init__(self, name: str = "pattern"):
        self.name = name
        self.nodes: dict[str, _PNode] = {}
        self.checks: list[Callable] = []

    def node(self, name: str, op: str, inputs=None, *, domain: str = "", attrs: dict | None = None,
             where: Callable | None = None, commutative: bool = False) -> Pattern:
        if name in self.nodes:
            raise UsageError(f"pattern {self.name!r}: node {name!r} defined twice")
        if isinstance(inputs, (list, tuple)):
            inputs = dict(enumerate(inputs))
        inputs = dict(inputs or {})
        for spec in inputs.values():
            if isinstance(spec, str) and spec.split(":")[0] not in self.nodes:
                raise UsageError(f"pattern {self.name!r}: node {name!r} reads {spec!r}, which is not "
                                 f"defined yet (define producers first)")
        if commutative and any(i > 1 for i in inputs):
            raise UsageError(f"pattern {self.name!r}: commutative node {name!r} must have two inputs")
        self.nodes[name] = _PNode(name, op, "" if domain == "ai.onnx" else domain, inputs,
                                  dict(attrs or {}), where, commutative)
        return self

    def where(self, check: Callable[[Match], bool]) -> Pattern:
        self.checks.append(check)
        return self

    @property
    def root(self) -> _PNode:
        if not self.nodes:
            raise UsageError(f"pattern {self.name!r} has no nodes")
        return list(self.nodes.values())[-1]

    def _validate(self) -> None:
        reached, stack = set(), [self.root.name]
        while stack:
            name = stack.pop()
            if name not in reached:
                reached.add(name)
                stack.extend(s.split(":")[0] for s in self.nodes[name].inputs.values() if isinstance(s, str))
        missing = [n for n in self.nodes if n not in reached]
        if missing:
            raise UsageError(f"pattern {self.name!r}: nodes {missing} do not feed the root {self.root.name!r}")


class Match:
    """A matched set of nodes: `m["conv"]` is the Node bound to pattern node "conv"."""

    def __init__(self, pattern: Pattern, graph, nodes: dict, names: NameGen):
        self.pattern, self.graph, self.nodes = pattern, graph, nodes
        self._names = names
        self._pending: list[Value] = []

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    @property
    def root(self) -> Node:
        return self.nodes[self.pattern.root.name]

    def input(self, name: str, index: int) -> Value | None:
        ins = self.nodes[name].inputs
        return ins[index] if index < len(ins) else None

    def const(self, name: str, index: int) -> np.ndarray | None:
        """The numpy value of a constant input (None if the input is absent or not constant)."""
        v = self.input(name, index)
        t = v.const_value if v is not None else None
        return None if t is None else t.numpy()

    def constant(self, array, hint: str = "const") -> Value:
        """A new initializer for the replacement (added only if the replacement is used)."""
        from graphkit.ir.tensor import Tensor

        v = Value(self._names.new(hint), const_value=Tensor(np.asarray(array)))
        self._pending.append(v)
        return v

    def node(self, op: str, inputs, outputs: int = 1, *, domain: str = "", name: str = "", **attributes) -> Node:
        """A new node with unique node/output names derived from the root's."""
        base = self.root.name or self.root.op_type.lower()
        outs = [Value(self._names.new(f"{base}_{op.lower()}")) for _ in range(outputs)]
        return Node(op, list(inputs), outs, domain=domain, name=name or self._names.new(f"{base}_{op}"),
                    attributes=attributes)


@dataclass
class Rule:
    """A named pattern with its replacement function (`replace(match) -> Node | [Node] | None`)."""

    name: str
    pattern: Pattern
    replace: Callable[[Match], object]
    rewrites: list = field(default_factory=list)


def find_matches(model_or_graph, pattern: Pattern) -> list[Match]:
    """Every non-overlapping, non-escaping match (without rewriting), subgraphs included."""
    pattern._validate()
    graph = getattr(model_or_graph, "graph", model_or_graph)
    names = NameGen(graph)
    found, taken = [], set()
    for g in all_graphs(graph):
        for node in g:
            m = _match_at(pattern, g, node, names, taken)
            if m is not None:
                found.append(m)
                taken.update(id(n) for n in m.nodes.values())
    return found


def rewrite(model, *rules: Rule, report=None) -> int:
    """Apply each rule everywhere (in rule order); returns the number of rewrites. With a pass
    `report`, each rewrite is recorded as action "<rule name>"."""
    from graphkit.passes.base import graph_label

    for rule in rules:
        rule.pattern._validate()
    names = NameGen(model)
    total = 0
    for rule in rules:
        for g in all_graphs(model.graph):
            for node in g:
                if node._graph is not g:
                    continue
                m = _match_at(rule.pattern, g, node, names, set())
                if m is None:
                    continue
                root_label = label(m.root)
                if _apply(m, rule.replace(m)):
                    total += 1
                    rule.rewrites.append(root_label)
                    if report is not None:
                        report.add(rule.name, node=root_label, graph=graph_label(g))
    if total and hasattr(model, "ir_version"):
        ensure_ir_allows_free_initializers(model)
    return total


# -- matching -------------------------------------------------------------------------------------
def _match_at(pattern: Pattern, g, node, names: NameGen, taken: set) -> Match | None:
    root = pattern.root
    if node.op_type != root.op or id(node) in taken:
        return None
    bound = _bind(pattern, root, node, g, {})
    if bound is None or any(id(n) in taken for n in bound.values()):
        return None
    if _escapes(bound, root.name, g):
        return None
    m = Match(pattern, g, bound, names)
    if not all(check(m) for check in pattern.checks):
        return None
    return m


def _bind(pattern: Pattern, pnode: _PNode, node, g, bound: dict) -> dict | None:
    if node.op_type != pnode.op or (node.domain if node.domain != "ai.onnx" else "") != pnode.domain:
        return None
    if pnode.name in bound:
        return bound if bound[pnode.name] is node else None
    if any(n is node for n in bound.values()):
        return None
    for key, want in pnode.attrs.items():
        if key not in node.attributes:
            return None
        have = node.attributes[key]
        if not (want(have) if callable(want) else have == want):
            return None
    if pnode.where is not None and not pnode.where(node):
        return None
    orders = [pnode.inputs]
    if pnode.commutative and len(node.inputs) == 2:
        orders.append({1 - i: s for i, s in pnode.inputs.items()})
    for specs in orders:
        result = _bind_inputs(pattern, specs, node, g, {**bound, pnode.name: node})
        if result is not None:
            return result
    return None


def _bind_inputs(pattern: Pattern, specs: dict, node, g, bound: dict) -> dict | None:
    for index, spec in specs.items():
        v = node.inputs[index] if index < len(node.inputs) else None
        if spec is ANY:
            continue
        if spec is ABSENT:
            if v is not None:
                return None
            continue
        if v is None:
            if isinstance(spec, Const) and spec.optional:
                continue
            return None
        if isinstance(spec, Const):
            t = v.const_value
            if t is None or (spec.where is not None and not spec.where(t.numpy())):
                return None
            continue
        name, _, out = spec.partition(":")
        p = v._producer
        if p is None or p._graph is not g or v._index != int(out or 0):
            return None
        bound = _bind(pattern, pattern.nodes[name], p, g, bound)
        if bound is None:
            return None
    return bound


def _escapes(bound: dict, root_name: str, g) -> bool:
    inside = {id(n) for n in bound.values()}
    outputs = {id(v) for v in g.outputs}
    for name, node in bound.items():
        if name == root_name:
            continue
        for v in node.outputs:
            if id(v) in outputs or any(id(user) not in inside for user, _ in v._uses):
                return True
    return False


# -- applying ------------------------------------------------------------------------------------
def _apply(m: Match, replacement) -> bool:
    if replacement is None:
        return False
    new = [replacement] if isinstance(replacement, Node) else list(replacement)
    if not new:
        return False
    g, root = m.graph, m.root
    last = new[-1]
    outputs = {id(v) for v in g.outputs}
    needed = [(i, v) for i, v in enumerate(root.outputs) if v._uses or id(v) in outputs]
    if any(i >= len(last.outputs) for i, _ in needed):
        raise UsageError(f"rewrite {m.pattern.name!r}: the replacement's last node has {len(last.outputs)} "
                         f"outputs but the root {label(root)!r} output {needed[-1][0]} is used")
    matched = {id(n) for n in m.nodes.values()}
    for node in new:
        for v in node.inputs:
            if v is not None and v._producer is not None and id(v._producer) in matched:
                raise UsageError(f"rewrite {m.pattern.name!r}: the replacement reads {v.name!r}, an output of "
                                 f"the matched node {label(v._producer)!r} that is being removed")
    for v in m._pending:
        g.add_initializer(v)
    g.insert_before(root, *new)
    old = list(root.outputs)
    root.outputs.clear()
    for i, v in needed:
        fresh = last.outputs[i]
        fresh.replace_all_uses_with(old[i])
        last.outputs[i] = old[i]
    for node in new:
        for v in node.outputs:
            if not v.name:
                v.name = m._names.new(f"{root.name or root.op_type.lower()}_out")
    g.remove(*m.nodes.values())
    return True
