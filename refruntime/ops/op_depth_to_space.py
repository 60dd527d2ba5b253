"""DepthToSpace (opsets 1, 11, 13, 28; 11 adds `mode`, 13 bfloat16, 28 more types): moves
blocks of blocksize x blocksize channels of an (N, C, H, W) tensor into space, giving
(N, C / blocksize^2, H * blocksize, W * blocksize). A pure permutation, any element type.

mode 'DCR' (the default, and the only behaviour of opset 1): input channel
(bh * blocksize + bw) * C' + c goes to output channel c, pixel (h * blocksize + bh,
w * blocksize + bw). mode 'CRD': input channel c * blocksize^2 + bh * blocksize + bw goes there
(torch's pixel_shuffle).
"""
import numpy as np

from refruntime.ops.base import OpRun


class _BlockRearrange(OpRun):
    """DepthToSpace and SpaceToDepth (op_space_to_depth.py): the same attributes, checked once."""

    def prepare(self):
        bs = self.attributes.get("blocksize")
        if bs is None:
            self.refuse("the blocksize attribute is required")
        if bs < 1:
            self.refuse(f"blocksize must be positive, got {bs}")
        mode = self.attributes.get("mode", "DCR")
        if mode not in ("DCR", "CRD"):
            self.refuse(f"mode must be 'DCR' or 'CRD', got {mode!r}")


class _DepthToSpaceBase(_BlockRearrange):
    def _d2s(self, x, bs, mode):
        if x.ndim != 4:
            self.fail(f"input must be 4-D (N, C, H, W), got shape {x.shape}")
        n, c, h, w = x.shape
        if c % (bs * bs):
            self.fail(f"channels {c} are not divisible by blocksize^2 = {bs * bs}")
        cc = c // (bs * bs)
        if mode == "DCR":
            t = x.reshape(n, bs, bs, cc, h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            t = x.reshape(n, cc, bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
        return (np.ascontiguousarray(t).reshape(n, cc, h * bs, w * bs),)


class DepthToSpace(_DepthToSpaceBase):
    def _run(self, x, blocksize=None):
        return self._d2s(x, blocksize, "DCR")


class DepthToSpace_11(_DepthToSpaceBase):
    def _run(self, x, blocksize=None, mode="DCR"):
        return self._d2s(x, blocksize, mode)
