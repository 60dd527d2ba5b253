"""What the com.microsoft attention kernels share (not an op module: the registry skips `_` files).

Attention, MultiHeadAttention and GroupQueryAttention (onnxruntime's docs/ContribOperators.md)
all compute, per batch b and head n,

    scores = scale * Q @ K^T + mask + attention_bias        (S, T): S queries, T keys
    probs  = softmax(scores) along T
    out    = probs @ V

with Q, K, V in the BNSH layout (batch, heads, sequence, head_size). They differ in where Q, K, V
come from, in how the mask is given, and in what they cache. This module holds the parts they
share: head splitting, onnxruntime's mask formats turned into an additive mask, the causal rule
with a past, the scores/softmax/product, and the rotary embedding (also used by RotaryEmbedding).

Precision: everything is computed in the compute dtype of the inputs (float32 for float32, float16
and bfloat16, float64 for float64, i.e. the float64 oracle), the products through BLAS, and the
result is rounded once to the output type by the caller. onnxruntime's CPU kernels also compute in
float32 (MLAS sgemm and softmax).
"""
from __future__ import annotations

import numpy as np

from refruntime.kernels.blas import matmul

#: onnxruntime's default for the value a masked score is set to (mask_filter_value)
MASK_FILTER_VALUE = -10000.0


def split_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """(B, S, N*H) -> (B, N, S, H) (a view)."""
    batch, seq, hidden = x.shape
    return x.reshape(batch, seq, num_heads, hidden // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """(B, N, S, H) -> (B, S, N*H), C-contiguous."""
    batch, heads, seq, size = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3)).reshape(batch, seq, heads * size)


def padding_mask(kernel, mask: np.ndarray, batch: int, q_len: int, total: int, filter_value: float,
                 dtype) -> np.ndarray:
    """onnxruntime's `mask_index` / `key_padding_mask` as an additive mask of shape (B, 1|S, T) in
    `dtype`: 0 where query s may attend key t, `filter_value` where it may not. Formats:

    - (B,): right padding, the number of valid keys of each batch (keys t >= mask[b] masked);
    - (2B,): the same end positions, then the start positions (keys t < mask[B + b] masked);
    - (B, T): a raw 0/1 mask over the keys (0 = masked); (B, S, T): one per query.

    onnxruntime's other formats, (3B + 2,) (cumulative lengths) and the 4-D Megatron mask, are
    CUDA formats: a KernelError here (onnxruntime's CPU kernels refuse the 4-D one and read only
    the first B values of the other as end positions)."""
    mask = np.asarray(mask)
    if mask.dtype.kind not in "iu":
        kernel.fail(f"the mask must be int32, got {mask.dtype}")
    keys = np.arange(total)
    if mask.shape == (batch,) or mask.shape == (2 * batch,):
        masked = keys[None, :] >= mask[:batch, None]
        if mask.shape == (2 * batch,):
            masked |= keys[None, :] < mask[batch:, None]
        masked = masked[:, None, :]
    elif mask.shape == (batch, total):
        masked = (mask <= 0)[:, None, :]
    elif mask.shape == (batch, q_len, total):
        masked = mask <= 0
    else:
        kernel.fail(f"the mask has shape {list(mask.shape)}; expected ({batch},) or ({2 * batch},) (end [and start] "
                    f"positions), ({batch}, {total}) or ({batch}, {q_len}, {total}) (raw 0/1 masks); "
                    "(3 * batch + 2,) and 4-D masks are CUDA-only formats of onnxruntime")
    return np.where(masked, dtype.type(filter_value), dtype.type(0))


def causal_masked(q_len: int, total: int, past) -> np.ndarray:
    """Boolean (S, T), or (B, 1, S, T) when `past` is per batch: True where query s (at absolute
    position past + s) may not attend key t, i.e. t > past + s."""
    queries = np.arange(q_len)[:, None]
    keys = np.arange(total)[None, :]
    past = np.asarray(past)
    if past.ndim == 0:
        return keys > int(past) + queries
    return keys[None, None] > past[:, None, None, None] + queries[None, None]


def scores(q: np.ndarray, k: np.ndarray, scale: float) -> np.ndarray:
    """scale * Q @ K^T: (B, N, S, H) x (B, N, T, H) -> (B, N, S, T), a fresh array in q's dtype."""
    s = matmul(q, np.swapaxes(k, -1, -2))
    s *= q.dtype.type(scale)
    return s


def softmax(x: np.ndarray, sink=None) -> np.ndarray:
    """Softmax along the last axis, in place. -inf entries get probability 0 (a row of them all:
    NaN, as in onnxruntime). `sink` (broadcastable to x's rows): an extra logit that takes part in
    the denominator only (onnxruntime's smooth softmax: 0 for every head, or head_sink)."""
    top = x.max(axis=-1, keepdims=True)
    if sink is not None:
        sink = np.broadcast_to(np.asarray(sink, dtype=x.dtype), top.shape)
        top = np.maximum(top, sink)
    x -= top
    np.exp(x, out=x)
    total = x.sum(axis=-1, keepdims=True)
    if sink is not None:
        total += np.exp(sink - top)
    x /= total
    return x


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, additive=None, masked=None,
           softcap: float = 0.0, sink=None, keep_scores: bool = False) -> tuple:
    """(out (B, N, S, Hv), scores (B, N, S, T) or None unless keep_scores, probabilities (B, N, S, T))
    of one attention, in q's dtype.

    softcap > 0: scores = softcap * tanh(scores / softcap) (GroupQueryAttention), before the
    additive terms (as onnxruntime orders them). additive: added to the scaled scores (a mask of
    0/mask_filter_value and/or an attention bias), broadcastable to (B, N, S, T). masked: boolean, broadcastable, True where the probability is exactly 0 (the
    entry is left out of the softmax: GroupQueryAttention's causal/window rule). The returned
    scores are those the softmax reads, before masked entries are removed."""
    s = scores(q, k, scale)
    if softcap > 0:
        cap = s.dtype.type(softcap)
        np.tanh(s / cap, out=s)
        s *= cap
    if additive is not None:
        s += additive
    seen = s.copy() if keep_scores else None
    if masked is not None:
        s[np.broadcast_to(masked, s.shape)] = -np.inf
    probs = softmax(s, sink)
    return matmul(probs, v), seen, probs


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, interleaved: bool) -> np.ndarray:
    """The rotary embedding of the last axis of x (..., H) with cos/sin (..., R/2) broadcastable to
    x's leading axes: the first R values of each vector are rotated as R/2 complex numbers, the
    rest copied. interleaved=False: the numbers are (x[i], x[i + R/2]) (real halves first);
    True: (x[2i], x[2i + 1]). Each becomes (re * cos - im * sin, re * sin + im * cos)."""
    half = cos.shape[-1]
    out = x.copy()
    if interleaved:
        re, im = x[..., 0:2 * half:2], x[..., 1:2 * half:2]
        out[..., 0:2 * half:2] = re * cos - im * sin
        out[..., 1:2 * half:2] = re * sin + im * cos
    else:
        re, im = x[..., :half], x[..., half:2 * half]
        out[..., :half] = re * cos - im * sin
        out[..., half:2 * half] = re * sin + im * cos
    return out


def rotary_tables(kernel, cos_cache: np.ndarray, sin_cache: np.ndarray, positions: np.ndarray, dtype):
    """cos/sin rows of the caches at `positions` (any int array), in `dtype`; a position outside the
    caches' rows is a KernelError (numpy would wrap negative ones)."""
    if cos_cache.ndim != 2 or sin_cache.shape != cos_cache.shape:
        kernel.fail(f"cos_cache and sin_cache must be 2-D of one shape, got {list(cos_cache.shape)} and "
                    f"{list(sin_cache.shape)}")
    rows = cos_cache.shape[0]
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size and (positions.min() < 0 or positions.max() >= rows):
        kernel.fail(f"position ids range over [{positions.min()}, {positions.max()}] but the cos/sin caches "
                    f"have {rows} rows")
    return cos_cache.astype(dtype, copy=False)[positions], sin_cache.astype(dtype, copy=False)[positions]


def scale_or_default(scale: float, head_size: int) -> float:
    """The `scale` attribute, 0 (its default) meaning 1 / sqrt(head_size)."""
    return float(scale) if scale else 1.0 / float(np.sqrt(head_size))
