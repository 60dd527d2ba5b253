"""Small native kernels (Celu, Mish, Shrink, ThresholdedRelu, EyeLike, CumProd, Compress, Unique,
ReverseSequence, LpNormalization, MeanVarianceNormalization, LpPool, GlobalLpPool) and the sequence
and optional ops, against independent truths.

Truths: torch.nn.functional / torch where it has the op, numpy or float64 formulas written here
otherwise; onnxruntime (CPU EP) as a peer for the sequence models. Every model runs with fallback
disabled, so the native kernel is what is compared.
"""
from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from refruntime import KernelError, ModelError, Session

torch.set_num_threads(1)
RNG = np.random.default_rng(20261130)


def node_model(op_type, inputs, attrs=None, opset=22, n_outputs=1):
    """A one-node model; `inputs` are arrays (None = omitted optional input)."""
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, **(attrs or {}))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in zip(names, inputs) if a is not None],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run_node(op_type, inputs, attrs=None, opset=22, n_outputs=1, strict=True):
    """strict=False skips the plan-time type check, to reach the kernel's own run-time checks."""
    model = node_model(op_type, inputs, attrs, opset, n_outputs)
    feeds = {f"x{i}": _read_only(a) for i, a in enumerate(inputs) if a is not None}
    result = Session(model, allow_fallback=False, strict=strict).run(feeds)
    return [result[f"y{i}"] for i in range(n_outputs)]


def _read_only(a):
    a = np.array(a)
    a.flags.writeable = False  # a kernel writing into its input fails loudly
    return a


def close(got, expected, atol=1e-6, rtol=1e-6):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
    if expected.dtype.kind in "biuOU":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), atol=atol, rtol=rtol)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def randn(*shape, dtype=np.float32, scale=2.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


# --- elementwise ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.5])
def test_celu_matches_torch(dtype, alpha):
    x = randn(3, 4, 5, dtype=dtype, scale=3.0)
    (y,) = run_node("Celu", [x], {"alpha": alpha}, opset=12 if dtype == np.float32 else 28)
    close(y, F.celu(t(x), alpha=alpha), atol=1e-6 if dtype == np.float32 else 1e-13)


def test_celu_float16_is_float32_rounded_once():
    x = randn(50, dtype=np.float16, scale=3.0)
    (y,) = run_node("Celu", [x], {"alpha": 0.7}, opset=28)
    x64 = x.astype(np.float64)
    truth = np.maximum(0, x64) + np.minimum(0, 0.7 * np.expm1(x64 / 0.7))
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float64), truth, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mish_matches_torch_including_large_magnitudes(dtype):
    x = np.concatenate([randn(200, dtype=dtype, scale=4.0), np.array([-100, -30, 0, 30, 100, 1000], dtype)])
    (y,) = run_node("Mish", [x], opset=18)
    close(y, F.mish(t(x)), atol=1e-6 if dtype == np.float32 else 1e-13, rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert np.isfinite(y).all()


def test_shrink_soft_and_hard_match_torch():
    x = randn(4, 6, scale=1.5)
    (soft,) = run_node("Shrink", [x], {"lambd": 0.7, "bias": 0.7}, opset=9)
    close(soft, F.softshrink(t(x), 0.7))
    (hard,) = run_node("Shrink", [x], {"lambd": 0.7}, opset=9)
    close(hard, F.hardshrink(t(x), 0.7))


def test_shrink_integers_truncate_toward_zero():
    x = np.array([-5, -2, -1, 0, 1, 2, 7], np.int32)
    (y,) = run_node("Shrink", [x], {"lambd": 1.5, "bias": 0.7}, opset=9)
    # x < -1.5: x + 0.7 truncated toward zero; x > 1.5: x - 0.7 truncated; else 0
    close(y, np.array([-4, -1, 0, 0, 0, 1, 6], np.int32))


def test_thresholded_relu_formula():
    x = randn(5, 7)
    for alpha in (1.0, 0.25, -0.5):
        (y,) = run_node("ThresholdedRelu", [x], {"alpha": alpha}, opset=10)
        close(y, np.where(x > alpha, x, 0).astype(np.float32))


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 2), (0, 3)])
@pytest.mark.parametrize("k", [0, 1, -1, 4, -6])
def test_eye_like_matches_torch_eye(shape, k):
    x = np.zeros(shape, np.int64)
    (y,) = run_node("EyeLike", [x], {"k": k, "dtype": TensorProto.FLOAT}, opset=9)
    ones = torch.ones(shape)
    close(y, ones.triu(k) - ones.triu(k + 1))  # diagonal k alone
    (y,) = run_node("EyeLike", [x], {"k": k}, opset=22)
    close(y, np.eye(*shape, k=k, dtype=np.int64))


def test_eye_like_refuses_rank_3():
    with pytest.raises(KernelError, match="2-D"):
        run_node("EyeLike", [np.zeros((2, 2, 2), np.float32)], opset=9, strict=False)


# --- CumProd -------------------------------------------------------------------------------

def _cumprod_truth(x, axis, exclusive, reverse):
    out = torch.cumprod(t(x).flip(axis) if reverse else t(x), dim=axis)
    if exclusive:
        ones = torch.ones_like(out.narrow(axis, 0, 1))
        out = torch.cat([ones, out.narrow(axis, 0, out.shape[axis] - 1)], dim=axis)
    return out.flip(axis) if reverse else out


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumprod_matches_torch(exclusive, reverse, axis):
    x = RNG.uniform(0.5, 1.5, (3, 4, 5))
    (y,) = run_node("CumProd", [x, np.array(axis, np.int64)], {"exclusive": exclusive, "reverse": reverse},
                    opset=26)
    close(y, _cumprod_truth(x, axis, exclusive, reverse), atol=1e-14, rtol=1e-13)


def test_cumprod_int32_wraps_exactly():
    x = np.array([[100000, 100000, 3, -7], [2, 3, 4, 5]], np.int32)
    (y,) = run_node("CumProd", [x, np.array(1, np.int32)], opset=26)
    truth = []
    for row in x.tolist():
        acc, out = 1, []
        for v in row:
            acc = (acc * v + 2**31) % 2**32 - 2**31  # Python ints, wrapped to int32
            out.append(acc)
        truth.append(out)
    close(y, np.array(truth, np.int32))


def test_cumprod_float16_rounds_once():
    x = RNG.uniform(0.9, 1.1, 64).astype(np.float16)
    (y,) = run_node("CumProd", [x, np.array(0, np.int64)], opset=26)
    truth = np.cumprod(x.astype(np.float64))
    np.testing.assert_allclose(y.astype(np.float64), truth, rtol=2e-3)


# --- Compress, Unique, ReverseSequence -----------------------------------------------------

@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_compress_matches_numpy(axis):
    x = randn(4, 3)
    dim = x.size if axis is None else x.shape[axis]
    for cond in (RNG.random(dim) < 0.5, np.ones(max(dim - 1, 0), bool), np.zeros(dim, bool)):
        attrs = {} if axis is None else {"axis": axis}
        (y,) = run_node("Compress", [x, cond], attrs, opset=11)
        close(y, np.compress(cond, x, axis=axis))


def test_compress_ignores_condition_entries_past_the_axis_like_onnxruntime():
    x = np.arange(3, dtype=np.float32)
    (y,) = run_node("Compress", [x, np.array([1, 0, 1, 0, 1], bool)], {"axis": 0}, opset=11)
    close(y, np.array([0, 2], np.float32))


def _unique_first_occurrence(values):
    """(Y indices, inverse, counts) by first occurrence, with a dict (independent of numpy.unique)."""
    first, inverse, counts = {}, [], []
    for i, v in enumerate(values):
        if v not in first:
            first[v] = len(first)
            counts.append(0)
        inverse.append(first[v])
        counts[first[v]] += 1
    index = {}
    for i, v in enumerate(values):
        index.setdefault(v, i)
    return list(index.values()), inverse, counts


def test_unique_sorted_flat_matches_torch():
    x = RNG.integers(-5, 5, (4, 6)).astype(np.float32)
    y, indices, inverse, counts = run_node("Unique", [x], opset=11, n_outputs=4)
    values, inv, cnt = torch.unique(t(x), sorted=True, return_inverse=True, return_counts=True)
    close(y, values)
    close(inverse, inv.reshape(-1))
    close(counts, cnt)
    flat = x.reshape(-1)
    close(indices, np.array([np.flatnonzero(flat == v)[0] for v in y], np.int64))


def test_unique_not_sorted_is_first_occurrence_order():
    x = np.array([2, 1, 1, 3, 4, 3, 2, 9], np.int32)
    y, indices, inverse, counts = run_node("Unique", [x], {"sorted": 0}, opset=11, n_outputs=4)
    idx, inv, cnt = _unique_first_occurrence(x.tolist())
    close(y, x[idx])
    close(indices, np.array(idx, np.int64))
    close(inverse, np.array(inv, np.int64))
    close(counts, np.array(cnt, np.int64))


@pytest.mark.parametrize("sorted_", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_unique_with_axis_matches_numpy(sorted_, axis):
    x = RNG.integers(0, 2, (5, 6, 2)).astype(np.int64)
    y, indices, inverse, counts = run_node("Unique", [x], {"axis": axis, "sorted": sorted_}, opset=11, n_outputs=4)
    moved = np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
    rows = [tuple(r) for r in moved.tolist()]
    if sorted_:
        _, first, inv, cnt = np.unique(moved, axis=0, return_index=True, return_inverse=True,
                                            return_counts=True)
        idx, inv = first.tolist(), inv.reshape(-1).tolist()
        cnt = cnt.tolist()
    else:
        idx, inv, cnt = _unique_first_occurrence(rows)
    close(y, np.take(x, idx, axis=axis))
    close(indices, np.array(idx, np.int64))
    close(inverse, np.array(inv, np.int64))
    close(counts, np.array(cnt, np.int64))


def test_unique_strings():
    x = np.array(["b", "a", "b", "c", "a"], dtype=object)
    y, indices, inverse, counts = run_node("Unique", [x], opset=11, n_outputs=4)
    assert y.tolist() == ["a", "b", "c"]
    close(indices, np.array([1, 0, 3], np.int64))
    close(inverse, np.array([1, 0, 1, 2, 0], np.int64))
    close(counts, np.array([2, 2, 1], np.int64))


@pytest.mark.parametrize("batch_axis,time_axis", [(1, 0), (0, 1)])
def test_reverse_sequence_loop_truth(batch_axis, time_axis):
    x = randn(5, 4, 3) if time_axis == 0 else randn(4, 5, 3)
    lens = np.array([5, 0, 1, 3], np.int64)
    (y,) = run_node("ReverseSequence", [x, lens], {"batch_axis": batch_axis, "time_axis": time_axis}, opset=10)
    truth = x.copy()
    for b, n in enumerate(lens):
        for i in range(n):
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            src[batch_axis] = dst[batch_axis] = b
            src[time_axis], dst[time_axis] = n - 1 - i, i
            truth[tuple(dst)] = x[tuple(src)]
    close(y, truth)


def test_reverse_sequence_rejects_lengths_beyond_time():
    with pytest.raises(KernelError, match="sequence_lens"):
        run_node("ReverseSequence", [randn(3, 2), np.array([4, 1], np.int64)], opset=10)


# --- normalizations ------------------------------------------------------------------------

@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_lp_normalization_matches_torch_normalize(p, axis):
    x = randn(3, 4, 5, dtype=np.float64)
    x[1, 1, :] = 0  # a zero norm along the last axis gives zeros
    (y,) = run_node("LpNormalization", [x], {"p": p, "axis": axis}, opset=1)
    close(y, F.normalize(t(x), p=p, dim=axis, eps=0.0).nan_to_num(0.0), atol=1e-15, rtol=1e-13)


def test_lp_normalization_refuses_p3():
    with pytest.raises(ModelError, match="p must be 1 or 2"):
        run_node("LpNormalization", [randn(2, 2)], {"p": 3}, opset=22)


@pytest.mark.parametrize("axes", [None, [0, 2, 3], [1], [2, 3], [0, 1, 2, 3]])
def test_mvn_float64_formula(axes):
    x = randn(2, 3, 4, 5, dtype=np.float32)
    attrs = {} if axes is None else {"axes": axes}
    (y,) = run_node("MeanVarianceNormalization", [x], attrs, opset=13)
    a = tuple(axes or (0, 2, 3))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=a, keepdims=True)
    truth = (x64 - mean) / (np.sqrt(((x64 - mean) ** 2).mean(axis=a, keepdims=True)) + 1e-9)
    np.testing.assert_allclose(y.astype(np.float64), truth, atol=2e-6, rtol=2e-6)
    assert y.dtype == np.float32


# --- LpPool --------------------------------------------------------------------------------

def _lp_pool_truth(x, p, kernel, strides, dilations, begin, end, ceil_mode=False):
    """float64 loop over output positions of a 2-D LpPool (zero padding, windows clipped)."""
    x = x.astype(np.float64)
    n, c, h, w = x.shape
    out = []
    for i in range(2):
        size, k, s, d = (h, w)[i], kernel[i], strides[i], dilations[i]
        span = size + begin[i] + end[i] - ((k - 1) * d + 1)
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + begin[i]:
            o -= 1
        out.append(o)
    y = np.zeros((n, c, *out))
    for oy in range(out[0]):
        for ox in range(out[1]):
            total = np.zeros((n, c))
            for a in range(kernel[0]):
                for b in range(kernel[1]):
                    r, q = oy * strides[0] + a * dilations[0] - begin[0], ox * strides[1] + b * dilations[1] - begin[1]
                    if 0 <= r < h and 0 <= q < w:
                        total += np.abs(x[:, :, r, q]) ** p
            y[:, :, oy, ox] = total ** (1.0 / p)
    return y


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("kernel,stride", [((2, 2), (2, 2)), ((3, 2), (1, 2)), ((3, 3), (2, 1))])
def test_lp_pool2d_matches_torch(p, kernel, stride):
    x = randn(2, 3, 7, 8)
    if p % 2:
        x = np.abs(x)  # torch raises x to the power p without |x|
    (y,) = run_node("LpPool", [x], {"kernel_shape": list(kernel), "strides": list(stride), "p": p}, opset=18)
    close(y, F.lp_pool2d(t(x), p, kernel, stride), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("opset", [2, 11, 18, 22])
def test_lp_pool2d_pads_float64_truth(opset):
    x = randn(1, 2, 6, 5, dtype=np.float64)
    attrs = {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 2, 1], "p": 3}
    (y,) = run_node("LpPool", [x], attrs, opset=opset)
    close(y, _lp_pool_truth(x, 3, (3, 2), (2, 2), (1, 1), (1, 0), (2, 1)), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("ceil_mode", [0, 1])
def test_lp_pool2d_dilations_ceil_mode_float64_truth(ceil_mode):
    x = randn(1, 2, 9, 8, dtype=np.float64)
    attrs = {"kernel_shape": [2, 3], "strides": [2, 3], "dilations": [2, 1], "pads": [0, 1, 1, 0],
             "ceil_mode": ceil_mode, "p": 2}
    (y,) = run_node("LpPool", [x], attrs, opset=18)
    truth = _lp_pool_truth(x, 2, (2, 3), (2, 3), (2, 1), (0, 1), (1, 0), bool(ceil_mode))
    close(y, truth, atol=1e-12, rtol=1e-12)


def test_lp_pool_opset1_float_p_and_same_upper():
    x = randn(1, 1, 5, 5, dtype=np.float64)
    (y,) = run_node("LpPool", [x], {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER", "p": 2.0}, opset=1)
    close(y, _lp_pool_truth(x, 2, (2, 2), (1, 1), (1, 1), (0, 0), (1, 1)), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 2, 2)])
def test_global_lp_pool_matches_vector_norm(p, shape):
    x = randn(*shape)
    (y,) = run_node("GlobalLpPool", [x], {"p": p}, opset=2)
    dims = tuple(range(2, len(shape)))
    close(y, torch.linalg.vector_norm(t(x), ord=p, dim=dims, keepdim=True), atol=1e-5, rtol=1e-5)


def test_global_lp_pool_float16():
    x = randn(2, 3, 4, 4, dtype=np.float16, scale=1.0)
    (y,) = run_node("GlobalLpPool", [x], opset=2)
    truth = np.sqrt((x.astype(np.float64) ** 2).sum(axis=(2, 3), keepdims=True))
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float64), truth, rtol=1e-3)


# --- sequences and optionals (onnxruntime as the peer) --------------------------------------

def seq_model(nodes, inputs, outputs, opset=18):
    """A model from (op, inputs, outputs, attrs) tuples; inputs/outputs are (name, type) pairs
    where the type is a TypeProto (helper.make_tensor_type_proto / make_sequence_type_proto)."""
    graph = helper.make_graph(
        [helper.make_node(op, i, o, **a) for op, i, o, a in nodes], "g",
        [helper.make_value_info(n, tp) for n, tp in inputs],
        [helper.make_value_info(n, tp) for n, tp in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def tensor_type(elem=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_type_proto(elem, shape)


def seq_type(elem=TensorProto.FLOAT):
    return helper.make_sequence_type_proto(tensor_type(elem))


def both(model, feeds):
    """(refruntime's outputs, onnxruntime's outputs) as lists in graph output order."""
    ours = Session(model, allow_fallback=False).run(feeds)
    ours = [ours[o.name] for o in model.graph.output]
    theirs = onnxruntime.InferenceSession(model.SerializeToString(),
                                          providers=["CPUExecutionProvider"]).run(None, feeds)
    return ours, theirs


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        if isinstance(b, list):
            assert isinstance(a, list) and len(a) == len(b)
            assert_same(a, b)
        else:
            close(np.asarray(a), np.asarray(b), atol=0, rtol=0)


@pytest.mark.parametrize("split,attrs", [
    (None, {"axis": 1}),
    (None, {"axis": 1, "keepdims": 0}),
    (np.array(2, np.int64), {"axis": 1}),
    (np.array(3, np.int32), {"axis": -1}),
    (np.array([1, 3, 1], np.int64), {"axis": 1}),
    (np.array([2, 2], np.int64), {"axis": 0, "keepdims": 0}),
])
def test_split_to_sequence_at_length_concat_vs_onnxruntime(split, attrs):
    x = randn(4, 5, 3)
    split_inputs = ["x", "s"] if split is not None else ["x"]
    nodes = [
        ("SplitToSequence", split_inputs, ["seq"], attrs),
        ("SequenceLength", ["seq"], ["n"], {}),
        ("SequenceAt", ["seq", "pos"], ["last"], {}),
        ("SequenceAt", ["seq", "zero"], ["first"], {}),
        ("ConcatFromSequence", ["seq"], ["cat"], {"axis": attrs["axis"]}),
        ("ConcatFromSequence", ["seq"], ["stacked"], {"axis": 0, "new_axis": 1}),
    ]
    if split is not None:
        nodes.append(("Identity", ["seq"], ["seq_out"], {}))
    inputs = [("x", tensor_type(shape=x.shape)), ("pos", tensor_type(TensorProto.INT64, [])),
              ("zero", tensor_type(TensorProto.INT64, []))]
    if split is not None:
        inputs.append(("s", tensor_type(helper.np_dtype_to_tensor_dtype(split.dtype), split.shape)))
    outputs = [("n", tensor_type(TensorProto.INT64)), ("last", tensor_type()), ("first", tensor_type()),
               ("cat", tensor_type()), ("stacked", tensor_type())]
    if split is not None:
        outputs.append(("seq_out", seq_type()))
    feeds = {"x": x, "pos": np.array(-1, np.int64), "zero": np.array(0, np.int64)}
    if split is not None:
        feeds["s"] = split
    dim = x.shape[attrs["axis"]]
    if split is not None and (len(set(split.tolist())) > 1 if split.ndim else dim % int(split)):
        # unequal pieces cannot be stacked: leave that output out
        nodes = [n for n in nodes if n[2] != ["stacked"]]
        outputs = [o for o in outputs if o[0] != "stacked"]
    ours, theirs = both(seq_model(nodes, inputs, outputs, opset=14), feeds)
    assert_same(ours, theirs)


def test_construct_insert_erase_vs_onnxruntime():
    a, b, c, d = randn(2, 3), randn(1, 3), randn(4, 3), randn(2, 3)
    nodes = [
        ("SequenceConstruct", ["a", "b", "c"], ["s0"], {}),
        ("SequenceInsert", ["s0", "d", "p1"], ["s1"], {}),      # at 1
        ("SequenceInsert", ["s1", "a"], ["s2"], {}),             # appended
        ("SequenceInsert", ["s2", "b", "pm"], ["s3"], {}),       # at -1
        ("SequenceErase", ["s3", "p1"], ["s4"], {}),
        ("SequenceErase", ["s4"], ["s5"], {}),                   # the last
        ("SequenceErase", ["s5", "pm"], ["s6"], {}),
        ("ConcatFromSequence", ["s6"], ["cat"], {"axis": 0}),
        ("SequenceLength", ["s3"], ["n3"], {}),
    ]
    inputs = [(n, tensor_type(shape=v.shape)) for n, v in zip("abcd", (a, b, c, d))]
    inputs += [("p1", tensor_type(TensorProto.INT64, [])), ("pm", tensor_type(TensorProto.INT32, []))]
    outputs = [("s0", seq_type()), ("s3", seq_type()), ("s6", seq_type()), ("cat", tensor_type()),
               ("n3", tensor_type(TensorProto.INT64))]
    feeds = {"a": a, "b": b, "c": c, "d": d, "p1": np.array(1, np.int64), "pm": np.array(-1, np.int32)}
    ours, theirs = both(seq_model(nodes, inputs, outputs), feeds)
    assert_same(ours, theirs)
    assert len(ours[0]) == 3  # s0 was not changed by the inserts after it


def test_sequence_empty_then_insert_vs_onnxruntime():
    x = randn(2, 2)
    nodes = [
        ("SequenceEmpty", [], ["e"], {"dtype": TensorProto.FLOAT}),
        ("SequenceLength", ["e"], ["n0"], {}),
        ("SequenceInsert", ["e", "x"], ["s1"], {}),
        ("SequenceInsert", ["s1", "x", "zero"], ["s2"], {}),
        ("ConcatFromSequence", ["s2"], ["cat"], {"axis": -1, "new_axis": 1}),
    ]
    inputs = [("x", tensor_type(shape=[2, 2])), ("zero", tensor_type(TensorProto.INT64, []))]
    outputs = [("n0", tensor_type(TensorProto.INT64)), ("e", seq_type()), ("cat", tensor_type())]
    ours, theirs = both(seq_model(nodes, inputs, outputs), {"x": x, "zero": np.array(0, np.int64)})
    assert_same(ours, theirs)
    assert ours[2].shape == (2, 2, 2)


def test_sequence_input_list_is_not_changed():
    items = [_read_only(randn(2)), _read_only(randn(2))]
    feed = list(items)
    nodes = [("SequenceInsert", ["s", "x"], ["s1"], {}), ("SequenceErase", ["s", "zero"], ["s2"], {})]
    inputs = [("s", seq_type()), ("x", tensor_type(shape=[2])), ("zero", tensor_type(TensorProto.INT64, []))]
    outputs = [("s1", seq_type()), ("s2", seq_type())]
    ours, theirs = both(seq_model(nodes, inputs, outputs), {"s": feed, "x": randn(2), "zero": np.array(0, np.int64)})
    assert_same(ours, theirs)
    assert len(feed) == 2 and all(f is i for f, i in zip(feed, items))


@pytest.mark.parametrize("graph,message", [
    ([("SequenceAt", ["s", "pos"], ["y"], {})], "out of range"),
    ([("SequenceErase", ["s", "pos"], ["y"], {})], "out of range"),
    ([("SequenceInsert", ["s", "x", "pos"], ["y"], {})], "out of range"),
])
def test_sequence_positions_out_of_range_fail(graph, message):
    inputs = [("s", seq_type()), ("pos", tensor_type(TensorProto.INT64, [])), ("x", tensor_type(shape=[2]))]
    if not any("x" in n[1] for n in graph):
        inputs = inputs[:2]
    model = seq_model(graph, inputs, [("y", seq_type() if graph[0][0] != "SequenceAt" else tensor_type())])
    feeds = {"s": [randn(2), randn(2)], "pos": np.array(3, np.int64), "x": randn(2)}
    feeds = {k: v for k, v in feeds.items() if any(k == i[0] for i in inputs)}
    with pytest.raises(KernelError, match=message):
        Session(model, allow_fallback=False).run(feeds)


def test_concat_from_empty_sequence_fails():
    model = seq_model([("SequenceEmpty", [], ["e"], {}), ("ConcatFromSequence", ["e"], ["y"], {"axis": 0})],
                      [], [("y", tensor_type())])
    with pytest.raises(KernelError, match="empty sequence"):
        Session(model, allow_fallback=False).run({})


def test_optional_ops_vs_onnxruntime():
    x = randn(3)
    opt = helper.make_optional_type_proto(tensor_type(shape=[3]))
    nodes = [
        ("Optional", ["x"], ["o"], {}),
        ("OptionalHasElement", ["o"], ["has"], {}),
        ("OptionalGetElement", ["o"], ["got"], {}),
        ("Optional", [], ["empty"], {"type": tensor_type()}),
        ("OptionalHasElement", ["empty"], ["has_empty"], {}),
        ("OptionalHasElement", ["x"], ["has_tensor"], {}),
        ("OptionalGetElement", ["x"], ["got_tensor"], {}),
        ("SplitToSequence", ["x"], ["seq"], {}),
        ("Optional", ["seq"], ["oseq"], {}),
        ("OptionalGetElement", ["oseq"], ["got_seq"], {}),
    ]
    outputs = [("o", opt), ("has", tensor_type(TensorProto.BOOL)), ("got", tensor_type()),
               ("has_empty", tensor_type(TensorProto.BOOL)), ("has_tensor", tensor_type(TensorProto.BOOL)),
               ("got_tensor", tensor_type()), ("got_seq", seq_type())]
    ours, theirs = both(seq_model(nodes, [("x", tensor_type(shape=[3]))], outputs), {"x": x})
    assert_same(ours, theirs)
    assert ours[1].item() is True and ours[3].item() is False


def test_optional_get_element_of_empty_fails_and_optional_needs_a_type():
    nodes = [("Optional", [], ["e"], {"type": tensor_type()}), ("OptionalGetElement", ["e"], ["y"], {})]
    with pytest.raises(KernelError, match="empty optional"):
        Session(seq_model(nodes, [], [("y", tensor_type())]), allow_fallback=False).run({})
    node = helper.make_node("Optional", [], ["e"])
    graph = helper.make_graph([node], "g", [], [helper.make_value_info("e", helper.make_optional_type_proto(tensor_type()))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    with pytest.raises(ModelError, match="type attribute"):
        Session(model, allow_fallback=False)
