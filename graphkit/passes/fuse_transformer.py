"""fuse_transformer: decomposed transformer blocks back into the ONNX ops that name them.

  layer_norm   ReduceMean -> Sub -> Pow 2 (or Mul by itself) -> ReduceMean -> Add eps -> Sqrt -> Div
               [-> Mul gamma [-> Add beta]]                  => LayerNormalization   (opset >= 17)
  gelu         x * 0.5 * (1 + Erf(x / sqrt 2)), in the association orders the exporters write
               (x / sqrt2 or x * 1/sqrt2)                   => Gelu                  (opset >= 20)
  gelu_tanh    0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))  (GPT-2's gelu_new)
                                                            => Gelu(approximate="tanh") (opset >= 20)

Below those opsets the decomposed form stays (the op does not exist there). Each rule checks what
makes it exact up to float rounding: the reductions run over the same trailing axes with keepdims,
epsilon, gamma and beta are constants that broadcast over the normalized dims only (so the output
shape is the input's), the Gelu constants are sqrt(2) / 0.5 / 1 to float precision.
LayerNormalization computes in float32 for float16 inputs (stash_type 1): that rounding differs
from the float16 chain it replaces, by less than the chain's own error.
"""
from __future__ import annotations

import math

import numpy as np

from graphkit.passes.base import Pass, Report
from graphkit.passes.edits import SharedShapes, shape_info
from graphkit.passes.shape_rules import attr_int, attr_ints
from graphkit.rewriter import ANY, Const, Pattern, Rule, rewrite
from graphkit.surgery._util import opset_of


class FuseTransformer(Pass):
    name = "fuse_transformer"
    requires_acyclic = True

    def __init__(self, shapes: SharedShapes | None = None, rules: tuple[str, ...] | None = None):
        self.shapes, self.only = shapes, rules

    def run(self, model, report: Report) -> None:
        if model.opset < 17 or not _has_candidates(model):
            return
        info = shape_info(model, self.shapes)
        rules = [*_layer_norm_rules(model, info), *_gelu_rules(model)]
        rules = [r for r in rules if self.only is None or r.name in self.only]
        if rules:
            rewrite(model, *rules, report=report)


def _has_candidates(model) -> bool:
    ops = {n.op_type for n in model.graph.walk()}
    return "ReduceMean" in ops or ("Erf" in ops or "Tanh" in ops) and model.opset >= 20


def _scalar(near: float, rel: float = 1e-6) -> Const:
    """A one-element constant equal to `near` (exactly when rel=0; integers allowed then)."""
    def check(a: np.ndarray) -> bool:
        if a.size != 1 or a.dtype.kind not in ("f" if rel else "fiu"):
            return False
        x = float(a.reshape(-1)[0])
        return x == near if rel == 0 else math.isclose(x, near, rel_tol=rel)
    return Const(where=check)


# -- LayerNormalization ---------------------------------------------------------------------------
def _layer_norm_rules(model, info) -> list[Rule]:
    rules = []
    for tail in ("add", "mul", "div"):
        for square in ("Pow", "Mul"):
            p = (Pattern("layer_norm")
                 .node("mean", "ReduceMean", inputs={0: ANY})
                 .node("sub", "Sub", inputs=[ANY, "mean"]))
            if square == "Pow":
                p.node("sq", "Pow", inputs=["sub", _scalar(2.0, rel=0)])
            else:
                p.node("sq", "Mul", inputs=["sub", "sub"])
            p.node("var", "ReduceMean", inputs={0: "sq"})
            p.node("eps", "Add", inputs=["var", Const(where=lambda a: a.size == 1 and a.dtype.kind == "f")],
                   commutative=True)
            p.node("sqrt", "Sqrt", inputs=["eps"])
            p.node("div", "Div", inputs=["sub", "sqrt"])
            if tail in ("mul", "add"):
                p.node("mul", "Mul", inputs=["div", Const()], commutative=True)
            if tail == "add":
                p.node("add", "Add", inputs=["mul", Const()], commutative=True)
            p.where(lambda m: m["sub"].inputs[0] is m["mean"].inputs[0])
            rules.append(Rule("layer_norm", p, _make_layer_norm(model, info, tail)))
    return rules


def _reduce_axes(node, model, rank: int) -> list | None:
    if attr_int(node, "keepdims", 1) != 1:
        return None
    if opset_of(model, node) >= 18:
        if len(node.inputs) < 2 or node.inputs[1] is None or node.inputs[1].const_value is None:
            return None
        axes = node.inputs[1].const_value.numpy().reshape(-1).tolist()
    else:
        axes = attr_ints(node, "axes", None)
    if not axes:
        return None
    return sorted(a + rank if a < 0 else a for a in axes)


def _other(node, producer) -> np.ndarray:
    v = next(v for v in node.inputs if v._producer is not producer)
    return v.const_value.numpy()


def _make_layer_norm(model, info, tail: str):
    def replace(m):
        if opset_of(model, m["mean"]) < 17:
            return None
        x = m["mean"].inputs[0]
        shape = info.shape(x)
        if shape is None or info.elem(x) not in (1, 10, 11, 16):  # float, float16, double, bfloat16
            return None
        rank = len(shape)
        a1, a2 = _reduce_axes(m["mean"], model, rank), _reduce_axes(m["var"], model, rank)
        if a1 is None or a1 != a2 or a1 != list(range(rank - len(a1), rank)):
            return None
        k = len(a1)
        normalized = shape[rank - k:]
        dtype = np.dtype(np.float32) if info.elem(x) == 1 else None
        eps = float(_other(m["eps"], m["var"]).reshape(-1)[0])
        scale = bias = None
        if tail in ("mul", "add"):
            scale = next(v for v in m["mul"].inputs if v._producer is not m["div"])
            if not _broadcasts_inside(scale.const_value.numpy(), normalized, x, info):
                return None
        if tail == "add":
            bias = next(v for v in m["add"].inputs if v._producer is not m["mul"])
            if not _broadcasts_inside(bias.const_value.numpy(), normalized, x, info):
                return None
        if scale is None:
            if not all(type(d) is int for d in normalized) or dtype is None:
                return None
            scale = m.constant(np.ones(normalized, dtype), hint="layer_norm_scale")
        inputs = [x, scale] + ([bias] if bias is not None else [])
        root = m.root
        return m.node("LayerNormalization", inputs, name=root.name, axis=-k, epsilon=eps)
    return replace


def _broadcasts_inside(c: np.ndarray, normalized: tuple, x, info) -> bool:
    """`c` multiplied/added to x varies only over the normalized dims and does not grow x."""
    if c.dtype.kind != "f" or info.elem(x) and np.dtype(c.dtype) != _np_of(info.elem(x)):
        return False
    dims = list(c.shape)
    while dims and dims[0] == 1 and len(dims) > len(normalized):
        dims.pop(0)
    if len(dims) > len(normalized):
        return False
    tail = normalized[len(normalized) - len(dims):]
    return all(d == 1 or d == n for d, n in zip(dims, tail))


def _np_of(elem: int):
    from graphkit.ir.tensor import np_dtype

    return np_dtype(elem)


# -- Gelu ------------------------------------------------------------------------------------------
_SQRT2, _INV_SQRT2, _TANH_K = math.sqrt(2.0), 1 / math.sqrt(2.0), math.sqrt(2.0 / math.pi)


def _gelu_rules(model) -> list[Rule]:
    if model.opset < 20:
        return []
    rules = []
    for scaled in ("Div", "Mul"):
        c = _scalar(_SQRT2 if scaled == "Div" else _INV_SQRT2)
        for order in ("x_half_a", "xa_half", "half_x_a"):
            p = (Pattern("gelu")
                 .node("scaled", scaled, inputs=[ANY, c])
                 .node("erf", "Erf", inputs=["scaled"])
                 .node("one", "Add", inputs=["erf", _scalar(1.0, rel=0)], commutative=True))
            if order == "x_half_a":  # x * (0.5 * (1 + erf))
                p.node("inner", "Mul", inputs=["one", _scalar(0.5, rel=0)], commutative=True)
                p.node("y", "Mul", inputs=[ANY, "inner"], commutative=True)
            elif order == "xa_half":  # (x * (1 + erf)) * 0.5
                p.node("inner", "Mul", inputs=[ANY, "one"], commutative=True)
                p.node("y", "Mul", inputs=["inner", _scalar(0.5, rel=0)], commutative=True)
            else:  # (x * 0.5) * (1 + erf): the half is computed apart from the erf branch
                p.node("y", "Mul", inputs=[ANY, "one"], commutative=True)
            p.where(_same_x(order))
            rules.append(Rule("gelu", p, _make_gelu(model, "none", order)))
    p = (Pattern("gelu_tanh")
         .node("cube", "Pow", inputs=[ANY, _scalar(3.0, rel=0)])
         .node("k1", "Mul", inputs=["cube", _scalar(0.044715)], commutative=True)
         .node("inner", "Add", inputs=[ANY, "k1"], commutative=True)
         .node("k2", "Mul", inputs=["inner", _scalar(_TANH_K)], commutative=True)
         .node("tanh", "Tanh", inputs=["k2"])
         .node("one", "Add", inputs=["tanh", _scalar(1.0, rel=0)], commutative=True)
         .node("y", "Mul", inputs=[ANY, "one"], commutative=True))
    p.where(lambda m: _gelu_tanh_x(m) is not None)
    rules.append(Rule("gelu_tanh", p, _make_gelu(model, "tanh", "tanh")))
    return rules


def _half_of(v):
    """x when v = Mul(x, 0.5) (either order), else None."""
    node = v._producer
    if node is None or node.op_type != "Mul" or len(node.inputs) != 2:
        return None
    for i in (0, 1):
        c = node.inputs[1 - i].const_value if node.inputs[1 - i] is not None else None
        if c is not None and c.size == 1 and float(np.asarray(c.numpy()).reshape(-1)[0]) == 0.5:
            return node.inputs[i]
    return None


def _gelu_x(m, order: str):
    x = m["scaled"].inputs[0]
    y = m["y"]
    if order == "x_half_a":
        other = next((v for v in y.inputs if v._producer is not m["inner"]), None)
        return x if other is x else None
    if order == "xa_half":
        other = next((v for v in m["inner"].inputs if v._producer is not m["one"]), None)
        return x if other is x else None
    other = next((v for v in y.inputs if v._producer is not m["one"]), None)
    return x if other is not None and _half_of(other) is x and len(other._uses) == 1 else None


def _same_x(order: str):
    return lambda m: _gelu_x(m, order) is not None


def _gelu_tanh_x(m):
    x = m["cube"].inputs[0]
    inner_other = next((v for v in m["inner"].inputs if v._producer is not m["k1"]), None)
    y_other = next((v for v in m["y"].inputs if v._producer is not m["one"]), None)
    if inner_other is not x or y_other is None or _half_of(y_other) is not x or len(y_other._uses) != 1:
        return None
    return x


def _make_gelu(model, approximate: str, order: str):
    def replace(m):
        if opset_of(model, m.root) < 20:
            return None
        x = _gelu_tanh_x(m) if order == "tanh" else _gelu_x(m, order)
        if x is None:
            return None
        attrs = {"approximate": "tanh"} if approximate == "tanh" else {}
        return m.node("Gelu", [x], name=m.root.name, **attrs)
    return replace
