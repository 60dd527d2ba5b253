"""Attention (opsets 23, 24, 25), from the operator spec:

    scores = (Q * sqrt(scale)) @ (K * sqrt(scale))^T        scale defaults to 1 / sqrt(head_size)
    scores = softcap * tanh(scores / softcap)                 if softcap != 0
    scores = scores + bias                                    attn_mask + causal + window + padding
    Y      = Softmax(scores, axis=-1) @ V

Shapes: Q (B, Hq, Sq, D), K (B, Hkv, Skv, D), V (B, Hkv, Skv, Dv); or 3-D (B, S, H * D) with the
q_num_heads / kv_num_heads attributes, split into heads and Y merged back. Hq must be a multiple
of Hkv (GQA/MQA): query head h reads kv head h // (Hq / Hkv), the spec's interleaved repeat
[h0, h0, h1, h1, ...], computed as one batched matmul on Q viewed as (B, Hkv, g * Sq, D) without
copying K or V. past_key/past_value (B, Hkv, P, D|Dv) are concatenated in front of K/V: the
present_key/present_value outputs, exact copies in the inputs' types.

The bias is the sum of
- attn_mask, broadcast (right-aligned) to (B, Hq, Sq, P + Skv): a bool mask contributes 0 where
  True and -inf where False; any other type is added as it is. Opset 24+: a last dimension shorter
  than P + Skv is padded with -inf (False), as the spec says (a last dimension of 1 is padded too,
  as onnx.reference does, not broadcast); opset 23 requires a broadcastable mask.
- is_causal=1: query i sees key j iff j <= i + offset (bottom-right alignment); offset = P with
  past_key, nonpad_kv_seqlen[b] - Sq per batch with nonpad_kv_seqlen (24+), else 0.
- nonpad_kv_seqlen (24+): keys j >= nonpad_kv_seqlen[b] of batch b are -inf.
- left_window_size / right_window_size (25; -1 = unbounded): with p = offset + i, key j is
  visible iff p - left <= j <= p + right.
A query row whose whole bias is -inf (no visible key) gives a zero row in Y and in the mode-3
output, decided on the bias, not on the scores (so +inf scores under a -inf mask cannot leak a
NaN), as the spec's errata require.

qk_matmul_output (4th output) by qk_matmul_output_mode: 0 the raw scores, 1 after softcap, 2 after
the bias, 3 the softmax probabilities (after the fully-masked-row guard); in Y's type.

Precision: everything in float32 for float16/bfloat16/float32 inputs (float64 for float64), each
output rounded once: float16/bfloat16 outputs are correctly rounded in practice (within 0.5 ulp
of the float64 formula on the conformance and test cases). The spec's pattern (and onnx.reference)
rounds every intermediate to the inputs' type and runs the softmax in it when softmax_precision
is absent (1.2-1.7 ulps off on the bfloat16 conformance cases); onnxruntime 1.32's CPU kernel
also rounds intermediates in float16 (measured: 1e-3 absolute, 30% relative on a small output
element of a causal GQA case). softmax_precision=P (1, 10, 11, 16): the softmax input and
output are rounded through P (no-ops for P at least as wide as the compute type) and P=11
computes the softmax in float64. A negative softcap is applied by the formula
(softcap * tanh(x / softcap) is even in softcap); onnx.reference ignores it. A negative scale
(whose square root the spec's pattern would take) multiplies Q alone.
"""
from __future__ import annotations

import math

import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops._common import check_alloc, fp_ignored
from refruntime.ops.base import OpRun

_SOFTMAX_PRECISIONS = (1, 10, 11, 16)


class _Attention(OpRun):
    pads_short_mask = False   # opset 24+
    has_window = False        # opset 25

    def prepare(self):
        a = self.attributes
        if a.get("qk_matmul_output_mode", 0) not in (0, 1, 2, 3):
            self.refuse(f"qk_matmul_output_mode must be 0, 1, 2 or 3, got {a['qk_matmul_output_mode']}")
        if a.get("softmax_precision", 1) not in _SOFTMAX_PRECISIONS:
            self.refuse(f"softmax_precision must be one of {_SOFTMAX_PRECISIONS} (FLOAT, FLOAT16, DOUBLE, "
                        f"BFLOAT16), got {a['softmax_precision']}")
        for name in ("q_num_heads", "kv_num_heads"):
            if name in a and a[name] < 1:
                self.refuse(f"{name} must be positive, got {a[name]}")
        if "q_num_heads" in a and "kv_num_heads" in a and a["q_num_heads"] % a["kv_num_heads"]:
            self.refuse(f"attribute 'q_num_heads'={a['q_num_heads']} is not a multiple of attribute "
                        f"'kv_num_heads'={a['kv_num_heads']}: each key/value head serves a whole group of "
                        "query heads")
        for name in ("left_window_size", "right_window_size"):
            if a.get(name, -1) < -1:
                self.refuse(f"{name} must be -1 (unbounded) or >= 0, got {a[name]}")
        outputs = list(self.node.output) + [""] * 4
        self._want_present = bool(outputs[1] or outputs[2])
        self._want_qk = bool(outputs[3])
        inputs = list(self.node.input) + [""] * 7
        if inputs[6] and (inputs[4] or inputs[5] or self._want_present):
            self.refuse("nonpad_kv_seqlen (an external KV cache) cannot be used together with past_key/past_value "
                        "or present_key/present_value")

    # -- shapes ----------------------------------------------------------------------------------
    def _heads(self, q, k, v, q_num_heads, kv_num_heads):
        """Q, K, V as 4-D (B, H, S, D) views."""
        if not q.ndim == k.ndim == v.ndim or q.ndim not in (3, 4):
            self.fail(f"Q, K and V must all be 3-D or all 4-D, got shapes {q.shape}, {k.shape}, {v.shape}")
        if q.ndim == 3:
            if q_num_heads is None or kv_num_heads is None:
                self.fail("3-D Q, K, V need the q_num_heads and kv_num_heads attributes")
            for name, x, heads in (("Q", q, q_num_heads), ("K", k, kv_num_heads), ("V", v, kv_num_heads)):
                if x.shape[2] % heads:
                    self.fail(f"{name} hidden size {x.shape[2]} is not a multiple of its {heads} heads "
                              f"({'q' if name == 'Q' else 'kv'}_num_heads)")
            q = q.reshape(q.shape[0], q.shape[1], q_num_heads, -1).transpose(0, 2, 1, 3)
            k = k.reshape(k.shape[0], k.shape[1], kv_num_heads, -1).transpose(0, 2, 1, 3)
            v = v.reshape(v.shape[0], v.shape[1], kv_num_heads, -1).transpose(0, 2, 1, 3)
        elif q_num_heads not in (None, q.shape[1]) or kv_num_heads not in (None, k.shape[1]):
            self.fail(f"q_num_heads={q_num_heads} / kv_num_heads={kv_num_heads} disagree with the 4-D "
                      f"Q {q.shape} and K {k.shape}")
        if not q.shape[0] == k.shape[0] == v.shape[0]:
            self.fail(f"batch sizes differ: Q {q.shape}, K {k.shape}, V {v.shape} (as 4-D)")
        if k.shape[1] != v.shape[1] or k.shape[2] != v.shape[2]:
            self.fail(f"K {k.shape} and V {v.shape} (as 4-D) differ in heads or sequence length")
        if q.shape[3] != k.shape[3]:
            self.fail(f"Q head size {q.shape[3]} differs from K head size {k.shape[3]}")
        if k.shape[1] == 0 or q.shape[1] % k.shape[1]:
            self.fail(f"{q.shape[1]} query heads are not a multiple of {k.shape[1]} key/value heads")
        return q, k, v

    def _with_past(self, k, v, past_key, past_value):
        if (past_key is None) != (past_value is None):
            self.fail("past_key and past_value must be given together")
        if past_key is None:
            return k, v, 0
        b, h, _, d = k.shape
        if past_key.ndim != 4 or past_key.shape[:2] != (b, h) or past_key.shape[3] != d:
            self.fail(f"past_key has shape {past_key.shape}, expected ({b}, {h}, past, {d})")
        if past_value.shape != past_key.shape[:3] + (v.shape[3],):
            self.fail(f"past_value has shape {past_value.shape}, expected {past_key.shape[:3] + (v.shape[3],)}")
        return (np.concatenate((past_key, k), axis=2), np.concatenate((past_value, v), axis=2),
                past_key.shape[2])

    # -- the bias --------------------------------------------------------------------------------
    def _bias(self, dtype, full, attn_mask, is_causal, past, nonpad, left, right):
        """The additive bias, broadcastable to `full` = (B, Hq, Sq, T), or None."""
        batch, _, sq, total = full
        bias = None
        if attn_mask is not None:
            if attn_mask.dtype == np.bool_:
                bias = np.where(attn_mask, dtype.type(0), dtype.type(-np.inf))
            else:
                bias = attn_mask.astype(dtype)
            if bias.ndim == 0:
                bias = bias.reshape(1)
            if self.pads_short_mask and bias.shape[-1] < total:
                pad = [(0, 0)] * (bias.ndim - 1) + [(0, total - bias.shape[-1])]
                bias = np.pad(bias, pad, constant_values=-np.inf)
            try:
                ok = np.broadcast_shapes(bias.shape, full) == full
            except ValueError:
                ok = False
            if not ok:
                self.fail(f"attn_mask of shape {attn_mask.shape} does not broadcast to (batch, q_heads, q_seq, "
                          f"total_seq) = {full}" + ("" if self.pads_short_mask else
                                                     " (padding a short mask starts at opset 24)"))
        if nonpad is not None:
            offset = nonpad.reshape(batch, 1, 1) - sq  # per batch, (B, 1, 1)
        else:
            offset = past
        rows = np.arange(sq).reshape(sq, 1)
        cols = np.arange(total).reshape(1, total)
        allowed = None
        if is_causal:
            allowed = cols <= rows + offset
        if self.has_window and (left >= 0 or right >= 0):
            diff = rows + offset - cols
            window = np.ones(diff.shape, dtype=bool)
            if left >= 0:
                window &= diff <= left
            if right >= 0:
                window &= -diff <= right
            allowed = window if allowed is None else allowed & window
        if nonpad is not None:
            padding = cols < nonpad.reshape(batch, 1, 1)
            allowed = padding if allowed is None else allowed & padding
        if allowed is not None:
            if allowed.ndim == 3:  # per batch: (B, Sq, T) -> (B, 1, Sq, T)
                allowed = allowed[:, None]
            extra = np.where(allowed, dtype.type(0), dtype.type(-np.inf))
            bias = extra if bias is None else bias + extra
        return bias

    # -- the op ----------------------------------------------------------------------------------
    def _attention(self, q, k, v, attn_mask, past_key, past_value, nonpad, scale, is_causal, q_num_heads,
                   kv_num_heads, softmax_precision, softcap, qk_matmul_output_mode, left=-1, right=-1):
        q4, k4, v4 = self._heads(q, k, v, q_num_heads, kv_num_heads)
        present_k, present_v, past = self._with_past(k4, v4, past_key, past_value)
        batch, hq, sq, d = q4.shape
        hkv, total, dv = present_k.shape[1], present_k.shape[2], present_v.shape[3]
        group = hq // hkv
        if nonpad is not None:
            nonpad = np.asarray(nonpad).astype(np.int64, copy=False)
            if nonpad.shape != (batch,):
                self.fail(f"nonpad_kv_seqlen has shape {nonpad.shape}, expected ({batch},)")
            if nonpad.size and (nonpad.min() < 0 or nonpad.max() > total):
                self.fail(f"nonpad_kv_seqlen values must lie in [0, {total}] (the key sequence length), got "
                          f"{nonpad.tolist()}")
        dtype = np.promote_types(compute_dtype(q.dtype), compute_dtype(v.dtype))
        full = (batch, hq, sq, total)
        check_alloc(self, full, dtype)
        if scale is None:
            scale = 1 / math.sqrt(d) if d else 1.0
        with fp_ignored():
            factor = dtype.type(math.sqrt(scale) if scale >= 0 else scale)
            qs = np.multiply(as_compute(q4, dtype), factor, order="C")
            ks = np.multiply(as_compute(present_k, dtype), factor) if scale >= 0 else as_compute(present_k, dtype)
            # (B, Hkv, g * Sq, D) @ (B, Hkv, D, T): query head h = kv head h // g, no K copy
            scores = np.matmul(qs.reshape(batch, hkv, group * sq, d), ks.transpose(0, 1, 3, 2))
            scores = scores.reshape(full)
            qk = scores.copy() if self._want_qk and qk_matmul_output_mode == 0 else None
            if softcap:
                scores /= dtype.type(softcap)
                np.tanh(scores, out=scores)
                scores *= dtype.type(softcap)
            if self._want_qk and qk_matmul_output_mode == 1:
                qk = scores.copy()
            bias = self._bias(dtype, full, attn_mask, is_causal, past, nonpad, left, right)
            if bias is not None:
                scores += bias
            if self._want_qk and qk_matmul_output_mode == 2:
                qk = scores.copy()
            probs = _softmax_last(scores, softmax_precision, dtype)
            if bias is not None and total:
                dead = np.isneginf(bias.max(axis=-1, keepdims=True))  # rows with no visible key
                if dead.any():
                    probs = np.where(dead, dtype.type(0), probs)
            if self._want_qk and qk_matmul_output_mode == 3:
                qk = probs
            vs = as_compute(present_v, dtype)
            y = np.matmul(probs.reshape(batch, hkv, group * sq, total), vs).reshape(batch, hq, sq, dv)
        if q.ndim == 3:
            y = y.transpose(0, 2, 1, 3).reshape(batch, sq, hq * dv)
        y = y.astype(q.dtype, copy=False)
        if self._want_present:
            present_k, present_v = np.ascontiguousarray(present_k), np.ascontiguousarray(present_v)
        outputs = [y, present_k, present_v]
        if self._want_qk:
            outputs.append(qk.astype(q.dtype, copy=False))
        return tuple(outputs)


def _softmax_last(scores, softmax_precision, dtype):
    """Softmax over the last axis, in place when it can; rows of -inf give zeros, not NaN."""
    if softmax_precision is not None:
        from refruntime.dtypes import to_numpy_dtype

        precision = to_numpy_dtype(softmax_precision)
        work_dtype = compute_dtype(precision)
        scores = scores.astype(precision).astype(work_dtype)  # rounded through P (a no-op when wide)
    else:
        precision = dtype
    if scores.shape[-1] == 0:
        return scores.astype(dtype, copy=False)
    top = scores.max(axis=-1, keepdims=True)
    top[np.isneginf(top)] = 0  # a row of -inf: exp(-inf) = 0 everywhere instead of NaN
    scores -= top
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    total[total == 0] = 1
    scores /= total
    if softmax_precision is not None:
        scores = scores.astype(precision).astype(dtype)
    return scores


class Attention_23(_Attention):
    def _run(self, q, k, v, attn_mask=None, past_key=None, past_value=None, scale=None, is_causal=0,
             q_num_heads=None, kv_num_heads=None, softmax_precision=None, softcap=0.0, qk_matmul_output_mode=0):
        return self._attention(q, k, v, attn_mask, past_key, past_value, None, scale, is_causal, q_num_heads,
                               kv_num_heads, softmax_precision, softcap, qk_matmul_output_mode)


class Attention_24(_Attention):
    """Opset 24 adds nonpad_kv_seqlen (an external KV cache) and pads a short attn_mask."""

    pads_short_mask = True

    def _run(self, q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, scale=None,
             is_causal=0, q_num_heads=None, kv_num_heads=None, softmax_precision=None, softcap=0.0,
             qk_matmul_output_mode=0):
        return self._attention(q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, scale, is_causal,
                               q_num_heads, kv_num_heads, softmax_precision, softcap, qk_matmul_output_mode)


class Attention_25(_Attention):
    """Opset 25 adds the sliding window (left_window_size, right_window_size)."""

    pads_short_mask = True
    has_window = True

    def _run(self, q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, scale=None,
             is_causal=0, q_num_heads=None, kv_num_heads=None, softmax_precision=None, softcap=0.0,
             qk_matmul_output_mode=0, left_window_size=-1, right_window_size=-1):
        return self._attention(q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, scale, is_causal,
                               q_num_heads, kv_num_heads, softmax_precision, softcap, qk_matmul_output_mode,
                               left_window_size, right_window_size)
