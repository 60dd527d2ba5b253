"""RMSNormalization (opset 23, a function op), from the operator spec:

    RMS = Sqrt(ReduceMean<axes=[axis..r-1]>(X * X) + epsilon),  Normalized = X / RMS
    Y = Normalized * scale            (scale broadcasts unidirectionally to X; Y has scale's type V)

The schema lets X (T) and scale (V) differ, but the function body multiplies Normalized, cast to
T, by scale (so T must equal V) and onnx's type inference gives Y the type of X: a mixed model is
refused by the strict check; with strict=False, Y gets V, the schema's output type.

Precision: stage one in float32 for stash_type=1 (float64 for float64 X, and for stash_type=11),
stage two in the wider of that and scale's compute type, Y rounded once to V. The function body
rounds Normalized to X's type before the Mul; we round once (see LayerNormalization).
"""
import math

import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.kernels.normalization import check_stash_type, rms_rows, stage_one_dtype, unidirectional
from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class RMSNormalization_23(OpRun):
    def prepare(self):
        check_stash_type(self)

    def _run(self, x, scale, axis=-1, epsilon=1e-5, stash_type=1):
        ax = normalize_axis(self, axis, x.ndim)
        unidirectional(self, "scale", scale, x.shape)
        dtype = np.promote_types(stage_one_dtype(x.dtype, stash_type), compute_dtype(scale.dtype))
        rows, cols = math.prod(x.shape[:ax]), math.prod(x.shape[ax:])
        work = np.ascontiguousarray(as_compute(x, dtype)).reshape(rows, cols)
        y = rms_rows(work, epsilon).reshape(x.shape)
        y *= as_compute(scale, dtype)
        return (y if y.dtype == scale.dtype else y.astype(scale.dtype),)
