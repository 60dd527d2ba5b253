"""Local graph edits: insert, remove, replace, rename; graph outputs (input shapes: shapes.py).

    relu = gk.insert_node(model, "conv_out", "Relu")        # readers of conv_out now read relu
    gk.remove_node(model, "dropout_1")                      # its readers read its input
    gk.replace_nodes(model, [conv, bn], [fused])            # escaping outputs mapped positionally
    gk.rename_value(model, "r7", "features")                # subgraph references follow
    gk.add_output(model, "features"); gk.remove_output(model, "prob")

Values and nodes may be given as objects or by name (searched in every graph). Functions return
the node(s) they create; graph outputs keep their names unless said otherwise.
"""
from __future__ import annotations

from graphkit.errors import GraphError
from graphkit.ir.node import Node
from graphkit.ir.value import Value
from graphkit.surgery._util import NameGen, find_node, find_value, inferred_types, label


def _value(model, v) -> Value:
    return find_value(model, v) if isinstance(v, str) else v


def _node(model, n) -> Node:
    return find_node(model, n) if isinstance(n, str) else n


def find(model, op=None, name=None, domain=None, where=None, recursive: bool = True) -> list[Node]:
    """Nodes matching every given criterion, subgraphs included by default."""
    return model.graph.find(op=op, name=name, domain=domain, where=where, recursive=recursive)


def insert_node(model, value, op_or_node, *, inputs=None, name: str = "", domain: str = "",
                **attributes) -> Node:
    """Insert a node reading `value`; every former reader of `value` (subgraphs included, and the
    graph outputs) reads the new node's output instead. `inputs` defaults to [value]. When `value`
    is a graph output, the new output takes over its name (`value` is renamed `<name>_pre`)."""
    value = _value(model, value)
    g = value.graph
    if g is None:
        raise GraphError(f"value {value.name!r} is not defined in any graph")
    names = NameGen(model)
    if isinstance(op_or_node, Node):
        node = op_or_node
        if not any(v is value for v in node.inputs):
            raise GraphError(f"node {label(node)!r} does not read {value.name!r}")
    else:
        node = Node(op_or_node, list(inputs) if inputs is not None else [value], 1, domain=domain,
                    name=name or names.new(f"{value.name}_{op_or_node}"), attributes=attributes)
    if len(node.outputs) != 1:
        raise GraphError(f"insert_node needs a node with one output, {label(node)!r} has {len(node.outputs)}")
    out = node.outputs[0]
    if not out.name:
        out.name = names.new(f"{value.name}_{node.op_type.lower()}")
    readers = list(value.uses)
    producer = value.producer
    if producer is not None and producer.graph is g:
        g.insert_after(producer, node)
    elif len(g):
        g.insert_before(g.nodes[0], node)
    else:
        g.append(node)
    for reader, i in readers:
        reader.inputs[i] = out
    if value.is_graph_output():
        old = value.name
        value.name = names.new(f"{old}_pre")
        out.name = old
        g.outputs[:] = [out if v is value else v for v in g.outputs]
        if value.type is not None and out.type is None:
            out.type = value.type
    return node


def remove_node(model, node) -> None:
    """Remove a node with one data input and one output; its readers (and graph outputs) read
    its input instead. Other inputs must be constants or absent. A graph output keeps its name
    when the input can take it (a node output of the same graph that is not an output itself)."""
    node = _node(model, node)
    g = node.graph
    if g is None:
        raise GraphError(f"node {label(node)!r} is not in a graph")
    data = [v for v in node.inputs if v is not None and v.const_value is None]
    if len(data) != 1:
        consts = [v for v in node.inputs if v is not None]
        data = consts[:1] if not data and len(consts) == 1 else data
    if len(data) != 1:
        raise GraphError(f"remove_node: {label(node)!r} has {len(data)} non-constant inputs; expected exactly 1")
    used = [v for v in node.outputs if v.uses or v.is_graph_output()]
    if len(used) > 1 or not node.outputs:
        raise GraphError(f"remove_node: {label(node)!r} has {len(used)} used outputs; expected 1")
    src, out = data[0], node.outputs[0]
    is_output = out.is_graph_output()
    can_rename = is_output and src.producer is not None and src.producer.graph is g and not src.is_graph_output()
    name, declared = out.name, out.type
    out.replace_all_uses_with(src, replace_graph_outputs=True)
    g.remove(node)
    if is_output and src.type is None and declared is not None:
        src.type = declared
    if can_rename:
        node.outputs.clear()
        src.name = name
        if declared is not None:
            src.type = declared


def replace_nodes(model, old, new, outputs: dict | None = None) -> list[Node]:
    """Replace the nodes `old` (one node or a connected set, all in one graph) by `new`.

    `new` nodes read existing values; `outputs` maps each old value that is read outside `old`
    (or is a graph output) to the new value replacing it — by default the escaping outputs, in
    order, map to the last new node's outputs. The old Value objects (and names) are kept.
    """
    old = [_node(model, n) for n in ([old] if isinstance(old, (Node, str)) else old)]
    new = [new] if isinstance(new, Node) else list(new)
    g = old[0].graph
    if g is None or any(n.graph is not g for n in old):
        raise GraphError("replace_nodes: the old nodes must all be in one graph")
    inside = {id(n) for n in old}
    graph_outs = {id(v) for v in g.outputs}
    escaping = [v for n in old for v in n.outputs
                if id(v) in graph_outs or any(id(u) not in inside for u, _ in v.uses)]
    if outputs is None:
        if len(escaping) > len(new[-1].outputs):
            raise GraphError(f"replace_nodes: {len(escaping)} values escape the replaced nodes "
                             f"({[v.name for v in escaping]}) but the last new node has {len(new[-1].outputs)} outputs")
        mapping = {id(v): (v, new[-1].outputs[i]) for i, v in enumerate(escaping)}
    else:
        mapping = {id(_value(model, k)): (_value(model, k), w) for k, w in outputs.items()}
        missing = [v.name for v in escaping if id(v) not in mapping]
        if missing:
            raise GraphError(f"replace_nodes: no replacement given for escaping values {missing}")
    for n in new:
        for v in n.inputs:
            if v is not None and v.producer is not None and id(v.producer) in inside and id(v) not in mapping:
                raise GraphError(f"replace_nodes: new node {label(n)!r} reads {v.name!r}, produced by a "
                                 f"node being removed")
    order = {id(n): i for i, n in enumerate(g)}
    last = max(old, key=lambda n: order[id(n)])
    names = NameGen(model)
    g.insert_after(last, *new)
    g.remove(*old)
    for o, w in mapping.values():
        producer, index = w.producer, w.index
        w.replace_all_uses_with(o)
        if producer is not None:
            if o.producer is not None:
                o.producer.outputs[o.index] = Value("")
            producer.outputs[index] = o
    for n in new:
        if not n.name:
            n.name = names.new(n.op_type)
        for v in n.outputs:
            if not v.name:
                v.name = names.new(f"{n.name}_out")
    _sort_if_needed(g)
    return new


def _sort_if_needed(g) -> None:
    from graphkit.passes.toposort import sort_graph

    sort_graph(g)


def rename_value(model, old, new: str) -> Value:
    """Rename a value everywhere (subgraphs read the same Value object, so they follow)."""
    v = _value(model, old)
    if new != v.name and new in NameGen(model).used:
        raise GraphError(f"cannot rename {v.name!r} to {new!r}: that name is already used")
    v.name = new
    return v


def rename_node(model, old, new: str) -> Node:
    node = _node(model, old)
    if new != node.name and model.graph.find(name=new, recursive=True):
        raise GraphError(f"cannot rename node {node.name!r} to {new!r}: a node already has that name")
    node.name = new
    return node


def add_output(model, value, graph=None) -> Value:
    """Make a value an output of its graph (type from shape inference if it has none)."""
    v = _value(model, value)
    g = graph or v.graph
    if g is None:
        raise GraphError(f"value {v.name!r} is not defined in any graph")
    if v.is_graph_output():
        return v
    if v.type is None or not v.elem_type:
        tp = inferred_types(model).get(v.name)
        if tp is None:
            raise GraphError(f"cannot add output {v.name!r}: its type is unknown (shape inference found none)")
        v.type = tp
    g.outputs.append(v)
    return v


def remove_output(model, value, graph=None) -> None:
    """Drop a graph output (the nodes computing it stay until `prune`)."""
    g = graph or model.graph
    names = [v.name for v in g.outputs]
    name = value if isinstance(value, str) else value.name
    if name not in names:
        raise GraphError(f"{name!r} is not an output of the graph; outputs: {names}")
    g.outputs[:] = [v for v in g.outputs if v.name != name]
