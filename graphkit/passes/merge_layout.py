"""merge_layout: chains of layout ops (Reshape, Flatten, Squeeze, Unsqueeze, Transpose) that read
one another's output, with no other reader in between, become one op or none.

  cancelled              A -> B with B's output shape provably A's input shape: both go (e.g.
                         Unsqueeze(axis 0) -> Squeeze(axis 0), Reshape -> Reshape back)
  merged_unsqueeze       Unsqueeze -> Unsqueeze  => one Unsqueeze (axes composed)
  merged_squeeze         Squeeze -> Squeeze      => one Squeeze (explicit axes)
  merged_reshape         reshape-like -> Reshape => one Reshape of the first input (a 0 in the
                         target must copy the same dim either way), or, when the target is not
                         constant, one Reshape to a constant target built from the output shape
  merged_transpose       Transpose -> Transpose  => one Transpose (perms composed; none if identity)
  transpose_via_reshape  Reshape(merge dims) -> Transpose -> Reshape(split them back) => Transpose
                         (the "K transposed" of exported attention: [b,h,s,d] -> [b*h,s,d] ->
                         [b*h,d,s] -> [b,h,d,s] is Transpose(perm=[0,1,3,2]))

All of these only move elements, so the results are bitwise the same. Dims are compared
symbolically (ShapeInfo): a rule applies only when the equality holds for every input size.
"""
from __future__ import annotations

import numpy as np

from graphkit.ir.node import Node
from graphkit.passes import sym_dims as sd
from graphkit.passes.base import Pass, Report, graph_label
from graphkit.passes.edits import Constants, SharedShapes, bypass, shape_info
from graphkit.passes.fold_shapes import reshape_target
from graphkit.passes.shape_rules import attr_int, attr_ints, valid_perm
from graphkit.surgery._util import all_graphs, label

_DEFAULT = ("", "ai.onnx")
RESHAPES = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})


class MergeLayoutOps(Pass):
    name = "merge_layout"
    requires_acyclic = True

    def __init__(self, shapes: SharedShapes | None = None):
        self.shapes = shapes

    def run(self, model, report: Report) -> None:
        info = shape_info(model, self.shapes)
        consts = Constants(model)
        for g in all_graphs(model.graph):
            where = graph_label(g)
            outputs = {id(v) for v in g.outputs}
            for node in g:
                if node._graph is not g or node._domain not in _DEFAULT or not node.inputs:
                    continue
                op = node._op_type
                if op not in RESHAPES and op != "Transpose":
                    continue
                first = _single_reader_producer(node, g, outputs)
                if first is None:
                    continue
                try:
                    action = _merge(g, first, node, info, consts, outputs)
                except (ValueError, TypeError, KeyError, IndexError) as exc:  # malformed: left alone
                    report.note("not_simplified", node=label(node), op=op, graph=where, error=str(exc)[:200])
                    continue
                if action:
                    report.add(action, node=label(node), first=label(first), graph=where)


def _single_reader_producer(node, g, outputs):
    """The layout op producing node's first input, when node is that value's only reader."""
    v = node.inputs[0]
    p = v._producer if v is not None else None
    if p is None or p._graph is not g or p._domain not in _DEFAULT or id(v) in outputs:
        return None
    if p._op_type not in RESHAPES and p._op_type != "Transpose":
        return None
    if len(v._uses) != 1 or len(p.outputs) != 1:
        return None
    return p


def _merge(g, first, second, info, consts, outputs) -> str | None:
    x = first.inputs[0]
    if x is None:
        return None
    out = second.outputs[0]
    s_out, s_x = info.shape(out), info.shape(x)
    a, b = first._op_type, second._op_type
    same = s_out is not None and s_x is not None and len(s_out) == len(s_x) and all(p == q for p, q in zip(s_out, s_x))
    # two reshape-likes keeping the shape keep the element order; two Transposes must compose to identity
    if same and ((a in RESHAPES and b in RESHAPES) or
                 (a == b == "Transpose" and _compose(first, second, info) == list(range(len(s_x))))):
        return "cancelled" if bypass(g, second, x, outputs) else None
    if a == "Transpose" and b == "Transpose":
        perm = _compose(first, second, info)
        if perm is None:
            return None
        second.inputs[0] = x
        second.attributes["perm"] = perm
        return "merged_transpose"
    if a == "Unsqueeze" and b == "Unsqueeze":
        return _merge_axes(g, first, second, info, consts, unsqueeze=True)
    if a == "Squeeze" and b == "Squeeze":
        return _merge_axes(g, first, second, info, consts, unsqueeze=False)
    if a in RESHAPES and b == "Reshape":
        return _merge_reshape(g, first, second, info, consts)
    if a == "Transpose" and b == "Reshape":
        return _transpose_via_reshape(g, first, second, info, outputs)
    return None


def _perm(node, info) -> list | None:
    perm = attr_ints(node, "perm", None)
    if perm is not None:
        return perm if valid_perm(perm) else None
    s = info.shape(node.inputs[0])
    return None if s is None else list(range(len(s)))[::-1]


def _compose(first, second, info) -> list | None:
    p1, p2 = _perm(first, info), _perm(second, info)
    if p1 is None or p2 is None or len(p1) != len(p2):
        return None
    return [p1[j] for j in p2]


def _axes_of(node, info, rank_after: int) -> list | None:
    if info.opset(node) >= 13:
        if len(node.inputs) < 2 or node.inputs[1] is None:
            return None
        data = info.data(node.inputs[1])
        axes = list(data) if data is not None and all(type(d) is int for d in data) else None
    else:
        axes = attr_ints(node, "axes", None)
    if not axes:
        return None
    norm = [a + rank_after if a < 0 else a for a in axes]
    return norm if all(0 <= a < rank_after for a in norm) and len(set(norm)) == len(norm) else None


def _merge_axes(g, first, second, info, consts, unsqueeze: bool) -> str | None:
    x = first.inputs[0]
    s = info.shape(x)
    if s is None:
        return None
    r0 = len(s)
    slots: list = list(range(r0))
    if unsqueeze:
        a1 = _axes_of(first, info, r0 + _n_axes(first, info))
        if a1 is None:
            return None
        for a in sorted(a1):
            slots.insert(a, None)
        a2 = _axes_of(second, info, len(slots) + _n_axes(second, info))
        if a2 is None:
            return None
        for a in sorted(a2):
            slots.insert(a, None)
        axes = [i for i, e in enumerate(slots) if e is None]
    else:
        a1 = _axes_of(first, info, r0)
        if a1 is None:
            return None
        slots = [e for i, e in enumerate(slots) if i not in a1]
        a2 = _axes_of(second, info, len(slots))
        if a2 is None:
            return None
        kept = {e for i, e in enumerate(slots) if i not in a2}
        axes = [i for i in range(r0) if i not in kept]
    second.inputs[0] = x
    if info.opset(second) >= 13:
        second.inputs[1] = consts.add(g, np.array(axes, np.int64), f"{second.name or 'axes'}_axes")
    else:
        second.attributes["axes"] = axes
    return "merged_unsqueeze" if unsqueeze else "merged_squeeze"


def _n_axes(node, info) -> int:
    if info.opset(node) >= 13:
        data = info.data(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] is not None else None
        return len(data) if data is not None else -10 ** 6
    return len(attr_ints(node, "axes", None) or [])


def _merge_reshape(g, first, second, info, consts) -> str | None:
    x, mid = first.inputs[0], second.inputs[0]
    target = second.inputs[1] if len(second.inputs) > 1 else None
    if target is None:
        return None
    allowzero = attr_int(second, "allowzero", 0) if info.opset(second) >= 14 else 0
    data = info.data(target)
    if target.const_value is not None and data is not None:
        if not allowzero:  # a 0 copies a dim of the input: it must be the same dim of x
            s_mid, s_x = info.shape(mid), info.shape(x)
            for i, e in enumerate(data):
                if e == 0 and (s_mid is None or s_x is None or i >= len(s_x) or s_mid[i] != s_x[i]):
                    return None
        second.inputs[0] = x
        return "merged_reshape"
    s_out = info.shape(second.outputs[0])
    if s_out is None:
        return None
    found = reshape_target(info, x, s_out, 1)  # output dims: a 0 is an empty dim, not a copy
    if found is None:
        return None
    const, new_allowzero = found
    if new_allowzero and 0 in const.tolist() and info.opset(second) < 14:
        return None  # an empty dim cannot be written before allowzero exists
    second.inputs[0] = x
    second.inputs[1] = consts.add(g, const, f"{second.name or 'reshape'}_shape")
    if info.opset(second) >= 14 and new_allowzero != allowzero:
        second.attributes["allowzero"] = new_allowzero
    return "merged_reshape"


def _blocks(src: tuple, merged: tuple) -> list | None:
    """Split `src` dims into consecutive blocks whose products are the `merged` dims, or None."""
    blocks, i = [], 0
    for m in merged:
        if i >= len(src):
            return None
        block = [i]
        prod = src[i]
        i += 1
        while prod != m and i < len(src):
            prod = sd.mul(prod, src[i])
            block.append(i)
            i += 1
        if prod != m:
            return None
        blocks.append(block)
    while i < len(src):  # trailing 1s join the last block
        if src[i] != 1 or not blocks:
            return None
        blocks[-1].append(i)
        i += 1
    return blocks


def _transpose_via_reshape(g, transpose, second, info, outputs) -> str | None:
    """second = Reshape(Transpose(Reshape(x))) where the first Reshape only merges runs of x's dims
    and the second splits them back: all of it is one Transpose of x."""
    first = _single_reader_producer(transpose, g, outputs)
    if first is None or first._op_type != "Reshape":
        return None
    x = first.inputs[0]
    s, merged, final = info.shape(x), info.shape(first.outputs[0]), info.shape(second.outputs[0])
    perm = _perm(transpose, info)
    if s is None or merged is None or final is None or perm is None or len(perm) != len(merged):
        return None
    blocks = _blocks(tuple(s), tuple(merged))
    if blocks is None:
        return None
    order = [i for k in perm for i in blocks[k]]
    if len(order) != len(final) or any(s[i] != d for i, d in zip(order, final)):
        return None
    if order == list(range(len(s))):
        return "cancelled" if bypass(g, second, x, outputs) else None
    outs = list(second.outputs)
    second.outputs.clear()
    node = Node("Transpose", [x], outs, name=second.name, attributes={"perm": order})
    g.insert_before(second, node)
    g.remove(second)
    return "transpose_via_reshape"
