"""Node: one operator call. Its `inputs` and `outputs` are lists that keep links consistent.

    node.inputs[1] = other_value       # other_value.uses gains (node, 1); the old one loses it
    node.inputs.append(None)           # None marks an omitted optional input
    node.outputs.append(Value("aux"))  # the value's producer becomes node

A Node loaded from a file keeps its NodeProto: doc_string, metadata_props and attributes are
decoded from it only when read, and an untouched node is saved by copying that proto.
"""
from __future__ import annotations

from graphkit.errors import GraphError
from graphkit.ir.attributes import Attributes
from graphkit.ir.value import RENAMED_INPUTS, RENAMED_OUTPUTS, Value

_MISSING = object()


class _Inputs(list):
    """node.inputs: a list of Value|None; every mutation re-links the node's uses."""

    __slots__ = ("_node",)

    def _mutate(self, op, *args):
        node = self._node
        linked = node._graph is not None
        old = list(self)
        if linked:
            node._unlink_inputs()
        try:
            result = op(self, *args)
            bad = next((v for v in self if v is not None and not isinstance(v, Value)), _MISSING)
            if bad is not _MISSING:
                list.__setitem__(self, slice(None), old)
                raise GraphError(f"node {node.name or node.op_type!r}: inputs must be Value or None, "
                                 f"got {type(bad).__name__}")
        finally:
            if linked:
                node._link_inputs()
        if node._dirty is not True:
            node._dirty |= RENAMED_INPUTS
        return result

    def __setitem__(self, i, v): self._mutate(list.__setitem__, i, v)
    def __delitem__(self, i): self._mutate(list.__delitem__, i)
    def __iadd__(self, vs): self._mutate(list.extend, list(vs)); return self
    def append(self, v): self._mutate(list.append, v)
    def extend(self, vs): self._mutate(list.extend, list(vs))
    def insert(self, i, v): self._mutate(list.insert, i, v)
    def pop(self, i=-1): return self._mutate(list.pop, i)
    def remove(self, v): self._mutate(list.remove, v)
    def clear(self): self._mutate(list.clear)
    def reverse(self): self._mutate(list.reverse)

    def sort(self, *a, **k):
        raise GraphError("node inputs cannot be sorted")

    def __imul__(self, n):
        raise GraphError("node inputs cannot be repeated")


class _Outputs(list):
    """node.outputs: a list of Value; every mutation re-links producers (one producer per value)."""

    __slots__ = ("_node",)

    def _mutate(self, op, *args):
        node = self._node
        old = list(self)
        result = op(self, *args)
        for v in old:
            v._producer, v._index = None, -1
        bad = None
        for i, v in enumerate(self):
            if not isinstance(v, Value):
                bad = f"outputs must be Value, got {type(v).__name__}"
            elif v._producer is not None and v._producer is not node:
                bad = f"value {v.name!r} is already produced by {v._producer.name or v._producer.op_type!r}"
            if bad:
                list.__setitem__(self, slice(None), old)
                for j, w in enumerate(old):
                    w._producer, w._index = node, j
                raise GraphError(f"node {node.name or node.op_type!r}: {bad}")
            v._producer, v._index = node, i
        if node._dirty is not True:
            node._dirty |= RENAMED_OUTPUTS
        return result

    def __setitem__(self, i, v): self._mutate(list.__setitem__, i, v)
    def __delitem__(self, i): self._mutate(list.__delitem__, i)
    def __iadd__(self, vs): self._mutate(list.extend, list(vs)); return self
    def append(self, v): self._mutate(list.append, v)
    def extend(self, vs): self._mutate(list.extend, list(vs))
    def insert(self, i, v): self._mutate(list.insert, i, v)
    def pop(self, i=-1): return self._mutate(list.pop, i)
    def remove(self, v): self._mutate(list.remove, v)
    def clear(self): self._mutate(list.clear)

    def sort(self, *a, **k):
        raise GraphError("node outputs cannot be sorted")

    def __imul__(self, n):
        raise GraphError("node outputs cannot be repeated")


class Node:
    """An operator call: op_type/domain/name, attributes, inputs (Value|None) and outputs (Value).

    `outputs` may be an int (that many new unnamed Values) or a list of Values/names.
    """

    __slots__ = (
        "__weakref__",
        "_attrs",
        "_dirty",
        "_domain",
        "_graph",
        "_meta",
        "_name",
        "_next",
        "_op_type",
        "_prev",
        "_proto",
        "inputs",
        "outputs",
    )

    def __init__(self, op_type: str, inputs=(), outputs=1, *, domain: str = "", name: str = "",
                 attributes: dict | None = None, doc_string: str = ""):
        self._op_type, self._domain, self._name = op_type, domain, name
        self._proto = None
        self._graph = self._prev = self._next = None
        self._dirty = True
        self._meta = None
        ins = _Inputs()
        ins._node = self
        self.inputs = ins
        ins.extend(inputs)
        outs = _Outputs()
        outs._node = self
        self.outputs = outs
        if isinstance(outputs, int):
            outputs = [Value("") for _ in range(outputs)]
        outs.extend(Value(o) if isinstance(o, str) else o for o in outputs)
        self._attrs = Attributes(self)
        for key, value in (attributes or {}).items():
            self._attrs[key] = value
        if doc_string:
            self.doc_string = doc_string

    @classmethod
    def _from_proto(cls, proto, op_type: str, domain: str, name: str) -> Node:
        """Loader fast path: lists are filled by the caller, attributes stay in the proto."""
        node = cls.__new__(cls)
        node._op_type, node._domain, node._name = op_type, domain, name
        node._proto = proto
        node._attrs = None
        ins = _Inputs()
        ins._node = node
        node.inputs = ins
        outs = _Outputs()
        outs._node = node
        node.outputs = outs
        node._graph = node._prev = node._next = None
        node._dirty = False
        node._meta = None
        return node

    # -- plain fields (setters mark the node for re-encoding) ---------------------------------
    @property
    def op_type(self) -> str:
        return self._op_type

    @op_type.setter
    def op_type(self, v: str) -> None:
        self._op_type, self._dirty = v, True

    @property
    def domain(self) -> str:
        return self._domain

    @domain.setter
    def domain(self, v: str) -> None:
        self._domain, self._dirty = v, True

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, v: str) -> None:
        self._name, self._dirty = v, True

    def _from_meta(self, key, read):
        meta = self._meta
        if meta is not None and key in meta:
            return meta[key]
        return read(self._proto) if self._proto is not None else None

    def _set_meta(self, key, value) -> None:
        if self._meta is None:
            self._meta = {}
        self._meta[key] = value
        self._dirty = True

    @property
    def doc_string(self) -> str:
        return self._from_meta("doc_string", lambda p: p.doc_string) or ""

    @doc_string.setter
    def doc_string(self, v: str) -> None:
        self._set_meta("doc_string", v)

    @property
    def overload(self) -> str:
        return self._from_meta("overload", lambda p: p.overload) or ""

    @overload.setter
    def overload(self, v: str) -> None:
        self._set_meta("overload", v)

    @property
    def metadata_props(self) -> dict[str, str]:
        """Dict of metadata (edit it in place)."""
        meta = self._meta
        if meta is None or "metadata_props" not in meta:
            props = {p.key: p.value for p in self._proto.metadata_props} if self._proto is not None else {}
            self._set_meta("metadata_props", props)
        return self._meta["metadata_props"]

    @property
    def attributes(self) -> Attributes:
        attrs = self._attrs
        if attrs is None:
            attrs = self._attrs = Attributes(self, {a.name: a for a in self._proto.attribute})
            self._dirty = True  # values handed out may be edited in place; re-encode on save
        return attrs

    attrs = attributes  # onnx-graphsurgeon spelling

    # -- graph membership -----------------------------------------------------------------------
    @property
    def graph(self):
        """The Graph this node is in, or None."""
        return self._graph

    @property
    def prev(self):
        p = self._prev
        return p if self._graph is not None and p is not self._graph._head else None

    @property
    def next(self):
        n = self._next
        return n if self._graph is not None and n is not self._graph._head else None

    def subgraphs(self):
        """Graphs held by attributes (If branches, Loop/Scan bodies)."""
        if self._attrs is None:
            return iter(())
        return self._attrs.graphs()

    def _link_inputs(self) -> None:
        for i, v in enumerate(self.inputs):
            if v is not None:
                v._uses[(self, i)] = None

    def _unlink_inputs(self) -> None:
        for i, v in enumerate(self.inputs):
            if v is not None:
                v._uses.pop((self, i), None)

    def _link_all(self, on: bool) -> None:
        """(Un)register this node's uses and, recursively, those of its subgraphs' nodes."""
        self._link_inputs() if on else self._unlink_inputs()
        for g in self.subgraphs():
            for n in g:
                n._link_all(on)

    # -- conveniences -----------------------------------------------------------------------
    def set_attribute(self, name: str, value) -> Node:
        self.attributes[name] = value
        return self

    @property
    def output(self) -> Value:
        """The only output (GraphError if the node has several)."""
        if len(self.outputs) != 1:
            raise GraphError(f"node {self._name or self._op_type!r} has {len(self.outputs)} outputs")
        return self.outputs[0]

    def __repr__(self) -> str:
        ins = ", ".join("" if v is None else v.name for v in self.inputs)
        outs = ", ".join(v.name for v in self.outputs)
        op = self._op_type if self._domain in ("", "ai.onnx") else f"{self._domain}::{self._op_type}"
        return f"Node({self._name!r}: {op}({ins}) -> {outs})"
