"""Helpers shared by surgery, the rewriter and the passes (things the IR does not offer itself):
unique names, model-wide value lookup, onnx shape inference results, node protos for kernels."""
from __future__ import annotations

import onnx

from graphkit.errors import GraphError
from graphkit.shape_inference import infer_shapes

DEFAULT_DOMAINS = ("", "ai.onnx")


def all_graphs(graph):
    """`graph` and every nested subgraph, depth first (parents before children)."""
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g:
            if node._attrs is not None:
                stack.extend(reversed(list(node.subgraphs())))


def all_values(graph):
    """Every value defined in `graph` or a subgraph (inputs, initializers, node outputs, value_info)."""
    for g in all_graphs(graph):
        yield from g.values()


def find_value(model_or_graph, name: str):
    """The Value named `name` anywhere in the model (main graph first), or GraphError."""
    graph = getattr(model_or_graph, "graph", model_or_graph)
    for g in all_graphs(graph):
        for v in g.values():
            if v.name == name:
                return v
        for v in g.outputs:  # an output may be an outer or dangling value
            if v.name == name:
                return v
    raise GraphError(f"no value named {name!r} in the model")


def find_node(model_or_graph, name: str):
    graph = getattr(model_or_graph, "graph", model_or_graph)
    found = graph.find(name=name, recursive=True)
    if not found:
        raise GraphError(f"no node named {name!r} in the model")
    return found[0]


class NameGen:
    """Fresh value/node names that collide with nothing in the model: `names.new("conv_fused")`."""

    def __init__(self, model_or_graph):
        graph = getattr(model_or_graph, "graph", model_or_graph)
        self.used: set[str] = set()
        for g in all_graphs(graph):
            self.used.update(v.name for v in g.values())
            self.used.update(v.name for v in g.outputs)
            self.used.update(n.name for n in g if n.name)
            for n in g:
                self.used.update(v.name for v in n.inputs if v is not None)
        self._next: dict[str, int] = {}

    def new(self, hint: str) -> str:
        hint = hint or "v"
        if hint not in self.used:
            self.used.add(hint)
            return hint
        i = self._next.get(hint, 1)
        while f"{hint}_{i}" in self.used:
            i += 1
        self._next[hint] = i + 1
        name = f"{hint}_{i}"
        self.used.add(name)
        return name


def inferred_types(model, data_prop: bool = False) -> dict[str, onnx.TypeProto]:
    """name -> TypeProto from onnx shape inference over the whole model (subgraphs included).
    Returns {} when inference fails (the caller then works with what the IR declares)."""
    proto = model.to_proto()
    try:
        inferred = infer_shapes(proto, strict_mode=False, data_prop=data_prop)
    except Exception:  # noqa: BLE001 - inference errors must not break a pass
        return {}
    types: dict[str, onnx.TypeProto] = {}

    def collect(gp: onnx.GraphProto) -> None:
        for vi in (*gp.input, *gp.value_info, *gp.output):
            if vi.HasField("type"):
                types.setdefault(vi.name, vi.type)
        for node in gp.node:
            for a in node.attribute:
                if a.HasField("g"):
                    collect(a.g)
                for sub in a.graphs:
                    collect(sub)

    collect(inferred.graph)
    return types


def type_shape(tp: onnx.TypeProto | None) -> tuple | None:
    """Shape tuple of a tensor TypeProto: ints, str (symbolic) or None (unknown); None = no rank."""
    if tp is None or not tp.HasField("tensor_type") or not tp.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in tp.tensor_type.shape.dim:
        which = d.WhichOneof("value")
        dims.append(d.dim_value if which == "dim_value" else d.dim_param if which == "dim_param" else None)
    return tuple(dims)


def static_shape(value, types: dict | None = None) -> tuple[int, ...] | None:
    """The value's shape if every dim is a known int (declared, constant or inferred), else None."""
    const = value.const_value
    if const is not None:
        return tuple(const.shape)
    for shape in (value.shape, type_shape(types.get(value.name)) if types else None):
        if shape is not None and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            return tuple(shape)
    return None


def node_proto(node) -> onnx.NodeProto:
    from graphkit.io.to_proto import node_to_proto

    return node_to_proto(node, lambda name, t: t.to_proto(name, inline=True))


def is_default_domain(node) -> bool:
    return node.domain in DEFAULT_DOMAINS


def opset_of(model, node) -> int:
    dom = "" if node.domain in DEFAULT_DOMAINS else node.domain
    opsets = model.opset_imports
    return opsets.get(dom, opsets.get("ai.onnx", 0) if dom == "" else 0)


def ensure_ir_allows_free_initializers(model) -> None:
    """IR < 4 requires every initializer to be a graph input; lift the model to IR 4."""
    model.ir_version = max(model.ir_version, 4)


def graph_outputs_set(g) -> set[int]:
    return {id(v) for v in g.outputs}


def label(node) -> str:
    return node.name or f"{node.op_type}({', '.join(v.name for v in node.outputs)})"
