"""ONNX ops as torch functions: `OPS[op_type](inputs, attrs, opset, n_outputs) -> tuple`.

Each function reads the ONNX attributes with the spec's defaults and honours the opset in which
an attribute became an input (Clip 11, Pad 11, Slice 10, Squeeze/Unsqueeze/Split/Reduce* 13/18)
and the 2-D coercion of Softmax/LogSoftmax/Hardmax below opset 13. `PLAN_CHECKS[op_type](attrs,
n_outputs, opset) -> reason | None` names the configurations a mapping does not implement (MaxPool's
Indices output, training-mode BatchNormalization, a Cast to a type torch lacks...): graph.py hands
those nodes to refruntime instead (delegate.py), before the first run.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

OPS: dict = {}
PLAN_CHECKS: dict = {}


def op(*names):
    def register(fn):
        for name in names:
            OPS[name] = fn
        return fn
    return register


def declines(*names):
    """Register `check(attrs, n_outputs, opset) -> reason | None` for these ops."""
    def register(fn):
        for name in names:
            PLAN_CHECKS[name] = fn
        return fn
    return register


def _ints(t) -> list[int]:
    return [int(v) for v in (t.reshape(-1).tolist() if isinstance(t, torch.Tensor) else t)]


# ---------------------------------------------------------------- convolutions and pools


def _auto_pads(a, spatial_in, kernel, strides, dilations):
    """ONNX explicit pads [b1.., e1..] from `pads` or `auto_pad`."""
    n = len(spatial_in)
    mode = a.get("auto_pad", "NOTSET")
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(spatial_in, kernel, strides, dilations):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            begins.append(small if mode == "SAME_UPPER" else big)
            ends.append(big if mode == "SAME_UPPER" else small)
        return begins + ends
    if mode == "VALID":
        return [0] * (2 * n)
    return list(a.get("pads", [0] * (2 * n)))


def _torch_pad(pads):
    """ONNX [b1, b2, .., e1, e2, ..] over spatial dims -> torch F.pad order (last dim first)."""
    n = len(pads) // 2
    out = []
    for i in reversed(range(n)):
        out += [pads[i], pads[i + n]]
    return out


def _geometry(x, w_spatial, a):
    n = x.dim() - 2
    kernel = list(a.get("kernel_shape", w_spatial))
    strides = list(a.get("strides", [1] * n))
    dilations = list(a.get("dilations", [1] * n))
    pads = _auto_pads(a, list(x.shape[2:]), kernel, strides, dilations)
    return kernel, strides, dilations, pads


@op("Conv")
def conv(x, a, opset, nout):
    x, w, b = x[0], x[1], (x[2] if len(x) > 2 else None)
    _, strides, dilations, pads = _geometry(x, list(w.shape[2:]), a)
    if any(pads):
        x = F.pad(x, _torch_pad(pads))
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[x.dim() - 2]
    return (fn(x, w, b, stride=strides, dilation=dilations, groups=a.get("group", 1)),)


@op("ConvTranspose")
def conv_transpose(x, a, opset, nout):
    x, w, b = x[0], x[1], (x[2] if len(x) > 2 else None)
    n = x.dim() - 2
    group = a.get("group", 1)
    kernel = list(a.get("kernel_shape", w.shape[2:]))
    strides = list(a.get("strides", [1] * n))
    dilations = list(a.get("dilations", [1] * n))
    out_pad = list(a.get("output_padding", [0] * n))
    full = [s * (i - 1) + op_ + (k - 1) * d + 1 for i, s, op_, k, d in
            zip(x.shape[2:], strides, out_pad, kernel, dilations)]
    if "output_shape" in a:
        target = list(a["output_shape"])[-n:]
        totals = [f - t for f, t in zip(full, target)]
        upper = a.get("auto_pad", "NOTSET") != "SAME_LOWER"
        begins = [t // 2 if upper else t - t // 2 for t in totals]
        pads = begins + [t - b_ for t, b_ in zip(totals, begins)]
    elif a.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        totals = [f - i * s for f, i, s in zip(full, x.shape[2:], strides)]
        upper = a["auto_pad"] == "SAME_UPPER"
        begins = [t // 2 if upper else t - t // 2 for t in totals]
        pads = begins + [t - b_ for t, b_ in zip(totals, begins)]
    else:
        pads = list(a.get("pads", [0] * (2 * n)))
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[n]
    y = fn(x, w, b, stride=strides, output_padding=out_pad, groups=group, dilation=dilations)
    index = [slice(None), slice(None)] + [slice(pads[i], y.shape[2 + i] - pads[i + n]) for i in range(n)]
    return (y[tuple(index)],)


@declines("MaxPool")
def _max_pool_check(a, nout, opset):
    if nout > 1:
        return "MaxPool with an Indices output"
    return "MaxPool storage_order=1" if a.get("storage_order", 0) else None


@op("MaxPool")
def max_pool(x, a, opset, nout):
    if nout > 1:
        raise NotImplementedError("MaxPool with an Indices output")
    x = x[0]
    kernel, strides, dilations, pads = _geometry(x, None, a)
    if a.get("storage_order", 0):
        raise NotImplementedError("MaxPool storage_order=1")
    if any(pads):
        x = F.pad(x, _torch_pad(pads), value=-math.inf)
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[x.dim() - 2]
    return (fn(x, kernel, strides, 0, dilations, ceil_mode=bool(a.get("ceil_mode", 0))),)


@declines("AveragePool")
def _average_pool_check(a, nout, opset):
    return "AveragePool with dilations" if any(d != 1 for d in a.get("dilations", [])) else None


@op("AveragePool")
def average_pool(x, a, opset, nout):
    x = x[0]
    kernel, strides, dilations, pads = _geometry(x, None, a)
    if any(d != 1 for d in dilations):
        raise NotImplementedError("AveragePool with dilations")
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[x.dim() - 2]
    ceil = bool(a.get("ceil_mode", 0))
    if not any(pads):
        return (fn(x, kernel, strides, 0, ceil_mode=ceil, count_include_pad=False),)
    xp = F.pad(x, _torch_pad(pads))
    if a.get("count_include_pad", 0):
        return (fn(xp, kernel, strides, 0, ceil_mode=ceil, count_include_pad=True),)
    ones = F.pad(torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype), _torch_pad(pads))
    total = fn(xp, kernel, strides, 0, ceil_mode=ceil, count_include_pad=True)
    count = fn(ones, kernel, strides, 0, ceil_mode=ceil, count_include_pad=True)
    return (total / count,)


@op("GlobalAveragePool")
def global_average_pool(x, a, opset, nout):
    return (x[0].mean(dim=tuple(range(2, x[0].dim())), keepdim=True),)


@op("GlobalMaxPool")
def global_max_pool(x, a, opset, nout):
    return (x[0].amax(dim=tuple(range(2, x[0].dim())), keepdim=True),)


@op("LRN")
def lrn(x, a, opset, nout):
    x = x[0]
    size = a["size"]
    alpha, beta, bias = a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2  # floor / ceil of (size-1)/2
    sq = (x * x).reshape(x.shape[0], 1, x.shape[1], -1, 1)
    sq = F.pad(sq, (0, 0, 0, 0, before, after))
    window_sum = F.avg_pool3d(sq, (size, 1, 1), stride=1) * size
    return (x / (bias + alpha / size * window_sum.reshape(x.shape)) ** beta,)


# ---------------------------------------------------------------- linear algebra and normalisation


@op("Gemm")
def gemm(x, a, opset, nout):
    A, B = x[0], x[1]
    if a.get("transA", 0):
        A = A.t()
    if a.get("transB", 0):
        B = B.t()
    y = a.get("alpha", 1.0) * (A @ B)
    if len(x) > 2 and x[2] is not None:
        y = y + a.get("beta", 1.0) * x[2]
    return (y,)


@op("MatMul")
def matmul(x, a, opset, nout):
    return (torch.matmul(x[0], x[1]),)


def _batch_norm_training(a, nout, opset):
    training = a.get("training_mode", 0) or nout > 1 or (opset < 7 and not a.get("is_test", 0))
    return "BatchNormalization in training mode" if training else None


PLAN_CHECKS["BatchNormalization"] = _batch_norm_training


@op("BatchNormalization")
def batch_norm(x, a, opset, nout):
    if _batch_norm_training(a, nout, opset):
        raise NotImplementedError("BatchNormalization in training mode")
    return (F.batch_norm(x[0], x[3], x[4], x[1], x[2], training=False, eps=a.get("epsilon", 1e-5)),)


@op("InstanceNormalization")
def instance_norm(x, a, opset, nout):
    return (F.instance_norm(x[0], weight=x[1], bias=x[2], eps=a.get("epsilon", 1e-5)),)


@op("LayerNormalization")
def layer_norm(x, a, opset, nout):
    """Opset 17: normalise over axes [axis, rank), computed in float32 when stash_type is 1 (the
    default) and cast back before the affine stage; Mean and InvStdDev (stash type, reduced axes
    kept as 1) when the node asks for them."""
    data, scale = x[0], x[1]
    bias = x[2] if len(x) > 2 else None
    axis = a.get("axis", -1) % data.dim()
    eps = a.get("epsilon", 1e-5)
    stash = TORCH_TYPES.get(a.get("stash_type", 1), torch.float32)
    shape = tuple(data.shape[axis:])
    if nout == 1 and scale.shape == shape and (bias is None or bias.shape == shape):
        if data.dtype == stash:
            return (F.layer_norm(data, shape, scale, bias, eps=eps),)
        y = F.layer_norm(data.to(stash), shape, eps=eps).to(data.dtype)
        return (y * scale + bias if bias is not None else y * scale,)
    axes = tuple(range(axis, data.dim()))
    xs = data.to(stash)
    mean = xs.mean(dim=axes, keepdim=True)
    centred = xs - mean
    inv_std = torch.rsqrt((centred * centred).mean(dim=axes, keepdim=True) + eps)
    y = (centred * inv_std).to(data.dtype) * scale
    if bias is not None:
        y = y + bias
    return (y, mean, inv_std)[:nout]


def _coerced(fn, x, a, opset):
    if opset < 13:  # the input is flattened to 2-D at `axis` (default 1), then reshaped back
        axis = a.get("axis", 1) % max(x.dim(), 1)
        rows = int(np.prod(x.shape[:axis])) if axis else 1
        return fn(x.reshape(rows, -1), 1).reshape(x.shape)
    return fn(x, a.get("axis", -1))


@op("Softmax")
def softmax(x, a, opset, nout):
    return (_coerced(lambda t, d: torch.softmax(t, d), x[0], a, opset),)


@op("LogSoftmax")
def log_softmax(x, a, opset, nout):
    return (_coerced(lambda t, d: torch.log_softmax(t, d), x[0], a, opset),)


@op("Hardmax")
def hardmax(x, a, opset, nout):
    def fn(t, d):
        return F.one_hot(t.argmax(d), t.shape[d]).movedim(-1, d).to(t.dtype)
    return (_coerced(fn, x[0], a, opset),)


# ---------------------------------------------------------------- activations and elementwise


def _unary(name, fn):
    OPS[name] = lambda x, a, opset, nout: (fn(x[0], a),)


for _name, _fn in {
    "Relu": lambda t, a: torch.relu(t),
    "LeakyRelu": lambda t, a: F.leaky_relu(t, a.get("alpha", 0.01)),
    "Sigmoid": lambda t, a: torch.sigmoid(t),
    "Tanh": lambda t, a: torch.tanh(t),
    "HardSigmoid": lambda t, a: torch.clamp(a.get("alpha", 0.2) * t + a.get("beta", 0.5), 0, 1),
    "HardSwish": lambda t, a: t * torch.clamp(t / 6 + 0.5, 0, 1),
    "Elu": lambda t, a: F.elu(t, a.get("alpha", 1.0)),
    "Selu": lambda t, a: a.get("gamma", 1.0507009873554805) * torch.where(
        t > 0, t, a.get("alpha", 1.6732632423543772) * (torch.exp(t) - 1)),
    "Celu": lambda t, a: F.celu(t, a.get("alpha", 1.0)),
    "Softplus": lambda t, a: torch.log1p(torch.exp(-t.abs())) + torch.relu(t),
    "Softsign": lambda t, a: t / (1 + t.abs()),
    "Mish": lambda t, a: t * torch.tanh(torch.log1p(torch.exp(-t.abs())) + torch.relu(t)),
    "Gelu": lambda t, a: F.gelu(t, approximate=a.get("approximate", "none")),
    "ThresholdedRelu": lambda t, a: torch.where(t > a.get("alpha", 1.0), t, torch.zeros_like(t)),
    "Abs": lambda t, a: t.abs(), "Neg": lambda t, a: -t, "Exp": lambda t, a: torch.exp(t),
    "Log": lambda t, a: torch.log(t), "Sqrt": lambda t, a: torch.sqrt(t),
    "Reciprocal": lambda t, a: torch.reciprocal(t), "Floor": lambda t, a: torch.floor(t),
    "Ceil": lambda t, a: torch.ceil(t), "Round": lambda t, a: torch.round(t),
    "Sign": lambda t, a: torch.sign(t), "Sin": lambda t, a: torch.sin(t), "Cos": lambda t, a: torch.cos(t),
    "Tan": lambda t, a: torch.tan(t), "Asin": lambda t, a: torch.asin(t), "Acos": lambda t, a: torch.acos(t),
    "Atan": lambda t, a: torch.atan(t), "Sinh": lambda t, a: torch.sinh(t), "Cosh": lambda t, a: torch.cosh(t),
    "Asinh": lambda t, a: torch.asinh(t), "Acosh": lambda t, a: torch.acosh(t), "Atanh": lambda t, a: torch.atanh(t),
    "Erf": lambda t, a: torch.erf(t), "Not": lambda t, a: torch.logical_not(t),
    "BitwiseNot": lambda t, a: torch.bitwise_not(t),
    "Identity": lambda t, a: t, "IsNaN": lambda t, a: torch.isnan(t),
    "IsInf": lambda t, a: (torch.isposinf(t) if a.get("detect_positive", 1) else torch.zeros_like(t, dtype=torch.bool))
    | (torch.isneginf(t) if a.get("detect_negative", 1) else torch.zeros_like(t, dtype=torch.bool)),
    "Swish": lambda t, a: t * torch.sigmoid(a.get("alpha", 1.0) * t),
    "Shrink": lambda t, a: torch.where(t < -a.get("lambd", 0.5), t + a.get("bias", 0.0), torch.where(
        t > a.get("lambd", 0.5), t - a.get("bias", 0.0), torch.zeros_like(t))),
}.items():
    _unary(_name, _fn)


@op("Clip")
def clip(x, a, opset, nout):
    if opset < 11:
        lo, hi = a.get("min", -math.inf), a.get("max", math.inf)
    else:
        lo = x[1] if len(x) > 1 and x[1] is not None else None
        hi = x[2] if len(x) > 2 and x[2] is not None else None
    return (torch.clamp(x[0], lo, hi),)


@op("PRelu")
def prelu(x, a, opset, nout):
    return (torch.where(x[0] < 0, x[0] * x[1], x[0]),)


def _div(p, q):
    if p.dtype.is_floating_point:
        return p / q
    return torch.div(p, q, rounding_mode="trunc")


def _bit_shift(p, q, a):
    if a.get("direction") == "LEFT":
        return torch.bitwise_left_shift(p, q)
    return torch.bitwise_right_shift(p, q)


_BINARY = {
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": _div,
    "Pow": lambda p, q: torch.pow(p, q).to(p.dtype),
    "Equal": torch.eq, "Less": torch.lt, "Greater": torch.gt, "LessOrEqual": torch.le,
    "GreaterOrEqual": torch.ge, "And": torch.logical_and, "Or": torch.logical_or, "Xor": torch.logical_xor,
    "BitwiseAnd": torch.bitwise_and, "BitwiseOr": torch.bitwise_or, "BitwiseXor": torch.bitwise_xor,
    # Mod (opset 13): fmod=0 is Python's % (sign of the divisor), fmod=1 C's fmod (sign of the dividend)
    "Mod": lambda p, q, a: torch.fmod(p, q) if a.get("fmod", 0) else torch.remainder(p, q),
    "BitShift": _bit_shift,
}
_WITH_ATTRIBUTES = {"Mod", "BitShift"}


def _binary(fn, with_attributes=False):
    def run(x, a, opset, nout):
        p, q = x[0], x[1]
        if a.get("broadcast", 0) and q.dim() < p.dim():  # opset < 7: B aligned at `axis`
            axis = a.get("axis", p.dim() - q.dim()) % p.dim()
            q = q.reshape(*q.shape, *([1] * (p.dim() - axis - q.dim())))
        return (fn(p, q, a) if with_attributes else fn(p, q),)
    return run


for _name, _fn in _BINARY.items():
    OPS[_name] = _binary(_fn, _name in _WITH_ATTRIBUTES)


def _variadic(fn):
    def run(x, a, opset, nout):
        out = x[0]
        for t in x[1:]:
            out = fn(out, t)
        return (out,)
    return run


OPS.update(Sum=_variadic(torch.add), Max=_variadic(torch.maximum), Min=_variadic(torch.minimum))
OPS["Mean"] = lambda x, a, opset, nout: (_variadic(torch.add)(x, a, opset, nout)[0] / len(x),)
OPS["Where"] = lambda x, a, opset, nout: (torch.where(x[0], x[1], x[2]),)


# ONNX element types torch holds as they are (no uint16/32/64, bfloat16 via numpy, float8, strings)
TORCH_TYPES = {
    TensorProto.FLOAT: torch.float32, TensorProto.DOUBLE: torch.float64, TensorProto.FLOAT16: torch.float16,
    TensorProto.INT8: torch.int8, TensorProto.INT16: torch.int16, TensorProto.INT32: torch.int32,
    TensorProto.INT64: torch.int64, TensorProto.UINT8: torch.uint8, TensorProto.BOOL: torch.bool,
}


@declines("Cast")
def _cast_check(a, nout, opset):
    if a.get("to") in TORCH_TYPES:
        return None
    return f"Cast to {helper.tensor_dtype_to_string(a['to']) if 'to' in a else 'nothing'}"


@op("Cast")
def cast(x, a, opset, nout):
    return (x[0].to(TORCH_TYPES[a["to"]]),)


@op("CastLike")
def cast_like(x, a, opset, nout):
    return (x[0].to(x[1].dtype),)


from graphkit.verification.runtimes.torch import index_ops, shape_ops  # noqa: F401 - they register into OPS
