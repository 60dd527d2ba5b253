"""ONNX shape, data-movement and reduction ops as torch functions (registered into ops.OPS)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from graphkit.verification.runtimes.torch.ops import OPS, _ints, declines, op

# ---------------------------------------------------------------- shape ops


def _axes(x, a, opset, since):
    """Axes from the attribute (before `since`) or the optional second input."""
    if opset < since:
        return a.get("axes")
    return _ints(x[1]) if len(x) > 1 and x[1] is not None else None


@op("Reshape")
def reshape(x, a, opset, nout):
    data = x[0]
    shape = _ints(x[1]) if opset >= 5 else list(a["shape"])
    if not a.get("allowzero", 0):
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return (data.reshape(shape),)


@op("Flatten")
def flatten(x, a, opset, nout):
    axis = a.get("axis", 1) % (x[0].dim() + 1) if x[0].dim() else 0
    rows = int(np.prod(x[0].shape[:axis])) if axis else 1
    return (x[0].reshape(rows, -1),)


@op("Transpose")
def transpose(x, a, opset, nout):
    perm = a.get("perm") or list(reversed(range(x[0].dim())))
    return (x[0].permute(*perm),)


@op("Squeeze")
def squeeze(x, a, opset, nout):
    axes = _axes(x, a, opset, 13)
    if axes is None:
        return (x[0].squeeze(),)
    return (x[0].squeeze(tuple(ax % x[0].dim() for ax in axes)),)


@op("Unsqueeze")
def unsqueeze(x, a, opset, nout):
    axes = _axes(x, a, opset, 13)
    rank = x[0].dim() + len(axes)
    out = x[0]
    for ax in sorted(ax % rank for ax in axes):
        out = out.unsqueeze(ax)
    return (out,)


@op("Concat")
def concat(x, a, opset, nout):
    return (torch.cat([t for t in x if t is not None], dim=a.get("axis", 1 if opset < 4 else 0)),)


@op("Split")
def split(x, a, opset, nout):
    axis = a.get("axis", 0)
    sizes = a.get("split") if opset < 13 else (_ints(x[1]) if len(x) > 1 and x[1] is not None else None)
    if sizes is None:
        dim = x[0].shape[axis]
        chunk = -(-dim // nout)
        sizes = [min(chunk, dim - i * chunk) for i in range(nout)]
    return tuple(torch.split(x[0], list(sizes), dim=axis))


@op("Slice")
def slice_(x, a, opset, nout):
    data = x[0]
    if opset < 10:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = _ints(x[1]), _ints(x[2])
        axes = _ints(x[3]) if len(x) > 3 and x[3] is not None else None
        steps = _ints(x[4]) if len(x) > 4 and x[4] is not None else None
    axes = list(axes) if axes is not None else list(range(len(starts)))
    steps = list(steps) if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= data.dim()
        idx = range(*slice(start, end, step).indices(data.shape[axis]))
        data = data.index_select(axis, torch.tensor(list(idx), dtype=torch.long))
    return (data,)


@op("Gather")
def gather(x, a, opset, nout):
    """Opset 13: output shape data.shape[:axis] + indices.shape + data.shape[axis+1:]; a 0-d index
    removes the axis (the output of a 1-D data is then 0-d)."""
    data, idx = x[0], x[1].long()
    axis = a.get("axis", 0) % data.dim()
    idx = torch.where(idx < 0, idx + data.shape[axis], idx)
    out = data.index_select(axis, idx.reshape(-1))
    return (out.reshape((*data.shape[:axis], *idx.shape, *data.shape[axis + 1:])),)


@op("Shape")
def shape(x, a, opset, nout):
    dims = list(x[0].shape)
    if opset >= 15:
        dims = dims[slice(a.get("start", 0), a.get("end"))]
    return (torch.tensor(dims, dtype=torch.int64),)


OPS["Size"] = lambda x, a, opset, nout: (torch.tensor(x[0].numel(), dtype=torch.int64),)


@op("Expand")
def expand(x, a, opset, nout):
    shape = torch.broadcast_shapes(tuple(x[0].shape), tuple(_ints(x[1])))
    return (x[0].expand(shape),)


OPS["Tile"] = lambda x, a, opset, nout: (x[0].repeat(*_ints(x[1])),)


_CONSTANT_KEYS = (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                  ("value_int", np.int64), ("value_ints", np.int64))


def _torch_holds(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype != np.uint16 and value.dtype.kind in "fiub"


@declines("Constant")
def _constant_check(a, nout, opset):
    if "value" in a and not _torch_holds(a["value"]):
        return "Constant of a type torch does not hold"
    return None if any(key in a for key, _ in _CONSTANT_KEYS) else f"Constant with attribute {sorted(a)}"


@declines("ConstantOfShape")
def _constant_of_shape_check(a, nout, opset):
    return None if "value" not in a or _torch_holds(a["value"]) else "ConstantOfShape of a type torch does not hold"


@op("Constant")
def constant(x, a, opset, nout):
    """Its value with its shape: a 0-d tensor attribute and value_float/value_int give 0-d tensors."""
    for key, dtype in _CONSTANT_KEYS:
        if key in a:
            return (torch.from_numpy(np.array(a[key], dtype=dtype, copy=True)),)
    raise NotImplementedError(f"Constant with attribute {sorted(a)}")


@op("ConstantOfShape")
def constant_of_shape(x, a, opset, nout):
    value = a.get("value", np.zeros(1, np.float32)).reshape(-1)
    return (torch.full(_ints(x[0]), value[0].item(), dtype=torch.from_numpy(value.copy()).dtype),)


@op("Dropout")
def dropout(x, a, opset, nout):
    if nout > 1:  # inference: the mask is all ones (of the input's type before opset 10)
        return x[0], torch.ones(x[0].shape, dtype=x[0].dtype if opset < 10 else torch.bool)
    return (x[0],)


@op("Pad")
def pad(x, a, opset, nout):
    data = x[0]
    mode = a.get("mode", "constant")
    if opset < 11:
        pads, value, axes = list(a.get("pads", a.get("paddings"))), a.get("value", 0.0), None
    else:
        pads = _ints(x[1])
        value = x[2].item() if len(x) > 2 and x[2] is not None and x[2].numel() else 0
        axes = _ints(x[3]) if len(x) > 3 and x[3] is not None else None
    rank = data.dim()
    axes = [ax % rank for ax in axes] if axes is not None else list(range(rank))
    full = [0] * (2 * rank)
    for i, ax in enumerate(axes):
        full[ax], full[ax + rank] = pads[i], pads[i + len(axes)]
    torch_pads = []
    for ax in reversed(range(rank)):
        torch_pads += [full[ax], full[ax + rank]]
    while len(torch_pads) > 2 and torch_pads[-1] == 0 and torch_pads[-2] == 0:
        torch_pads = torch_pads[:-2]
    if mode == "constant":
        return (F.pad(data, torch_pads, value=value),)
    tmode = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}[mode]
    n = len(torch_pads) // 2  # torch pads only the trailing dims of a batched tensor
    batched = data.reshape(1, -1, *data.shape[rank - n:]) if rank - n <= 2 else None
    if batched is None or n > 3:
        raise NotImplementedError(f"Pad mode {mode!r} on {n} trailing dims of a rank-{rank} tensor")
    out = F.pad(batched, torch_pads, mode=tmode)
    return (out.reshape(*data.shape[: rank - n], *out.shape[2:]),)


def _reduce(fn, since=18):
    """Reduce* ops: `axes` an attribute before `since` (13 for ReduceSum, 18 for the others), then
    an optional input; no axes means all of them, or nothing with noop_with_empty_axes=1. The
    result keeps the input's type (torch.sum/prod would make integers int64)."""
    def run(x, a, opset, nout):
        data = x[0]
        axes = _axes(x, a, opset, since)
        keep = bool(a.get("keepdims", 1))
        if not axes:
            noop = a.get("noop_with_empty_axes", 0) and opset >= since
            axes = [] if noop else list(range(data.dim()))
        dims = tuple(sorted({ax % data.dim() for ax in axes}))
        if not dims:  # an empty set of axes (or a 0-d input): the op's non-reduction steps only,
            # as the spec asks (ReduceL1 gives |x|, ReduceSumSquare x*x): reduce a unit axis
            return (fn(data.unsqueeze(0), (0,), False).to(data.dtype),)
        return (fn(data, dims, keep).to(data.dtype),)
    return run


def _mean(t, d, k):
    if t.dtype.is_floating_point:
        return torch.mean(t, d, keepdim=k)
    return torch.mean(t.double(), d, keepdim=k)  # integers: the mean truncated back to the type


def _prod(t, d, k):
    for ax in sorted(d, reverse=True):
        t = torch.prod(t, ax, keepdim=k)
    return t


def _extreme(fn, empty):
    def run(t, d, k):
        if t.numel() == 0:  # the spec: -inf for Max, +inf for Min (the type's limit for integers)
            shape = [1 if i in d else n for i, n in enumerate(t.shape) if k or i not in d]
            if t.dtype.is_floating_point:
                value = empty * math.inf
            else:
                value = torch.iinfo(t.dtype).min if empty < 0 else torch.iinfo(t.dtype).max
            return torch.full(shape, value, dtype=t.dtype)
        return fn(t, d, keepdim=k)
    return run


OPS["ReduceSum"] = _reduce(lambda t, d, k: torch.sum(t, d, keepdim=k), since=13)
OPS["ReduceMean"] = _reduce(_mean)
OPS["ReduceMax"] = _reduce(_extreme(torch.amax, -1))
OPS["ReduceMin"] = _reduce(_extreme(torch.amin, 1))
OPS["ReduceProd"] = _reduce(_prod)
OPS["ReduceL1"] = _reduce(lambda t, d, k: torch.sum(t.abs(), d, keepdim=k))
OPS["ReduceL2"] = _reduce(lambda t, d, k: torch.sqrt(torch.sum(t * t, d, keepdim=k)))
OPS["ReduceSumSquare"] = _reduce(lambda t, d, k: torch.sum(t * t, d, keepdim=k))
OPS["ReduceLogSum"] = _reduce(lambda t, d, k: torch.log(torch.sum(t, d, keepdim=k)))
OPS["ReduceLogSumExp"] = _reduce(lambda t, d, k: torch.logsumexp(t, d, keepdim=k))
