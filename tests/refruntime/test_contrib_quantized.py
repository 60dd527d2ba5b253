"""com.microsoft quantized kernels (refruntime/ops/com_microsoft/) against formulas written here from
onnxruntime's docs/ContribOperators.md, and against onnxruntime (CPU, optimizations off).

Truths are this file's own arithmetic: int64 for integer sums, float64 for the rest, and exact
rationals (fractions.Fraction) wherever a float64 value lies near a rounding tie. Integer outputs
must equal the truth; onnxruntime, which computes in float32, must be within one quantization step,
and every element where it differs is one where refruntime equals the exact truth. No comparison
depends on a BLAS kernel's rounding (float results are compared with tolerances above float32's
rounding, integer products are exact).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import KernelError, ModelError, Session
from refruntime.registry import find_native

MS = "com.microsoft"
F32 = np.float32


def f32(v):
    return np.asarray(v, dtype=np.float32)


def contrib_model(op, inputs, attrs=None, out_types=None, n_out=1, initializers=(), opset=17):
    """One com.microsoft node; inputs[i] None = absent (empty name); indices in `initializers`
    become initializers (constants at plan time), the others graph inputs."""
    inputs = [None if v is None else np.asarray(v) for v in inputs]
    names = [f"x{i}" if v is not None else "" for i, v in enumerate(inputs)]
    while names and not names[-1]:
        names.pop()
    outs = [f"y{i}" for i in range(n_out)]
    out_types = out_types or [inputs[0].dtype] * n_out
    node = helper.make_node(op, names, outs, domain=MS, name="node", **(attrs or {}))
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                    for i, (n, v) in enumerate(zip(names, inputs)) if n and i not in initializers]
    inits = [numpy_helper.from_array(inputs[i], f"x{i}") for i in initializers if inputs[i] is not None]
    graph = helper.make_graph(
        [node], "g", graph_inputs,
        [helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.dtype(t)), None)
         for o, t in zip(outs, out_types)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)])


def feeds_of(inputs, initializers=()):
    return {f"x{i}": np.asarray(v) for i, v in enumerate(inputs) if v is not None and i not in initializers}


def run_ref(model, feeds):
    session = Session(model, allow_fallback=False)
    out = session.run(feeds)
    return [out[o.name] for o in model.graph.output]


def run_ort(model, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def both(op, inputs, attrs=None, out_types=None, n_out=1, initializers=()):
    model = contrib_model(op, inputs, attrs, out_types, n_out, initializers)
    feeds = feeds_of(inputs, initializers)
    return run_ref(model, feeds), run_ort(model, feeds)


def limits(dtype):
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def random_q(rng, dtype, shape):
    lo, hi = limits(dtype)
    return rng.integers(lo, hi + 1, shape).astype(dtype)


def requantize_truth(estimate, exact, zero_point, dtype):
    """The doc's saturate(round(v) + zero_point), v given as a float64 estimate; elements within
    1e-6 of a tie take round() of exact(index) (a Fraction; Python rounds half to even)."""
    estimate = np.asarray(estimate, dtype=np.float64)
    rounded = np.rint(estimate)
    near = np.abs(np.abs(estimate - np.floor(estimate)) - 0.5) < 1e-6
    for index in zip(*np.nonzero(near)):
        rounded[index] = round(exact(index))
    lo, hi = limits(dtype)
    return np.clip(rounded + zero_point, lo, hi).astype(dtype)


def assert_ort_within_one_step(ref, ort_out, truth):
    """refruntime equals the truth; onnxruntime is at most one step away. Returns how many
    elements onnxruntime has off by one (all of them elements where refruntime is the exact one)."""
    np.testing.assert_array_equal(ref, truth)
    diff = np.abs(ref.astype(np.int64) - ort_out.astype(np.int64))
    assert diff.max(initial=0) <= 1, f"onnxruntime is {diff.max()} steps away"
    return int(np.count_nonzero(diff))


# ---------------------------------------------------------------------------------------------
# QLinearAdd / QLinearMul: C = quantize(f(dequantize(A), dequantize(B)))
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
def test_qlinear_binary(op, dtype):
    rng = np.random.default_rng(0)
    a, b = random_q(rng, dtype, (2, 3, 40)), random_q(rng, dtype, (3, 1))  # broadcasting
    lo, _ = limits(dtype)
    sa, za, sb, zb, sc, zc = f32(0.05), dtype(lo + 120), f32(0.07), dtype(lo + 130), f32(0.11), dtype(lo + 125)
    if op == "QLinearMul":
        sc = f32(0.9)
    da = a.astype(np.int64) - int(za)
    db = b.astype(np.int64) - int(zb)
    fa, fb, fc = Fraction(float(sa)), Fraction(float(sb)), Fraction(float(sc))
    if op == "QLinearAdd":
        estimate = (float(sa) * da + float(sb) * db) / float(sc)

        def exact(i):
            return (fa * int(np.broadcast_to(da, estimate.shape)[i])
                    + fb * int(np.broadcast_to(db, estimate.shape)[i])) / fc
    else:
        estimate = da * db * float(sa) * float(sb) / float(sc)

        def exact(i):
            return int(np.broadcast_to(da, estimate.shape)[i]) * int(np.broadcast_to(db, estimate.shape)[i]) \
                * fa * fb / fc
    truth = requantize_truth(estimate, exact, int(zc), dtype)
    (ref,), (theirs,) = both(op, [a, sa, np.array(za), b, sb, np.array(zb), sc, np.array(zc)])
    assert ref.dtype == dtype and ref.shape == (2, 3, 40)
    assert_ort_within_one_step(ref, theirs, truth)


def test_qlinear_binary_zero_points_default_to_zero():
    rng = np.random.default_rng(1)
    a, b = random_q(rng, np.int8, (50,)), random_q(rng, np.int8, (50,))
    sa, sb, sc = (float(f32(v)) for v in (0.02, 0.03, 0.04))
    inputs = [a, f32(0.02), None, b, f32(0.03), None, f32(0.04)]
    (ref,) = run_ref(contrib_model("QLinearAdd", inputs), feeds_of(inputs))
    truth = requantize_truth((sa * a.astype(np.float64) + sb * b) / sc,
                             lambda i: (Fraction(sa) * int(a[i]) + Fraction(sb) * int(b[i])) / Fraction(sc), 0, np.int8)
    np.testing.assert_array_equal(ref, truth)


# ---------------------------------------------------------------------------------------------
# Lookup-table ops: the exact map dequantize -> f in float64 -> quantize, over all 256 values
def _lookup_case(op, dtype, params, alpha=None):
    sx, zx, sy, zy = params
    lo, hi = limits(dtype)
    x = np.arange(lo, hi + 1).astype(dtype).reshape(16, 16)
    v = float(f32(sx)) * (x.astype(np.float64) - zx)
    if op == "QLinearSigmoid":
        estimate = 1.0 / (1.0 + np.exp(-v)) / float(f32(sy))
        exact = None
        attrs = {}
    else:
        a = float(f32(0.01 if alpha is None else alpha))
        estimate = np.where(v >= 0, v, a * v) / float(f32(sy))

        def exact(i):
            w = Fraction(float(f32(sx))) * (int(x[i]) - zx)
            return (w if w >= 0 else Fraction(a) * w) / Fraction(float(f32(sy)))
        attrs = {} if alpha is None else {"alpha": alpha}
    truth = requantize_truth(estimate, exact or (lambda i: Fraction(float(estimate[i]))), zy, dtype)
    (ref,), (theirs,) = both(op, [x, f32(sx), dtype(zx), f32(sy), dtype(zy)], attrs)
    return ref, theirs, truth


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("op,alpha", [("QLinearSigmoid", None), ("QLinearLeakyRelu", None),
                                      ("QLinearLeakyRelu", 0.1)])
def test_lookup_table_ops(op, alpha, dtype):
    lo, _ = limits(dtype)
    off_by_one = 0
    for params in ((0.05, lo + 131, 1 / 256, lo), (0.1, lo + 130, 0.02, lo + 7), (0.03, lo + 100, 0.025, lo + 60)):
        ref, theirs, truth = _lookup_case(op, dtype, params, alpha)
        off_by_one += assert_ort_within_one_step(ref, theirs, truth)
    assert off_by_one <= 16  # onnxruntime's float32 table: a few entries near ties


def test_leaky_relu_where_float32_misrounds():
    """uint8, X_scale = Y_scale * 5 = 0.1, alpha = 0.1: alpha * X_scale / Y_scale is 0.5 up to
    float32 rounding, so every negative entry is a near-tie. The exact value (Fractions here)
    decides; onnxruntime's float32 table goes the other way on some."""
    ref, theirs, truth = _lookup_case("QLinearLeakyRelu", np.uint8, (0.1, 130, 0.02, 7), alpha=0.1)
    differ = np.nonzero(ref != theirs)
    assert differ[0].size >= 1
    np.testing.assert_array_equal(ref, truth)
    for i in zip(*differ):
        x = int(np.arange(256).reshape(16, 16)[i])
        exact = Fraction(float(f32(0.1))) * Fraction(float(f32(0.1))) * (x - 130) / Fraction(float(f32(0.02)))
        assert int(ref[i]) == round(exact) + 7 != int(theirs[i])


# ---------------------------------------------------------------------------------------------
# QLinearSoftmax
def _softmax_truth(x, sx, zx, sy, zy, axis, opset):
    v = float(f32(sx)) * (x.astype(np.float64) - zx)
    if opset < 13:
        axis = axis % x.ndim
        v2 = v.reshape(int(np.prod(x.shape[:axis])), -1)
        e = np.exp(v2 - v2.max(axis=1, keepdims=True))
        p = (e / e.sum(axis=1, keepdims=True)).reshape(x.shape)
    else:
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        p = e / e.sum(axis=axis, keepdims=True)
    lo, hi = limits(x.dtype)
    return np.clip(np.rint(p / float(f32(sy))) + zy, lo, hi).astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("opset,axis", [(12, None), (12, 1), (13, None), (13, 1), (13, -1)])
def test_qlinear_softmax(opset, axis, dtype):
    rng = np.random.default_rng(2)
    x = random_q(rng, dtype, (3, 4, 10))
    x[0, 0, :] = limits(dtype)[0]
    x[0, 0, 3] = limits(dtype)[1]  # a row whose probability is ~1 (saturates)
    lo, _ = limits(dtype)
    attrs = {"opset": opset} if axis is None else {"opset": opset, "axis": axis}
    for sx, zx in ((0.05, 3), (0.02, 0)):
        (ref,), (theirs,) = both("QLinearSoftmax", [x, f32(sx), dtype(zx), f32(1 / 256), dtype(lo)], attrs)
        truth = _softmax_truth(x, sx, zx, 1 / 256, lo, -1 if axis is None else axis, opset)
        np.testing.assert_array_equal(ref, truth)
        np.testing.assert_array_equal(theirs, truth)  # y_scale 1/256: onnxruntime's approximation is exact


def test_qlinear_softmax_onnxruntime_floors_the_inverse_scale():
    """onnxruntime multiplies by floor(1 / y_scale): with y_scale = float32(1/255) that is 254, so a
    probability of 1 gives 254 where the doc's quantize(1) is 255 (refruntime)."""
    x = np.zeros((1, 4), dtype=np.uint8)
    x[0, 0] = 255
    (ref,), (theirs,) = both("QLinearSoftmax", [x, f32(0.1), np.uint8(0), f32(1 / 255), np.uint8(0)], {"opset": 13})
    assert ref[0, 0] == 255 and theirs[0, 0] == 254
    np.testing.assert_array_equal(ref, _softmax_truth(x, 0.1, 0, 1 / 255, 0, -1, 13))


# ---------------------------------------------------------------------------------------------
# QLinearConcat
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_concat(dtype):
    rng = np.random.default_rng(3)
    lo, _ = limits(dtype)
    tensors = [random_q(rng, dtype, (2, k, 3)) for k in (1, 4, 2)]
    params = [(0.07, lo + 131), (0.035, lo + 128), (0.1, lo + 137)]  # the first equals Y's: copied
    sy, zy = 0.07, lo + 131
    inputs = [f32(sy), dtype(zy)]
    parts = []
    for t, (s, z) in zip(tensors, params):
        inputs += [t, f32(s), dtype(z)]
        estimate = float(f32(s)) * (t.astype(np.float64) - z) / float(f32(sy))
        parts.append(requantize_truth(
            estimate, lambda i, t=t, s=s, z=z: Fraction(float(f32(s))) * (int(t[i]) - z) / Fraction(float(f32(sy))),
            zy, dtype))
    for axis in (1, -2):
        (ref,), (theirs,) = both("QLinearConcat", inputs, {"axis": axis}, out_types=[dtype])
        assert_ort_within_one_step(ref, theirs, np.concatenate(parts, axis=1))


def test_qlinear_concat_exact_tie():
    """0.035 * 63 / 0.07 is exactly 31.5 in float32 values (float32(0.07) = 2 * float32(0.035)):
    half to even gives 32. onnxruntime rounds the float32 product 0.035 * 63 first and gets 31."""
    assert Fraction(float(f32(0.035))) * 63 / Fraction(float(f32(0.07))) == Fraction(63, 2)
    x = np.array([[63]], dtype=np.uint8)
    inputs = [f32(0.07), np.uint8(3), x, f32(0.035), np.uint8(0)]
    (ref,), (theirs,) = both("QLinearConcat", inputs, {"axis": 1}, out_types=[np.uint8])
    assert ref[0, 0] == 32 + 3 and theirs[0, 0] == 31 + 3


# ---------------------------------------------------------------------------------------------
# QLinearGlobalAveragePool / QLinearAveragePool
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("channels_last", [0, 1])
def test_qlinear_global_average_pool(channels_last, dtype):
    rng = np.random.default_rng(4)
    lo, _ = limits(dtype)
    x = random_q(rng, dtype, (2, 3, 5, 7))
    spatial = (1, 2) if channels_last else (2, 3)
    for sx, zx, sy, zy in ((0.05, lo + 3, 0.05, lo + 3), (0.03, lo + 100, 0.011, lo + 2)):
        sums = (x.astype(np.int64) - zx).sum(axis=spatial, keepdims=True)
        n = int(np.prod([x.shape[a] for a in spatial]))
        estimate = sums * float(f32(sx)) / (n * float(f32(sy)))
        exact_ratio = Fraction(float(f32(sx))) / (n * Fraction(float(f32(sy))))
        truth = requantize_truth(estimate, lambda i, s=sums, r=exact_ratio: int(s[i]) * r, zy, dtype)
        (ref,), (theirs,) = both("QLinearGlobalAveragePool", [x, f32(sx), dtype(zx), f32(sy), dtype(zy)],
                                 {"channels_last": channels_last})
        assert ref.shape == truth.shape == ((2, 1, 1, 7) if channels_last else (2, 3, 1, 1))
        assert_ort_within_one_step(ref, theirs, truth)


def _pool_axis(size, k, s, pb, pe, ceil_mode, auto_pad):
    """Output size and begin/end pads of one spatial axis (onnx AveragePool)."""
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = -(-size // s)
        total = max(0, (out - 1) * s + k - size)
        small = total // 2
        pb, pe = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
        return out, pb, pe
    span = size + pb + pe - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + pb:
        out -= 1
    return out, pb, pe


def _average_pool_truth(x, sx, zx, sy, zy, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=0,
                        count_include_pad=0, auto_pad="NOTSET", divide_by_kernel=False):
    """The doc's Dequantize -> AveragePool -> Quantize on NCHW x, window by window. With
    divide_by_kernel, onnxruntime's divisor (the kernel size whenever count_include_pad)."""
    n, c, h, w = x.shape
    (oh, pt, pbot), (ow, pl, pr) = (_pool_axis(h, kernel_shape[0], strides[0], pads[0], pads[2], ceil_mode, auto_pad),
                                    _pool_axis(w, kernel_shape[1], strides[1], pads[1], pads[3], ceil_mode, auto_pad))
    d = x.astype(np.int64) - zx
    sums = np.zeros((n, c, oh, ow), dtype=np.int64)
    counts = np.zeros((oh, ow), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            rows = [r for r in range(i * strides[0] - pt, i * strides[0] - pt + kernel_shape[0])]
            cols = [q for q in range(j * strides[1] - pl, j * strides[1] - pl + kernel_shape[1])]
            inside_r = [r for r in rows if 0 <= r < h]
            inside_c = [q for q in cols if 0 <= q < w]
            sums[:, :, i, j] = d[:, :, inside_r][:, :, :, inside_c].sum(axis=(2, 3))
            if divide_by_kernel and count_include_pad:
                counts[i, j] = kernel_shape[0] * kernel_shape[1]
            elif count_include_pad:
                counts[i, j] = (sum(-pt <= r < h + pbot for r in rows) * sum(-pl <= q < w + pr for q in cols))
            else:
                counts[i, j] = len(inside_r) * len(inside_c)
    estimate = sums * float(f32(sx)) / (counts * float(f32(sy)))
    return requantize_truth(estimate, lambda i: Fraction(int(sums[i])) * Fraction(float(f32(sx)))
                            / (int(counts[i[2:]]) * Fraction(float(f32(sy)))), zy, x.dtype)


POOLS = [
    ({"kernel_shape": [2, 2]}, {}),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, {"strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1},
     {"strides": (2, 2), "pads": (1, 1, 1, 1), "count_include_pad": 1}),
    ({"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}, {"strides": (2, 2), "ceil_mode": 1}),
    ({"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"}, {"auto_pad": "SAME_UPPER"}),
    ({"kernel_shape": [2, 3], "auto_pad": "SAME_LOWER", "strides": [2, 1], "count_include_pad": 1},
     {"auto_pad": "SAME_LOWER", "strides": (2, 1), "count_include_pad": 1}),
]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("channels_last", [0, 1])
@pytest.mark.parametrize("attrs,formula", POOLS, ids=[str(i) for i in range(len(POOLS))])
def test_qlinear_average_pool(attrs, formula, channels_last, dtype):
    rng = np.random.default_rng(5)
    lo, _ = limits(dtype)
    x = random_q(rng, dtype, (2, 3, 5, 7))
    sx, zx, sy, zy = 0.03, lo + 100, 0.011, lo + 2  # even zero point: see the next test for odd ones
    truth = _average_pool_truth(x, sx, zx, sy, zy, attrs["kernel_shape"], **formula)
    fed = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    (ref,), (theirs,) = both("QLinearAveragePool", [fed, f32(sx), dtype(zx), f32(sy), dtype(zy)],
                             dict(attrs, channels_last=channels_last))
    if channels_last:
        ref, theirs = np.moveaxis(ref, -1, 1), np.moveaxis(theirs, -1, 1)
    assert_ort_within_one_step(ref, theirs, truth)


def test_qlinear_average_pool_onnxruntime_departures():
    """(1) With count_include_pad and a ceil_mode window reaching past the end padding, onnxruntime
    divides by the whole kernel; refruntime follows AveragePool (positions inside the padded input).
    (2) onnxruntime rounds y / y_scale + y_zero_point, so with an odd zero point exact ties go the
    other way."""
    rng = np.random.default_rng(6)
    x = random_q(rng, np.uint8, (1, 2, 5, 7))
    attrs = {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1, "count_include_pad": 1}
    formula = {"strides": (2, 2), "ceil_mode": 1, "count_include_pad": 1}
    (ref,), (theirs,) = both("QLinearAveragePool", [x, f32(0.03), np.uint8(100), f32(0.011), np.uint8(2)], attrs)
    np.testing.assert_array_equal(ref, _average_pool_truth(x, 0.03, 100, 0.011, 2, [3, 2], **formula))
    onnxruntime_reading = _average_pool_truth(x, 0.03, 100, 0.011, 2, [3, 2], divide_by_kernel=True, **formula)
    assert np.abs(theirs.astype(int) - onnxruntime_reading.astype(int)).max() <= 1
    assert (ref != theirs).any()
    # (2) equal scales, 2x2 windows: many sums are exact ties k + 1/2
    (ref,), (theirs,) = both("QLinearAveragePool", [x, f32(0.05), np.uint8(3), f32(0.05), np.uint8(3)],
                             {"kernel_shape": [2, 2]})
    truth = _average_pool_truth(x, 0.05, 3, 0.05, 3, [2, 2])
    assert assert_ort_within_one_step(ref, theirs, truth) > 0


# ---------------------------------------------------------------------------------------------
# QGemm
@pytest.mark.parametrize("types", [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)],
                         ids=["u8u8", "u8s8", "s8s8"])
@pytest.mark.parametrize("trans", [(0, 0), (1, 1)], ids=["NN", "TT"])
@pytest.mark.parametrize("per_column", [False, True])
def test_qgemm(types, trans, per_column):
    ta, tb = types
    rng = np.random.default_rng(7)
    m, k, n = 5, 37, 6
    a = random_q(rng, ta, (k, m) if trans[0] else (m, k))
    b = random_q(rng, tb, (n, k) if trans[1] else (k, n))
    sb = f32(rng.uniform(0.001, 0.01, n)) if per_column else f32(0.004)
    zb = rng.integers(0, 3, n).astype(tb) if per_column else tb(1)
    c = rng.integers(-5000, 5000, (n,)).astype(np.int32)
    za = ta(3)
    attrs = {"transA": trans[0], "transB": trans[1], "alpha": 0.5}
    a2 = a.T if trans[0] else a
    b2 = b.T if trans[1] else b
    acc = (a2.astype(np.int64) - int(za)) @ (b2.astype(np.int64) - np.asarray(zb, np.int64)) + c
    multiplier = 0.5 * float(f32(0.02)) * np.asarray(sb, np.float64)
    # float output
    (ref,), (theirs,) = both("QGemm", [a, f32(0.02), np.array(za), b, sb, np.array(zb), c], attrs,
                             out_types=[np.float32])
    np.testing.assert_allclose(ref, acc * multiplier, rtol=6e-8, atol=0)      # one float32 rounding
    np.testing.assert_allclose(theirs, acc * multiplier, rtol=1e-6, atol=0)
    # quantized output
    sy, zy = 0.05, ta(2)
    estimate = acc * multiplier / float(f32(sy))
    scales = np.broadcast_to(np.asarray(sb, np.float64), acc.shape)

    def exact(i):
        return (int(acc[i]) * Fraction(0.5) * Fraction(float(f32(0.02))) * Fraction(float(scales[i]))
                / Fraction(float(f32(sy))))
    truth = requantize_truth(estimate, exact, int(zy), ta)
    (ref,), (theirs,) = both("QGemm", [a, f32(0.02), np.array(za), b, sb, np.array(zb), c, f32(sy), np.array(zy)],
                             attrs, out_types=[ta])
    assert_ort_within_one_step(ref, theirs, truth)


def test_qgemm_accumulates_beyond_int32():
    """acc = C + (A - 0) @ (B - 0) with C = 2**31 - 1 and a positive product: int64 in refruntime."""
    a = np.full((1, 4), 255, np.uint8)
    b = np.full((4, 1), 255, np.uint8)
    c = np.array([2 ** 31 - 1], np.int32)
    (ref,), _ = both("QGemm", [a, f32(1.0), np.uint8(0), b, f32(1.0), np.uint8(0), c], out_types=[np.float32])
    assert ref[0, 0] == np.float32(2 ** 31 - 1 + 4 * 255 * 255)


# ---------------------------------------------------------------------------------------------
# QuantizeLinear / DequantizeLinear (com.microsoft)
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
def test_quantize_dequantize_linear(dtype):
    rng = np.random.default_rng(8)
    x = f32(rng.standard_normal((3, 4, 5)) * 3)
    lo, hi = limits(dtype)
    zp = np.array((lo + hi) // 2, dtype)
    (q,), (theirs,) = both("QuantizeLinear", [x, f32(0.02), zp], out_types=[dtype])
    truth = np.clip(np.rint(x.astype(np.float64) / float(f32(0.02))) + int(zp), lo, hi).astype(dtype)
    np.testing.assert_array_equal(q, truth)
    np.testing.assert_array_equal(theirs, truth)
    (y,), (theirs,) = both("DequantizeLinear", [q, f32(0.02), zp], out_types=[np.float32])
    np.testing.assert_array_equal(y, ((q.astype(np.float64) - int(zp)) * float(f32(0.02))).astype(np.float32))
    np.testing.assert_array_equal(theirs, y)
    # per axis
    scales = f32(rng.uniform(0.01, 0.05, 4))
    zps = np.full(4, zp, dtype)
    (q,), (theirs,) = both("QuantizeLinear", [x, scales, zps], {"axis": 1}, out_types=[dtype])
    truth = np.clip(np.rint(x / scales.astype(np.float64)[:, None]) + int(zp), lo, hi).astype(dtype)
    np.testing.assert_array_equal(q, truth)
    np.testing.assert_array_equal(theirs, truth)
    (y,), (theirs,) = both("DequantizeLinear", [q, scales, zps], {"axis": -2}, out_types=[np.float32])
    np.testing.assert_array_equal(
        y, ((q.astype(np.float64) - int(zp)) * scales.astype(np.float64)[:, None]).astype(np.float32))
    np.testing.assert_array_equal(theirs, y)


def test_quantize_linear_float16_and_int4():
    import ml_dtypes

    rng = np.random.default_rng(9)
    x = (rng.standard_normal(40) * 0.3).astype(np.float16)
    (q,), (theirs,) = both("QuantizeLinear", [x, np.float16(0.01)], out_types=[np.uint8])
    np.testing.assert_array_equal(q, np.clip(np.rint(x.astype(np.float64) / float(np.float16(0.01))), 0, 255))
    np.testing.assert_array_equal(theirs, q)
    zp = np.array(1, dtype=ml_dtypes.int4)
    model = contrib_model("QuantizeLinear", [x.astype(np.float32), f32(0.05), zp], out_types=[np.float32])
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.INT4
    (q4,) = run_ref(model, feeds_of([x.astype(np.float32), f32(0.05), zp]))
    assert q4.dtype == ml_dtypes.int4
    truth = np.clip(np.rint(x.astype(np.float64) / float(f32(0.05))) + 1, -8, 7)
    np.testing.assert_array_equal(q4.astype(np.int64), truth)


def test_dequantize_int32_rounds_once():
    """int32 x: onnxruntime converts x - zp to float32 before multiplying (two roundings); the
    reference rounds the float64 product once, which is the exact product whenever it fits."""
    rng = np.random.default_rng(10)
    x = rng.integers(-(2 ** 29), 2 ** 29, 200).astype(np.int32)
    scale = f32(0.0123)
    (ref,), (theirs,) = both("DequantizeLinear", [x, scale], out_types=[np.float32])
    exact = (x.astype(np.float64) * float(scale)).astype(np.float32)  # exact float64 product, one rounding
    np.testing.assert_array_equal(ref, exact)
    assert (theirs != exact).any()
    np.testing.assert_allclose(theirs, exact, rtol=2.5e-7)


# ---------------------------------------------------------------------------------------------
# MatMulIntegerToFloat / DynamicQuantizeMatMul
def _integer_matmul(a, za, b, zb):
    return np.matmul(a.astype(np.int64) - np.asarray(za, np.int64), b.astype(np.int64) - np.asarray(zb, np.int64))


@pytest.mark.parametrize("types", [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)],
                         ids=["u8u8", "u8s8", "s8s8"])
@pytest.mark.parametrize("per_column", [False, True])
def test_matmul_integer_to_float(types, per_column):
    ta, tb = types
    rng = np.random.default_rng(11)
    a, b = random_q(rng, ta, (2, 3, 40)), random_q(rng, tb, (40, 6))
    bias = f32(rng.standard_normal(6))
    sb = f32(rng.uniform(0.001, 0.01, 6)) if per_column else f32(0.01)
    zb = rng.integers(0, 5, 6).astype(tb) if per_column else np.array(3, tb)
    za = np.array(1, ta)
    truth = _integer_matmul(a, za, b, zb) * float(f32(0.02)) * np.asarray(sb, np.float64) + bias
    (ref,), (theirs,) = both("MatMulIntegerToFloat", [a, b, f32(0.02), sb, za, zb, bias], out_types=[np.float32])
    np.testing.assert_allclose(ref, truth, rtol=6e-8, atol=1e-12)
    np.testing.assert_allclose(theirs, truth, rtol=1e-5, atol=1e-6)


def _dynamic_quantization(a):
    """ONNX DynamicQuantizeLinear (uint8) with the scale computed in float32, as a tensor(float)."""
    lo, hi = min(F32(a.min()), F32(0)), max(F32(a.max()), F32(0))
    scale = F32((hi - lo) / F32(255)) if hi != lo else F32(1)
    zp = int(np.rint(np.clip(0 - float(lo) / float(scale), 0, 255)))
    q = np.clip(np.rint(a.astype(np.float64) / float(scale)) + zp, 0, 255).astype(np.uint8)
    return scale, zp, q


@pytest.mark.parametrize("b_type", [np.uint8, np.int8])
@pytest.mark.parametrize("per_column", [False, True])
def test_dynamic_quantize_matmul(b_type, per_column):
    rng = np.random.default_rng(12)
    a = f32(rng.standard_normal((2, 3, 40)))
    b = random_q(rng, b_type, (40, 6))
    bias = f32(rng.standard_normal(6))
    sb = f32(rng.uniform(0.001, 0.01, 6)) if per_column else f32(0.01)
    zb = rng.integers(0, 5, 6).astype(b_type) if per_column else np.array(3, b_type)
    scale, zp, q = _dynamic_quantization(a)
    truth = _integer_matmul(q, zp, b, zb) * float(scale) * np.asarray(sb, np.float64) + bias
    (ref,), (theirs,) = both("DynamicQuantizeMatMul", [a, b, sb, zb, bias], out_types=[np.float32])
    np.testing.assert_allclose(ref, truth, rtol=6e-8, atol=1e-12)
    np.testing.assert_allclose(theirs, truth, rtol=1e-5, atol=1e-6)


def test_dynamic_quantize_matmul_all_zero_input():
    b = np.full((4, 2), 7, np.uint8)
    (ref,), (theirs,) = both("DynamicQuantizeMatMul", [np.zeros((3, 4), F32), b, f32(0.5), np.uint8(2), f32([1, 2])],
                             out_types=[np.float32])
    np.testing.assert_array_equal(ref, np.tile(f32([1, 2]), (3, 1)))
    np.testing.assert_array_equal(theirs, ref)


# ---------------------------------------------------------------------------------------------
# MatMulNBits
def _unpack_bits(packed_bytes, bits, count):
    """Value j of a bit-packed uint8 array (lowest bits first), j < count, written per value."""
    j = np.arange(count)
    byte, shift = (j * bits) // 8, (j * bits) % 8
    return (packed_bytes[..., byte].astype(np.int64) >> shift) & ((1 << bits) - 1)


def _nbits_truth(a, b, scales, zero_points, bias, k, n, bits, block, g_idx=None):
    blocks = -(-k // block)
    q = _unpack_bits(b.reshape(n, blocks * b.shape[-1]), bits, blocks * block)[:, :k]
    if zero_points is None:
        zp = np.full((n, blocks), 2.0 ** (bits - 1))
    elif zero_points.dtype == np.uint8:
        zp = _unpack_bits(zero_points, bits, blocks).astype(np.float64)
    else:
        zp = zero_points.astype(np.float64)
    group = np.arange(k) // block if g_idx is None else g_idx
    w = np.empty((n, k))
    for row in range(n):
        for col in range(k):
            g = group[col]
            w[row, col] = (q[row, col] - zp[row, g]) * float(scales[row, g])
    y = a.astype(np.float64) @ w.T
    return y + bias if bias is not None else y


NBITS = [(bits, zp) for bits in (2, 4, 8) for zp in ("none", "uint8", "float")]


@pytest.mark.parametrize("bits,zero_point", NBITS, ids=[f"{b}bit-{z}" for b, z in NBITS])
def test_matmul_nbits(bits, zero_point):
    rng = np.random.default_rng(13)
    k, n, block = 70, 5, 32  # K not a multiple of the block: the last block is padded
    blocks = -(-k // block)
    b = rng.integers(0, 256, (n, blocks, block * bits // 8)).astype(np.uint8)
    scales = f32(rng.uniform(0.01, 0.1, (n, blocks)))
    a = f32(rng.standard_normal((2, 3, k)))
    bias = f32(rng.standard_normal(n))
    zps = {"none": None, "uint8": rng.integers(0, 256, (n, -(-blocks * bits // 8))).astype(np.uint8),
           "float": f32(rng.uniform(0, 2 ** bits - 1, (n, blocks)))}[zero_point]
    inputs = [a, b, scales, zps, None, bias]
    attrs = {"K": k, "N": n, "bits": bits, "block_size": block}
    truth = _nbits_truth(a, b, scales, zps, bias, k, n, bits, block)
    model = contrib_model("MatMulNBits", inputs, attrs, out_types=[np.float32], initializers=(1, 2, 3, 5))
    (ref,) = run_ref(model, feeds_of(inputs, (1, 2, 3, 5)))
    assert ref.shape == (2, 3, n)
    scale_of_sum = np.abs(a).astype(np.float64) @ np.abs(_nbits_truth(np.eye(k, dtype=F32), b, scales, zps, None,
                                                                      k, n, bits, block))
    np.testing.assert_allclose(ref, truth, rtol=6e-8, atol=1e-12 * scale_of_sum.max())
    if bits == 8 and zero_point == "float":
        return  # onnxruntime refuses 8-bit weights with float zero points on CPU
    for level in (0, 4):
        (theirs,) = run_ort(contrib_model("MatMulNBits", inputs, dict(attrs, accuracy_level=level),
                                          out_types=[np.float32], initializers=(1, 2, 3, 5)), feeds_of(inputs, (1, 2, 3, 5)))
        err = np.abs(theirs - truth).max() / scale_of_sum.max()
        # level 0: float32 sums (~1e-7); level 4: A quantized to int8 per block (~1e-3)
        assert err < (1e-6 if level == 0 else 5e-3), (level, err)


def test_matmul_nbits_g_idx():
    """g_idx[k] names the block whose scale and zero point row k of K uses. onnxruntime 1.32 reads
    it the same way with float zero points, but with packed uint8 zero points it dequantizes with
    the default 2**(bits - 1) instead: the reference uses the model's zero points."""
    rng = np.random.default_rng(20)
    k, n, block, bits = 64, 4, 16, 4
    b = rng.integers(0, 256, (n, 4, 8)).astype(np.uint8)
    scales = f32(rng.uniform(0.01, 0.1, (n, 4)))
    g_idx = rng.permutation(np.arange(k) // block).astype(np.int32)
    a = f32(rng.standard_normal((3, k)))
    attrs = {"K": k, "N": n, "bits": bits, "block_size": block}
    for zero_points in (f32(rng.uniform(0, 15, (n, 4))), rng.integers(0, 256, (n, 2)).astype(np.uint8)):
        (ref,), (theirs,) = both("MatMulNBits", [a, b, scales, zero_points, g_idx, None], attrs, out_types=[np.float32])
        truth = _nbits_truth(a, b, scales, zero_points, None, k, n, bits, block, g_idx=g_idx)
        np.testing.assert_allclose(ref, truth, rtol=6e-8, atol=1e-12)
        if zero_points.dtype == np.uint8:
            default = _nbits_truth(a, b, scales, None, None, k, n, bits, block, g_idx=g_idx)
            np.testing.assert_allclose(theirs, default, rtol=1e-5, atol=1e-5)
            assert np.abs(theirs - truth).max() > 1
        else:
            np.testing.assert_allclose(theirs, truth, rtol=1e-5, atol=1e-5)


def test_matmul_nbits_g_idx_and_float16():
    rng = np.random.default_rng(14)
    k, n, block, bits = 64, 4, 16, 4
    b = rng.integers(0, 256, (n, 4, 8)).astype(np.uint8)
    scales = rng.uniform(0.01, 0.1, (n, 4)).astype(np.float16)
    g_idx = rng.permutation(np.arange(k) // block).astype(np.int32)  # act-order: rows pick their block
    a = rng.standard_normal((3, k)).astype(np.float16)
    inputs = [a, b, scales, None, g_idx, None]
    (ref,) = run_ref(contrib_model("MatMulNBits", inputs, {"K": k, "N": n, "bits": bits, "block_size": block},
                                   out_types=[np.float16]), feeds_of(inputs))
    truth = _nbits_truth(a, b, scales, None, None, k, n, bits, block, g_idx=g_idx)
    assert ref.dtype == np.float16
    np.testing.assert_array_equal(ref, truth.astype(np.float16))  # float64 product, one rounding to float16


# ---------------------------------------------------------------------------------------------
# DynamicQuantizeLSTM: onnxruntime's definition (op_dynamic_quantize_lstm.py's docstring), written
# here again from it: each GEMM quantizes its left operand (X[:max(len)] once, H_{t-1} every step)
# to uint8 with a scale and zero point computed in float32, ties rounded to even, and accumulates
# exactly in integers.
def _act(name, x, alpha, beta):
    return {"sigmoid": lambda: 1 / (1 + np.exp(-x)), "tanh": lambda: np.tanh(x),
            "hardsigmoid": lambda: np.clip(alpha * x + beta, 0, 1), "softsign": lambda: x / (1 + np.abs(x))}[name]()


def _dynamic_u8(a):
    """(q - zero_point as int64, scale) of float32 `a`, element by element in Python: the scale
    and zero point by float32 operations, q = round(fl32(a / scale)) (Python's round: half to even)
    clamped to [-zero_point, 255 - zero_point]."""
    a = np.asarray(a, np.float32)
    lo = min(np.float32(a.min(initial=0)), np.float32(0))
    hi = max(np.float32(a.max(initial=0)), np.float32(0))
    scale = np.float32(1) if hi == lo else np.float32(np.float32(hi - lo) / np.float32(255))
    zp = round(float(min(max(np.float32(0) - np.float32(lo / scale), np.float32(0)), np.float32(255))))
    q = [min(max(round(float(np.float32(v / scale))), -zp), 255 - zp) for v in a.reshape(-1)]
    return np.array(q, np.int64).reshape(a.shape), float(scale)


def _lstm_truth(x, w, r, b, lens, h0, c0, p, direction, clip=None, input_forget=0, acts=None, want_y=True):
    """DynamicQuantizeLSTM step by step; w and r are (wq, scale, zero_point) triples with wq
    (dirs, rows, 4H). Integer products in int64, the rest in float64."""
    seq, batch, _ = x.shape
    dirs, hidden = w[0].shape[0], r[0].shape[1]
    acts = acts or [("sigmoid", 0, 0), ("tanh", 0, 0), ("tanh", 0, 0)] * dirs
    y = np.zeros((seq, dirs, batch, hidden))
    y_h, y_c = np.zeros((dirs, batch, hidden)), np.zeros((dirs, batch, hidden))
    lo, hi = (-clip, clip) if clip else (-np.inf, np.inf)
    steps = int(max(lens))
    xq, sx = _dynamic_u8(x[:steps])
    for d in range(dirs):
        f, g, h = acts[3 * d: 3 * d + 3]
        wc = w[0][d].astype(np.int64) - w[2][d].reshape(1, -1).astype(np.int64)
        rc = r[0][d].astype(np.int64) - r[2][d].reshape(1, -1).astype(np.int64)
        ws, rs = w[1][d].astype(np.float64).reshape(-1), r[1][d].astype(np.float64).reshape(-1)
        ht, ct = h0[d].astype(np.float64), c0[d].astype(np.float64)
        pi, po, pf = np.split(p[d].astype(np.float64), 3)
        for s in range(steps):
            a = ht.astype(np.float32)
            if want_y and s > 0:
                a[lens < s] = 0  # Y's rows of entries that ended are 0
            hq, sh = _dynamic_u8(a)
            acc_h = hq @ rc
            new_h, new_c = ht.copy(), ct.copy()
            for bi in range(batch):
                if s >= lens[bi]:
                    continue
                t = lens[bi] - 1 - s if (direction == "reverse" or d == 1) else s
                z = (xq[t, bi] @ wc) * (sx * ws) + acc_h[bi] * (sh * rs) + b[d, :4 * hidden] + b[d, 4 * hidden:]
                zi, zo, zf, zc = np.split(z, 4)
                i = _act(f[0], np.clip(zi + pi * ct[bi], lo, hi), *f[1:])
                fg = 1 - i if input_forget else _act(f[0], np.clip(zf + pf * ct[bi], lo, hi), *f[1:])
                new_c[bi] = fg * ct[bi] + i * _act(g[0], np.clip(zc, lo, hi), *g[1:])
                o = _act(f[0], np.clip(zo + po * new_c[bi], lo, hi), *f[1:])
                new_h[bi] = o * _act(h[0], new_c[bi], *h[1:])
                y[t, d, bi] = new_h[bi]
            ht, ct = new_h, new_c
        y_h[d], y_c[d] = ht, ct
    return y, y_h, y_c


def _lstm_inputs(rng, dirs, w_type, per_channel, seq=6, batch=3, width=5, hidden=4):
    x = f32(rng.standard_normal((seq, batch, width)))
    w, r = random_q(rng, w_type, (dirs, width, 4 * hidden)), random_q(rng, w_type, (dirs, hidden, 4 * hidden))
    b = f32(rng.standard_normal((dirs, 8 * hidden)) * 0.1)
    lens = np.array([6, 4, 2], np.int32)
    h0, c0 = (f32(rng.standard_normal((dirs, batch, hidden)) * 0.1) for _ in range(2))
    p = f32(rng.standard_normal((dirs, 3 * hidden)) * 0.1)
    shape = (dirs, 4 * hidden) if per_channel else (dirs,)
    ws, rs = f32(rng.uniform(0.002, 0.01, shape)), f32(rng.uniform(0.002, 0.01, shape))
    zp = 0 if w_type == np.int8 else 128
    return [x, w, r, b, lens, h0, c0, p, ws, np.full(shape, zp, w_type), rs, np.full(shape, zp, w_type)]


def _dequantized(q, scale, zp):
    shape = (q.shape[0], 1, -1)
    return (q.astype(np.float64) - zp.astype(np.float64).reshape(shape)) * scale.astype(np.float64).reshape(shape)


def run_ort_threads(model, feeds, threads=1):
    """onnxruntime, optimizations off, `threads` intra-op threads: its LSTM splits the batch rows
    of the recurrent GEMM across threads and quantizes each chunk alone (see the kernel)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _close_to_ort(mine, theirs, rel=1e-5, share=0.999):
    """Within rel * the output's range on >= share of the elements."""
    for m, t in zip(mine, theirs):
        close = np.abs(m.astype(np.float64) - t) <= rel * np.abs(t).max()
        assert close.mean() >= share, np.abs(m.astype(np.float64) - t).max() / np.abs(t).max()


LSTM_ATTRS = [{}, {"clip": 0.3}, {"input_forget": 1},
              {"activations": ["HardSigmoid", "Tanh", "Softsign"], "activation_alpha": [0.3], "activation_beta": [0.4]}]


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("w_type,per_channel", [(np.int8, False), (np.uint8, True)])
@pytest.mark.parametrize("extra", LSTM_ATTRS, ids=["plain", "clip", "input_forget", "activations"])
def test_dynamic_quantize_lstm(direction, w_type, per_channel, extra):
    """The definition written here (sequence_lens 6, 4, 2: entries end at different steps), and
    onnxruntime (one intra-op thread) within 1e-5 of the output range."""
    rng = np.random.default_rng(15)
    dirs = 2 if direction == "bidirectional" else 1
    inputs = _lstm_inputs(rng, dirs, w_type, per_channel)
    x, w, r, b, lens, h0, c0, p, ws, wz, rs, rz = inputs
    attrs = dict(extra, hidden_size=4, direction=direction)
    acts = None
    if "activations" in extra:
        attrs.update(activations=extra["activations"] * dirs, activation_alpha=[0.3] * dirs,
                     activation_beta=[0.4] * dirs)
        acts = [("hardsigmoid", float(f32(0.3)), float(f32(0.4))), ("tanh", 0, 0), ("softsign", 0, 0)] * dirs
    truth = _lstm_truth(x, (w, ws, wz), (r, rs, rz), b, lens, h0, c0, p, direction,
                        extra.get("clip") and float(f32(extra["clip"])), extra.get("input_forget", 0), acts)
    model = contrib_model("DynamicQuantizeLSTM", inputs, attrs, out_types=[np.float32] * 3, n_out=3)
    ref = run_ref(model, feeds_of(inputs))
    for mine, exact in zip(ref, truth):
        assert mine.dtype == np.float32
        np.testing.assert_allclose(mine, exact, rtol=1e-6, atol=1e-7)
    _close_to_ort(ref, run_ort_threads(model, feeds_of(inputs)))


@pytest.mark.parametrize("lens", [[6, 4, 2], [6, 6, 6]], ids=["lengths", "full"])
def test_dynamic_quantize_lstm_without_y(lens):
    """Without the Y output onnxruntime reads H back from Y_h, where an entry that ended keeps its
    last state (with Y, from Y, where it is 0): the quantized H differs, and so do the others."""
    rng = np.random.default_rng(21)
    inputs = _lstm_inputs(rng, 2, np.uint8, True)
    inputs[4] = np.array(lens, np.int32)
    x, w, r, b, _, h0, c0, p, ws, wz, rs, rz = inputs
    model = contrib_model("DynamicQuantizeLSTM", inputs, {"hidden_size": 4, "direction": "bidirectional"},
                          out_types=[np.float32] * 3, n_out=3)
    model.graph.node[0].output[0] = ""
    del model.graph.output[0]
    ref = run_ref(model, feeds_of(inputs))
    truth = _lstm_truth(x, (w, ws, wz), (r, rs, rz), b, inputs[4], h0, c0, p, "bidirectional", want_y=False)
    for mine, exact in zip(ref, truth[1:]):
        np.testing.assert_allclose(mine, exact, rtol=1e-6, atol=1e-7)
    _close_to_ort(ref, run_ort_threads(model, feeds_of(inputs)))


def test_dynamic_quantize_lstm_one_step_exact():
    """One time step in exact arithmetic: X and initial_h are built so that many x / scale fall on
    ties k + 1/2 (rounded to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2), the integer sums are Python
    ints, the gates' arguments exact rationals; the kernel's float64 oracle equals them to 1e-13
    and onnxruntime agrees to float32 rounding, so its ties round the same way."""
    hidden, width = 3, 4
    # X in [-1, 127/128]: scale = (255/128) / 255 = 1/128, zero point 128; x = k/256 is a tie
    x = f32([[[-1.0, 127 / 128, 1 / 256, 3 / 256], [5 / 256, -1 / 256, -3 / 256, 0.25]]])
    # initial_h in [-1/2, 127/256]: scale 1/256, zero point 128; h = (2k + 1)/512 is a tie
    h0 = f32([[[-0.5, 127 / 256, 1 / 512], [3 / 512, -5 / 512, 0.125]]])
    rng = np.random.default_rng(22)
    w = random_q(rng, np.int8, (1, width, 4 * hidden))
    r = random_q(rng, np.int8, (1, hidden, 4 * hidden))
    ws, rs = f32(rng.uniform(0.002, 0.01, (1, 4 * hidden))), f32(rng.uniform(0.002, 0.01, (1, 4 * hidden)))
    b = f32(rng.standard_normal((1, 8 * hidden)) * 0.1)
    c0 = f32(rng.standard_normal((1, 2, hidden)) * 0.1)
    zeros = np.zeros((1, 4 * hidden), np.int8)
    inputs = [x, w, r, b, None, h0, c0, None, ws, zeros, rs, zeros]

    xq, sx = _dynamic_u8(x)
    hq, sh = _dynamic_u8(h0)
    assert (sx, sh) == (1 / 128, 1 / 256)
    assert xq[0, 0, 2:].tolist() == [0, 2] and xq[0, 1, :3].tolist() == [2, 0, -2]  # 0.5, 1.5; 2.5, -0.5, -1.5
    assert hq[0, 0, 2] == 0 and hq[0, 1, :2].tolist() == [2, -2]                     # 0.5; 1.5, -2.5
    expected_y, expected_c = np.zeros((2, hidden)), np.zeros((2, hidden))
    for bi in range(2):
        acc_x = [sum(int(xq[0, bi, k]) * int(w[0, k, j]) for k in range(width)) for j in range(4 * hidden)]
        acc_h = [sum(int(hq[0, bi, k]) * int(r[0, k, j]) for k in range(hidden)) for j in range(4 * hidden)]
        z = [float(acc_x[j] * Fraction(sx) * Fraction(float(ws[0, j])) + acc_h[j] * Fraction(sh) * Fraction(float(rs[0, j]))
                   + Fraction(float(b[0, j])) + Fraction(float(b[0, 4 * hidden + j]))) for j in range(4 * hidden)]
        zi, zo, zf, zc = np.split(np.array(z), 4)
        sig = _act("sigmoid", np.concatenate([zi, zo, zf]), 0, 0)
        c = sig[2 * hidden:] * c0[0, bi].astype(np.float64) + sig[:hidden] * np.tanh(zc)
        expected_c[bi], expected_y[bi] = c, sig[hidden:2 * hidden] * np.tanh(c)

    model = contrib_model("DynamicQuantizeLSTM", inputs, {"hidden_size": hidden}, out_types=[np.float32] * 3, n_out=3)
    oracle = Session(model, precision="float64", allow_fallback=False).run(feeds_of(inputs))
    np.testing.assert_allclose(oracle["y0"][0, 0], expected_y, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(oracle["y2"][0], expected_c, rtol=1e-13, atol=1e-15)
    native = run_ref(model, feeds_of(inputs))
    np.testing.assert_array_equal(native[0], oracle["y0"].astype(np.float32))
    theirs = run_ort_threads(model, feeds_of(inputs))
    np.testing.assert_allclose(theirs[0][0, 0], expected_y, rtol=0, atol=1e-6)


def test_dynamic_quantize_lstm_onnxruntime_depends_on_its_thread_count():
    """onnxruntime splits the batch (3 rows, hidden_size <= 256) across its intra-op threads and
    quantizes each chunk of H alone; the kernel is onnxruntime with one thread."""
    rng = np.random.default_rng(23)
    inputs = _lstm_inputs(rng, 1, np.int8, False)
    model = contrib_model("DynamicQuantizeLSTM", inputs, {"hidden_size": 4}, out_types=[np.float32] * 3, n_out=3)
    ref = run_ref(model, feeds_of(inputs))
    one, two = run_ort_threads(model, feeds_of(inputs), 1), run_ort_threads(model, feeds_of(inputs), 2)
    _close_to_ort(ref, one)
    assert max(np.abs(a - b).max() / np.abs(b).max() for a, b in zip(two, one)) > 1e-5


def test_dynamic_quantize_lstm_is_not_the_float_lstm():
    """The same weights dequantized through onnxruntime's float LSTM (what the doc's text alone
    describes: no activation quantization) are further from onnxruntime's DynamicQuantizeLSTM than
    the kernel is."""
    rng = np.random.default_rng(16)
    inputs = _lstm_inputs(rng, 2, np.int8, True)
    x, w, r, b, lens, h0, c0, p, ws, wz, rs, rz = inputs
    attrs = {"hidden_size": 4, "direction": "bidirectional"}
    model = contrib_model("DynamicQuantizeLSTM", inputs, attrs, out_types=[np.float32] * 3, n_out=3)
    ref, quantized = run_ref(model, feeds_of(inputs)), run_ort_threads(model, feeds_of(inputs))
    wf = f32(_dequantized(w, ws, wz).transpose(0, 2, 1))
    rf = f32(_dequantized(r, rs, rz).transpose(0, 2, 1))
    names = ["X", "W", "R", "B", "sl", "h0", "c0", "P"]
    values = [x, wf, rf, b, lens, h0, c0, p]
    graph = helper.make_graph(
        [helper.make_node("LSTM", names, ["Y", "Y_h", "Y_c"], **attrs)], "g",
        [helper.make_tensor_value_info(nm, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for nm, v in zip(names, values)],
        [helper.make_tensor_value_info(nm, TensorProto.FLOAT, None) for nm in ("Y", "Y_h", "Y_c")])
    floats = run_ort(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), dict(zip(names, values)))
    _close_to_ort(ref, quantized)
    for f, q in zip(floats, quantized):
        assert np.abs(f - q).max() > 1e-3 * np.abs(q).max()


# ---------------------------------------------------------------------------------------------
# Parameter and node validation
def _session(op, inputs, attrs=None, initializers=(), out_types=None):
    return Session(contrib_model(op, inputs, attrs, out_types, initializers=initializers), allow_fallback=False)


QA_INPUTS = [np.zeros((2, 3), np.uint8), f32(0.1), np.uint8(3), np.zeros((2, 3), np.uint8), f32(0.2), np.uint8(4),
             f32(0.3), np.uint8(5)]


@pytest.mark.parametrize("index,bad,words", [
    (1, f32(0.0), "scale must be positive"),
    (4, f32(-0.5), "scale must be positive"),
    (6, f32(np.nan), "non-finite"),
    (6, f32([0.1, 0.2]), "single value"),
    (2, np.int8(3), "zero point is int8 but the quantized type is uint8"),  # A is an initializer too
])
def test_bad_parameters_refused_at_plan_time(index, bad, words):
    inputs = list(QA_INPUTS)
    inputs[index] = np.asarray(bad)
    with pytest.raises(ModelError, match=words) as info:
        _session("QLinearAdd", inputs, initializers=(0, index))
    assert "'node'" in str(info.value) and f"input {index}" in str(info.value)


def test_bad_parameters_fail_at_run_time():
    inputs = list(QA_INPUTS)
    inputs[4] = f32(-0.5)
    session = _session("QLinearAdd", inputs)
    with pytest.raises(KernelError, match="input 4 'x4': scale must be positive"):
        session.run(feeds_of(inputs))


def test_quantize_linear_parameter_shapes():
    x = np.zeros((2, 3), F32)
    with pytest.raises(KernelError, match="per-axis quantization along axis 1 needs a 1-D tensor of 3 values"):
        _session("QuantizeLinear", [x, f32([0.1, 0.2]), np.zeros(2, np.uint8)], {"axis": 1},
                 out_types=[np.uint8]).run({"x0": x, "x1": f32([0.1, 0.2]), "x2": np.zeros(2, np.uint8)})
    with pytest.raises(ModelError, match="without the 'axis' attribute the quantization is per tensor"):
        _session("QuantizeLinear", [x, f32([0.1, 0.2, 0.3])], initializers=(1,), out_types=[np.uint8])


def test_matmul_nbits_shapes_refused():
    a = np.zeros((1, 32), F32)
    b = np.zeros((4, 2, 8), np.uint8)
    with pytest.raises(ModelError, match=r"must have shape \[4, 2\] \(N, k_blocks\)"):
        _session("MatMulNBits", [a, b, np.ones((4, 3), F32)], {"K": 32, "N": 4, "block_size": 16},
                 initializers=(1, 2))
    with pytest.raises(ModelError, match="block_size must be a power of two >= 16"):
        _session("MatMulNBits", [a, b, np.ones((4, 2), F32)], {"K": 32, "N": 4, "block_size": 24})
    with pytest.raises(ModelError, match="bits must be 2, 4 or 8"):
        _session("MatMulNBits", [a, b, np.ones((4, 2), F32)], {"K": 32, "N": 4, "block_size": 16, "bits": 3})
    with pytest.raises(ModelError, match="weight_prepacked=1"):
        _session("MatMulNBits", [a, b, np.ones((4, 2), F32)],
                 {"K": 32, "N": 4, "block_size": 16, "weight_prepacked": 1})


@pytest.mark.parametrize("op,inputs,attrs,words", [
    ("QLinearAdd", QA_INPUTS[:6], None, "has 6 inputs, the op takes 7 to 8"),
    ("QLinearAdd", QA_INPUTS, {"axis": 1}, "unknown attribute 'axis'"),
    ("QLinearSoftmax", [np.zeros(3, np.uint8), f32(0.1), np.uint8(0), f32(1 / 256), np.uint8(0)], None,
     "the attribute 'opset' is required"),
    ("QLinearLeakyRelu", [np.zeros(3, np.uint8), f32(0.1), np.uint8(0), f32(0.1)], {"alpha": 1},
     "attribute 'alpha' must be float, got int"),
    ("QLinearConcat", [f32(0.1), np.uint8(0), np.zeros(3, np.uint8), f32(0.1)], {"axis": 0},
     "has 4 inputs, the op takes at least 5"),
    ("QLinearConcat", [f32(0.1), np.uint8(0), np.zeros(3, np.uint8), f32(0.1), np.uint8(0), np.zeros(3, np.uint8)],
     {"axis": 0}, r"\(tensor, scale, zero point\) triples"),
    ("QGemm", [np.zeros((2, 2), np.uint8), f32(0.1), np.uint8(0), np.zeros((2, 2), np.uint8), f32(0.1), np.uint8(0),
               None, f32(0.1)], None, "y_scale and y_zero_point go together"),
    ("DynamicQuantizeLSTM", [np.zeros((1, 1, 1), F32)] * 12, {"direction": "sideways"}, "direction must be"),
])
def test_malformed_nodes_refused(op, inputs, attrs, words):
    with pytest.raises(ModelError, match=words):
        _session(op, inputs, attrs, out_types=[np.uint8])


# ---------------------------------------------------------------------------------------------
# End to end: float models quantized with onnxruntime.quantization
class _Cnn:
    """Conv/ReLU/Sigmoid/residual Add/Mul/AveragePool/LeakyRelu/Concat/GlobalAveragePool/Gemm/Softmax:
    quantize_static (QOperator) turns each into a com.microsoft QLinear* op, QGemm or QLinearSoftmax."""

    @staticmethod
    def module():
        import torch

        class Cnn(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
                self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)
                self.fc = torch.nn.Linear(16, 10)

            def forward(self, x):
                y = torch.relu(self.c1(x))
                z = torch.sigmoid(self.c2(y))
                y = (y + z) * z
                y = torch.nn.functional.leaky_relu(torch.nn.functional.avg_pool2d(y, 2), 0.1)
                y = torch.cat([y, y * 0.5], 1)
                y = torch.nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
                return torch.softmax(self.fc(y), -1)
        return Cnn()


def _export(module, shape, path):
    import torch

    torch.manual_seed(0)
    with torch.no_grad():
        torch.onnx.export(module, torch.randn(*shape), str(path), input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)


@pytest.fixture(scope="module")
def quantized_models(tmp_path_factory):
    import warnings

    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    folder = tmp_path_factory.mktemp("contrib_quantized")
    torch.manual_seed(0)
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _export(_Cnn.module(), (1, 3, 16, 16), folder / "cnn.onnx")

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.feeds = iter([{"x": np.random.default_rng(i).standard_normal((1, 3, 16, 16)).astype(F32)}
                                   for i in range(8)])

            def get_next(self):
                return next(self.feeds, None)

        for act, qtype in (("u8", QuantType.QUInt8), ("s8", QuantType.QInt8)):
            path = folder / f"cnn_{act}.onnx"
            quantize_static(str(folder / "cnn.onnx"), str(path), Reader(), quant_format=QuantFormat.QOperator,
                            activation_type=qtype, weight_type=QuantType.QInt8)
            models[f"cnn_{act}"] = (path, (1, 3, 16, 16))

        mlp = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
        _export(mlp, (4, 16), folder / "mlp.onnx")
        quantize_dynamic(str(folder / "mlp.onnx"), str(folder / "mlp_dyn.onnx"), weight_type=QuantType.QInt8)
        # onnxruntime's extended optimizations fuse DynamicQuantizeLinear + MatMulInteger + Mul into
        # DynamicQuantizeMatMul; the fused model is saved and run with optimizations off
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(folder / "mlp_fused.onnx")
        ort.InferenceSession(str(folder / "mlp_dyn.onnx"), options, providers=["CPUExecutionProvider"])
        models["mlp_dynamic"] = (folder / "mlp_fused.onnx", (4, 16))

        class Lstm(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = torch.nn.LSTM(8, 12, batch_first=True)

            def forward(self, x):
                return self.lstm(x)[0]
        _export(Lstm(), (1, 5, 8), folder / "lstm.onnx")
        quantize_dynamic(str(folder / "lstm.onnx"), str(folder / "lstm_dyn.onnx"), weight_type=QuantType.QInt8)
        models["lstm_dynamic"] = (folder / "lstm_dyn.onnx", (1, 5, 8))
    return models


EXPECTED_CONTRIB = {
    "cnn_u8": {"QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearAveragePool", "QLinearLeakyRelu",
               "QLinearConcat", "QLinearGlobalAveragePool", "QGemm", "QLinearSoftmax"},
    "mlp_dynamic": {"DynamicQuantizeMatMul"},
    "lstm_dynamic": {"DynamicQuantizeLSTM"},
}
EXPECTED_CONTRIB["cnn_s8"] = EXPECTED_CONTRIB["cnn_u8"]


@pytest.mark.parametrize("name", ["cnn_u8", "cnn_s8", "mlp_dynamic", "lstm_dynamic"])
def test_quantized_models_end_to_end(quantized_models, name):
    path, shape = quantized_models[name]
    model = onnx.load(str(path))
    contrib = {n.name for n in model.graph.node if n.domain == MS}
    assert {n.op_type for n in model.graph.node if n.domain == MS} == EXPECTED_CONTRIB[name]
    session = Session(model)
    fallback = session.fallback_nodes()
    assert not set(fallback) & contrib
    # fallback only where no native kernel exists yet (a standard op another kernel will cover)
    opsets = {i.domain or "": i.version for i in model.opset_import}
    for node in model.graph.node:
        if node.name in fallback:
            assert node.domain in ("", "ai.onnx") and find_native("", node.op_type, opsets[""]) is None
    rng = np.random.default_rng(17)
    for _ in range(3):
        x = rng.standard_normal(shape).astype(F32)
        ref, theirs = session.run({"x": x})["y"], run_ort(model, {"x": x})[0]
        if name.startswith("cnn"):
            step = 1 / 256  # the softmax output's scale
            close = np.abs(ref - theirs) <= step * 1.0001
        elif name == "mlp_dynamic":
            close = np.isclose(ref, theirs, rtol=1e-5, atol=1e-6)
        else:  # DynamicQuantizeLSTM: onnxruntime's definition (X and H quantized to uint8 per GEMM)
            close = np.abs(ref - theirs) <= 1e-5 * np.abs(theirs).max()
        assert close.mean() >= 0.999, (name, np.abs(ref - theirs).max())


def test_quantized_cnn_float64_oracle_agrees(quantized_models):
    """The float64 oracle feeds scales as float64 (the same values): the integer pipeline is
    unchanged, so the outputs are identical."""
    path, shape = quantized_models["cnn_u8"]
    x = np.random.default_rng(18).standard_normal(shape).astype(F32)
    native = Session(str(path)).run({"x": x})["y"]
    oracle = Session(str(path), precision="float64").run({"x": x})["y"]
    np.testing.assert_array_equal(native, oracle)


def test_matmul_nbits_quantizer_model():
    """A MatMul quantized by onnxruntime's MatMulNBitsQuantizer (4 bits, block 16, asymmetric)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    rng = np.random.default_rng(19)
    w = rng.standard_normal((48, 24)).astype(F32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 48])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 24])],
                              initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    quantizer = MatMulNBitsQuantizer(model, block_size=16, is_symmetric=False, bits=4)
    quantizer.process()
    quantized = quantizer.model.model
    assert [n.op_type for n in quantized.graph.node] == ["MatMulNBits"]
    session = Session(quantized)
    assert session.fallback_nodes() == []
    x = rng.standard_normal((2, 3, 48)).astype(F32)
    ref, theirs = session.run({"x": x})["y"], run_ort(quantized, {"x": x})[0]
    np.testing.assert_allclose(ref, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())
    inits = {i.name: numpy_helper.to_array(i) for i in quantized.graph.initializer}
    node = quantized.graph.node[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    zero_points = inits[node.input[3]] if len(node.input) > 3 and node.input[3] else None
    truth = _nbits_truth(x, inits[node.input[1]], inits[node.input[2]], zero_points, None, attrs["K"], attrs["N"],
                         attrs["bits"], attrs["block_size"])
    np.testing.assert_allclose(ref, truth, rtol=6e-8, atol=1e-12 * np.abs(truth).max())
