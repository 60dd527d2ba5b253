"""A model at a glance: op histogram, inputs/outputs, parameter count, opsets.

`summarize` takes a graphkit Model (what `graphkit inspect` uses: sizes come from tensor headers,
external data is never read) or an onnx.ModelProto (the demo's path). Both give the same keys.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import helper

from graphkit.errors import GraphkitError


def _dtype_name(elem_type: int) -> str:
    if not elem_type:
        return "?"
    try:
        return onnx.TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"unknown-type-{elem_type}"


def _itemsize(elem_type: int) -> int:
    try:
        return helper.tensor_dtype_to_np_dtype(elem_type).itemsize
    except (KeyError, ValueError, TypeError):
        return 0


def _type_text(vi: onnx.ValueInfoProto) -> tuple[str, list]:
    t = vi.type
    kind = t.WhichOneof("value")
    if kind != "tensor_type":
        return (kind or "unknown", [])
    tt = t.tensor_type
    dtype = _dtype_name(tt.elem_type)
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
    return int(np.prod(t.dims, dtype=np.int64)) if t.dims else 1


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

    def io(v):
        t = v.type
        kind = t.WhichOneof("value") if t is not None else None
        if kind not in (None, "tensor_type"):
            return {"name": v.name, "dtype": kind, "shape": []}
        dtype = _dtype_name(v.elem_type)
        shape = v.shape
        return {"name": v.name, "dtype": dtype,
                "shape": None if shape is None else [("?" if d is None else d) for d in shape]}

    initialized = graph.initializers
    return {
        "graph_name": graph.name,
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opsets": {(d or "ai.onnx"): v for d, v in model.opset_imports.items()},
        "inputs": [io(v) for v in graph.inputs if initialized.get(v.name) is not v],
        "outputs": [io(v) for v in graph.outputs],
        "nodes": node_count,
        "ops": dict(histogram.most_common()),
        "initializers": len(initialized),
        "parameters": params,
        "parameter_bytes": param_bytes,
        "functions": [f"{f.domain}::{f.name}" for f in model.functions],
    }


def _shape_text(shape) -> str:
    if shape is None:
        return "[unknown rank]"
    return "[" + ", ".join(str(d) for d in shape) + "]"


def format_summary(summary: dict) -> str:
    """Human-readable text of `summarize()`'s result."""
    lines = [
        f"graph {summary['graph_name']!r}  ir_version {summary['ir_version']}  producer {summary['producer'] or '-'}",
        "opsets: " + ", ".join(f"{d} {v}" for d, v in summary["opsets"].items()),
        (f"nodes: {summary['nodes']}   parameters: {summary['parameters']:,} "
         f"({summary['parameter_bytes'] / 1e6:.2f} MB in {summary['initializers']} initializers)"),
    ]
    for kind in ("inputs", "outputs"):
        for v in summary[kind]:
            lines.append(f"{kind[:-1]:>7}: {v['name']}  {v['dtype']}{_shape_text(v['shape'])}")
    ops = ", ".join(f"{op} x{n}" for op, n in summary["ops"].items())
    lines.append(f"    ops: {ops}")
    return "\n".join(lines)
