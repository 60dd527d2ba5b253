"""LayerNormalization (opset 17, a function op), from the operator spec:

    Mean = ReduceMean<axes=[axis..r-1]>(X),  D = X - Mean,  Var = ReduceMean(D * D)
    InvStdDev = 1 / Sqrt(Var + epsilon),     Normalized = D * InvStdDev
    Y = Normalized * Scale + B               (Scale, B broadcast unidirectionally to X)

Outputs Mean and InvStdDev have shape [d0, ..., d(axis-1), 1, ..., 1] and the type `stash_type`.

Precision: stage one (the standardization) runs in float32 for stash_type=1 (float64 for float64
X, and for stash_type=11); stage two in the same dtype, and Y is rounded once to X's type. The
function body rounds Normalized to X's type before scaling (three roundings for float16); we round
once, as onnxruntime's CPU kernel does. stash_type 10/16 (a float16/bfloat16 stage one) is refused
at plan time. onnx.reference computes float16 inputs in float16 and returns Mean/InvStdDev in X's
type instead of stash_type's: not followed.
"""
import math

import numpy as np

from refruntime.kernels.floats import as_compute
from refruntime.kernels.normalization import (
    check_stash_type,
    stage_one_dtype,
    standardize_rows,
    unidirectional,
)
from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun

_FLOAT32 = np.dtype(np.float32)
_layer_norm_rows = None  # kernels/layer_norm_rows' loop, imported on first use (it imports numba)


class LayerNormalization_17(OpRun):
    def prepare(self):
        check_stash_type(self)
        self._stats = len(self.node.output) > 1 and any(self.node.output[1:])

    _fast: tuple = ()  # (x.shape, scale, b, kernel arguments, ax, rows, cols) of the last fast call

    def _run(self, x, scale, b=None, axis=-1, epsilon=1e-5, stash_type=1):
        fast = self._fast
        if fast and x.shape == fast[0] and x.dtype is _FLOAT32 and scale is fast[1] and b is fast[2]:
            return self._float32_rows(x, *fast[3:])  # the same read-only Scale and B arrays
        ax = normalize_axis(self, axis, x.ndim)
        unidirectional(self, "Scale", scale, x.shape)
        unidirectional(self, "B", b, x.shape)
        dtype = stage_one_dtype(x.dtype, stash_type)
        rows, cols = math.prod(x.shape[:ax]), math.prod(x.shape[ax:])
        if x.dtype == np.float32 and dtype == np.float32 and rows and cols and _per_column(scale, b, cols):
            flat = scale.reshape(cols)
            arguments = (flat, flat if b is None else b.reshape(cols), b is not None, _float32_of(epsilon),
                         np.empty(rows, np.float32), np.empty(rows, np.float32))
            if not scale.flags.writeable and (b is None or not b.flags.writeable):
                # Scale and B known by identity: read-only arrays (initializers), whose shapes and
                # values cannot change (their flat views are kept); a fed Scale is checked every call
                self._fast = (x.shape, scale, b, arguments, ax, rows, cols)
            return self._float32_rows(x, arguments, ax, rows, cols)
        work = np.ascontiguousarray(as_compute(x, dtype)).reshape(rows, cols)
        y, mean, inv_std = standardize_rows(work, epsilon)
        y = y.reshape(x.shape)
        y *= as_compute(scale, dtype)
        if b is not None:
            y += as_compute(b, dtype)
        y = y if y.dtype == x.dtype else y.astype(x.dtype)
        if not self._stats:
            return (y,)
        stat_shape = x.shape[:ax] + (1,) * (x.ndim - ax)
        stat_dtype = np.float64 if stash_type == 11 else np.float32
        return y, mean.reshape(stat_shape).astype(stat_dtype), inv_std.reshape(stat_shape).astype(stat_dtype)

    def _float32_rows(self, x, arguments, ax, rows, cols):
        """float32 X with Scale and B over the whole normalized block: one numba pass per row.
        `arguments`: (Scale flat, B flat (Scale without B), has B, float32 epsilon, Mean and
        InvStdDev buffers the loop writes when the node does not output them: never returned, so
        reused)."""
        global _layer_norm_rows
        if _layer_norm_rows is None:
            from refruntime.kernels.layer_norm_rows import layer_norm_rows as _layer_norm_rows
        scale, bias, has_bias, epsilon, mean, inv_std = arguments
        if self._stats:
            mean, inv_std = np.empty(rows, np.float32), np.empty(rows, np.float32)
        y = np.empty(x.shape, np.float32)
        _layer_norm_rows(np.ascontiguousarray(x).reshape(rows, cols), scale, bias, has_bias, epsilon,
                         y.reshape(rows, cols), mean, inv_std)
        if not self._stats:
            return (y,)
        stat_shape = x.shape[:ax] + (1,) * (x.ndim - ax)
        return y, mean.reshape(stat_shape), inv_std.reshape(stat_shape)


_EPSILONS: dict = {}


def _float32_of(epsilon: float) -> np.float32:
    """np.float32(epsilon), memoized: the loop is compiled for a float32 epsilon (the body's Add of
    Var and epsilon is a float32 addition)."""
    value = _EPSILONS.get(epsilon)
    if value is None:
        value = _EPSILONS[epsilon] = np.float32(epsilon)
    return value


def _per_column(scale, b, cols: int) -> bool:
    """Scale (and B) float32 with one value per normalized element (no broadcasting within it)."""
    return (scale.dtype == np.float32 and scale.size == cols
            and (b is None or (b.dtype == np.float32 and b.size == cols)))
