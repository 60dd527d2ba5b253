"""ArrayFeatureExtractor (ai.onnx.ml 1): Z = X[..., Y] (the indices select along the last axis);
a 1-D X gives shape [1, len(Y)] as in onnxruntime. Indices outside [0, last dim) and an empty Y
are errors (onnxruntime refuses them too)."""
import numpy as np

from refruntime.ops.base import OpRun


class ArrayFeatureExtractor(OpRun):
    def _run(self, x, y):
        if x.ndim == 0:
            self.fail("input X is a scalar; it needs at least one axis")
        index = np.asarray(y).reshape(-1).astype(np.int64)
        if not index.size:
            self.fail("input Y holds no index")
        bad = (index < 0) | (index >= x.shape[-1])
        if np.any(bad):
            self.fail(f"index {index[bad][0]} in Y is outside [0, {x.shape[-1]}), the last dimension of X")
        z = np.take(x, index, axis=-1)
        return (z.reshape(1, -1) if x.ndim == 1 else z,)
