"""What the normalization kernels of onnxruntime's contrib ops share (not an op module: the registry
skips `_` files): SkipLayerNormalization, SkipSimplifiedLayerNormalization, EmbedLayerNormalization
and SimplifiedLayerNormalization.

Each normalizes the rows of a float64 array (every value of the last axes that are normalized
together is one row):

    layer norm: y = (x - mean) / sqrt(var + epsilon) * gamma + beta     (var: two-pass, biased)
    RMS norm:   y = x / sqrt(mean(x * x) + epsilon) * gamma

Precision: float64 for every input type, the results rounded once to their declared types (the
statistics to float32). onnxruntime's CPU kernels accumulate in float32 or float64 and compute the
variance as mean(x * x) - mean^2, which loses digits when |mean| >> std; refruntime's result is
the exact one rounded once, within a few float32 ulps of theirs on ordinary activations.

`SimplifiedLayerNormalizationKernel` is the whole kernel of onnxruntime's SimplifiedLayerNormalization,
which it registers in the *default* domain (ai.onnx, version 1) although onnx has no such op; the
transformer optimizer emits it there for RMSNorm. The registry takes default-domain kernels only
from refruntime/ops/op_*.py, so it is exposed by a subclass there (see its docstring).
"""
from __future__ import annotations

import numpy as np

from refruntime.ops.base import OpRun


def layer_norm_rows(x: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalized, mean, inv_std) along the last axis of a float64 array; the statistics keep a unit
    last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.square(centered).mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    return centered * inv_std, mean, inv_std


def rms_norm_rows(x: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """(normalized, inv_rms) along the last axis of a float64 array."""
    inv_rms = 1.0 / np.sqrt(np.square(x).mean(axis=-1, keepdims=True) + epsilon)
    return x * inv_rms, inv_rms


def check_vector(kernel: OpRun, name: str, v: np.ndarray | None, size: int, dtype) -> None:
    """Fail unless `v` (if given) has shape (size,) and `dtype`."""
    if v is None:
        return
    if v.shape != (size,):
        kernel.fail(f"{name} must have shape ({size},) (the hidden size), got {list(v.shape)}")
    if v.dtype != dtype:
        kernel.fail(f"{name} is {v.dtype} but the input is {np.dtype(dtype)}: they have one type T")


def float64(x: np.ndarray | None) -> np.ndarray | None:
    return None if x is None else np.asarray(x, dtype=np.float64)


class SimplifiedLayerNormalizationKernel(OpRun):
    """SimplifiedLayerNormalization (onnxruntime's contrib op in the default domain, version 1;
    onnxruntime's schema text: "SimplifiedLayerNormalization", with the inputs X, scale, the outputs
    Y, inv_std_var and the attributes axis (default -1), epsilon (default 1e-5), stash_type (1)):
    RMS normalization over the axes [axis, rank)

        inv_std_var = 1 / sqrt(mean(X * X over those axes) + epsilon)
        Y = X * inv_std_var * scale        (scale broadcast to X.shape[axis:])

    Y has scale's type (onnxruntime lets X and scale differ: float32 X with a float16 scale gives a
    float16 Y); inv_std_var has shape X.shape[:axis] + (1,) * (rank - axis), float32 (float64 with
    stash_type=11 or float64 X). Computed in float64, rounded once (see the module docstring).

    To register it (the registry reads default-domain kernels from refruntime/ops/op_*.py), a file
    refruntime/ops/op_simplified_layer_normalization.py holds

        from refruntime.ops.com_microsoft._norm import SimplifiedLayerNormalizationKernel

        class SimplifiedLayerNormalization(SimplifiedLayerNormalizationKernel):
            __doc__ = SimplifiedLayerNormalizationKernel.__doc__
    """

    def prepare(self):
        from refruntime.ops.com_microsoft._common import FLOAT, INT, check_node

        check_node(self, inputs=(2, 2), outputs=(1, 2), required_inputs=(0, 1),
                   attributes={"axis": INT, "epsilon": FLOAT, "stash_type": INT})
        stash = self.attributes.get("stash_type", 1)
        if stash not in (1, 11):
            self.refuse(f"stash_type={stash}: the statistics are float32 (1) or float64 (11)")
        if not self.attributes.get("epsilon", 1e-5) >= 0:
            self.refuse(f"epsilon must be >= 0, got {self.attributes['epsilon']}")

    def _run(self, x, scale, axis=-1, epsilon=1e-5, stash_type=1):
        if x.dtype.kind != "f" and x.dtype.name != "bfloat16":
            self.fail(f"X must be a float tensor, got {x.dtype}")
        if scale.dtype.kind != "f" and scale.dtype.name != "bfloat16":
            self.fail(f"scale must be a float tensor, got {scale.dtype}")
        rank = x.ndim
        if not -rank <= axis < rank:
            self.fail(f"axis {axis} is out of range for X of rank {rank}")
        axis = axis + rank if axis < 0 else axis
        inner = x.shape[axis:]
        try:
            fits = np.broadcast_shapes(scale.shape, inner) == inner
        except ValueError:
            fits = False
        if not fits:
            self.fail(f"scale of shape {list(scale.shape)} does not broadcast to the normalized axes "
                      f"{list(inner)} of X {list(x.shape)}")
        rows = float64(x).reshape(x.shape[:axis] + (-1,))
        y, inv = rms_norm_rows(rows, epsilon)
        y = y.reshape(x.shape) * float64(scale)
        stats = np.float64 if (stash_type == 11 or x.dtype == np.float64) else np.float32
        outputs = (y.astype(scale.dtype), inv.reshape(x.shape[:axis] + (1,) * (rank - axis)).astype(stats))
        return outputs[:self.num_outputs]


class SkipNormKernel(OpRun):
    """The body of SkipLayerNormalization (SIMPLIFIED = False) and SkipSimplifiedLayerNormalization
    (True): sum = input + skip (+ bias), then a layer norm (RMS norm) of the sum's last axis."""

    SIMPLIFIED = False

    def prepare(self):
        from refruntime.ops.com_microsoft._common import FLOAT, check_node

        most = 4 if self.SIMPLIFIED else 5
        check_node(self, inputs=(3, most), outputs=(1, 4), required_inputs=(0, 1, 2),
                   attributes={"epsilon": FLOAT})
        if not self.attributes.get("epsilon", 1e-12) >= 0:
            self.refuse(f"epsilon must be >= 0, got {self.attributes['epsilon']}")

    def check_constants(self, constants):
        sizes = {}
        for index in (2, 3, 4) if not self.SIMPLIFIED else (2, 3):
            v = constants.get(index)
            if v is not None:
                if v.ndim != 1:
                    self.refuse(f"must be 1-D (hidden_size,), got shape {list(v.shape)}", index)
                sizes[index] = v.shape[0]
        if len(set(sizes.values())) > 1:
            self.refuse(f"gamma, beta and bias have different lengths {sorted(set(sizes.values()))}")

    def normalize(self, x, skip, gamma, beta, bias, epsilon):
        if x.dtype.kind != "f" and x.dtype.name != "bfloat16":
            self.fail(f"input must be a float tensor, got {x.dtype}")
        if x.ndim not in (2, 3):
            self.fail(f"input must be 3-D (batch, sequence, hidden) or 2-D (tokens, hidden), got {list(x.shape)}")
        hidden = x.shape[-1]
        if skip.dtype != x.dtype:
            self.fail(f"skip is {skip.dtype} but input is {x.dtype}: they have one type T")
        try:
            fits = skip.ndim <= x.ndim and np.broadcast_shapes(skip.shape, x.shape) == x.shape
        except ValueError:
            fits = False
        if not fits or skip.shape[-1] != hidden:
            self.fail(f"skip of shape {list(skip.shape)} must be the input's shape {list(x.shape)} or broadcast to "
                      "it ((1, sequence, hidden) or (sequence, hidden))")
        for name, v in (("gamma", gamma), ("beta", beta), ("bias", bias)):
            check_vector(self, name, v, hidden, x.dtype)
        total = float64(x) + float64(skip)
        if bias is not None:
            total += float64(bias)
        if self.SIMPLIFIED:
            y, inv = rms_norm_rows(total, epsilon)
            mean = np.zeros_like(inv)  # onnxruntime leaves this output at 0
        else:
            y, mean, inv = layer_norm_rows(total, epsilon)
        y *= float64(gamma)
        if beta is not None:
            y += float64(beta)
        stats = np.float64 if x.dtype == np.float64 else np.float32
        outputs = (y.astype(x.dtype), mean.astype(stats), inv.astype(stats), total.astype(x.dtype))
        return outputs[:self.num_outputs]
