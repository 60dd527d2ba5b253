"""BatchNormalization, from the operator spec (onnx.reference is wrong below opset 14: not copied).

    Y = (X - mean) / sqrt(var + epsilon) * scale + B        (per channel, axis 1)

- opset 7: `spatial` (default 1). spatial=1: scale/B/mean/var have shape (C,); spatial=0: they
  have shape (C, D1, ..., Dn), one value per activation. Training mode is implied by asking for the
  outputs mean, var, saved_mean, saved_var.
- opset 9: `spatial` removed (always per channel); otherwise as 7.
- opset 14: `training_mode` attribute; outputs are Y, running_mean, running_var. In training mode Y
  uses the batch statistics (population variance) and
      running_mean = mean * momentum + batch_mean * (1 - momentum)   (same for var).
- opset 15: scale/B and mean/var may have different float types (T1/T2); same math.

Only inference is needed by the runtime; the 14/15 training formula is implemented because it is
exact and small. Training below opset 14 (the saved_mean/saved_var outputs have no precise
definition in the spec) is refused with a KernelError.
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops.base import OpRun


class _BatchNormBase(OpRun):
    def prepare(self):
        self._extra_outputs = [n for n in self.node.output[1:] if n]

    def _check(self, x, params, per_activation=False):
        if x.ndim < 2:
            self.fail(f"X must have shape (N, C, ...), got {x.shape}")
        want = x.shape[1:] if per_activation else (x.shape[1],)
        for name, p in zip(("scale", "B", "input_mean", "input_var"), params):
            if p.shape != want:
                self.fail(f"{name} has shape {p.shape}, expected {want} for X of shape {x.shape}")

    def _inference(self, x, scale, b, mean, var, epsilon, per_activation=False):
        self._check(x, (scale, b, mean, var), per_activation)
        dtype = compute_dtype(x.dtype)
        # folding the four parameter vectors is O(C): done per run so fed parameters never go stale
        s, t = affine_parameters(scale, b, mean, var, epsilon, dtype)
        xc = as_compute(x, dtype)
        if per_activation:
            y = xc * s
            y += t
        else:
            from refruntime.kernels.channel import scale_shift

            x3 = np.ascontiguousarray(xc).reshape(x.shape[0], x.shape[1], -1)
            y = np.empty_like(x3)
            scale_shift(x3, s, t, y)
            y = y.reshape(x.shape)
        return y if y.dtype == x.dtype else y.astype(x.dtype)


def affine_parameters(scale, b, mean, var, epsilon, dtype):
    """(s, t) in `dtype` with Y = X * s + t per channel, computed in float64. Shared with the
    Conv epilogue that absorbs a BatchNormalization (refruntime/plan_fusion.py), so that fused
    and unfused results are bitwise equal."""
    s64 = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + epsilon)
    return s64.astype(dtype), (b.astype(np.float64) - mean.astype(np.float64) * s64).astype(dtype)


def is_inference(kernel) -> bool:
    """True for a per-channel inference BatchNormalization node (output Y alone)."""
    a = kernel.attributes
    return (isinstance(kernel, _BatchNormBase) and not kernel._extra_outputs
            and not a.get("training_mode", 0) and a.get("spatial", 1) == 1)


class BatchNormalization_1(_BatchNormBase):
    """Opsets 1-6: inference only (`is_test=1`, output Y alone), the math of opset 7.

    `spatial` as at opset 7; `consumed_inputs` (opset 1, an in-place hint) and `momentum` (training
    only) do not change Y. `is_test=0` (the default) asks for training mode, whose batch statistics
    and saved outputs are refused as at opsets 7-13: at plan time, so no fused path ever sees it."""

    def prepare(self):
        super().prepare()
        if not self.attributes.get("is_test", 0):
            self.fail(f"is_test=0 asks for training mode (batch statistics), not supported at opset "
                      f"{self.opset}; an inference model sets is_test=1")

    def _run(self, x, scale, b, mean, var, epsilon=1e-5, momentum=0.9, spatial=1, is_test=0,
             consumed_inputs=None):
        if self._extra_outputs:
            self.fail(f"outputs {self._extra_outputs} (mean, var, saved_mean, saved_var) are training "
                      f"outputs, not supported at opset {self.opset}; only inference (output Y alone)")
        return (self._inference(x, scale, b, mean, var, epsilon, per_activation=not spatial),)


class BatchNormalization_7(_BatchNormBase):
    def _run(self, x, scale, b, mean, var, epsilon=1e-5, momentum=0.9, spatial=1):
        if self._extra_outputs:
            self.fail(f"training mode (outputs {self._extra_outputs}: mean, var, saved_mean, saved_var) "
                      f"is not supported at opset {self.opset}; only inference (output Y alone)")
        return (self._inference(x, scale, b, mean, var, epsilon, per_activation=not spatial),)


class BatchNormalization_9(_BatchNormBase):
    def _run(self, x, scale, b, mean, var, epsilon=1e-5, momentum=0.9):
        if self._extra_outputs:
            self.fail(f"training mode (outputs {self._extra_outputs}: mean, var, saved_mean, saved_var) "
                      f"is not supported at opset {self.opset}; only inference (output Y alone)")
        return (self._inference(x, scale, b, mean, var, epsilon),)


class BatchNormalization_14(_BatchNormBase):
    def _run(self, x, scale, b, mean, var, epsilon=1e-5, momentum=0.9, training_mode=0):
        if not training_mode:
            if self._extra_outputs:
                self.fail(f"outputs {self._extra_outputs} (running_mean, running_var) exist only with "
                          "training_mode=1")
            return (self._inference(x, scale, b, mean, var, epsilon),)
        self._check(x, (scale, b, mean, var))
        axes = (0,) + tuple(range(2, x.ndim))
        x64 = x.astype(np.float64)
        batch_mean = x64.mean(axis=axes)
        batch_var = x64.var(axis=axes)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = (x64 - batch_mean.reshape(shape)) / np.sqrt(batch_var.reshape(shape) + epsilon)
        y = y * scale.astype(np.float64).reshape(shape) + b.astype(np.float64).reshape(shape)
        running_mean = mean.astype(np.float64) * momentum + batch_mean * (1 - momentum)
        running_var = var.astype(np.float64) * momentum + batch_var * (1 - momentum)
        return y.astype(x.dtype), running_mean.astype(mean.dtype), running_var.astype(var.dtype)


class BatchNormalization_15(BatchNormalization_14):
    """Same math as 14; scale/B (T1) and mean/var (T2) may be float types other than X's."""
