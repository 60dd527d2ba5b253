"""Strict typing: refuse a model whose declared types and shapes disagree with what its ops produce.

`check_strict(model)` runs onnx's own type and shape inference (`onnx.shape_inference`,
check_type=True, strict_mode=True, data_prop=True); it has no type rules of its own. It catches
what onnxruntime refuses at load time and onnx.reference runs anyway:
- a value declared (value_info, graph output, subgraph output) with an element type, rank or
  static dimension other than the one its producer computes;
- inputs that break an op's type constraints (Add of float and int64, a type an op does not take);
- any other inference failure of a standard-domain node (broadcast of incompatible static dims...).
Each is a ModelError naming the node (name and op), the input or output, and expected vs found.

What it does not report, because the model is not at fault or onnx cannot tell:
- nodes of domains onnx has no schema for (com.microsoft, custom domains) and unknown ops: they run
  as opaque calls, so their outputs have the declared type or none, and the standard nodes after
  them are still checked (left as they are, one such node would silence onnx for the rest of the
  graph); model-local functions are inlined first;
- errors of a node some input of which has no known type (downstream of an opaque node without a
  declared type), and errors inside the function body onnx defines for an op (onnx's own
  definitions; e.g. MeanVarianceNormalization-13 without `axes` fails there, onnxruntime runs it).

The weights are never read: top-level initializers stored externally or larger than
SMALL_TENSOR_ELEMENTS enter inference as typed graph inputs without values (small ones, shapes and
axes, stay constants for shape inference), so a >2 GB model is checked from its graph alone.
onnx.checker.check_model(full_check=True) is not used: it refuses node lists that are not
topologically sorted (planning sorts them, as onnxruntime does), needs external data on disk, and
its node checks repeat refruntime.validate's with vaguer messages.

On a failure, the structural checks planning does (initializer headers, cycles and dangling reads,
node schemas) run first so a malformed graph gets the message planning gives it; then the graph
is inferred again, sorted, with every node renamed to an index, to attribute each error exactly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto, defs, helper

from refruntime.errors import ModelError, RefRuntimeError
from refruntime.registry import normalize_domain

SMALL_TENSOR_ELEMENTS = 256      # larger top-level initializers enter inference without their values
OPAQUE_DOMAIN = "refruntime.strict.opaque"
MAX_ROUNDS = 16                  # re-runs after an ignorable error that stopped inference early
_TAG = "refruntime.strict#"
_CONTEXT = re.compile(r"\(op_type:[^()\n]*?, node name: refruntime\.strict#(\d+)\): ")
_NO_OPSET = re.compile(r"node name refruntime\.strict#(\d+)\. (No opset import for domain .*)")
_PREFIX = re.compile(r"^(\s*\[\w+\]\s*)+")
_CONTROL_FLOW = frozenset({"If", "Loop", "Scan", "SequenceMap"})  # standard ops with subgraphs
_NOISE = ("expected to have type but instead is null", "Cannot parse data from external tensors")


def check_strict(model: ModelProto) -> None:
    """Raise ModelError if onnx's strict type and shape inference refuses the model (module doc)."""
    if not isinstance(model, ModelProto) or not model.HasField("graph"):
        raise ModelError("strict check: not an ONNX model (no graph)")
    try:
        _Checker(model).run()
    except ModelError:
        raise
    except RefRuntimeError as exc:
        raise ModelError(str(exc)) from None
    except RecursionError:
        raise ModelError("strict check: the model's subgraphs are nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - onnx/protobuf raise ValueError, RuntimeError, DecodeError...
        raise ModelError(f"strict check: onnx cannot infer the model's types ({type(exc).__name__}: "
                         f"{_one_line(exc)})") from None


@dataclass
class _NodeRef:
    node: NodeProto                 # the node in the checked model
    parent: _NodeRef | None = None  # the node whose subgraph holds it
    attr: str = ""                  # that subgraph's attribute name


class _Checker:
    def __init__(self, model: ModelProto):
        from refruntime.validate import check_opsets

        self.opsets = {normalize_domain(o.domain): o.version for o in model.opset_import}
        check_opsets(self.opsets)
        if model.functions:
            model = _inline(model)
        self.model = model
        self.opaque_used = False
        self._opaque_ops: dict[tuple[str, str], bool] = {}
        # top-level initializers that enter inference as typed inputs, without their values
        self.large = {t.name for t in model.graph.initializer if not _small(t)}
        self.has_opaque = self._has_opaque(model.graph)

    def run(self) -> None:
        model = self.model
        if self.large or self.has_opaque:
            model = self._copy()[0]
        if _failure(model.SerializeToString(), check_type=True) is not None:
            self._explain()  # on a copy that attributes every error to its node

    # -- the model as onnx sees it ------------------------------------------------------------
    def _opaque(self, node: NodeProto) -> bool:
        """True for a node onnx has no schema for (it would silence the errors of later nodes)."""
        key = (node.domain, node.op_type)
        opaque = self._opaque_ops.get(key)
        if opaque is None:
            domain = normalize_domain(node.domain)
            version = self.opsets.get(domain)
            if version is None:  # a standard domain without import is an error onnx reports
                opaque = domain not in _schema_domains()
            else:
                opaque = _schema(node.op_type, version, domain) is None
            self._opaque_ops[key] = opaque
        return opaque

    def _has_opaque(self, graph: GraphProto) -> bool:
        for node in graph.node:  # the hot loop on a large graph
            if self._opaque(node):
                return True
            if node.op_type in _CONTROL_FLOW and any(self._has_opaque(g) for g in _subgraphs(node)):
                return True
        return False

    def _copy(self, order=None, tag: bool = False, force: frozenset = frozenset()):
        """A copy for inference: weights left out, opaque nodes neutralized, optionally sorted
        and with every node renamed to its index in the returned list of _NodeRefs."""
        src = self.model
        m = ModelProto(ir_version=src.ir_version)
        m.opset_import.extend(src.opset_import)
        g, graph = m.graph, src.graph
        g.name = graph.name
        g.input.extend(graph.input)
        g.output.extend(graph.output)
        g.value_info.extend(graph.value_info)
        g.sparse_initializer.extend(graph.sparse_initializer)
        inputs = {vi.name for vi in graph.input}
        for t in graph.initializer:
            if t.name not in self.large:
                g.initializer.append(t)
            elif t.name not in inputs:  # typed, without a value
                g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
                inputs.add(t.name)
        refs: list[_NodeRef] = []
        self.opaque_used = False
        if order is None and not tag and not self.has_opaque:
            g.node.extend(graph.node)
            return m, refs
        for node in graph.node if order is None else order:
            copy = g.node.add()
            copy.CopyFrom(node)
            self._prepare(copy, _NodeRef(node), refs, tag, force)
        if self.opaque_used:
            m.opset_import.add(domain=OPAQUE_DOMAIN, version=1)
            m.functions.append(helper.make_function(OPAQUE_DOMAIN, "opaque", [], [], [], []))
        return m, refs

    def _prepare(self, copy: NodeProto, ref: _NodeRef, refs: list, tag: bool, force: frozenset) -> None:
        index = len(refs)
        refs.append(ref)
        if tag:
            copy.name = f"{_TAG}{index}"
        for a_copy, a_src in zip(copy.attribute, ref.node.attribute):
            graphs = [(a_copy.g, a_src.g)] if a_src.type == AttributeProto.GRAPH else \
                zip(a_copy.graphs, a_src.graphs) if a_src.type == AttributeProto.GRAPHS else ()
            for g_copy, g_src in graphs:
                for n_copy, n_src in zip(g_copy.node, g_src.node):
                    self._prepare(n_copy, _NodeRef(n_src, ref, a_src.name), refs, tag, force)
        if index in force or self._opaque(ref.node):  # a call of an empty function: outputs untyped
            del copy.attribute[:]
            copy.domain, copy.op_type = OPAQUE_DOMAIN, "opaque"
            self.opaque_used = True

    # -- explaining a failure -----------------------------------------------------------------
    def _explain(self) -> None:
        order = self._structural_checks()
        force: set[int] = set()
        for _ in range(MAX_ROUNDS):
            copy, refs = self._copy(order, tag=True, force=frozenset(force))
            data = copy.SerializeToString()
            # with check_type, a broken type constraint stops inference at once, dropping the errors
            # collected before it; without, those are all reported: the union, in graph order
            messages = [m for m in (_failure(data, check_type=True), _failure(data, check_type=False)) if m]
            if not messages:
                return  # sorted (or with an ignorable failure neutralized), the model infers
            found = sorted({e for m in messages for e in _parse(m, refs)})
            if not found:
                raise ModelError(self._unattributed(messages[0]))
            typed = _typed_names(data)
            real = [(refs[i], text) for i, text in found if not _ignorable(refs[i], text, typed)]
            if real:
                more = f" [and {len(real) - 1} more]" if len(real) > 1 else ""
                raise ModelError(f"strict check: {self._describe(*real[0], typed)}{more}; "
                                 "Session(strict=False) runs it anyway")
            stopped = [m for m in messages if not m.lstrip().startswith("[ShapeInferenceError] Inference error(s)")]
            if not stopped:
                return  # every node was inferred and no error is one we report
            where = _parse(stopped[0], refs)  # an ignorable error stopped inference: neutralize its node
            if not where:
                raise ModelError(self._unattributed(stopped[0]))
            top = refs[where[0][0]]
            while top.parent is not None:
                top = top.parent
            force.add(next(i for i, r in enumerate(refs) if r is top))

    def _structural_checks(self) -> list[NodeProto]:
        """The checks planning does, for its messages: initializer headers, the node order (cycles,
        dangling reads, values produced twice), each node against its schema, input types."""
        from refruntime.feeds import graph_input_specs
        from refruntime.plan import _check_bytes, topological_order
        from refruntime.validate import check_node

        graph = self.model.graph
        for t in graph.initializer:
            dims = [int(d) for d in t.dims]
            if any(d < 0 for d in dims):
                raise ModelError(f"initializer {t.name!r}: negative dimension in shape {dims}")
            _check_bytes(t.name, dims, t.data_type, None, "initializer")
        available = {i.name for i in graph.input} | {t.name for t in graph.initializer}
        available |= {t.values.name for t in graph.sparse_initializer}
        order = topological_order(graph, available)
        for node in _all_nodes(graph):
            domain = normalize_domain(node.domain)
            if domain in self.opsets:
                try:
                    check_node(node, domain, self.opsets[domain])
                except ModelError:
                    raise
                except RefRuntimeError:
                    pass  # an unknown op: planning says so; onnx cannot type it anyway
        graph_input_specs(graph)
        return order

    def _describe(self, ref: _NodeRef, text: str, typed: dict) -> str:
        node = ref.node
        where = f"node {_label(node)}"
        parent = ref
        while parent.parent is not None:
            where += f" (in the {parent.attr!r} subgraph of node {_label(parent.parent.node)})"
            parent = parent.parent
        op = node.op_type
        declared = _declared(self.model.graph)
        m = re.match(r"Inferred elem type differs from existing elem type: \((\d+)\) vs \((\d+)\)", text)
        if m:
            found, want = int(m.group(1)), int(m.group(2))
            outs = _outputs_where(node, declared, lambda t: _elem(t) == want)
            return f"{where}, {outs}: the model declares {_elem_name(want)} but {op} produces {_elem_name(found)}"
        m = re.match(r"Inferred shape and existing shape differ in rank: \((\d+)\) vs \((\d+)\)", text)
        if m:
            found, want = int(m.group(1)), int(m.group(2))
            outs = _outputs_where(node, declared, lambda t: _rank(t) == want)
            return f"{where}, {outs}: the model declares rank {want} but {op} produces rank {found}"
        m = re.match(r"Inferred shape and existing shape differ in dimension (\d+): \((\d+)\) vs \((\d+)\)", text)
        if m:
            axis, found, want = (int(g) for g in m.groups())
            outs = _outputs_where(node, declared, lambda t: _dim(t, axis) == want)
            return f"{where}, {outs}: the model declares dimension {axis} = {want} but {op} produces {found}"
        if text.startswith("No opset import for domain"):
            return f"{where}: the model imports no opset of its domain {node.domain or 'ai.onnx'!r}"
        m = re.match(r"(\S+?) (?:typestr: (\S+), )?has (inconsistent|unsupported) type:? (.+)", text)
        if m:
            return f"{where}, {self._type_constraint(node, *m.groups(), typed)}"
        return f"{where}: {_codes_to_names(' '.join(text.split()))}"

    def _type_constraint(self, node: NodeProto, param: str, type_str, kind: str, found: str, typed: dict) -> str:
        """An input or output that breaks a type constraint of the op's schema, and what it needed."""
        domain = normalize_domain(node.domain)
        schema = _schema(node.op_type, self.opsets.get(domain, 0), domain)
        if schema is None:
            return f"{param} has {kind} type {found}"
        formals, names, what = schema.inputs, list(node.input), "input"
        if param not in [f.name for f in formals]:
            formals, names, what = schema.outputs, list(node.output), "output"
        # the actual position(s) of the formal parameter (several when it is variadic)
        slots = [i for i, n in enumerate(names) if n and formals and formals[min(i, len(formals) - 1)].name == param]
        index = next((i for i in slots if _type_text(typed.get(names[i], TypeProto())).startswith(found)),
                     slots[0] if slots else None)
        label = f"{what} {param}" if index is None else f"{what} {index} {names[index]!r} ({param})"
        type_str = type_str or next((f.type_str for f in formals if f.name == param), "?")
        if kind == "unsupported":
            allowed = next((sorted(c.allowed_type_strs) for c in schema.type_constraints
                            if c.type_param_str == type_str), [])
            return f"{label}: {node.op_type} takes {', '.join(allowed) or type_str} for {type_str}, found {found}"
        peers = [(i, n) for i, n in enumerate(node.input) if n and i != index and n in typed
                 and schema.inputs and schema.inputs[min(i, len(schema.inputs) - 1)].type_str == type_str]
        if not peers:
            return f"{label} is {found}, inconsistent with the other values of type {type_str}"
        i, n = peers[0]
        return (f"{label} is {found}, but input {i} {n!r} is {_type_text(typed[n])}: {node.op_type} needs one "
                f"type {type_str} for both")

    def _unattributed(self, message: str) -> str:
        """The wording of an error onnx gives without a node: an initializer that disagrees with
        its graph input declaration (the usual one), else onnx's text and the value it names."""
        text = _codes_to_names(" ".join(message.split()))[:400]
        graph = self.model.graph
        mismatch = _initializer_mismatch(graph)
        if mismatch:
            return f"strict check: {mismatch}; Session(strict=False) runs it anyway"
        names = [vi.name for vi in (*graph.input, *graph.output, *graph.value_info)]
        names += [t.name for t in graph.initializer]
        hit = max((n for n in names if n and re.search(rf"(?:: |'){re.escape(n)}(?:'|[\s.,]|$)", text)),
                  key=len, default=None)
        if hit is None:
            return f"strict check: onnx refuses the model: {text}"
        producer = next((n for n in graph.node if hit in n.output), None)
        what = f"value {hit!r}" + (f" (output of node {_label(producer)})" if producer is not None else "")
        return f"strict check: {what}: onnx refuses the model: {text}"


def _initializer_mismatch(graph: GraphProto) -> str | None:
    declared = {vi.name: vi.type for vi in graph.input}
    for t in graph.initializer:
        want = declared.get(t.name)
        if want is None:
            continue
        have = helper.make_tensor_type_proto(t.data_type, list(t.dims))
        tt = want.tensor_type
        wrong = want.WhichOneof("value") != "tensor_type" or (tt.elem_type and tt.elem_type != t.data_type)
        if not wrong and tt.HasField("shape"):
            dims = tt.shape.dim
            wrong = len(dims) != len(t.dims) or any(
                d.WhichOneof("value") == "dim_value" and d.dim_value != n for d, n in zip(dims, t.dims))
        if wrong:
            return (f"initializer {t.name!r} is {_type_text(have)} but graph input {t.name!r} is declared "
                    f"{_type_text(want)}")
    return None


# -- onnx ------------------------------------------------------------------------------------------
def _infer(data: bytes, strict: bool, check_type: bool | None = None) -> bytes:
    """onnx's inference on serialized bytes; returns the inferred model's bytes (not parsed)."""
    from onnx.onnx_cpp2py_export import shape_inference as c_inference

    return c_inference.infer_shapes(data, strict if check_type is None else check_type, strict, True)


def _failure(data: bytes, check_type: bool) -> str | None:
    """onnx's message if strict inference fails, else None."""
    try:
        _infer(data, strict=True, check_type=check_type)
    except Exception as exc:  # noqa: BLE001 - InferenceError, ValidationError, ValueError...
        message = str(exc)
        return message if isinstance(exc, (RuntimeError, ValueError)) and message else \
            f"{type(exc).__name__}: {message}"
    return None


def _inline(model: ModelProto) -> ModelProto:
    from onnx import inliner

    try:
        return inliner.inline_local_functions(model)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"cannot inline the model's local functions: {_one_line(exc)}") from None


@lru_cache(maxsize=1)
def _schema_domains() -> frozenset[str]:
    return frozenset(normalize_domain(s.domain) for s in defs.get_all_schemas_with_history())


@lru_cache(maxsize=4096)
def _schema(op_type: str, version: int, domain: str):
    try:
        return defs.get_schema(op_type, version, domain)
    except Exception:  # noqa: BLE001 - SchemaError; odd strings from hostile models
        return None


def _small(t: TensorProto) -> bool:
    """Small enough to be a shape or axes operand, judged from the header (reading the data
    would copy it), and stored in the model."""
    count = 1
    for d in t.dims:
        count *= d
    return count <= SMALL_TENSOR_ELEMENTS and t.data_location != TensorProto.EXTERNAL


def _subgraphs(node: NodeProto):
    for attr in node.attribute:
        if attr.type == AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == AttributeProto.GRAPHS:
            yield from attr.graphs


def _all_nodes(graph: GraphProto):
    for node in graph.node:
        yield node
        for g in _subgraphs(node):
            yield from _all_nodes(g)


def _all_graphs(graph: GraphProto):
    yield graph
    for node in graph.node:
        for g in _subgraphs(node):
            yield from _all_graphs(g)


# -- reading onnx's errors ---------------------------------------------------------------------------
def _parse(message: str, refs: list[_NodeRef]) -> list[tuple[int, str]]:
    """(node index, error text) for every node-attributed error, in onnx's order. An error inside
    the function body onnx defines for an op comes as text holding another, untagged `(op_type:`."""
    found = []
    matches = list(_CONTEXT.finditer(message))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(message)
        text = _PREFIX.sub("", message[m.end():end]).strip()
        index = int(m.group(1))
        if text in ("", "Inference error(s):") or index >= len(refs):
            continue  # the context of errors nested inside a subgraph
        found.append((index, text))
    m = _NO_OPSET.search(message)
    if m and int(m.group(1)) < len(refs):
        found.append((int(m.group(1)), m.group(2).strip()))
    return found


def _ignorable(ref: _NodeRef, text: str, typed: dict) -> bool:
    if "(op_type:" in text or any(s in text for s in _NOISE):
        return True  # inside onnx's function body of the op, or a type onnx does not know
    return any(name and name not in typed for name in ref.node.input)


def _typed_names(data: bytes) -> dict[str, TypeProto]:
    """Every value whose type onnx knows after a lenient inference of `data`: declared or inferred."""
    try:
        model = ModelProto.FromString(_infer(data, strict=False))
    except Exception:  # noqa: BLE001 - then what is declared
        model = ModelProto.FromString(data)
    typed = {}
    for g in _all_graphs(model.graph):
        for vi in (*g.input, *g.output, *g.value_info):
            if _known(vi.type):
                typed[vi.name] = vi.type
        for t in g.initializer:
            if t.data_type:
                typed[t.name] = helper.make_tensor_type_proto(t.data_type, list(t.dims))
        for s in g.sparse_initializer:
            typed[s.values.name] = helper.make_sparse_tensor_type_proto(s.values.data_type, list(s.dims))
    return typed


def _known(t: TypeProto) -> bool:
    which = t.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        return getattr(t, which).elem_type != 0
    if which in ("sequence_type", "optional_type"):
        return _known(getattr(t, which).elem_type)
    return which is not None


# -- wording -------------------------------------------------------------------------------------------
def _declared(graph: GraphProto) -> dict[str, tuple[TypeProto, str]]:
    """Declared types by value name, with where each is declared."""
    found: dict[str, tuple[TypeProto, str]] = {}
    for g in _all_graphs(graph):
        sub = g is not graph
        for vi in g.value_info:
            found.setdefault(vi.name, (vi.type, "value_info"))
        for vi in g.output:
            found.setdefault(vi.name, (vi.type, f"output of subgraph {g.name!r}" if sub else "graph output"))
    return found


def _outputs_where(node: NodeProto, declared: dict, test) -> str:
    """The outputs of `node` whose declared type passes `test`, with where each is declared."""
    hits = [f"output {i} {n!r} ({declared[n][1]}: {_type_text(declared[n][0])})"
            for i, n in enumerate(node.output) if n in declared and test(declared[n][0])]
    return " or ".join(hits) if hits else "an output"


def _elem(t: TypeProto) -> int | None:
    return t.tensor_type.elem_type if t.WhichOneof("value") == "tensor_type" else None


def _rank(t: TypeProto) -> int | None:
    tt = t.tensor_type
    return len(tt.shape.dim) if t.WhichOneof("value") == "tensor_type" and tt.HasField("shape") else None


def _dim(t: TypeProto, axis: int) -> int | None:
    rank = _rank(t)
    if rank is None or axis >= rank:
        return None
    d = t.tensor_type.shape.dim[axis]
    return d.dim_value if d.WhichOneof("value") == "dim_value" else None


def _elem_name(code: int) -> str:
    try:
        return TensorProto.DataType.Name(code)
    except ValueError:
        return f"element type {code}"


def _type_text(t: TypeProto) -> str:
    which = t.WhichOneof("value")
    if which != "tensor_type":
        return which or "untyped"
    text = f"tensor({_elem_name(t.tensor_type.elem_type).lower()})"
    if t.tensor_type.HasField("shape"):
        dims = [str(d.dim_value) if d.WhichOneof("value") == "dim_value" else (d.dim_param or "?")
                for d in t.tensor_type.shape.dim]
        text += f"[{', '.join(dims)}]"
    return text


def _codes_to_names(text: str) -> str:
    """onnx prints element types as numbers in parentheses: '(1) vs (7)' -> '(FLOAT) vs (INT64)'."""
    if "elem type" not in text:
        return text
    return re.sub(r"\((\d+)\)", lambda m: f"({_elem_name(int(m.group(1)))})", text)


def _label(node: NodeProto) -> str:
    return f"{node.name!r} ({node.op_type})" if node.name else f"<{node.op_type} -> {list(node.output)}>"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:400] or type(exc).__name__


__all__ = ["check_strict"]
