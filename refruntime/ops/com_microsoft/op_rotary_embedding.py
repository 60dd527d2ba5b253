"""com.microsoft RotaryEmbedding (onnxruntime docs/ContribOperators.md, "com.microsoft.RotaryEmbedding",
version 1): rotary positional embeddings (RoPE) of the query or key heads.

input is (B, S, hidden) or (B, N, S, H). The head size H is hidden / num_heads, or, without
num_heads (0), twice the caches' width; rotary_embedding_dim R (default 0: H) is how many leading
values of each head are rotated (the rest are copied; R < H needs num_heads). position_ids is
(B, S) int64, or one value p (shape (1,)) meaning positions p, p + 1, ..., p + S - 1 for every
batch. cos_cache and sin_cache are (max_position, R / 2). With c, s the rows at a position, each
pair (re, im) of a head - (x[i], x[i + R/2]) with interleaved=0, (x[2i], x[2i + 1]) with
interleaved=1 - becomes (re * c - im * s, re * s + im * c).

A position outside the caches' rows is a KernelError (onnxruntime reads out of bounds or fails).
Precision: float32 (float64 for float64 inputs), the output rounded once; onnxruntime computes in
float32 as well (float16 converted per element).

Not implemented: is_packed_batching=1 (ragged batches; refused at plan time). The `scale`
attribute is accepted and, as in onnxruntime's CPU kernel, has no effect.
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._attention import rotary_tables, rotate
from refruntime.ops.com_microsoft._common import FLOAT, INT, check_node


class RotaryEmbedding(OpRun):
    def prepare(self):
        check_node(self, inputs=(4, 4), required_inputs=(0, 1, 2, 3),
                   attributes={"num_heads": INT, "rotary_embedding_dim": INT, "interleaved": INT,
                               "is_packed_batching": INT, "scale": FLOAT})
        a = self.attributes
        if a.get("is_packed_batching", 0):
            self.refuse("is_packed_batching=1 (ragged batches) is not supported")
        if a.get("num_heads", 0) < 0 or a.get("rotary_embedding_dim", 0) < 0:
            self.refuse("num_heads and rotary_embedding_dim must be >= 0")
        if a.get("rotary_embedding_dim", 0) and not a.get("num_heads", 0):
            self.refuse("rotary_embedding_dim needs num_heads (the head size is then hidden / num_heads)")
        if a.get("interleaved", 0) not in (0, 1):
            self.refuse(f"interleaved must be 0 or 1, got {a['interleaved']}")

    def check_constants(self, constants):
        cos, sin = constants.get(2), constants.get(3)
        for index, cache in ((2, cos), (3, sin)):
            if cache is not None and cache.ndim != 2:
                self.refuse(f"must be 2-D (max_position, rotary_dim / 2), got shape {list(cache.shape)}", index)
        if cos is not None and sin is not None and cos.shape != sin.shape:
            self.refuse(f"cos_cache {list(cos.shape)} and sin_cache {list(sin.shape)} differ in shape", 3)
        dim = self.attributes.get("rotary_embedding_dim", 0)
        if cos is not None and cos.ndim == 2 and dim and cos.shape[1] * 2 != dim:
            self.refuse(f"has width {cos.shape[1]} but rotary_embedding_dim={dim} needs {dim // 2}", 2)

    def _run(self, x, position_ids, cos_cache, sin_cache, num_heads=0, rotary_embedding_dim=0, interleaved=0,
             is_packed_batching=0, scale=1.0):
        if x.dtype.kind != "f" and x.dtype.name != "bfloat16":
            self.fail(f"input must be a float tensor, got {x.dtype}")
        if cos_cache.dtype != x.dtype or sin_cache.dtype != x.dtype:
            self.fail(f"cos_cache/sin_cache are {cos_cache.dtype}/{sin_cache.dtype} but input is {x.dtype}")
        if cos_cache.ndim != 2 or sin_cache.shape != cos_cache.shape:
            self.fail(f"cos_cache and sin_cache must be 2-D of one shape, got {list(cos_cache.shape)} and "
                      f"{list(sin_cache.shape)}")
        half = cos_cache.shape[1]
        if x.ndim == 4:
            batch, _, seq, head = x.shape
            heads_view = x
        elif x.ndim == 3:
            batch, seq, hidden = x.shape
            head = hidden // num_heads if num_heads else 2 * half
            if head == 0 or hidden % head:
                self.fail(f"hidden size {hidden} is not a multiple of the head size {head}")
            heads_view = x.reshape(batch, seq, hidden // head, head).transpose(0, 2, 1, 3)
        else:
            self.fail(f"input must be (batch, sequence, hidden) or (batch, heads, sequence, head_size), "
                      f"got shape {list(x.shape)}")
        rot = rotary_embedding_dim or head
        if rot > head or rot % 2 or half != rot // 2:
            self.fail(f"the caches have width {half} but rotary_embedding_dim {rot} (head size {head}) needs "
                      f"{rot // 2}")
        positions = np.asarray(position_ids)
        if positions.dtype != np.int64:
            self.fail(f"position_ids must be int64, got {positions.dtype}")
        if positions.size == 1 and positions.ndim <= 1:
            positions = np.broadcast_to(int(positions.reshape(-1)[0]) + np.arange(seq), (batch, seq))
        elif positions.shape != (batch, seq):
            self.fail(f"position_ids must have shape (1,) or ({batch}, {seq}), got {list(positions.shape)}")
        dtype = compute_dtype(x.dtype)
        cos, sin = rotary_tables(self, cos_cache, sin_cache, positions, dtype)  # (B, S, R/2)
        y = rotate(as_compute(heads_view, dtype), cos[:, None], sin[:, None], bool(interleaved))
        if x.ndim == 3:
            y = y.transpose(0, 2, 1, 3).reshape(x.shape)
        return (y.astype(x.dtype, copy=False),)
