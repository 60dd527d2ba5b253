"""prune: remove what cannot affect the graph outputs, in every graph (subgraphs included).

* nodes whose outputs reach no graph output (a value read by a live subgraph is live),
* Identity nodes and inference-mode Dropout (whose mask is unused), by rewiring their readers;
  a graph output keeps its name (the producer's output is renamed to it when that is safe),
* unused initializers, main-graph inputs that are also initializers (they become plain
  initializers; the model is lifted to IR 4 if needed), stale value_info entries,
* duplicate initializers (same dtype, shape and bytes) are merged into the first one, and then
  duplicate nodes (same op, attributes and input values: common subexpressions) likewise; the
  inputs of commutative ops (Add, Mul, And, Or, Xor, Max, Min, Sum, Mean, Equal, Bitwise*) match in
  any order.

Quantized models: nothing here changes a value, so a QuantizeLinear/DequantizeLinear pair stays as
long as something reads it. Two Q (or DQ) nodes reading the very same values (input, scale, zero
point) do merge, as onnxsim and onnxslim merge them: the result is bitwise the same (onnxruntime
re-duplicates a DQ shared by two ops itself before fusing them into QLinear kernels).
"""
from __future__ import annotations

import numpy as np

from graphkit.passes.base import Pass, Report, graph_label
from graphkit.passes.fold_constants import is_training_dropout
from graphkit.surgery._util import all_graphs, ensure_ir_allows_free_initializers, label, opset_of


class Prune(Pass):
    name = "prune"
    requires_acyclic = True

    def __init__(self, identities: bool = True, dropout: bool = True, dedupe: bool = True,
                 initializer_inputs: bool = True):
        self.identities, self.dropout, self.dedupe = identities, dropout, dedupe
        self.initializer_inputs = initializer_inputs

    def run(self, model, report: Report) -> None:
        if self.initializer_inputs:
            _initializer_inputs(model, report)
        for g in all_graphs(model.graph):
            where = graph_label(g)
            if self.identities or self.dropout:
                _bypass(model, g, where, report, self.identities, self.dropout)
        _dead_nodes(model.graph, report)  # recursive: live subgraphs are pruned from within
        for g in all_graphs(model.graph):
            where = graph_label(g)
            if self.dedupe:
                _dedupe_initializers(g, where, report)
                _dedupe_nodes(g, where, report)
            _unused_initializers(g, where, report)
            _stale_value_info(g, where, report)


# -- dead nodes ---------------------------------------------------------------------------------
def _dead_nodes(g, report: Report) -> None:
    """Mark-and-sweep from the graph outputs; subgraphs of live nodes are pruned recursively."""
    live: set = set()  # nodes (hashed by identity)
    stack = [v.producer for v in g.outputs if v.producer is not None and v.producer._graph is g]
    push = stack.append
    while stack:
        node = stack.pop()
        if node in live:
            continue
        live.add(node)
        for v in (node.inputs if node._attrs is None else _reads(node, report)):
            if v is not None:
                p = v._producer
                if p is not None and p not in live and p._graph is g:
                    push(p)
    dead = [n for n in g if n not in live]
    if dead:
        where = graph_label(g)
        g.remove(*dead)
        _record(report, "removed_dead", dead, lambda n: {"node": label(n), "op": n.op_type, "graph": where})


def _record(report: Report, action: str, items: list, detail) -> None:
    """`report.add(action, **detail(item))` for many items at once: every change is counted, but
    detail dicts are built only for the ones the report keeps (a 100k-node prune adds 100k)."""
    if not items:
        return  # a zero count would still make the report "modified"
    report.counts[action] += len(items)
    room = max(report.max_details - len(report.details), 0)
    report.details.extend({"action": action, **detail(item)} for item in items[:room])


def _reads(node, report: Report) -> list:
    """Inputs of the node plus the outer values its subgraphs read (each pruned first)."""
    reads = [v for v in node.inputs if v is not None]
    if node._attrs is not None:
        for sub in node.subgraphs():
            _dead_nodes(sub, report)
            for n in sub.walk():
                reads.extend(v for v in n.inputs if v is not None)
            reads.extend(sub.outputs)
    return reads


# -- identities and dropout ---------------------------------------------------------------------
def _bypass(model, g, where: str, report: Report, identities: bool, dropout: bool) -> None:
    outputs = {id(v) for v in g.outputs}
    for node in g:
        op = node.op_type
        if node.domain not in ("", "ai.onnx") or not node.inputs or node.inputs[0] is None:
            continue
        if op == "Identity" and identities:
            pass
        elif op == "Dropout" and dropout:
            if is_training_dropout(node, opset_of(model, node)):
                continue
            if any(v.uses or id(v) in outputs for v in node.outputs[1:]):
                continue  # the mask is used
        else:
            continue
        src, out = node.inputs[0], node.outputs[0]
        if id(out) in outputs:
            if not _can_take_name(src, g, outputs):
                continue
            name, declared = out.name, out.type
            out.replace_all_uses_with(src, replace_graph_outputs=True)
            g.remove(node)
            node.outputs.clear()
            src.name = name
            if declared is not None:
                src.type = declared  # graph outputs need a type; keep the declared one
        else:
            out.replace_all_uses_with(src)
            g.remove(node)
        report.add("bypassed", node=label(node), op=op, graph=where)


def _can_take_name(src, g, outputs: set[int]) -> bool:
    """src may be renamed to a graph output's name: it is a node output of this graph, not
    itself a graph output, and not read by anyone whose name must stay (it has no other name)."""
    p = src._producer
    return p is not None and p._graph is g and id(src) not in outputs


# -- initializers --------------------------------------------------------------------------------
def _initializer_inputs(model, report: Report) -> None:
    g = model.graph
    inits = g.initializers
    keep = [v for v in g.inputs if inits.get(v.name) is not v]
    if len(keep) != len(g.inputs):
        for v in g.inputs:
            if inits.get(v.name) is v:
                report.add("input_made_initializer", value=v.name, graph="main")
        g.inputs[:] = keep
        ensure_ir_allows_free_initializers(model)


def _unused_initializers(g, where: str, report: Report) -> None:
    keep = {id(v) for v in g.outputs} | {id(v) for v in g.inputs}
    inits = g.initializers
    unused = [name for name, v in inits.items() if not v._uses and id(v) not in keep]
    for name in unused:  # what g.remove_initializer does; these are not graph inputs (see `keep`)
        dict.pop(inits, name)._graph = None
    _record(report, "removed_initializer", unused, lambda name: {"value": name, "graph": where})


def _dedupe_initializers(g, where: str, report: Report) -> None:
    """Merge initializers with equal dtype, shape and bytes. Small ones are keyed by their bytes;
    larger ones by a sample of them, then compared in full."""
    protected = {id(v) for v in g.outputs} | {id(v) for v in g.inputs}
    seen: dict = {}
    merged = []
    for v in list(g.initializers.values()):
        t = v._const
        if t is None or not v._uses or id(v) in protected:
            continue
        proto = t._proto
        raw = proto.raw_data if t._array is None and t._external is None else None
        if raw and len(raw) <= 64:  # the common tiny loaded tensor: its bytes are the key
            key, data, small = (proto.data_type, raw, *proto.dims), raw, True
        elif t.elem_type == 8:  # STRING: no raw layout to compare; left alone
            continue
        else:
            data = _data_bytes(t)
            small = len(data) <= 64
            key = (t.elem_type, bytes(data) if small else (bytes(data[:32]), bytes(data[-32:])), *t.shape)
        group = seen.get(key)
        if group is None:
            seen[key] = [(v, data)]
            continue
        twin = group[0][0] if small else next((w for w, d in group if _same(d, data)), None)
        if twin is None:
            group.append((v, data))
        else:
            v.replace_all_uses_with(twin)
            merged.append((v, twin))
    _record(report, "merged_initializer", merged, lambda m: {"value": m[0].name, "into": m[1].name, "graph": where})


def _same(a, b) -> bool:
    if len(a) != len(b):
        return False
    word = np.uint64 if len(a) % 8 == 0 else np.uint8  # 8 bytes per comparison: half the time of bytes
    return np.array_equal(np.frombuffer(a, word), np.frombuffer(b, word))


def _dedupe_nodes(g, where: str, report: Report) -> None:
    """Common subexpressions: a node equal to an earlier one (op, domain, attributes, the very same
    input values) is dropped and its readers read the earlier node's outputs."""
    from graphkit.passes.fold_constants import RANDOM_OPS
    from graphkit.surgery._util import node_proto

    outputs = {id(v) for v in g.outputs}
    groups: dict = {}
    skipped: set = set()  # visited nodes left out of `groups` because their first input had one reader

    def key_of(node):
        ids = tuple(id(v) if v is not None else 0 for v in node.inputs)
        if node.op_type in COMMUTATIVE and node.domain in ("", "ai.onnx"):
            ids = tuple(sorted(ids))  # Add(a, b) and Add(b, a) are one subexpression
        return (node.op_type, node.domain, ids, len(node.outputs))

    for node in g:
        first = node.inputs[0] if node.inputs else None
        if first is not None and len(first._uses) < 2:
            skipped.add(node)
            continue  # a twin would read the same first input: it has no other reader (yet)
        if node.op_type in RANDOM_OPS or not node.outputs:
            continue
        key = key_of(node)
        group = groups.get(key)
        if group is None:
            groups[key] = [node]
            continue
        if node._attrs is not None and next(iter(node.subgraphs()), None) is not None:
            continue
        if any(id(v) in outputs for v in node.outputs):
            continue
        mine = _attr_key(node, node_proto)
        twin = next((n for n in group if _attr_key(n, node_proto) == mine), None)
        if twin is None:
            group.append(node)
            continue
        for v, w in zip(node.outputs, twin.outputs):
            v.replace_all_uses_with(w)
            for reader, _ in w._uses:  # readers of `w` seen while it had one reader: now candidates
                if reader in skipped:
                    skipped.discard(reader)
                    groups.setdefault(key_of(reader), []).append(reader)
        g.remove(node)
        report.add("merged_node", node=label(node), into=label(twin), op=node.op_type, graph=where)


COMMUTATIVE = frozenset({"Add", "Mul", "And", "Or", "Xor", "Max", "Min", "Sum", "Mean", "Equal", "BitwiseAnd",
                         "BitwiseOr", "BitwiseXor"})


def _attr_key(node, node_proto) -> bytes:
    untouched = node._proto is not None and (not node._dirty or node._attrs is None)  # rewired only
    proto = node._proto if untouched else node_proto(node)
    return b"".join(a.SerializeToString(deterministic=True) for a in sorted(proto.attribute, key=lambda a: a.name))


def _data_bytes(tensor) -> memoryview:
    array = tensor._array
    if array is not None and array.dtype != object:
        return memoryview(np.ascontiguousarray(array).reshape(-1)).cast("B")
    return memoryview(tensor.raw_bytes()).cast("B")


def _stale_value_info(g, where: str, report: Report) -> None:
    keep, seen = [], set()
    for v in g.value_info:
        p = v._producer
        alive = (p is not None and p._graph is g) or v.is_initializer() or v.is_graph_input()
        if alive and id(v) not in seen:
            keep.append(v)
            seen.add(id(v))
        else:
            report.add("removed_value_info", value=v.name, graph=where)
    if len(keep) != len(g.value_info):
        g.value_info[:] = keep
