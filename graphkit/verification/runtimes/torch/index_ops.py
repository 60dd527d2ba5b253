"""ONNX indexing, scanning and generating ops as torch functions (registered into ops.OPS).

The ops transformer exports are made of besides matrix products: GatherElements/GatherND (token
types, pooled positions), ScatterND/ScatterElements (cache and mask updates), Range/Trilu/CumSum
(positions and causal masks), Einsum (attention), OneHot, NonZero, TopK, ArgMax/ArgMin. Index
values may be negative (counted from the end) wherever the spec allows it.
"""
from __future__ import annotations

import math

import torch

from graphkit.verification.runtimes.torch.ops import op


def _scalar(t):
    """The one value of a 0-d or one-element tensor, as a Python number."""
    return t.reshape(-1)[0].item()


def _wrapped(idx, size):
    idx = idx.long()
    return torch.where(idx < 0, idx + size, idx)


@op("GatherElements")
def gather_elements(x, a, opset, nout):
    """Opset 13: out[i][j][k] = data[i][index[i][j][k]][k] for axis 1 (torch.gather)."""
    data = x[0]
    axis = a.get("axis", 0) % data.dim()
    return (torch.gather(data, axis, _wrapped(x[1], data.shape[axis])),)


@op("GatherND")
def gather_nd(x, a, opset, nout):
    """Opset 13: each index tuple (the last axis of `indices`, k long) picks an element or a slice
    of `data`, after `batch_dims` leading dims shared by both."""
    data, indices = x[0], x[1].long()
    b = a.get("batch_dims", 0)
    k = indices.shape[-1]
    batch = math.prod(data.shape[:b])
    data_b = data.reshape(batch, *data.shape[b:])
    tuples = indices.reshape(batch, -1, k)
    picks = [torch.arange(batch).unsqueeze(1)]
    for j in range(k):
        picks.append(_wrapped(tuples[..., j], data.shape[b + j]))
    out = data_b[tuple(picks)]  # (batch, tuples per batch, *data.shape[b + k:])
    return (out.reshape(*indices.shape[:-1], *data.shape[b + k:]),)


_REDUCTIONS = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


@op("ScatterND")
def scatter_nd(x, a, opset, nout):
    """Opset 11/16/18: a copy of `data` with `updates` written (or combined by `reduction`) at the
    index tuples of `indices`; k = indices.shape[-1] leading dims are indexed, the rest are slices."""
    data, indices, updates = x[0], x[1].long(), x[2]
    k = indices.shape[-1]
    rows = math.prod(data.shape[:k])
    linear = torch.zeros(indices.shape[:-1], dtype=torch.long)
    for j in range(k):  # row-major linear index over the first k dims
        linear = linear * data.shape[j] + _wrapped(indices[..., j], data.shape[j])
    out = data.clone().reshape(rows, *data.shape[k:])
    linear = linear.reshape(-1)
    updates = updates.reshape(linear.shape[0], *data.shape[k:]).to(data.dtype)
    reduction = a.get("reduction", "none")
    if reduction == "none":
        out[linear] = updates
    else:  # every element of a slice goes to the same row
        rows_of = linear.reshape(-1, *([1] * (updates.dim() - 1))).expand(updates.shape)
        out = out.scatter_reduce(0, rows_of, updates, _REDUCTIONS[reduction], include_self=True)
    return (out.reshape(data.shape),)


@op("ScatterElements", "Scatter")
def scatter_elements(x, a, opset, nout):
    """Opset 11/16/18 (Scatter 9 is the same without `reduction`): output[..][index][..] =
    updates (or f(output, update)) along `axis`."""
    data, updates = x[0], x[2].to(x[0].dtype)
    axis = a.get("axis", 0) % data.dim()
    idx = _wrapped(x[1], data.shape[axis])
    reduction = a.get("reduction", "none")
    if reduction == "none":
        return (torch.scatter(data, axis, idx, updates),)
    return (torch.scatter_reduce(data, axis, idx, updates, _REDUCTIONS[reduction], include_self=True),)


@op("Range")
def range_(x, a, opset, nout):
    """Opset 11: max(ceil((limit - start) / delta), 0) elements, output[i] = start + i * delta,
    in the inputs' type."""
    start, limit, delta = x[0], x[1], x[2]
    s, lim, d = _scalar(start), _scalar(limit), _scalar(delta)
    count = max(math.ceil((lim - s) / d), 0)
    steps = torch.arange(count, dtype=torch.int64).to(start.dtype)
    return (start.reshape(()) + steps * delta.reshape(()),)


@op("Trilu")
def trilu(x, a, opset, nout):
    """Opset 14: keep the upper (upper=1) or lower triangle of the last two dims from diagonal k."""
    k = _scalar(x[1]) if len(x) > 1 and x[1] is not None else 0
    fn = torch.triu if a.get("upper", 1) else torch.tril
    return (fn(x[0], int(k)),)


@op("CumSum")
def cumsum(x, a, opset, nout):
    """Opset 11/14: running sums along `axis`; `exclusive` leaves the current element out,
    `reverse` runs from the end. Integers stay in their type (torch.cumsum would make int64)."""
    data = x[0]
    axis = int(_scalar(x[1])) % data.dim()
    if a.get("reverse", 0):
        data = data.flip(axis)
    total = torch.cumsum(data, axis, dtype=data.dtype)
    if a.get("exclusive", 0):
        zeros = torch.zeros_like(total.narrow(axis, 0, 1))
        total = torch.cat([zeros, total.narrow(axis, 0, data.shape[axis] - 1)], dim=axis)
    if a.get("reverse", 0):
        total = total.flip(axis)
    return (total,)


@op("Einsum")
def einsum(x, a, opset, nout):
    """Opset 12. An implicit output (no '->') is, per the spec, the ellipsis first, then the
    letters that occur once, in ASCII order (upper case before lower case); made explicit here."""
    equation = a["equation"].replace(" ", "")
    if "->" not in equation:
        letters = equation.replace("...", "").replace(",", "")
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        equation += "->" + ("..." if "..." in equation else "") + "".join(once)
    return (torch.einsum(equation, *x),)


@op("OneHot")
def one_hot(x, a, opset, nout):
    """Opset 11: `values` = [off, on]; indices in [-depth, depth) (negatives wrap), others all off."""
    indices, depth, values = x[0], int(_scalar(x[1])), x[2]
    axis = a.get("axis", -1) % (indices.dim() + 1)
    idx = indices.long() if not indices.dtype.is_floating_point else indices.trunc().long()
    idx = torch.where(idx < 0, idx + depth, idx)
    hot = idx.unsqueeze(-1) == torch.arange(depth)  # out-of-range indices match nothing
    out = torch.where(hot, values[1], values[0])
    return (out.movedim(-1, axis),)


@op("NonZero")
def non_zero(x, a, opset, nout):
    """Opset 13: indices of the non-zero elements, (rank, count), row-major; (0, count) for 0-d."""
    data = x[0]
    if data.dim() == 0:
        return (torch.zeros((0, int(data.bool().item())), dtype=torch.int64),)
    return (torch.nonzero(data).t().contiguous(),)


@op("TopK")
def top_k(x, a, opset, nout):
    """Opset 10/11: the k largest (or smallest) along `axis`, equal values in index order (a stable
    sort, where torch.topk leaves ties unspecified)."""
    data = x[0]
    k = int(_scalar(x[1])) if opset >= 10 else a["k"]
    axis = a.get("axis", -1) % data.dim()
    values, indices = torch.sort(data, dim=axis, descending=bool(a.get("largest", 1)), stable=True)
    return values.narrow(axis, 0, k), indices.narrow(axis, 0, k)


def _arg(fn):
    def run(x, a, opset, nout):
        """ArgMax/ArgMin (opset 12/13): first occurrence, or the last with select_last_index=1."""
        data = x[0]
        axis = a.get("axis", 0) % max(data.dim(), 1)
        keep = bool(a.get("keepdims", 1))
        if a.get("select_last_index", 0):
            flipped = fn(data.flip(axis), dim=axis, keepdim=keep)
            return (data.shape[axis] - 1 - flipped,)
        return (fn(data, dim=axis, keepdim=keep),)
    return run


op("ArgMax")(_arg(torch.argmax))
op("ArgMin")(_arg(torch.argmin))
