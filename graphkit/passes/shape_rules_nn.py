"""The network ops' rules of ShapeInfo (see shape_rules.py for the contract): MatMul, Gemm, Conv and
pooling (with symbolic spatial dims: floor divisions that nest), reductions, ArgMax/ArgMin, TopK,
LSTM/GRU/RNN, LayerNormalization, Quantize/DequantizeLinear. Element types follow the spec
(MatMulInteger/ConvInteger: int32; indices: int64)."""
from __future__ import annotations

from graphkit.passes import sym_dims as sd
from graphkit.passes.shape_rules import (
    FLOAT,
    INT32,
    INT64,
    Info,
    attr,
    attr_int,
    attr_ints,
    axes_of,
    broadcast,
    norm_axis,
    shape_of,
)


def _matmul(ctx, node, ins):
    a, b = ins[0].shape, ins[1].shape
    elem = INT32 if node._op_type == "MatMulInteger" else ins[0].elem
    if a is None or b is None or not a or not b:
        return [Info(None, None, elem)]
    a1, b1 = len(a) == 1, len(b) == 1
    aa = (1,) + tuple(a) if a1 else tuple(a)
    bb = tuple(b) + (1,) if b1 else tuple(b)
    batch = broadcast(ctx, [aa[:-2], bb[:-2]])
    out = tuple(batch) + ((aa[-2],) if not a1 else ()) + ((bb[-1],) if not b1 else ())
    return [Info(out, None, elem)]


def _gemm(ctx, node, ins):
    a, b = ins[0].shape, ins[1].shape
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return [Info(None, None, ins[0].elem)]
    m = a[1] if attr_int(node, "transA", 0) else a[0]
    n = b[0] if attr_int(node, "transB", 0) else b[1]
    return [Info((m, n), None, ins[0].elem)]


def _window(ctx, node, spatial, kernel, ceil_mode=False):
    """Output spatial dims of Conv/pooling (NOTSET, VALID and SAME_* padding)."""
    k = len(kernel)
    strides = attr_ints(node, "strides", None) or [1] * k
    dil = attr_ints(node, "dilations", None) or [1] * k
    pads = attr_ints(node, "pads", None) or [0] * (2 * k)
    auto = attr(node, "auto_pad", "NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    out = []
    for i, d in enumerate(spatial):
        ek = (kernel[i] - 1) * dil[i] + 1
        s = strides[i]
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            out.append(sd.ceildiv(d, s))
            continue
        lo, hi = (0, 0) if auto == "VALID" else (pads[i], pads[i + k])
        num = sd.add(d, lo + hi - ek)
        if type(num) is int:
            o = (-(-num // s) if ceil_mode else num // s) + 1
            if ceil_mode and (o - 1) * s >= d + lo:
                o -= 1
            out.append(o)
        elif ceil_mode and s != 1:
            out.append(ctx.fresh())
        else:
            out.append(sd.add(sd.floordiv(num, s), 1))
    return out


def _conv(ctx, node, ins):
    x, w = ins[0], ins[1]
    s, ws = x.shape, w.shape
    if s is None or ws is None:
        return [Info(None, None, x.elem)]
    kernel = attr_ints(node, "kernel_shape", None) or list(ws[2:])
    if not all(type(d) is int for d in kernel):
        return [Info(None, None, x.elem)]
    elem = INT32 if node._op_type == "ConvInteger" else x.elem
    return [Info((s[0], ws[0], *_window(ctx, node, s[2:], kernel)), None, elem)]


def _pool(ctx, node, ins):
    x = ins[0]
    s = x.shape
    kernel = attr_ints(node, "kernel_shape", None)
    if s is None or not kernel:
        return [Info(None, None, x.elem)]
    ceil_mode = bool(attr_int(node, "ceil_mode", 0))
    out = (s[0], s[1], *_window(ctx, node, s[2:], kernel, ceil_mode))
    return [Info(out, None, x.elem), Info(out, None, INT64)]


def _global_pool(ctx, node, ins):
    s = ins[0].shape
    return [Info(None if s is None else (s[0], s[1], *([1] * (len(s) - 2))), None, ins[0].elem)]


def _reduce(ctx, node, ins):
    x = ins[0]
    s = x.shape
    op = node._op_type
    since = 13 if op == "ReduceSum" else 18
    axes = axes_of(ctx, node, ins, since)
    if s is None or axes is None:
        return [Info(None, None, x.elem)]
    keep = attr_int(node, "keepdims", 1)
    if not axes:
        if ctx.opset(node) >= since and attr_int(node, "noop_with_empty_axes", 0):
            return [Info(s, None, x.elem)]
        axes = range(len(s))
    drop = {norm_axis(a, len(s)) for a in axes}
    out = tuple(1 if i in drop else d for i, d in enumerate(s)) if keep else \
        tuple(d for i, d in enumerate(s) if i not in drop)
    return [Info(out, None, x.elem)]


def _arg(ctx, node, ins):
    s = ins[0].shape
    if s is None:
        return [Info(None, None, INT64)]
    axis = norm_axis(attr_int(node, "axis", 0), len(s))
    out = tuple(1 if i == axis else d for i, d in enumerate(s)) if attr_int(node, "keepdims", 1) else \
        tuple(d for i, d in enumerate(s) if i != axis)
    return [Info(out, None, INT64)]


def _recurrent(ctx, node, ins):
    x = ins[0]
    s = x.shape
    hidden = attr_int(node, "hidden_size", None)
    direction = attr(node, "direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if s is None or len(s) != 3 or hidden is None:
        return None
    dirs = 2 if direction == "bidirectional" else 1
    layout = attr_int(node, "layout", 0) if ctx.opset(node) >= 14 else 0
    if layout:
        batch, seq = s[0], s[1]
        y, state = (batch, seq, dirs, hidden), (batch, dirs, hidden)
    else:
        seq, batch = s[0], s[1]
        y, state = (seq, dirs, batch, hidden), (dirs, batch, hidden)
    return [Info(y, None, x.elem), Info(state, None, x.elem), Info(state, None, x.elem)]


def _topk(ctx, node, ins):
    x = ins[0]
    s = x.shape
    k = ins[1].data[0] if ins[1] is not None and ins[1].data and len(ins[1].data) == 1 else None
    if s is None:
        return None
    axis = norm_axis(attr_int(node, "axis", -1), len(s))
    out = tuple((k if k is not None else ctx.fresh()) if i == axis else d for i, d in enumerate(s))
    return [Info(out, None, x.elem), Info(out, None, INT64)]


def _layer_norm(ctx, node, ins):
    x = ins[0]
    s = x.shape
    out = [Info(s, None, x.elem)]
    if s is not None and len(node.outputs) > 1:
        axis = norm_axis(attr_int(node, "axis", -1), len(s))
        stat = tuple(d if i < axis else 1 for i, d in enumerate(s))
        out += [Info(stat, None, 0), Info(stat, None, 0)]
    return out


def _dequantize(ctx, node, ins):
    scale = ins[1] if len(ins) > 1 else None
    return [Info(shape_of(ins[0]), None, scale.elem if scale is not None else FLOAT)]


def _quantize(ctx, node, ins):
    zp = ins[2] if len(ins) > 2 else None
    elem = zp.elem if zp is not None else 2  # uint8
    return [Info(shape_of(ins[0]), None, attr_int(node, "output_dtype", 0) or elem)]


RULES = {
    "MatMul": _matmul, "MatMulInteger": _matmul, "Gemm": _gemm, "Conv": _conv, "ConvInteger": _conv,
    "MaxPool": _pool, "AveragePool": _pool, "LpPool": _pool, "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool, "GlobalLpPool": _global_pool, "ArgMax": _arg, "ArgMin": _arg, "LSTM": _recurrent,
    "GRU": _recurrent, "RNN": _recurrent, "TopK": _topk, "LayerNormalization": _layer_norm,
    "DequantizeLinear": _dequantize, "QuantizeLinear": _quantize,
}
RULES.update({op: _reduce for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                                     "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")})
