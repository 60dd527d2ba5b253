"""ONNX shape, data-movement and reduction ops as torch functions (registered into ops.OPS)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from graphkit.verification.runtimes.torch.ops import OPS, _ints, op

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
    data, idx = x[0], x[1].long()
    axis = a.get("axis", 0) % data.dim()
    idx = torch.where(idx < 0, idx + data.shape[axis], idx)
    out = data.index_select(axis, idx.reshape(-1))
    return (out.reshape(*data.shape[:axis], *idx.shape, *data.shape[axis + 1:]),)


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


@op("Constant")
def constant(x, a, opset, nout):
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return (torch.from_numpy(np.array(a[key], dtype=dtype).copy()),)
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


def _reduce(fn):
    def run(x, a, opset, nout):
        since = 13 if fn is torch.sum else 18
        axes = _axes(x, a, opset, since)
        keep = bool(a.get("keepdims", 1))
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return (x[0],)
            axes = list(range(x[0].dim()))
        return (fn(x[0], tuple(ax % x[0].dim() for ax in axes), keep),)
    return run


OPS["ReduceSum"] = _reduce(torch.sum)
OPS["ReduceMean"] = _reduce(lambda t, d, k: torch.mean(t, d, keepdim=k))
OPS["ReduceMax"] = _reduce(lambda t, d, k: torch.amax(t, d, keepdim=k))
OPS["ReduceMin"] = _reduce(lambda t, d, k: torch.amin(t, d, keepdim=k))
OPS["ReduceL2"] = _reduce(lambda t, d, k: torch.sqrt(torch.sum(t * t, d, keepdim=k)))
