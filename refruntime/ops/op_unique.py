"""Unique (opsets 11 and 28: 28 adds types), from the operator spec: the unique elements of the
flattened input, or (with `axis`) the unique slices along the axis, with the optional outputs
indices (first occurrence of each unique value in X), inverse_indices (for each element/slice of
X, its position in Y) and counts.

sorted=1 returns them in ascending order (slices compare lexicographically, as numpy.unique does);
sorted=0 in the order of their first occurrence. Values compare by numerical equality: 0.0 and
-0.0 are one value (Y keeps the first occurrence's), and all NaNs are one value, sorted last
(numpy.unique's equal_nan). onnxruntime uses ordered maps whose comparisons are undefined with
NaN (measured with onnxruntime 1.32: [nan, 1, nan, 0, -0, 1] gives Y=[nan] with count 6);
the spec says nothing.

Y is gathered from the input at `indices`, so every element type works (strings, narrow floats):
the search runs on the values (bfloat16 and float8, which numpy cannot order, as float32: exact) or,
with an axis, on each column's rank codes.
"""
import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class Unique_11(OpRun):
    def _run(self, x, axis=None, sorted=1):
        if axis is None:
            keys = _sortable(x.reshape(-1))
            _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True,
                                                  return_counts=True)
            ax, data = 0, x.reshape(-1)
        else:
            ax = normalize_axis(self, axis, x.ndim)
            data = x
            rows = np.moveaxis(x, ax, 0).reshape(x.shape[ax], -1)
            first, inverse, counts = _unique_rows(rows)
        inverse = np.asarray(inverse).reshape(-1)
        if not sorted:
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            first, counts, inverse = first[order], counts[order], rank[inverse]
        y = np.take(data, first, axis=ax)
        return (y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64))


def _sortable(values: np.ndarray) -> np.ndarray:
    """values in a type numpy sorts by value: narrow float types (bfloat16, float8) as float32."""
    if values.dtype.kind not in "biufcOUS" and "float" in values.dtype.name:
        return values.astype(np.float32)
    return values


def _unique_rows(rows: np.ndarray):
    """(first index, inverse, counts) of the unique rows of a 2-D array, rows in lexicographic
    order: each column is replaced by its values' rank (equal values, equal rank), then the integer
    rows are uniqued."""
    n = rows.shape[0]
    if rows.shape[1] == 0 or n == 0:  # empty slices are all equal
        count = min(n, 1)
        return np.zeros(count, np.int64), np.zeros(n, np.int64), np.full(count, n, np.int64)
    codes = np.empty(rows.shape, dtype=np.int64)
    for j in range(rows.shape[1]):
        codes[:, j] = np.unique(_sortable(rows[:, j]), return_inverse=True)[1].reshape(-1)
    _, first, inverse, counts = np.unique(codes, axis=0, return_index=True, return_inverse=True,
                                          return_counts=True)
    return first, inverse, counts
