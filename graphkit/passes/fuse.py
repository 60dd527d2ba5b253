"""fuse: merge per-channel affine ops into their producer, and MatMul+Add into Gemm.

Rules (each a rewriter Pattern; arithmetic in float64, cast back to the weight dtype):
  conv_bn      Conv -> BatchNormalization (inference)   => Conv with scaled weights and bias
  conv_mul     Conv -> Mul(per-channel constant)        => Conv with scaled weights and bias
  conv_add     Conv -> Add(per-channel constant)        => Conv bias
  bn_mul       BatchNormalization -> Mul(per-channel)   => BatchNormalization (scale, bias)
  bn_add       BatchNormalization -> Add(per-channel)   => BatchNormalization (bias)
  matmul_add   MatMul(2-D A, constant 2-D B) -> Add(constant C broadcastable to [M, N]) => Gemm

Quantized models are left as they are: every rule needs constant weights, and a quantized weight
is the output of a DequantizeLinear (fold_constants keeps those unless fold_dequantize=True), not a
constant; and a Q/DQ pair between two ops (Conv -> Q -> DQ -> BatchNormalization) breaks the
producer -> consumer edge a rule matches, so nothing fuses across a quantization boundary.
"""
from __future__ import annotations

import numpy as np

from graphkit.passes.base import Pass, Report
from graphkit.rewriter import ANY, Const, Pattern, Rule, rewrite
from graphkit.surgery._util import inferred_types, opset_of, type_shape

_FLOAT = "f"


def _float(a) -> bool:
    return a.dtype.kind == _FLOAT


def per_channel(c: np.ndarray, rank: int | None, channels: int) -> np.ndarray | None:
    """`c` as a (channels,) vector if adding/multiplying it to an [N, C, ...] tensor of this rank
    acts per channel (and does not grow the result); else None."""
    if rank is None or c.ndim > rank or rank < 2:
        return None
    shape = (1,) * (rank - c.ndim) + c.shape
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(c.reshape(-1).astype(np.float64), (channels,))


def _attrs(node) -> dict:
    return {k: node.attributes.attr(k) for k in node.attributes}


class Fuse(Pass):
    name = "fuse"
    requires_acyclic = True

    def __init__(self, rules: tuple[str, ...] | None = None):
        self.only = rules

    def run(self, model, report: Report) -> None:
        types = None

        def shape_of(value) -> tuple | None:
            """Declared shape, else a rank read off the producers, else onnx shape inference's."""
            nonlocal types
            if value.shape is not None:
                return value.shape
            rank = _local_rank(value)
            if rank is not None:
                return (None,) * rank
            if types is None:
                types = inferred_types(model)
            return type_shape(types.get(value.name))

        rules = [r for r in make_rules(model, shape_of) if self.only is None or r.name in self.only]
        rewrite(model, *rules, report=report)


_SAME_RANK = frozenset({"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "BatchNormalization", "MaxPool",
                        "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LRN", "Concat", "Dropout",
                        "Identity", "Softmax", "Elu", "Selu", "PRelu", "InstanceNormalization"})


def _local_rank(value, depth: int = 64) -> int | None:
    """Rank of a value from its producers (Conv: weight rank; rank-preserving ops: their input)."""
    for _ in range(depth):
        if value is None:
            return None
        if value.shape is not None:
            return len(value.shape)
        node = value.producer
        if node is None or node.domain not in ("", "ai.onnx"):
            return None
        if node.op_type in ("Conv", "ConvTranspose") and len(node.inputs) > 1 and node.inputs[1] is not None:
            w = node.inputs[1].const_value
            return len(w.shape) if w is not None else None
        if node.op_type not in _SAME_RANK or value.index != 0:
            return None
        value = node.inputs[0]
    return None


def make_rules(model, shape_of) -> list[Rule]:
    return [_conv_bn(model), _conv_affine("mul"), _conv_affine("add"),
            _bn_affine("mul", shape_of), _bn_affine("add", shape_of), _matmul_add(model, shape_of)]


def _bn_inference(model):
    def check(node) -> bool:
        opset = opset_of(model, node)
        if opset >= 14 and node.attributes.get("training_mode", 0):
            return False
        if opset < 7 and not node.attributes.get("is_test", 0):
            return False
        if opset < 9 and not node.attributes.get("spatial", 1):
            return False
        return not any(v.uses or v.is_graph_output() for v in node.outputs[1:])
    return check


def _conv_weights(m, name="conv"):
    w, b = m.const(name, 1), m.const(name, 2)
    if w is None or not _float(w) or w.ndim < 3:
        return None, None
    return w, (np.zeros(w.shape[0]) if b is None else b.astype(np.float64))


def _scale_rows(w: np.ndarray, s64: np.ndarray) -> np.ndarray:
    """w * s64 per output channel (axis 0), computed in float64 and rounded once to w's dtype.
    numpy does the float64 product in small buffers: no full-size float64 temporary (the same bits as
    multiplying in float64 and casting after, at a fraction of the memory traffic)."""
    return np.multiply(w, s64.reshape((-1,) + (1,) * (w.ndim - 1)), out=np.empty_like(w), dtype=np.float64,
                       casting="unsafe")


def _new_conv(m, w_new, b64, w_dtype, name="conv"):
    """A Conv like the matched one with new bias `b64` and weights `w_new` (None: keep them)."""
    conv = m[name]
    weight = conv.inputs[1] if w_new is None else m.constant(w_new.astype(w_dtype, copy=False),
                                                               hint=f"{conv.inputs[1].name}_fused")
    bias = m.constant(b64.astype(w_dtype), hint=f"{conv.name or 'conv'}_bias_fused")
    return m.node("Conv", [conv.inputs[0], weight, bias], name=conv.name, **_attrs(conv))


def _conv_bn(model) -> Rule:
    pattern = (Pattern("conv_bn")
               .node("conv", "Conv", inputs={1: Const(), 2: Const(optional=True)})
               .node("bn", "BatchNormalization", inputs=["conv", Const(), Const(), Const(), Const()],
                     where=_bn_inference(model)))

    def replace(m):
        w, b = _conv_weights(m)
        if w is None:
            return None
        scale, bias, mean, var = (m.const("bn", i).astype(np.float64) for i in range(1, 5))
        if any(a.shape != (w.shape[0],) for a in (scale, bias, mean, var)):
            return None
        eps = float(m["bn"].attributes.get("epsilon", 1e-5))
        s = scale / np.sqrt(var + eps)
        return _new_conv(m, _scale_rows(w, s), (b - mean) * s + bias, w.dtype)

    return Rule("conv_bn", pattern, replace)


def _conv_affine(kind: str) -> Rule:
    op = "Mul" if kind == "mul" else "Add"
    pattern = (Pattern(f"conv_{kind}")
               .node("conv", "Conv", inputs={1: Const(), 2: Const(optional=True)})
               .node(kind, op, inputs=["conv", Const()], commutative=True))

    def replace(m):
        w, b = _conv_weights(m)
        root = m[kind]
        c = next(m.const(kind, i) for i in (0, 1) if root.inputs[i].producer is not m["conv"])
        if w is None or c.dtype != w.dtype:
            return None
        vec = per_channel(c, w.ndim, w.shape[0])
        if vec is None:
            return None
        if kind == "mul":
            return _new_conv(m, _scale_rows(w, vec), b * vec, w.dtype)
        return _new_conv(m, None, b + vec, w.dtype)

    return Rule(f"conv_{kind}", pattern, replace)


def _bn_affine(kind: str, shape_of) -> Rule:
    op = "Mul" if kind == "mul" else "Add"
    pattern = (Pattern(f"bn_{kind}")
               .node("bn", "BatchNormalization", inputs=[ANY, Const(), Const(), Const(), Const()])
               .node(kind, op, inputs=["bn", Const()], commutative=True))

    def replace(m):
        bn, root = m["bn"], m[kind]
        if len(bn.outputs) > 1 and any(v.uses or v.is_graph_output() for v in bn.outputs[1:]):
            return None
        scale, bias = m.const("bn", 1), m.const("bn", 2)
        c = next(m.const(kind, i) for i in (0, 1) if root.inputs[i].producer is not bn)
        if not _float(scale) or scale.ndim != 1 or bias.shape != scale.shape or c.dtype != scale.dtype:
            return None  # the spec's BatchNormalization has one scale and bias per channel
        shape = shape_of(bn.inputs[0])
        vec = per_channel(c, None if shape is None else len(shape), scale.shape[0])
        if vec is None:
            return None
        s64, b64 = scale.astype(np.float64), bias.astype(np.float64)
        if kind == "mul":
            s64, b64 = s64 * vec, b64 * vec
        else:
            b64 = b64 + vec
        new_scale = m.constant(s64.astype(scale.dtype), hint=f"{bn.inputs[1].name}_fused")
        new_bias = m.constant(b64.astype(bias.dtype), hint=f"{bn.inputs[2].name}_fused")
        return m.node("BatchNormalization", [bn.inputs[0], new_scale, new_bias, *bn.inputs[3:5]],
                      name=bn.name, **_attrs(bn))

    return Rule(f"bn_{kind}", pattern, replace)


def _matmul_add(model, shape_of) -> Rule:
    pattern = (Pattern("matmul_add")
               .node("mm", "MatMul", inputs={1: Const(where=lambda b: b.ndim == 2 and _float(b))})
               .node("add", "Add", inputs=["mm", Const()], commutative=True))

    def replace(m):
        mm, add = m["mm"], m["add"]
        a = mm.inputs[0]
        a_shape = shape_of(a)
        if a_shape is None or len(a_shape) != 2:
            return None
        b = m.const("mm", 1)
        c_value = next(v for v in add.inputs if v.producer is not mm)
        c = c_value.const_value.numpy()
        if c.dtype != b.dtype or not _gemm_bias_ok(c.shape, a_shape, b.shape[1]):
            return None
        attrs = {"broadcast": 1} if opset_of(model, add) < 7 else {}
        return m.node("Gemm", [a, mm.inputs[1], c_value], name=add.name or mm.name, **attrs)

    return Rule("matmul_add", pattern, replace)


def _gemm_bias_ok(c_shape: tuple, a_shape, n: int) -> bool:
    """C must broadcast to [M, N] without growing it; M may be unknown (symbolic)."""
    m = a_shape[0] if a_shape is not None and isinstance(a_shape[0], int) else None
    if len(c_shape) > 2:
        return False
    full = (1,) * (2 - len(c_shape)) + tuple(c_shape)
    return full[1] in (1, n) and (full[0] == 1 or (m is not None and full[0] == m))
