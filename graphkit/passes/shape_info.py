"""What the shape passes know about a value: its shape with symbolic dims, the elements of small
integer tensors (shape computations), and whether every element is one known value.

    info = ShapeInfo(model)
    info.shape(v)    # (Sym("batch"), Sym("sequence"), 32), or None when the rank is unknown
    info.data(v)     # Shape(x)[1:] -> (Sym("sequence"), 32): elements are int, Sym or None (unknown)
    info.fill(v)     # ConstantOfShape(value=0) -> array(0.): every element equal, whatever the shape
    info.elem(v)     # ONNX element type, 0 if unknown

Computed lazily from the producers (iteratively: deep graphs do not recurse), memoized per Value.
Passes only ever replace a value by an equal one, so what is known about a Value stays true for the
whole simplify run; new values (a fused node's output) are computed when first asked.

Shapes come from graphkit's own rules (shape_rules.py, shape_rules_nn.py) first: they propagate
symbolic dims through Shape -> Gather -> Concat -> Reshape chains, which onnx shape inference
loses. Where a rule knows nothing (an op without a rule, an unknown input), the declared type is
used, then onnx shape inference (run once, only if needed). A dim nobody can name is a fresh atom
tied to its value, so Reshape(x, Shape(x)) still reads as "x's own shape".
"""
from __future__ import annotations

import numpy as np

from graphkit.passes import shape_rules, shape_rules_nn
from graphkit.passes import sym_dims as sd
from graphkit.passes.shape_rules import Info, attr
from graphkit.surgery._util import opset_of

DATA_LIMIT = 64          # elements of an integer tensor tracked element by element
FILL_CHECK_LIMIT = 1 << 16  # constants up to this many elements are checked for a single value
_NONE = object()
RULES = {**shape_rules.RULES, **shape_rules_nn.RULES}
_FRESH = "\0?"


def is_fresh(d) -> bool:
    """A dim that is only known as "dim i of that value" (no name, no expression)."""
    return isinstance(d, sd.Sym) and len(d.terms) == 1 and d.terms[0][1] == 1 and len(d.terms[0][0]) == 1 \
        and d.terms[0][0][0].startswith(_FRESH)


class ShapeInfo:
    def __init__(self, model):
        self.model = model
        self._memo: dict = {}      # Value -> Info
        self._fills: dict = {}     # Value -> 0-d array or _NONE
        self._inferred = None      # Value -> shape tuple, from onnx shape inference (lazy)
        self._count = 0

    # -- public -----------------------------------------------------------------------------
    def shape(self, v) -> tuple | None:
        return None if v is None else self._info(v).shape

    def data(self, v) -> tuple | None:
        return None if v is None else self._info(v).data

    def elem(self, v) -> int:
        return 0 if v is None else self._info(v).elem

    def static_shape(self, v) -> tuple | None:
        s = self.shape(v)
        return s if s is not None and all(type(d) is int for d in s) else None

    def fill(self, v):
        """The single value of every element (a 0-d numpy array), or None."""
        if v is None:
            return None
        got = self._fills.get(v)
        if got is None:
            got = self._fill(v)
            self._fills[v] = _NONE if got is None else got
        return None if got is _NONE else got

    def fresh(self) -> sd.Sym:
        self._count += 1
        return sd.atom(f"{_FRESH}{self._count}")

    def forget(self, v) -> None:
        """Drop what is known about `v` (a pass that changed what it holds)."""
        self._memo.pop(v, None)
        self._fills.pop(v, None)

    def opset(self, node) -> int:
        return opset_of(self.model, node)

    # -- computing ----------------------------------------------------------------------------
    def _info(self, v) -> Info:
        memo = self._memo
        got = memo.get(v)
        if got is not None:
            return got
        # iterative post-order: a value is expanded (its missing inputs pushed) once, computed when
        # all its inputs are; an expanded, unfinished value is an ancestor of the top of the stack,
        # so meeting one again means a cycle (then it counts as a leaf: nothing known)
        stack, expanded = [v], set()
        while stack:
            top = stack[-1]
            if top in memo:
                stack.pop()
                continue
            node = top._producer
            if node is None or node._graph is None:
                memo[top] = self._leaf(top)
                stack.pop()
                continue
            pending = [i for i in node.inputs if i is not None and i not in memo]
            if pending and top not in expanded:
                expanded.add(top)
                for i in pending:
                    if i in expanded:
                        memo[i] = self._leaf(i)
                    else:
                        stack.append(i)
                continue
            for i in pending:  # still missing after the expansion: only on a cycle
                memo[i] = self._leaf(i)
            for out, info in zip(node.outputs, self._node(node)):
                memo[out] = info
            if top not in memo:  # an output the node did not describe
                memo[top] = self._leaf(top)
            stack.pop()
        return memo[v]

    def _leaf(self, v) -> Info:
        const = v.const_value
        if const is not None:
            return self._const_info(const)
        return Info(self._declared(v), None, v.elem_type)

    def _const_info(self, t) -> Info:
        shape, elem = tuple(t.shape), t.elem_type
        data = None
        if elem in _INT_OR_BOOL and t.size <= DATA_LIMIT:
            try:
                data = tuple(np.asarray(t.numpy()).reshape(-1).tolist())
            except Exception:  # noqa: BLE001 - a malformed tensor: nothing known about its elements
                data = None
        return Info(shape, data, elem)

    def _declared(self, v) -> tuple | None:
        shape = v.shape
        if shape is None:
            return None
        return tuple(d if type(d) is int and d >= 0 else sd.parse(d) if isinstance(d, str) and d else self.fresh()
                     for d in shape)

    def _node(self, node) -> list:
        outs = node.outputs
        computed = None
        if node._op_type == "Constant" and node._domain in ("", "ai.onnx"):
            t = outs[0].const_value if outs else None
            return [self._const_info(t)] if t is not None else [Info(None, None, 0)]
        rule = RULES.get(node._op_type) if node._domain in ("", "ai.onnx") else None
        if rule is not None:
            try:
                computed = rule(self, node, [None if i is None else self._memo[i] for i in node.inputs])
            except Exception:  # noqa: BLE001 - a malformed node: nothing known, the runtime will say why
                computed = None
        result = []
        for k, out in enumerate(outs):
            info = computed[k] if computed is not None and k < len(computed) else None
            result.append(self._merge(out, info))
        return result

    def _merge(self, v, info: Info | None) -> Info:
        """Computed info, completed by the declared type and onnx shape inference where it is unknown."""
        declared_elem = v.elem_type
        shape = info.shape if info is not None else None
        if shape is None or any(is_fresh(d) for d in shape):
            other = self._declared(v)
            if other is None or (shape is not None and len(other) != len(shape)):
                other = self._inferred_shape(v)
            if other is not None and (shape is None or len(other) == len(shape)):
                shape = other if shape is None else tuple(
                    o if is_fresh(d) and not is_fresh(o) else d for d, o in zip(shape, other))
        elem = declared_elem or (info.elem if info is not None else 0)
        return Info(shape, info.data if info is not None else None, elem)

    def _inferred_shape(self, v) -> tuple | None:
        if self._inferred is None:
            self._inferred = self._run_inference()
        shape = self._inferred.get(v)
        if shape is None:
            return None
        return tuple(d if type(d) is int and d >= 0 else sd.parse(d) if isinstance(d, str) and d else self.fresh()
                     for d in shape)

    def _run_inference(self) -> dict:
        from graphkit.surgery._util import all_graphs, inferred_types, type_shape

        types = inferred_types(self.model)
        found: dict = {}
        if not types:
            return found
        for g in all_graphs(self.model.graph):
            for node in g:
                for out in node.outputs:
                    shape = type_shape(types.get(out.name))
                    if shape is not None:
                        found[out] = shape
        return found

    # -- fills ------------------------------------------------------------------------------
    def _fill(self, v, depth: int = 0):
        const = v.const_value
        if const is not None:
            if const.size == 0 or const.size > FILL_CHECK_LIMIT or const.elem_type in (0, 8):
                return None
            try:
                a = np.asarray(const.numpy())
            except Exception:  # noqa: BLE001
                return None
            first = a.reshape(-1)[0]
            same = np.all(a == first) if a.dtype.kind != "f" else np.all((a == first) & (np.signbit(a) == np.signbit(first)))
            return np.asarray(first) if same else None
        node = v._producer
        if node is None or node._graph is None or depth > 64 or node._domain not in ("", "ai.onnx") or \
                node._op_type not in FILL_OPS:
            return None
        op = node._op_type
        ins = node.inputs

        def f(i):
            if i >= len(ins) or ins[i] is None:
                return None
            w = ins[i]
            got = self._fills.get(w)
            if got is None:
                got = self._fill(w, depth + 1)
                self._fills[w] = _NONE if got is None else got
            return None if got is _NONE else got

        if op == "ConstantOfShape":
            value = attr(node, "value")
            if value is None:
                return np.asarray(np.float32(0))
            try:
                return np.asarray(value.numpy()).reshape(-1)[0].copy() if value.size == 1 else None
            except Exception:  # noqa: BLE001
                return None
        if op in _FILL_PASS and v.index == 0 or op == "Split":
            return f(0)
        if op == "Concat":
            fills = [f(i) for i in range(len(ins))]
            if fills and all(x is not None for x in fills) and all(_same(x, fills[0]) for x in fills):
                return fills[0]
            return None
        if op == "Where":
            c = f(0)
            if c is not None:
                return f(1) if bool(c) else f(2)
            a, b = f(1), f(2)
            return a if a is not None and b is not None and _same(a, b) else None
        if op == "Cast":
            x = f(0)
            to = attr(node, "to", 0)
            if x is None or not to:
                return None
            from graphkit.ir.tensor import np_dtype

            try:
                return np.asarray(x.astype(np_dtype(to)))
            except Exception:  # noqa: BLE001
                return None
        fn = _FILL_OPS.get(op)
        if fn is not None:
            args = [f(i) for i in range(len(ins))]
            if args and all(a is not None for a in args):
                with np.errstate(all="ignore"):
                    try:
                        return np.asarray(fn(*args))
                    except Exception:  # noqa: BLE001
                        return None
        return None


def _same(a, b) -> bool:
    """Equal fills, bit for bit in meaning: same dtype, NaN equals NaN, -0.0 is not 0.0."""
    if a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool((a == b or (np.isnan(a) and np.isnan(b))) and np.signbit(a) == np.signbit(b))
    return bool(a == b)


_INT_OR_BOOL = frozenset({2, 3, 4, 5, 6, 7, 9, 12, 13})
_FILL_PASS = frozenset({"Expand", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Tile", "Slice",
                        "Identity", "Gather", "GatherElements", "GatherND", "SpaceToDepth", "DepthToSpace"})
# unary ops whose output is filled when their input is (binary arithmetic is not followed: a filled
# operand next to a non-constant one is the rare case, and following every Add/Mul chain up the
# graph would cost a walk of the whole graph)
_FILL_OPS = {"Neg": np.negative, "Abs": np.abs, "Not": np.logical_not}
FILL_OPS = _FILL_PASS | set(_FILL_OPS) | {"ConstantOfShape", "Concat", "Where", "Cast", "Split"}
