"""Checks of a model against the ONNX operator schemas, done once at plan time.

One generic check for every node of a standard domain (no per-kernel code): the opset imports are
versions onnx knows, the op exists at the model's opset, the node has a number of inputs and
outputs its schema allows with every required one present, each attribute is defined for the op and
has the schema's type, and required attributes are there. A violation is a ModelError naming the
node, the attribute or input, and what was expected, before any kernel is built, so a malformed
model fails at Session creation rather than with a TypeError deep inside a kernel.
"""
from __future__ import annotations

from functools import lru_cache

import onnx
from onnx import AttributeProto, NodeProto, defs

from refruntime.errors import ModelError, UnsupportedOpError

STANDARD_DOMAINS = ("", "ai.onnx.ml", "ai.onnx.preview.training")
_SINGLE = defs.OpSchema.FormalParameterOption.Single
_VARIADIC = defs.OpSchema.FormalParameterOption.Variadic


@lru_cache(maxsize=1)
def known_opset_versions() -> dict[str, int]:
    """Newest opset version onnx knows, per standard domain."""
    newest: dict[str, int] = {}
    for schema in defs.get_all_schemas_with_history():
        newest[schema.domain] = max(newest.get(schema.domain, 0), schema.since_version)
    newest[""] = max(newest.get("", 0), defs.onnx_opset_version())
    return newest


def check_text(model: onnx.ModelProto) -> None:
    """Refuse a model with a name that is not valid UTF-8, in any graph or subgraph.

    protobuf (upb) hands such string fields back as bytes; left alone, one ends up in a set or a
    sort beside str names (a TypeError deep inside planning) or silently matches another bytes
    name. Each graph is checked with one str.join (the type check in C); only on failure is it
    walked to name the field."""
    fields = [o.domain for o in model.opset_import]
    try:
        "".join(fields)
    except TypeError:
        raise ModelError("an opset import's domain is not valid UTF-8; the file is malformed") from None
    _check_graph_text(model.graph, "the main graph")
    for f in model.functions:
        try:
            "".join([f.name, f.domain, *f.input, *f.output, *_node_text(f.node)])
        except TypeError:
            raise ModelError(f"local function {_show(f.name)}: a name is not valid UTF-8; the file is "
                             "malformed") from None


def _node_text(nodes) -> list:
    return [t for n in nodes for t in (n.name, n.op_type, n.domain, *n.input, *n.output,
                                       *(a.name for a in n.attribute))]


def _check_graph_text(graph: onnx.GraphProto, where: str) -> None:
    names = [graph.name, *(vi.name for vi in graph.input), *(vi.name for vi in graph.output),
             *(vi.name for vi in graph.value_info), *(t.name for t in graph.initializer),
             *(t.values.name for t in graph.sparse_initializer), *_node_text(graph.node)]
    try:
        "".join(names)
    except TypeError:
        raise ModelError(f"{where}: {_first_bytes(graph)} is not valid UTF-8; the file is malformed") from None
    for node in graph.node:
        for attr in node.attribute:
            for i, sub in enumerate([attr.g] if attr.HasField("g") else list(attr.graphs)):
                label = attr.name if attr.HasField("g") else f"{attr.name}[{i}]"
                _check_graph_text(sub, f"subgraph {label!r} of node {_show(node.name)} ({node.op_type}) "
                                       f"in {where}")


def _first_bytes(graph: onnx.GraphProto) -> str:
    """Which field of `graph` holds bytes (called only once one does)."""
    for what, items in (("an input name", [vi.name for vi in graph.input]),
                        ("an output name", [vi.name for vi in graph.output]),
                        ("a value_info name", [vi.name for vi in graph.value_info]),
                        ("an initializer name", [t.name for t in graph.initializer]),
                        ("its name", [graph.name])):
        bad = [v for v in items if isinstance(v, bytes)]
        if bad:
            return f"{what} ({bad[0]!r})"
    for index, node in enumerate(graph.node):
        for what, items in (("name", [node.name]), ("op_type", [node.op_type]), ("domain", [node.domain]),
                            ("input", list(node.input)), ("output", list(node.output)),
                            ("attribute name", [a.name for a in node.attribute])):
            bad = [v for v in items if isinstance(v, bytes)]
            if bad:
                return f"node #{index} ({_show(node.name)}): its {what} {bad[0]!r}"
    return "a name"


def _show(text) -> str:
    return repr(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)


def check_opsets(opsets: dict[str, int]) -> None:
    """Raise ModelError for an opset import onnx cannot know (0, negative, or newer than onnx)."""
    known = known_opset_versions()
    for domain, version in opsets.items():
        label = domain or "ai.onnx"
        if version < 1:
            raise ModelError(f"opset import {label!r} has version {version}; versions start at 1")
        newest = known.get(domain)
        if newest is not None and version > newest:
            raise ModelError(f"opset import {label!r} has version {version}, but the newest version this "
                             f"onnx ({onnx.__version__}) knows is {newest}")


@lru_cache(maxsize=4096)
def _schema(op_type: str, opset: int, domain: str):
    try:
        return defs.get_schema(op_type, opset, domain)
    except defs.SchemaError:
        return None


def _label(node: NodeProto) -> str:
    return f"{node.name!r} ({node.op_type})" if node.name else f"<{node.op_type} -> {list(node.output)}>"


def _type_name(t: int) -> str:
    try:
        return AttributeProto.AttributeType.Name(t)
    except ValueError:
        return f"type {t}"


def check_node(node: NodeProto, domain: str, opset: int) -> None:
    """Validate one node of a standard domain against its schema (see module doc)."""
    if domain not in STANDARD_DOMAINS:
        return
    schema = _schema(node.op_type, opset, domain)
    if schema is None:
        if _schema(node.op_type, known_opset_versions().get(domain, opset), domain) is not None:
            raise UnsupportedOpError(f"node {_label(node)}: op {node.op_type!r} does not exist at opset "
                                     f"{opset} of domain {domain or 'ai.onnx'!r} (it was introduced later)")
        return  # unknown op: the kernel lookup says so
    where = f"node {_label(node)}"
    _check_arity(where, "input", list(node.input), schema.inputs, schema.min_input, schema.max_input)
    _check_arity(where, "output", list(node.output), schema.outputs, schema.min_output, schema.max_output)
    seen = set()
    for attr in node.attribute:
        if attr.name in seen:
            raise ModelError(f"{where}: attribute {attr.name!r} is given twice")
        seen.add(attr.name)
        spec = schema.attributes.get(attr.name)
        if spec is None:
            raise ModelError(f"{where}: attribute {attr.name!r} is not defined for {node.op_type} at opset "
                             f"{opset} (it has: {', '.join(sorted(schema.attributes)) or 'none'})")
        if attr.ref_attr_name:
            continue  # a function-body reference, resolved on inlining
        if attr.type != int(spec.type):
            raise ModelError(f"{where}: attribute {attr.name!r} must be {_type_name(int(spec.type))}, "
                             f"got {_type_name(attr.type)}")
    missing = sorted(name for name, spec in schema.attributes.items() if spec.required and name not in seen)
    if missing:
        raise ModelError(f"{where}: required attribute(s) {', '.join(repr(m) for m in missing)} missing")
    _check_inference_hazards(where, node, opset)


#: attributes that name axes: no tensor has 2**31 of them, and onnx's C++ shape inference narrows
#: them to int (a LayerNormalization with axis 2**31 and its Mean output aborted the process)
_AXIS_ATTRIBUTES = frozenset({"axis", "axes", "perm", "batch_axis", "time_axis"})
_INT32 = 1 << 31


def _check_inference_hazards(where: str, node: NodeProto, opset: int) -> None:
    """Attribute values that crash onnx's C++ shape inference (found by tools/fuzz.py), refused
    before it runs: axis-like values beyond int32, and a Split (opset 18+) whose num_outputs is not
    its number of outputs (onnx indexes past its split sizes)."""
    for attr in node.attribute:
        if attr.name in _AXIS_ATTRIBUTES:
            values = [attr.i] if attr.type == AttributeProto.INT else list(attr.ints)
            if any(not -_INT32 <= v < _INT32 for v in values):
                raise ModelError(f"{where}: attribute {attr.name!r} = {values if len(values) > 1 else values[0]} "
                                 "is beyond any tensor's rank")
        if (attr.name == "num_outputs" and node.op_type == "Split" and opset >= 18
                and attr.type == AttributeProto.INT and attr.i != len(node.output)):
            raise ModelError(f"{where}: attribute 'num_outputs' is {attr.i} but the node has "
                             f"{len(node.output)} outputs")


def _check_arity(where: str, kind: str, names: list[str], formals, least: int, most: int) -> None:
    if len(names) > most:
        raise ModelError(f"{where}: has {len(names)} {kind}s; {least}..{most} allowed")
    for i, formal in enumerate(formals):
        if formal.option == _VARIADIC:
            if i == len(formals) - 1 and len(names) < least:
                raise ModelError(f"{where}: has {len(names)} {kind}s; at least {least} needed")
            break
        if formal.option == _SINGLE and (i >= len(names) or not names[i]):
            raise ModelError(f"{where}: required {kind} {i} ({formal.name!r}) is missing")


def check_structure(model: onnx.ModelProto) -> None:
    """What must hold before onnx's C++ shape inference may see a model: every name a node reads is
    defined (no dangling reads, no cycle, no value produced twice) and every standard-domain node
    fits its schema (arity, required inputs present, attributes). onnx's inference dereferences a
    missing input's type for some ops (an EyeLike reading an undefined or empty name crashes the
    process), so Session and graphkit's inference calls run this first. ModelError names the node."""
    from refruntime.plan import graph_input_names, node_subgraphs, topological_order
    from refruntime.registry import normalize_domain

    graph = model.graph
    topological_order(graph, graph_input_names(graph) | {t.name for t in graph.initializer}
                      | {t.values.name for t in graph.sparse_initializer})
    opsets = {normalize_domain(o.domain): o.version for o in model.opset_import}
    pending = list(graph.node)
    while pending:
        node = pending.pop()
        domain = normalize_domain(node.domain)
        if domain in opsets:
            try:
                check_node(node, domain, opsets[domain])
            except UnsupportedOpError:
                pass  # an op newer than the model's opset: planning reports it, inference skips it
        for sub in node_subgraphs(node):
            pending.extend(sub.node)
