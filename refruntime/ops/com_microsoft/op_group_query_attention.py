"""com.microsoft GroupQueryAttention (onnxruntime docs/ContribOperators.md,
"com.microsoft.GroupQueryAttention", version 1): causal self-attention with a KV cache, where
num_heads query heads share kv_num_heads key/value heads (num_heads / kv_num_heads each).

Inputs: query (B, S, N*H), key and value (B, S, N_kv*H) - or query packed (B, S, (N + 2 N_kv)*H)
with key and value absent -, past_key/past_value (B, N_kv, P_buf, H), seqlens_k (B,) int32 (the
number of tokens of each sequence after this step, minus one), total_sequence_length (a scalar
int32, the batch's maximum). For batch entry b, T_b = seqlens_k[b] + 1 tokens exist after the step
and P_b of them before it: P_b = 0 on the first prompt (S == total_sequence_length; shorter
sequences are right-padded), T_b - S otherwise (one new token, or a later prompt chunk of batch 1).

    with do_rotary=1: Q, K = rotary(Q), rotary(K) at positions position_ids[b, s], or s on the first
        prompt, P_b + s after it (cos_cache/sin_cache (max_position, R/2); R/2 < H/2: partial)
    present_key[b] = [past_key[b, :, :P_b], K[b], zeros]   (B, N_kv, max(total_sequence_length, P_buf), H)
    scores = scale * Q @ K^T, softcapped (softcap * tanh(scores / softcap) when softcap > 0), plus
        attention_bias (B or 1, N or 1, S, T) (onnxruntime's order: cap first)
    query s of b (at position P_b + s) sees the keys t < T_b with t <= P_b + s (causal=1; causal=0:
        every t < T_b) and t > P_b + s - local_window_size (local_window_size > 0: the last W keys,
        itself included, as onnxruntime 1.32's CPU kernel counts them); the others
        get probability exactly 0 (left out of the softmax, not set to a filter value)
    softmax; smooth_softmax=1 or head_sink: the denominator gets one more term, exp(0) or
        exp(head_sink[n]) (the max-subtraction includes it)
    output = probs @ V, merged back to (B, S, N*H); output_qk (B, N, S, present length):
        qk_output=1 the scores the softmax reads, 0 where a key is not seen; 2 the probabilities

Output rows of padding (s >= T_b on the first prompt) are unspecified by the doc; refruntime
computes them with the same rule (they see keys t < T_b). A later chunk (1 < S < total_sequence_length)
is taken for every batch entry, with P_b = T_b - S.

Precision: float32 (float64 for float64 inputs), outputs rounded once. onnxruntime's CPU kernel
computes the scores and softmax in float32 too (float16 Q and K converted to float32); on the
tests' cases the two agree within 3e-7 (float32) and exactly (float16).

Not implemented (refused at plan time): quantized KV caches (k_quant_type/v_quant_type other than
NONE, kv_cache_bit_width, k_scale/v_scale), sliding_window_cache=1, q_norm_weight/k_norm_weight
(onnxruntime's CPU kernel rejects those too) and query_seqlens. refruntime does not require
onnxruntime's CPU limits (head_size a multiple of 8, or of 16 with rotary; batch 1 for later
prompt chunks).
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._attention import (
    attend,
    merge_heads,
    rotary_tables,
    rotate,
    scale_or_default,
    split_heads,
)
from refruntime.ops.com_microsoft._common import FLOAT, INT, STRING, check_node

FLOATS = ("float32", "float16", "bfloat16", "float64")
ATTRIBUTES = {"num_heads": INT, "kv_num_heads": INT, "scale": FLOAT, "softcap": FLOAT, "do_rotary": INT,
              "rotary_interleaved": INT, "local_window_size": INT, "causal": INT, "qk_output": INT,
              "smooth_softmax": INT, "sliding_window_cache": INT, "k_quant_type": STRING, "v_quant_type": STRING,
              "kv_cache_bit_width": INT, "qk_norm_epsilon": FLOAT, "q_norm_epsilon": FLOAT, "k_norm_epsilon": FLOAT}


class GroupQueryAttention(OpRun):
    def prepare(self):
        check_node(self, inputs=(7, 17), outputs=(1, 4), required_inputs=(0, 5, 6),
                   required_attributes=("num_heads", "kv_num_heads"), attributes=ATTRIBUTES)
        a = self.attributes
        heads, kv_heads = a["num_heads"], a["kv_num_heads"]
        if heads <= 0 or kv_heads <= 0 or heads % kv_heads:
            self.refuse(f"num_heads={heads} must be a positive multiple of kv_num_heads={kv_heads}")
        given = [i < len(self.node.input) and bool(self.node.input[i]) for i in range(17)]
        for name in ("k_quant_type", "v_quant_type"):
            if a.get(name, "NONE") != "NONE":
                self.refuse(f"{name}={a[name]!r}: quantized KV caches are not supported")
        if "kv_cache_bit_width" in a or given[12] or given[13]:
            self.refuse("quantized KV caches (kv_cache_bit_width, k_scale, v_scale) are not supported")
        if a.get("sliding_window_cache", 0):
            self.refuse("sliding_window_cache=1 (a window-sized KV buffer) is not supported")
        if given[14] or given[15]:
            self.refuse("q_norm_weight/k_norm_weight are not supported (nor by onnxruntime's CPU kernel)")
        if given[16]:
            self.refuse("query_seqlens (right-padded prompt chunks) is not supported")
        if given[1] != given[2]:
            self.refuse("key and value go together (both absent: query is packed Q/K/V)")
        if given[3] != given[4]:
            self.refuse("past_key and past_value go together")
        if given[7] != given[8]:
            self.refuse("cos_cache and sin_cache go together")
        if a.get("do_rotary", 0) and not given[7]:
            self.refuse("do_rotary=1 needs cos_cache and sin_cache")
        causal, window = a.get("causal", 1), a.get("local_window_size", -1)
        if causal not in (0, 1):
            self.refuse(f"causal must be 0 or 1, got {causal}")
        if not causal and window != -1:
            self.refuse(f"local_window_size must be -1 when causal=0, got {window}")
        if a.get("qk_output", 0) not in (0, 1, 2):
            self.refuse(f"qk_output must be 0, 1 or 2, got {a['qk_output']}")
        if self.num_outputs > 3 and not a.get("qk_output", 0):
            self.refuse("output_qk needs qk_output=1 (scores) or 2 (probabilities)")
        if a.get("softcap", 0.0) < 0 or not np.isfinite(a.get("softcap", 0.0)):
            self.refuse(f"softcap must be finite and >= 0, got {a['softcap']}")

    def check_constants(self, constants):
        cos, sin = constants.get(7), constants.get(8)
        for index, cache in ((7, cos), (8, sin)):
            if cache is not None and cache.ndim != 2:
                self.refuse(f"must be 2-D (max_position, rotary_dim / 2), got shape {list(cache.shape)}", index)
        if cos is not None and sin is not None and cos.shape != sin.shape:
            self.refuse(f"cos_cache {list(cos.shape)} and sin_cache {list(sin.shape)} differ in shape", 8)
        sink = constants.get(11)
        if sink is not None and sink.shape != (self.attributes["num_heads"],):
            self.refuse(f"must have shape ({self.attributes['num_heads']},) (one value per head), got "
                        f"{list(sink.shape)}", 11)

    def _run(self, query, key=None, value=None, past_key=None, past_value=None, seqlens_k=None,
             total_sequence_length=None, cos_cache=None, sin_cache=None, position_ids=None, attention_bias=None,
             head_sink=None, k_scale=None, v_scale=None, q_norm_weight=None, k_norm_weight=None, query_seqlens=None,
             num_heads=0, kv_num_heads=0, scale=0.0, softcap=0.0, do_rotary=0, rotary_interleaved=0,
             local_window_size=-1, causal=1, qk_output=0, smooth_softmax=-1, sliding_window_cache=0,
             k_quant_type="NONE", v_quant_type="NONE", kv_cache_bit_width=0, qk_norm_epsilon=1e-6,
             q_norm_epsilon=None, k_norm_epsilon=None):
        if query.dtype.name not in FLOATS:
            self.fail(f"query must be a float tensor, got {query.dtype}")
        for name, t in (("key", key), ("value", value), ("past_key", past_key), ("past_value", past_value),
                        ("cos_cache", cos_cache), ("sin_cache", sin_cache), ("attention_bias", attention_bias),
                        ("head_sink", head_sink)):
            if t is not None and t.dtype != query.dtype:
                self.fail(f"{name} is {t.dtype} but query is {query.dtype}: they have one type T")
        heads, kv_heads = num_heads, kv_num_heads
        dtype = compute_dtype(query.dtype)
        q, k, v, batch, seq, head = self._qkv(query, key, value, heads, kv_heads, dtype)

        lengths, total, first_prompt = self._lengths(seqlens_k, total_sequence_length, batch, seq)
        buffer = 0
        if past_key is not None:
            for name, past in (("past_key", past_key), ("past_value", past_value)):
                if past.ndim != 4 or past.shape[:2] != (batch, kv_heads) or past.shape[3] != head:
                    self.fail(f"{name} must have shape ({batch}, {kv_heads}, past_buffer_length, {head}), "
                              f"got {list(past.shape)}")
            if past_key.shape[2] != past_value.shape[2]:
                self.fail(f"past_key and past_value hold {past_key.shape[2]} and {past_value.shape[2]} positions")
            buffer = past_key.shape[2]
        present_len = max(total, buffer)
        # total_sequence_length is a fed scalar: the cache and the scores it sizes are checked first
        check_alloc(self, (batch, kv_heads, present_len, head), dtype)
        check_alloc(self, (batch, heads, seq, present_len), dtype)
        past = np.zeros(batch, np.int64) if first_prompt else lengths - seq
        if (past < 0).any() or (past + seq > present_len).any():
            self.fail(f"seqlens_k {(lengths - 1).tolist()} do not fit sequence_length {seq} and a cache of "
                      f"{present_len} positions (first prompt: {first_prompt})")
        if past_key is not None and (past > buffer).any():
            self.fail(f"seqlens_k {(lengths - 1).tolist()} say {past.tolist()} tokens were cached but past_key "
                      f"holds {buffer} positions")

        if do_rotary:
            q, k = self._rotary(q, k, cos_cache, sin_cache, position_ids, past, first_prompt, rotary_interleaved,
                                dtype, batch, seq)

        present_k = np.zeros((batch, kv_heads, present_len, head), dtype)
        present_v = np.zeros((batch, kv_heads, present_len, head), dtype)
        for b in range(batch):
            p = int(past[b])
            if p:
                present_k[b, :, :p] = past_key[b, :, :p]
                present_v[b, :, :p] = past_value[b, :, :p]
            present_k[b, :, p:p + seq] = k[b]
            present_v[b, :, p:p + seq] = v[b]

        keys = np.arange(present_len)
        position = past[:, None, None, None] + np.arange(seq)[None, None, :, None]  # (B, 1, S, 1)
        masked = keys >= lengths[:, None, None, None]
        if causal:
            masked = masked | (keys > position)
            if local_window_size > 0:
                masked = masked | (keys <= position - local_window_size)
        additive = None
        if attention_bias is not None:
            if (attention_bias.ndim != 4 or attention_bias.shape[0] not in (1, batch)
                    or attention_bias.shape[1] not in (1, heads) or attention_bias.shape[2] != seq
                    or attention_bias.shape[3] < total):
                self.fail(f"attention_bias must have shape ({batch} or 1, {heads} or 1, {seq}, {total}), "
                          f"got {list(attention_bias.shape)}")
            additive = np.zeros((attention_bias.shape[0], attention_bias.shape[1], seq, present_len), dtype)
            width = min(present_len, attention_bias.shape[3])
            additive[..., :width] = attention_bias[..., :width]
        sink = None
        if head_sink is not None:
            if head_sink.shape != (heads,):
                self.fail(f"head_sink must have shape ({heads},), got {list(head_sink.shape)}")
            sink = as_compute(head_sink, dtype)[None, :, None, None]
        elif smooth_softmax == 1:
            sink = dtype.type(0)

        group = heads // kv_heads
        out, qk, probs = attend(q, np.repeat(present_k, group, axis=1), np.repeat(present_v, group, axis=1),
                                scale_or_default(scale, head), additive, masked, softcap, sink,
                                keep_scores=self.num_outputs > 3 and qk_output == 1)
        outputs = [merge_heads(out), present_k, present_v]
        if self.num_outputs > 3:
            outputs.append(probs if qk_output == 2 else np.where(masked, dtype.type(0), qk))
        return tuple(o.astype(query.dtype, copy=False) for o in outputs[:self.num_outputs])

    def _qkv(self, query, key, value, heads, kv_heads, dtype):
        """Q (B, N, S, H), new K and V (B, N_kv, S, H) in dtype, and B, S, H."""
        if query.ndim != 3:
            self.fail(f"query must be 3-D (batch, sequence, hidden), got shape {list(query.shape)}")
        batch, seq, width = query.shape
        qx = as_compute(query, dtype)
        if key is None:
            if width % (heads + 2 * kv_heads):
                self.fail(f"packed query has {width} columns, not a multiple of num_heads + 2 * kv_num_heads = "
                          f"{heads + 2 * kv_heads}")
            head = width // (heads + 2 * kv_heads)
            q, k, v = np.split(qx, [heads * head, (heads + kv_heads) * head], axis=2)
        else:
            if width % heads:
                self.fail(f"query hidden size {width} is not a multiple of num_heads={heads}")
            head = width // heads
            for name, t in (("key", key), ("value", value)):
                if t.ndim != 3 or t.shape != (batch, seq, kv_heads * head):
                    self.fail(f"{name} must have shape ({batch}, {seq}, {kv_heads * head}) (kv_num_heads * head_size, "
                              f"the query's sequence), got {list(t.shape)}")
            q, k, v = qx, as_compute(key, dtype), as_compute(value, dtype)
        return split_heads(q, heads), split_heads(k, kv_heads), split_heads(v, kv_heads), batch, seq, head

    def _lengths(self, seqlens_k, total_sequence_length, batch, seq):
        if seqlens_k.dtype != np.int32 or seqlens_k.shape != (batch,):
            self.fail(f"seqlens_k must be int32 of shape ({batch},), got {seqlens_k.dtype} {list(seqlens_k.shape)}")
        if total_sequence_length.dtype != np.int32 or total_sequence_length.size != 1:
            self.fail(f"total_sequence_length must be one int32, got {total_sequence_length.dtype} "
                      f"{list(total_sequence_length.shape)}")
        total = int(total_sequence_length.reshape(-1)[0])
        lengths = seqlens_k.astype(np.int64) + 1
        if (lengths < 1).any() or (lengths > total).any():
            self.fail(f"seqlens_k {seqlens_k.tolist()} must lie in [0, total_sequence_length - 1 = {total - 1}]")
        return lengths, total, seq == total

    def _rotary(self, q, k, cos_cache, sin_cache, position_ids, past, first_prompt, interleaved, dtype, batch, seq):
        head = q.shape[3]
        if cos_cache.ndim != 2 or 2 * cos_cache.shape[1] > head:
            self.fail(f"cos_cache must be (max_position, rotary_dim / 2) with rotary_dim <= head_size {head}, "
                      f"got {list(cos_cache.shape)}")
        if position_ids is not None:
            if position_ids.shape != (batch, seq):
                self.fail(f"position_ids must have shape ({batch}, {seq}), got {list(position_ids.shape)}")
            positions = position_ids
        elif first_prompt:
            positions = np.broadcast_to(np.arange(seq), (batch, seq))
        else:
            positions = past[:, None] + np.arange(seq)[None, :]
        cos, sin = rotary_tables(self, cos_cache, sin_cache, positions, dtype)  # (B, S, R/2)
        cos, sin = cos[:, None], sin[:, None]
        return rotate(q, cos, sin, bool(interleaved)), rotate(k, cos, sin, bool(interleaved))

