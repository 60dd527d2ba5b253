"""An ONNX graph as TensorFlow ops: what `graphkit convert` saves and the `tf`/`tflite` runtimes run.

`TFGraph(model).run(inputs, wanted)` emits, node by node in topological order, the TensorFlow ops
of each ONNX node (the mappings in ops_nn.py, ops_math.py and ops_shape.py) inside a
`tf.name_scope` named after the node, and returns the values asked for, by their ONNX names and in
ONNX's layout. Called inside a `tf.function` it traces the converted graph; called eagerly it runs it.

Layout. TensorFlow's CPU kernels and TFLite want channels last (NHWC); ONNX is channels first
(NCHW). Each value carries a flag: `channels_last` means the TensorFlow tensor is the ONNX tensor
with its channel axis (1) moved to the end. Ops that need channels last (convolutions, pools,
BatchNormalization, LRN: kind SPATIAL) transpose their data input once if it is not already so and
produce channels-last outputs; elementwise ops (kind ELEMENTWISE) and Concat follow their inputs'
layout (constants and lower-rank operands are expanded and transposed to match, Concat's axis is
remapped); every other op gets its inputs back in ONNX layout (a transpose where one is needed).
So a CNN is NHWC from its first convolution to its Flatten, with no transposes between layers, and
any value can still be read in ONNX's layout (`run(..., wanted=...)`, per-node verification).

Constants. Initializers are numpy arrays; a node whose inputs are all known at conversion time
(shape arithmetic, Constant, weights' transposes) is run eagerly then (`tf.init_scope`) and its
outputs stay numpy, so they become constants of the converted graph and shape-dependent mappings
(Reshape, Slice, Pad...) see plain integers whenever the shapes are static.

A node with no mapping (another domain, an op not mapped, a subgraph attribute as in If/Loop/Scan,
an attribute combination a mapping declines) makes `TFGraph(...)` raise ConversionError naming
every such node, before anything is traced.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graphkit.convert.tfenv import ConversionError, tensorflow
from graphkit.verification.graph import data_inputs, topo_nodes

SPATIAL, ELEMENTWISE, CONCAT, AWARE, PLAIN = "spatial", "elementwise", "concat", "aware", "plain"
TARGETS = ("tf", "tflite")
VARIABLE_BYTES = 1 << 20  # constants at least this large become variables of the converted module
NEVER_STATIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"}


@dataclass
class Mapping:
    fn: object            # fn(ctx, inputs, attrs) -> tuple of outputs
    kind: str = PLAIN
    check: object = None  # check(attrs, n_outputs, opset) -> reason | None


OPS: dict[str, Mapping] = {}


def op(*names, kind: str = PLAIN):
    def register(fn):
        for name in names:
            OPS[name] = Mapping(fn, kind, OPS[name].check if name in OPS else None)
        return fn
    return register


def declines(*names):
    """Register `check(attrs, n_outputs, opset) -> reason | None` for these ops."""
    def register(fn):
        for name in names:
            OPS.setdefault(name, Mapping(None)).check = fn
        return fn
    return register


# ---------------------------------------------------------------- values and layouts


@dataclass
class Val:
    value: object                 # np.ndarray (known at conversion time) or a tf.Tensor
    channels_last: bool = False   # the ONNX tensor with axis 1 moved last (rank >= 3 only)

    @property
    def rank(self) -> int | None:
        if isinstance(self.value, np.ndarray):
            return self.value.ndim
        return self.value.shape.rank


def to_last(rank: int) -> list[int]:
    """The permutation that moves axis 1 last: NCHW -> NHWC."""
    return [0, *range(2, rank), 1]


def to_first(rank: int) -> list[int]:
    """Its inverse: NHWC -> NCHW."""
    return [0, rank - 1, *range(1, rank - 1)]


def _transpose(tf, value, perm):
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(np.transpose(value, perm))
    return tf.transpose(value, perm)


def onnx_layout(tf, val: Val):
    """The value in ONNX's layout."""
    if not val.channels_last:
        return val.value
    return _transpose(tf, val.value, to_first(val.rank))


def channels_last(tf, val: Val, rank: int | None = None):
    """The value channels-last at `rank` (its own rank by default): a lower-rank operand of a
    broadcasting op is first given leading unit axes, as ONNX's broadcasting would."""
    if val.channels_last:
        return val.value
    value, own = val.value, val.rank
    rank = own if rank is None else rank
    if rank < 3:
        return value
    if own < rank:
        if isinstance(value, np.ndarray):
            value = value.reshape((1,) * (rank - own) + value.shape)
        else:
            for _ in range(rank - own):
                value = tf.expand_dims(value, 0)
    return _transpose(tf, value, to_last(rank))


# ---------------------------------------------------------------- what a mapping sees


class Context:
    """What a mapping knows besides its inputs and attributes."""

    def __init__(self, tf, opset: int, target: str, lift=None):
        self.tf, self.opset, self.target = tf, opset, target
        self.node: onnx.NodeProto | None = None
        self.label = ""
        self._lift = lift
        self.channels_last = False  # the inputs were handed over channels-last (SPATIAL, or followed)

    @property
    def n_outputs(self) -> int:
        return len(self.node.output)

    def axis(self, axis: int, rank: int) -> int:
        """An ONNX axis of a rank-`rank` input, as an axis of the TensorFlow tensor it was given."""
        axis %= rank
        if not self.channels_last or rank < 3:
            return axis
        return to_last(rank).index(axis)  # TensorFlow's axis j holds ONNX's axis to_last[j]

    def static(self, value):
        """The value as numpy when it is known at conversion time, else None."""
        if value is None or isinstance(value, np.ndarray):
            return value
        if isinstance(value, (int, float, bool, np.generic)):
            return np.asarray(value)
        return self.tf.get_static_value(value)

    def ints(self, value) -> list[int] | None:
        known = self.static(value)
        return None if known is None else [int(v) for v in np.asarray(known).reshape(-1)]

    def dims(self, value) -> list[int | None]:
        """The shape of a value, None for the dims unknown until it runs."""
        if isinstance(value, np.ndarray):
            return list(value.shape)
        return list(value.shape.as_list()) if value.shape.rank is not None else None

    def shape_of(self, value, dtype=None):
        """The shape as numpy int64 when every dim is static, else a tensor (`dtype`, int64 default)."""
        tf = self.tf
        dims = self.dims(value)
        if dims is not None and all(d is not None for d in dims):
            return np.array(dims, np.int64)
        return tf.shape(value, out_type=dtype or tf.int64)

    def weight(self, value, role: str):
        """A large constant (a convolution's filter after its rearrangement) as a variable of the
        converted module, created once and shared by every function traced from this graph."""
        if self._lift is None or not isinstance(value, np.ndarray):
            return value
        return self._lift(f"{self.label}/{role}", value)

    def fail(self, message: str):
        raise ConversionError(f"node {self.label!r} ({self.node.op_type}): {message}")


# ---------------------------------------------------------------- the graph


TF_TYPES = {
    onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64", onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.BFLOAT16: "bfloat16", onnx.TensorProto.INT8: "int8", onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT32: "int32", onnx.TensorProto.INT64: "int64", onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.UINT16: "uint16", onnx.TensorProto.UINT32: "uint32", onnx.TensorProto.UINT64: "uint64",
    onnx.TensorProto.BOOL: "bool",
}


@dataclass
class InputSpec:
    name: str          # the ONNX name
    key: str           # its name in the SavedModel / TFLite signature
    dtype: str         # a TensorFlow dtype name
    shape: list        # dims, None where the model leaves them open


class TFGraph:
    """A model ready to be emitted as TensorFlow ops (see the module's docstring).

    `target`: "tf" (a SavedModel: every TensorFlow op allowed) or "tflite" (ops TFLite has no
    builtin for are written with ones it has: Erf as a rational approximation accurate to float32)."""

    def __init__(self, model: onnx.ModelProto, target: str = "tf"):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        from graphkit.convert import ops_math, ops_nn, ops_shape  # noqa: F401 - they register into OPS

        if model.functions:
            model = _inline_functions(model)
        self.model, self.target = model, target
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.nodes = topo_nodes(graph)
        self.attrs: list[dict] = []
        unmapped = []
        for info in self.nodes:
            try:
                attrs = {a.name: _attr(a) for a in info.node.attribute
                         if a.type not in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)}
                reason = _unmapped(info.node, attrs, self.opset)
            except Exception as exc:  # noqa: BLE001 - e.g. a tensor attribute stored outside the file
                attrs, reason = {}, f"attributes: {type(exc).__name__}: {_first_line(exc)}"
            self.attrs.append(attrs)
            if reason is not None:
                unmapped.append(f"{info.label!r} ({_qualified(info.node)}: {reason})")
        if unmapped:
            shown = ", ".join(unmapped[:6]) + (f" and {len(unmapped) - 6} more" if len(unmapped) > 6 else "")
            raise ConversionError(f"{len(unmapped)} node(s) have no TensorFlow mapping: {shown}")
        self.tf = tensorflow()  # after the checks: a model it cannot convert never waits for the import
        self.initializers = {t.name: _array(t) for t in graph.initializer}
        keys = _signature_keys([vi.name for vi in data_inputs(graph)] + [vi.name for vi in graph.output])
        self.inputs = [InputSpec(vi.name, keys[vi.name], _tf_type(vi, "input"), _dims(vi))
                       for vi in data_inputs(graph)]
        self.output_names = [vi.name for vi in graph.output]
        self.output_keys = {name: keys[name] for name in self.output_names}
        self.output_types = {vi.name: _tf_type(vi, "output", required=False) for vi in graph.output}
        self.producers = {o: i for i, info in enumerate(self.nodes) for o in info.outputs}
        self.notes: list[str] = []  # what the conversion changes on purpose or knowingly (see _emit)
        self.variables: dict = {}     # large constants, see _lift

    def value_names(self) -> list[str]:
        """Every node output, in topological order."""
        return [o for info in self.nodes for o in info.outputs]

    def run(self, inputs: dict, wanted: Iterable[str] | None = None) -> dict:
        """The TensorFlow values of `wanted` (default: the graph outputs) in ONNX layout, from
        `inputs` ({ONNX input name: tensor}). Only the nodes they depend on are emitted."""
        tf = self.tf
        wanted = list(self.output_names if wanted is None else wanted)
        env: dict[str, Val] = {name: Val(value) for name, value in self.initializers.items()}
        env.update({name: Val(value) for name, value in inputs.items()})
        ctx = Context(tf, self.opset, self.target, self._lift)
        for i in self._needed(wanted, set(env)):
            info, attrs = self.nodes[i], self.attrs[i]
            ctx.node, ctx.label = info.node, info.label
            try:
                with tf.name_scope(_scope(info.label)):
                    outputs = self._emit(ctx, info, attrs, [env[n] if n else None for n in info.node.input])
            except ConversionError:
                raise
            except Exception as exc:
                raise ConversionError(f"node {info.label!r} ({info.op}): {type(exc).__name__}: "
                                      f"{_first_line(exc)}") from exc
            for name, val in zip(info.node.output, outputs):
                if name:
                    env[name] = val
        missing = [n for n in wanted if n not in env]
        if missing:
            raise ConversionError(f"no node computes {missing[:5]}")
        return {n: onnx_layout(tf, env[n]) for n in wanted}

    def _needed(self, wanted: list[str], known: set[str]) -> list[int]:
        """Indices (topological order) of the nodes the wanted values depend on."""
        needed, stack = set(), [n for n in wanted if n not in known]
        while stack:
            i = self.producers.get(stack.pop())
            if i is None or i in needed:
                continue
            needed.add(i)
            stack.extend(n for n in self.nodes[i].inputs if n not in known)
        return sorted(needed)

    def _emit(self, ctx: Context, info, attrs: dict, vals: list) -> list[Val]:
        tf = self.tf
        mapping = OPS[info.op]
        present = [v for v in vals if v is not None]
        if mapping.kind == AWARE:
            ctx.channels_last = False
            return self._wrap(mapping.fn(ctx, vals, attrs), False)
        last = self._follow_layout(mapping.kind, present)
        ctx.channels_last = last
        if mapping.kind == SPATIAL:
            args = [None if v is None else (channels_last(tf, v) if k == 0 else onnx_layout(tf, v))
                    for k, v in enumerate(vals)]
        elif last:
            rank = max(v.rank for v in present)
            args = [None if v is None else channels_last(tf, v, rank) for v in vals]
        else:
            args = [None if v is None else onnx_layout(tf, v) for v in vals]
        static = (all(isinstance(a, np.ndarray) for a in args if a is not None)
                  and info.op not in NEVER_STATIC)
        if static:  # computed now; its outputs are constants of the converted graph
            with tf.init_scope():
                outputs = mapping.fn(ctx, args, attrs)
            outputs = [None if o is None else np.asarray(o.numpy() if hasattr(o, "numpy") else o) for o in outputs]
        else:
            if mapping.kind != SPATIAL:  # SPATIAL mappings lift their weights after rearranging them
                args = [self._lift(f"{info.label}/{k}", a) if isinstance(a, np.ndarray) else a
                        for k, a in enumerate(args)]
            if self.target == "tflite" and any(_infinite(a) for a in args):
                self._note(f"node {info.label!r} ({info.op}) reads a constant holding ±inf: TFLite's converter "
                           f"stores it as ±3.4e38 (float32's largest finite value)")
            outputs = mapping.fn(ctx, args, attrs)
        return self._wrap(outputs, last)

    def _lift(self, key: str, value: np.ndarray):
        """`value` itself when small; a tf.Variable (created once per key, eagerly) when it holds
        at least VARIABLE_BYTES. Traced functions capture variables by reference, so the weights
        exist once however many functions are traced (per-node chunks), and a SavedModel keeps
        them in variables/, not inside its graph (protobuf's 2 GiB limit)."""
        if value.nbytes < VARIABLE_BYTES or value.dtype.kind not in "fiub":
            return value
        variable = self.variables.get(key)
        if variable is None:
            tf = self.tf
            with tf.init_scope():
                variable = tf.Variable(value, trainable=False, name=_scope(key))
            self.variables[key] = variable
        return variable

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @staticmethod
    def _follow_layout(kind: str, present: list[Val]) -> bool:
        """Whether the node runs channels-last: always for SPATIAL; for ELEMENTWISE and CONCAT when
        some input already is and every other input's rank is known and not larger."""
        if kind == SPATIAL:
            return True
        if kind not in (ELEMENTWISE, CONCAT):
            return False
        ranks = [v.rank for v in present]
        last = [v for v in present if v.channels_last]
        if not last or any(r is None for r in ranks):
            return False
        rank = last[0].rank
        if kind == CONCAT:
            return all(r == rank for r in ranks)
        return all(r <= rank for r in ranks)

    @staticmethod
    def _wrap(outputs, last: bool) -> list[Val]:
        vals = []
        for out in outputs:
            if isinstance(out, Val):
                vals.append(out)
                continue
            val = Val(out)
            val.channels_last = bool(last and out is not None and (val.rank or 0) >= 3)
            vals.append(val)
        return vals

    # ------------------------------------------------------------ TensorFlow objects

    def input_signature(self, shapes: dict | None = None) -> list:
        """One tf.TensorSpec per data input (open dims None), named by its signature key."""
        tf = self.tf
        shapes = shapes or {}
        return [tf.TensorSpec(list(shapes.get(s.name, s.shape)) if s.shape is not None or s.name in shapes
                              else None, getattr(tf, s.dtype), name=s.key) for s in self.inputs]

    def function(self, outputs: list[str] | None = None, shapes: dict | None = None):
        """(tf.function, {ONNX output name: key}): a function of the data inputs (keyword arguments
        named by their signature keys) returning {key: tensor} in ONNX layout, for the graph
        outputs or for `outputs` (any values of the graph)."""
        tf = self.tf
        names = [s.name for s in self.inputs]
        wanted = list(dict.fromkeys(self.output_names if outputs is None else outputs))
        keys = self.output_keys if outputs is None else _signature_keys(wanted)
        types = self.output_types if outputs is None else {}

        def converted(*args):
            got = self.run(dict(zip(names, args)), wanted)
            result = {}
            for name in wanted:
                value = got[name]
                if isinstance(value, np.ndarray):
                    value = tf.constant(value)
                if types.get(name) and value.dtype.name != types[name]:
                    value = tf.cast(value, types[name])
                result[keys[name]] = tf.identity(value, name=_scope(keys[name]))
            return result

        converted.__name__ = "onnx_graph"
        fn = tf.function(converted, input_signature=self.input_signature(shapes), autograph=False)
        return fn, {name: keys[name] for name in wanted}


# ---------------------------------------------------------------- helpers


def _infinite(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and bool(np.isinf(value).any())


def _unmapped(node: onnx.NodeProto, attrs: dict, opset: int) -> str | None:
    if node.domain not in ("", "ai.onnx"):
        return f"domain {node.domain!r}"
    mapping = OPS.get(node.op_type)
    if mapping is None or mapping.fn is None:
        return "no TensorFlow mapping"
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
        return "subgraph attribute"
    return mapping.check(attrs, len(node.output), opset) if mapping.check is not None else None


def _qualified(node: onnx.NodeProto) -> str:
    return f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _attr(a: onnx.AttributeProto):
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return _array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    return value


def _array(tensor: onnx.TensorProto) -> np.ndarray:
    if tensor.data_type == onnx.TensorProto.STRING:
        raise ConversionError(f"tensor {tensor.name!r}: string tensors have no TensorFlow mapping here")
    return np.asarray(numpy_helper.to_array(tensor))


def _inline_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnx import inliner

    try:
        return inliner.inline_local_functions(model)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"cannot inline the model's local functions: {_first_line(exc)}") from None


def _tf_type(vi: onnx.ValueInfoProto, what: str, required: bool = True) -> str | None:
    elem = vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0
    if elem in TF_TYPES:
        return TF_TYPES[elem]
    if not required:
        return None
    name = helper.tensor_dtype_to_string(elem) if elem else "no tensor type"
    raise ConversionError(f"{what} {vi.name!r}: {name} has no TensorFlow mapping")


def _dims(vi: onnx.ValueInfoProto) -> list | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _scope(label: str) -> str:
    """A node label as a valid TensorFlow name scope."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", label).strip("_") or "node"
    return name if re.match(r"[A-Za-z0-9.]", name) else f"n{name}"


def _signature_keys(names: list[str]) -> dict[str, str]:
    """ONNX value names -> signature keys (letters, digits, underscores; unique)."""
    keys, used = {}, set()
    for name in dict.fromkeys(names):
        key = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "value"
        if key[0].isdigit():
            key = f"v{key}"
        base, n = key, 1
        while key in used:
            n += 1
            key = f"{base}_{n}"
        used.add(key)
        keys[name] = key
    return keys
