"""Index arithmetic and the scatter step shared by GatherND, ScatterND and ScatterElements
(plain numpy: op files import it at top).

Both scatters reduce to one case: a copy of `data` viewed as a 2-D array of rows, a 1-D array of
row numbers, and one row of updates per row number.
"""
from __future__ import annotations

import numpy as np

from refruntime.kernels.floats import compute_dtype, is_float

#: reductions each opset allows (ScatterND and ScatterElements: 16 adds add/mul, 18 max/min)
REDUCTIONS = {11: ("none",), 16: ("none", "add", "mul"), 18: ("none", "add", "mul", "max", "min")}


def allowed_reductions(opset: int) -> tuple[str, ...]:
    return REDUCTIONS[max(v for v in REDUCTIONS if v <= opset)]


def checked_indices(kernel, indices: np.ndarray, dims, what: str = "indices") -> np.ndarray:
    """`indices` as int64 with negative values counted from the end of their axis. The last axis
    of `indices` runs over `dims` (one entry per indexed axis); a value outside [-s, s-1] is a
    KernelError naming the node, the axis and the value."""
    idx = np.asarray(indices).astype(np.int64, copy=False)
    if idx.size == 0:
        return idx
    sizes = np.array(dims, dtype=np.int64)
    bad = (idx < -sizes) | (idx >= sizes)
    if bad.any():
        at = tuple(int(v) for v in np.argwhere(bad)[0])
        axis = at[-1] if sizes.size > 1 else 0
        kernel.fail(f"{what}{list(at)} = {int(idx[at])} is out of range [-{sizes[axis]}, "
                    f"{sizes[axis] - 1}] for an axis of size {sizes[axis]}")
    return np.remainder(idx, sizes)  # in range: Python's modulo maps -s..-1 to 0..s-1


def linear_rows(idx: np.ndarray, dims) -> np.ndarray:
    """Row-major linear positions of the index tuples in idx[..., :len(dims)] (already checked)."""
    lin = np.zeros(idx.shape[:-1], dtype=np.int64)
    for j, size in enumerate(dims):
        lin *= size
        lin += idx[..., j]
    return lin


def scatter_rows(kernel, out: np.ndarray, rows: np.ndarray, updates: np.ndarray, reduction: str) -> np.ndarray:
    """out[rows[i]] = f(out[rows[i]], updates[i]) for every i, into a fresh array with out's dtype.

    reduction "none" with repeated rows: the spec leaves the result undefined; the last update
    in index order wins, as in the spec's reference loop (onnxruntime's ScatterElements agrees).
    add/mul apply every update (numpy's ufunc.at handles repeats); float16/bfloat16 accumulate in
    float32 and round once."""
    if reduction == "none":
        if rows.size and np.unique(rows).size != rows.size:
            last = rows.size - 1 - np.unique(rows[::-1], return_index=True)[1]
            rows, updates = rows[last], updates[last]
        out[rows] = updates
        return out
    dtype = compute_dtype(out.dtype) if is_float(out) else out.dtype
    work = out if out.dtype == dtype else out.astype(dtype)
    upd = updates if updates.dtype == dtype else updates.astype(dtype)
    if dtype == np.bool_:
        ufunc = {"add": np.logical_or, "mul": np.logical_and, "max": np.logical_or, "min": np.logical_and}[reduction]
    else:
        ufunc = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction]
    ufunc.at(work, rows, upd)
    return work if work.dtype == out.dtype else work.astype(out.dtype)


def refuse_reduction(kernel) -> None:
    """Plan-time check of the `reduction` attribute against the node's opset."""
    reduction = kernel.attributes.get("reduction", "none")
    allowed = allowed_reductions(kernel.opset)
    if reduction not in allowed:
        kernel.refuse(f"reduction={reduction!r} is not defined at opset {kernel.opset} (allowed: "
                      f"{', '.join(allowed)})")
