"""Graph: nodes in a doubly linked list (O(1) insert/remove), plus inputs, outputs, initializers.

    for node in graph:                     # live iteration: removing/inserting nodes is safe
        if node.op_type == "Identity":
            node.output.replace_all_uses_with(node.inputs[0])
            graph.remove(node)
    convs = graph.find(op="Conv")          # list of nodes
    x = graph.value("input")              # Value by name

Iterating while mutating: a removed node keeps its old links, so the loop continues after it;
nodes inserted after the current one are visited. `graph.nodes` is a snapshot list.
Passes (toposort, prune, ...) live in their own modules and use `reorder`/`remove`/`insert_*`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from graphkit.errors import GraphError
from graphkit.ir.node import Node
from graphkit.ir.tensor import Tensor
from graphkit.ir.value import Value


class _Head:
    """Sentinel of the node ring."""

    __slots__ = ("_graph", "_next", "_prev")


class _Initializers(dict):
    """name -> Value (with const_value). Keys follow value renames; setting links the value."""

    __slots__ = ("_owner",)

    def __setitem__(self, name: str, value: Value) -> None:
        if not isinstance(value, Value):
            raise GraphError(f"initializer {name!r} must be a Value (with const_value), got {type(value).__name__}")
        if value.name != name:
            raise GraphError(f"initializer key {name!r} differs from the value's name {value.name!r}")
        value._graph = self._owner
        dict.__setitem__(self, name, value)

    def _rekey(self, old: str, new: str) -> None:
        items = [((new if k == old else k), v) for k, v in self.items()]
        dict.clear(self)
        dict.update(self, items)


class Graph:
    __slots__ = (
        "__weakref__",
        "_count",
        "_head",
        "_index",
        "_initializers",
        "_proto",
        "doc_string",
        "inputs",
        "metadata_props",
        "name",
        "outputs",
        "parent",
        "quantization_annotation",
        "sparse_initializers",
        "value_info",
    )

    def __init__(self, inputs: Iterable[Value] = (), outputs: Iterable[Value] = (),
                 nodes: Iterable[Node] = (), *, initializers: Iterable[Value] = (), name: str = "",
                 doc_string: str = ""):
        self.name, self.doc_string = name, doc_string
        self.inputs: list[Value] = list(inputs)
        self.outputs: list[Value] = list(outputs)
        self._initializers = _Initializers()
        self._initializers._owner = self
        self.value_info: list[Value] = []        # intermediates with declared types, file order
        self.sparse_initializers: list = []      # SparseTensorProto, kept as loaded
        self.quantization_annotation: list = []  # TensorAnnotation protos, kept as loaded
        self.metadata_props: dict[str, str] = {}
        self.parent: Node | None = None          # the node holding this graph as an attribute
        head = self._head = _Head()
        head._prev = head._next = head
        head._graph = self
        self._count = 0
        self._index: dict | None = None
        self._proto = None  # the GraphProto it was loaded from (field presence on save)
        for v in self.inputs:
            v._graph = self
        for v in initializers:
            self._initializers[v.name] = v
        self.append(*nodes)

    # -- nodes --------------------------------------------------------------------------------
    def __iter__(self):
        head = self._head
        node = head._next
        while node is not head:
            yield node
            nxt = node._next
            while nxt is not head and nxt._graph is not self:
                if nxt._graph is not None:  # moved into another graph: stop rather than wander
                    return
                nxt = nxt._next
            node = nxt

    def __reversed__(self):
        head = self._head
        node = head._prev
        while node is not head:
            yield node
            prv = node._prev
            while prv is not head and prv._graph is not self:
                if prv._graph is not None:
                    return
                prv = prv._prev
            node = prv

    def __len__(self) -> int:
        return self._count

    @property
    def nodes(self) -> list[Node]:
        """Snapshot list of the nodes in order."""
        return list(self)

    def _link(self, prev, node: Node) -> None:
        if not isinstance(node, Node):
            raise GraphError(f"expected a Node, got {type(node).__name__}")
        if node._graph is not None:
            raise GraphError(f"node {node.name or node.op_type!r} is already in a graph; remove it first")
        nxt = prev._next
        node._prev, node._next = prev, nxt
        prev._next = nxt._prev = node
        node._graph = self
        self._count += 1
        node._link_all(True)

    def append(self, *nodes: Node) -> Graph:
        for node in nodes:
            self._link(self._head._prev, node)
        return self

    def insert_before(self, anchor: Node, *nodes: Node) -> Graph:
        self._check_member(anchor)
        for node in nodes:
            self._link(anchor._prev, node)
        return self

    def insert_after(self, anchor: Node, *nodes: Node) -> Graph:
        self._check_member(anchor)
        for node in reversed(nodes):
            self._link(anchor, node)
        return self

    def remove(self, *nodes: Node, safe: bool = False) -> Graph:
        """Take nodes out; their inputs stop listing them as uses. `safe=True` refuses to remove a
        node whose outputs are still used (by a node not being removed) or are graph outputs."""
        if safe:
            going = set(nodes)
            for node in nodes:
                for v in node.outputs:
                    user = next((n for n, _ in v._uses if n not in going), None)
                    if user is not None or any(o is v for o in self.outputs):
                        who = f"node {user.name or user.op_type!r}" if user else "a graph output"
                        raise GraphError(f"cannot remove {node.name or node.op_type!r}: its output "
                                         f"{v.name!r} is used by {who}")
        for node in nodes:
            self._check_member(node)
            node._link_all(False)
            p, n = node._prev, node._next
            p._next, n._prev = n, p
            node._graph = None  # _prev/_next stay so live iterators can continue past it
            self._count -= 1
        return self

    def reorder(self, order: Iterable[Node]) -> Graph:
        """Relink the nodes in `order`, which must hold exactly this graph's nodes (e.g. toposort)."""
        order = list(order)
        if len(order) != self._count or any(n._graph is not self for n in order) or len(set(map(id, order))) != len(order):
            raise GraphError("reorder needs every node of the graph exactly once")
        prev = self._head
        for node in order:
            prev._next, node._prev = node, prev
            prev = node
        prev._next, self._head._prev = self._head, prev
        return self

    def _check_member(self, node: Node) -> None:
        if node._graph is not self:
            raise GraphError(f"node {node.name or node.op_type!r} is not in graph {self.name!r}")

    def make_node(self, op_type: str, inputs=(), outputs=1, *, name: str = "", domain: str = "",
                  **attributes) -> Node:
        """Create a node, append it, and return it (`node.output` is its single output)."""
        node = Node(op_type, inputs, outputs, name=name, domain=domain, attributes=attributes)
        self.append(node)
        return node

    # -- initializers ---------------------------------------------------------------------------
    @property
    def initializers(self) -> dict[str, Value]:
        return self._initializers

    def add_initializer(self, name_or_value, data=None) -> Value:
        """Add a constant: `add_initializer("w", np_array)` or `add_initializer(value)`."""
        if isinstance(name_or_value, Value):
            value = name_or_value
            if data is not None:
                value.const_value = data
        else:
            value = Value(name_or_value, const_value=data if isinstance(data, Tensor) else Tensor(data))
        if value.const_value is None:
            raise GraphError(f"initializer {value.name!r} has no data")
        self._initializers[value.name] = value
        return value

    def remove_initializer(self, name: str) -> Value:
        value = dict.pop(self._initializers, name)
        if not any(v is value for v in self.inputs):
            value._graph = None
        return value

    # -- lookup -------------------------------------------------------------------------------
    def values(self):
        """Every value defined in this graph: inputs, initializers, then node outputs in order."""
        seen = set()
        for v in (*self.inputs, *self._initializers.values()):
            if id(v) not in seen:
                seen.add(id(v))
                yield v
        for node in self:
            yield from node.outputs

    def value(self, name: str) -> Value:
        """The value named `name` defined in this graph (GraphError if none)."""
        v = self._index.get(name) if self._index is not None else None
        if v is None or v._name != name or v.graph is not self:
            self._index = {val._name: val for val in self.values()}
            v = self._index.get(name)
            if v is None:
                raise GraphError(f"graph {self.name!r} has no value named {name!r}")
        return v

    def find(self, op: str | Iterable[str] | None = None, name: str | None = None,
             domain: str | None = None, where: Callable[[Node], bool] | None = None,
             recursive: bool = False) -> list[Node]:
        """Nodes matching every given criterion (`op` may be a set of op types; domain "" and
        "ai.onnx" are the same). `recursive=True` searches subgraphs too."""
        ops = {op} if isinstance(op, str) else set(op) if op is not None else None
        dom = None if domain is None else ("" if domain == "ai.onnx" else domain)
        found = []
        for node in (self.walk() if recursive else self):
            if ops is not None and node._op_type not in ops:
                continue
            if name is not None and node._name != name:
                continue
            if dom is not None and (node._domain if node._domain != "ai.onnx" else "") != dom:
                continue
            if where is not None and not where(node):
                continue
            found.append(node)
        return found

    def walk(self):
        """Every node of this graph and of its subgraphs, depth first, in order."""
        for node in self:
            yield node
            for g in node.subgraphs():
                yield from g.walk()

    def __repr__(self) -> str:
        return (f"Graph({self.name!r}: {len(self.inputs)} inputs, {len(self.outputs)} outputs, "
                f"{self._count} nodes, {len(self._initializers)} initializers)")
