"""Small ModelProto helpers for verification: topology, value names, input shapes, extraction,
and where a model's weights live.

Everything here works on plain onnx protos (no graphkit IR needed) and never mutates its argument.

Weights on disk: a model verify loads from a file keeps its large initializers as external-data
references, so the proto stays small (an LLM's is tens of kB, whatever its weights weigh). The file
it came from is remembered here, by the proto's identity, while a `model_files()` scope lasts
(gk.verify opens one); runtimes map the weights from there through refruntime.external_data's
checks, `initializer_array` reads one of them, and `extract_nodes` copies only the weights of the
nodes it extracts.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graphkit.errors import UsageError
from graphkit.shape_inference import infer_shapes


@dataclass(frozen=True)
class NodeInfo:
    """One node of the main graph, in topological order."""

    index: int
    node: onnx.NodeProto

    @property
    def label(self) -> str:  # same rule as refruntime's Step.label
        return self.node.name or f"{self.node.op_type}_{self.index}"

    @property
    def op(self) -> str:
        return self.node.op_type

    @property
    def outputs(self) -> list[str]:
        return [n for n in self.node.output if n]

    @property
    def inputs(self) -> list[str]:
        return [n for n in self.node.input if n]

    @property
    def reads(self) -> list[str]:
        """Explicit inputs plus the outer-scope names its subgraphs (If/Loop/Scan) read."""
        from refruntime.plan import node_reads

        return list(dict.fromkeys(node_reads(self.node)))

    def attributes(self) -> dict:
        return {attr.name: _plain(helper.get_attribute_value(attr)) for attr in self.node.attribute}


def _plain(value):
    """An attribute value as something json can print."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, onnx.TensorProto):
        arr = numpy_helper.to_array(value)
        return arr.tolist() if arr.size <= 16 else f"tensor{list(arr.shape)}"
    if isinstance(value, onnx.GraphProto):
        return f"<graph {value.name}>"
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


PROTO_LIMIT = 2**31 - 1  # protobuf refuses to serialize a message above this (2 GiB)

# id(proto) -> (proto, path of the .onnx file its external data is relative to)
_MODEL_FILES: dict[int, tuple[onnx.ModelProto, str]] = {}


@contextmanager
def model_files() -> Iterator[None]:
    """Forget, on the way out, every model file remembered inside."""
    before = set(_MODEL_FILES)
    try:
        yield
    finally:
        for key in set(_MODEL_FILES) - before:
            del _MODEL_FILES[key]


def remember_file(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """Note that `model`'s external data is relative to the folder of `path` (the file it was
    loaded from, its references already checked). Returns `model`."""
    _MODEL_FILES[id(model)] = (model, os.path.abspath(path))
    return model


def model_file(model) -> str | None:
    """The file `model` was loaded from when its weights are still there, else None."""
    entry = _MODEL_FILES.get(id(model))
    return entry[1] if entry is not None and entry[0] is model else None


def has_external_weights(model: onnx.ModelProto) -> bool:
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def external_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the main-graph initializers left in their file."""
    from refruntime.external_data import storage_nbytes

    total = 0
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            length = next((e.value for e in t.external_data if e.key == "length"), None)
            total += int(length) if length is not None else storage_nbytes(t.data_type, int(np.prod(t.dims)))
    return total


def initializer_array(model: onnx.ModelProto, tensor: onnx.TensorProto) -> np.ndarray:
    """One initializer of `model` as an array: an external one is a read-only view of its file's
    map (refruntime's checks and header validation apply; a failure is a ModelError)."""
    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return numpy_helper.to_array(tensor)
    from refruntime.plan import tensor_to_array

    path = model_file(model)
    return tensor_to_array(tensor, os.path.dirname(path) if path else "", what="initializer")


def inline_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with every weight inside the proto (a copy when some were on disk): for consumers
    that read initializers with onnx alone (torch, onnx.reference, ORT bisection)."""
    path = model_file(model)
    if path is None or not has_external_weights(model):
        return model
    from refruntime.external_data import inline_external_data

    return inline_external_data(model, os.path.dirname(path))


def initializer_names(graph: onnx.GraphProto) -> set[str]:
    return {t.name for t in graph.initializer} | {t.values.name for t in graph.sparse_initializer}


def data_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs a caller must feed (inputs backed by an initializer are optional)."""
    inits = initializer_names(graph)
    return [vi for vi in graph.input if vi.name not in inits]


def topo_nodes(graph: onnx.GraphProto) -> list[NodeInfo]:
    """Main-graph nodes in topological order (the file order when it is valid)."""
    from refruntime.plan import topological_order

    available = initializer_names(graph) | {vi.name for vi in graph.input}
    order = topological_order(graph, available)
    position = {id(n): i for i, n in enumerate(graph.node)}
    return [NodeInfo(position[id(n)], n) for n in order]


def node_output_names(nodes: list[NodeInfo]) -> list[str]:
    """Every value a node produces, in topological order."""
    return [name for info in nodes for name in info.outputs]


def elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every value shape inference can type (best effort)."""
    try:
        inferred = infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - typing is a nicety; ORT accepts untyped outputs
        inferred = model
    g = inferred.graph
    out = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            out[vi.name] = vi.type.tensor_type.elem_type
    return out


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """'NAME=1,3,224,224' -> ('NAME', (1, 3, 224, 224))."""
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise UsageError(f"--shape expects NAME=D1,D2,..., got {text!r}")
    try:
        shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise UsageError(f"--shape {text!r}: dimensions must be integers") from None
    return name, shape


def with_input_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]] | None) -> onnx.ModelProto:
    """Copy of `model` whose data inputs declare `shapes`; stale intermediate shapes are dropped.
    The copy reads its weights from the same file as `model`, if any."""
    if not shapes:
        return model
    path = model_file(model)
    model = copy_model(model)
    if path:
        remember_file(model, path)
    graph = model.graph
    by_name = {vi.name: vi for vi in data_inputs(graph)}
    for name, shape in shapes.items():
        vi = by_name.get(name)
        if vi is None:
            raise UsageError(f"--shape names input {name!r}, but the model's inputs are {sorted(by_name)}")
        tt = vi.type.tensor_type
        if tt.HasField("shape") and len(tt.shape.dim) != len(shape):
            raise UsageError(f"--shape {name}={','.join(map(str, shape))} has rank {len(shape)}, but the "
                             f"model declares rank {len(tt.shape.dim)} for {name!r}")
        tt.ClearField("shape")
        for d in shape:
            tt.shape.dim.add().dim_value = int(d)
    del graph.value_info[:]
    for vi in graph.output:  # output dims may change with the inputs; keep the element types
        if vi.type.tensor_type.HasField("shape"):
            vi.type.tensor_type.ClearField("shape")
    return model


def with_outputs(model: onnx.ModelProto, names: list[str], types: dict[str, int] | None = None,
                 keep_original: bool = True) -> onnx.ModelProto:
    """Copy of `model` that also (or only) returns `names` as graph outputs. (Not remembered as
    reading its weights from `model`'s file: ORT's adapter, its one user, points at the folder.)"""
    out = copy_model(model)
    existing = [vi.name for vi in out.graph.output]
    if not keep_original:
        del out.graph.output[:]
        existing = []
    for name in names:
        if name in existing:
            continue
        vi = onnx.ValueInfoProto(name=name)
        if types and name in types:
            vi.type.tensor_type.elem_type = types[name]
        out.graph.output.append(vi)
    return out


def extract_nodes(model: onnx.ModelProto, nodes: list[NodeInfo], values: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A standalone model of `nodes`; every value they read that they do not produce becomes a
    graph input (initializers stay initializers, copied inside the new proto even when `model`
    reads them from disk). `values` gives the inputs' dtypes and shapes."""
    graph = model.graph
    produced = {n for info in nodes for n in info.outputs}
    inits = {t.name: t for t in graph.initializer}
    inputs, used_inits, seen = [], [], set()
    for info in nodes:
        for name in info.reads:
            if name in produced or name in seen:
                continue
            seen.add(name)
            if name in inits and name not in values:
                tensor = inits[name]
                if tensor.data_location == onnx.TensorProto.EXTERNAL:  # copies this one weight only
                    tensor = numpy_helper.from_array(initializer_array(model, tensor), name)
                used_inits.append(tensor)
                continue
            value = values.get(name)
            if value is None:
                raise UsageError(f"cannot extract: no value for input {name!r} of the reduced graph")
            value = np.asarray(value)
            inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)))
    consumed_later = {n for info in nodes for n in info.reads}
    outputs = [n for info in nodes for n in info.outputs if n not in consumed_later] or \
        [n for info in nodes for n in info.outputs]
    new_graph = helper.make_graph(
        [info.node for info in nodes], f"{graph.name or 'graph'}_reduced", inputs,
        [onnx.ValueInfoProto(name=n) for n in outputs], initializer=used_inits,
    )
    reduced = helper.make_model(new_graph, opset_imports=list(model.opset_import),
                                producer_name="graphkit verify --reduce")
    reduced.ir_version = max(model.ir_version, 4) if model.ir_version else 8
    reduced.ir_version = min(reduced.ir_version, 10)
    try:  # a standalone model declares its outputs' types
        inferred = infer_shapes(reduced)
        known = {vi.name: vi.type for vi in [*inferred.graph.value_info, *inferred.graph.output]
                 if vi.type.tensor_type.elem_type}
        for vi in reduced.graph.output:
            if vi.name in known:
                vi.type.CopyFrom(known[vi.name])
                if not vi.type.tensor_type.HasField("shape"):
                    vi.type.tensor_type.shape.SetInParent()
    except Exception:  # noqa: BLE001,S110 - untyped outputs still run everywhere
        pass
    return reduced
