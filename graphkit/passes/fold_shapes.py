"""fold_shapes: shape computations become constants where the dims they read are static, even when
other dims of the same tensor are symbolic.

* A node whose integer outputs are all known (ShapeInfo.data: `Gather(Shape(x), 1)` where x is
  [batch, 32, seq] -> 32; `Slice(Shape(x), 2, 4)`; `Size` of a static tensor; and everything after
  them: Unsqueeze, Concat, Cast, Equal/Where, integer arithmetic) is replaced by an initializer
  holding the values ("folded_shape").
* A Reshape whose target is computed from symbolic dims gets a constant target when every entry
  is known or is the input's own dim at the same position: that entry becomes 0 ("copy the input's
  dim"; allowzero becomes 0 when the target has no literal 0), and one remaining entry may become
  -1 when all others are positive constants, so that -1 is exactly that dim ("reshape_target").
  `Reshape(x, Concat(Shape(x)[0], Shape(x)[1], [2, 16]))` -> `Reshape(x, [0, 0, 2, 16])`: the
  Shape/Gather/Unsqueeze/Concat chain is then dead and prune removes it.

Only default-domain nodes outside control flow bodies' own subgraph attributes are folded; Q/DQ nodes
are never touched (fold_constants' rule). What ShapeInfo knows is exact: symbolic dims are only
"equal" when they are provably the same dim (see sym_dims / shape_info).
"""
from __future__ import annotations

import numpy as np

from graphkit.ir.tensor import Tensor, np_dtype
from graphkit.passes.base import Pass, Report, graph_label
from graphkit.passes.edits import Constants, SharedShapes, shape_info
from graphkit.passes.shape_rules import attr_int
from graphkit.surgery._util import all_graphs, ensure_ir_allows_free_initializers, label

_INT_OR_BOOL = frozenset({2, 3, 4, 5, 6, 7, 9, 12, 13})
_DEFAULT = ("", "ai.onnx")


class FoldShapes(Pass):
    name = "fold_shapes"
    requires_acyclic = True

    def __init__(self, shapes: SharedShapes | None = None):
        self.shapes = shapes

    def run(self, model, report: Report) -> None:
        info = shape_info(model, self.shapes)
        consts = Constants(model)
        for g in all_graphs(model.graph):
            where = graph_label(g)
            outputs = {id(v) for v in g.outputs}
            candidates = _downstream_of_shapes(g)
            if not candidates:
                continue
            for node in g:
                if node not in candidates or node._graph is not g:
                    continue
                try:
                    if _fold(g, node, info, outputs):
                        report.add("folded_shape", node=label(node), op=node.op_type, graph=where)
                        ensure_ir_allows_free_initializers(model)
                    elif node._op_type == "Reshape" and _reshape_target(g, node, info, consts):
                        report.add("reshape_target", node=label(node), graph=where)
                except (ValueError, TypeError) as exc:  # a malformed node: left alone
                    report.note("not_simplified", node=label(node), op=node.op_type, graph=where,
                                error=str(exc)[:200])


# ops whose integer outputs ShapeInfo can know element by element (see shape_rules' data)
DATA_OPS = frozenset({"Shape", "Size", "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze", "Reshape", "Flatten",
                      "Cast", "Add", "Sub", "Mul", "Div", "Equal", "Where", "Max", "Min", "And", "Or", "Xor",
                      "Not", "Neg", "Identity", "ConstantOfShape", "Expand", "Transpose"})


def _downstream_of_shapes(g) -> set:
    """Nodes of `g` an element known from a Shape/Size can reach through DATA_OPS: the only nodes
    whose outputs may become known without all their inputs being constant."""
    stack = [n for n in g if n._op_type in ("Shape", "Size") and n._domain in _DEFAULT]
    found: set = set()
    while stack:
        node = stack.pop()
        if node in found:
            continue
        found.add(node)
        for v in node.outputs:
            for user, _ in v._uses:
                if user._graph is g and user._op_type in DATA_OPS and user._domain in _DEFAULT and \
                        user not in found:
                    stack.append(user)
    return found


def known_array(info, v) -> np.ndarray | None:
    """The value of a small integer/bool tensor when ShapeInfo knows every element, else None."""
    data, elem, shape = info.data(v), info.elem(v), info.static_shape(v)
    if data is None or elem not in _INT_OR_BOOL or shape is None:
        return None
    if elem == 9:
        if not all(isinstance(d, bool) for d in data):
            return None
    elif not all(type(d) is int for d in data):
        return None
    try:
        return np.array(data, dtype=np_dtype(elem)).reshape(shape)
    except (ValueError, OverflowError):
        return None


def _fold(g, node, info, outputs: set[int]) -> bool:
    if all(v is None or v.const_value is not None for v in node.inputs):
        return False  # fold_constants evaluates it
    arrays = []
    for v in node.outputs:
        a = known_array(info, v) if v._uses or id(v) in outputs else None
        if a is None and (v._uses or id(v) in outputs):
            return False
        if id(v) in outputs or (a is not None and not v.name):
            return False
        arrays.append(a)
    if all(a is None for a in arrays):
        return False
    pairs = list(zip(node.outputs, arrays))
    node.outputs.clear()
    for v, a in pairs:
        if a is not None:
            v.const_value = Tensor(a)
            g.add_initializer(v)
    g.remove(node)
    return True


def reshape_target(info, x, dims, allowzero: int) -> tuple[np.ndarray, int] | None:
    """A constant Reshape target (and allowzero) giving `dims` (ints or symbolic dims) from `x`."""
    s = info.shape(x)
    if s is None:
        return None
    out, unresolved, copies, literal_zero = [], [], False, False
    for i, e in enumerate(dims):
        if type(e) is int and e >= 0:
            if e == 0 and allowzero:
                literal_zero = True
            out.append(e)
        elif type(e) is int and e == -1:
            out.append(-1)
        elif e is not None and not isinstance(e, bool) and i < len(s) and s[i] == e:
            out.append(0)
            copies = True
        else:
            unresolved.append(i)
            out.append(None)
    if copies and literal_zero:
        return None
    if unresolved:
        others = [e for k, e in enumerate(out) if k not in unresolved]
        if len(unresolved) > 1 or -1 in others or not all(type(e) is int and e > 0 for e in others):
            return None
        out[unresolved[0]] = -1
    return np.array(out, dtype=np.int64), 0 if copies else allowzero


def _reshape_target(g, node, info, consts: Constants) -> bool:
    if len(node.inputs) < 2 or node.inputs[1] is None or node.inputs[1].const_value is not None:
        return False
    data = info.data(node.inputs[1])
    if data is None:
        return False
    allowzero = attr_int(node, "allowzero", 0) if info.opset(node) >= 14 else 0
    found = reshape_target(info, node.inputs[0], data, allowzero)
    if found is None:
        return False
    target, new_allowzero = found
    hint = f"{node.inputs[1].name or 'shape'}_const"
    node.inputs[1] = consts.add(g, target, hint)
    if new_allowzero != allowzero:
        node.attributes["allowzero"] = new_allowzero
    return True


__all__ = ["FoldShapes", "known_array", "reshape_target"]
