"""A model at a glance: op histogram, inputs/outputs, parameter count, opsets; and, for
`graphkit inspect --show`, its nodes, tensors and weights by name.

`summarize` takes a graphkit Model (what `graphkit inspect` uses: sizes come from tensor headers,
external data is never read) or an onnx.ModelProto (the demo's path). Both give the same keys.

How graphkit writes a type, everywhere (inspect, run, verify, errors): `type_text(dtype, shape)`,
the dtype's numpy name and the dims in brackets, `float32[batch, 3, 32, 32]`; `?` is an unknown dim,
`[...]` an unknown rank.
"""
from __future__ import annotations

import math
from collections import Counter

import onnx

from graphkit.errors import GraphkitError

# ONNX element type names that differ from numpy's (ml_dtypes') names
_ONNX_NAMES = {"FLOAT": "float32", "DOUBLE": "float64", "FLOAT8E4M3FN": "float8_e4m3fn",
               "FLOAT8E4M3FNUZ": "float8_e4m3fnuz", "FLOAT8E5M2": "float8_e5m2", "FLOAT8E5M2FNUZ": "float8_e5m2fnuz",
               "FLOAT8E8M0": "float8_e8m0fnu", "FLOAT4E2M1": "float4_e2m1fn"}
_RANDOM_OPS = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


def dtype_name(dtype) -> str:
    """numpy's name of an element type given as an ONNX enum value or a numpy dtype; '?' if unknown."""
    if dtype is None or dtype == 0:
        return "?"
    if isinstance(dtype, int):
        try:
            name = onnx.TensorProto.DataType.Name(dtype)
        except ValueError:
            return f"unknown-type-{dtype}"
        return _ONNX_NAMES.get(name, name.lower())
    name = getattr(dtype, "name", None) or str(dtype)
    return "string" if name == "object" else name


def shape_text(shape) -> str:
    """`[batch, 3, 32, 32]`; `?` for an unknown dim, `[...]` for an unknown rank."""
    if shape is None:
        return "[...]"
    return "[" + ", ".join("?" if d is None or d == "" else str(d) for d in shape) + "]"


def type_text(dtype, shape) -> str:
    """`float32[batch, 3, 32, 32]`: the one notation of a tensor type in graphkit's output; a
    sequence or map type comes already written (`seq(map(int64, float32))`, graphkit/values.py)."""
    if isinstance(dtype, str) and dtype.startswith(("seq(", "map(", "optional(")):
        return dtype
    return dtype_name(dtype) + shape_text(shape)


def _itemsize(elem_type: int) -> int:
    from onnx import helper

    try:
        return helper.tensor_dtype_to_np_dtype(elem_type).itemsize
    except (KeyError, ValueError, TypeError):
        return 0


def _type_text(vi: onnx.ValueInfoProto) -> tuple[str, list]:
    t = vi.type
    kind = t.WhichOneof("value")
    if kind != "tensor_type":
        from graphkit.values import type_text as value_type_text

        return (value_type_text(t), None)
    tt = t.tensor_type
    dtype = dtype_name(tt.elem_type)
    if not tt.HasField("shape"):
        return dtype, None
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
    return dtype, dims


def _count_nodes(graph: onnx.GraphProto, histogram: Counter) -> int:
    total = 0
    for node in graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        histogram[key] += 1
        total += 1
        for attr in node.attribute:
            for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                total += _count_nodes(g, histogram)
    return total


def _tensor_numel(t: onnx.TensorProto) -> int:
    return math.prod(t.dims) if t.dims else 1


def summarize(model) -> dict:
    """JSON-ready summary of a model (nodes in subgraphs are counted too)."""
    if not isinstance(model, onnx.ModelProto):
        return _summarize_ir(model)
    graph = model.graph
    histogram: Counter = Counter()
    node_count = _count_nodes(graph, histogram)
    initializer_names = {t.name for t in graph.initializer}
    params = sum(_tensor_numel(t) for t in graph.initializer)
    param_bytes = sum(_tensor_numel(t) * _itemsize(t.data_type) for t in graph.initializer if t.data_type)
    # weights stored as Constant nodes count as parameters too (common in exported models)
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    params += _tensor_numel(attr.t)

    def io(vi):
        dtype, shape = _type_text(vi)
        return {"name": vi.name, "dtype": dtype, "shape": shape}

    return {
        "graph_name": graph.name,
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opsets": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "inputs": [io(vi) for vi in graph.input if vi.name not in initializer_names],
        "outputs": [io(vi) for vi in graph.output],
        "nodes": node_count,
        "ops": dict(histogram.most_common()),
        "initializers": len(graph.initializer),
        "parameters": params,
        "parameters_after_folding": None,
        "parameter_bytes": param_bytes,
        "functions": [f"{f.domain}::{f.name}" for f in model.functions],
    }


def _summarize_ir(model) -> dict:
    graph = model.graph
    histogram: Counter = Counter()
    node_count = 0
    params = param_bytes = 0
    for node in graph.walk():
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        histogram[key] += 1
        node_count += 1
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.graph is graph:
            t = node.outputs[0].const_value if node.outputs else None
            if t is not None:
                params += t.size
    for v in graph.initializers.values():
        t = v.const_value
        params += t.size
        try:
            param_bytes += t.nbytes
        except GraphkitError:  # an unknown element type: counted in parameters, not in bytes
            pass

    initialized = graph.initializers
    folded = folded_parameters(model)
    return {
        "graph_name": graph.name,
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opsets": {(d or "ai.onnx"): v for d, v in model.opset_imports.items()},
        "inputs": [_io(v) for v in graph.inputs if initialized.get(v.name) is not v],
        "outputs": [_io(v) for v in graph.outputs],
        "nodes": node_count,
        "ops": dict(histogram.most_common()),
        "initializers": len(initialized),
        "parameters": params,
        "parameters_after_folding": folded,
        "parameter_bytes": param_bytes,
        "functions": [f"{f.domain}::{f.name}" for f in model.functions],
    }


def _io(v, types: dict | None = None) -> dict:
    t = v.type
    kind = t.WhichOneof("value") if t is not None else None
    if kind not in (None, "tensor_type"):
        from graphkit.values import type_text as value_type_text

        return {"name": v.name, "dtype": value_type_text(t), "shape": None}
    shape = v.shape
    elem = v.elem_type
    if types and (shape is None or not elem):
        from graphkit.surgery._util import type_shape

        inferred = types.get(v.name)
        if inferred is not None and inferred.HasField("tensor_type"):
            elem = elem or inferred.tensor_type.elem_type
            shape = shape if shape is not None else type_shape(inferred)
    return {"name": v.name, "dtype": dtype_name(elem),
            "shape": None if shape is None else [("?" if d is None else d) for d in shape]}


# -- parameters after folding ---------------------------------------------------------------------
def folded_parameters(model) -> int | None:
    """Parameters once constant subexpressions are folded (`graphkit fold`): the constant values
    that something else than a constant computation reads (or graph outputs), sized by shape
    inference. None when folding would compute nothing (no node reads only constants) or a
    folded size is unknown."""
    g = model.graph
    const = {id(v) for v in g.initializers.values()}  # as `fold` treats them, graph inputs or not
    folded: set[int] = set()       # main-graph nodes that folding evaluates
    candidates: list = []          # constant values: initializers, Constant outputs, computed values
    computed = False
    changed = True
    while changed:  # a fixed point: the file order need not be topological
        changed = False
        for node in g:
            if id(node) in folded or node.op_type in _RANDOM_OPS or any(True for _ in node.subgraphs()):
                continue
            is_constant = node.op_type == "Constant" and node.domain in ("", "ai.onnx")
            if not is_constant and not (node.inputs and all(v is None or id(v) in const for v in node.inputs)):
                continue
            folded.add(id(node))
            const.update(id(o) for o in node.outputs)
            candidates.extend(o for o in node.outputs if o.name)
            computed = computed or not is_constant
            changed = True
    if not computed:
        return None
    from graphkit.surgery._util import inferred_types, type_shape

    types = inferred_types(model, data_prop=True)
    outputs = {id(v) for v in g.outputs}
    keys: dict[int, tuple] = {}
    total, counted = 0, set()
    for v in [*g.initializers.values(), *candidates]:
        key = _value_key(v, keys)
        if id(v) in const and id(v) not in outputs and all(id(n) in folded for n in v.consumers):
            continue  # only constant computations read it: gone after folding
        if key in counted:
            continue  # the same constant computed twice: `prune` keeps one copy
        counted.add(key)
        if v.const_value is not None:
            total += v.const_value.size
            continue
        shape = type_shape(types.get(v.name))
        if shape is None or not all(isinstance(d, int) for d in shape):
            return None
        total += math.prod(shape)
    return total


def _value_key(v, keys: dict[int, tuple]) -> tuple:
    """Equal keys: equal constants (small tensors by content, computed values by op, attributes
    and input keys), as `prune` merges duplicate initializers after folding.

    Iterative, inputs first: a long chain of computed constants must not exhaust Python's stack,
    and a malformed file can make one a cycle (a node turned into a Constant that keeps its inputs);
    a value met again on its own cycle is keyed by its identity."""
    pending, entered = [v], set()
    while pending:
        value = pending[-1]
        if id(value) in keys:
            pending.pop()
            continue
        node = value.producer
        if value.const_value is None and node is not None and id(value) not in entered:
            entered.add(id(value))
            pending.extend(i for i in node.inputs if i is not None and id(i) not in keys)
            continue
        keys[id(value)] = _own_key(value, keys)
        pending.pop()
    return keys[id(v)]


def _own_key(v, keys: dict[int, tuple]) -> tuple:
    """The key of `v`, its inputs' keys already in `keys` (or missing on a cycle)."""
    t = v.const_value
    node = v.producer
    if t is not None and t.size <= 4096 and not t.is_external:
        try:
            return ("tensor", t.elem_type, t.shape, t.numpy().tobytes())
        except GraphkitError:
            pass
    elif t is None and node is not None:
        from graphkit.surgery._util import node_proto

        proto = node_proto(node)
        # sorted by their bytes (the name comes first), never by comparing names: protobuf hands a name
        # that is not UTF-8 back as bytes, which once raised a TypeError here (gk.load refuses those now)
        attrs = b"".join(sorted(a.SerializeToString() for a in proto.attribute))
        inputs = tuple(None if i is None else keys.get(id(i), ("value", id(i))) for i in node.inputs)
        return ("node", node.domain, node.op_type, attrs, inputs, v.index)
    return ("value", id(v))


def parameters_text(summary: dict) -> str:
    """`757` or `757 (926,568 after folding)`."""
    text = f"{summary['parameters']:,}"
    folded = summary.get("parameters_after_folding")
    if folded is not None and folded != summary["parameters"]:
        text += f" ({folded:,} after folding)"
    return text


def format_summary(summary: dict) -> str:
    """Human-readable text of `summarize()`'s result."""
    lines = [
        f"graph {summary['graph_name']!r}  ir_version {summary['ir_version']}  producer {summary['producer'] or '-'}",
        "opsets: " + ", ".join(f"{d} {v}" for d, v in summary["opsets"].items()),
        (f"nodes: {summary['nodes']}   parameters: {parameters_text(summary)} "
         f"({summary['parameter_bytes'] / 1e6:.2f} MB in {summary['initializers']} initializers)"),
    ]
    for kind in ("inputs", "outputs"):
        for v in summary[kind]:
            lines.append(f"{kind[:-1]:>7}: {v['name']}  {type_text(v['dtype'], v['shape'])}")
    ops = ", ".join(f"{op} x{n}" for op, n in summary["ops"].items())
    lines.append(f"    ops: {ops}")
    return "\n".join(lines)


# -- inspect --show -------------------------------------------------------------------------------
SHOW = ("io", "nodes", "tensors", "weights")


def details(model, show) -> dict:
    """The sections of `graphkit inspect --show` as JSON-ready lists: `io` (inputs and outputs with
    their readers and default random ranges), `node_list`, `tensors`, `weights`. Types of
    intermediates come from their declarations, else from onnx shape inference."""
    from graphkit.surgery._util import all_graphs, inferred_types

    g = model.graph
    types = inferred_types(model) if {"nodes", "tensors"} & set(show) else {}
    out: dict = {}
    if "io" in show:
        ranges = _index_ranges(model)
        out["io"] = {
            "inputs": [{**_io(v), "read_by": [_label(n) for n in v.consumers],
                        "default_range": ranges.get(v.name)}
                       for v in g.inputs if g.initializers.get(v.name) is not v],
            "outputs": [{**_io(v, types), "produced_by": _label(v.producer) if v.producer else None}
                        for v in g.outputs],
        }
    if "nodes" in show:
        nodes = []
        for depth, graph in _graphs_with_depth(g):
            for node in graph:
                nodes.append({"name": _label(node), "op": node.op_type, "domain": node.domain or "ai.onnx",
                              "graph": graph.name, "depth": depth,
                              "inputs": [_io(v, types) if v is not None else None for v in node.inputs],
                              "outputs": [_io(v, types) for v in node.outputs]})
        out["node_list"] = nodes
    if "tensors" in show:
        tensors = []
        for graph in all_graphs(g):
            for v in graph.values():
                if v.is_initializer() or (v.producer is not None and v.producer.op_type == "Constant"):
                    continue
                tensors.append({**_io(v, types), "graph": graph.name,
                                "producer": _label(v.producer) if v.producer else None,
                                "consumers": [_label(n) for n in v.consumers],
                                "graph_input": v.is_graph_input(), "graph_output": v.is_graph_output()})
        out["tensors"] = tensors
    if "weights" in show:
        weights = []
        for graph in all_graphs(g):
            consts = [*graph.initializers.values(),
                      *(o for n in graph if n.op_type == "Constant" for o in n.outputs[:1])]
            for v in consts:
                t = v.const_value
                if t is None:
                    continue
                try:
                    nbytes = t.nbytes
                except GraphkitError:
                    nbytes = None
                weights.append({"name": v.name, "dtype": dtype_name(t.elem_type), "shape": list(t.shape),
                                "parameters": t.size, "bytes": nbytes, "external": t.is_external,
                                "constant_node": not v.is_initializer(), "graph": graph.name,
                                "read_by": [_label(n) for n in v.consumers]})
        out["weights"] = weights
    return out


def _graphs_with_depth(g, depth: int = 0):
    yield depth, g
    for node in g:
        for sub in node.subgraphs():
            yield from _graphs_with_depth(sub, depth + 1)


def _index_ranges(model) -> dict:
    try:
        from graphkit.verification.feeds import index_ranges

        return {k: {"lo": r.lo, "hi": r.hi, "why": r.why} for k, r in index_ranges(model.to_proto().graph).items()}
    except Exception:  # noqa: BLE001 - a nicety; inspect must describe models nothing else can read
        return {}


def _label(node) -> str:
    return node.name or f"{node.op_type}({', '.join(v.name for v in node.outputs)})"


def _v(d: dict | None) -> str:
    return "-" if d is None else f"{d['name']} {type_text(d['dtype'], d['shape'])}"


def format_details(sections: dict) -> str:
    """Text of `details()`: one line per input/output, node, tensor or weight."""
    lines = []
    if "io" in sections:
        lines.append("")
        lines.append("inputs and outputs:")
        for v in sections["io"]["inputs"]:
            line = f"  input  {_v(v)}  read by {', '.join(v['read_by']) or 'nothing'}"
            r = v.get("default_range")
            if r:
                line += f"; random values default to [{r['lo']:g}, {r['hi']:g}] ({r['why']})"
            lines.append(line)
        for v in sections["io"]["outputs"]:
            lines.append(f"  output {_v(v)}  from {v['produced_by'] or '(a graph input or initializer)'}")
    if "node_list" in sections:
        lines.append("")
        lines.append(f"nodes ({len(sections['node_list'])}):")
        for i, n in enumerate(sections["node_list"]):
            op = n["op"] if n["domain"] == "ai.onnx" else f"{n['domain']}::{n['op']}"
            indent = "  " * (n["depth"] + 1)
            lines.append(f"{indent}[{i}] {op} {n['name']!r}: {', '.join(_v(v) for v in n['inputs'])} -> "
                         f"{', '.join(_v(v) for v in n['outputs'])}")
    if "tensors" in sections:
        lines.append("")
        lines.append(f"tensors ({len(sections['tensors'])}):")
        for t in sections["tensors"]:
            source = "graph input" if t["graph_input"] else f"from {t['producer']}"
            readers = ", ".join(t["consumers"]) or ("graph output" if t["graph_output"] else "nothing")
            lines.append(f"  {_v(t)}  {source} -> {readers}")
    if "weights" in sections:
        lines.append("")
        lines.append(f"weights ({len(sections['weights'])}):")
        for w in sections["weights"]:
            size = "?" if w["bytes"] is None else f"{w['bytes']:,} B"
            where = " external" if w["external"] else (" Constant node" if w["constant_node"] else "")
            lines.append(f"  {_v(w)}  {w['parameters']:,} params  {size}{where}  read by "
                         f"{', '.join(w['read_by']) or 'nothing'}")
    return "\n".join(lines)
