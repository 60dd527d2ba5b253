"""The default-domain quantized kernels (QuantizeLinear, DequantizeLinear, QLinearConv,
QLinearMatMul, MatMulInteger, ConvInteger, DynamicQuantizeLinear) against independent truths:
int64 / float32 / exact rational formulas written here from the spec text (never refruntime's
ops/_quant.py), onnxruntime with its optimizations off for parity (every departure checked
element by element against the exact value), and bad parameters refused with the node and input
named. onnx's own conformance cases for these ops run in test_conformance.py.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import KernelError, Session
from refruntime.errors import ModelError

U8, I8, F = TensorProto.UINT8, TensorProto.INT8, TensorProto.FLOAT


# -- building and running one-node models ------------------------------------------------------
def one_node(op, feeds: dict, consts: dict, inputs: list[str], attrs=None, opset=21, outputs=("y",)):
    """A model of one node named 'q' reading `inputs` ('' = absent) from graph inputs (`feeds`) or
    initializers (`consts`)."""
    node = helper.make_node(op, inputs, list(outputs), name="q", **(attrs or {}))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in feeds.items()],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run_ref(model, feeds):
    session = Session(model, allow_fallback=False)
    result = session.run(feeds)
    return [result[n] for n in session.output_names]


def run_ort(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    model = onnx.shape_inference.infer_shapes(model)  # onnxruntime needs the outputs' types
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


# -- independent truths ------------------------------------------------------------------------
INT_LIMITS = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767),
              "int4": (-8, 7), "uint4": (0, 15), "int2": (-2, 1), "uint2": (0, 3)}


def clip_to(values, dtype):
    lo, hi = INT_LIMITS[np.dtype(dtype).name]
    return np.clip(values, lo, hi).astype(np.int64).astype(dtype)


def quantize_f32(x, scale, zero_point, dtype):
    """QuantizeLinear with the division in float32 (the scale's type): IEEE float32 x / scale,
    rounded half to even, plus the zero point, saturated; NaN -> the type's minimum."""
    q = np.rint((np.asarray(x, np.float32) / np.asarray(scale, np.float32)).astype(np.float64))
    q = q + np.asarray(zero_point, np.float64)
    return clip_to(np.where(np.isnan(q), INT_LIMITS[np.dtype(dtype).name][0], q), dtype)


def conv_int64(x, w, group=1, strides=None, dilations=None, pads=None, auto_pad="NOTSET"):
    """Direct integer convolution of int64 x (N, C, *in) by int64 w (M, C/group, *k), zero padding,
    written from the Conv spec (output size floor((in + pads - dilated kernel) / stride) + 1)."""
    nd = x.ndim - 2
    strides, dilations = strides or [1] * nd, dilations or [1] * nd
    kernel = w.shape[2:]
    begin, end = [0] * nd, [0] * nd
    for i in range(nd):
        extent = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-x.shape[2 + i] // strides[i])
            total = max(0, (out - 1) * strides[i] + extent - x.shape[2 + i])
            small = total // 2
            begin[i], end[i] = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
        elif auto_pad == "NOTSET" and pads:
            begin[i], end[i] = pads[i], pads[nd + i]
    xp = np.pad(x, [(0, 0), (0, 0)] + list(zip(begin, end)))
    out = [(xp.shape[2 + i] - ((kernel[i] - 1) * dilations[i] + 1)) // strides[i] + 1 for i in range(nd)]
    n, m = x.shape[0], w.shape[0]
    cg, mg = x.shape[1] // group, m // group
    y = np.zeros((n, m, *out), dtype=np.int64)
    for g in range(group):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * mg:(g + 1) * mg]
        for offset in itertools.product(*[range(k) for k in kernel]):
            window = tuple(slice(o * d, o * d + (size - 1) * s + 1, s)
                           for o, d, s, size in zip(offset, dilations, strides, out))
            patch = xg[(slice(None), slice(None)) + window]  # (N, cg, *out)
            y[:, g * mg:(g + 1) * mg] += np.einsum("nc...,mc->nm...", patch, wg[(slice(None), slice(None)) + offset])
    return y


def exact_requantize(acc, multiplier: Fraction | np.ndarray, zero_point, dtype):
    """saturate(round_half_even(acc * multiplier) + zero_point) in exact rational arithmetic
    (Python's round() of a Fraction rounds half to even); multiplier: a Fraction or an object
    array of Fractions broadcastable to acc."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.broadcast_to(np.asarray(multiplier, dtype=object), acc.shape)
    rounded = np.array([round(int(a) * m) for a, m in zip(acc.reshape(-1).tolist(), mult.reshape(-1).tolist())],
                       dtype=np.int64).reshape(acc.shape)
    return clip_to(rounded + int(zero_point), dtype)


def frac(value) -> Fraction:
    return Fraction(float(value))


def bf16_round(v: np.ndarray) -> np.ndarray:
    """float64 -> bfloat16 rounded once, to nearest even, on the float64 bit pattern (normal values)."""
    bits = np.asarray(v, np.float64).view(np.int64)
    keep = 52 - 7
    bits = bits + ((1 << (keep - 1)) - 1) + ((bits >> keep) & 1)
    return ((bits >> keep) << keep).view(np.float64)


# -- QuantizeLinear ------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [10, 13, 19, 21, 23, 25, 28])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_quantize_linear_every_opset_is_float32_division_rounded_half_even(opset, dtype):
    """Opsets 10..28 run natively (onnx.reference has no QuantizeLinear below 19); ties (x a half
    integer times a power-of-two scale) go to even, NaN to the type's minimum, +-Inf saturate."""
    rng = np.random.default_rng(opset)
    x = np.concatenate([(rng.standard_normal(997) * 60).astype(np.float32),
                        np.arange(-20.5, 21, 1.0, dtype=np.float32) * 0.25,
                        np.array([np.nan, np.inf, -np.inf, 1e30, -1e30], np.float32)])
    zero_point = np.array(3 if dtype == np.int8 else 128, dtype)
    scale = np.array(0.25, np.float32)
    (y,) = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": scale, "z": zero_point}, ["x", "s", "z"], opset=opset),
                   {"x": x})
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, quantize_f32(x, scale, zero_point, dtype))
    ties = {0.125: 0, 0.375: 2, -0.125: 0, -0.375: -2, 0.625: 2}  # x / 0.25 = k + 1/2 -> even
    for value, rounded in ties.items():
        assert int(y[np.flatnonzero(x == value)[0]]) == rounded + int(zero_point)


def test_quantize_linear_without_zero_point_is_uint8_and_output_dtype_picks_the_type():
    x = np.linspace(-3, 40, 50, dtype=np.float32)
    s = np.array(0.5, np.float32)
    (y,) = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": s}, ["x", "s"], opset=13), {"x": x})
    np.testing.assert_array_equal(y, quantize_f32(x, s, 0, np.uint8))
    (y,) = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": s}, ["x", "s"], {"output_dtype": TensorProto.INT16},
                            opset=21), {"x": x})
    assert y.dtype == np.int16
    np.testing.assert_array_equal(y, quantize_f32(x, s, 0, np.int16))


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_quantize_linear_per_axis(axis):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((3, 4, 5)) * 30).astype(np.float32)
    n = x.shape[axis]
    s = rng.uniform(0.05, 0.5, n).astype(np.float32)
    z = rng.integers(0, 256, n).astype(np.uint8)
    (y,) = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": s, "z": z}, ["x", "s", "z"], {"axis": axis}, opset=13),
                   {"x": x})
    shape = [1, 1, 1]
    shape[axis] = n
    np.testing.assert_array_equal(y, quantize_f32(x, s.reshape(shape), z.reshape(shape), np.uint8))


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, ml_dtypes.int4, ml_dtypes.uint4])
def test_quantize_linear_blocked(dtype):
    """Opset 21 blocked quantization; the last block is shorter (10 = 4 + 4 + 2)."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 10)) * 8).astype(np.float32)
    s = rng.uniform(0.5, 2, (3, 3)).astype(np.float32)
    z = np.ones((3, 3), dtype)
    (y,) = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": s, "z": z}, ["x", "s", "z"],
                            {"axis": 1, "block_size": 4}, opset=21), {"x": x})
    wide_s, wide_z = (np.repeat(p.astype(np.float64), 4, axis=1)[:, :10] for p in (s, z))
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.astype(np.int64), quantize_f32(x, wide_s, wide_z, dtype).astype(np.int64))


def test_quantize_linear_opset23_divides_in_the_precision_attribute():
    """Opset 23: 'The type of y_scale determines the precision of the division ... unless the
    precision attribute is specified'. float16 x and scale: in float16, or in float32 with
    precision=FLOAT (the two differ on about 1% of these values)."""
    rng = np.random.default_rng(23)
    x = (rng.standard_normal(2000) * 40).astype(np.float16)
    s = np.array(0.37, np.float16)
    z = np.array(0, np.int8)
    (y32,) = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": s, "z": z}, ["x", "s", "z"],
                              {"precision": TensorProto.FLOAT}, opset=23), {"x": x})
    np.testing.assert_array_equal(y32, quantize_f32(x, s, 0, np.int8))
    (y16,) = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": s, "z": z}, ["x", "s", "z"], opset=23), {"x": x})
    np.testing.assert_array_equal(y16, clip_to(np.rint((x / s).astype(np.float64)), np.int8))  # IEEE float16
    assert (y16 != y32).any()


def test_quantize_linear_divides_in_the_scale_type_as_onnx_conformance_data_does():
    """x = 0.5, y_scale = float32(5/255): the exact quotient is 25.4999991 (-> 25), the float32 one
    25.5 (a tie -> 26); onnx's test_dynamicquantizelinear expects 26 + 153 = 179."""
    s = np.array(np.float32(5) / np.float32(255), np.float32)
    assert frac(0.5) / frac(s) < Fraction(51, 2) and np.float32(0.5) / s == np.float32(25.5)
    x = np.array([0.5], np.float32)
    for opset in (10, 13, 19, 21, 23):
        model = one_node("QuantizeLinear", {"x": x}, {"s": s, "z": np.array(153, np.uint8)}, ["x", "s", "z"], opset=opset)
        np.testing.assert_array_equal(run_ref(model, {"x": x})[0], [179])


@pytest.mark.parametrize("opset", [19, 21, 23])
def test_quantize_linear_float16_divides_in_float16(opset):
    """float16 x and scale: the division in float16 (T1; opset 23 says so). onnxruntime agrees from
    opset 23; at 19-21 it converts to float32 first (asserted where it departs: about 1%)."""
    rng = np.random.default_rng(opset)
    x = (rng.standard_normal(20000) * 60).astype(np.float16)
    s = np.array(0.37, np.float16)
    model = one_node("QuantizeLinear", {"x": x}, {"s": s, "z": np.array(0, np.int8)}, ["x", "s", "z"], opset=opset)
    (ours,) = run_ref(model, {"x": x})
    np.testing.assert_array_equal(ours, clip_to(np.rint((x / s).astype(np.float64)), np.int8))  # IEEE float16
    (theirs,) = run_ort(model, {"x": x})
    if opset >= 23:
        np.testing.assert_array_equal(theirs, ours)
    else:
        differ = theirs != ours
        assert differ.mean() < 0.03
        np.testing.assert_array_equal(theirs, quantize_f32(x, s, 0, np.int8))


def test_quantize_linear_float8_follows_the_cast_tables():
    """saturate=1: +-Inf and out-of-range become +-max, NaN stays NaN; saturate=0: e4m3fn gives NaN,
    e5m2 +-Inf. In range: rounded once to nearest even (checked on values exactly between two
    float8 neighbours and just beside them)."""
    x = np.array([np.inf, -np.inf, 1e6, -1e6, np.nan, 1.0625, 1.1875, 1.0625 + 2 ** -10, 0.0], np.float32)
    one = np.array(1.0, np.float32)
    for dtype, big in ((ml_dtypes.float8_e4m3fn, np.nan), (ml_dtypes.float8_e5m2, np.inf)):
        zero = np.array(0, dtype)
        sat = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": one, "z": zero}, ["x", "s", "z"], opset=19),
                      {"x": x})[0].astype(np.float64)
        top = float(ml_dtypes.finfo(dtype).max)
        np.testing.assert_array_equal(sat[:4], [top, -top, top, -top])
        assert np.isnan(sat[4])
        np.testing.assert_array_equal(sat[5:], x[5:].astype(dtype).astype(np.float64))  # float32 -> float8: one rounding
        free = run_ref(one_node("QuantizeLinear", {"x": x}, {"s": one, "z": zero}, ["x", "s", "z"], {"saturate": 0},
                                opset=19), {"x": x})[0].astype(np.float64)
        if np.isnan(big):
            assert np.isnan(free[:5]).all()
        else:
            np.testing.assert_array_equal(free[:4], [np.inf, -np.inf, np.inf, -np.inf])


# -- DequantizeLinear ----------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [10, 13, 19, 21, 23, 25, 28])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32])
def test_dequantize_linear_every_opset(opset, dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(opset)
    x = rng.integers(max(info.min, -(2 ** 20)), min(info.max, 2 ** 20), 500).astype(dtype)
    z = np.array(7, dtype)
    s = np.array(0.0371, np.float32)
    (y,) = run_ref(one_node("DequantizeLinear", {"x": x}, {"s": s, "z": z}, ["x", "s", "z"], opset=opset), {"x": x})
    assert y.dtype == np.float32
    # the exact product rounded once to float32 (IEEE float32 arithmetic of exact operands)
    np.testing.assert_array_equal(y, (x.astype(np.int64) - 7).astype(np.float32) * np.float32(0.0371))


def test_dequantize_linear_per_axis_blocked_and_narrow_types():
    rng = np.random.default_rng(4)
    x = rng.integers(-8, 8, (4, 6)).astype(ml_dtypes.int4)
    s = rng.uniform(0.1, 1, (4, 2)).astype(np.float32)
    z = rng.integers(-2, 3, (4, 2)).astype(ml_dtypes.int4)
    (y,) = run_ref(one_node("DequantizeLinear", {}, {"x": x, "s": s, "z": z}, ["x", "s", "z"],
                            {"axis": 1, "block_size": 3}, opset=21), {})
    wide = lambda p: np.repeat(p.astype(np.float64), 3, axis=1)
    np.testing.assert_array_equal(y, ((x.astype(np.float64) - wide(z)) * wide(s)).astype(np.float32))
    x8 = rng.integers(0, 256, (2, 3, 4)).astype(np.uint8)
    s8 = rng.uniform(0.1, 1, 3).astype(np.float32)
    z8 = rng.integers(0, 256, 3).astype(np.uint8)
    (y8,) = run_ref(one_node("DequantizeLinear", {"x": x8}, {"s": s8, "z": z8}, ["x", "s", "z"], opset=13), {"x": x8})
    np.testing.assert_array_equal(
        y8, ((x8.astype(np.int64) - z8.reshape(1, 3, 1)).astype(np.float32) * s8.reshape(1, 3, 1)))
    f8 = np.array([1.5, -2.25, 448, 0.001953125], ml_dtypes.float8_e4m3fn)
    (yf,) = run_ref(one_node("DequantizeLinear", {}, {"x": f8, "s": np.array(2, np.float16)}, ["x", "s"], opset=19), {})
    assert yf.dtype == np.float16
    np.testing.assert_array_equal(yf, (f8.astype(np.float64) * 2).astype(np.float16))


def test_dequantize_linear_to_bfloat16_rounds_once():
    """output_dtype=bfloat16 (opset 23): the exact product 3 * scale rounded once to bfloat16. The
    scale is chosen so that going through float32 first (as ml_dtypes' cast from float64 does)
    lands on a bfloat16 tie and rounds the other way."""
    rng = np.random.default_rng(5)
    scales = rng.uniform(0.3, 0.35, 200000).astype(np.float32)
    exact = 3 * scales.astype(np.float64)
    double = exact.astype(np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)
    pick = np.flatnonzero(bf16_round(exact) != double)
    assert pick.size, "no scale where double rounding differs"
    s = scales[pick[:1]].reshape(())
    x = np.array([3, -3, 1], np.int8)
    (y,) = run_ref(one_node("DequantizeLinear", {"x": x}, {"s": s}, ["x", "s"],
                            {"output_dtype": TensorProto.BFLOAT16}, opset=23), {"x": x})
    assert y.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(y.astype(np.float64), bf16_round(x.astype(np.float64) * float(s)))


@pytest.mark.parametrize("opset", [13, 19, 21])
def test_quantize_dequantize_match_onnxruntime_bit_for_bit(opset):
    rng = np.random.default_rng(opset)
    x = (rng.standard_normal((8, 16, 9)) * 40).astype(np.float32)
    s = rng.uniform(0.05, 0.6, 16).astype(np.float32)
    z = rng.integers(-20, 20, 16).astype(np.int8)
    q_model = one_node("QuantizeLinear", {"x": x}, {"s": s, "z": z}, ["x", "s", "z"], {"axis": 1}, opset=opset)
    (q,) = run_ref(q_model, {"x": x})
    np.testing.assert_array_equal(q, run_ort(q_model, {"x": x})[0])
    dq_model = one_node("DequantizeLinear", {"x": q}, {"s": s, "z": z}, ["x", "s", "z"], {"axis": 1}, opset=opset)
    np.testing.assert_array_equal(run_ref(dq_model, {"x": q})[0], run_ort(dq_model, {"x": q})[0])


def test_quantize_linear_precision_float64_oracle_divides_exactly():
    """Session(precision='float64') computes the quotient of the float32 values exactly."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(200000) * 60).astype(np.float32)
    s = np.array(0.37, np.float32)
    model = one_node("QuantizeLinear", {"x": x}, {"s": s, "z": np.array(0, np.int8)}, ["x", "s", "z"], opset=13)
    exact = Session(model, precision="float64").run({"x": x})["y"]
    native = Session(model).run({"x": x})["y"]
    np.testing.assert_array_equal(exact, clip_to(np.rint(x.astype(np.float64) / np.float64(s)), np.int8))
    differ = np.flatnonzero(exact != native)
    for i in differ:  # only where the float32 quotient lands on a tie the exact one is not
        q32 = np.float32(x[i]) / np.float32(s)
        assert abs(abs(float(q32) - math.floor(float(q32))) - 0.5) < 1e-5


# -- MatMulInteger ---------------------------------------------------------------------------------
MATMUL_CASES = [
    ((5, 7), (7, 3), None, None),
    ((2, 5, 7), (7, 3), "row", "column"),
    ((3, 1, 4, 6), (2, 6, 5), None, "column"),
    ((7,), (7, 4), None, "column"),
    ((4, 7), (7,), "row", None),
    ((2, 4, 7), (2, 7, 3), "row-nd", "column-nd"),
]


def matmul_zero_point(kind, shape, dtype, rng):
    if kind is None:
        return np.array(rng.integers(-3, 4) + (128 if dtype == np.uint8 else 0), dtype)
    if kind == "row":
        return rng.integers(0, 100, shape[-2]).astype(dtype)
    if kind == "column":
        return rng.integers(0, 100, shape[-1]).astype(dtype)
    if kind == "row-nd":
        return rng.integers(0, 100, shape[:-1] + (1,)).astype(dtype)
    return rng.integers(0, 100, shape[:-2] + (1, shape[-1])).astype(dtype)


def zp_view(zp, kind):
    zp = zp.astype(np.int64)
    return zp.reshape(-1, 1) if kind == "row" else zp


@pytest.mark.parametrize("a_shape, b_shape, a_kind, b_kind", MATMUL_CASES)
@pytest.mark.parametrize("a_type, b_type", [(np.uint8, np.int8), (np.int8, np.int8), (np.uint8, np.uint8),
                                            (np.int8, np.uint8)])
def test_matmul_integer_is_the_int64_product(a_shape, b_shape, a_kind, b_kind, a_type, b_type):
    rng = np.random.default_rng(7)
    a = rng.integers(np.iinfo(a_type).min, np.iinfo(a_type).max + 1, a_shape).astype(a_type)
    b = rng.integers(np.iinfo(b_type).min, np.iinfo(b_type).max + 1, b_shape).astype(b_type)
    za, zb = matmul_zero_point(a_kind, a_shape, a_type, rng), matmul_zero_point(b_kind, b_shape, b_type, rng)
    model = one_node("MatMulInteger", {"a": a, "b": b}, {"za": za, "zb": zb}, ["a", "b", "za", "zb"], opset=10)
    (y,) = run_ref(model, {"a": a, "b": b})
    expect = np.matmul(a.astype(np.int64) - zp_view(za, a_kind), b.astype(np.int64) - zp_view(zb, b_kind))
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, expect)


def test_matmul_integer_matches_onnxruntime():
    rng = np.random.default_rng(8)
    a = rng.integers(0, 256, (3, 17, 64)).astype(np.uint8)
    b = rng.integers(-128, 128, (64, 33)).astype(np.int8)
    zb = rng.integers(-5, 5, 33).astype(np.int8)
    model = one_node("MatMulInteger", {"a": a, "b": b}, {"za": np.array(131, np.uint8), "zb": zb},
                     ["a", "b", "za", "zb"], opset=10)
    np.testing.assert_array_equal(run_ref(model, {"a": a, "b": b})[0], run_ort(model, {"a": a, "b": b})[0])


def _u8_s8_saturating_inputs():
    """Large u8 x s8 values: the pairwise 16-bit sums of AVX2's vpmaddubsw (255*127*2 > 32767)
    saturate in onnxruntime's kernel on CPUs without VNNI."""
    rng = np.random.default_rng(9)
    a = rng.integers(200, 256, (32, 1024)).astype(np.uint8)
    b = rng.choice(np.array([-128, -127, 120, 127], np.int8), (1024, 32))
    model = one_node("MatMulInteger", {"a": a, "b": b}, {}, ["a", "b"], opset=10)
    return model, a, b, a.astype(np.int64) @ b.astype(np.int64)


def test_matmul_integer_u8_s8_is_exact_where_16_bit_sums_would_saturate():
    model, a, b, exact = _u8_s8_saturating_inputs()
    (y,) = run_ref(model, {"a": a, "b": b})
    np.testing.assert_array_equal(y, exact)


def test_matmul_integer_u8_s8_departure_is_onnxruntime_s():
    """onnxruntime's u8 x s8 MatMulInteger on AVX2 CPUs without VNNI is off (591 of 1024 elements,
    by up to 22,798, on one such machine); where this CPU's onnxruntime departs, it is onnxruntime
    that is off from the int64 formula (refruntime matches it: the test above). Machines vary."""
    model, a, b, exact = _u8_s8_saturating_inputs()
    (ort_y,) = run_ort(model, {"a": a, "b": b})
    if np.array_equal(ort_y, exact):
        pytest.skip("this CPU's onnxruntime computes u8 x s8 exactly (VNNI or AVX-512 kernels)")
    (ref_y,) = run_ref(model, {"a": a, "b": b})
    np.testing.assert_array_equal(ref_y, exact)
    assert not np.array_equal(ort_y, ref_y)


def test_matmul_integer_wraps_in_32_bits_beyond_int32():
    """'The accumulation may overflow if and only if in 32 bits': 255 * 255 * 40000 > 2**31 wraps
    modulo 2**32, as a 32-bit accumulator does."""
    a = np.full((1, 40000), 255, np.uint8)
    b = np.full((40000, 2), 255, np.uint8)
    (y,) = run_ref(one_node("MatMulInteger", {"a": a, "b": b}, {}, ["a", "b"], opset=10), {"a": a, "b": b})
    exact = 255 * 255 * 40000
    assert exact > 2 ** 31
    np.testing.assert_array_equal(y, np.full((1, 2), (exact + 2 ** 31) % 2 ** 32 - 2 ** 31, np.int32))


# -- QLinearMatMul ---------------------------------------------------------------------------------
def qlinear_matmul_exact(a, sa, za, b, sb, zb, sy, zy, a_kind="tensor", b_kind="tensor"):
    acc = np.matmul(a.astype(np.int64) - zp_view(za, a_kind), b.astype(np.int64) - zp_view(zb, b_kind))
    fa = np.vectorize(frac, otypes=[object])(sa.reshape(-1, 1) if a_kind == "row" else sa)
    fb = np.vectorize(frac, otypes=[object])(sb)
    return exact_requantize(acc, fa * fb / frac(sy), zy, zy.dtype)


@pytest.mark.parametrize("opset, scale_type", [(10, np.float32), (21, np.float32), (21, np.float16)])
@pytest.mark.parametrize("per", [False, True])
def test_qlinear_matmul_rounds_the_exact_real_value(opset, scale_type, per):
    rng = np.random.default_rng(10)
    a = rng.integers(0, 256, (2, 6, 40)).astype(np.uint8)
    b = rng.integers(-128, 128, (40, 5)).astype(np.int8)
    if per:
        sa, za = rng.uniform(0.01, 0.05, 6).astype(scale_type), rng.integers(100, 150, 6).astype(np.uint8)
        sb, zb = rng.uniform(0.01, 0.05, 5).astype(scale_type), rng.integers(-3, 3, 5).astype(np.int8)
    else:
        sa, za = np.array(0.023, scale_type), np.array(131, np.uint8)
        sb, zb = np.array(0.011, scale_type), np.array(2, np.int8)
    sy, zy = np.array(0.7, scale_type), np.array(-5, np.int8)
    consts = {"sa": sa, "za": za, "sb": sb, "zb": zb, "sy": sy, "zy": zy}
    model = one_node("QLinearMatMul", {"a": a, "b": b}, consts, ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"],
                     opset=opset)
    (y,) = run_ref(model, {"a": a, "b": b})
    kinds = ("row", "column") if per else ("tensor", "tensor")
    np.testing.assert_array_equal(y, qlinear_matmul_exact(a, sa, za, b, sb, zb, sy, zy, *kinds))


def test_qlinear_matmul_decides_ties_a_float64_multiplier_misjudges():
    """a_scale = b_scale = 1/38 and y_scale = 0.1 (float32): acc 4693 = 100*40 + 3*231 times their
    real ratio is just above 32.5 (so 33), but 4693 * float64(a*b/y) rounds to 32."""
    sa = sb = np.array(1 / 38, np.float32)
    sy = np.array(0.1, np.float32)
    multiplier = float(sa) * float(sb) / float(sy)
    assert np.rint(4693 * multiplier) == 32
    a = np.array([[100, 3]], np.uint8)
    b = np.array([[40], [231]], np.uint8)
    consts = {"sa": sa, "za": np.array(0, np.uint8), "sb": sb, "zb": np.array(0, np.uint8), "sy": sy,
              "zy": np.array(0, np.uint8)}
    model = one_node("QLinearMatMul", {"a": a, "b": b}, consts, ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"],
                     opset=10)
    assert round(4693 * frac(sa) * frac(sb) / frac(sy)) == 33
    np.testing.assert_array_equal(run_ref(model, {"a": a, "b": b})[0], [[33]])
    (theirs,) = run_ort(model, {"a": a, "b": b})  # a float32 multiplier: 32 with onnxruntime 1.32
    assert theirs[0, 0] in (32, 33)


def assert_departures_are_near_ties(ours, theirs, acc, multiplier):
    """Every element where the other runtime differs is one step off, and ours is the exact
    rounding there (checked in rational arithmetic), the exact value within 1e-4 of a tie."""
    differ = np.flatnonzero(ours.astype(np.int64) != theirs.astype(np.int64))
    assert np.abs(ours.astype(np.int64) - theirs.astype(np.int64)).max(initial=0) <= 1
    mult = np.broadcast_to(np.asarray(multiplier, dtype=object), acc.shape).reshape(-1)
    for i in differ:
        value = int(acc.reshape(-1)[i]) * mult[i]
        assert abs(abs(value - math.floor(value)) - Fraction(1, 2)) < Fraction(1, 10 ** 4)
    return differ.size


def test_qlinear_matmul_matches_onnxruntime_but_where_its_float32_multiplier_is_off():
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (64, 256)).astype(np.uint8)
    b = rng.integers(-128, 128, (256, 96)).astype(np.int8)
    sa, sb, sy = np.array(0.0173, np.float32), rng.uniform(0.001, 0.01, 96).astype(np.float32), np.array(
        0.61, np.float32)
    za, zb, zy = np.array(121, np.uint8), np.zeros(96, np.int8), np.array(128, np.uint8)
    consts = {"sa": sa, "za": za, "sb": sb, "zb": zb, "sy": sy, "zy": zy}
    model = one_node("QLinearMatMul", {"a": a, "b": b}, consts, ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"],
                     opset=10)
    (ours,) = run_ref(model, {"a": a, "b": b})
    (theirs,) = run_ort(model, {"a": a, "b": b})
    acc = (a.astype(np.int64) - 121) @ b.astype(np.int64)
    multiplier = frac(sa) * np.vectorize(frac, otypes=[object])(sb) / frac(sy)
    np.testing.assert_array_equal(ours, exact_requantize(acc, multiplier, zy, np.uint8))
    assert_departures_are_near_ties(ours, theirs, acc, multiplier)


def test_qlinear_matmul_float8():
    """Opset 21, float8e4m3fn a, b, y: dequantize, multiply, quantize with saturation."""
    rng = np.random.default_rng(12)
    f8 = ml_dtypes.float8_e4m3fn
    a = rng.uniform(-4, 4, (3, 8)).astype(f8)
    b = rng.uniform(-4, 4, (8, 2)).astype(f8)
    consts = {"sa": np.array(0.5, np.float32), "za": np.array(0, f8), "sb": np.array(0.25, np.float32),
              "zb": np.array(0, f8), "sy": np.array(0.125, np.float32), "zy": np.array(0, f8)}
    model = one_node("QLinearMatMul", {"a": a, "b": b}, consts, ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"],
                     opset=21)
    (y,) = run_ref(model, {"a": a, "b": b})
    value = (a.astype(np.float32) @ b.astype(np.float32)) * np.float32(0.5 * 0.25 / 0.125)  # exact in float32 here
    top = float(ml_dtypes.finfo(f8).max)
    assert y.dtype == f8
    np.testing.assert_array_equal(y.astype(np.float32), np.clip(value, -top, top).astype(f8).astype(np.float32))


# -- ConvInteger and QLinearConv ---------------------------------------------------------------
CONV_CASES = [  # x shape, w shape, attributes
    ((1, 3, 9, 9), (4, 3, 3, 3), {}),
    ((2, 4, 10, 8), (6, 4, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((1, 4, 11, 11), (4, 2, 3, 3), {"group": 2, "strides": [2, 2], "pads": [1, 0, 2, 1]}),
    ((1, 6, 9, 9), (6, 1, 3, 3), {"group": 6, "pads": [1, 1, 1, 1]}),
    ((1, 3, 12, 12), (2, 3, 3, 2), {"dilations": [2, 3], "strides": [1, 2]}),
    ((1, 3, 7, 8), (5, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 7, 8), (5, 3, 4, 2), {"auto_pad": "SAME_LOWER"}),
    ((1, 3, 7, 8), (5, 3, 3, 3), {"auto_pad": "VALID", "strides": [1, 2]}),
    ((1, 8, 6, 6), (16, 8, 1, 1), {}),
    ((2, 3, 20), (4, 3, 5), {"pads": [2, 2], "strides": [3]}),
    ((1, 2, 5, 6, 5), (3, 2, 2, 3, 2), {"pads": [1, 0, 1, 0, 1, 1]}),
    ((1, 64, 10, 10), (32, 64, 3, 3), {"pads": [1, 1, 1, 1]}),  # the channels-last path
]


def conv_reference(x, xz, w, wz, attrs):
    wz64 = wz.astype(np.int64)
    if wz64.size > 1:
        wz64 = wz64.reshape((-1,) + (1,) * (w.ndim - 1))
    return conv_int64(x.astype(np.int64) - xz.astype(np.int64), w.astype(np.int64) - wz64, attrs.get("group", 1),
                      attrs.get("strides"), attrs.get("dilations"), attrs.get("pads"), attrs.get("auto_pad", "NOTSET"))


@pytest.mark.parametrize("x_shape, w_shape, attrs", CONV_CASES)
@pytest.mark.parametrize("x_type, w_type", [(np.uint8, np.int8), (np.int8, np.uint8)])
def test_conv_integer_is_the_int64_convolution(x_shape, w_shape, attrs, x_type, w_type):
    rng = np.random.default_rng(13)
    x = rng.integers(np.iinfo(x_type).min, np.iinfo(x_type).max + 1, x_shape).astype(x_type)
    w = rng.integers(np.iinfo(w_type).min, np.iinfo(w_type).max + 1, w_shape).astype(w_type)
    xz = np.array(9, x_type)
    wz = rng.integers(0, 20, w_shape[0]).astype(w_type)  # per output channel
    model = one_node("ConvInteger", {"x": x}, {"w": w, "xz": xz, "wz": wz}, ["x", "w", "xz", "wz"], attrs, opset=10)
    (y,) = run_ref(model, {"x": x})
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, conv_reference(x, xz, w, wz, attrs))


@pytest.mark.parametrize("x_shape, w_shape, attrs", CONV_CASES)
def test_qlinear_conv_rounds_the_exact_real_value(x_shape, w_shape, attrs):
    rng = np.random.default_rng(14)
    x = rng.integers(0, 256, x_shape).astype(np.uint8)
    w = rng.integers(-128, 128, w_shape).astype(np.int8)
    m = w_shape[0]
    consts = {"xs": np.array(0.031, np.float32), "xz": np.array(117, np.uint8), "w": w,
              "ws": rng.uniform(0.002, 0.02, m).astype(np.float32), "wz": np.zeros(m, np.int8),
              "ys": np.array(0.45, np.float32), "yz": np.array(-3, np.int8),
              "b": rng.integers(-3000, 3000, m).astype(np.int32)}
    model = one_node("QLinearConv", {"x": x}, consts, ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], attrs,
                     opset=10)
    (y,) = run_ref(model, {"x": x})
    channel = (1, -1) + (1,) * (len(x_shape) - 2)
    acc = conv_reference(x, consts["xz"], w, consts["wz"], attrs) + consts["b"].astype(np.int64).reshape(channel)
    multiplier = (frac(consts["xs"]) * np.vectorize(frac, otypes=[object])(consts["ws"]) / frac(consts["ys"]))
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, exact_requantize(acc, multiplier.reshape(channel), consts["yz"], np.int8))


def test_qlinear_conv_resnet_layer_matches_onnxruntime_but_at_near_ties():
    """A ResNet 3x3 layer (1x64x56x56, 64 filters, per-channel weight scales, bias): onnxruntime's
    float32 requantization differs from the exact value only at elements within a float32
    rounding of a tie; there refruntime is the exact rounding."""
    rng = np.random.default_rng(0)  # onnxruntime 1.32 on x86 departs at one element of this layer
    x = rng.integers(0, 256, (1, 64, 56, 56)).astype(np.uint8)
    w = rng.integers(-128, 128, (64, 64, 3, 3)).astype(np.int8)
    ws = rng.uniform(0.001, 0.004, 64).astype(np.float32)
    consts = {"xs": np.array(0.02, np.float32), "xz": np.array(128, np.uint8), "w": w, "ws": ws,
              "wz": np.zeros(64, np.int8), "ys": np.array(0.9, np.float32), "yz": np.array(120, np.uint8),
              "b": rng.integers(-5000, 5000, 64).astype(np.int32)}
    model = one_node("QLinearConv", {"x": x}, consts, ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                     {"pads": [1, 1, 1, 1]}, opset=13)
    (ours,) = run_ref(model, {"x": x})
    (theirs,) = run_ort(model, {"x": x})
    acc = conv_int64(x.astype(np.int64) - 128, w.astype(np.int64), pads=[1, 1, 1, 1]) + consts["b"].reshape(1, -1, 1, 1)
    multiplier = frac(consts["xs"]) * np.vectorize(frac, otypes=[object])(consts["ws"]) / frac(consts["ys"])
    multiplier = multiplier.reshape(1, -1, 1, 1)
    # exact check of every element would take seconds: float64 is exact away from ties, and
    # every element near one (and every departure from onnxruntime) is checked rationally
    estimate = acc * (consts["xs"].astype(np.float64) * consts["ws"].astype(np.float64).reshape(1, -1, 1, 1)
                      / np.float64(consts["ys"]))
    far = np.abs(np.abs(estimate - np.floor(estimate)) - 0.5) > 1e-6
    np.testing.assert_array_equal(ours[far], clip_to(np.rint(estimate[far]) + 120, np.uint8))
    near = np.flatnonzero(~far)
    mult = np.broadcast_to(multiplier, acc.shape).reshape(-1)
    for i in near:
        assert ours.reshape(-1)[i] == exact_requantize(acc.reshape(-1)[i:i + 1], mult[i], 120, np.uint8)[0]
    assert assert_departures_are_near_ties(ours, theirs, acc, multiplier) <= 0.001 * ours.size


# -- DynamicQuantizeLinear ---------------------------------------------------------------------
def dynamic_formula(x):
    """The spec's formulas, each step in float32 (the op's function body)."""
    f = np.float32
    lo, hi = min(f(x.min()), f(0)), max(f(x.max()), f(0))
    scale = f(1) if hi == lo else f(f(hi - lo) / f(255))
    zp = np.uint8(np.rint(np.clip(float(f(f(0) - f(lo / scale))), 0, 255)))
    y = quantize_f32(x, scale, zp, np.uint8)
    return y, scale, zp


@pytest.mark.parametrize("values", [
    np.linspace(-3.1, 7.7, 97), np.linspace(0.5, 9, 13), np.linspace(-9, -0.5, 13), np.zeros(5),
    np.array([-1.0, 101.0, 50.0, 0.2]),
])
def test_dynamic_quantize_linear(values):
    x = values.astype(np.float32)
    model = one_node("DynamicQuantizeLinear", {"x": x}, {}, ["x"], opset=11, outputs=("y", "s", "z"))
    y, s, z = run_ref(model, {"x": x})
    ey, es, ez = dynamic_formula(x)
    np.testing.assert_array_equal(y, ey)
    assert s.dtype == np.float32 and s == es and z.dtype == np.uint8 and z == ez


def test_dynamic_quantize_linear_zero_point_ties_to_even():
    """x in [-1, 101]: lo / scale is exactly 2.5 in float32, so the zero point is 2 (half to even,
    the spec); onnxruntime's std::round gives 3 (asserted only where it does)."""
    x = np.array([-1.0, 101.0], np.float32)
    model = one_node("DynamicQuantizeLinear", {"x": x}, {}, ["x"], opset=11, outputs=("y", "s", "z"))
    _, s, z = run_ref(model, {"x": x})
    assert float(np.float32(0) - np.float32(-1.0) / s) == 2.5 and z == 2
    _, _, ort_z = run_ort(model, {"x": x})
    if ort_z != z:
        assert ort_z == 3


# -- parameters the spec forbids ---------------------------------------------------------------
def _qlinear_conv_model(**override):
    rng = np.random.default_rng(16)
    consts = {"xs": np.array(0.1, np.float32), "xz": np.array(0, np.uint8),
              "w": rng.integers(-5, 5, (4, 3, 3, 3)).astype(np.int8), "ws": np.full(4, 0.1, np.float32),
              "wz": np.zeros(4, np.int8), "ys": np.array(0.5, np.float32), "yz": np.array(0, np.uint8)}
    consts.update(override)
    x = np.zeros((1, 3, 5, 5), np.uint8)
    return one_node("QLinearConv", {"x": x}, consts, ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], opset=10), x


BAD_PARAMETERS = [
    ("QuantizeLinear zero scale", "QuantizeLinear", {"s": np.array(0.0, np.float32)}, 1, "positive"),
    ("QuantizeLinear negative scale", "QuantizeLinear", {"s": np.array(-0.5, np.float32)}, 1, "positive"),
    ("QuantizeLinear NaN scale", "QuantizeLinear", {"s": np.array(np.nan, np.float32)}, 1, "non-finite"),
    ("QuantizeLinear Inf scale", "QuantizeLinear", {"s": np.array(np.inf, np.float32)}, 1, "non-finite"),
    ("QuantizeLinear int32 zero point", "QuantizeLinear", {"z": np.array(3, np.int32)}, 2, "int32"),
    ("QuantizeLinear per-axis scale at opset 10", "QuantizeLinear", {"s": np.ones(3, np.float32)}, 1, "single value"),
    ("DequantizeLinear zero scale", "DequantizeLinear", {"s": np.array(0.0, np.float32)}, 1, "positive"),
    ("DequantizeLinear zero point of another type", "DequantizeLinear", {"z": np.array(3, np.int8)}, 2, "int8"),
    ("DequantizeLinear scale not along the axis", "DequantizeLinear",
     {"s": np.ones(5, np.float32), "z": np.zeros(5, np.uint8)}, 1, "axis 1 needs a 1-D tensor of 3 values"),
    ("DequantizeLinear zero point shape", "DequantizeLinear",
     {"s": np.ones(3, np.float32), "z": np.zeros(2, np.uint8)}, 2, "same shape"),
    ("DequantizeLinear blocked shape", "DequantizeLinear",
     {"s": np.ones((2, 1), np.float32), "z": np.zeros((2, 1), np.uint8), "block_size": 2}, 1, r"needs shape \[2, 2\]"),
    ("QLinearConv zero weight scale", "QLinearConv", {"ws": np.array([0.1, 0, 0.1, 0.1], np.float32)}, 4, "positive"),
    ("QLinearConv weight scales per channel", "QLinearConv", {"ws": np.full(3, 0.1, np.float32)}, 4,
     "4 output channels"),
    ("QLinearConv weight zero point type", "QLinearConv", {"wz": np.zeros(4, np.uint8)}, 5, "int8"),
    ("QLinearConv per-axis x scale", "QLinearConv", {"xs": np.full(3, 0.1, np.float32)}, 1, "single value"),
    ("QLinearConv y zero point type", "QLinearConv", {"yz": np.array(0, np.int32)}, 7, "int32"),
]


def _bad_model(op, override):
    override = dict(override)
    if op == "QLinearConv":
        return _qlinear_conv_model(**override)[0]
    if op == "QuantizeLinear":
        consts = {"s": np.array(0.5, np.float32), "z": np.array(0, np.uint8)}
        consts.update(override)
        return one_node(op, {"x": np.zeros((2, 3), np.float32)}, consts, ["x", "s", "z"], opset=10)
    consts = {"x": np.zeros((2, 3), np.uint8), "s": np.array(0.5, np.float32), "z": np.array(0, np.uint8)}
    block = override.pop("block_size", 0)
    consts.update(override)
    return one_node(op, {}, consts, ["x", "s", "z"], {"block_size": block} if block else None, opset=21 if block else 13)


@pytest.mark.parametrize("label, op, override, index, words", BAD_PARAMETERS, ids=[b[0] for b in BAD_PARAMETERS])
def test_bad_parameter_initializers_are_refused_when_the_session_is_built(label, op, override, index, words):
    """The kernel's plan-time check names node and input (strict=False: onnx's type inference,
    which refuses some of these first, naming the node, is off)."""
    model = _bad_model(op, override)
    name = model.graph.node[0].input[index]
    with pytest.raises(ModelError, match=rf"node 'q' \({op}\), input {index} '{name}'.*{words}"):
        Session(model, strict=False)
    with pytest.raises(ModelError, match=r"node 'q' \(" + op):
        Session(model)


def test_bad_parameters_fed_at_run_time_are_kernel_errors_naming_the_input():
    x = np.zeros((2, 3), np.float32)
    model = one_node("QuantizeLinear", {"x": x, "s": np.array(1.0, np.float32)}, {}, ["x", "s"], opset=13)
    session = Session(model)
    session.run({"x": x, "s": np.array(1.0, np.float32)})
    with pytest.raises(KernelError, match=r"input 1 's'.*positive"):
        session.run({"x": x, "s": np.array(0.0, np.float32)})
    dq = one_node("DequantizeLinear", {"x": np.zeros((2, 3), np.int8)}, {"s": np.ones(4, np.float32)}, ["x", "s"],
                  opset=13)
    with pytest.raises(KernelError, match=r"input 1 's'.*3 values.*shape \[4\]"):
        Session(dq).run({"x": np.zeros((2, 3), np.int8)})


def test_graphkit_run_refuses_a_zero_scale_with_one_line(tmp_path, capsys):
    from graphkit.cli.main import main

    path = tmp_path / "bad_scale.onnx"
    onnx.save(_qlinear_conv_model(ys=np.array(0.0, np.float32))[0], path)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ModelError" in err and "node 'q' (QLinearConv), input 6 'ys'" in err


# -- the exactness machinery ----------------------------------------------------------------------
def test_integer_products_pick_float32_only_when_every_partial_sum_is_exact():
    """kernels/integer.py's bound: float32 BLAS below 2**24, float64 below 2**53; worst-case 8-bit
    inputs over K = 4096 (above 2**24: float64) stay exact."""
    from refruntime.kernels.integer import exact_dtype, matmul_bound

    a = np.full((2, 4096), 255, np.uint8)
    b = np.full((4096, 2), -128, np.int8)
    assert matmul_bound(a, None, b, None) == 255 * 128 * 4096
    assert exact_dtype(255 * 128 * 4096) == np.float64 and exact_dtype(2 ** 24 - 1) == np.float32
    (y,) = run_ref(one_node("MatMulInteger", {"a": a, "b": b}, {}, ["a", "b"], opset=10), {"a": a, "b": b})
    np.testing.assert_array_equal(y, np.full((2, 2), -255 * 128 * 4096))


@pytest.mark.parametrize("out_type", [np.uint8, np.int8])
def test_float32_per_tensor_fast_paths_equal_the_float64_route_bit_for_bit(out_type, monkeypatch):
    """ops/_quant.py's float32 route for per-tensor uint8/int8 (QDQ activations) against its float64
    route, bit for bit: ties at every half step, values around the range's ends, huge quotients,
    +-Inf, NaN, signed zeros, subnormal scales' products."""
    from refruntime.ops import _quant

    rng = np.random.default_rng(7)
    scale = np.float32(0.0173)
    zp = np.asarray(128 if out_type == np.uint8 else -3, out_type)
    halves = (np.arange(-600, 600) + 0.5).astype(np.float32) * scale  # near-ties after float32 rounding
    x = np.concatenate([halves, rng.standard_normal(100_000).astype(np.float32) * 3,
                        np.float32([0.0, -0.0, 3e38, -3e38, np.inf, -np.inf, np.nan, 1e-45, 2.2, -2.2])])
    codes = np.arange(np.iinfo(out_type).min, np.iinfo(out_type).max + 1).astype(out_type)
    scales = (np.float32(0.0173), np.float32(3.4e38 / 300), np.float32(1e-40))

    def both_routes():
        return (_quant.quantize(x, scale, zp, np.dtype(out_type), precision=np.dtype(np.float32)),
                [_quant.dequantize(codes, s, zp) for s in scales])

    fast_q, fast_dq = both_routes()
    monkeypatch.setattr(_quant, "_float32_per_tensor", lambda *args: False)  # the general, float64 route
    slow_q, slow_dq = both_routes()
    assert fast_q.dtype == np.dtype(out_type) and all(y.dtype == np.float32 for y in fast_dq)
    np.testing.assert_array_equal(fast_q, slow_q)
    monkeypatch.undo()
    for shape in [(), (1,), (0, 3)]:  # a 0-d tensor (a quantized Constant), one value, no values
        v = np.full(shape, 1.5, np.float32)
        y = _quant.quantize(v, scale, zp, np.dtype(out_type), precision=np.dtype(np.float32))
        assert y.shape == shape and y.dtype == np.dtype(out_type)
        assert _quant.dequantize(y, scale, zp).shape == shape
    for fast, slow, s in zip(fast_dq, slow_dq, scales):
        np.testing.assert_array_equal(fast, slow)
        np.testing.assert_array_equal(fast, ((codes.astype(np.float64) - float(zp)) * np.float64(s)).astype(np.float32))
