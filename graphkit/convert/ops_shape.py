"""Shape, data-movement and indexing ops as TensorFlow ops.

Shapes that are static become plain integers at conversion time (graph.py runs nodes whose
inputs are all known); the rest are int64 tensors computed when the model runs (a dynamic batch
or sequence length). Negative indices (Gather, GatherElements, GatherND, Slice, axes) are counted
from the end wherever the spec allows them.
"""
from __future__ import annotations

import numpy as np

from graphkit.convert.graph import AWARE, CONCAT, Val, declines, op, to_first

# ---------------------------------------------------------------- shapes


@op("Shape", kind=AWARE)
def shape(ctx, vals, a):
    """The ONNX-layout shape, read without transposing: a channels-last tensor's dims permuted back."""
    tf = ctx.tf
    val = vals[0]
    dims = ctx.shape_of(val.value)
    if val.channels_last:
        perm = to_first(val.rank)
        dims = dims[perm] if isinstance(dims, np.ndarray) else tf.gather(dims, perm)
    if ctx.opset >= 15:
        dims = dims[slice(a.get("start", 0), a.get("end"))]
    return (Val(dims),)


@op("Size", kind=AWARE)
def size(ctx, vals, a):
    dims = ctx.shape_of(vals[0].value)
    if isinstance(dims, np.ndarray):
        return (Val(np.array(int(np.prod(dims)), np.int64)),)
    return (Val(ctx.tf.reduce_prod(dims)),)


def _resolved(ctx, data, shape):
    """Reshape's target: 0 copies the input's dim (unless allowzero), -1 is inferred."""
    tf = ctx.tf
    known = ctx.ints(shape)
    dims = ctx.dims(data)
    if known is not None:
        out = []
        for i, d in enumerate(known):
            if d == 0:
                if dims[i] is None:
                    return _dynamic_zero(ctx, data, known)
                d = dims[i]
            out.append(d)
        return out
    n = ctx.dims(shape)[0]
    if n is None:
        ctx.fail("Reshape to a shape of unknown length")
    source = tf.shape(data, out_type=shape.dtype)
    if n > len(dims):
        source = tf.concat([source, tf.ones([n - len(dims)], shape.dtype)], 0)
    return tf.where(tf.equal(shape, 0), source[:n], shape)


def _dynamic_zero(ctx, data, known):
    tf = ctx.tf
    source = tf.shape(data, out_type=tf.int64)
    return tf.stack([source[i] if d == 0 else tf.constant(d, tf.int64) for i, d in enumerate(known)])


@op("Reshape")
def reshape(ctx, x, a):
    tf = ctx.tf
    data = x[0]
    target = x[1] if ctx.opset >= 5 else np.array(a["shape"], np.int64)
    if not a.get("allowzero", 0):
        target = _resolved(ctx, data, target)
    if isinstance(data, np.ndarray) and isinstance(target, list):
        return (data.reshape(target),)
    return (tf.reshape(data, target),)


@op("Flatten")
def flatten(ctx, x, a):
    tf = ctx.tf
    data = x[0]
    rank = len(ctx.dims(data))
    axis = a.get("axis", 1) % (rank + 1) if rank else 0
    dims = ctx.dims(data)
    if all(d is not None for d in dims[:axis]):
        return (tf.reshape(data, [int(np.prod(dims[:axis])), -1]),)
    rows = tf.reduce_prod(tf.shape(data)[:axis])
    return (tf.reshape(data, tf.stack([rows, -1])),)


@op("Transpose")
def transpose(ctx, x, a):
    perm = a.get("perm") or list(reversed(range(len(ctx.dims(x[0])))))
    return (ctx.tf.transpose(x[0], perm),)


def _axes(ctx, x, a, since):
    """Axes from the attribute (before `since`) or the optional second input (static)."""
    if ctx.opset < since:
        return a.get("axes")
    if len(x) < 2 or x[1] is None:
        return None
    axes = ctx.ints(x[1])
    if axes is None:
        ctx.fail("axes computed at run time")
    return axes


@op("Squeeze")
def squeeze(ctx, x, a):
    tf = ctx.tf
    axes = _axes(ctx, x, a, 13)
    rank = len(ctx.dims(x[0]))
    if axes is None:
        dims = ctx.dims(x[0])
        if any(d is None for d in dims):
            ctx.fail("Squeeze without axes on a tensor of unknown dims")
        axes = [i for i, d in enumerate(dims) if d == 1]
    return (tf.squeeze(x[0], [ax % rank for ax in axes]) if axes else tf.identity(x[0]),)


@op("Unsqueeze")
def unsqueeze(ctx, x, a):
    tf = ctx.tf
    axes = _axes(ctx, x, a, 13)
    rank = len(ctx.dims(x[0])) + len(axes)
    out = x[0]
    for ax in sorted(ax % rank for ax in axes):
        out = tf.expand_dims(out, ax)
    return (out,)


@op("Concat", kind=CONCAT)
def concat(ctx, x, a):
    parts = [t for t in x if t is not None]
    rank = len(ctx.dims(parts[0]))
    return (ctx.tf.concat(parts, axis=ctx.axis(a.get("axis", 1 if ctx.opset < 4 else 0), rank)),)


@op("Split")
def split(ctx, x, a):
    tf = ctx.tf
    data = x[0]
    rank = len(ctx.dims(data))
    axis = a.get("axis", 0) % rank
    sizes = a.get("split") if ctx.opset < 13 else (ctx.ints(x[1]) if len(x) > 1 and x[1] is not None else None)
    if sizes is None:
        dim = ctx.dims(data)[axis]
        n = ctx.n_outputs
        if dim is None:
            return tuple(tf.split(data, n, axis=axis))
        chunk = -(-dim // n)  # opset 18: the last chunk may be smaller
        sizes = [min(chunk, dim - i * chunk) for i in range(n)]
    return tuple(tf.split(data, list(sizes), axis=axis))


@op("Slice")
def slice_(ctx, x, a):
    """One strided_slice. Static bounds are resolved against static dims as Python's slice does
    (ONNX's clamping), so TFLite sees int32 indices; a bound that runs past the start of a
    negative-step slice is an end_mask bit (TensorFlow would read -1 as the last element)."""
    tf = ctx.tf
    data = x[0]
    dims = ctx.dims(data)
    rank = len(dims)
    if ctx.opset < 10:
        starts, ends, axes, steps = list(a["starts"]), list(a["ends"]), a.get("axes"), None
    else:
        starts, ends = x[1], x[2]
        axes = ctx.ints(x[3]) if len(x) > 3 and x[3] is not None else None
        steps = ctx.ints(x[4]) if len(x) > 4 and x[4] is not None else None
        if len(x) > 3 and x[3] is not None and axes is None or len(x) > 4 and x[4] is not None and steps is None:
            ctx.fail("axes or steps computed at run time")
    known_starts = starts if isinstance(starts, list) else ctx.ints(starts)
    known_ends = ends if isinstance(ends, list) else ctx.ints(ends)
    n = len(known_starts) if known_starts is not None else ctx.dims(starts)[0]
    axes = [ax % rank for ax in (axes if axes is not None else range(n))]
    steps = list(steps) if steps is not None else [1] * n
    begin, end, stride = [0] * rank, [0] * rank, [1] * rank
    begin_mask = end_mask = 0
    untouched = set(range(rank)) - set(axes)
    for ax in untouched:
        begin_mask |= 1 << ax
        end_mask |= 1 << ax
    dynamic = known_starts is None or known_ends is None
    for i, ax in enumerate(axes):
        step = steps[i]
        stride[ax] = step
        if not dynamic and dims[ax] is not None:
            lo, hi, _ = slice(known_starts[i], known_ends[i], step).indices(dims[ax])
            begin[ax], end[ax] = lo, hi
            if step < 0 and hi < 0:
                end_mask |= 1 << ax
        elif not dynamic:
            begin[ax], end[ax] = _clamp32(known_starts[i]), _clamp32(known_ends[i])
        else:
            begin[ax], end[ax] = _bound(ctx, starts, known_starts, i), _bound(ctx, ends, known_ends, i)
    if dynamic:
        begin = tf.stack([b if not isinstance(b, int) else tf.constant(b, tf.int64) for b in begin])
        end = tf.stack([e if not isinstance(e, int) else tf.constant(e, tf.int64) for e in end])
        stride = tf.constant(stride, tf.int64)
    return (tf.strided_slice(data, begin, end, stride, begin_mask=begin_mask, end_mask=end_mask),)


def _clamp32(v: int) -> int:
    return max(-(2**31) + 1, min(2**31 - 1, v))


def _bound(ctx, tensor, known, i):
    if known is not None:
        return ctx.tf.constant(known[i], ctx.tf.int64)
    return ctx.tf.cast(tensor[i], ctx.tf.int64)


def _wrap(ctx, index, size):
    """Indices counted from the end made non-negative (numpy when both are known)."""
    tf = ctx.tf
    if isinstance(index, np.ndarray):
        if (index >= 0).all():
            return index
        if isinstance(size, int):
            return np.where(index < 0, index + size, index)
    index = tf.convert_to_tensor(index)
    size = tf.cast(size, index.dtype) if not isinstance(size, int) else size
    return tf.where(index < 0, index + size, index)


def _dim(ctx, data, axis):
    d = ctx.dims(data)[axis]
    return d if d is not None else ctx.tf.shape(data, out_type=ctx.tf.int64)[axis]


@op("Gather")
def gather(ctx, x, a):
    data, index = x[0], x[1]
    axis = a.get("axis", 0) % len(ctx.dims(data))
    return (ctx.tf.gather(data, _wrap(ctx, index, _dim(ctx, data, axis)), axis=axis),)


@op("GatherElements")
def gather_elements(ctx, x, a):
    """out[i][j][k] = data[i][index[i][j][k]][k] (axis 1): a GatherND whose index tuples are the
    output's own coordinates with the axis component replaced."""
    tf = ctx.tf
    data, index = x[0], x[1]
    rank = len(ctx.dims(data))
    axis = a.get("axis", 0) % rank
    index = tf.cast(_wrap(ctx, index, _dim(ctx, data, axis)), tf.int64)
    shape = tf.shape(index, out_type=tf.int64)
    grids = tf.meshgrid(*[tf.range(shape[i]) for i in range(rank)], indexing="ij")
    grids[axis] = index
    return (tf.gather_nd(data, tf.stack(grids, axis=-1)),)


@op("GatherND")
def gather_nd(ctx, x, a):
    tf = ctx.tf
    data, index = x[0], x[1]
    b = a.get("batch_dims", 0)
    k = ctx.dims(index)[-1]
    if k is None:
        ctx.fail("GatherND with index tuples of unknown length")
    sizes = [_dim(ctx, data, b + j) for j in range(k)]
    if isinstance(index, np.ndarray) and all(isinstance(s, int) for s in sizes):
        index = np.where(index < 0, index + np.array(sizes, index.dtype), index)
    elif not (isinstance(index, np.ndarray) and (index >= 0).all()):
        index = tf.convert_to_tensor(index)
        bound = tf.cast(tf.stack(sizes), index.dtype)
        index = tf.where(index < 0, index + bound, index)
    return (tf.gather_nd(data, index, batch_dims=b),)


@op("Expand")
def expand(ctx, x, a):
    """Bidirectional broadcasting of the input against the given shape."""
    tf = ctx.tf
    data, target = x[0], x[1]
    known, dims = ctx.ints(target), ctx.dims(data)
    if known is not None and all(d is not None for d in dims):
        return (tf.broadcast_to(data, np.broadcast_shapes(tuple(dims), tuple(known))),)
    target = tf.convert_to_tensor(target, tf.int64)
    return (tf.broadcast_to(data, tf.broadcast_dynamic_shape(tf.shape(data, out_type=tf.int64), target)),)


@op("Tile")
def tile(ctx, x, a):
    return (ctx.tf.tile(x[0], x[1]),)


_CONSTANT_KEYS = (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                  ("value_int", np.int64), ("value_ints", np.int64))


@declines("Constant")
def _constant_check(a, nout, opset):
    return None if any(key in a for key, _ in _CONSTANT_KEYS) else f"Constant with attribute {sorted(a)}"


@op("Constant")
def constant(ctx, x, a):
    for key, dtype in _CONSTANT_KEYS:
        if key in a:
            return (np.array(a[key], dtype=dtype),)
    ctx.fail(f"Constant with attribute {sorted(a)}")


@op("ConstantOfShape")
def constant_of_shape(ctx, x, a):
    value = np.asarray(a.get("value", np.zeros(1, np.float32))).reshape(-1)
    known = ctx.ints(x[0])
    if known is not None:
        return (np.full(known, value[0], dtype=value.dtype),)
    return (ctx.tf.fill(x[0], ctx.tf.constant(value[0], dtype=value.dtype.name)),)


@op("Range")
def range_(ctx, x, a):
    tf = ctx.tf
    start, limit, delta = x
    return (tf.range(start, limit, delta, dtype=_dtype(start)),)


def _dtype(value):
    return value.dtype.name if isinstance(value, np.ndarray) else value.dtype


@declines("Pad")
def _pad_check(a, nout, opset):
    mode = a.get("mode", "constant")
    return None if mode in ("constant", "reflect", "edge") else f"Pad mode {mode!r}"


@op("Pad")
def pad(ctx, x, a):
    """constant and reflect are TensorFlow's CONSTANT and REFLECT; edge repeats the border slice."""
    tf = ctx.tf
    data = x[0]
    rank = len(ctx.dims(data))
    if ctx.opset < 11:
        pads, value, axes = list(a.get("pads", a.get("paddings"))), a.get("value", 0.0), None
    else:
        pads = ctx.ints(x[1])
        if pads is None:
            ctx.fail("pads computed at run time")
        value = x[2] if len(x) > 2 and x[2] is not None else 0
        axes = ctx.ints(x[3]) if len(x) > 3 and x[3] is not None else None
    axes = [ax % rank for ax in axes] if axes is not None else list(range(rank))
    full = [[0, 0] for _ in range(rank)]
    for i, ax in enumerate(axes):
        full[ax] = [pads[i], pads[i + len(axes)]]
    mode = a.get("mode", "constant")
    if mode == "constant":
        if not isinstance(value, (int, float)):
            value = tf.reshape(tf.cast(value, data.dtype), [])
        return (tf.pad(data, full, constant_values=value),)
    if mode == "reflect":
        return (tf.pad(data, full, mode="REFLECT"),)
    out = data
    for ax, (before, after) in enumerate(full):
        parts = []
        if before:
            parts.append(tf.repeat(tf.gather(out, [0], axis=ax), before, axis=ax))
        parts.append(out)
        if after:
            last = tf.shape(out)[ax:ax + 1] - 1
            parts.append(tf.repeat(tf.gather(out, last, axis=ax), after, axis=ax))
        if len(parts) > 1:
            out = tf.concat(parts, axis=ax)
    return (out,)


@op("CumSum")
def cumsum(ctx, x, a):
    axis = ctx.ints(x[1])
    if axis is None:
        ctx.fail("axis computed at run time")
    return (ctx.tf.math.cumsum(x[0], axis=axis[0], exclusive=bool(a.get("exclusive", 0)),
                               reverse=bool(a.get("reverse", 0))),)


@op("Trilu")
def trilu(ctx, x, a):
    """Keep the elements with j - i >= k (upper) or j - i <= k (lower) of the last two axes."""
    tf = ctx.tf
    data = x[0]
    k = ctx.ints(x[1])[0] if len(x) > 1 and x[1] is not None else 0
    shape = tf.shape(data, out_type=tf.int64)
    rows, cols = tf.range(shape[-2])[:, None], tf.range(shape[-1])[None, :]
    keep = cols - rows >= k if a.get("upper", 1) else cols - rows <= k
    return (tf.where(keep, data, tf.zeros_like(data)),)


@op("TopK")
def topk(ctx, x, a):
    """Along `axis` (moved last for tf.math.top_k); ties keep the lower index first, as ONNX asks."""
    tf = ctx.tf
    data = tf.convert_to_tensor(x[0])
    k = ctx.ints(x[1])
    if k is None:
        ctx.fail("k computed at run time")
    rank = data.shape.rank
    axis = a.get("axis", -1) % rank
    perm = [*range(axis), *range(axis + 1, rank), axis]
    moved = tf.transpose(data, perm) if axis != rank - 1 else data
    largest = a.get("largest", 1)
    values, indices = tf.math.top_k(moved if largest else -moved, k=k[0], sorted=True)
    if not largest:
        values = -values
    back = [perm.index(i) for i in range(rank)]
    if axis != rank - 1:
        values, indices = tf.transpose(values, back), tf.transpose(indices, back)
    return values, tf.cast(indices, tf.int64)


@op("OneHot")
def one_hot(ctx, x, a):
    tf = ctx.tf
    indices, depth, values = x
    depth_n = ctx.ints(depth)
    if depth_n is None:
        ctx.fail("depth computed at run time")
    indices = _wrap(ctx, indices, depth_n[0])
    return (tf.one_hot(tf.cast(indices, tf.int64), depth_n[0], on_value=values[1], off_value=values[0],
                       axis=a.get("axis", -1), dtype=_dtype(values)),)

