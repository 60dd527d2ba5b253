"""Value: a named edge of the graph that knows its producer and its uses.

* ``dtype`` is a **numpy dtype** (``np.dtype("float32")``; ml_dtypes types for bfloat16/float8;
  ``object`` for strings) or None when unknown; ``elem_type`` gives the same as the ONNX integer.
* ``shape`` is a tuple whose dims are ints (static), strings (symbolic ``dim_param``) or None
  (unknown dim); ``shape is None`` means the rank is unknown.
* ``uses`` lists ``(node, input_index)`` pairs; ``consumers`` the distinct consuming nodes. Only
  nodes that are inside a graph count (a node built but not inserted does not use its inputs yet).
  Nodes of subgraphs (If/Loop/Scan bodies) that read an outer value appear in its uses.
* Renaming (``value.name = "y"``) renames it everywhere: nodes reference the Value object, so
  every reader — including subgraph nodes reading it from an outer scope — sees the new name.
"""
from __future__ import annotations

import numpy as np
import onnx

from graphkit.errors import GraphError
from graphkit.ir.tensor import Tensor, elem_type_of, np_dtype

_UNSET = object()
# Node._dirty is False (untouched: saved by copying its loaded proto), True (changed: re-encoded),
# or a bitmask of these two when only names changed (rewired inputs, renamed values): save copies the
# loaded proto and patches just those lists. Mark with `d = node._dirty; if d is not True: node._dirty = d | BIT`.
RENAMED_INPUTS, RENAMED_OUTPUTS = 4, 8


class Value:
    __slots__ = (
        "__weakref__",
        "_const",
        "_graph",
        "_index",
        "_meta",
        "_name",
        "_producer",
        "_uses",
        "_vi",
    )

    def __init__(self, name: str = "", dtype=None, shape=_UNSET, *, const_value: Tensor | None = None,
                 doc_string: str = ""):
        self._name = name
        self._producer = None   # Node or None
        self._index = -1        # output index in the producer
        self._uses: dict = {}   # (node, input_index) -> None, in insertion order
        self._graph = None      # owning graph for graph inputs and initializers
        self._vi = None         # the ValueInfoProto it was loaded from (read lazily)
        self._meta = None       # overrides of type/doc_string/metadata_props (dict) or None
        self._const = const_value
        if dtype is not None or shape is not _UNSET:
            self.set_type(dtype, None if shape is _UNSET else shape)
        if doc_string:
            self.doc_string = doc_string

    @classmethod
    def _loaded(cls, name: str, vi=None) -> Value:
        """Loader fast path (no type decoding: the ValueInfoProto is read on demand)."""
        v = cls.__new__(cls)
        v._name, v._producer, v._index, v._uses, v._graph = name, None, -1, {}, None
        v._vi, v._meta, v._const = vi, None, None
        return v

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, new: str) -> None:
        old = self._name
        if new == old:
            return
        self._name = new
        p = self._producer
        if p is not None and p._dirty is not True:
            p._dirty |= RENAMED_OUTPUTS
        for node, _ in self._uses:
            if node._dirty is not True:
                node._dirty |= RENAMED_INPUTS
        graph = self._graph
        if graph is not None and graph._initializers.get(old) is self:
            graph._initializers._rekey(old, new)

    @property
    def producer(self):
        """The Node whose output this is, or None (graph input, initializer, dangling)."""
        return self._producer

    @property
    def index(self) -> int | None:
        """Output index in the producer, or None."""
        return self._index if self._producer is not None else None

    @property
    def uses(self) -> list[tuple]:
        return list(self._uses)

    @property
    def consumers(self) -> list:
        seen: dict = {}
        for node, _ in self._uses:
            seen[node] = None
        return list(seen)

    @property
    def graph(self):
        """The graph that defines this value (producer's graph, or the graph it is an input of)."""
        return self._producer._graph if self._producer is not None else self._graph

    def is_graph_input(self) -> bool:
        return self._graph is not None and any(v is self for v in self._graph.inputs)

    def is_graph_output(self) -> bool:
        g = self.graph
        return g is not None and any(v is self for v in g.outputs)

    def is_initializer(self) -> bool:
        return self._graph is not None and self._graph._initializers.get(self._name) is self

    # -- constant data ----------------------------------------------------------------------
    @property
    def const_value(self) -> Tensor | None:
        """The Tensor if this is an initializer or the output of a Constant node, else None."""
        if self._const is not None:
            return self._const
        p = self._producer
        if p is not None and p.op_type == "Constant" and p.domain in ("", "ai.onnx"):
            return _constant_tensor(p)
        return None

    @const_value.setter
    def const_value(self, tensor) -> None:
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(np.asarray(tensor))
        self._const = tensor

    # -- type -------------------------------------------------------------------------------
    @property
    def type(self) -> onnx.TypeProto | None:
        """The declared ONNX TypeProto (None if not declared). Treat as read-only; use set_type."""
        meta = self._meta
        if meta is not None and "type" in meta:
            return meta["type"]
        vi = self._vi
        if vi is not None and vi.HasField("type"):
            return vi.type
        return None

    @type.setter
    def type(self, type_proto: onnx.TypeProto | None) -> None:
        self._set_meta("type", type_proto)

    def _tensor_type(self):
        t = self.type
        if t is not None and t.HasField("tensor_type"):
            return t.tensor_type
        return None

    @property
    def elem_type(self) -> int:
        tt = self._tensor_type()
        if tt is not None:
            return tt.elem_type
        if self._const is not None:
            return self._const.elem_type
        return 0

    @property
    def dtype(self) -> np.dtype | None:
        return np_dtype(self.elem_type)

    @dtype.setter
    def dtype(self, dtype) -> None:
        self.set_type(dtype, self.shape)

    @property
    def shape(self) -> tuple | None:
        tt = self._tensor_type()
        if tt is None:
            return self._const.shape if self._const is not None else None
        if not tt.HasField("shape"):
            return None
        dims = []
        for d in tt.shape.dim:
            which = d.WhichOneof("value")
            dims.append(d.dim_value if which == "dim_value" else d.dim_param if which == "dim_param" else None)
        return tuple(dims)

    @shape.setter
    def shape(self, shape) -> None:
        self.set_type(self.dtype, shape)

    def set_type(self, dtype, shape) -> Value:
        """Declare a tensor type: numpy dtype (or ONNX elem type int) and shape (None: unknown rank)."""
        tp = onnx.TypeProto()
        tt = tp.tensor_type
        tt.elem_type = elem_type_of(dtype) if dtype is not None else 0
        if shape is not None:
            tt.shape.SetInParent()
            for d in shape:
                dim = tt.shape.dim.add()
                if isinstance(d, (int, np.integer)):
                    dim.dim_value = int(d)
                elif isinstance(d, str):
                    dim.dim_param = d
                elif d is not None:
                    raise GraphError(f"value {self._name!r}: shape dims must be int, str or None, got {d!r}")
        self._set_meta("type", tp)
        return self

    # -- documentation ----------------------------------------------------------------------
    @property
    def doc_string(self) -> str:
        meta = self._meta
        if meta is not None and "doc_string" in meta:
            return meta["doc_string"]
        return self._vi.doc_string if self._vi is not None else ""

    @doc_string.setter
    def doc_string(self, text: str) -> None:
        self._set_meta("doc_string", text)

    @property
    def metadata_props(self) -> dict[str, str]:
        meta = self._meta
        if meta is None or "metadata_props" not in meta:
            props = {p.key: p.value for p in self._vi.metadata_props} if self._vi is not None else {}
            self._set_meta("metadata_props", props)  # the dict is returned for in-place edits
        return self._meta["metadata_props"]

    def _set_meta(self, key, value) -> None:
        if self._meta is None:
            self._meta = {}
        self._meta[key] = value

    # -- rewiring ---------------------------------------------------------------------------
    def replace_all_uses_with(self, other: Value, *, replace_graph_outputs: bool = False) -> None:
        """Make every node reading this value read `other` instead (and graph outputs, if asked)."""
        if other is self:
            return
        if other is not None and not isinstance(other, Value):
            raise GraphError(f"value {self._name!r}: can only be replaced by a Value or None, "
                             f"got {type(other).__name__}")
        uses = self._uses
        for key in list(uses):  # (node, i): patch the slot and move the use, nothing else relinks
            node, i = key
            list.__setitem__(node.inputs, i, other)
            del uses[key]
            if other is not None:
                other._uses[key] = None
            if node._dirty is not True:
                node._dirty |= RENAMED_INPUTS
        if replace_graph_outputs:
            g = self.graph
            if g is not None:
                g.outputs[:] = [other if v is self else v for v in g.outputs]

    def __repr__(self) -> str:
        shape = "?" if self.shape is None else "x".join("?" if d is None else str(d) for d in self.shape)
        return f"Value({self._name!r}, {self.dtype}, [{shape}])"


def _constant_tensor(node) -> Tensor | None:
    attrs = node.attributes
    if "value" in attrs:
        t = attrs["value"]
        return t if isinstance(t, Tensor) else None
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64),
                       ("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            return Tensor(np.array(attrs[key], dtype=dtype))
    if "value_string" in attrs:
        return Tensor(np.array(attrs["value_string"], dtype=object))
    if "value_strings" in attrs:
        return Tensor(np.array(list(attrs["value_strings"]), dtype=object))
    return None
