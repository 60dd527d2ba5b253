"""gk.extract: the part of a model between given input and output values, as a new Model.

    sub = gk.extract(model, inputs=["r7"], outputs=["r12", "r13"])
    gk.save(sub, "block.onnx")      # checker-valid: typed inputs/outputs, only needed initializers

The original model is not modified. Every value the outputs depend on must be computable from
the given inputs and constants; otherwise GraphError names the missing value.
"""
from __future__ import annotations

import onnx

from graphkit.errors import GraphError
from graphkit.surgery._util import find_value, inferred_types


def extract(model, inputs, outputs):
    """New Model computing `outputs` (names) from `inputs` (names) of the main graph."""
    from graphkit.io.load import load

    g = model.graph
    inputs, outputs = list(inputs), list(outputs)
    if not outputs:
        raise GraphError("extract needs at least one output")
    ins = {name: _main_value(model, name) for name in inputs}
    outs = [_main_value(model, name) for name in outputs]
    stop = {id(v) for v in ins.values()}
    needed_nodes, needed_inits, stack = set(), {}, list(outs)
    seen = set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if id(v) in stop:
            continue
        p = v.producer
        if p is not None and p.graph is g:
            if id(p) not in needed_nodes:
                needed_nodes.add(id(p))
                stack.extend(_reads(p))
        elif v.is_initializer():
            needed_inits[v.name] = v
        elif v.is_graph_input():
            raise GraphError(f"extract: output(s) {outputs} depend on graph input {v.name!r}, which is not "
                             f"among the given inputs {inputs}")
        else:
            raise GraphError(f"extract: value {v.name!r} has no producer in the main graph")
    full = model.to_proto()
    types = None
    order = [i for i, n in enumerate(g) if id(n) in needed_nodes]
    new = onnx.GraphProto(name=(g.name or "graph") + "_extract")
    new.node.extend(full.graph.node[i] for i in order)
    new.initializer.extend(t for t in full.graph.initializer if t.name in needed_inits)
    for field, values in ((new.input, list(ins.values())), (new.output, outs)):
        for v in values:
            tp = v.type
            if tp is None or not tp.HasField("tensor_type") or not tp.tensor_type.elem_type:
                types = inferred_types(model) if types is None else types
                tp = types.get(v.name)
            if tp is None:
                raise GraphError(f"extract: the type of {v.name!r} is unknown (declare it or run shape inference)")
            vi = field.add(name=v.name)
            vi.type.CopyFrom(tp)
    known = {vi.name for vi in (*new.input, *new.output)}
    produced = {o for n in new.node for o in n.output}
    new.value_info.extend(vi for vi in full.graph.value_info if vi.name in produced and vi.name not in known)
    proto = onnx.ModelProto(ir_version=max(full.ir_version, 4), producer_name="graphkit.extract")
    proto.opset_import.extend(full.opset_import)
    proto.functions.extend(full.functions)
    proto.graph.CopyFrom(new)
    result = load(proto)
    result.source_path = None
    return result


def _main_value(model, name: str):
    v = find_value(model, name)
    if v.graph is not model.graph and not v.is_graph_output():
        raise GraphError(f"extract: {name!r} is defined inside a subgraph; give values of the main graph")
    return v


def _reads(node) -> list:
    """Inputs of the node and the values of its graph that its subgraphs read."""
    g = node.graph
    reads = [v for v in node.inputs if v is not None]
    for sub in node.subgraphs():
        for n in sub.walk():
            reads.extend(v for v in n.inputs if v is not None and v.graph is g)
        reads.extend(v for v in sub.outputs if v.graph is g)
    return reads


