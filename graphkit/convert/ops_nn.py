"""Convolutions, pools and normalisations as TensorFlow ops, channels last (kind SPATIAL).

The data input arrives channels-last ([N, *spatial, C]); weights arrive in ONNX's layout and are
rearranged here (numpy at conversion time when they are initializers). Explicit pads that equal
TensorFlow's "SAME" for a static input size become padding="SAME" (no Pad op in the TFLite model);
other pads are a Pad op (-inf for MaxPool, zeros elsewhere) before a "VALID" op.
"""
from __future__ import annotations

import math

import numpy as np

from graphkit.convert.graph import SPATIAL, declines, op


def _geometry(ctx, x, kernel, a):
    """(strides, dilations, explicit pads [b1.., e1..] or None when the input size is unknown
    and auto_pad needs it, auto_pad)."""
    n = len(kernel)
    strides = list(a.get("strides", [1] * n))
    dilations = list(a.get("dilations", [1] * n))
    mode = a.get("auto_pad", "NOTSET")
    spatial = ctx.dims(x)[1:-1]
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        if any(d is None for d in spatial):
            return strides, dilations, None, mode
        begins, ends = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            begins.append(small if mode == "SAME_UPPER" else big)
            ends.append(big if mode == "SAME_UPPER" else small)
        return strides, dilations, begins + ends, mode
    if mode == "VALID":
        return strides, dilations, [0] * (2 * n), mode
    return strides, dilations, list(a.get("pads", [0] * (2 * n))), mode


def _same_pads(spatial, kernel, strides, dilations) -> list[int] | None:
    """TensorFlow's "SAME" pads for a static input size (None when a dim is unknown)."""
    if any(d is None for d in spatial):
        return None
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _padding(ctx, x, kernel, strides, dilations, pads, mode, fill=0.0):
    """(input, TensorFlow padding string): pads equal to "SAME" are "SAME", others a Pad op."""
    tf = ctx.tf
    if pads is None:  # auto_pad SAME_UPPER with an unknown size: TensorFlow's SAME is SAME_UPPER
        if mode == "SAME_UPPER":
            return x, "SAME"
        ctx.fail("auto_pad SAME_LOWER needs a static input size")
    if not any(pads):
        return x, "VALID"
    if pads == _same_pads(ctx.dims(x)[1:-1], kernel, strides, dilations):
        return x, "SAME"
    n = len(kernel)
    paddings = [[0, 0], *([pads[i], pads[i + n]] for i in range(n)), [0, 0]]
    return tf.pad(x, paddings, constant_values=fill), "VALID"


# ---------------------------------------------------------------- convolutions


@declines("Conv")
def _conv_check(a, nout, opset):
    return None if len(a.get("kernel_shape", [1, 1])) in (1, 2, 3) else "Conv beyond 3 spatial dims"


@op("Conv", kind=SPATIAL)
def conv(ctx, x, a):
    tf = ctx.tf
    data, w = x[0], x[1]
    bias = x[2] if len(x) > 2 else None
    w_dims = ctx.dims(w)
    n = len(w_dims) - 2
    kernel = list(a.get("kernel_shape", w_dims[2:]))
    strides, dilations, pads, mode = _geometry(ctx, data, kernel, a)
    data, padding = _padding(ctx, data, kernel, strides, dilations, pads, mode)
    group = a.get("group", 1)
    channels = ctx.dims(data)[-1]
    per_group = w_dims[1]
    to_filter = [*range(2, 2 + n), 1, 0]  # [M, C/g, *k] -> [*k, C/g, M]
    if group == 1:
        filt = ctx.weight(_t(tf, w, to_filter), "filter")
        y = tf.nn.convolution(data, filt, strides=strides, padding=padding, dilations=dilations)
    elif n == 2 and per_group == 1 and channels == group and strides[0] == strides[1]:
        mult = w_dims[0] // group  # depthwise: output channel i*mult + j reads input channel i
        filt = ctx.weight(_t(tf, _reshape(tf, w, [group, mult, *kernel]), [2, 3, 0, 1]), "filter")
        y = tf.nn.depthwise_conv2d(data, filt, strides=[1, *strides, 1], padding=padding, dilations=dilations)
    else:
        parts = tf.split(data, group, axis=-1)
        filters = [ctx.weight(f, f"filter{i}") for i, f in enumerate(_split(tf, _t(tf, w, to_filter), group, axis=-1))]
        y = tf.concat([tf.nn.convolution(p, f, strides=strides, padding=padding, dilations=dilations)
                       for p, f in zip(parts, filters)], axis=-1)
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return (y,)


@declines("ConvTranspose")
def _conv_transpose_check(a, nout, opset):
    if len(a.get("kernel_shape", [1, 1])) != 2:
        return "ConvTranspose other than 2-D"
    if any(d != 1 for d in a.get("dilations", [])):
        return "ConvTranspose with dilations"
    return None


@op("ConvTranspose", kind=SPATIAL)
def conv_transpose(ctx, x, a):
    """2-D: the full transposed convolution ("VALID", output (i-1)*s + k + output_padding), then
    the pads cropped (or the output_shape / auto_pad SAME split)."""
    tf = ctx.tf
    data, w = x[0], x[1]
    bias = x[2] if len(x) > 2 else None
    w_dims = ctx.dims(w)
    group = a.get("group", 1)
    kernel = list(a.get("kernel_shape", w_dims[2:]))
    strides = list(a.get("strides", [1, 1]))
    out_pad = list(a.get("output_padding", [0, 0]))
    dims = ctx.dims(data)
    if any(d is None for d in dims[1:3]):
        ctx.fail("ConvTranspose needs a static input size")
    full = [s * (i - 1) + k + op_ for i, s, k, op_ in zip(dims[1:3], strides, kernel, out_pad)]
    if "output_shape" in a:
        totals = [f - t for f, t in zip(full, list(a["output_shape"])[-2:])]
        pads = _split_pads(totals, a.get("auto_pad", "NOTSET") != "SAME_LOWER")
    elif a.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        totals = [f - i * s for f, i, s in zip(full, dims[1:3], strides)]
        pads = _split_pads(totals, a["auto_pad"] == "SAME_UPPER")
    else:
        pads = list(a.get("pads", [0, 0, 0, 0]))
    # ONNX [C, M/g, kh, kw] -> TensorFlow [kh, kw, M/g, C] (conv2d_transpose's filter: out, in)
    filt = _t(tf, w, [2, 3, 1, 0])
    batch = tf.shape(data)[0]
    parts = tf.split(data, group, axis=-1) if group > 1 else [data]
    filters = [ctx.weight(f, f"filter{i}") for i, f in enumerate(_split(tf, filt, group, axis=-1) if group > 1
                                                                 else [filt])]
    outs = []
    for p, f in zip(parts, filters):
        shape = tf.stack([batch, full[0], full[1], ctx.dims(f)[2]])
        outs.append(tf.nn.conv2d_transpose(p, f, shape, strides=[1, *strides, 1], padding="VALID"))
    y = outs[0] if len(outs) == 1 else tf.concat(outs, axis=-1)
    if any(pads):
        y = y[:, pads[0]:full[0] - pads[2], pads[1]:full[1] - pads[3], :]
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return (y,)


def _np_dtype(x) -> np.dtype:
    return x.dtype if isinstance(x, np.ndarray) else np.dtype(x.dtype.as_numpy_dtype)


def _split_pads(totals, upper: bool) -> list[int]:
    begins = [t // 2 if upper else t - t // 2 for t in totals]
    return begins + [t - b for t, b in zip(totals, begins)]


def _t(tf, w, perm):
    return np.ascontiguousarray(np.transpose(w, perm)) if isinstance(w, np.ndarray) else tf.transpose(w, perm)


def _reshape(tf, w, shape):
    return w.reshape(shape) if isinstance(w, np.ndarray) else tf.reshape(w, shape)


def _split(tf, w, parts, axis):
    return np.split(w, parts, axis=axis) if isinstance(w, np.ndarray) else tf.split(w, parts, axis=axis)


# ---------------------------------------------------------------- pools


def _pool_geometry(ctx, x, a):
    kernel = list(a["kernel_shape"])
    strides, dilations, pads, mode = _geometry(ctx, x, kernel, a)
    if pads is not None and a.get("ceil_mode", 0):
        pads = _ceil_pads(ctx, x, kernel, strides, dilations, pads)
    return kernel, strides, dilations, pads, mode


def _ceil_pads(ctx, x, kernel, strides, dilations, pads):
    """ceil_mode: extra end padding so the last partial window counts, except a window that would
    start in the end padding (the rule of ONNX's reference and PyTorch)."""
    n = len(kernel)
    spatial = ctx.dims(x)[1:-1]
    if any(d is None for d in spatial):
        ctx.fail("ceil_mode needs a static input size")
    pads = list(pads)
    for i, (size, k, s, d) in enumerate(zip(spatial, kernel, strides, dilations)):
        span = size + pads[i] + pads[i + n]
        out = -(-(span - (k - 1) * d - 1) // s) + 1
        if (out - 1) * s >= size + pads[i]:
            out -= 1
        pads[i + n] += max(0, (out - 1) * s + (k - 1) * d + 1 - span)
    return pads


@declines("MaxPool")
def _max_pool_check(a, nout, opset):
    if nout > 1:
        return "MaxPool with an Indices output"
    if a.get("storage_order", 0):
        return "MaxPool storage_order=1"
    if any(d != 1 for d in a.get("dilations", [])):
        return "MaxPool with dilations"
    return None


@op("MaxPool", kind=SPATIAL)
def max_pool(ctx, x, a):
    tf = ctx.tf
    data = x[0]
    kernel, strides, dilations, pads, mode = _pool_geometry(ctx, data, a)
    dtype = _np_dtype(data)
    lowest = -math.inf if dtype.kind == "f" else np.iinfo(dtype).min
    data, padding = _padding(ctx, data, kernel, strides, dilations, pads, mode, fill=lowest)
    return (tf.nn.max_pool(data, kernel, strides, padding),)


@declines("AveragePool")
def _average_pool_check(a, nout, opset):
    return "AveragePool with dilations" if any(d != 1 for d in a.get("dilations", [])) else None


@op("AveragePool", kind=SPATIAL)
def average_pool(ctx, x, a):
    """Without padding, or with pads equal to "SAME" and count_include_pad=0 (TensorFlow's SAME
    average ignores the padding), one avg_pool. Otherwise the sum over the zero-padded input
    divided by how many elements each window counts (the input, plus the explicit pads when
    count_include_pad=1; never the ceil_mode extension), a constant for a static input size."""
    tf = ctx.tf
    data = x[0]
    kernel, strides, dilations, pads, mode = _pool_geometry(ctx, data, a)
    include = bool(a.get("count_include_pad", 0))
    if pads is None:
        if mode == "SAME_UPPER" and not include:
            return (tf.nn.avg_pool(data, kernel, strides, "SAME"),)
        ctx.fail("auto_pad with an unknown input size")
    n = len(kernel)
    spatial = ctx.dims(data)[1:-1]
    explicit = list(a.get("pads", [0] * 2 * n)) if mode == "NOTSET" else pads
    if not any(pads):
        return (tf.nn.avg_pool(data, kernel, strides, "VALID"),)
    if not include and pads == _same_pads(spatial, kernel, strides, dilations):
        return (tf.nn.avg_pool(data, kernel, strides, "SAME"),)
    if any(d is None for d in spatial):
        ctx.fail("AveragePool with pads needs a static input size")
    counted = np.ones([1, *spatial, 1], np.float64)
    if include:  # the explicit pads count, the ceil_mode extension does not
        counted = np.pad(counted, [[0, 0], *([explicit[i], explicit[i + n]] for i in range(n)), [0, 0]],
                         constant_values=1.0)
        rest = [p - e for p, e in zip(pads, explicit)]
    else:
        rest = pads
    counted = np.pad(counted, [[0, 0], *([rest[i], rest[i + n]] for i in range(n)), [0, 0]])
    windows = _window_sums(counted, kernel, strides)
    scale = (math.prod(kernel) / windows).astype(_np_dtype(data))
    padded = tf.pad(data, [[0, 0], *([pads[i], pads[i + n]] for i in range(n)), [0, 0]])
    return (tf.nn.avg_pool(padded, kernel, strides, "VALID") * scale,)


def _window_sums(x: np.ndarray, kernel, strides) -> np.ndarray:
    """Sum of each pooling window of a channels-last numpy array (batch and channels kept)."""
    spatial = x.shape[1:-1]
    outs = [(size - k) // s + 1 for size, k, s in zip(spatial, kernel, strides)]
    result = np.zeros([x.shape[0], *outs, x.shape[-1]], x.dtype)
    for index in np.ndindex(*outs):
        window = tuple(slice(i * s, i * s + k) for i, s, k in zip(index, strides, kernel))
        result[(slice(None), *index, slice(None))] = x[(slice(None), *window, slice(None))].sum(
            axis=tuple(range(1, 1 + len(kernel))))
    return result


@op("GlobalAveragePool", kind=SPATIAL)
def global_average_pool(ctx, x, a):
    rank = len(ctx.dims(x[0]))
    return (ctx.tf.reduce_mean(x[0], axis=list(range(1, rank - 1)), keepdims=True),)


@op("GlobalMaxPool", kind=SPATIAL)
def global_max_pool(ctx, x, a):
    rank = len(ctx.dims(x[0]))
    return (ctx.tf.reduce_max(x[0], axis=list(range(1, rank - 1)), keepdims=True),)


# ---------------------------------------------------------------- normalisations


@declines("BatchNormalization")
def _batch_norm_check(a, nout, opset):
    training = a.get("training_mode", 0) or nout > 1 or (opset < 7 and not a.get("is_test", 0))
    return "BatchNormalization in training mode" if training else None


@op("BatchNormalization", kind=SPATIAL)
def batch_norm(ctx, x, a):
    """y = (x - mean) / sqrt(var + epsilon) * scale + bias over the channel axis (last here)."""
    tf = ctx.tf
    data, scale, bias, mean, var = x[:5]
    eps = a.get("epsilon", 1e-5)
    return (tf.nn.batch_normalization(data, mean, var, bias, scale, eps),)


@op("InstanceNormalization", kind=SPATIAL)
def instance_norm(ctx, x, a):
    tf = ctx.tf
    data, scale, bias = x[:3]
    rank = len(ctx.dims(data))
    mean, var = tf.nn.moments(data, axes=list(range(1, rank - 1)), keepdims=True)
    return (tf.nn.batch_normalization(data, mean, var, bias, scale, a.get("epsilon", 1e-5)),)


@op("LRN", kind=SPATIAL)
def lrn(ctx, x, a):
    """y = x / (bias + alpha / size * sum of x^2 over `size` neighbouring channels) ^ beta. An odd
    size on a 4-D input is TensorFlow's (and TFLite's) LRN op; otherwise the window sum is
    written out (channels are last: a Pad and `size` slices of it)."""
    tf = ctx.tf
    data = x[0]
    size = a["size"]
    alpha, beta, bias = a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0)
    rank = len(ctx.dims(data))
    if size % 2 == 1 and rank == 4:
        return (tf.nn.local_response_normalization(data, depth_radius=(size - 1) // 2, bias=bias,
                                                   alpha=alpha / size, beta=beta),)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    squares = tf.pad(data * data, [[0, 0]] * (rank - 1) + [[before, after]])
    channels = tf.shape(data)[-1]
    total = tf.add_n([squares[..., i:i + channels] for i in range(size)])
    return (data / tf.pow(bias + alpha / size * total, beta),)


@declines("DepthToSpace")
def _depth_to_space_check(a, nout, opset):
    return None if a.get("mode", "DCR") == "DCR" else f"DepthToSpace mode {a['mode']}"


@op("DepthToSpace", kind=SPATIAL)
def depth_to_space(ctx, x, a):
    return (ctx.tf.nn.depth_to_space(x[0], a["blocksize"]),)


@op("SpaceToDepth", kind=SPATIAL)
def space_to_depth(ctx, x, a):
    return (ctx.tf.nn.space_to_depth(x[0], a["blocksize"]),)
