"""Dropout. Inference (no training_mode, or training_mode false, or ratio 0) is the identity with
a mask of ones. Training mode draws the mask like onnx's reference: numpy RandomState(seed)
uniform >= ratio, output = x * mask / (1 - ratio)."""
import numpy as np

from refruntime.ops.base import OpRun


def _dropout(kernel, x, ratio, training, seed, mask_dtype):
    ratio = float(np.asarray(ratio).reshape(())) if ratio is not None else 0.5
    if not training or ratio == 0:
        y = x
        mask = np.ones(x.shape, dtype=mask_dtype)
    else:
        if not 0 <= ratio < 1:
            kernel.fail(f"ratio {ratio} must be in [0, 1)")
        keep = np.random.RandomState(seed).uniform(0, 1.0, x.shape) >= ratio
        y = (x * keep / (1.0 - ratio)).astype(x.dtype)
        mask = keep.astype(mask_dtype)
    return (y, mask) if kernel.num_outputs > 1 else (y,)


class Dropout_7(OpRun):
    """Opset 7-9: ratio attribute, always inference; the mask has the input's type."""

    def _run(self, data, ratio=0.5):
        return _dropout(self, data, ratio, False, None, data.dtype)


class Dropout_10(OpRun):
    """Opset 10-11: ratio attribute, always inference; the mask is bool."""

    def _run(self, data, ratio=0.5):
        return _dropout(self, data, ratio, False, None, np.bool_)


class Dropout_12(OpRun):
    def _run(self, data, ratio=None, training_mode=None, seed=None):
        training = bool(np.asarray(training_mode).reshape(())) if training_mode is not None else False
        return _dropout(self, data, ratio, training, seed, np.bool_)
