"""Native kernels for what transformer exports emit, each against an independent truth.

Ops: LayerNormalization, RMSNormalization, GroupNormalization (18 and 21), InstanceNormalization,
Gelu, Attention (23/24/25), RotaryEmbedding, GatherND, ScatterND, ScatterElements, Trilu, CumSum.
The truth is a float64 formula written here from the spec, or torch.nn.functional in float64;
never refruntime or onnx.reference. Every node runs with fallback disabled. float16/bfloat16 cases
check per-op rounding: the output is within 1 ulp of the float64 formula rounded to the type.

Then tiny BERT, GPT-2 (with and without KV cache), ViT, Whisper encoder and wav2vec2, built from
`transformers` configs with random weights (never a hub download), exported by both torch
exporters, must run with no fallback node and match the transformers module. No comparison is
tighter than float32 summation-order noise, so no test depends on the machine's BLAS.
"""
from __future__ import annotations

import inspect
import math
import os
import warnings

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import KernelError, ModelError, Session

torch = pytest.importorskip("torch")
F = torch.nn.functional
BF16 = np.dtype(ml_dtypes.bfloat16)


def run_node(op_type, inputs, attrs=None, opset=23, outputs=("y",), name="node", declare_shapes=True):
    """Run one node through refruntime with fallback disabled. inputs: arrays, None = omitted
    optional input; outputs: names, "" = omitted optional output. declare_shapes=False declares
    the inputs without shapes (inconsistent shapes then fail at run time, not at the strict check)."""
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    node = helper.make_node(op_type, names, list(outputs), name=name, **(attrs or {}))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape if declare_shapes else None)
         for n, a in zip(names, inputs) if a is not None],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs if o])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    session = Session(model, allow_fallback=False)
    result = session.run({n: a for n, a in zip(names, inputs) if a is not None})
    got = [result[o] for o in outputs if o]
    return got if len(got) > 1 else got[0]


def close(got, expected, atol=1e-5, rtol=1e-5):
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), atol=atol, rtol=rtol)


def ulps(got, truth):
    """|got - round(truth)| in ulps of got's narrow float type, at round(truth)."""
    dtype = got.dtype
    rounded = truth.astype(dtype)
    if dtype == BF16:  # bfloat16 keeps float32's exponent: 16 fewer mantissa bits
        spacing = np.spacing(np.abs(rounded.astype(np.float32))).astype(np.float64) * 65536
    else:
        spacing = np.spacing(np.abs(rounded)).astype(np.float64)
    return np.abs(got.astype(np.float64) - rounded.astype(np.float64)) / spacing


def assert_rounded_once(got, truth, dtype):
    assert got.dtype == dtype, f"dtype {got.dtype} != {dtype}"
    worst = ulps(got, truth).max()
    assert worst <= 1, f"{worst} ulps from the float64 formula rounded to {dtype}"


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


RNG = np.random.default_rng(20)


def randn(*shape, dtype=np.float32, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


# ---------------------------------------------------------------- LayerNormalization


def layer_norm64(x, scale, bias, axis, eps):
    x = x.astype(np.float64)
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps) * scale.astype(np.float64)
    return (y + bias.astype(np.float64) if bias is not None else y), mean, 1 / np.sqrt(var + eps)


@pytest.mark.parametrize("shape,axis", [((2, 5, 16), -1), ((3, 4, 6), 1), ((2, 3, 4, 5), -2), ((7, 33), 0)])
def test_layer_normalization_matches_torch_and_the_formula(shape, axis):
    x = randn(*shape, scale=3) + 2
    norm = shape[axis % len(shape):]
    scale, bias = randn(*norm), randn(*norm)
    y, mean, inv = run_node("LayerNormalization", [x, scale, bias], {"axis": axis, "epsilon": 1e-3}, opset=17,
                            outputs=("y", "mean", "inv"))
    expected = F.layer_norm(t64(x), norm, t64(scale), t64(bias), eps=1e-3).numpy()
    close(y, expected)
    y64, mean64, inv64 = layer_norm64(x, scale, bias, axis, 1e-3)
    close(y, y64)
    assert mean.dtype == inv.dtype == np.float32  # stash_type=1: FLOAT
    close(mean, mean64)
    close(inv, inv64)


def test_layer_normalization_broadcasts_scale_unidirectionally_and_bias_is_optional():
    x = randn(2, 3, 4)
    scale = randn(3, 1)  # broadcasts to the (3, 4) normalized block
    y = run_node("LayerNormalization", [x, scale], {"axis": 1}, opset=17)
    close(y, layer_norm64(x, scale, None, 1, 1e-5)[0])
    with pytest.raises(KernelError, match=r"'ln'.*Scale of shape \(5,\)"):
        run_node("LayerNormalization", [x, randn(5)], name="ln", opset=17, declare_shapes=False)


@pytest.mark.parametrize("dtype", [np.float16, BF16], ids=["fp16", "bf16"])
def test_layer_normalization_narrow_floats_round_once(dtype):
    x, scale, bias = randn(4, 64, scale=4).astype(dtype), randn(64).astype(dtype), randn(64).astype(dtype)
    y, mean = run_node("LayerNormalization", [x, scale, bias], opset=17, outputs=("y", "mean"))
    assert_rounded_once(y, layer_norm64(x, scale, bias, -1, 1e-5)[0], dtype)
    assert mean.dtype == np.float32  # the type stash_type names, not X's (onnx.reference returns X's)


def test_layer_normalization_refuses_a_narrow_stash_type_at_plan_time():
    with pytest.raises(ModelError, match=r"'ln'.*stash_type=16"):
        run_node("LayerNormalization", [randn(2, 4), randn(4)], {"stash_type": 16}, name="ln", opset=17)


# ---------------------------------------------------------------- RMSNormalization


def test_rms_normalization_matches_torch_and_the_formula():
    x, scale = randn(3, 5, 12, scale=2), randn(12)
    y = run_node("RMSNormalization", [x, scale], {"epsilon": 1e-4})
    close(y, F.rms_norm(t64(x), (12,), t64(scale), eps=1e-4).numpy())
    x64 = x.astype(np.float64)
    y2 = run_node("RMSNormalization", [x, randn(5, 12)], {"axis": 1})
    assert y2.shape == x.shape
    scale2 = randn(5, 12)
    y2 = run_node("RMSNormalization", [x, scale2], {"axis": -2})
    close(y2, x64 / np.sqrt((x64 ** 2).mean(axis=(1, 2), keepdims=True) + 1e-5) * scale2)


def test_rms_normalization_fp16_rounds_once():
    x, scale = randn(4, 32, scale=3).astype(np.float16), randn(32).astype(np.float16)
    y = run_node("RMSNormalization", [x, scale])
    x64 = x.astype(np.float64)
    truth = x64 / np.sqrt((x64 ** 2).mean(axis=-1, keepdims=True) + 1e-5) * scale.astype(np.float64)
    assert_rounded_once(y, truth, np.float16)


# ---------------------------------------------------------------- GroupNormalization / InstanceNormalization


def group_standardize64(x, groups, eps):
    g = x.astype(np.float64).reshape(x.shape[0], groups, -1)
    g = (g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + eps)
    return g.reshape(x.shape)


def test_group_normalization_21_is_per_channel_like_torch():
    x, scale, bias = randn(2, 6, 5, 3, scale=2), randn(6), randn(6)
    y = run_node("GroupNormalization", [x, scale, bias], {"num_groups": 3, "epsilon": 1e-3}, opset=21)
    close(y, F.group_norm(t64(x), 3, t64(scale), t64(bias), eps=1e-3).numpy())


def test_group_normalization_18_scales_per_group():
    x, scale, bias = randn(2, 6, 7, scale=2), randn(3), randn(3)
    y = run_node("GroupNormalization", [x, scale, bias], {"num_groups": 3}, opset=18)
    per_channel = (1, -1, 1)
    expected = (group_standardize64(x, 3, 1e-5) * np.repeat(scale, 2).reshape(per_channel)
                + np.repeat(bias, 2).reshape(per_channel))
    close(y, expected)
    # the same parameters per channel are an opset-21 model (the semantics changed)
    y21 = run_node("GroupNormalization", [x, np.repeat(scale, 2), np.repeat(bias, 2)], {"num_groups": 3}, opset=21)
    close(y21, expected)
    with pytest.raises(KernelError, match=r"'gn'.*expected \(3,\).*group"):
        run_node("GroupNormalization", [x, randn(6), randn(6)], {"num_groups": 3}, opset=18, name="gn",
                 declare_shapes=False)


def test_group_normalization_checks_groups_and_rounds_fp16_once():
    x = randn(2, 6, 4)
    with pytest.raises(KernelError, match=r"'gn'.*num_groups=4 does not divide the 6 channels"):
        run_node("GroupNormalization", [x, randn(6), randn(6)], {"num_groups": 4}, opset=21, name="gn")
    x16, s16, b16 = (a.astype(np.float16) for a in (randn(2, 8, 9, scale=5), randn(8), randn(8)))
    y = run_node("GroupNormalization", [x16, s16, b16], {"num_groups": 2}, opset=21)
    truth = group_standardize64(x16, 2, 1e-5) * s16.astype(np.float64)[:, None] + b16.astype(np.float64)[:, None]
    assert_rounded_once(y, truth, np.float16)


@pytest.mark.parametrize("opset", [1, 6, 22])
def test_instance_normalization_matches_torch(opset):
    x, scale, bias = randn(2, 3, 4, 5, scale=3), randn(3), randn(3)
    y = run_node("InstanceNormalization", [x, scale, bias], {"epsilon": 1e-4}, opset=opset)
    close(y, F.instance_norm(t64(x), weight=t64(scale), bias=t64(bias), eps=1e-4).numpy())


def test_instance_normalization_fp16_and_rank_check():
    x16 = randn(2, 4, 50, scale=10).astype(np.float16)
    scale, bias = randn(4).astype(np.float16), randn(4).astype(np.float16)
    y = run_node("InstanceNormalization", [x16, scale, bias], opset=6)
    truth = F.instance_norm(t64(x16), weight=t64(scale), bias=t64(bias), eps=1e-5).numpy()
    assert_rounded_once(y, truth, np.float16)
    with pytest.raises(KernelError, match=r"'inorm'.*at least one spatial axis"):
        run_node("InstanceNormalization", [randn(2, 4), randn(4), randn(4)], opset=6, name="inorm")


# ---------------------------------------------------------------- Gelu


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch_and_the_formula(approximate):
    x = np.concatenate([randn(200, scale=3), np.array([0, -0.0, 30, -30, 1e-20, np.inf, -np.inf], np.float32)])
    y = run_node("Gelu", [x], {"approximate": approximate}, opset=20)
    x64 = x.astype(np.float64)
    close(y, F.gelu(t64(x), approximate=approximate).numpy(), atol=1e-7, rtol=1e-6)
    with np.errstate(invalid="ignore", over="ignore"):
        if approximate == "none":
            formula = 0.5 * x64 * (1 + np.vectorize(math.erf)(x64 / math.sqrt(2)))
        else:
            formula = 0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
    finite = np.isfinite(x64)
    close(y[finite], formula[finite], atol=1e-7, rtol=1e-6)
    assert y[-2] == np.inf and np.isnan(y[-1])  # -inf * (1 + erf(-inf)) = -inf * 0, as torch says too


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float16, BF16], ids=["fp16", "bf16"])
def test_gelu_narrow_floats_round_once_even_where_one_plus_erf_cancels(dtype, approximate):
    # x down to -9: the spec's literal 1 + erf(x / sqrt(2)) loses every digit in float32 below ~-4
    x = np.linspace(-9, 6, 601).astype(dtype)
    y = run_node("Gelu", [x], {"approximate": approximate}, opset=20)
    # the truth in float64 through the same exact identities (float64's 1 + erf cancels too: torch's
    # float64 gelu(-9) is 0, while bfloat16 can hold the true -9e-19)
    if approximate == "none":
        truth = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)]
    else:
        truth = [v / (1 + math.exp(-2 * math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))) for v in x.astype(np.float64)]
    assert_rounded_once(y, np.array(truth), dtype)


def test_gelu_refuses_an_unknown_approximation():
    with pytest.raises(ModelError, match=r"'g'.*approximate"):
        run_node("Gelu", [randn(3)], {"approximate": "fast"}, opset=20, name="g")


# ---------------------------------------------------------------- Attention


def attention64(q, k, v, mask=None, is_causal=False, past_k=None, past_v=None, scale=None, softcap=0.0,
                nonpad=None, left=-1, right=-1, pad_mask=False):
    """The spec, one query row at a time in float64. q/k/v 4-D. Returns (Y, {mode: qk_matmul_output})."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    past = 0
    if past_k is not None:
        past = past_k.shape[2]
        k, v = np.concatenate([past_k, k], axis=2).astype(np.float64), np.concatenate([past_v, v], axis=2).astype(np.float64)
    batch, hq, sq, d = q.shape
    hkv, total = k.shape[1], k.shape[2]
    scale = 1 / math.sqrt(d) if scale is None else scale
    if mask is not None and pad_mask and mask.shape[-1] < total:  # opset 24: a short mask is padded with -inf/False
        fill = False if mask.dtype == bool else -np.inf
        mask = np.concatenate([mask, np.full(mask.shape[:-1] + (total - mask.shape[-1],), fill, mask.dtype)], -1)
    mask = None if mask is None else np.broadcast_to(mask, (batch, hq, sq, total))
    y = np.zeros((batch, hq, sq, v.shape[3]))
    modes = {m: np.zeros((batch, hq, sq, total)) for m in range(4)}
    for b in range(batch):
        offset = past if nonpad is None else int(nonpad[b]) - sq
        for h in range(hq):
            kv = h // (hq // hkv)
            for i in range(sq):
                raw = np.array([q[b, h, i] @ k[b, kv, j] * scale for j in range(total)])
                capped = softcap * np.tanh(raw / softcap) if softcap else raw
                bias = np.zeros(total)
                for j in range(total):
                    allowed = True
                    if mask is not None:
                        if mask.dtype == bool:
                            allowed = bool(mask[b, h, i, j])
                        else:
                            bias[j] += mask[b, h, i, j]
                    p = i + offset
                    allowed &= not (is_causal and j > p)
                    allowed &= nonpad is None or j < nonpad[b]
                    allowed &= (left < 0 or j >= p - left) and (right < 0 or j <= p + right)
                    if not allowed:
                        bias[j] = -np.inf
                scores = capped + bias
                modes[0][b, h, i], modes[1][b, h, i], modes[2][b, h, i] = raw, capped, scores
                visible = bias > -np.inf
                if visible.any():
                    w = np.where(visible, np.exp(scores - scores[visible].max()), 0)
                    modes[3][b, h, i] = w / w.sum()
                    y[b, h, i] = modes[3][b, h, i] @ v[b, kv]
    return y, modes


def heads_to_3d(x):
    b, h, s, d = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3).reshape(b, s, h * d))


def sdpa64(q, k, v, mask=None, is_causal=False, scale=None):
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=None if mask is None else torch.from_numpy(
        mask if mask.dtype == bool else mask.astype(np.float64)), is_causal=is_causal, scale=scale,
        enable_gqa=q.shape[1] != k.shape[1])
    return out.numpy()


SDPA_CASES = {
    "mha": {"hq": 4, "hkv": 4},
    "gqa": {"hq": 6, "hkv": 2},
    "mqa": {"hq": 3, "hkv": 1},
    "bool_mask": {"hq": 4, "hkv": 2, "mask": "bool"},
    "float_mask": {"hq": 2, "hkv": 2, "mask": "float"},
    "causal": {"hq": 4, "hkv": 2, "causal": True},
    "scaled": {"hq": 2, "hkv": 1, "scale": 0.3},
    "3d_gqa_bool_mask": {"hq": 4, "hkv": 2, "mask": "bool", "three_d": True},
}


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_attention_matches_torch_sdpa(case):
    c = SDPA_CASES[case]
    batch, sq, skv, d = 2, 5, 5 if c.get("causal") else 7, 8
    q, k, v = randn(batch, c["hq"], sq, d, scale=2), randn(batch, c["hkv"], skv, d, scale=2), randn(batch, c["hkv"], skv, d)
    mask = None
    if c.get("mask") == "bool":
        mask = RNG.random((batch, 1, sq, skv)) < 0.7
        mask[..., 0] = True  # no fully masked row: torch's SDPA gives NaN there
    elif c.get("mask") == "float":
        mask = randn(sq, skv, scale=2)
    attrs = {"is_causal": int(c.get("causal", False))}
    if "scale" in c:
        attrs["scale"] = c["scale"]
    expected = sdpa64(q, k, v, mask, c.get("causal", False), c.get("scale"))
    inputs = [q, k, v] if mask is None else [q, k, v, mask]
    if c.get("three_d"):
        inputs[:3] = [heads_to_3d(a) for a in inputs[:3]]
        attrs.update(q_num_heads=c["hq"], kv_num_heads=c["hkv"])
        expected = heads_to_3d(expected)
    y = run_node("Attention", inputs, attrs)
    assert y.dtype == np.float32
    close(y, expected)


@pytest.mark.parametrize("three_d", [False, True], ids=["4d", "3d"])
def test_attention_kv_cache_is_concatenated_and_causal_is_bottom_right(three_d):
    q, k, v = randn(2, 4, 3, 8), randn(2, 2, 3, 8), randn(2, 2, 3, 6)
    past_k, past_v = randn(2, 2, 5, 8), randn(2, 2, 5, 6)
    mask = RNG.random((2, 1, 3, 8)) < 0.8
    mask[..., 0] = True
    attrs = {"is_causal": 1}
    inputs = [q, k, v, mask, past_k, past_v]
    if three_d:
        inputs[:3] = [heads_to_3d(a) for a in inputs[:3]]
        attrs.update(q_num_heads=4, kv_num_heads=2)
    y, present_k, present_v = run_node("Attention", inputs, attrs, outputs=("y", "pk", "pv"))
    expected, _ = attention64(q, k, v, mask, True, past_k, past_v)
    close(y, heads_to_3d(expected) if three_d else expected)
    np.testing.assert_array_equal(present_k, np.concatenate([past_k, k], axis=2))  # exact copies
    np.testing.assert_array_equal(present_v, np.concatenate([past_v, v], axis=2))


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_attention_softcap_float_mask_and_every_qk_matmul_output_mode(mode):
    q, k, v = randn(1, 4, 4, 8, scale=2), randn(1, 2, 6, 8, scale=2), randn(1, 2, 6, 8)
    mask = randn(1, 4, 4, 6)
    mask[0, 1, 2, 3] = -np.inf
    y, qk = run_node("Attention", [q, k, v, mask], {"softcap": 2.5, "qk_matmul_output_mode": mode, "scale": 0.5},
                     outputs=("y", "", "", "qk"))
    expected, modes = attention64(q, k, v, mask, scale=0.5, softcap=2.5)
    close(y, expected)
    assert qk.dtype == np.float32 and qk.shape == (1, 4, 4, 6)
    close(qk, modes[mode])


def test_attention_fully_masked_rows_are_zero_not_nan():
    q, k, v = randn(1, 2, 3, 8), randn(1, 2, 4, 8), randn(1, 2, 4, 8)
    q[0, 0, 1] = np.inf  # a poisoned query under a fully masked row: +inf + -inf must not leak a NaN
    mask = np.ones((3, 4), bool)
    mask[1] = False
    y, probs = run_node("Attention", [q, k, v, mask], {"qk_matmul_output_mode": 3}, outputs=("y", "", "", "p"))
    assert np.all(y[:, :, 1] == 0) and np.all(probs[:, :, 1] == 0)
    expected, _ = attention64(np.where(np.isinf(q), 0, q), k, v, mask)  # row 1 is masked whatever it holds
    close(y, expected)
    float_mask = np.where(mask, 0, -np.inf).astype(np.float32)
    y2 = run_node("Attention", [q, k, v, float_mask])
    np.testing.assert_array_equal(y2[:, :, 1], 0)


def test_attention_24_external_cache_nonpad_and_short_mask():
    q, k, v = randn(3, 2, 2, 8), randn(3, 2, 7, 8), randn(3, 2, 7, 8)
    nonpad = np.array([7, 4, 1], np.int64)  # batch 2: offset 1 - 2 = -1, its first query sees nothing
    mask = RNG.random((3, 1, 2, 5)) < 0.8   # 5 < 7 keys: padded with False (opset 24)
    mask[..., 0] = True
    y = run_node("Attention", [q, k, v, mask, None, None, nonpad], {"is_causal": 1}, opset=24)
    expected, _ = attention64(q, k, v, mask, True, nonpad=nonpad, pad_mask=True)
    close(y, expected)
    np.testing.assert_array_equal(y[2, :, 0], 0)
    with pytest.raises(KernelError, match=r"'attn'.*does not broadcast.*padding a short mask starts at opset 24"):
        run_node("Attention", [q, k, v, mask], opset=23, name="attn", declare_shapes=False)
    with pytest.raises(ModelError, match=r"'attn'.*nonpad_kv_seqlen.*past_key"):
        run_node("Attention", [q, k, v, None, randn(3, 2, 1, 8), randn(3, 2, 1, 8), nonpad], opset=24, name="attn")


@pytest.mark.parametrize("left,right,causal", [(2, -1, 1), (1, 2, 0), (0, 0, 0), (-1, 1, 0)])
def test_attention_25_sliding_windows(left, right, causal):
    q, k, v = randn(2, 4, 5, 8), randn(2, 2, 3, 8), randn(2, 2, 3, 8)
    past_k, past_v = randn(2, 2, 4, 8), randn(2, 2, 4, 8)
    attrs = {"left_window_size": left, "right_window_size": right, "is_causal": causal}
    y = run_node("Attention", [q, k, v, None, past_k, past_v], attrs, opset=25)
    expected, _ = attention64(q, k, v, None, bool(causal), past_k, past_v, left=left, right=right)
    close(y, expected)


@pytest.mark.parametrize("dtype", [np.float16, BF16], ids=["fp16", "bf16"])
def test_attention_narrow_floats_round_once(dtype):
    q, k, v = (randn(2, 4, 5, 16, scale=1.5).astype(dtype), randn(2, 2, 3, 16, scale=1.5).astype(dtype),
               randn(2, 2, 3, 16).astype(dtype))
    past_k, past_v = randn(2, 2, 4, 16).astype(dtype), randn(2, 2, 4, 16).astype(dtype)
    mask = randn(5, 7).astype(dtype)
    y, pk = run_node("Attention", [q, k, v, mask, past_k, past_v], {"is_causal": 1, "softcap": 4.0},
                     outputs=("y", "pk"))
    expected, _ = attention64(q, k, v, mask.astype(np.float64), True, past_k, past_v, softcap=4.0)
    assert_rounded_once(y, expected, dtype)
    assert pk.dtype == dtype


def test_attention_softmax_precision():
    q, k, v = randn(1, 2, 4, 8, scale=2), randn(1, 2, 6, 8, scale=2), randn(1, 2, 6, 8)
    expected, _ = attention64(q, k, v)
    close(run_node("Attention", [q, k, v], {"softmax_precision": 1}), expected)
    close(run_node("Attention", [q, k, v], {"softmax_precision": 11}), expected)
    # FLOAT16: scores and probabilities go through float16 (a relative error of 2^-11 each)
    close(run_node("Attention", [q, k, v], {"softmax_precision": 10}), expected, atol=2e-3, rtol=2e-3)


def test_attention_names_the_node_when_heads_or_shapes_do_not_fit():
    q, k, v = randn(1, 3, 4, 8), randn(1, 2, 4, 8), randn(1, 2, 4, 8)
    with pytest.raises(KernelError, match=r"'attn'.*3 query heads are not a multiple of 2 key/value heads"):
        run_node("Attention", [q, k, v], name="attn", declare_shapes=False)
    q3, k3 = randn(1, 4, 24), randn(1, 4, 20)
    with pytest.raises(KernelError, match=r"'attn'.*K hidden size 20 is not a multiple of its 3 heads"):
        run_node("Attention", [q3, k3, k3], {"q_num_heads": 3, "kv_num_heads": 3}, name="attn", declare_shapes=False)
    with pytest.raises(KernelError, match=r"'attn'.*need the q_num_heads and kv_num_heads"):
        run_node("Attention", [q3, q3, q3], name="attn", declare_shapes=False)
    with pytest.raises(KernelError, match=r"'attn'.*q_num_heads=4 / kv_num_heads=2 disagree"):
        run_node("Attention", [q, k, v], {"q_num_heads": 4, "kv_num_heads": 2}, name="attn", declare_shapes=False)
    with pytest.raises(KernelError, match=r"'attn'.*past_key has shape"):
        run_node("Attention", [randn(1, 2, 4, 8), k, v, None, randn(1, 2, 3, 6), randn(1, 2, 3, 8)], name="attn",
                 declare_shapes=False)
    with pytest.raises(ModelError, match=r"'attn'.*qk_matmul_output_mode must be"):
        run_node("Attention", [q, k, v], {"qk_matmul_output_mode": 4}, name="attn")


# ---------------------------------------------------------------- RotaryEmbedding


def rotate_half64(x, cos, sin, rot, interleaved):
    """HF's apply_rotary_pos_emb on (batch, seq, heads, head_size) float64: x * cos + rotate_half(x) * sin
    over the first `rot` values (interleaved: on even/odd pairs, as complex numbers)."""
    x = x.astype(np.float64).copy()
    cos, sin = cos.astype(np.float64)[:, :, None, :], sin.astype(np.float64)[:, :, None, :]
    part = x[..., :rot]
    if interleaved:
        z = (part[..., 0::2] + 1j * part[..., 1::2]) * (cos + 1j * sin)
        part[..., 0::2], part[..., 1::2] = z.real, z.imag
    else:
        half = rot // 2
        rotated = np.concatenate([-part[..., half:], part[..., :half]], axis=-1)
        part[...] = part * np.concatenate([cos, cos], -1) + rotated * np.concatenate([sin, sin], -1)
    return x


@pytest.mark.parametrize("layout", ["4d", "3d"])
@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rot", [0, 4])
def test_rotary_embedding_matches_the_rotate_half_formula(layout, interleaved, rot):
    batch, heads, seq, head = 2, 3, 5, 8
    x = randn(batch, heads, seq, head)
    angles = RNG.random((12, (rot or head) // 2)) * 6
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    pos = RNG.integers(0, 12, (batch, seq))
    attrs = {"interleaved": interleaved, "rotary_embedding_dim": rot}
    inputs = [x, cos, sin, pos]
    if layout == "3d":
        inputs[0] = heads_to_3d(x)
        attrs["num_heads"] = heads
    y = run_node("RotaryEmbedding", inputs, attrs)
    expected = rotate_half64(x.transpose(0, 2, 1, 3), cos[pos], sin[pos], rot or head, interleaved)
    expected = expected.reshape(batch, seq, heads * head) if layout == "3d" else expected.transpose(0, 2, 1, 3)
    close(y, expected)


def test_rotary_embedding_without_position_ids_fp16_and_errors():
    x = randn(2, 2, 3, 8).astype(np.float16)
    angles = RNG.random((2, 3, 4)) * 6
    cos, sin = np.cos(angles).astype(np.float16), np.sin(angles).astype(np.float16)
    y = run_node("RotaryEmbedding", [x, cos, sin])
    expected = rotate_half64(x.transpose(0, 2, 1, 3), cos, sin, 8, 0).transpose(0, 2, 1, 3)
    assert_rounded_once(y, expected, np.float16)
    cache = np.ones((4, 4), np.float32)
    with pytest.raises(KernelError, match=r"'rope'.*position_ids must lie in \[0, 3\].*max 4"):
        run_node("RotaryEmbedding", [randn(1, 2, 3, 8), cache, cache, np.array([[0, 1, 4]])], name="rope")
    with pytest.raises(KernelError, match=r"'rope'.*num_heads"):
        run_node("RotaryEmbedding", [randn(1, 3, 8), cache, cache, np.array([[0, 1, 2]])], name="rope",
                 declare_shapes=False)


# ---------------------------------------------------------------- GatherND / ScatterND / ScatterElements


def gather_nd_loop(data, indices, batch_dims):
    out = []
    batch_shape = indices.shape[:batch_dims]
    for b in np.ndindex(*batch_shape):
        for i in np.ndindex(*indices.shape[batch_dims:-1]):
            out.append(data[b][tuple(int(v) for v in indices[b + i])])
    return np.array(out, data.dtype).reshape(indices.shape[:-1] + data.shape[batch_dims + indices.shape[-1]:])


@pytest.mark.parametrize("data_shape,index_shape,batch_dims", [
    ((4, 5), (3, 2), 0), ((4, 5, 6), (2, 3, 1), 0), ((2, 5, 6), (2, 4, 1), 1), ((2, 3, 4, 5), (2, 3, 2), 2),
    ((3, 4), (2,), 0)])
def test_gather_nd_matches_the_spec_loop(data_shape, index_shape, batch_dims):
    data = randn(*data_shape)
    dims = data_shape[batch_dims:batch_dims + index_shape[-1]]
    indices = np.stack([RNG.integers(-d, d, index_shape[:-1]) for d in dims], axis=-1).astype(np.int64)
    got = run_node("GatherND", [data, indices], {"batch_dims": batch_dims}, opset=13)
    np.testing.assert_array_equal(got, gather_nd_loop(data, indices, batch_dims))


def test_gather_nd_names_the_node_and_the_bad_index():
    with pytest.raises(KernelError, match=r"'gnd'.*indices\[1, 1\] = 5 is out of range \[-5, 4\]"):
        run_node("GatherND", [randn(4, 5), np.array([[0, 1], [2, 5]])], name="gnd", opset=13)
    with pytest.raises(KernelError, match=r"'gnd'.*indices.shape\[-1\] = 3"):
        run_node("GatherND", [randn(4, 5), np.zeros((2, 3), np.int64)], name="gnd", opset=13, declare_shapes=False)


def scatter_loop(data, targets, updates, reduction):
    out = data.astype(np.float64) if data.dtype.kind == "f" else data.copy()
    f = {"none": lambda a, b: b, "add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction]
    for target, update in zip(targets, updates):
        out[target] = f(out[target], update)
    return out


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_matches_the_spec_loop_with_repeated_indices(reduction):
    data = randn(4, 3, 5)
    indices = np.array([[1, 2], [0, 0], [1, 2], [-1, 1], [1, 2]], np.int64)  # (1, 2) three times
    updates = randn(5, 5)
    got = run_node("ScatterND", [data, indices, updates], {"reduction": reduction}, opset=18)
    targets = [tuple(int(v) for v in idx) for idx in indices]
    close(got, scatter_loop(data, targets, updates, reduction), atol=1e-6, rtol=1e-6)
    ints = run_node("ScatterND", [np.arange(8, dtype=np.int32), np.array([[3], [3], [7]]), np.array([5, 6, -2], np.int32)],
                    {"reduction": reduction}, opset=18)
    np.testing.assert_array_equal(ints, scatter_loop(np.arange(8, dtype=np.int32), [3, 3, 7], [5, 6, -2], reduction))


def test_scatter_nd_checks_shapes_indices_and_the_reduction_opset():
    data = randn(4, 3)
    with pytest.raises(KernelError, match=r"'snd'.*indices\[1, 0\] = -5 is out of range \[-4, 3\]"):
        run_node("ScatterND", [data, np.array([[0], [-5]]), randn(2, 3)], name="snd", opset=18)
    with pytest.raises(KernelError, match=r"'snd'.*updates has shape \(2, 2\), expected"):
        run_node("ScatterND", [data, np.array([[0], [1]]), randn(2, 2)], name="snd", opset=18, declare_shapes=False)
    with pytest.raises(ModelError, match=r"'snd'.*reduction='max' is not defined at opset 16"):
        run_node("ScatterND", [data, np.array([[0]]), randn(1, 3)], {"reduction": "max"}, name="snd", opset=16)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("axis", [0, -1])
def test_scatter_elements_matches_torch_scatter_reduce(reduction, axis):
    data = randn(4, 5)
    index = RNG.integers(-data.shape[axis], data.shape[axis], (3, 4)).astype(np.int64)
    updates = randn(3, 4)
    got = run_node("ScatterElements", [data, index, updates], {"axis": axis, "reduction": reduction}, opset=18)
    positive = np.where(index < 0, index + data.shape[axis], index)
    if reduction == "none":  # repeats: the last update in index order wins
        targets = [tuple(int(positive[p]) if d == axis % 2 else p[d] for d in range(2)) for p in np.ndindex(*index.shape)]
        expected = scatter_loop(data, targets, [updates[p] for p in np.ndindex(*index.shape)], "none")
    else:
        expected = torch.scatter_reduce(t64(data), axis, torch.from_numpy(positive), t64(updates),
                                        {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}[reduction]).numpy()
    close(got, expected, atol=1e-6, rtol=1e-6)


def test_scatter_elements_fp16_add_rounds_once_and_checks_indices():
    data = np.full(4, 1000, np.float16)
    got = run_node("ScatterElements", [data, np.zeros(8, np.int64), np.full(8, 0.25, np.float16)], {"reduction": "add"},
                   opset=18)
    assert got.dtype == np.float16 and got[0] == 1002  # eight 0.25s added one by one in float16 stay 1000
    with pytest.raises(KernelError, match=r"'se'.*= 4 is out of range \[-4, 3\]"):
        run_node("ScatterElements", [data, np.array([4]), np.ones(1, np.float16)], name="se", opset=18)


# ---------------------------------------------------------------- Trilu / CumSum


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 2, -1, -7, 9])
def test_trilu_matches_torch(upper, k):
    x = randn(2, 4, 6)
    inputs = [x] if k is None else [x, np.array(k, np.int64)]
    got = run_node("Trilu", inputs, {"upper": upper}, opset=14)
    fn = torch.triu if upper else torch.tril
    np.testing.assert_array_equal(got, fn(torch.from_numpy(x), diagonal=k or 0).numpy())


def test_trilu_on_booleans_and_strings():
    x = np.ones((3, 3), bool)
    np.testing.assert_array_equal(run_node("Trilu", [x], opset=14), np.triu(x))
    words = np.array([["a", "b"], ["c", "d"]], dtype=object)
    np.testing.assert_array_equal(run_node("Trilu", [words], {"upper": 0}, opset=14),
                                  np.array([["a", ""], ["c", "d"]], dtype=object))


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_cum_sum_matches_torch(exclusive, reverse, dtype):
    x = (randn(3, 5, 4) * 10).astype(dtype)
    for axis in (1, -1):
        got = run_node("CumSum", [x, np.array(axis, np.int64)], {"exclusive": exclusive, "reverse": reverse}, opset=14)
        xt = torch.from_numpy(x.astype(np.float64))
        if reverse:
            xt = xt.flip(axis)
        expected = xt.cumsum(axis) - (xt if exclusive else 0)
        if reverse:
            expected = expected.flip(axis)
        assert got.dtype == dtype
        close(got, expected.numpy(), atol=1e-4, rtol=1e-6)


def test_cum_sum_fp16_accumulates_in_float32_and_integers_wrap():
    x = np.full(3000, 1, np.float16)  # float16 counts only to 2048 one by one
    got = run_node("CumSum", [x, np.array(0, np.int32)], opset=14)
    assert_rounded_once(got, np.arange(1, 3001, dtype=np.float64), np.float16)
    big = np.array([2**31 - 1, 1], np.int32)
    np.testing.assert_array_equal(run_node("CumSum", [big, np.array(0)], opset=14), np.array([2**31 - 1, -2**31], np.int32))


# ---------------------------------------------------------------- transformer families, both exporters

ATOL, RTOL = 1e-4, 1e-3  # float32: summation orders (and BLAS kernels) differ from torch's


class Outputs(torch.nn.Module):
    """An HF model fed positional tensors named like the ONNX inputs, returning a tuple."""

    def __init__(self, model, input_names, output_keys):
        super().__init__()
        self.model, self.input_names, self.output_keys = model, input_names, output_keys

    def forward(self, *inputs):
        out = self.model(**dict(zip(self.input_names, inputs)))
        return tuple(out[k] for k in self.output_keys)


class WithPast(torch.nn.Module):
    """GPT-2 with its KV cache as tensors: (input_ids, attention_mask, past k0, v0, k1, v1, ...) ->
    (last_hidden_state, present k0, v0, ...). The cache object is built inside forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        # transformers 5.x renames past_key_values to cache (the old name warns)
        self.cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def forward(self, input_ids, attention_mask, *past):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for layer in range(len(past) // 2):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=True, **{self.cache_arg: cache})
        present = out[self.cache_arg]
        return (out.last_hidden_state, *(t for layer in present.layers for t in (layer.keys, layer.values)))


def _text(rng, batch, seq):
    mask = np.ones((batch, seq), np.int64)
    mask[-1, seq - 2:] = 0  # padding: the masked path runs
    return {"input_ids": rng.integers(0, 100, (batch, seq)).astype(np.int64), "attention_mask": mask}


def _with_past(rng, batch, seq, past=4, layers=2, heads=2, head_size=16):
    feeds = _text(rng, batch, past + seq)
    feeds["input_ids"] = feeds["input_ids"][:, past:]  # the mask covers past + current tokens
    for layer in range(layers):
        for kind in ("key", "value"):
            feeds[f"past_{kind}_{layer}"] = rng.standard_normal((batch, heads, past, head_size)).astype(np.float32)
    return feeds


def _family(name):
    """(module, make_feeds(rng, batch, seq), output names, dynamic axes {input: {axis: name}})."""
    import transformers

    text_axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    if name == "bert":
        config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, max_position_embeddings=64, initializer_range=0.3)
        keys = ["last_hidden_state", "pooler_output"]
        return Outputs(transformers.BertModel(config), list(text_axes), keys), _text, keys, text_axes
    if name in ("gpt2", "gpt2_kv", "gpt2_causal"):
        # gpt2_kv also swaps GPT-2's gelu_new (written out as Tanh/Pow) for F.gelu(approximate="tanh"): Gelu-20
        config = transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                         initializer_range=0.3, use_cache=name == "gpt2_kv",
                                         activation_function="gelu_pytorch_tanh" if name == "gpt2_kv" else "gelu_new")
        model = transformers.GPT2Model(config)
        if name == "gpt2":
            return Outputs(model, list(text_axes), ["last_hidden_state"]), _text, ["last_hidden_state"], text_axes
        if name == "gpt2_causal":  # no attention mask: position ids and the causal mask come from the ids alone
            axes = {"input_ids": text_axes["input_ids"]}
            return (Outputs(model, ["input_ids"], ["last_hidden_state"]),
                    lambda rng, b, s: {"input_ids": _text(rng, b, s)["input_ids"]}, ["last_hidden_state"], axes)
        axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total"}}
        axes.update({f"past_{kind}_{layer}": {0: "batch", 2: "past"} for layer in range(2) for kind in ("key", "value")})
        outputs = ["last_hidden_state"] + [f"present_{kind}_{layer}" for layer in range(2) for kind in ("key", "value")]
        return WithPast(model), _with_past, outputs, axes
    if name == "vit":
        config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                        image_size=32, patch_size=8, num_channels=3, initializer_range=0.3)
        keys = ["last_hidden_state", "pooler_output"]
        return (Outputs(transformers.ViTModel(config), ["pixel_values"], keys),
                lambda rng, b, _: {"pixel_values": rng.standard_normal((b, 3, 32, 32)).astype(np.float32)}, keys,
                {"pixel_values": {0: "batch"}})
    if name == "whisper_encoder":
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        config = transformers.WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                                            decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
                                            num_mel_bins=16, max_source_positions=20, vocab_size=100, pad_token_id=0,
                                            bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, init_std=0.3)
        return (Outputs(WhisperEncoder(config), ["input_features"], ["last_hidden_state"]),  # 2 * 20 frames exactly
                lambda rng, b, _: {"input_features": rng.standard_normal((b, 16, 40)).astype(np.float32)},
                ["last_hidden_state"], {"input_features": {0: "batch"}})
    if name == "wav2vec2":  # feature extractor with GroupNorm (GroupNormalization-21 at opset 23, else InstanceNormalization)
        config = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 2),
                                             conv_kernel=(10, 3), num_conv_pos_embeddings=8,
                                             num_conv_pos_embedding_groups=4, vocab_size=100, initializer_range=0.3)
        keys = ["last_hidden_state", "extract_features"]
        return (Outputs(transformers.Wav2Vec2Model(config), ["input_values"], keys),
                lambda rng, b, _: {"input_values": rng.standard_normal((b, 400)).astype(np.float32)}, keys,
                {"input_values": {0: "batch"}})
    raise ValueError(name)


def _export(name, exporter, opset, folder):
    """(module, ONNX path, feeds of another batch and sequence length than the export's)."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # models come from configs; nothing may reach the hub
    torch.manual_seed(0)
    module, make_feeds, outputs, axes = _family(name)
    module = module.eval()  # torch.onnx.export restores the wrapper's mode: eval() the wrapper itself
    example = make_feeds(np.random.default_rng(0), 2, 7)
    names = list(example)
    args = tuple(torch.from_numpy(v) for v in example.values())
    path = str(folder / f"{name}_{exporter}{opset}.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(module, args, path, input_names=names, output_names=outputs, dynamic_axes=axes,
                              opset_version=opset, dynamo=False)
        else:
            dims = {}
            for dim in {n for a in axes.values() for n in a.values()}:
                dims[dim] = torch.export.Dim(dim, min=1 if dim in ("batch", "past") else 2, max=64)
            shapes = [{axis: dims[dim] for axis, dim in axes[n].items()} for n in names]
            # positional varargs: a tuple of shapes for *inputs (and for *past after the named ones)
            shapes = (shapes[0], shapes[1], tuple(shapes[2:])) if name == "gpt2_kv" else (tuple(shapes),)
            torch.onnx.export(module, args, input_names=names, output_names=outputs, dynamic_shapes=shapes,
                              opset_version=opset, dynamo=True, verbose=False).save(path)
    feeds = make_feeds(np.random.default_rng(1), 3, 5)  # another batch (and sequence) than the export's
    return module, path, feeds


FAMILIES = ["bert", "gpt2", "gpt2_kv", "vit", "whisper_encoder", "wav2vec2"]
EXPORTS = [("torchscript", 17), ("torchscript", 18), ("dynamo", 18), ("dynamo", 20), ("dynamo", 23)]
CASES = [(f, e, o) for f in FAMILIES for e, o in EXPORTS]
# GPT-2 fed input_ids alone (a CumSum of ones for the positions); the TorchScript exporter cannot
# export it (aten::diff has no symbolic at opsets 17/18)
CASES += [("gpt2_causal", "dynamo", 18), ("gpt2_causal", "dynamo", 23)]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    pytest.importorskip("transformers")
    folder, made = tmp_path_factory.mktemp("transformer_exports"), {}

    def get(name, exporter, opset):
        if (name, exporter, opset) not in made:
            made[name, exporter, opset] = _export(name, exporter, opset, folder)
        return made[name, exporter, opset]
    return get


@pytest.mark.parametrize("family,exporter,opset", [
    pytest.param(*case, id=f"{case[0]}-{case[1]}{case[2]}") for case in CASES])
def test_transformer_exports_run_natively_and_match_the_module(exports, family, exporter, opset):
    module, path, feeds = exports(family, exporter, opset)
    session = Session(path)
    assert session.fallback_nodes() == []
    got = session.run(feeds)
    with torch.no_grad():
        truth = [t.numpy() for t in module(*(torch.from_numpy(v) for v in feeds.values()))]
    assert len(got) == len(truth)
    for (name, value), expected in zip(got.items(), truth):
        assert value.shape == expected.shape, name
        np.testing.assert_allclose(value, expected, atol=ATOL, rtol=RTOL, err_msg=name)


# ---------------------------------------------------------------- parameters known at plan time


def _with_initializers(op_type, feeds, constants, attrs, opset, name):
    """A one-node model whose `constants` ({input index: array}) are initializers."""
    count = max([*constants, len(feeds) - 1]) + 1
    names = [f"c{i}" if i in constants else f"x{i}" for i in range(count)]
    graph = helper.make_graph(
        [helper.make_node(op_type, names, ["y"], name=name, **attrs)], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in zip(names, feeds) if not n.startswith("c")],
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)],
        initializer=[numpy_helper.from_array(a, f"c{i}") for i, a in constants.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("op_type,feeds,constants,attrs,opset,message", [
    ("GroupNormalization", [randn(2, 6, 4)], {1: randn(6), 2: randn(6)}, {"num_groups": 3}, 18,
     r"input 1 'c1': scale has shape \(6,\): opset 18 wants one value per group, shape \(3,\)"),
    ("GroupNormalization", [randn(2, 6, 4)], {1: randn(4), 2: randn(4)}, {"num_groups": 3}, 21,
     r"input 1 'c1': scale has shape \(4,\): opset 21 wants one value per channel"),
    ("InstanceNormalization", [randn(2, 3, 4)], {1: randn(3), 2: randn(4)}, {}, 6,
     r"input 2 'c2': scale \(3,\) and B \(4,\) differ"),
    ("RotaryEmbedding", [randn(1, 2, 3, 8)], {1: randn(5, 3), 2: randn(5, 3)}, {"rotary_embedding_dim": 8}, 23,
     r"input 1 'c1': the cache's last dimension 3 is not rotary_embedding_dim / 2 = 4"),
    ("CumSum", [randn(3, 4)], {1: np.array([0, 1])}, {}, 14, r"input 1 'c1': axis must be a 0-D tensor"),
])
def test_parameters_known_at_plan_time_are_refused_before_any_run(op_type, feeds, constants, attrs, opset, message):
    model = _with_initializers(op_type, feeds, constants, attrs, opset, "n1")
    with pytest.raises(ModelError, match=r"node 'n1' \(" + op_type + r"\), " + message):
        Session(model, allow_fallback=False, strict=False)
