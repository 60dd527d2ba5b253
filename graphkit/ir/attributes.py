"""Node attributes: a mapping of name -> Python value, decoded from AttributeProto only on access.

    node.attributes["alpha"]            # 0.2 (float); INTS come back as lists, STRING as str
    node.attributes["alpha"] = 0.1      # type inferred (int -> INT, float -> FLOAT, ...)
    node.attributes["pads"] = Attr("pads", AttributeType.INTS, [])   # exact type, e.g. empty list
    node.attributes.attr("alpha")       # the Attr (name, type, value, doc_string, ref_attr_name)

Graph-valued attributes (If/Loop/Scan bodies) are `Graph` objects whose `parent` is the node.
Attributes never touched are saved by copying their original AttributeProto.
"""
from __future__ import annotations

from collections.abc import MutableMapping

import numpy as np
import onnx

from graphkit.errors import UsageError
from graphkit.ir.tensor import Tensor

AttributeType = onnx.AttributeProto.AttributeType
_A = onnx.AttributeProto
GRAPH_TYPES = (_A.GRAPH, _A.GRAPHS)


class Attr:
    """One attribute with its exact ONNX type (AttributeType int)."""

    __slots__ = ("doc_string", "name", "ref_attr_name", "type", "value")

    def __init__(self, name: str, type: int, value, doc_string: str = "", ref_attr_name: str = ""):
        self.name, self.type, self.value = name, type, value
        self.doc_string, self.ref_attr_name = doc_string, ref_attr_name

    def __repr__(self) -> str:
        return f"Attr({self.name!r}, {_A.AttributeType.Name(self.type)}, {self.value!r})"


def _str(b: bytes):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b


def decode(proto: onnx.AttributeProto, make_graph=None) -> Attr:
    """AttributeProto -> Attr. `make_graph(GraphProto) -> Graph` decodes subgraphs."""
    t = proto.type
    if t == _A.FLOAT:
        v = proto.f
    elif t == _A.INT:
        v = proto.i
    elif t == _A.STRING:
        v = _str(proto.s)
    elif t == _A.TENSOR:
        v = Tensor.from_proto(proto.t)
    elif t == _A.GRAPH:
        v = make_graph(proto.g)
    elif t == _A.FLOATS:
        v = list(proto.floats)
    elif t == _A.INTS:
        v = list(proto.ints)
    elif t == _A.STRINGS:
        v = [_str(s) for s in proto.strings]
    elif t == _A.TENSORS:
        v = [Tensor.from_proto(x) for x in proto.tensors]
    elif t == _A.GRAPHS:
        v = [make_graph(g) for g in proto.graphs]
    elif t == _A.SPARSE_TENSOR:
        v = proto.sparse_tensor
    elif t == _A.SPARSE_TENSORS:
        v = list(proto.sparse_tensors)
    elif t == _A.TYPE_PROTO:
        v = proto.tp
    elif t == _A.TYPE_PROTOS:
        v = list(proto.type_protos)
    else:  # UNDEFINED (e.g. a pure reference attribute in a function body)
        v = None
    return Attr(proto.name, t, v, proto.doc_string, proto.ref_attr_name)


def _b(s) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def encode(attr: Attr, out: onnx.AttributeProto, graph_to_proto=None) -> None:
    """Attr -> fill `out`. `graph_to_proto(Graph, GraphProto)` encodes subgraphs."""
    out.name = attr.name
    out.type = t = attr.type
    if attr.doc_string:
        out.doc_string = attr.doc_string
    if attr.ref_attr_name:
        out.ref_attr_name = attr.ref_attr_name
    v = attr.value
    if v is None:
        return
    if t == _A.FLOAT:
        out.f = float(v)
    elif t == _A.INT:
        out.i = int(v)
    elif t == _A.STRING:
        out.s = _b(v)
    elif t == _A.TENSOR:
        out.t.CopyFrom(v.to_proto(inline=True))
    elif t == _A.GRAPH:
        graph_to_proto(v, out.g)
    elif t == _A.FLOATS:
        out.floats.extend(float(x) for x in v)
    elif t == _A.INTS:
        out.ints.extend(int(x) for x in v)
    elif t == _A.STRINGS:
        out.strings.extend(_b(x) for x in v)
    elif t == _A.TENSORS:
        out.tensors.extend(x.to_proto(inline=True) for x in v)
    elif t == _A.GRAPHS:
        for g in v:
            graph_to_proto(g, out.graphs.add())
    elif t == _A.SPARSE_TENSOR:
        out.sparse_tensor.CopyFrom(v)
    elif t == _A.SPARSE_TENSORS:
        out.sparse_tensors.extend(v)
    elif t == _A.TYPE_PROTO:
        out.tp.CopyFrom(v)
    elif t == _A.TYPE_PROTOS:
        out.type_protos.extend(v)


def infer(name: str, value) -> Attr:
    """Attr for a Python value, inferring the ONNX type."""
    from graphkit.ir.graph import Graph

    if isinstance(value, Attr):
        return value
    if isinstance(value, (bool, int, np.integer)):
        return Attr(name, _A.INT, int(value))
    if isinstance(value, (float, np.floating)):
        return Attr(name, _A.FLOAT, float(value))
    if isinstance(value, (str, bytes)):
        return Attr(name, _A.STRING, value)
    if isinstance(value, Tensor):
        return Attr(name, _A.TENSOR, value)
    if isinstance(value, np.ndarray):
        return Attr(name, _A.TENSOR, Tensor(value))
    if isinstance(value, Graph):
        return Attr(name, _A.GRAPH, value)
    if isinstance(value, (list, tuple)):
        items = list(value)
        if not items:
            raise UsageError(f"attribute {name!r}: cannot infer the type of an empty list; "
                             f"pass Attr({name!r}, AttributeType.INTS, []) (or FLOATS, ...)")
        first = items[0]
        for kinds, t in (((bool, int, np.integer), _A.INTS), ((float, np.floating), _A.FLOATS),
                         ((str, bytes), _A.STRINGS), ((Tensor,), _A.TENSORS), ((Graph,), _A.GRAPHS)):
            if isinstance(first, kinds):
                if t == _A.INTS and any(isinstance(x, (float, np.floating)) for x in items):
                    t = _A.FLOATS
                return Attr(name, t, items)
    raise UsageError(f"attribute {name!r}: unsupported value type {type(value).__name__}")


class Attributes(MutableMapping):
    """The attributes of one node, in order. Values decode on first access."""

    __slots__ = ("_items", "_node")

    def __init__(self, node, items: dict | None = None):
        self._node = node
        self._items: dict = items if items is not None else {}  # name -> AttributeProto | Attr

    def attr(self, name: str) -> Attr:
        item = self._items[name]
        if not isinstance(item, Attr):
            item = self._items[name] = decode(item)
        return item

    def type(self, name: str) -> int:
        item = self._items[name]
        return item.type

    def __getitem__(self, name: str):
        return self.attr(name).value

    def get(self, name: str, default=None):
        return self.attr(name).value if name in self._items else default

    def __setitem__(self, name: str, value) -> None:
        attr = infer(name, value)
        if attr.name != name:
            raise UsageError(f"Attr named {attr.name!r} stored under {name!r}")
        if attr.type == _A.GRAPH:
            attr.value.parent = self._node
        elif attr.type == _A.GRAPHS:
            for g in attr.value:
                g.parent = self._node
        self._items[name] = attr
        self._node._dirty = True

    def __delitem__(self, name: str) -> None:
        del self._items[name]
        self._node._dirty = True

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def graphs(self):
        """The subgraphs held by these attributes (If branches, Loop/Scan bodies), in order."""
        for item in self._items.values():
            if isinstance(item, Attr):
                if item.type == _A.GRAPH:
                    yield item.value
                elif item.type == _A.GRAPHS:
                    yield from item.value

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k}: {self[k]!r}" for k in self._items) + "}"
