"""SpaceToDepth (opsets 1, 13, 28; 13 adds bfloat16, 28 adds `mode`): moves each blocksize x
blocksize spatial block of an (N, C, H, W) tensor into channels, giving
(N, C * blocksize^2, H / blocksize, W / blocksize). A pure permutation, any element type; the
inverse of DepthToSpace in the same mode.

mode 'DCR' (the default, and the only behaviour before opset 28): pixel
(h * blocksize + bh, w * blocksize + bw) of channel c goes to output channel
(bh * blocksize + bw) * C + c. mode 'CRD': to output channel c * blocksize^2 + bh * blocksize + bw
(torch's pixel_unshuffle).
"""
import numpy as np

from refruntime.ops.op_depth_to_space import _BlockRearrange


class _SpaceToDepthBase(_BlockRearrange):
    def _s2d(self, x, bs, mode):
        if x.ndim != 4:
            self.fail(f"input must be 4-D (N, C, H, W), got shape {x.shape}")
        n, c, h, w = x.shape
        if h % bs or w % bs:
            self.fail(f"spatial shape ({h}, {w}) is not divisible by blocksize {bs}")
        t = x.reshape(n, c, h // bs, bs, w // bs, bs)
        t = t.transpose(0, 3, 5, 1, 2, 4) if mode == "DCR" else t.transpose(0, 1, 3, 5, 2, 4)
        return (np.ascontiguousarray(t).reshape(n, c * bs * bs, h // bs, w // bs),)


class SpaceToDepth(_SpaceToDepthBase):
    def _run(self, x, blocksize=None):
        return self._s2d(x, blocksize, "DCR")


class SpaceToDepth_28(_SpaceToDepthBase):
    def _run(self, x, blocksize=None, mode="DCR"):
        return self._s2d(x, blocksize, mode)
