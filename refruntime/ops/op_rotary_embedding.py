"""RotaryEmbedding (opset 23), from the operator spec (its Python definition, vectorized).

X is (batch, num_heads, seq, head_size), or (batch, seq, hidden) with the `num_heads` attribute
(hidden = num_heads * head_size). The first `rotary_embedding_dim` values of each head (default
0: all of head_size; even) are rotated, the rest copied. They are split into halves x1 | x2
(interleaved=0) or into even/odd positions (interleaved=1), and with cos/sin of shape
(batch, seq, rotary_dim / 2) - taken from the (max_position + 1, rotary_dim / 2) caches at
position_ids when position_ids is given, the caches themselves otherwise -

    real = cos * x1 - sin * x2,   imag = sin * x1 + cos * x2

go back in the same places. A position id outside [0, rows of the cache) is a KernelError (numpy
indexing would wrap negative ones). Precision: float32 for float16/bfloat16, Y rounded once.
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops.base import OpRun


class RotaryEmbedding_23(OpRun):
    def check_constants(self, constants):
        caches = [(i, constants[i]) for i in (1, 2) if i in constants]
        for index, cache in caches:
            if cache.ndim not in (2, 3):
                self.refuse(f"the cache must be 2-D (max_position + 1, rotary_dim / 2) or 3-D (batch, seq, "
                            f"rotary_dim / 2), got shape {cache.shape}", index)
            rot = self.attributes.get("rotary_embedding_dim", 0)
            if rot and cache.shape[-1] != rot // 2:
                self.refuse(f"the cache's last dimension {cache.shape[-1]} is not rotary_embedding_dim / 2 = "
                            f"{rot // 2}", index)
        if len(caches) == 2 and caches[0][1].shape != caches[1][1].shape:
            self.refuse(f"cos_cache {caches[0][1].shape} and sin_cache {caches[1][1].shape} differ in shape", 2)

    def _run(self, x, cos_cache, sin_cache, position_ids=None, interleaved=0, num_heads=0,
             rotary_embedding_dim=0):
        if x.ndim == 4:
            batch, heads, seq, head_size = x.shape
            view = x.transpose(0, 2, 1, 3)  # (batch, seq, heads, head_size)
        elif x.ndim == 3:
            batch, seq, hidden = x.shape
            if num_heads <= 0 or hidden % num_heads:
                self.fail(f"a 3-D input needs the num_heads attribute dividing its hidden size {hidden} "
                          f"(num_heads={num_heads})")
            heads, head_size = num_heads, hidden // num_heads
            view = x.reshape(batch, seq, heads, head_size)
        else:
            self.fail(f"X must be 3-D (batch, seq, hidden) or 4-D (batch, heads, seq, head_size), got {x.shape}")
        rot = rotary_embedding_dim or head_size
        if rot % 2 or rot > head_size:
            self.fail(f"rotary_embedding_dim {rot} must be even and at most head_size {head_size}")
        half = rot // 2
        cos, sin = self._caches(cos_cache, sin_cache, position_ids, batch, seq, half)
        dtype = compute_dtype(x.dtype)
        work = as_compute(view, dtype)
        out = np.array(work, dtype=dtype, copy=True)  # the non-rotated tail stays as it is
        cos = as_compute(cos, dtype)[:, :, None, :]  # (batch, seq, 1, half): one angle for every head
        sin = as_compute(sin, dtype)[:, :, None, :]
        if interleaved:
            x1, x2 = work[..., 0:rot:2], work[..., 1:rot:2]
            out[..., 0:rot:2] = cos * x1 - sin * x2
            out[..., 1:rot:2] = sin * x1 + cos * x2
        else:
            x1, x2 = work[..., :half], work[..., half:rot]
            out[..., :half] = cos * x1 - sin * x2
            out[..., half:rot] = sin * x1 + cos * x2
        out = out.transpose(0, 2, 1, 3) if x.ndim == 4 else out.reshape(x.shape)
        out = np.ascontiguousarray(out)
        return (out if out.dtype == x.dtype else out.astype(x.dtype),)

    def _caches(self, cos_cache, sin_cache, position_ids, batch, seq, half):
        if cos_cache.shape != sin_cache.shape:
            self.fail(f"cos_cache {cos_cache.shape} and sin_cache {sin_cache.shape} differ in shape")
        if position_ids is not None:
            if cos_cache.ndim != 2 or cos_cache.shape[1] != half:
                self.fail(f"with position_ids the caches must be (max_position + 1, {half}), got {cos_cache.shape}")
            if position_ids.shape != (batch, seq):
                self.fail(f"position_ids has shape {position_ids.shape}, expected ({batch}, {seq})")
            pos = position_ids.astype(np.int64, copy=False)
            rows = cos_cache.shape[0]
            if pos.size and (pos.min() < 0 or pos.max() >= rows):
                self.fail(f"position_ids must lie in [0, {rows - 1}] (rows of the caches), got "
                          f"min {pos.min()}, max {pos.max()}")
            return cos_cache[pos], sin_cache[pos]
        if cos_cache.shape != (batch, seq, half):
            self.fail(f"without position_ids the caches must be (batch, seq, rotary_dim / 2) = "
                      f"({batch}, {seq}, {half}), got {cos_cache.shape}")
        return cos_cache, sin_cache
