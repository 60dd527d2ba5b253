"""com.microsoft MultiHeadAttention (onnxruntime docs/ContribOperators.md,
"com.microsoft.MultiHeadAttention", version 1): self or cross attention on projected Q, K, V.

    Q = query + bias[:D]                       (B, S, D) -> heads (B, N, S, H)
    K = key + bias[D:2D], V = value + bias[2D:] (B, L, D), (B, L, Dv) -> heads
    K, V = concat(past_key, K), concat(past_value, V)   (past: (B, N, P, H)); T = P + L
    output = softmax(scale * Q @ K^T + mask + attention_bias) @ V   -> (B, S, Dv)
    present_key, present_value = K, V         (B, N, T, H)
    qk = scale * Q @ K^T + mask + attention_bias  (the scores the softmax reads)

Input layouts: query (B, S, D), or packed Q/K/V (B, S, N, 3, H) with key and value absent; key
(B, L, D) with value (B, L, Dv), or packed K/V (B, L, N, 2, H) with value absent, or key and value
already in heads (B, N, L, H) (cross attention with cached K/V: only Q gets its bias, no past).
key_padding_mask (int32) is one of onnxruntime's formats (_attention.padding_mask): (B,) key
lengths, (B, T) or (B, S, T) raw 0/1 masks; a masked score is set to mask_filter_value (default
-10000). unidirectional=1: query s (position P + s) sees keys t <= P + s. attention_bias:
(B or 1, N or 1, S, T). scale defaults to 1 / sqrt(H).

Precision: computed in float32 (float64 for float64 inputs), outputs rounded once.

Where onnxruntime departs (1.32, CPU): it implements neither packed layout ("not implemented for
CPU"); refruntime does. With unidirectional=1 and more keys than queries (L > S), its CPU kernel
applies the causal rule to every query but the last, which then sees all keys; refruntime applies
it to every query. Not implemented (refused at plan time): past_sequence_length and
cache_indirection (a preallocated KV buffer and beam indices, for onnxruntime's decoding loops).
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._attention import (
    MASK_FILTER_VALUE,
    attend,
    causal_masked,
    merge_heads,
    padding_mask,
    scale_or_default,
    split_heads,
)
from refruntime.ops.com_microsoft._common import FLOAT, INT, check_node

FLOATS = ("float32", "float16", "bfloat16", "float64")


class MultiHeadAttention(OpRun):
    def prepare(self):
        check_node(self, inputs=(1, 10), outputs=(1, 4), required_attributes=("num_heads",),
                   attributes={"num_heads": INT, "unidirectional": INT, "scale": FLOAT, "mask_filter_value": FLOAT})
        a = self.attributes
        if a["num_heads"] <= 0:
            self.refuse(f"num_heads must be positive, got {a['num_heads']}")
        if a.get("unidirectional", 0) not in (0, 1):
            self.refuse(f"unidirectional must be 0 or 1, got {a['unidirectional']}")
        if np.isnan(a.get("mask_filter_value", MASK_FILTER_VALUE)):
            self.refuse("mask_filter_value is NaN")
        given = [i < len(self.node.input) and bool(self.node.input[i]) for i in range(10)]
        if given[8] or given[9]:
            self.refuse("past_sequence_length and cache_indirection (a preallocated KV buffer, beam search) are "
                        "not supported")
        if given[6] != given[7]:
            self.refuse("past_key and past_value go together")
        if given[2] and not given[1]:
            self.refuse("value is given without key")

    def check_constants(self, constants):
        bias = constants.get(3)
        if bias is not None and (bias.ndim != 1 or bias.shape[0] % self.attributes["num_heads"]):
            self.refuse(f"bias must be 1-D (Q, K and V hidden sizes, multiples of num_heads="
                        f"{self.attributes['num_heads']}), got shape {list(bias.shape)}", 3)

    def _run(self, query, key=None, value=None, bias=None, key_padding_mask=None, attention_bias=None,
             past_key=None, past_value=None, past_sequence_length=None, cache_indirection=None, num_heads=0,
             unidirectional=0, scale=0.0, mask_filter_value=MASK_FILTER_VALUE):
        if query.dtype.name not in FLOATS:
            self.fail(f"query must be a float tensor, got {query.dtype}")
        for name, t in (("key", key), ("value", value), ("bias", bias), ("attention_bias", attention_bias),
                        ("past_key", past_key), ("past_value", past_value)):
            if t is not None and t.dtype != query.dtype:
                self.fail(f"{name} is {t.dtype} but query is {query.dtype}: they have one type T")
        heads = num_heads
        dtype = compute_dtype(query.dtype)
        q, k, v, cached = self._project(query, key, value, bias, heads, dtype)
        batch, _, seq, head = q.shape
        if past_key is not None:
            if cached:
                self.fail("past_key/past_value cannot be combined with key/value given as heads (B, N, L, H)")
            for name, past, new in (("past_key", past_key, k), ("past_value", past_value, v)):
                if past.ndim != 4 or past.shape[:2] != (batch, heads) or past.shape[3] != new.shape[3]:
                    self.fail(f"{name} must have shape ({batch}, {heads}, past_sequence_length, {new.shape[3]}), "
                              f"got {list(past.shape)}")
            if past_key.shape[2] != past_value.shape[2]:
                self.fail(f"past_key and past_value hold {past_key.shape[2]} and {past_value.shape[2]} positions")
            past_len = past_key.shape[2]
            k = np.concatenate([as_compute(past_key, dtype), k], axis=2)
            v = np.concatenate([as_compute(past_value, dtype), v], axis=2)
        else:
            past_len = 0
        total = k.shape[2]

        additive = None
        if key_padding_mask is not None:
            additive = padding_mask(self, key_padding_mask, batch, seq, total, mask_filter_value, dtype)[:, None]
        if unidirectional:
            causal = causal_masked(seq, total, past_len)
            base = additive if additive is not None else np.zeros((1, 1, seq, total), dtype)
            additive = np.where(causal, dtype.type(mask_filter_value), base)
        if attention_bias is not None:
            if (attention_bias.ndim != 4 or attention_bias.shape[2:] != (seq, total)
                    or attention_bias.shape[0] not in (1, batch) or attention_bias.shape[1] not in (1, heads)):
                self.fail(f"attention_bias must have shape ({batch} or 1, {heads} or 1, {seq}, {total}), "
                          f"got {list(attention_bias.shape)}")
            term = as_compute(attention_bias, dtype)
            additive = term if additive is None else additive + term

        check_alloc(self, (batch, heads, seq, total), dtype)  # the scores
        out, qk, _ = attend(q, k, v, scale_or_default(scale, head), additive, keep_scores=self.num_outputs > 3)
        outputs = [merge_heads(out)]
        if self.num_outputs > 1:
            outputs += [k, v]
        if self.num_outputs > 3:
            outputs.append(qk)
        return tuple(o.astype(query.dtype, copy=False) for o in outputs)

    def _project(self, query, key, value, bias, heads, dtype):
        """(Q, K, V in heads (B, N, ., H) in dtype, whether K/V came as heads)."""
        qx = as_compute(query, dtype)
        if query.ndim == 5:
            batch, seq, n, three, head = query.shape
            if n != heads or three != 3 or key is not None:
                self.fail(f"a 5-D query is packed Q/K/V of shape (batch, sequence, {heads}, 3, head_size) with key and "
                          f"value absent, got shape {list(query.shape)}{' and a key' if key is not None else ''}")
            parts = [qx[:, :, :, i].reshape(batch, seq, heads * head) for i in range(3)]
            q, k, v = self._add_bias(parts, bias)
            return split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), False
        if query.ndim != 3 or query.shape[2] % heads:
            self.fail(f"query must be (batch, sequence, hidden) with hidden a multiple of num_heads={heads}, "
                      f"or packed (batch, sequence, num_heads, 3, head_size); got shape {list(query.shape)}")
        batch, seq, hidden = query.shape
        if key is None:
            self.fail("key is required unless query is packed Q/K/V (5-D)")
        if key.ndim == 5:
            if value is not None or key.shape[:1] != (batch,) or key.shape[2:] != (heads, 2, hidden // heads):
                self.fail(f"a 5-D key is packed K/V of shape ({batch}, kv_sequence, {heads}, 2, {hidden // heads}) with "
                          f"value absent, got shape {list(key.shape)}")
            kx = as_compute(key, dtype)
            length = key.shape[1]
            parts = [qx, kx[:, :, :, 0].reshape(batch, length, hidden), kx[:, :, :, 1].reshape(batch, length, hidden)]
            q, k, v = self._add_bias(parts, bias)
            return split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), False
        if value is None:
            self.fail("value is required with a 3-D or 4-D key")
        if key.ndim == 4:
            head = hidden // heads
            if (key.shape[:2] != (batch, heads) or key.shape[3] != head or value.ndim != 4
                    or value.shape[:3] != key.shape[:3]):
                self.fail(f"key and value given as heads must have shapes ({batch}, {heads}, kv_sequence, {head}) and "
                          f"({batch}, {heads}, kv_sequence, v_head_size), got {list(key.shape)} and "
                          f"{list(value.shape)}")
            q = qx
            if bias is not None:
                self._check_bias(bias, hidden, hidden, value.shape[3] * heads)
                q = qx + as_compute(bias[:hidden], dtype)  # only Q's part: K and V are already projected
            return split_heads(q, heads), as_compute(key, dtype), as_compute(value, dtype), True
        if key.ndim != 3 or value.ndim != 3 or key.shape[:2] != value.shape[:2] or key.shape[0] != batch:
            self.fail(f"key and value must be (batch, kv_sequence, hidden) of one batch and length, got "
                      f"{list(key.shape)} and {list(value.shape)}")
        if key.shape[2] != hidden or value.shape[2] % heads:
            self.fail(f"key must have query's hidden size {hidden} and value a multiple of num_heads={heads}, got "
                      f"{key.shape[2]} and {value.shape[2]}")
        q, k, v = self._add_bias([qx, as_compute(key, dtype), as_compute(value, dtype)], bias)
        return split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), False

    def _add_bias(self, parts, bias):
        if bias is None:
            return parts
        sizes = [p.shape[2] for p in parts]
        self._check_bias(bias, *sizes)
        b = as_compute(bias, parts[0].dtype)
        edges = np.cumsum([0] + sizes)
        return [p + b[lo:hi] for p, lo, hi in zip(parts, edges[:-1], edges[1:])]

    def _check_bias(self, bias, dq, dk, dv):
        if bias.shape != (dq + dk + dv,):
            self.fail(f"bias must have shape ({dq + dk + dv},) (Q, K and V hidden sizes {dq} + {dk} + {dv}), "
                      f"got {list(bias.shape)}")
