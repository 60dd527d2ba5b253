"""ModelProto -> IR. Lean by design: the hot loop touches only names, op_type, domain and the
attribute types; everything else (attributes, doc strings, metadata, value types) stays in the
protos and is decoded on first access.

Names resolve through scopes: a subgraph node reading a name its own graph does not define gets
the outer graph's Value object (so renaming that Value renames the subgraph's reference too). A
name defined nowhere becomes a "dangling" Value without producer, kept so the model round-trips.
"""
from __future__ import annotations

import onnx

from graphkit.errors import LoadError
from graphkit.io.external_data import Resolver
from graphkit.ir.attributes import GRAPH_TYPES, Attributes, decode
from graphkit.ir.graph import Graph
from graphkit.ir.model import Model
from graphkit.ir.node import Node, _Inputs, _Outputs
from graphkit.ir.tensor import Tensor
from graphkit.ir.value import Value

_EXTERNAL = onnx.TensorProto.EXTERNAL
# the only ops of the default ONNX domain with graph-valued attributes; other domains are scanned
_CONTROL_FLOW = frozenset({"If", "Loop", "Scan", "SequenceMap"})


def model_from_proto(proto: onnx.ModelProto, base_dir: str | None = None) -> Model:
    resolver = Resolver(base_dir)
    model = Model.__new__(Model)
    model.graph = _graph(proto.graph, None, resolver, None)
    model.ir_version = proto.ir_version
    model.opset_imports = {o.domain: o.version for o in proto.opset_import}
    model.producer_name = proto.producer_name
    model.producer_version = proto.producer_version
    model.domain = proto.domain
    model.model_version = proto.model_version
    model.doc_string = proto.doc_string
    model.metadata_props = {p.key: p.value for p in proto.metadata_props}
    try:
        "".join([model.producer_name, model.producer_version, model.domain, model.doc_string,
                 *model.metadata_props, *model.metadata_props.values(), *(o.domain for o in proto.opset_import)])
    except TypeError:
        raise LoadError("a text field of the model (producer, domain, doc string, metadata or opset domain) "
                        "is not valid UTF-8; the file is malformed") from None
    model.functions = list(proto.functions)
    model.training_info = list(proto.training_info)
    model.configuration = list(proto.configuration)
    model.source_path = None
    model._proto = proto
    return model


def _tensor(t: onnx.TensorProto, resolver: Resolver) -> Tensor:
    if t.data_location == _EXTERNAL:
        return Tensor.from_proto(t, resolver.region(t))
    return Tensor.from_proto(t)


def _check_text(gp: onnx.GraphProto, g: Graph, scope: dict) -> None:
    """protobuf (upb) hands string fields holding invalid UTF-8 back as bytes; refuse such a file
    here rather than fail later in a surgery or at save. `str.join` does the type check in C; the
    node fields are read from the Nodes (slots), not the protos again (each upb read costs more)."""
    try:
        "".join(scope)
        "".join([n._op_type + n._domain + n._name for n in g] + [gp.name])
        "".join([a.name for p in gp.node for a in p.attribute])  # passes hand them on as keywords
    except TypeError:
        bad = [n for n in scope if isinstance(n, bytes)]
        bad += [v for p in gp.node for v in (p.op_type, p.domain, p.name) if isinstance(v, bytes)]
        bad += [gp.name] if isinstance(gp.name, bytes) else []
        attr = None if bad else next(((p, a) for p in gp.node for a in p.attribute if isinstance(a.name, bytes)),
                                     None)
        if attr is not None:
            raise LoadError(f"graph {gp.name!r}: node {attr[0].name!r} ({attr[0].op_type}): attribute name "
                            f"{attr[1].name!r} is not valid UTF-8; the file is malformed") from None
        raise LoadError(f"graph {gp.name!r}: a name is not valid UTF-8 ({bad[:1]!r}); the file is "
                        "malformed") from None


def _graph(gp: onnx.GraphProto, outer, resolver: Resolver, parent: Node | None) -> Graph:
    """`outer(name) -> Value | None` looks names up in the enclosing scopes."""
    g = Graph(name=gp.name, doc_string=gp.doc_string)
    g.parent = parent
    g._proto = gp
    scope: dict[str, Value] = {}

    def lookup(name: str) -> Value:
        v = scope.get(name)
        if v is None and outer is not None:
            v = outer(name)
        if v is None:  # defined nowhere: keep it as a dangling value of this graph
            v = scope[name] = Value._loaded(name)
        return v

    def find(name: str):  # for subgraphs: no dangling creation at this level
        v = scope.get(name)
        return v if v is not None or outer is None else outer(name)

    new_value = Value._loaded
    for vi in gp.input:
        v = scope[vi.name] = new_value(vi.name, vi)
        v._graph = g
        g.inputs.append(v)
    inits = g._initializers
    for t in gp.initializer:
        name = t.name
        v = scope.get(name)
        if v is None or v._graph is not g:
            v = scope[name] = new_value(name)
        v._graph = g
        v._const = _tensor(t, resolver)
        dict.__setitem__(inits, name, v)
    for sp in gp.sparse_initializer:
        name = sp.values.name
        if name not in scope:
            v = scope[name] = new_value(name)
            v._graph = g
        g.sparse_initializers.append(sp)

    # One pass over the nodes. A name read before any node produced it gets a placeholder Value
    # that the later producer adopts, so unsorted graphs load too.
    new_node = Node.__new__
    new_list_in, new_list_out = _Inputs, _Outputs
    lappend = list.append
    sget = scope.get
    with_graphs = []  # (node, proto): subgraphs are decoded once every outer name is known
    head = g._head
    prev = head
    count = 0
    for p in gp.node:
        node = new_node(Node)
        node._op_type = op_type = p.op_type
        node._domain = domain = p.domain
        node._name = p.name
        node._proto = p
        node._attrs = node._meta = None
        node._dirty = False
        node._graph = g
        node._prev = prev
        prev._next = node
        prev = node
        count += 1
        names = p.input
        ilist = new_list_in()
        ilist._node = node
        node.inputs = ilist
        for i in range(len(names)):
            name = names[i]
            if name:
                v = sget(name)
                if v is None:
                    v = lookup(name)
                v._uses[(node, i)] = None
                lappend(ilist, v)
            else:
                lappend(ilist, None)
        names = p.output
        olist = new_list_out()
        olist._node = node
        node.outputs = olist
        for i in range(len(names)):
            name = names[i]
            v = sget(name) if name else None
            if v is None or v._producer is not None or v._graph is not None or v._const is not None:
                v = new_value(name)
                if name:
                    scope[name] = v
            v._producer = node
            v._index = i
            lappend(olist, v)
        if (domain and domain != "ai.onnx") or op_type in _CONTROL_FLOW:
            for a in p.attribute:
                if a.type in GRAPH_TYPES:
                    with_graphs.append((node, p))
                    break
    prev._next = head
    head._prev = prev
    g._count = count
    _check_text(gp, g, scope)

    for node, p in with_graphs:
        def make_graph(sub, _node=node):
            return _graph(sub, find, resolver, _node)
        node._attrs = Attributes(node, {a.name: (decode(a, make_graph) if a.type in GRAPH_TYPES else a)
                                        for a in p.attribute})
        node._dirty = True

    for vi in gp.value_info:
        name = vi.name
        v = scope.get(name)
        if v is None:
            v = scope[name] = new_value(name)
        if v._vi is None:
            v._vi = vi
        g.value_info.append(v)
    for vi in gp.output:
        v = lookup(vi.name)
        if v._vi is None:
            v._vi = vi
        g.outputs.append(v)
    g.quantization_annotation = list(gp.quantization_annotation)
    g.metadata_props = {p.key: p.value for p in gp.metadata_props}
    return g
