"""GroupNormalization, from the operator spec (a function op; the semantics changed at 21):

    y = scale * (x - mean) / sqrt(variance + epsilon) + bias

with mean and (population) variance computed per instance and per group of C / num_groups
consecutive channels, over those channels and every spatial position. X is (N, C, D1, ..., Dn).

- opset 18: `scale` and `bias` have shape (num_groups): one value per *group*, applied to each of
  its channels. (This is what made 18 disagree with PyTorch's GroupNorm, whose affine parameters
  are per channel; opset 21 fixed it, and deprecated 18.)
- opset 21: `scale` and `bias` have shape (C): one value per *channel*, as PyTorch. `stash_type`
  sets the precision of stage one (the standardization); stage two does not depend on it.

Precision: stage one in float32 (float64 for float64 X, and for stash_type=11), stage two in the
same dtype, Y rounded once to X's type (the function body rounds Normalized to X's type first).
"""
import math

import numpy as np

from refruntime.kernels.floats import as_compute
from refruntime.kernels.normalization import check_stash_type, stage_one_dtype, standardize_rows
from refruntime.ops.base import OpRun


class _GroupNormalization(OpRun):
    per_channel = True

    def prepare(self):
        check_stash_type(self)
        groups = self.attributes.get("num_groups")
        if groups is None or groups < 1:
            self.refuse(f"num_groups must be a positive integer, got {groups}")

    def check_constants(self, constants):
        groups = self.attributes["num_groups"]
        for index, name in ((1, "scale"), (2, "bias")):
            p = constants.get(index)
            if p is None:
                continue
            if self.per_channel and (p.ndim != 1 or p.shape[0] % groups):
                self.refuse(f"{name} has shape {p.shape}: opset {self.opset} wants one value per channel, a 1-D "
                            f"tensor whose length (C) is a multiple of num_groups={groups}", index)
            if not self.per_channel and p.shape != (groups,):
                self.refuse(f"{name} has shape {p.shape}: opset {self.opset} wants one value per group, "
                            f"shape ({groups},)", index)

    def _normalize(self, x, scale, bias, num_groups, epsilon, stash_type):
        if x.ndim < 2:
            self.fail(f"X must have shape (N, C, D1, ...), got {x.shape}")
        n, c = x.shape[:2]
        if c % num_groups:
            self.fail(f"num_groups={num_groups} does not divide the {c} channels of X {x.shape}")
        want = (c,) if self.per_channel else (num_groups,)
        for name, p in (("scale", scale), ("bias", bias)):
            if p.shape != want:
                self.fail(f"{name} has shape {p.shape}, expected {want} (one value per "
                          f"{'channel' if self.per_channel else 'group'}, opset {self.opset})")
        dtype = stage_one_dtype(x.dtype, stash_type)
        spatial = math.prod(x.shape[2:])
        work = np.ascontiguousarray(as_compute(x, dtype)).reshape(n * num_groups, c // num_groups * spatial)
        y, _, _ = standardize_rows(work, epsilon)
        y = y.reshape(n, c, spatial)
        s, b = as_compute(scale, dtype), as_compute(bias, dtype)
        if not self.per_channel:
            s, b = np.repeat(s, c // num_groups), np.repeat(b, c // num_groups)
        y *= s[:, None]
        y += b[:, None]
        y = y.reshape(x.shape)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)


class GroupNormalization_18(_GroupNormalization):
    per_channel = False

    def _run(self, x, scale, bias, epsilon=1e-5, num_groups=None):
        return self._normalize(x, scale, bias, num_groups, epsilon, 1)


class GroupNormalization_21(_GroupNormalization):
    def _run(self, x, scale, bias, epsilon=1e-5, num_groups=None, stash_type=1):
        return self._normalize(x, scale, bias, num_groups, epsilon, stash_type)
