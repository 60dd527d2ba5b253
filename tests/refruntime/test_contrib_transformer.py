"""The com.microsoft ops of onnxruntime's transformer optimizer, natively in refruntime.

Each op runs as a one-node model and is compared with two things: a float64 truth written here
from onnxruntime's docs/ContribOperators.md (loops over batch and head, independent of the
kernels' vectorized code), and onnxruntime's CPU kernel (parity; skipped for the ops it has only
CUDA kernels for). End to end, tiny BERT, GPT-2 (with and without past KV), ViT, a Whisper encoder,
wav2vec2 and LLaMA are built from transformers configs (random weights, never a hub download),
exported with torch.onnx.export (TorchScript, opset 17, eager attention so that the optimizer can
fuse it), optimized by onnxruntime.transformers.optimizer.optimize_model as users do (default
level, opt_level=2, ORT-only level 99, float16, MultiHeadAttention, FastGelu), and run: refruntime
must run every com.microsoft node natively and match onnxruntime and the HF module itself.

Tolerances never rely on BLAS rounding: float32 results are compared with rtol/atol, not bits.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper

from refruntime import Session
from refruntime.errors import KernelError, LimitError, ModelError

os.environ["HF_HUB_OFFLINE"] = "1"  # models come from configs; nothing may reach the hub
ort = pytest.importorskip("onnxruntime")

F32, F16 = np.float32, np.float16
TOL = {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float16": {"rtol": 1e-2, "atol": 4e-3}}
MS = "com.microsoft"


# ---------------------------------------------------------------- one-node models


def node_model(op: str, inputs: list, n_out: int = 1, domain: str = MS, out_types=None, constants=(),
               **attrs) -> onnx.ModelProto:
    """A model of one node; None inputs are absent (empty names), those at `constants` indices are
    initializers; outputs untyped unless out_types."""
    names = [f"in{i}" if v is not None else "" for i, v in enumerate(inputs)]
    while names and not names[-1]:
        names.pop()
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                    for i, (n, v) in enumerate(zip(names, inputs)) if n and i not in constants]
    initializers = [onnx.numpy_helper.from_array(inputs[i], names[i]) for i in constants]
    outs = [f"out{i}" for i in range(n_out)]
    types = out_types or [None] * n_out
    graph_outputs = [onnx.ValueInfoProto(name=o) if t is None else
                     helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.dtype(t)), None)
                     for o, t in zip(outs, types)]
    node = helper.make_node(op, names, outs, domain=domain, name=f"the_{op}", **attrs)
    graph = helper.make_graph([node], op, graph_inputs, graph_outputs, initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                             ir_version=9)


def feeds_of(model, inputs):
    return {i.name: v for i, v in zip(model.graph.input, [v for v in inputs if v is not None])}


def run_ref(op, inputs, n_out=1, domain=MS, precision="native", **attrs):
    model = node_model(op, inputs, n_out, domain, **attrs)
    session = Session(model, precision=precision)
    assert session.fallback_nodes() == []
    out = session.run(feeds_of(model, inputs))
    return list(out.values())


def run_ort(op, inputs, n_out=1, domain=MS, out_types=None, **attrs):
    model = node_model(op, inputs, n_out, domain, out_types=out_types, **attrs)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds_of(model, inputs))


def close(got, want, dtype="float32", **tol):
    tol = {**TOL[np.dtype(dtype).name], **tol}
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), **tol)


def check(op, inputs, truth, n_out=1, ort_parity=True, out_types=None, compare=None, **attrs):
    """refruntime's outputs against the float64 truth (a list, None entries skipped) and onnxruntime's."""
    got = run_ref(op, inputs, n_out, **attrs)
    dtype = next(v.dtype for v in inputs if v is not None and v.dtype.kind == "f")
    for i, (g, t) in enumerate(zip(got, truth)):
        if t is not None:
            assert g.shape == np.shape(t), (i, g.shape, np.shape(t))
            close(compare(i, g) if compare else g, compare(i, t) if compare else t, dtype)
    if ort_parity:
        theirs = run_ort(op, inputs, n_out, out_types=out_types or [dtype] * n_out, **attrs)
        for i, (g, o) in enumerate(zip(got, theirs)):
            assert g.dtype == o.dtype and g.shape == o.shape, (i, g.dtype, o.dtype, g.shape, o.shape)
            close(compare(i, g) if compare else g, compare(i, o) if compare else o, dtype)
    return got


RNG = np.random.default_rng(7)


def randn(*shape, dtype=F32, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def i32(*values):
    return np.array(values, np.int32)


# ---------------------------------------------------------------- float64 truths from the doc


def softmax64(x, extra=None):
    """Softmax of a float64 row; `extra`: one more logit in the denominator (a sink)."""
    top = x.max() if extra is None else max(x.max(), extra)
    e = np.exp(x - top)
    return e / (e.sum() + (0.0 if extra is None else np.exp(extra - top)))


def attention64(q, k, v, scale, bias=None, visible=None, softcap=0.0, sink=None):
    """out (B, N, S, Hv), scores, probabilities of heads q (B, N, S, H), k/v (B, N, T, H), row by row.
    bias: additive (broadcast to (B, N, S, T)); visible: boolean, False entries left out."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    b_, n_, s_, _ = q.shape
    t_ = k.shape[2]
    out = np.zeros((b_, n_, s_, v.shape[3]))
    scores, probs = np.zeros((b_, n_, s_, t_)), np.zeros((b_, n_, s_, t_))
    full_bias = np.broadcast_to(0.0 if bias is None else bias, (b_, n_, s_, t_))
    seen = np.broadcast_to(True if visible is None else visible, (b_, n_, s_, t_))
    for b in range(b_):
        for n in range(n_):
            for s in range(s_):
                row = scale * (k[b, n] @ q[b, n, s])
                if softcap:
                    row = softcap * np.tanh(row / softcap)
                row = row + full_bias[b, n, s]
                scores[b, n, s] = row
                keep = seen[b, n, s]
                p = np.zeros(t_)
                p[keep] = softmax64(row[keep], None if sink is None else np.broadcast_to(sink, (n_,))[n])
                probs[b, n, s] = p
                out[b, n, s] = p @ v[b, n]
    return out, scores, probs


def heads(x, n):
    b, s, d = x.shape
    return np.asarray(x, np.float64).reshape(b, s, n, d // n).transpose(0, 2, 1, 3)


def merge(x):
    b, n, s, h = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, n * h)


def mask_bias(mask, batch, seq, total, filter_value=-10000.0):
    """onnxruntime's mask_index formats as an additive (B, 1, S, T) mask: filter_value where masked."""
    masked = np.zeros((batch, seq, total), bool)
    if mask is not None:
        for b in range(batch):
            for s in range(seq):
                for t in range(total):
                    if mask.shape == (batch,):
                        masked[b, s, t] = t >= mask[b]
                    elif mask.shape == (2 * batch,):
                        masked[b, s, t] = t >= mask[b] or t < mask[batch + b]
                    elif mask.shape == (batch, total):
                        masked[b, s, t] = mask[b, t] == 0
                    else:
                        masked[b, s, t] = mask[b, s, t] == 0
    return masked


def causal(seq, total, past):
    return np.arange(total)[None, :] > past + np.arange(seq)[:, None]


def rope64(x, cos, sin, interleaved):
    """Rotary embedding of the last axis of x with cos/sin rows (..., R/2), pair by pair."""
    x = np.asarray(x, np.float64).copy()
    half = cos.shape[-1]
    y = x.copy()
    for i in range(half):
        a, b = (2 * i, 2 * i + 1) if interleaved else (i, i + half)
        y[..., a] = x[..., a] * cos[..., i] - x[..., b] * sin[..., i]
        y[..., b] = x[..., a] * sin[..., i] + x[..., b] * cos[..., i]
    return y


# ---------------------------------------------------------------- Attention

B, S, D, N = 2, 4, 16, 2


def attention_truth(x, w, bias, mask=None, past=None, attention_bias=None, num_heads=N, sizes=None,
                    unidirectional=0, scale=None):
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    qkv = x64 @ w64 + (0 if bias is None else np.asarray(bias, np.float64))
    dq, dk, _ = sizes or (w.shape[1] // 3,) * 3
    q, k, v = heads(qkv[..., :dq], num_heads), heads(qkv[..., dq:dq + dk], num_heads), heads(qkv[..., dq + dk:],
                                                                                               num_heads)
    p = 0
    if past is not None:
        p = past.shape[3]
        k, v = np.concatenate([past[0], k], 2), np.concatenate([past[1], v], 2)
    total = p + x.shape[1]
    masked = mask_bias(mask, x.shape[0], x.shape[1], total)
    if unidirectional:
        masked = masked | causal(x.shape[1], total, p)
    additive = np.where(masked, -10000.0, 0.0)[:, None]
    if attention_bias is not None:
        additive = additive + attention_bias
    out, _, _ = attention64(q, k, v, scale or 1 / np.sqrt(dq // num_heads), additive)
    return [merge(out), np.stack([k, v]) if k.shape == v.shape else None]


ATTENTION_CASES = {
    "plain": ({}, {}),
    "end_positions": ({"mask": i32(3, 2)}, {}),
    "end_and_start_positions": ({"mask": i32(3, 4, 1, 0)}, {}),
    "raw_2d_mask": ({"mask": np.array([[1, 1, 0, 1], [1, 0, 1, 1]], np.int32)}, {}),
    "raw_3d_mask": ({"mask": (RNG.random((B, S, S)) > 0.4).astype(np.int32) | np.eye(S, dtype=np.int32)}, {}),
    "unidirectional": ({}, {"unidirectional": 1}),
    "past_mask_unidirectional": ({"past": randn(2, B, N, 3, D // N),
                                  "mask": np.array([[1, 0, 1, 1, 1, 1, 1], [1] * 7], np.int32)},
                                 {"unidirectional": 1}),
    "attention_bias": ({"attention_bias": randn(1, N, S, S)}, {}),
    "scale": ({}, {"scale": 0.3}),
}


@pytest.mark.parametrize("case", list(ATTENTION_CASES))
def test_attention(case):
    extra, attrs = ATTENTION_CASES[case]
    x, w, bias = randn(B, S, D), randn(D, 3 * D, scale=0.5), randn(3 * D)
    inputs = [x, w, bias, extra.get("mask"), extra.get("past"), extra.get("attention_bias")]
    truth = attention_truth(x, w, bias, extra.get("mask"), extra.get("past"), extra.get("attention_bias"),
                            unidirectional=attrs.get("unidirectional", 0), scale=attrs.get("scale"))
    check("Attention", inputs, truth, n_out=2, num_heads=N, **attrs)


def test_attention_with_its_own_hidden_sizes_and_float16():
    x, w = randn(B, S, D), randn(D, 2 * D + 8, scale=0.5)
    truth = attention_truth(x, w, None, sizes=(D, D, 8))[:1]
    check("Attention", [x, w], truth, num_heads=N, qkv_hidden_sizes=[D, D, 8])
    h = [x.astype(F16), randn(D, 3 * D, scale=0.5).astype(F16), randn(3 * D).astype(F16)]
    check("Attention", h + [i32(3, 4)], attention_truth(*h, mask=i32(3, 4))[:1], num_heads=N)


# ---------------------------------------------------------------- MultiHeadAttention


def mha_truth(q, k, v, bias=None, mask=None, attention_bias=None, past_k=None, past_v=None, unidirectional=0,
              num_heads=N, kv_heads=False):
    d = q.shape[2]
    q64 = np.asarray(q, np.float64) + (0 if bias is None else bias[:d])
    if kv_heads:
        kh, vh = np.asarray(k, np.float64), np.asarray(v, np.float64)
    else:
        kh = heads(np.asarray(k, np.float64) + (0 if bias is None else bias[d:2 * d]), num_heads)
        vh = heads(np.asarray(v, np.float64) + (0 if bias is None else bias[2 * d:]), num_heads)
    p = 0
    if past_k is not None:
        p = past_k.shape[2]
        kh, vh = np.concatenate([past_k, kh], 2), np.concatenate([past_v, vh], 2)
    total = kh.shape[2]
    masked = mask_bias(mask, q.shape[0], q.shape[1], total)
    if unidirectional:
        masked = masked | causal(q.shape[1], total, p)
    additive = np.where(masked, -10000.0, 0.0)[:, None] + (0 if attention_bias is None else attention_bias)
    out, scores, _ = attention64(heads(q64, num_heads), kh, vh, 1 / np.sqrt(d // num_heads), additive)
    return [merge(out), kh, vh, scores]


L = 5
_Q, _K, _V, _BIAS = randn(B, S, D), randn(B, L, D), randn(B, L, D), randn(3 * D)
_PK, _PV = randn(B, N, 2, D // N), randn(B, N, 2, D // N)
MHA_CASES = {
    "cross": ([_Q, _K, _V], {}),
    "bias": ([_Q, _K, _V, _BIAS], {}),
    "key_lengths": ([_Q, _K, _V, _BIAS, i32(4, 2)], {}),
    "raw_3d_mask": ([_Q, _K, _V, None, np.ones((B, S, L), np.int32) - np.eye(S, L, 1, dtype=np.int32)], {}),
    "past_and_mask": ([_Q, _K, _V, _BIAS, np.array([[1] * 6 + [0], [0] + [1] * 6], np.int32), None, _PK, _PV], {}),
    "attention_bias": ([_Q, _K, _V, _BIAS, None, randn(B, 1, S, L + 2), _PK, _PV], {}),
    "self_causal_with_past": ([_Q, _Q * 0.5, _Q * 2, _BIAS, None, None, _PK, _PV], {"unidirectional": 1}),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multi_head_attention(case):
    inputs, attrs = MHA_CASES[case]
    inputs = inputs + [None] * (8 - len(inputs))
    truth = mha_truth(*inputs[:3], bias=inputs[3], mask=inputs[4], attention_bias=inputs[5], past_k=inputs[6],
                      past_v=inputs[7], **attrs)
    # qk: the scores the softmax reads, with the mask's -10000 in them: compared where unmasked
    unmasked = truth[3] > -1000

    def compare(i, x):
        return np.where(unmasked, x, 0) if i == 3 else x

    check("MultiHeadAttention", inputs, truth, n_out=4, num_heads=N, compare=compare, **attrs)


def test_multi_head_attention_layouts_onnxruntime_lacks_on_cpu():
    """Key/value as heads (B, N, L, H): only Q gets its bias (matches onnxruntime). Packed Q/K/V and
    packed K/V: onnxruntime's CPU kernel says "not implemented"; refruntime matches the truth."""
    kh, vh = heads(_K, N).astype(F32), heads(_V, N).astype(F32)
    check("MultiHeadAttention", [_Q, kh, vh, _BIAS], mha_truth(_Q, kh, vh, _BIAS, kv_heads=True), n_out=3, num_heads=N)
    h = D // N
    packed_kv = np.stack([_K.reshape(B, L, N, h), _V.reshape(B, L, N, h)], axis=3)
    check("MultiHeadAttention", [_Q, packed_kv, None, _BIAS], mha_truth(_Q, _K, _V, _BIAS), n_out=3,
          ort_parity=False, num_heads=N)
    packed_qkv = np.stack([_Q.reshape(B, S, N, h), (2 * _Q).reshape(B, S, N, h), (-_Q).reshape(B, S, N, h)], axis=3)
    check("MultiHeadAttention", [packed_qkv], mha_truth(_Q, 2 * _Q, -_Q), ort_parity=False, num_heads=N)


def test_multi_head_attention_causal_with_more_keys_than_queries_departs_from_onnxruntime():
    """unidirectional=1 with L > S: every query s sees keys t <= s (refruntime, the doc's rule);
    onnxruntime's CPU kernel leaves the last query unmasked."""
    got = run_ref("MultiHeadAttention", [_Q, _K, _V], num_heads=N, unidirectional=1)[0]
    close(got, mha_truth(_Q, _K, _V, unidirectional=1)[0])
    theirs = run_ort("MultiHeadAttention", [_Q, _K, _V], num_heads=N, unidirectional=1)[0]
    close(got[:, :-1], theirs[:, :-1])
    assert not np.allclose(got[:, -1], theirs[:, -1], atol=1e-3)
    unmasked = mha_truth(_Q, _K, _V)[0]
    close(theirs[:, -1], unmasked[:, -1])


# ---------------------------------------------------------------- GroupQueryAttention

NQ, NKV, H = 4, 2, 16


def gqa_truth(q, k, v, past_k, past_v, seqlens_k, total, cos=None, sin=None, position_ids=None,
              interleaved=0, attention_bias=None, head_sink=None, smooth=False, softcap=0.0, window=-1, causal_=1,
              scale=None):
    batch, seq, _ = q.shape
    total = int(np.asarray(total).reshape(-1)[0])
    qh, kh, vh = heads(q, NQ), heads(k, NKV), heads(v, NKV)
    buffer = 0 if past_k is None else past_k.shape[2]
    present_len = max(total, buffer)
    first = seq == total
    lengths = seqlens_k.astype(int) + 1
    pasts = [0 if first else int(n) - seq for n in lengths]
    if cos is not None:
        pos = np.array([[position_ids[b, s] if position_ids is not None else (s if first else pasts[b] + s)
                         for s in range(seq)] for b in range(batch)])
        c, s_ = np.asarray(cos, np.float64)[pos][:, None], np.asarray(sin, np.float64)[pos][:, None]
        qh, kh = rope64(qh, c, s_, interleaved), rope64(kh, c, s_, interleaved)
    pk, pv = np.zeros((batch, NKV, present_len, H)), np.zeros((batch, NKV, present_len, H))
    visible = np.zeros((batch, 1, seq, present_len), bool)
    for b in range(batch):
        p = pasts[b]
        if p:
            pk[b, :, :p], pv[b, :, :p] = past_k[b, :, :p], past_v[b, :, :p]
        pk[b, :, p:p + seq], pv[b, :, p:p + seq] = kh[b], vh[b]
        for s in range(seq):
            for t in range(present_len):
                ok = t < lengths[b]
                if causal_:
                    ok = ok and t <= p + s and (window <= 0 or t > p + s - window)
                visible[b, 0, s, t] = ok
    group = NQ // NKV
    bias = None
    if attention_bias is not None:
        bias = np.zeros(attention_bias.shape[:3] + (present_len,))
        bias[..., :attention_bias.shape[3]] = attention_bias
    sink = head_sink if head_sink is not None else (0.0 if smooth else None)
    out, scores, probs = attention64(qh, np.repeat(pk, group, 1), np.repeat(pv, group, 1), scale or 1 / np.sqrt(H),
                                     bias, visible, softcap, sink)
    return [merge(out), pk, pv, np.where(visible, scores, 0.0), probs], lengths


BG, SG, MAXLEN = 2, 5, 9
_q, _k, _v = randn(BG, SG, NQ * H), randn(BG, SG, NKV * H), randn(BG, SG, NKV * H)
_q1, _k1, _v1 = randn(BG, 1, NQ * H), randn(BG, 1, NKV * H), randn(BG, 1, NKV * H)
_pk, _pv = randn(BG, NKV, MAXLEN, H), randn(BG, NKV, MAXLEN, H)
_angles = np.arange(16)[:, None] * np.linspace(0.05, 1.0, H // 2)[None]
_COS, _SIN = np.cos(_angles).astype(F32), np.sin(_angles).astype(F32)
_PROMPT = [_q, _k, _v, None, None, i32(SG - 1, SG - 1), i32(SG)]
_TOKEN = [_q1, _k1, _v1, _pk, _pv, i32(6, 3), i32(7)]
GQA_CASES = {
    "prompt": (_PROMPT, {}),
    "padded_prompt": ([_q, _k, _v, None, None, i32(SG - 1, 2), i32(SG)], {}),
    "prompt_into_a_buffer": ([_q, _k, _v, np.zeros_like(_pk), np.zeros_like(_pv), i32(SG - 1, SG - 1), i32(SG)], {}),
    "token": (_TOKEN, {}),
    "token_growing_cache": ([_q1, _k1, _v1, _pk[:, :, :4], _pv[:, :, :4], i32(4, 2), i32(5)], {}),
    "prompt_chunk_after_cache": ([_q[:1, :3], _k[:1, :3], _v[:1, :3], _pk[:1], _pv[:1], i32(6), i32(7)], {}),
    "rotary_prompt": (_PROMPT + [_COS, _SIN], {"do_rotary": 1}),
    "rotary_token_interleaved": (_TOKEN + [_COS, _SIN], {"do_rotary": 1, "rotary_interleaved": 1}),
    "rotary_position_ids": (_TOKEN + [_COS, _SIN, np.array([[9], [2]], np.int64)], {"do_rotary": 1}),
    "local_window": (_PROMPT, {"local_window_size": 2}),
    "local_window_token": (_TOKEN, {"local_window_size": 3}),
    "softcap_and_attention_bias": (_PROMPT + [None, None, None, randn(BG, 1, SG, SG, scale=3)], {"softcap": 1.5}),
    "smooth_softmax": (_PROMPT, {"smooth_softmax": 1}),
    "head_sink": (_PROMPT + [None, None, None, None, randn(NQ)], {}),
    "bidirectional": (_PROMPT, {"causal": 0}),
    "scale": (_TOKEN, {"scale": 0.4}),
}


@pytest.mark.parametrize("case", list(GQA_CASES))
def test_group_query_attention(case):
    inputs, attrs = GQA_CASES[case]
    inputs = inputs + [None] * (12 - len(inputs))
    truth, lengths = gqa_truth(*inputs[:7], cos=inputs[7], sin=inputs[8], position_ids=inputs[9],
                               interleaved=attrs.get("rotary_interleaved", 0), attention_bias=inputs[10],
                               head_sink=inputs[11], smooth=attrs.get("smooth_softmax") == 1,
                               softcap=attrs.get("softcap", 0.0), window=attrs.get("local_window_size", -1),
                               causal_=attrs.get("causal", 1), scale=attrs.get("scale"))
    seq = inputs[0].shape[1]
    valid = np.arange(seq)[None, :] < lengths[:, None] if seq == inputs[6][0] else np.ones((len(lengths), seq), bool)

    def compare(i, x):  # padded query rows are unspecified by the doc
        if i == 0:
            return np.where(valid[:, :, None], x, 0)
        if i == 1 or i == 2:  # cache rows of padding, likewise
            t = np.arange(x.shape[2])
            return np.where((t[None, :] < lengths[:, None])[:, None, :, None], x, 0)
        return x

    check("GroupQueryAttention", inputs, truth[:3], n_out=3, compare=compare, num_heads=NQ, kv_num_heads=NKV,
          **attrs)


@pytest.mark.parametrize("mode", [1, 2], ids=["scores", "probabilities"])
def test_group_query_attention_qk_output(mode):
    truth, _ = gqa_truth(*_PROMPT, softcap=2.0)
    check("GroupQueryAttention", _PROMPT, truth[:3] + [truth[2 + mode]], n_out=4, num_heads=NQ, kv_num_heads=NKV,
          softcap=2.0, qk_output=mode)


def test_group_query_attention_partial_rotary_and_float16():
    hq, hk, hv = randn(1, 3, NQ * 32), randn(1, 3, NKV * 32), randn(1, 3, NKV * 32)
    cos, sin = _COS[:, :8].copy(), _SIN[:, :8].copy()  # rotary_dim 16 of head_size 32
    model = [hq, hk, hv, None, None, i32(2), i32(3), cos, sin]
    got = run_ref("GroupQueryAttention", model, num_heads=NQ, kv_num_heads=NKV, do_rotary=1)[0]
    q = rope64(heads(hq, NQ), cos[:3][None, None], sin[:3][None, None], False)
    k = rope64(heads(hk, NKV), cos[:3][None, None], sin[:3][None, None], False)
    out, _, _ = attention64(q, np.repeat(k, 2, 1), np.repeat(heads(hv, NKV), 2, 1), 1 / np.sqrt(32),
                            visible=~causal(3, 3, 0))
    close(got, merge(out))
    close(got, run_ort("GroupQueryAttention", model, num_heads=NQ, kv_num_heads=NKV, do_rotary=1)[0])
    half = [t.astype(F16) if t is not None and t.dtype == F32 else t for t in _TOKEN]
    check("GroupQueryAttention", half, gqa_truth(*half)[0][:3], n_out=3, num_heads=NQ, kv_num_heads=NKV)


def test_group_query_attention_prompt_chunks_for_a_whole_batch():
    """onnxruntime's CPU kernel takes a later prompt chunk (1 < S < total) for batch 1 only;
    refruntime for every entry (P_b = T_b - S): against the truth alone."""
    inputs = [_q[:, :3], _k[:, :3], _v[:, :3], _pk, _pv, i32(6, 4), i32(7)]
    check("GroupQueryAttention", inputs, gqa_truth(*inputs)[0][:3], n_out=3, ort_parity=False, num_heads=NQ,
          kv_num_heads=NKV)


# ---------------------------------------------------------------- RotaryEmbedding


@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("layout", ["bsd_positions", "bsd_offset", "bnsh", "partial"])
def test_rotary_embedding(layout, interleaved):
    bn, sn, nn, hn = 2, 3, 2, 16
    positions = np.array([[0, 1, 2], [7, 8, 9]], np.int64)
    cos, sin = _COS, _SIN
    attrs = {"interleaved": interleaved}
    if layout == "bnsh":
        x = randn(bn, nn, sn, hn)
        xh = x
    else:
        x = randn(bn, sn, nn * hn)
        xh = heads(x, nn)
    if layout == "bsd_offset":
        positions = np.array([4], np.int64)
    if layout == "partial":
        cos, sin = _COS[:, :4].copy(), _SIN[:, :4].copy()
        attrs.update(num_heads=nn, rotary_embedding_dim=8)
    pos = positions if positions.shape != (1,) else positions[0] + np.arange(sn)[None].repeat(bn, 0)
    y = rope64(xh, cos[pos][:, None], sin[pos][:, None], interleaved)
    truth = y if layout == "bnsh" else merge(y)
    check("RotaryEmbedding", [x, positions, cos, sin], [truth], **attrs)


# ---------------------------------------------------------------- normalizations


def layer_norm64(x, gamma, beta, eps):
    x = np.asarray(x, np.float64)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps) * gamma + (0 if beta is None else beta)
    return y, mean, 1 / np.sqrt(var + eps)


def rms_norm64(x, gamma, eps):
    x = np.asarray(x, np.float64)
    inv = 1 / np.sqrt((x ** 2).mean(-1, keepdims=True) + eps)
    return x * inv * gamma, inv


@pytest.mark.parametrize("dtype", [F32, F16])
@pytest.mark.parametrize("skip_shape", [(2, 3, 8), (1, 3, 8), (3, 8)])
def test_skip_layer_normalization(skip_shape, dtype):
    x, skip = randn(2, 3, 8, dtype=dtype) + dtype(2), randn(*skip_shape, dtype=dtype)
    gamma, beta, bias = randn(8, dtype=dtype), randn(8, dtype=dtype), randn(8, dtype=dtype)
    total = x.astype(np.float64) + skip + bias.astype(np.float64)
    y, mean, inv = layer_norm64(total, gamma.astype(np.float64), beta.astype(np.float64), 1e-5)
    check("SkipLayerNormalization", [x, skip, gamma, beta, bias], [y, mean, inv, total], n_out=4,
          out_types=[dtype, F32, F32, dtype], epsilon=1e-5)
    y2, _, _ = layer_norm64(x.astype(np.float64) + skip, gamma.astype(np.float64), None, 1e-12)
    check("SkipLayerNormalization", [x[0], skip.reshape(-1, 3, 8)[0], gamma], [y2[0]])


@pytest.mark.parametrize("dtype", [F32, F16])
def test_skip_simplified_layer_normalization(dtype):
    x, skip, gamma, bias = randn(2, 3, 8, dtype=dtype), randn(2, 3, 8, dtype=dtype), randn(8, dtype=dtype), \
        randn(8, dtype=dtype)
    total = x.astype(np.float64) + skip + bias.astype(np.float64)
    y, inv = rms_norm64(total, gamma.astype(np.float64), 1e-6)
    check("SkipSimplifiedLayerNormalization", [x, skip, gamma, bias], [y, np.zeros_like(inv), inv, total], n_out=4,
          out_types=[dtype, F32, F32, dtype], epsilon=1e-6)


def test_simplified_layer_normalization_kernel():
    """onnxruntime registers SimplifiedLayerNormalization in the *default* domain (version 1); the
    kernel lives in com_microsoft/_norm.py and is run here directly, against the truth and ORT."""
    from refruntime.ops.com_microsoft._norm import SimplifiedLayerNormalizationKernel

    x, scale = randn(2, 3, 8), randn(3, 8)
    for axis, sc, out_type in ((-1, scale[0], F32), (1, scale, F32), (-1, scale[0].astype(F16), F16)):
        node = helper.make_node("SimplifiedLayerNormalization", ["x", "s"], ["y", "inv"], axis=axis, epsilon=1e-5)
        got = SimplifiedLayerNormalizationKernel(node, 1).run(x, sc)
        rows = x.astype(np.float64).reshape(2, -1) if axis == 1 else x.astype(np.float64)
        y, inv = rms_norm64(rows, 1.0, 1e-5)
        assert got[0].dtype == out_type
        close(got[0], y.reshape(x.shape) * sc.astype(np.float64), out_type)
        close(got[1], inv.reshape((2, 1, 1) if axis == 1 else (2, 3, 1)))
        theirs = run_ort("SimplifiedLayerNormalization", [x, sc], n_out=2, domain="", out_types=[out_type, F32],
                         axis=axis, epsilon=1e-5)
        close(got[0], theirs[0], out_type)
        close(got[1], theirs[1])


def test_simplified_layer_normalization_is_registered_in_the_default_domain():
    x, scale = randn(2, 3, 8), randn(8)
    got = run_ref("SimplifiedLayerNormalization", [x, scale], domain="")[0]
    close(got, rms_norm64(x, scale, 1e-5)[0])


def test_embed_layer_normalization():
    vocab, hidden = 20, 8
    ids, segments = RNG.integers(0, vocab, (2, 5)).astype(np.int32), RNG.integers(0, 2, (2, 5)).astype(np.int32)
    words, positions, types = randn(vocab, hidden), randn(12, hidden), randn(2, hidden)
    gamma, beta = randn(hidden), randn(hidden)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32)
    for position_ids in (None, np.array([[4, 3, 2, 1, 0]], np.int32), RNG.integers(0, 12, (2, 5)).astype(np.int32)):
        pos = np.arange(5)[None] if position_ids is None else position_ids
        total = words[ids].astype(np.float64) + positions[pos] + types[segments]
        y, _, _ = layer_norm64(total, gamma, beta, 1e-12)
        inputs = [ids, segments, words, positions, types, gamma, beta, mask, position_ids]
        check("EmbedLayerNormalization", inputs, [y, i32(3, 5), total], n_out=3, out_types=[F32, np.int32, F32])
    total = words[ids].astype(np.float64) + positions[:5]
    check("EmbedLayerNormalization", [ids, None, words, positions, None, gamma, beta],
          [layer_norm64(total, gamma, beta, 1e-5)[0], i32(0, 0)], n_out=2, out_types=[F32, np.int32], epsilon=1e-5)
    with pytest.raises(KernelError, match=r"input_ids range over .* but the table has 20 rows"):
        run_ref("EmbedLayerNormalization", [ids + 15, None, words, positions, None, gamma, beta])


# ---------------------------------------------------------------- activations, matmuls


def erf_gelu64(x):
    from scipy.special import erf

    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def tanh_gelu64(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


@pytest.mark.parametrize("dtype", [F32, F16])
def test_gelu_family(dtype):
    x, bias = randn(2, 3, 8, dtype=dtype, scale=2), randn(8, dtype=dtype)
    x64, b64 = x.astype(np.float64), bias.astype(np.float64)
    check("Gelu", [x], [erf_gelu64(x64)])
    check("BiasGelu", [x, bias], [erf_gelu64(x64 + b64)])
    check("FastGelu", [x], [tanh_gelu64(x64)])
    check("FastGelu", [x, bias], [tanh_gelu64(x64 + b64)])
    check("QuickGelu", [x], [x64 / (1 + np.exp(-1.702 * x64))])
    check("QuickGelu", [x], [x64 / (1 + np.exp(-0.5 * x64))], alpha=0.5)
    # CUDA-only in onnxruntime: the truth alone
    skip = randn(2, 3, 8, dtype=dtype)
    check("BiasAdd", [x, bias, skip], [x64 + b64 + skip], ort_parity=False)
    h = x64 + b64
    check("BiasSplitGelu", [x, bias], [h[..., :4] * erf_gelu64(h[..., 4:])], ort_parity=False)


FUSED_MATMUL_CASES = [
    ((2, 3, 4, 5), (3, 4, 5, 6), {"transBatchA": 1}),
    ((2, 3, 4, 5), (6, 3, 4, 5), {"transBatchA": 1, "transBatchB": 1, "transB": 1, "alpha": 0.5}),
    ((3, 5, 4), (5, 6), {"transA": 1, "alpha": 2.0}),
    ((1, 3, 4, 5), (2, 1, 6, 5), {"transB": 1}),
    ((4, 3, 5), (3, 5, 6), {"transBatchA": 1}),
    ((3, 4, 5), (5,), {}),
]


@pytest.mark.parametrize("a_shape, b_shape, attrs", FUSED_MATMUL_CASES)
def test_fused_mat_mul(a_shape, b_shape, attrs):
    a, b = randn(*a_shape), randn(*b_shape)

    def prime(x, batch, trans):
        x = np.asarray(x, np.float64)
        if batch and x.ndim >= 3:
            x = x.transpose(tuple(range(1, x.ndim - 1)) + (0, x.ndim - 1))
        return np.swapaxes(x, -1, -2) if trans else x

    truth = attrs.get("alpha", 1.0) * np.matmul(prime(a, attrs.get("transBatchA"), attrs.get("transA")),
                                                prime(b, attrs.get("transBatchB"), attrs.get("transB")))
    check("FusedMatMul", [a, b], [truth], **attrs)


@pytest.mark.parametrize("activation, params", [
    ("Relu", {}), ("Tanh", {}), ("Sigmoid", {}), ("LeakyRelu", {"activation_alpha": 0.2}),
    ("HardSigmoid", {"activation_alpha": 0.3, "activation_beta": 0.4}), ("Elu", {"activation_alpha": 0.7}),
    ("Selu", {"activation_alpha": 1.5, "activation_gamma": 1.1}), ("Softplus", {}), ("Softsign", {}),
    ("ThresholdedRelu", {"activation_alpha": 0.5}), ("ScaledTanh", {"activation_alpha": 2.0, "activation_beta": 0.5}),
])
def test_fused_gemm(activation, params):
    a, b, c = randn(3, 4), randn(5, 4), randn(5)
    y = 0.7 * a.astype(np.float64) @ b.T.astype(np.float64) + 0.5 * c
    al, be, ga = (params.get(f"activation_{k}") for k in ("alpha", "beta", "gamma"))
    truth = {"Relu": lambda: np.maximum(y, 0), "Tanh": lambda: np.tanh(y), "Sigmoid": lambda: 1 / (1 + np.exp(-y)),
             "LeakyRelu": lambda: np.where(y >= 0, y, al * y), "HardSigmoid": lambda: np.clip(al * y + be, 0, 1),
             "Elu": lambda: np.where(y >= 0, y, al * (np.exp(y) - 1)),
             "Selu": lambda: ga * np.where(y > 0, y, al * (np.exp(y) - 1)), "Softplus": lambda: np.log1p(np.exp(y)),
             "Softsign": lambda: y / (1 + abs(y)), "ThresholdedRelu": lambda: np.where(y > al, y, 0),
             "ScaledTanh": lambda: al * np.tanh(be * y)}[activation]()
    check("FusedGemm", [a, b, c], [truth], alpha=0.7, beta=0.5, transB=1, activation=activation, **params)


def test_gemm_fast_gelu():
    """CUDA-only in onnxruntime (the optimizer's enable_gemm_fast_gelu): the truth alone."""
    x, w, bias = randn(2, 3, 8), randn(8, 6), randn(6)
    truth = tanh_gelu64(x.astype(np.float64) @ w.astype(np.float64) + bias)
    check("GemmFastGelu", [x, w, bias], [truth], ort_parity=False)
    check("GemmFastGelu", [x, w], [tanh_gelu64(x.astype(np.float64) @ w.astype(np.float64))], ort_parity=False)


def test_the_float64_oracle_runs_the_contrib_ops_in_float64():
    x, w, bias = randn(B, S, D), randn(D, 3 * D, scale=0.5), randn(3 * D)
    got = run_ref("Attention", [x, w, bias, i32(3, 4)], precision="float64", num_heads=N)[0]
    assert got.dtype == np.float64
    close(got, attention_truth(x, w, bias, i32(3, 4))[0], rtol=1e-12, atol=1e-12)
    y = run_ref("SkipLayerNormalization", [x, x, bias[:D]], precision="float64")[0]
    np.testing.assert_allclose(y, layer_norm64(2.0 * x, bias[:D], None, 1e-12)[0], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- malformed nodes


def _refused(op, inputs, n_out=1, constants=(), **attrs):
    with pytest.raises(ModelError, match=rf"node 'the_{op}' \({op}\)"):
        Session(node_model(op, inputs, n_out, constants=constants, **attrs))


def test_malformed_nodes_are_refused_naming_the_node():
    x, w = randn(B, S, D), randn(D, 3 * D)
    _refused("Attention", [x, w], constants=(1,), num_heads=3)           # 48 columns: 16 per part, not / 3
    _refused("Attention", [x, w])                                        # num_heads missing
    _refused("Attention", [x, w], num_heads=N, do_rotary=1)
    _refused("Attention", [x, w], num_heads=N, qkv_hidden_sizes=[D, 8, D])
    _refused("Attention", [x, w], num_heads=N, unknown=1)
    _refused("MultiHeadAttention", [x, x, x], num_heads=0)
    _refused("GroupQueryAttention", [_q, _k, _v, None, None, i32(4, 4), i32(5)], num_heads=3, kv_num_heads=2)
    _refused("GroupQueryAttention", [_q, _k, _v, None, None, i32(4, 4), i32(5)], num_heads=4, kv_num_heads=2,
             k_quant_type="PER_TENSOR")
    _refused("GroupQueryAttention", [_q, _k, _v, None, None, i32(4, 4), i32(5)], num_heads=4, kv_num_heads=2,
             causal=0, local_window_size=2)
    _refused("RotaryEmbedding", [x, np.array([0], np.int64), _COS, _SIN], rotary_embedding_dim=8)
    _refused("SkipLayerNormalization", [x])                               # 1 input of 3..5
    _refused("FusedGemm", [x[0], w], activation="Swish")
    _refused("SkipLayerNormalization", [x, x, randn(D), randn(D + 1)], constants=(2, 3))
    with pytest.raises(ModelError, match=r"input 1 'in1': weights has 49 columns"):
        Session(node_model("Attention", [x, randn(D, 3 * D + 1)], constants=(1,), num_heads=N))


def test_run_time_shape_problems_are_kernel_errors():
    x, w = randn(B, S, D), randn(D, 3 * D)
    with pytest.raises(KernelError, match=r"CUDA-only formats"):
        run_ref("Attention", [x, w, None, np.ones((B, 1, S, S), np.int32)], num_heads=N)
    with pytest.raises(KernelError, match=r"seqlens_k"):
        run_ref("GroupQueryAttention", [_q, _k, _v, None, None, i32(9, 4), i32(5)], num_heads=NQ, kv_num_heads=NKV)
    with pytest.raises(LimitError, match=r"GroupQueryAttention.*above max_tensor_bytes"):  # a fed total length
        run_ref("GroupQueryAttention", [_q, _k, _v, None, None, i32(4, 4), i32(2 ** 30)], num_heads=NQ,
                kv_num_heads=NKV)
    with pytest.raises(KernelError, match=r"position ids range over \[17, 20\] but the cos/sin caches have 16"):
        run_ref("RotaryEmbedding", [x, np.array([17], np.int64), _COS, _SIN])


# ---------------------------------------------------------------- end to end: the optimizer's output

try:
    import torch
    import transformers
except ImportError:  # the dev extras: without them only the end-to-end tests are skipped
    torch = transformers = None


class Outputs(torch.nn.Module if torch is not None else object):
    """An HF model fed positional tensors (named like the ONNX inputs), returning a tuple; with
    `layers`, the trailing inputs are past keys/values (a DynamicCache) and the present ones are
    returned after the hidden state."""

    def __init__(self, model, input_names, output_keys, layers=0):
        super().__init__()
        self.model, self.input_names, self.output_keys, self.layers = model, input_names, output_keys, layers

    def forward(self, *inputs):
        named = dict(zip(self.input_names, inputs[:len(self.input_names)]))
        if not self.layers:
            out = self.model(**named)
            return tuple(out[k] for k in self.output_keys)
        from transformers.cache_utils import DynamicCache

        cache = DynamicCache()
        past = inputs[len(self.input_names):]
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        import inspect

        # transformers 5.x renamed past_key_values to cache (4.x has only the old name)
        name = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        out = self.model(**named, **{name: cache}, use_cache=True)
        present = [t for layer in getattr(out, name).layers for t in (layer.keys, layer.values)]
        return (out.last_hidden_state, *present)


def _text(rng, batch, seq, past=0):
    """input_ids and attention_mask: the last sequence right-padded by two (BERT), or, with a
    past, two positions of its history masked (GPT-2, LLaMA)."""
    mask = np.ones((batch, past + seq), np.int64)
    if past:
        mask[-1, :2] = 0
    else:
        mask[-1, -2:] = 0
    return {"input_ids": rng.integers(0, 100, (batch, seq)).astype(np.int64), "attention_mask": mask}


def _pasts(rng, feeds, layers, batch, heads_, past, head):
    for i in range(layers):
        for kind in "kv":
            feeds[f"past_{kind}_{i}"] = rng.standard_normal((batch, heads_, past, head)).astype(np.float32)
    return feeds


def _bert():
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64, initializer_range=0.3,
                                     attn_implementation="eager")
    return (transformers.BertModel(config), ["last_hidden_state", "pooler_output"], 0,
            lambda rng, batch, seq: _text(rng, batch, seq))


def _gpt2(past=False):
    config = transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                     use_cache=past, initializer_range=0.3, attn_implementation="eager")

    def feeds(rng, batch, seq):
        if not past:
            return _text(rng, batch, seq)
        return _pasts(rng, _text(rng, batch, seq, seq - 1), 2, batch, 2, seq - 1, 16)
    return transformers.GPT2Model(config), ["last_hidden_state"], 2 if past else 0, feeds


def _vit():
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    image_size=32, patch_size=8, num_channels=3, initializer_range=0.3,
                                    attn_implementation="eager")
    return (transformers.ViTModel(config), ["last_hidden_state", "pooler_output"], 0,
            lambda rng, batch, _: {"pixel_values": rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)})


def _whisper_encoder():
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = transformers.WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                                        decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
                                        num_mel_bins=16, max_source_positions=20, vocab_size=100, pad_token_id=0,
                                        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, init_std=0.3,
                                        attn_implementation="eager")
    # the encoder wants exactly 2 * max_source_positions frames
    return (WhisperEncoder(config), ["last_hidden_state"], 0,
            lambda rng, batch, _: {"input_features": rng.standard_normal((batch, 16, 40)).astype(np.float32)})


def _wav2vec2():
    config = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 2),
                                         conv_kernel=(10, 3), num_conv_pos_embeddings=8,
                                         num_conv_pos_embedding_groups=4, vocab_size=100, initializer_range=0.3,
                                         attn_implementation="eager")
    return (transformers.Wav2Vec2Model(config), ["last_hidden_state", "extract_features"], 0,
            lambda rng, batch, seq: {"input_values": rng.standard_normal((batch, 80 * seq)).astype(np.float32)})


def _llama():
    config = transformers.LlamaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, head_dim=8, intermediate_size=64,
                                      max_position_embeddings=64, initializer_range=0.3, attn_implementation="eager")
    return (transformers.LlamaModel(config), ["last_hidden_state"], 2,
            lambda rng, batch, seq: _pasts(rng, _text(rng, batch, seq, seq - 1), 2, batch, 2, seq - 1, 8))


#: family -> (builder, optimizer model_type, the com.microsoft ops its default optimization must emit)
FAMILIES = {
    "bert": (_bert, "bert", {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu"}),
    "gpt2": (_gpt2, "gpt2", {"SkipLayerNormalization", "FastGelu"}),
    "gpt2_past": (lambda: _gpt2(past=True), "gpt2", {"SkipLayerNormalization", "FastGelu"}),
    "vit": (_vit, "vit", {"SkipLayerNormalization", "BiasGelu"}),
    "whisper_encoder": (_whisper_encoder, "bart", {"Attention", "SkipLayerNormalization", "BiasGelu", "Gelu"}),
    "wav2vec2": (_wav2vec2, "bert", {"SkipLayerNormalization", "BiasGelu", "Gelu"}),
    "llama": (_llama, "qwen3", {"SkipSimplifiedLayerNormalization"}),
}

#: variant -> (optimize_model keyword arguments, FusionOptions fields, float16, {op it must emit
#: instead of the default's: its replacement}); ort_only_99 is onnxruntime's own level-99 fusions alone
VARIANTS = {
    "default": ({}, {}, False, {}),
    "opt_level2": ({"opt_level": 2}, {}, False, {}),
    "ort_only_99": ({"opt_level": 99, "only_onnxruntime": True}, {}, False, None),
    "float16": ({}, {}, True, {}),
    "multi_head_attention": ({}, {"use_multi_head_attention": True}, False, {"Attention": "MultiHeadAttention"}),
    "gelu_approximation": ({}, {"enable_gelu_approximation": True}, False, {"BiasGelu": "FastGelu"}),
}

CASES = [("bert", v) for v in VARIANTS] + [
    ("gpt2", "default"), ("gpt2", "ort_only_99"), ("gpt2", "float16"), ("gpt2_past", "default"),
    ("vit", "default"), ("vit", "float16"), ("vit", "gelu_approximation"),
    ("whisper_encoder", "default"), ("whisper_encoder", "float16"), ("wav2vec2", "default"),
    ("wav2vec2", "ort_only_99"), ("llama", "default"),
]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """family -> (module, path of the TorchScript export, feeds of other sizes than the export's);
    each family exported once."""
    folder, made = tmp_path_factory.mktemp("contrib_exports"), {}

    def get(family):
        if family not in made:
            torch.manual_seed(0)
            build, _, _ = FAMILIES[family]
            model, keys, layers, make_feeds = build()
            example = make_feeds(np.random.default_rng(0), 2, 7)
            names = [n for n in example if not n.startswith("past_")]
            module = Outputs(model.eval(), names, keys, layers).eval()
            outputs = [f"out_{k}" for k in keys] + [f"present_{k}_{i}" for i in range(layers) for k in "kv"]
            axes = {n: {0: "batch", 1: "sequence"} for n in example}
            axes.update({n: {0: "batch", 2: "past"} for n in example if n.startswith("past_")})
            axes.update({n: {0: "batch", 2: "total"} for n in outputs[len(keys):]})
            if family in ("vit", "whisper_encoder"):
                axes = {n: {0: "batch"} for n in example}
            path = str(folder / f"{family}.onnx")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, tuple(torch.from_numpy(v) for v in example.values()), path,
                                  input_names=list(example), output_names=outputs, dynamic_axes=axes,
                                  opset_version=17, dynamo=False)
            made[family] = (module, path, make_feeds(np.random.default_rng(1), 3, 5))
        return made[family]
    return get


def _optimize(path, family, variant, folder):
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    _, model_type, _ = FAMILIES[family]
    kwargs, fields, half, _ = VARIANTS[variant]
    options = FusionOptions(model_type)
    for name, value in fields.items():
        setattr(options, name, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = optimize_model(path, model_type=model_type, num_heads=2, hidden_size=32,
                                   optimization_options=options, **kwargs)
        if half:
            optimized.convert_float_to_float16(keep_io_types=True)
    out = str(folder / f"{family}_{variant}.onnx")
    optimized.save_model_to_file(out)
    return out


@pytest.mark.skipif(transformers is None, reason="needs torch and transformers (the dev extras)")
@pytest.mark.parametrize("family, variant", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_optimized_model_runs_natively_and_matches(exports, tmp_path, family, variant):
    module, path, feeds = exports(family)
    optimized = _optimize(path, family, variant, tmp_path)
    model = onnx.load(optimized)
    emitted = {n.op_type for n in model.graph.node if n.domain == MS}
    replaced = VARIANTS[variant][3]
    expected = {"FusedMatMul"} if replaced is None else {replaced.get(op, op) for op in FAMILIES[family][2]}
    assert expected <= emitted, sorted(emitted)
    session = Session(optimized)
    by_label = {n.name: n for n in model.graph.node}
    assert [label for label in session.fallback_nodes() if by_label.get(label) is not None
            and by_label[label].domain == MS] == []
    got = session.run(feeds)
    got = list(got.values())[:len(module.output_keys) + 2 * module.layers]
    theirs = ort.InferenceSession(optimized, providers=["CPUExecutionProvider"]).run(None, feeds)
    with torch.no_grad():
        truth = [t.numpy() for t in module(*(torch.from_numpy(v) for v in feeds.values()))]
    half = VARIANTS[variant][2]
    # fp32: rtol 1e-4 / atol 1e-5 against ORT; float16 (both runtimes round every op's output to
    # float16, ORT keeps some in float32 between ops): a few float16 ulps of values up to ~8
    ort_tol = {"rtol": 1e-2, "atol": 3e-2} if half else {"rtol": 1e-4, "atol": 1e-5}
    module_tol = {"rtol": 1e-2, "atol": 3e-2} if half else {"rtol": 1e-3, "atol": 1e-4}
    if variant == "gelu_approximation":  # the tanh form departs from the module's erf Gelu by ~1e-3
        module_tol = {"rtol": 1e-2, "atol": 5e-3}
    if variant == "default":  # the float64 oracle runs the contrib kernels in float64 too
        oracle = list(Session(optimized, precision="float64").run(feeds).values())
        got_oracle = dict(zip([o.name for o in model.graph.output], oracle))
        for name, t in zip(got_oracle, truth):
            assert got_oracle[name].dtype == np.float64
            np.testing.assert_allclose(got_oracle[name], t.astype(np.float64), err_msg=f"{name}: oracle vs the HF "
                                       "module", **module_tol)
    for name, g, o, t in zip([o.name for o in model.graph.output], got, theirs, truth):
        assert g.shape == o.shape == t.shape, name
        np.testing.assert_allclose(g.astype(np.float64), o.astype(np.float64), err_msg=f"{name} vs onnxruntime",
                                   **ort_tol)
        np.testing.assert_allclose(g.astype(np.float64), t.astype(np.float64), err_msg=f"{name} vs the HF module",
                                   **module_tol)
