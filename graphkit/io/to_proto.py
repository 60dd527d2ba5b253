"""IR -> ModelProto. Untouched nodes, value infos and tensors are written by copying the protos
they were loaded from (one C-level copy each); a loaded node whose only change is the names of its
inputs/outputs (rewired, renamed: `Node._dirty` holds RENAMED_* bits) is copied too and those lists
patched; everything else is encoded field by field."""
from __future__ import annotations

from collections.abc import Callable

import onnx

from graphkit.ir.attributes import Attr, encode
from graphkit.ir.graph import Graph
from graphkit.ir.model import Model
from graphkit.ir.node import Node
from graphkit.ir.tensor import Tensor
from graphkit.ir.value import RENAMED_INPUTS, RENAMED_OUTPUTS, Value

# tensor_hook(name, tensor) -> TensorProto for an initializer (save uses it for external data)
TensorHook = Callable[[str, Tensor], onnx.TensorProto]


def _default_hook(name: str, tensor: Tensor) -> onnx.TensorProto:
    return tensor.to_proto(name)


def model_to_proto(model: Model, tensor_hook: TensorHook | None = None) -> onnx.ModelProto:
    mp = onnx.ModelProto()
    src = getattr(model, "_proto", None)
    _scalar(mp, src, "ir_version", model.ir_version)
    if src is not None and {o.domain: o.version for o in src.opset_import} == model.opset_imports:
        mp.opset_import.extend(src.opset_import)  # keeps explicit-empty domains as they were
    else:
        for domain, version in model.opset_imports.items():
            op = mp.opset_import.add()
            if domain:
                op.domain = domain
            op.version = version
    for field in ("producer_name", "producer_version", "domain", "model_version", "doc_string"):
        _scalar(mp, src, field, getattr(model, field))
    _props(mp.metadata_props, model.metadata_props)
    graph_to_proto(model.graph, mp.graph, tensor_hook or _default_hook)
    mp.training_info.extend(model.training_info)
    mp.functions.extend(model.functions)
    mp.configuration.extend(model.configuration)
    return mp


def _scalar(dst, src, field: str, value) -> None:
    """Set a proto2 scalar so that its presence matches the source proto when the value did not
    change (an explicitly empty string stays explicit); otherwise set it only if non-empty."""
    if src is not None and getattr(src, field) == value:
        if src.HasField(field):
            setattr(dst, field, value)
    elif value:
        setattr(dst, field, value)


def _props(field, props: dict[str, str]) -> None:
    for key, value in props.items():
        entry = field.add()
        entry.key, entry.value = key, value


def value_info(v: Value) -> onnx.ValueInfoProto:
    vi = v._vi
    if vi is not None and v._meta is None and vi.name == v._name:
        return vi
    out = onnx.ValueInfoProto(name=v._name)
    t = v.type
    if t is not None:
        out.type.CopyFrom(t)
    if v.doc_string:
        out.doc_string = v.doc_string
    meta = v._meta
    if meta is not None and "metadata_props" in meta:
        _props(out.metadata_props, meta["metadata_props"])
    elif vi is not None:
        out.metadata_props.extend(vi.metadata_props)
    return out


def node_to_proto(node: Node, tensor_hook: TensorHook = _default_hook) -> onnx.NodeProto:
    p = onnx.NodeProto()
    p.input.extend([v._name if v is not None else "" for v in node.inputs])
    p.output.extend([v._name for v in node.outputs])
    src = node._proto
    _scalar(p, src, "name", node._name)
    p.op_type = node._op_type
    _scalar(p, src, "domain", node._domain)
    _scalar(p, src, "overload", node.overload)
    attrs = node._attrs
    if attrs is None:
        if src is not None:
            p.attribute.extend(src.attribute)
    else:
        def sub(g: Graph, out: onnx.GraphProto) -> None:
            graph_to_proto(g, out, tensor_hook)

        for item in attrs._items.values():
            if isinstance(item, Attr):
                encode(item, p.attribute.add(), sub)
            else:
                p.attribute.append(item)
    _scalar(p, src, "doc_string", node.doc_string)
    if node._meta is not None and "metadata_props" in node._meta:
        _props(p.metadata_props, node._meta["metadata_props"])
    elif src is not None:
        p.metadata_props.extend(src.metadata_props)
    if src is not None and len(src.device_configurations):
        p.device_configurations.extend(src.device_configurations)
    return p


def _patch(p: onnx.NodeProto, node: Node) -> None:
    """`p` is a copy of `node`'s loaded proto; bring its names and plain fields up to date (the
    attributes and metadata are untouched: the caller checked `_attrs` and `_meta` are None)."""
    dirty = node._dirty
    if dirty is True or dirty & RENAMED_INPUTS:  # assigning costs what comparing would
        p.input[:] = [v._name if v is not None else "" for v in node.inputs]
    if dirty is True or dirty & RENAMED_OUTPUTS:
        p.output[:] = [v._name for v in node.outputs]
    if dirty is not True:
        return
    if p.op_type != node._op_type:
        p.op_type = node._op_type
    if p.name != node._name:
        _set_or_clear(p, "name", node._name)
    if p.domain != node._domain:
        _set_or_clear(p, "domain", node._domain)


def _set_or_clear(p, field: str, value: str) -> None:
    if value:
        setattr(p, field, value)
    else:
        p.ClearField(field)


def graph_to_proto(g: Graph, gp: onnx.GraphProto, tensor_hook: TensorHook = _default_hook) -> None:
    src = g._proto
    _scalar(gp, src, "name", g.name)
    _scalar(gp, src, "doc_string", g.doc_string)
    gp.input.extend([value_info(v) for v in g.inputs])
    gp.initializer.extend([tensor_hook(name, v._const) for name, v in g._initializers.items()
                           if v._const is not None])
    gp.sparse_initializer.extend(g.sparse_initializers)

    protos = []
    append = protos.append
    rewired = []  # (position, node): loaded nodes whose names changed but not their attributes
    typed = []  # intermediates given a type in memory (e.g. by shape inference), not yet listed
    for node in g:
        if node._meta is None and (not node._dirty or (node._attrs is None and node._proto is not None)):
            if node._dirty:
                rewired.append((len(protos), node))
            append(node._proto)
        else:
            append(node_to_proto(node, tensor_hook))
        for v in node.outputs:
            if v._meta is not None and v._vi is None and "type" in v._meta:
                typed.append(v)
    gp.node.extend(protos)  # one C-level copy each
    if rewired:
        out = gp.node
        for k, node in rewired:  # patch the copies: cheaper than encoding the node field by field
            _patch(out[k], node)

    listed = {id(v) for v in g.value_info}
    infos = []
    for v in g.value_info:  # skip values whose producer has been removed from this graph
        if v._producer is None or v._producer._graph is g:
            infos.append(value_info(v))
    if typed:
        boundary = {id(v) for v in g.outputs} | {id(v) for v in g.inputs}
        infos.extend(value_info(v) for v in typed if id(v) not in listed and id(v) not in boundary)
    gp.value_info.extend(infos)
    gp.output.extend([value_info(v) for v in g.outputs])
    gp.quantization_annotation.extend(g.quantization_annotation)
    _props(gp.metadata_props, g.metadata_props)
