"""Elementwise math, activations, matrix products, softmax, normalisation over trailing axes and
reductions as TensorFlow ops.

Elementwise ops (kind ELEMENTWISE) follow their inputs' layout, so a Relu or a residual Add between
convolutions stays channels-last. Opset semantics follow the model's opset import: Softmax's 2-D
coercion below 13, Clip's bounds as inputs from 11, Reduce*'s axes as an input (ReduceSum 13, the
others 18), the `broadcast`/`axis` attributes of binary ops below 7.
"""
from __future__ import annotations

import numpy as np

from graphkit.convert.graph import ELEMENTWISE, OPS, Mapping, declines, op

# ---------------------------------------------------------------- activations and unary math


def _unary(name, fn):
    OPS[name] = Mapping(lambda ctx, x, a: (fn(ctx.tf, x[0], a),), ELEMENTWISE, OPS[name].check if name in OPS else None)


def _hard_swish(tf, t, a):
    return t * tf.clip_by_value(t / 6 + 0.5, 0.0, 1.0)


def _selu(tf, t, a):
    alpha, gamma = a.get("alpha", 1.6732632423543772), a.get("gamma", 1.0507009873554805)
    return gamma * tf.where(t > 0, t, alpha * (tf.exp(t) - 1))


def _is_inf(tf, t, a):
    pos = t == np.inf if a.get("detect_positive", 1) else tf.zeros_like(t, tf.bool)
    neg = t == -np.inf if a.get("detect_negative", 1) else tf.zeros_like(t, tf.bool)
    return tf.logical_or(pos, neg)


UNARY = {
    "Relu": lambda tf, t, a: tf.nn.relu(t),
    "LeakyRelu": lambda tf, t, a: tf.nn.leaky_relu(t, a.get("alpha", 0.01)),
    "Sigmoid": lambda tf, t, a: tf.sigmoid(t),
    "Tanh": lambda tf, t, a: tf.tanh(t),
    "HardSigmoid": lambda tf, t, a: tf.clip_by_value(a.get("alpha", 0.2) * t + a.get("beta", 0.5), 0.0, 1.0),
    "HardSwish": _hard_swish,
    "Elu": lambda tf, t, a: tf.where(t > 0, t, a.get("alpha", 1.0) * (tf.exp(t) - 1)),
    "Selu": _selu,
    "Softplus": lambda tf, t, a: tf.math.softplus(t),
    "Softsign": lambda tf, t, a: t / (1 + tf.abs(t)),
    "Abs": lambda tf, t, a: tf.abs(t), "Neg": lambda tf, t, a: tf.negative(t),
    "Exp": lambda tf, t, a: tf.exp(t), "Log": lambda tf, t, a: tf.math.log(t),
    "Sqrt": lambda tf, t, a: tf.sqrt(t), "Reciprocal": lambda tf, t, a: tf.math.reciprocal(t),
    "Floor": lambda tf, t, a: tf.floor(t), "Ceil": lambda tf, t, a: tf.math.ceil(t),
    "Round": lambda tf, t, a: tf.round(t),  # half to even, as ONNX's Round
    "Sign": lambda tf, t, a: tf.sign(t), "Sin": lambda tf, t, a: tf.sin(t), "Cos": lambda tf, t, a: tf.cos(t),
    "Tan": lambda tf, t, a: tf.tan(t), "Atan": lambda tf, t, a: tf.atan(t),
    "Not": lambda tf, t, a: tf.logical_not(t),
    "Identity": lambda tf, t, a: t,
    "IsNaN": lambda tf, t, a: tf.not_equal(t, t),  # NaN is the only value unequal to itself (TFLite: NOT_EQUAL)
    "IsInf": _is_inf,
    "Swish": lambda tf, t, a: t * tf.sigmoid(a.get("alpha", 1.0) * t),
}
for _name, _fn in UNARY.items():
    _unary(_name, _fn)

# Erf for TFLite, which has no builtin for it: the rational approximation TensorFlow's own float
# kernels use (Eigen / XLA ErfImpl32), x * P(x^2) / Q(x^2) on x clamped to [-4, 4], accurate to a
# few float32 ulps. The SavedModel keeps tf.math.erf.
_ERF_ALPHA = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
              -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
_ERF_BETA = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
             -1.42647390514189e-02)


def _polynomial(x2, coefficients):
    result = 0.0
    for c in coefficients:
        result = result * x2 + c
    return result


@op("Erf", kind=ELEMENTWISE)
def erf(ctx, x, a):
    tf = ctx.tf
    t = _tensor(tf, x[0])
    if ctx.target != "tflite" or not t.dtype.is_floating:
        return (tf.math.erf(t),)
    c = tf.clip_by_value(t, -4.0, 4.0)
    x2 = c * c
    return (c * _polynomial(x2, _ERF_ALPHA) / _polynomial(x2, _ERF_BETA),)


@op("Gelu", kind=ELEMENTWISE)
def gelu(ctx, x, a):
    approximate = a.get("approximate", "none") == "tanh"
    if ctx.target == "tflite" and not approximate:
        return (0.5 * x[0] * (1.0 + erf(ctx, [x[0] * 0.7071067811865476], {})[0]),)
    return (ctx.tf.nn.gelu(x[0], approximate=approximate),)


@op("Clip", kind=ELEMENTWISE)
def clip(ctx, x, a):
    tf = ctx.tf
    t = x[0]
    if ctx.opset < 11:
        lo, hi = a.get("min"), a.get("max")
    else:
        lo = x[1] if len(x) > 1 else None
        hi = x[2] if len(x) > 2 else None
    if lo is not None:
        t = tf.maximum(t, tf.cast(lo, t.dtype))
    if hi is not None:
        t = tf.minimum(t, tf.cast(hi, t.dtype))
    return (t,)


@op("PRelu", kind=ELEMENTWISE)
def prelu(ctx, x, a):
    tf = ctx.tf
    return (tf.where(x[0] < 0, x[0] * x[1], x[0]),)


@op("Dropout", kind=ELEMENTWISE)
def dropout(ctx, x, a):
    """Inference: the input, and a mask of ones (of the input's type before opset 10)."""
    tf = ctx.tf
    if ctx.n_outputs > 1:
        return x[0], tf.ones_like(x[0], dtype=x[0].dtype if ctx.opset < 10 else tf.bool)
    return (x[0],)


TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
         10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


@declines("Cast", "CastLike")
def _cast_check(a, nout, opset):
    if "to" in a and a["to"] not in TYPES:
        from onnx import helper

        return f"Cast to {helper.tensor_dtype_to_string(a['to'])}"
    return None


@op("Cast", kind=ELEMENTWISE)
def cast(ctx, x, a):
    return (ctx.tf.cast(x[0], TYPES[a["to"]]),)


@op("CastLike", kind=ELEMENTWISE)
def cast_like(ctx, x, a):
    return (ctx.tf.cast(x[0], x[1].dtype),)


# ---------------------------------------------------------------- binary and variadic


def _div(tf, p, q):
    if p.dtype.is_floating:
        return tf.divide(p, q)
    return tf.truncatediv(p, q)  # integers: C's division, as ONNX's Div


def _mod(tf, p, q, a):
    if a.get("fmod", 0):
        return tf.truncatemod(p, q)
    return tf.math.floormod(p, q)  # the sign of the divisor, as Python's %


BINARY = {
    "Add": lambda tf, p, q, a: tf.add(p, q), "Sub": lambda tf, p, q, a: tf.subtract(p, q),
    "Mul": lambda tf, p, q, a: tf.multiply(p, q), "Div": lambda tf, p, q, a: _div(tf, p, q),
    "Pow": lambda tf, p, q, a: tf.pow(p, tf.cast(q, p.dtype)),
    "Equal": lambda tf, p, q, a: tf.equal(p, q), "Less": lambda tf, p, q, a: tf.less(p, q),
    "Greater": lambda tf, p, q, a: tf.greater(p, q), "LessOrEqual": lambda tf, p, q, a: tf.less_equal(p, q),
    "GreaterOrEqual": lambda tf, p, q, a: tf.greater_equal(p, q),
    "And": lambda tf, p, q, a: tf.logical_and(p, q), "Or": lambda tf, p, q, a: tf.logical_or(p, q),
    "Xor": lambda tf, p, q, a: tf.math.logical_xor(p, q),
    "Mod": _mod,
}


def _binary(fn):
    def run(ctx, x, a):
        tf = ctx.tf
        p, q = _tensor(tf, x[0]), _tensor(tf, x[1])
        if a.get("broadcast", 0) and q.shape.rank < p.shape.rank:  # opset < 7: B aligned at `axis`
            if ctx.channels_last:
                ctx.fail("legacy broadcast with an axis on a channels-last input")
            axis = a.get("axis", p.shape.rank - q.shape.rank) % p.shape.rank
            q = tf.reshape(q, [*q.shape.as_list(), *([1] * (p.shape.rank - axis - q.shape.rank))])
        return (fn(tf, p, q, a),)
    return run


def _tensor(tf, value):
    return tf.convert_to_tensor(value)


for _name, _fn in BINARY.items():
    OPS[_name] = Mapping(_binary(_fn), ELEMENTWISE)


def _variadic(fn):
    def run(ctx, x, a):
        out = x[0]
        for t in x[1:]:
            out = fn(ctx.tf, out, t)
        return (out,)
    return run


OPS["Sum"] = Mapping(_variadic(lambda tf, p, q: tf.add(p, q)), ELEMENTWISE)
OPS["Max"] = Mapping(_variadic(lambda tf, p, q: tf.maximum(p, q)), ELEMENTWISE)
OPS["Min"] = Mapping(_variadic(lambda tf, p, q: tf.minimum(p, q)), ELEMENTWISE)
OPS["Mean"] = Mapping(lambda ctx, x, a: (_variadic(lambda tf, p, q: tf.add(p, q))(ctx, x, a)[0] / len(x),),
                      ELEMENTWISE)
OPS["Where"] = Mapping(lambda ctx, x, a: (ctx.tf.where(x[0], x[1], x[2]),), ELEMENTWISE)


# ---------------------------------------------------------------- matrix products


@op("Gemm")
def gemm(ctx, x, a):
    tf = ctx.tf
    y = tf.linalg.matmul(x[0], x[1], transpose_a=bool(a.get("transA", 0)), transpose_b=bool(a.get("transB", 0)))
    alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    if len(x) > 2 and x[2] is not None:
        y = y + (x[2] if beta == 1.0 else beta * x[2])
    return (y,)


@op("MatMul")
def matmul(ctx, x, a):
    """numpy's matmul: batch dims broadcast, a 1-D operand promoted and its axis removed after."""
    tf = ctx.tf
    p, q = _tensor(tf, x[0]), _tensor(tf, x[1])
    if p.shape.rank == 1 and q.shape.rank == 1:
        return (tf.reduce_sum(p * q),)
    if p.shape.rank == 1:
        return (tf.squeeze(tf.linalg.matmul(p[None, :], q), -2),)
    if q.shape.rank == 1:
        return (tf.squeeze(tf.linalg.matmul(p, q[:, None]), -1),)
    return (tf.linalg.matmul(p, q),)


@op("Einsum")
def einsum(ctx, x, a):
    return (ctx.tf.einsum(a["equation"].replace(" ", ""), *x),)


# ---------------------------------------------------------------- softmax and normalisation


def _coerced(ctx, fn, t, a):
    """Below opset 13 the input is flattened to 2-D at `axis` (default 1), then reshaped back."""
    tf = ctx.tf
    t = _tensor(tf, t)
    rank = t.shape.rank
    if ctx.opset >= 13:
        return fn(t, a.get("axis", -1) % rank)
    axis = a.get("axis", 1) % max(rank, 1)
    if axis == rank - 1:
        return fn(t, axis)
    shape = ctx.shape_of(t)
    if isinstance(shape, np.ndarray):
        flat = [int(np.prod(shape[:axis])), -1]
    else:
        flat = tf.stack([tf.reduce_prod(shape[:axis]), tf.constant(-1, tf.int64)])
    return tf.reshape(fn(tf.reshape(t, flat), 1), shape)


@op("Softmax")
def softmax(ctx, x, a):
    return (_coerced(ctx, lambda t, d: ctx.tf.nn.softmax(t, axis=d), x[0], a),)


@op("LogSoftmax")
def log_softmax(ctx, x, a):
    return (_coerced(ctx, lambda t, d: ctx.tf.nn.log_softmax(t, axis=d), x[0], a),)


@op("LayerNormalization")
def layer_norm(ctx, x, a):
    """Opset 17: normalise over axes [axis, rank) in the stash type (float32 by default), cast back
    before scale and bias; Mean and InvStdDev when the node asks for them."""
    tf = ctx.tf
    data = _tensor(tf, x[0])
    scale = x[1]
    bias = x[2] if len(x) > 2 else None
    rank = data.shape.rank
    axes = list(range(a.get("axis", -1) % rank, rank))
    stash = TYPES.get(a.get("stash_type", 1), "float32")
    xs = tf.cast(data, stash) if data.dtype.name != stash else data
    mean = tf.reduce_mean(xs, axis=axes, keepdims=True)
    centred = xs - mean
    inv_std = tf.math.rsqrt(tf.reduce_mean(centred * centred, axis=axes, keepdims=True) + a.get("epsilon", 1e-5))
    y = centred * inv_std
    if y.dtype != data.dtype:
        y = tf.cast(y, data.dtype)
    y = y * scale
    if bias is not None:
        y = y + bias
    return (y, mean, inv_std)[:ctx.n_outputs]


# ---------------------------------------------------------------- reductions


def _reduce(fn, since=18):
    """Reduce*: `axes` an attribute before `since` (13 for ReduceSum, 18 for the others), then an
    optional input; none means every axis, or nothing with noop_with_empty_axes=1."""
    def run(ctx, x, a):
        tf = ctx.tf
        data = _tensor(tf, x[0])
        if ctx.opset < since:
            axes = a.get("axes")
        else:
            axes = ctx.ints(x[1]) if len(x) > 1 and x[1] is not None else None
            if len(x) > 1 and x[1] is not None and axes is None:
                ctx.fail("axes computed at run time")
        keep = bool(a.get("keepdims", 1))
        rank = data.shape.rank
        if not axes:
            if a.get("noop_with_empty_axes", 0) and ctx.opset >= since:
                return (fn(tf, tf.expand_dims(data, 0), [0], False),)  # the op's elementwise steps only
            axes = list(range(rank))
        return (fn(tf, data, sorted({ax % rank for ax in axes}), keep),)
    return run


OPS["ReduceSum"] = Mapping(_reduce(lambda tf, t, d, k: tf.reduce_sum(t, d, keepdims=k), since=13))
OPS["ReduceMean"] = Mapping(_reduce(lambda tf, t, d, k: tf.reduce_mean(t, d, keepdims=k)))
OPS["ReduceMax"] = Mapping(_reduce(lambda tf, t, d, k: tf.reduce_max(t, d, keepdims=k)))
OPS["ReduceMin"] = Mapping(_reduce(lambda tf, t, d, k: tf.reduce_min(t, d, keepdims=k)))
OPS["ReduceProd"] = Mapping(_reduce(lambda tf, t, d, k: tf.reduce_prod(t, d, keepdims=k)))
OPS["ReduceL1"] = Mapping(_reduce(lambda tf, t, d, k: tf.reduce_sum(tf.abs(t), d, keepdims=k)))
OPS["ReduceL2"] = Mapping(_reduce(lambda tf, t, d, k: tf.sqrt(tf.reduce_sum(t * t, d, keepdims=k))))
OPS["ReduceSumSquare"] = Mapping(_reduce(lambda tf, t, d, k: tf.reduce_sum(t * t, d, keepdims=k)))
OPS["ReduceLogSum"] = Mapping(_reduce(lambda tf, t, d, k: tf.math.log(tf.reduce_sum(t, d, keepdims=k))))
OPS["ReduceLogSumExp"] = Mapping(_reduce(lambda tf, t, d, k: tf.reduce_logsumexp(t, d, keepdims=k)))


def _arg(fn):
    """ArgMax/ArgMin: int64 indices; select_last_index=1 finds the last of equal values (the
    axis reversed, the index mirrored)."""
    def run(ctx, x, a):
        tf = ctx.tf
        data = _tensor(tf, x[0])
        axis = a.get("axis", 0) % data.shape.rank
        if a.get("select_last_index", 0):
            size = tf.shape(data, out_type=tf.int64)[axis]
            index = size - 1 - fn(tf.reverse(data, [axis]), axis=axis, output_type=tf.int64)
        else:
            index = fn(data, axis=axis, output_type=tf.int64)
        return (tf.expand_dims(index, axis) if a.get("keepdims", 1) else index,)
    return run


OPS["ArgMax"] = Mapping(lambda ctx, x, a: _arg(ctx.tf.math.argmax)(ctx, x, a))
OPS["ArgMin"] = Mapping(lambda ctx, x, a: _arg(ctx.tf.math.argmin)(ctx, x, a))
