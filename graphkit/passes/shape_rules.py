"""Per-op rules of ShapeInfo (shape_info.py): from what is known of a node's inputs, its outputs'
shapes (int or symbolic dims), elements of small integer tensors, and element types. This module
holds the helpers, elementwise ops and the shape-manipulating ops (which carry elements: Shape,
Gather, Concat, Reshape, ...); shape_data.py the arithmetic on those elements; shape_rules_nn.py the
network ops (MatMul, Conv, pooling, reductions,
RNNs, normalization, quantization).

A rule is `rule(ctx, node, ins) -> [Info per output] | None`: `ins` holds the inputs' Info (None for
an omitted optional input), `ctx` is the ShapeInfo (`ctx.fresh()` makes a dim nobody knows, still
equal to itself). A rule that cannot tell returns None (or an Info with shape None); an exception
inside a rule counts as "cannot tell". The default ONNX domain only; every rule follows the spec
text of the op for the opsets it reads (attributes that became inputs are read from either).
"""
from __future__ import annotations

from graphkit.ir.attributes import decode
from graphkit.passes import sym_dims as sd
from graphkit.passes.shape_data import DATA_OPS

INT64, INT32, BOOL, FLOAT = 7, 6, 9, 1
INT_TYPES = frozenset({2, 3, 4, 5, 6, 7, 12, 13})
BIG = 2 ** 31 - 1  # an end at or past this is "to the end" for any real tensor


class Info:
    __slots__ = ("data", "elem", "shape")

    def __init__(self, shape, data=None, elem: int = 0):
        self.shape, self.data, self.elem = shape, data, elem

    def __repr__(self) -> str:
        return f"Info({self.shape}, data={self.data}, elem={self.elem})"


def attr(node, name: str, default=None):
    """An attribute's value without decoding (and dirtying) the node's whole attribute map."""
    attrs = node._attrs
    if attrs is not None:
        return attrs.get(name, default)
    for a in node._proto.attribute:
        if a.name == name:
            return decode(a).value
    return default


def attr_ints(node, name: str, default=None) -> list | None:
    """An INTS attribute as a list of ints, `default` when absent; ValueError when of another type
    (a malformed node: the caller treats it as unknown)."""
    v = attr(node, name, None)
    if v is None:
        return default
    if isinstance(v, list) and all(type(i) is int for i in v):
        return v
    raise ValueError(f"attribute {name!r} is not a list of ints")


def attr_int(node, name: str, default: int = 0) -> int:
    v = attr(node, name, None)
    if v is None:
        return default
    if type(v) is int:
        return v
    raise ValueError(f"attribute {name!r} is not an int")


def valid_perm(perm) -> bool:
    return isinstance(perm, list) and all(type(p) is int for p in perm) and sorted(perm) == list(range(len(perm)))


def shape_of(info):
    return None if info is None else info.shape


def _ints(info) -> list | None:
    """The elements of a small integer tensor when all are known ints."""
    if info is None or info.data is None or not all(type(x) is int for x in info.data):
        return None
    return list(info.data)


def norm_axis(axis: int, rank: int) -> int:
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise ValueError("axis out of range")
    return axis


def _static(shape) -> bool:
    return shape is not None and all(type(d) is int for d in shape)


def _size(shape) -> int | None:
    if not _static(shape):
        return None
    n = 1
    for d in shape:
        n *= d
    return n


def _with_data(shape, data, elem):
    """Info whose data is kept only while it is small and its shape static."""
    n = _size(shape)
    if data is not None and (n is None or n != len(data) or n > 64):
        data = None
    return Info(shape, data, elem)


def bcast_dims(ctx, dims: list):
    known = [d for d in dims if d is not None]
    if len(known) < len(dims):
        return ctx.fresh()
    rest = [d for d in known if d != 1]
    if not rest:
        return 1
    ints = {d for d in rest if type(d) is int}
    if len(ints) > 1:
        raise ValueError("incompatible broadcast")
    if ints:
        return ints.pop()  # a symbolic dim next to k must be k (or 1)
    first = rest[0]
    return first if all(d == first for d in rest) else ctx.fresh()


def broadcast(ctx, shapes: list) -> tuple | None:
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    return tuple(bcast_dims(ctx, [s[i] for s in padded]) for i in range(rank))


# -- elementwise -----------------------------------------------------------------------------------
def _same_shape(ctx, node, ins):
    x = ins[0]
    out = [Info(shape_of(x), None, x.elem if x is not None else 0)]
    if len(node.outputs) > 1:  # Dropout's mask, LayerNormalization's statistics: not shape-tracked here
        out += [None] * (len(node.outputs) - 1)
    return out


def _identity(ctx, node, ins):
    x = ins[0]
    return [Info(x.shape, x.data, x.elem)] if x is not None else None


def _dropout(ctx, node, ins):
    x = ins[0]
    return [Info(x.shape, x.data, x.elem), Info(x.shape, None, BOOL)]


def _elementwise(ctx, node, ins):
    op = node._op_type
    present = [i for i in ins if i is not None]
    first = ins[1] if op == "Where" else ins[0]
    elem = BOOL if op in _COMPARE or op in _LOGIC else (first.elem if first is not None else 0)
    shape = broadcast(ctx, [i.shape for i in present])
    data = _elementwise_data(op, ins, shape)
    return [_with_data(shape, data, elem)]


_COMPARE = frozenset({"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
_LOGIC = frozenset({"And", "Or", "Xor", "Not"})


def _elementwise_data(op, ins, shape):
    if shape is None or len(shape) > 1 or any(i is None or i.data is None for i in ins):
        return None
    n = _size(shape)
    if n is None or any(len(i.data) not in (1, n) for i in ins):
        return None
    cols = [i.data if len(i.data) == n else i.data * n for i in ins]
    fn = DATA_OPS.get(op)
    if fn is None or len(cols) != (3 if op == "Where" else 2):
        return None
    return tuple(fn(*args) for args in zip(*cols))


def _neg(ctx, node, ins):
    x = ins[0]
    data = tuple(sd.neg(d) if d is not None and not isinstance(d, bool) else None for d in x.data) \
        if x.data is not None else None
    return [Info(x.shape, data, x.elem)]


def _not(ctx, node, ins):
    x = ins[0]
    data = tuple(not d if isinstance(d, bool) else None for d in x.data) if x.data is not None else None
    return [Info(x.shape, data, BOOL)]


def _unary_elem(elem):
    def rule(ctx, node, ins):
        return [Info(shape_of(ins[0]), None, elem)]
    return rule


def _cast(ctx, node, ins):
    x = ins[0]
    to = attr_int(node, "to", 0)
    data = None
    if x.data is not None and to in INT_TYPES:
        data = tuple(int(d) if isinstance(d, bool) else d for d in x.data)
    elif x.data is not None and to == BOOL and all(type(d) is int or isinstance(d, bool) for d in x.data):
        data = tuple(bool(d) for d in x.data)
    return [Info(x.shape, data, to)]


def _cast_like(ctx, node, ins):
    x, like = ins[0], ins[1]
    return [Info(x.shape, None, like.elem if like is not None else 0)]


# -- shape ops ----------------------------------------------------------------------------------------
def _shape_op(ctx, node, ins):
    s = ins[0].shape
    if s is None:
        return [Info(None, None, INT64)]
    r = len(s)
    start, end = 0, r
    if ctx.opset(node) >= 15:
        start = attr_int(node, "start", 0)
        end = attr_int(node, "end", r)
        start = min(max(start + r if start < 0 else start, 0), r)
        end = min(max(end + r if end < 0 else end, 0), r)
    dims = tuple(s[start:end]) if end > start else ()
    return [_with_data((len(dims),), dims, INT64)]


def _size_op(ctx, node, ins):
    s = ins[0].shape
    return [Info((), (sd.product(s),) if s is not None else None, INT64)]


def _reshape(ctx, node, ins):
    x, target = ins[0], ins[1]
    data = target.data
    if data is None:
        n = _size(target.shape)
        return [Info(tuple(ctx.fresh() for _ in range(n)) if n is not None else None, None, x.elem)]
    allowzero = attr_int(node, "allowzero", 0) if ctx.opset(node) >= 14 else 0
    s = x.shape
    dims, minus = [], None
    for i, e in enumerate(data):
        if e is None or isinstance(e, bool):
            dims.append(ctx.fresh())
        elif type(e) is int and e == 0 and not allowzero:
            dims.append(s[i] if s is not None and i < len(s) else ctx.fresh())
        elif type(e) is int and e == -1:
            minus = i
            dims.append(None)
        elif type(e) is int and e < 0:
            raise ValueError("bad reshape target")
        else:
            dims.append(e)
    if minus is not None:
        rest = sd.product(d for d in dims if d is not None)
        q = sd.exact_div(sd.product(s), rest) if s is not None and rest != 0 else None
        dims[minus] = q if q is not None else ctx.fresh()
    out = tuple(dims)
    return [_with_data(out, x.data, x.elem)]


def _flatten(ctx, node, ins):
    x = ins[0]
    s = x.shape
    if s is None:
        return None
    axis = attr_int(node, "axis", 1)
    axis = axis + len(s) if axis < 0 else axis
    out = (sd.product(s[:axis]), sd.product(s[axis:]))
    return [_with_data(out, x.data, x.elem)]


def axes_of(ctx, node, ins, since: int):
    """Axes of Squeeze/Unsqueeze/Reduce*: an input from opset `since`, an attribute before."""
    if ctx.opset(node) >= since:
        if len(ins) < 2 or ins[1] is None:
            return []
        return _ints(ins[1])
    return list(attr_ints(node, "axes", []) or [])


def _unsqueeze(ctx, node, ins):
    x = ins[0]
    axes = axes_of(ctx, node, ins, 13)
    if axes is None or x.shape is None:
        return None
    rank = len(x.shape) + len(axes)
    axes = sorted(norm_axis(a, rank) for a in axes)
    dims, it = [], iter(x.shape)
    for i in range(rank):
        dims.append(1 if i in axes else next(it))
    return [_with_data(tuple(dims), x.data, x.elem)]


def _squeeze(ctx, node, ins):
    x = ins[0]
    s = x.shape
    axes = axes_of(ctx, node, ins, 13)
    if axes is None or s is None:
        return None
    if not axes:
        if not _static(s):
            return None  # a symbolic dim may be 1 at run time
        out = tuple(d for d in s if d != 1)
    else:
        drop = {norm_axis(a, len(s)) for a in axes}
        out = tuple(d for i, d in enumerate(s) if i not in drop)
    return [_with_data(out, x.data, x.elem)]


def _transpose(ctx, node, ins):
    x = ins[0]
    s = x.shape
    if s is None:
        return None
    perm = attr_ints(node, "perm", None) or list(range(len(s)))[::-1]
    out = tuple(s[p] for p in perm)
    data = x.data if x.data is not None and len(s) <= 1 else None
    return [Info(out, data, x.elem)]


def _concat(ctx, node, ins):
    known = [i for i in ins if i is not None]
    elem = next((i.elem for i in known if i.elem), 0)
    shapes = [i.shape for i in known]
    if not shapes or any(s is None for s in shapes):
        return [Info(None, None, elem)]
    rank = len(shapes[0])
    axis = norm_axis(attr_int(node, "axis", 0), rank)
    dims = []
    for k in range(rank):
        if k == axis:
            total = 0
            for s in shapes:
                total = sd.add(total, s[k])
            dims.append(total)
        else:
            col = [s[k] for s in shapes]
            dims.append(next((d for d in col if type(d) is int), col[0]))
    data = None
    if rank == 1 and all(i.data is not None for i in known):
        data = tuple(d for i in known for d in i.data)
    return [_with_data(tuple(dims), data, elem)]


def _slice_params(ctx, node, ins):
    if ctx.opset(node) >= 10:
        def get(i):
            return ins[i].data if len(ins) > i and ins[i] is not None else None
        starts, ends, axes, steps = get(1), get(2), get(3), get(4)
        if starts is None or ends is None:
            return None
        if len(ins) > 3 and ins[3] is not None and axes is None:
            return None
        if len(ins) > 4 and ins[4] is not None and steps is None:
            return None
    else:
        starts, ends = attr_ints(node, "starts"), attr_ints(node, "ends")
        axes, steps = attr_ints(node, "axes"), None
    n = len(starts)
    axes = list(axes) if axes is not None else list(range(n))
    steps = list(steps) if steps is not None else [1] * n
    return list(starts), list(ends), axes, steps


def slice_dim(ctx, d, start, end, step):
    if type(step) is not int or step == 0:
        raise ValueError("bad step")
    if type(d) is int and type(start) is int and type(end) is int:
        return len(range(*slice(start, end, step).indices(d)))
    if step == 1 and start == 0 and (end == d or type(end) is int and end >= BIG):
        return d
    return ctx.fresh()


def _slice(ctx, node, ins):
    x = ins[0]
    s = x.shape
    if s is None:
        return [Info(None, None, x.elem)]
    params = _slice_params(ctx, node, ins)
    if params is None:
        return [Info(tuple(ctx.fresh() for _ in s), None, x.elem)]
    starts, ends, axes, steps = params
    dims = list(s)
    for a, b, e, st in zip(axes, starts, ends, steps):
        a = norm_axis(a, len(s))
        dims[a] = ctx.fresh() if b is None or e is None else slice_dim(ctx, s[a], b, e, st)
    data = None
    if x.data is not None and len(s) == 1 and type(s[0]) is int:
        b, e, st = starts[0], ends[0], steps[0]
        if all(type(v) is int for v in (b, e, st)) and st != 0:
            data = tuple(x.data[slice(*slice(b, e, st).indices(s[0]))])
    return [_with_data(tuple(dims), data, x.elem)]


def _gather(ctx, node, ins):
    x, idx = ins[0], ins[1]
    s, si = x.shape, idx.shape
    if s is None or si is None:
        return [Info(None, None, x.elem)]
    axis = norm_axis(attr_int(node, "axis", 0), len(s))
    out = tuple(s[:axis]) + tuple(si) + tuple(s[axis + 1:])
    data = None
    ids = _ints(idx)
    if x.data is not None and len(s) == 1 and type(s[0]) is int and ids is not None:
        n = s[0]
        if all(-n <= i < n for i in ids):
            data = tuple(x.data[i + n if i < 0 else i] for i in ids)
    return [_with_data(out, data, x.elem)]


def _gather_elements(ctx, node, ins):
    return [Info(shape_of(ins[1]), None, ins[0].elem)]


def _gather_nd(ctx, node, ins):
    s, si = ins[0].shape, ins[1].shape
    b = attr_int(node, "batch_dims", 0)
    if s is None or si is None or type(si[-1]) is not int:
        return [Info(None, None, ins[0].elem)]
    return [Info(tuple(si[:-1]) + tuple(s[b + si[-1]:]), None, ins[0].elem)]


def _split(ctx, node, ins):
    x = ins[0]
    s = x.shape
    n = len(node.outputs)
    if s is None:
        return None
    axis = norm_axis(attr_int(node, "axis", 0), len(s))
    if ctx.opset(node) >= 13:
        sizes = _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None
        if len(ins) > 1 and ins[1] is not None and sizes is None:
            return None
    else:
        sizes = attr_ints(node, "split", None)
    d = s[axis]
    if sizes:
        parts = list(sizes)
    elif type(d) is int:
        chunk = -(-d // n)
        parts = [chunk] * (n - 1) + [d - chunk * (n - 1)]
    else:
        q = sd.exact_div(d, n)
        parts = [q if q is not None else ctx.fresh() for _ in range(n)]
    return [Info(tuple(p if i == axis else dd for i, dd in enumerate(s)), None, x.elem) for p in parts]


def _range(ctx, node, ins):
    start, limit, delta = (i.data[0] if i is not None and i.data and len(i.data) == 1 else None for i in ins[:3])
    elem = ins[0].elem
    if type(start) is int and type(delta) is int and delta != 0:
        if type(limit) is int:
            return [Info((max(-(-(limit - start) // delta), 0),), None, elem)]
        if isinstance(limit, sd.Sym) and start == 0 and delta == 1:
            return [Info((limit,), None, elem)]
    return [Info((ctx.fresh(),), None, elem)]


def _constant_of_shape(ctx, node, ins):
    target = ins[0]
    value = attr(node, "value", None)
    elem = value.elem_type if value is not None else FLOAT
    if target.data is None:
        n = _size(target.shape)
        return [Info(tuple(ctx.fresh() for _ in range(n)) if n is not None else None, None, elem)]
    dims = tuple(d if d is not None and not isinstance(d, bool) else ctx.fresh() for d in target.data)
    data = None
    if value is not None and elem in INT_TYPES | {BOOL} and _static(dims) and (_size(dims) or 0) <= 64:
        v = value.numpy().reshape(-1)[0].item()
        data = (v,) * _size(dims)
    return [_with_data(dims, data, elem)]


def _expand(ctx, node, ins):
    x, target = ins[0], ins[1]
    s = x.shape
    if s is None:
        return [Info(None, None, x.elem)]
    if target.data is None:
        n = _size(target.shape)
        if n is None:
            return [Info(None, None, x.elem)]
        t = [None] * n
    else:
        t = [d if not isinstance(d, bool) else None for d in target.data]
    rank = max(len(s), len(t))
    dims = []
    for i in range(rank):
        xd = s[i - rank + len(s)] if i >= rank - len(s) else 1
        td = t[i - rank + len(t)] if i >= rank - len(t) else 1
        if td is None:  # the target entry is 1 or xd, unless xd is 1: then it is anything
            dims.append(xd if type(xd) is int and xd != 1 else ctx.fresh())
        else:
            dims.append(bcast_dims(ctx, [xd, td]))
    shape = tuple(dims)
    return [_with_data(shape, x.data if _size(shape) == _size(s) else None, x.elem)]


def _tile(ctx, node, ins):
    x, reps = ins[0], ins[1]
    if x.shape is None or reps.data is None or len(reps.data) != len(x.shape):
        return [Info(None if x.shape is None else tuple(ctx.fresh() for _ in x.shape), None, x.elem)]
    return [Info(tuple(sd.mul(d, r) if r is not None else ctx.fresh() for d, r in zip(x.shape, reps.data)),
                 None, x.elem)]


def _pad(ctx, node, ins):
    x = ins[0]
    s = x.shape
    if ctx.opset(node) >= 11:
        pads = _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else None
        if len(ins) > 3 and ins[3] is not None and axes is None:
            pads = None
    else:
        pads, axes = attr_ints(node, "pads", None), None
    if s is None or pads is None:
        return [Info(None if s is None else tuple(ctx.fresh() for _ in s), None, x.elem)]
    axes = [norm_axis(a, len(s)) for a in axes] if axes is not None else list(range(len(s)))
    k = len(axes)
    dims = list(s)
    for j, a in enumerate(axes):
        dims[a] = sd.add(dims[a], pads[j] + pads[j + k])
    return [Info(tuple(dims), None, x.elem)]


_SAME_SHAPE = ("Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Abs", "Exp", "Log", "Reciprocal", "Floor", "Ceil",
               "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
               "Atanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Softsign", "LeakyRelu",
               "Gelu", "Mish", "ThresholdedRelu", "Clip", "Softmax", "LogSoftmax", "Hardmax", "CumSum", "Trilu",
               "LRN", "BatchNormalization", "InstanceNormalization", "MeanVarianceNormalization",
               "GroupNormalization", "RMSNormalization", "Shrink", "BitwiseNot", "ScatterND",
               "ScatterElements", "Scatter", "ReverseSequence")
_BROADCAST = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor",
              "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "BitShift", "BitwiseAnd",
              "BitwiseOr", "BitwiseXor", "PRelu", "Where")

RULES = {op: _same_shape for op in _SAME_SHAPE}
RULES.update({op: _elementwise for op in _BROADCAST})
RULES.update({
    "Identity": _identity, "Dropout": _dropout, "Neg": _neg, "Not": _not,
    "IsNaN": _unary_elem(BOOL), "IsInf": _unary_elem(BOOL), "Cast": _cast, "CastLike": _cast_like,
    "Shape": _shape_op, "Size": _size_op, "Reshape": _reshape, "Flatten": _flatten, "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze, "Transpose": _transpose, "Concat": _concat, "Slice": _slice, "Gather": _gather,
    "GatherElements": _gather_elements, "GatherND": _gather_nd, "Split": _split, "Range": _range,
    "ConstantOfShape": _constant_of_shape, "Expand": _expand, "Tile": _tile, "Pad": _pad,
})
