"""com.microsoft Attention (onnxruntime docs/ContribOperators.md, "com.microsoft.Attention", version 1):
multi-head self-attention with the Q/K/V projections merged into one weight.

    QKV = input @ weights + bias              (B, S, Dq + Dk + Dv), weights (D_in, Dq + Dk + Dv)
    Q, K, V = split(QKV) into num_heads heads each (head sizes Dq/N = Dk/N, Dv/N)
    K, V = concat(past[0], K), concat(past[1], V) along the sequence   (past: (2, B, N, P, H))
    present = stack(K, V)                     (2, B, N, T, H), T = P + S
    output = softmax(scale * Q @ K^T + mask + attention_bias) @ V   merged back to (B, S, Dv)

scale defaults to 1 / sqrt(Dq / N). qkv_hidden_sizes gives (Dq, Dk, Dv) (Dq = Dk), else the
weights' columns are split in three. mask_index (int32) is one of onnxruntime's formats (_attention.
padding_mask): end positions (B,), end and start positions (2B,), or raw 0/1 masks (B, T) or
(B, S, T); a masked score is *set* to mask_filter_value (default -10000), not to -inf, so a row
whose keys are all masked still gets the softmax of its scores, as in onnxruntime. unidirectional=1
adds the causal rule: query s (at position P + s) sees keys t <= P + s. attention_bias has shape
(B or 1, N or 1, S, T) and is added to the scaled scores.

Precision: the projection, scores, softmax and product are computed in float32 (float64 for float64
inputs), the outputs rounded once; onnxruntime's CPU kernel computes in float32 too (MLAS).

Not implemented, refused at plan time: do_rotary=1 (onnxruntime's CPU kernel refuses it too: "fuse
the model with MultiHeadAttention + RotaryEmbedding") and past_present_share_buffer=1 / the
past_sequence_length input (a preallocated KV buffer, used by onnxruntime's beam-search decoders).
The (3B + 2,) and 4-D mask formats fail at run time: they are CUDA formats; onnxruntime's CPU kernel
refuses the 4-D one and reads only the first B values of the other as end positions.
"""
import numpy as np

from refruntime.kernels.blas import matmul
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
from refruntime.ops.com_microsoft._common import FLOAT, INT, INTS, check_node

FLOATS = ("float32", "float16", "bfloat16", "float64")


class Attention(OpRun):
    def prepare(self):
        check_node(self, inputs=(2, 7), outputs=(1, 2), required_inputs=(0, 1), required_attributes=("num_heads",),
                   attributes={"num_heads": INT, "qkv_hidden_sizes": INTS, "unidirectional": INT, "scale": FLOAT,
                               "mask_filter_value": FLOAT, "do_rotary": INT, "rotary_embedding_dim": INT,
                               "past_present_share_buffer": INT})
        a = self.attributes
        heads = a["num_heads"]
        if heads <= 0:
            self.refuse(f"num_heads must be positive, got {heads}")
        sizes = a.get("qkv_hidden_sizes")
        if sizes is not None:
            if len(sizes) != 3 or min(sizes) <= 0:
                self.refuse(f"qkv_hidden_sizes must be three positive sizes (Q, K, V), got {sizes}")
            if sizes[0] != sizes[1]:
                self.refuse(f"qkv_hidden_sizes {sizes}: Q and K must have the same hidden size")
            if any(s % heads for s in sizes):
                self.refuse(f"qkv_hidden_sizes {sizes} must be multiples of num_heads={heads}")
        if a.get("unidirectional", 0) not in (0, 1):
            self.refuse(f"unidirectional must be 0 or 1, got {a['unidirectional']}")
        if a.get("do_rotary", 0):
            self.refuse("do_rotary=1 is not supported (nor by onnxruntime's CPU kernel): use MultiHeadAttention "
                        "with RotaryEmbedding")
        if a.get("past_present_share_buffer", 0) or self._input(6):
            self.refuse("past_present_share_buffer=1 / the past_sequence_length input (a preallocated KV buffer) "
                        "are not supported")
        if np.isnan(a.get("mask_filter_value", MASK_FILTER_VALUE)):
            self.refuse("mask_filter_value is NaN")

    def _input(self, index: int) -> bool:
        return index < len(self.node.input) and bool(self.node.input[index])

    def check_constants(self, constants):
        weights, bias = constants.get(1), constants.get(2)
        if weights is not None:
            problem = self._weights_problem(weights.shape, None if bias is None else bias.shape)
            if problem:
                self.refuse(problem, 1 if "weights" in problem else 2)

    def _sizes(self, columns: int):
        sizes = self.attributes.get("qkv_hidden_sizes")
        if sizes is not None:
            return tuple(sizes)
        if columns % 3 or (columns // 3) % self.attributes["num_heads"]:
            return None
        return (columns // 3,) * 3

    def _weights_problem(self, weights_shape, bias_shape) -> str | None:
        if len(weights_shape) != 2:
            return f"weights must be 2-D (input_hidden_size, Dq + Dk + Dv), got shape {list(weights_shape)}"
        columns = weights_shape[1]
        sizes = self._sizes(columns)
        heads = self.attributes["num_heads"]
        if sizes is None:
            return (f"weights has {columns} columns: without qkv_hidden_sizes they split into three equal parts, "
                    f"each a multiple of num_heads={heads}")
        if sum(sizes) != columns:
            return f"weights has {columns} columns but qkv_hidden_sizes {list(sizes)} add up to {sum(sizes)}"
        if bias_shape is not None and tuple(bias_shape) != (columns,):
            return f"bias must have shape ({columns},) like the weights' columns, got {list(bias_shape)}"
        return None

    def _run(self, x, weights, bias=None, mask_index=None, past=None, attention_bias=None,
             past_sequence_length=None, num_heads=0, qkv_hidden_sizes=None, unidirectional=0, scale=0.0,
             mask_filter_value=MASK_FILTER_VALUE, do_rotary=0, rotary_embedding_dim=0, past_present_share_buffer=0):
        if x.dtype.name not in FLOATS or weights.dtype != x.dtype:
            self.fail(f"input and weights must be float tensors of one type, got {x.dtype} and {weights.dtype}")
        if x.ndim != 3:
            self.fail(f"input must be 3-D (batch, sequence, input_hidden_size), got shape {list(x.shape)}")
        problem = self._weights_problem(weights.shape, None if bias is None else bias.shape)
        if problem:
            self.fail(problem)
        if weights.shape[0] != x.shape[2]:
            self.fail(f"input has hidden size {x.shape[2]} but weights has {weights.shape[0]} rows")
        dq, dk, dv = self._sizes(weights.shape[1])
        batch, seq, _ = x.shape
        heads = num_heads
        head = dq // heads
        dtype = compute_dtype(x.dtype)

        qkv = matmul(as_compute(x, dtype), as_compute(weights, dtype))
        if bias is not None:
            qkv += as_compute(bias, dtype)
        q = split_heads(qkv[..., :dq], heads)
        k = split_heads(qkv[..., dq:dq + dk], heads)
        v = split_heads(qkv[..., dq + dk:], heads)
        past_len = 0
        if past is not None:
            if dq != dv:
                self.fail(f"with a past state Q, K and V must have one hidden size, got {[dq, dk, dv]}")
            if past.shape[:3] != (2, batch, heads) or past.ndim != 5 or past.shape[4] != head:
                self.fail(f"past must have shape (2, {batch}, {heads}, past_sequence_length, {head}), "
                          f"got {list(past.shape)}")
            past_len = past.shape[3]
            k = np.concatenate([as_compute(past[0], dtype), k], axis=2)
            v = np.concatenate([as_compute(past[1], dtype), v], axis=2)
        total = past_len + seq

        additive = None
        if mask_index is not None:
            additive = padding_mask(self, mask_index, batch, seq, total, mask_filter_value, dtype)[:, None]
        if unidirectional:
            causal = causal_masked(seq, total, past_len)
            if additive is None:
                additive = np.zeros((1, 1, seq, total), dtype)
            additive = np.where(causal, dtype.type(mask_filter_value), additive)
        if attention_bias is not None:
            expected = (seq, total)
            if (attention_bias.ndim != 4 or attention_bias.shape[2:] != expected
                    or attention_bias.shape[0] not in (1, batch) or attention_bias.shape[1] not in (1, heads)):
                self.fail(f"attention_bias must have shape ({batch} or 1, {heads} or 1, {seq}, {total}), "
                          f"got {list(attention_bias.shape)}")
            bias_term = as_compute(attention_bias, dtype)
            additive = bias_term if additive is None else additive + bias_term

        check_alloc(self, (batch, heads, seq, total), dtype)  # the scores
        out, _, _ = attend(q, k, v, scale_or_default(scale, head), additive)
        outputs = (merge_heads(out).astype(x.dtype, copy=False),)
        if self.num_outputs > 1:
            if dk != dv:
                self.fail(f"the present output stacks K and V, which needs one hidden size, got {dk} and {dv}")
            outputs += (np.stack([k, v]).astype(x.dtype, copy=False),)
        return outputs
