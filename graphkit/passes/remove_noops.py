"""remove_noops: nodes whose output equals one of their inputs are bypassed ("removed_noop").

  Cast / CastLike          to the input's own element type
  Reshape, Flatten, Squeeze, Unsqueeze, Expand, Tile, Split (one output)
                           output shape provably the input's (symbolic dims included)
  Slice                    covering the whole tensor (positive steps, output shape = input shape)
  Pad                      all pads 0
  Transpose                identity perm
  Concat, Sum, Max, Min, Mean  of one input
  Where                    condition all true (-> X) or all false (-> Y), without broadcasting growth
  Add/Sub 0, Mul/Div/Pow 1, And true, Or/Xor false
                           the constant (or a value known to be filled with it, e.g. Expand of 0)
                           does not grow the other operand by broadcasting
  Identity, inference Dropout: prune's job (it runs in the same simplify round)

And one input removal: an RNN/GRU/LSTM initial_h/initial_c that is all zeros is what the op uses
when the input is omitted, so it is omitted ("dropped_zero_state").

Exactness: each rule gives the same elements, bit for bit, except `x + 0.0` and `x - 0.0` turning
-0.0 into +0.0 (equal values). Q/DQ nodes are never bypassed.
"""
from __future__ import annotations

from graphkit.passes.base import Pass, Report, graph_label
from graphkit.passes.edits import SharedShapes, bypass, shape_info
from graphkit.passes.shape_info import FILL_OPS
from graphkit.passes.shape_rules import attr_int, attr_ints, valid_perm
from graphkit.surgery._util import all_graphs, label

_DEFAULT = ("", "ai.onnx")
_SAME_SHAPE_IS_IDENTITY = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand", "Tile"})
_NEUTRAL = {  # op -> (neutral value, which inputs may hold it)
    "Add": (0, (0, 1)), "Sub": (0, (1,)), "Mul": (1, (0, 1)), "Div": (1, (1,)), "Pow": (1, (1,)),
    "And": (True, (0, 1)), "Or": (False, (0, 1)), "Xor": (False, (0, 1)),
}
_OPS = frozenset({"Cast", "CastLike", "Transpose", "Concat", "Sum", "Max", "Min", "Mean", "Split", "Slice", "Pad",
                  "Where", "LSTM", "GRU", "RNN", *_SAME_SHAPE_IS_IDENTITY, *_NEUTRAL})  # no Q/DQ: never bypassed


class RemoveNoOps(Pass):
    name = "remove_noops"
    requires_acyclic = True

    def __init__(self, shapes: SharedShapes | None = None):
        self.shapes = shapes

    def run(self, model, report: Report) -> None:
        info = shape_info(model, self.shapes)
        for g in all_graphs(model.graph):
            where = graph_label(g)
            outputs = {id(v) for v in g.outputs}
            for node in g:
                op = node._op_type
                if op not in _OPS or node._domain not in _DEFAULT or not node.inputs or node.inputs[0] is None:
                    continue
                try:
                    if op in ("LSTM", "GRU", "RNN"):
                        if _drop_zero_states(node, info):
                            report.add("dropped_zero_state", node=label(node), op=op, graph=where)
                        continue
                    src = noop_source(node, info)
                except (ValueError, TypeError, KeyError, IndexError) as exc:  # a malformed node: left alone
                    report.note("not_simplified", node=label(node), op=op, graph=where, error=str(exc)[:200])
                    continue
                if src is not None and bypass(g, node, src, outputs):
                    report.add("removed_noop", node=label(node), op=op, graph=where)


def noop_source(node, info):
    """The input value that `node`'s output always equals, or None."""
    op, ins = node._op_type, node.inputs
    x = ins[0]
    out = node.outputs[0] if node.outputs else None
    if out is None:
        return None
    if op == "Cast":
        e = info.elem(x)
        return x if e and e == attr_int(node, "to", 0) else None
    if op == "CastLike":
        e = info.elem(x)
        return x if len(ins) > 1 and e and e == info.elem(ins[1]) else None
    if op == "Transpose":
        perm = attr_ints(node, "perm", None)
        shape = info.shape(x)
        if perm is None:
            return x if shape is not None and len(shape) <= 1 else None
        return x if valid_perm(perm) and perm == list(range(len(perm))) else None
    if op in ("Concat", "Sum", "Max", "Min", "Mean"):
        present = [v for v in ins if v is not None]
        return x if len(present) == 1 and present[0] is x else None
    if op in _SAME_SHAPE_IS_IDENTITY or (op == "Split" and len(node.outputs) == 1):
        return x if _same_shape(info, out, x) else None
    if op == "Slice":
        return x if _positive_steps(node, info) and _same_shape(info, out, x) else None
    if op == "Pad":
        return x if _zero_pads(node, info) else None
    if op == "Where" and len(ins) == 3:
        c = info.fill(ins[0])
        if c is None:
            return None
        pick = ins[1] if bool(c) else ins[2]
        return pick if pick is not None and _same_shape(info, out, pick) else None
    rule = _NEUTRAL.get(op)
    if rule is not None and len(ins) == 2 and ins[1] is not None:
        neutral, positions = rule
        for k in positions:
            other = ins[1 - k]
            c = ins[k]
            if c.const_value is None and (c._producer is None or c._producer._op_type not in FILL_OPS):
                continue
            f = info.fill(c)
            if f is not None and f.dtype.kind in "biuf" and f == neutral and _same_shape(info, out, other) \
                    and _same_elem(info, out, other):
                return other
    return None


def _same_shape(info, a, b) -> bool:
    sa, sb = info.shape(a), info.shape(b)
    return sa is not None and sb is not None and len(sa) == len(sb) and all(x == y for x, y in zip(sa, sb))


def _same_elem(info, a, b) -> bool:
    ea, eb = info.elem(a), info.elem(b)
    return not ea or not eb or ea == eb


def _positive_steps(node, info) -> bool:
    if info.opset(node) < 10:
        return True
    if len(node.inputs) < 5 or node.inputs[4] is None:
        return True
    steps = info.data(node.inputs[4])
    return steps is not None and all(type(s) is int and s > 0 for s in steps)


def _zero_pads(node, info) -> bool:
    if info.opset(node) < 11:
        pads = attr_ints(node, "pads", None)
    else:
        if len(node.inputs) < 2 or node.inputs[1] is None:
            return True
        pads = info.data(node.inputs[1])
    return pads is not None and all(type(p) is int and p == 0 for p in pads)


def _drop_zero_states(node, info) -> bool:
    """Omit initial_h (input 5) and LSTM's initial_c (6) when they are all zeros."""
    last = 6 if node._op_type == "LSTM" else 5
    changed = False
    for i in range(5, min(last, len(node.inputs) - 1) + 1):
        v = node.inputs[i]
        if v is None:
            continue
        f = info.fill(v)
        if f is not None and f.dtype.kind == "f" and f == 0:
            node.inputs[i] = None
            changed = True
    if changed:
        while node.inputs and node.inputs[-1] is None:
            node.inputs.pop()
    return changed
