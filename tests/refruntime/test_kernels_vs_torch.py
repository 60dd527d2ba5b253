"""refruntime's CNN kernels against torch.nn.functional, on seeded random shapes and attributes.

Each case builds a one-node ONNX model with onnx.helper and runs it with fallback disabled, so the
native kernel is what is compared. Asymmetric pads are applied to the reference input with F.pad
(torch only pads symmetrically). Comparisons are float32 at atol = rtol = 1e-5 (scaled by the
reduction length where a sum of many products is involved).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from refruntime import KernelError, Session

torch.set_num_threads(1)
ATOL = RTOL = 1e-5


def run_node(op_type, inputs, attrs=None, opset=22, n_outputs=1, name="node", declare_shapes=True):
    """Run one node on `inputs` (arrays; None = omitted optional input) through refruntime.
    declare_shapes=False declares the inputs without shapes, so inputs whose shapes do not fit
    together make a valid model that fails at run time (static shapes would fail the strict check)."""
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, name=name, **(attrs or {}))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape if declare_shapes else None)
         for n, a in zip(names, inputs) if a is not None],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    session = Session(model, allow_fallback=False)
    result = session.run({n: a for n, a in zip(names, inputs) if a is not None})
    return [result[o] for o in outs]


def close(got, expected, atol=ATOL, rtol=RTOL):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
    np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def same_pads(size, k, s, d, upper):
    """The SAME_UPPER/SAME_LOWER pads of the operator doc (written here, not taken from the runtime)."""
    out = -(-size // s)
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
    return (total // 2, total - total // 2) if upper else (total - total // 2, total // 2)


def torch_pad(x, begin, end, value=0.0):
    """F.pad with ONNX-ordered begin/end pads (first spatial axis first)."""
    spec = []
    for b, e in zip(reversed(begin), reversed(end)):
        spec += [b, e]
    return F.pad(x, spec, value=value)


# ---------------------------------------------------------------------------------------------
# Conv
def conv_cases(count=36, seed=1):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        nd = (1, 2, 2, 2, 3)[i % 5]
        kind = ("plain", "group", "depthwise", "pointwise")[i % 4]
        channels = int(rng.integers(1, 4)) * (2 if kind != "plain" else 1)
        group = {"plain": 1, "group": 2, "depthwise": channels, "pointwise": int(rng.choice([1, 2]))}[kind]
        if channels % group:
            group = 1
        per_group_out = int(rng.integers(1, 4)) if kind != "depthwise" else int(rng.choice([1, 2]))
        kernel = [1] * nd if kind == "pointwise" else [int(rng.integers(1, 4)) for _ in range(nd)]
        strides = [int(rng.integers(1, 5)) for _ in range(nd)]  # often larger than the kernel
        dilations = [int(rng.integers(1, 3)) for _ in range(nd)]
        auto_pad = str(rng.choice(["NOTSET", "NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
        pads = [int(rng.integers(0, 3)) for _ in range(2 * nd)]  # asymmetric
        if kind == "pointwise" and i % 8 == 3:
            pads = [0] * (2 * nd)
        spatial = [int(rng.integers(5, 12)) for _ in range(nd)]
        cases.append({"id": f"conv{i}-{nd}d-{kind}-{auto_pad}", "nd": nd, "batch": int(rng.integers(1, 4)),
                          "channels": channels, "group": group, "n_out": per_group_out * group, "kernel": kernel,
                          "strides": strides, "dilations": dilations, "pads": pads, "auto_pad": auto_pad,
                          "spatial": spatial, "bias": bool(rng.integers(0, 2)), "seed": i})
    return cases


@pytest.mark.parametrize("case", conv_cases(), ids=lambda c: c["id"])
def test_conv(case):
    rng = np.random.default_rng(case["seed"])
    nd = case["nd"]
    x = rng.standard_normal([case["batch"], case["channels"], *case["spatial"]]).astype(np.float32)
    w = rng.standard_normal([case["n_out"], case["channels"] // case["group"], *case["kernel"]]).astype(np.float32)
    b = rng.standard_normal(case["n_out"]).astype(np.float32) if case["bias"] else None
    attrs = {"group": case["group"], "strides": case["strides"], "dilations": case["dilations"],
                 "auto_pad": case["auto_pad"]}
    if case["auto_pad"] == "NOTSET":
        attrs["pads"] = case["pads"]
        begin, end = case["pads"][:nd], case["pads"][nd:]
    elif case["auto_pad"] == "VALID":
        begin = end = [0] * nd
    else:
        pairs = [same_pads(n, k, s, d, case["auto_pad"] == "SAME_UPPER") for n, k, s, d in
                 zip(case["spatial"], case["kernel"], case["strides"], case["dilations"])]
        begin, end = [p[0] for p in pairs], [p[1] for p in pairs]
    if nd == 2 and case["seed"] % 3 == 0:
        attrs["kernel_shape"] = case["kernel"]
    (got,) = run_node("Conv", [x, w, b], attrs)
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    expected = conv(torch_pad(t(x), begin, end), t(w), None if b is None else t(b), stride=case["strides"],
                    dilation=case["dilations"], groups=case["group"])
    reduction = w[0].size
    close(got, expected, atol=ATOL * reduction)


def test_conv_resnet_like_shapes():
    """The shapes a small CNN uses at batch 8: 3x3 pad 1, strided 3x3, 1x1 projection, depthwise."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 16, 20, 20)).astype(np.float32)
    for w_shape, attrs, kwargs in [
        ((32, 16, 3, 3), {"pads": [1, 1, 1, 1]}, {"padding": 1}),
        ((32, 16, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}, {"padding": 1, "stride": 2}),
        ((32, 16, 1, 1), {"strides": [2, 2]}, {"stride": 2}),
        ((16, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 16}, {"padding": 1, "groups": 16}),
    ]:
        w = rng.standard_normal(w_shape).astype(np.float32)
        b = rng.standard_normal(w_shape[0]).astype(np.float32)
        (got,) = run_node("Conv", [x, w, b], attrs)
        close(got, F.conv2d(t(x), t(w), t(b), **kwargs), atol=1e-4)


# ---------------------------------------------------------------------------------------------
# ConvTranspose
def conv_transpose_cases(count=20, seed=2):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        nd = (1, 2, 2, 3)[i % 4]
        group = int(rng.choice([1, 1, 2]))
        strides = [int(rng.integers(1, 4)) for _ in range(nd)]
        dilations = [int(rng.integers(1, 3)) for _ in range(nd)]
        output_padding = [int(rng.integers(0, max(s, d))) for s, d in zip(strides, dilations)]
        cases.append({"id": f"convT{i}-{nd}d-g{group}", "nd": nd, "batch": int(rng.integers(1, 3)),
                          "channels": int(rng.integers(1, 3)) * group, "group": group,
                          "per_group_out": int(rng.integers(1, 3)), "kernel": [int(rng.integers(1, 4)) for _ in range(nd)],
                          "strides": strides, "dilations": dilations, "output_padding": output_padding,
                          "pads": [int(rng.integers(0, 2)) for _ in range(2 * nd)],
                          "spatial": [int(rng.integers(2, 7)) for _ in range(nd)], "bias": bool(rng.integers(0, 2)),
                          "seed": 100 + i})
    return cases


@pytest.mark.parametrize("case", conv_transpose_cases(), ids=lambda c: c["id"])
def test_conv_transpose(case):
    rng = np.random.default_rng(case["seed"])
    nd = case["nd"]
    x = rng.standard_normal([case["batch"], case["channels"], *case["spatial"]]).astype(np.float32)
    w = rng.standard_normal([case["channels"], case["per_group_out"], *case["kernel"]]).astype(np.float32)
    n_out = case["per_group_out"] * case["group"]
    b = rng.standard_normal(n_out).astype(np.float32) if case["bias"] else None
    attrs = {"group": case["group"], "strides": case["strides"], "dilations": case["dilations"],
                 "output_padding": case["output_padding"], "pads": case["pads"]}
    (got,) = run_node("ConvTranspose", [x, w, b], attrs)
    conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
    full = conv_t(t(x), t(w), None if b is None else t(b), stride=case["strides"],
                  dilation=case["dilations"], groups=case["group"], output_padding=case["output_padding"])
    # ONNX pads crop the full output, possibly asymmetrically
    crop = tuple(slice(p, full.shape[2 + i] - case["pads"][nd + i]) for i, p in enumerate(case["pads"][:nd]))
    close(got, full[(slice(None), slice(None)) + crop], atol=ATOL * x.shape[1] * w[0, 0].size)


def test_conv_transpose_output_shape_and_same_upper():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    full = F.conv_transpose2d(t(x), t(w), stride=2)  # (2, 2, 11, 9)
    # output_shape 10x8: total padding 1 per axis; NOTSET puts the larger half at the beginning
    (got,) = run_node("ConvTranspose", [x, w], {"strides": [2, 2], "output_shape": [10, 8]})
    close(got, full[:, :, 1:, 1:], atol=1e-4)
    (got,) = run_node("ConvTranspose", [x, w], {"strides": [2, 2], "auto_pad": "SAME_UPPER"})
    close(got, full[:, :, :10, :8], atol=1e-4)


# ---------------------------------------------------------------------------------------------
# MaxPool / AveragePool
def pool_cases(count=30, seed=3):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        nd = (1, 2, 2, 3)[i % 4]
        kernel = [int(rng.integers(1, 4)) for _ in range(nd)]
        dilations = [int(rng.integers(1, 3)) if i % 3 == 0 else 1 for _ in range(nd)]
        strides = [int(rng.integers(1, 5)) for _ in range(nd)]
        # torch: symmetric pads of at most half the kernel
        sym = [int(rng.integers(0, k // 2 + 1)) for k in kernel]
        asym = i % 5 == 4
        extra = [int(rng.integers(0, 2)) for _ in range(nd)] if asym else [0] * nd
        cases.append({"id": f"pool{i}-{nd}d{'-asym' if asym else ''}", "nd": nd, "kernel": kernel,
                          "dilations": dilations, "strides": strides, "begin": sym, "end": [p + e for p, e in zip(sym, extra)],
                          "ceil_mode": 0 if asym else int(rng.integers(0, 2)), "spatial": [int(rng.integers(4, 10)) for _ in range(nd)],
                          "count_include_pad": int(rng.integers(0, 2)), "seed": 200 + i})
    return cases


@pytest.mark.parametrize("case", pool_cases(), ids=lambda c: c["id"])
def test_max_pool_with_indices(case):
    rng = np.random.default_rng(case["seed"])
    nd = case["nd"]
    x = rng.standard_normal([2, 3, *case["spatial"]]).astype(np.float32)
    attrs = {"kernel_shape": case["kernel"], "strides": case["strides"], "dilations": case["dilations"],
                 "pads": case["begin"] + case["end"], "ceil_mode": case["ceil_mode"]}
    got, indices = run_node("MaxPool", [x], attrs, n_outputs=2)
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
    symmetric = case["begin"] == case["end"]
    if symmetric:
        expected, expected_idx = pool(t(x), case["kernel"], case["strides"], case["begin"], case["dilations"],
                                      ceil_mode=bool(case["ceil_mode"]), return_indices=True)
    else:  # the extra end padding (never selected: -inf) goes on the input (ceil_mode is off)
        padded = torch_pad(t(x), [0] * nd, [e - b for b, e in zip(case["begin"], case["end"])], -np.inf)
        expected, expected_idx = pool(padded, case["kernel"], case["strides"], case["begin"], case["dilations"],
                                      return_indices=True)
    close(got, expected, atol=0, rtol=0)
    assert indices.dtype == np.int64
    plane = int(np.prod(x.shape[2:]))
    offsets = (np.arange(x.shape[0] * x.shape[1]) * plane).reshape(x.shape[0], x.shape[1], *([1] * nd))
    if symmetric:
        np.testing.assert_array_equal(indices - offsets, expected_idx.numpy())
    # every index points at the value reported (-1 for a window entirely in the padding: -inf)
    inside = indices >= 0
    np.testing.assert_array_equal(x.reshape(-1)[indices[inside]], got[inside])
    assert np.all(got[~inside] == -np.inf)


def test_max_pool_column_major_indices():
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 7)).astype(np.float32)
    attrs = {"kernel_shape": [2, 3], "strides": [2, 2], "storage_order": 1}
    got, indices = run_node("MaxPool", [x], attrs, n_outputs=2)
    expected, row_major = F.max_pool2d(t(x), [2, 3], [2, 2], return_indices=True)
    close(got, expected, atol=0, rtol=0)
    h, w = np.divmod(row_major.numpy(), 7)
    offsets = (np.arange(6) * 35).reshape(2, 3, 1, 1)
    np.testing.assert_array_equal(indices - offsets, h + w * 5)


def test_max_pool_integer_and_auto_pad():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 255, (1, 2, 7, 6)).astype(np.uint8)
    (got,) = run_node("MaxPool", [x], {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"})
    pads = [same_pads(n, 3, 2, 1, True) for n in (7, 6)]
    padded = torch_pad(t(x.astype(np.float32)), [p[0] for p in pads], [p[1] for p in pads], -1.0)
    expected = F.max_pool2d(padded, 3, 2).numpy().astype(np.uint8)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("case", [c for c in pool_cases() if c["dilations"] == [1] * c["nd"]],
                         ids=lambda c: c["id"])
def test_average_pool(case):
    rng = np.random.default_rng(case["seed"])
    nd = case["nd"]
    x = rng.standard_normal([2, 3, *case["spatial"]]).astype(np.float32)
    attrs = {"kernel_shape": case["kernel"], "strides": case["strides"], "pads": case["begin"] + case["end"],
                 "ceil_mode": case["ceil_mode"], "count_include_pad": case["count_include_pad"]}
    (got,) = run_node("AveragePool", [x], attrs)
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1]
    if case["begin"] == case["end"]:
        expected = pool(t(x), case["kernel"], case["strides"], case["begin"], ceil_mode=bool(case["ceil_mode"]),
                        count_include_pad=bool(case["count_include_pad"]))
    else:  # (ceil_mode is off) pad everything explicitly; count the in-input (or in-padded-input) positions with a ones tensor
        padded = torch_pad(t(x), case["begin"], case["end"])
        mask = torch_pad(torch.ones_like(t(x)), case["begin"], case["end"],
                         value=1.0 if case["count_include_pad"] else 0.0)
        sums = pool(padded, case["kernel"], case["strides"], 0, divisor_override=1) if nd > 1 else \
            pool(padded, case["kernel"], case["strides"], 0) * case["kernel"][0]
        counts = pool(mask, case["kernel"], case["strides"], 0, divisor_override=1) if nd > 1 else \
            pool(mask, case["kernel"], case["strides"], 0) * case["kernel"][0]
        expected = sums / counts
    close(got, expected)


@pytest.mark.parametrize("include_pad", [0, 1])
def test_average_pool_dilations(include_pad):
    """opset 19 dilations, against unfold (which supports dilation) on zero-padded input."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    attrs = {"kernel_shape": [3, 2], "strides": [2, 1], "dilations": [2, 3], "pads": [1, 2, 2, 1],
                 "count_include_pad": include_pad}
    (got,) = run_node("AveragePool", [x], attrs, opset=19)
    padded = torch_pad(t(x), [1, 2], [2, 1])
    ones = torch_pad(torch.ones_like(t(x)), [1, 2], [2, 1], value=float(include_pad))
    sums = F.unfold(padded, (3, 2), dilation=(2, 3), stride=(2, 1)).reshape(2, 3, 6, -1).sum(2)
    counts = F.unfold(ones, (3, 2), dilation=(2, 3), stride=(2, 1)).reshape(2, 3, 6, -1).sum(2)
    close(got, (sums / counts).reshape(got.shape))


def test_global_pools():
    x = np.random.default_rng(8).standard_normal((3, 4, 5, 6, 2)).astype(np.float32)
    (avg,) = run_node("GlobalAveragePool", [x])
    (mx,) = run_node("GlobalMaxPool", [x])
    close(avg, F.adaptive_avg_pool3d(t(x), 1))
    close(mx, F.adaptive_max_pool3d(t(x), 1), atol=0, rtol=0)


# ---------------------------------------------------------------------------------------------
# Gemm / MatMul
@pytest.mark.parametrize("trans_a,trans_b,c_shape,alpha,beta", [
    (0, 0, None, 1.0, 1.0), (1, 0, (7,), 0.5, 2.0), (0, 1, (5, 1), 1.0, -1.0), (1, 1, (5, 7), 2.5, 0.0),
    (0, 0, (), 1.0, 0.5), (1, 1, (1, 7), -1.0, 1.0),
])
def test_gemm(trans_a, trans_b, c_shape, alpha, beta):
    rng = np.random.default_rng(9)
    a = rng.standard_normal((6, 5) if trans_a else (5, 6)).astype(np.float32)
    b = rng.standard_normal((7, 6) if trans_b else (6, 7)).astype(np.float32)
    c = None if c_shape is None else rng.standard_normal(c_shape).astype(np.float32)
    (got,) = run_node("Gemm", [a, b, c], {"transA": trans_a, "transB": trans_b, "alpha": alpha, "beta": beta}, opset=13)
    expected = alpha * (t(a).T if trans_a else t(a)) @ (t(b).T if trans_b else t(b))
    if c is not None:
        expected = expected + beta * t(c)
    close(got, expected)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((4,), (4,)), ((3, 4), (4,)), ((4,), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 6)),
    ((1, 7), (7, 1)), ((3, 2, 4), (3, 4, 2)),
])
def test_matmul(a_shape, b_shape):
    rng = np.random.default_rng(10)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    (got,) = run_node("MatMul", [a, b], opset=13)
    close(got, torch.matmul(t(a), t(b)))


# ---------------------------------------------------------------------------------------------
# BatchNormalization (inference), LRN, softmax family
@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 7), (2, 3, 6, 5), (2, 2, 3, 4, 3)])
def test_batch_normalization_inference(shape):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    scale, bias, mean = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.1, 2.0, c).astype(np.float32)
    (got,) = run_node("BatchNormalization", [x, scale, bias, mean, var], {"epsilon": 1e-3}, opset=15)
    close(got, F.batch_norm(t(x), t(mean), t(var), t(scale), t(bias), training=False, eps=1e-3))


@pytest.mark.parametrize("size,shape", [(1, (2, 4, 3, 3)), (3, (2, 7, 4)), (5, (1, 9, 4, 5)), (7, (2, 3, 2, 2, 2))])
def test_lrn(size, shape):
    # odd sizes only: torch pads size//2 channels before, ONNX floor((size-1)/2); they agree for odd sizes
    x = np.random.default_rng(12).standard_normal(shape).astype(np.float32)
    attrs = {"size": size, "alpha": 0.02, "beta": 0.6, "bias": 1.5}
    (got,) = run_node("LRN", [x], attrs, opset=13)
    close(got, F.local_response_norm(t(x), size, alpha=0.02, beta=0.6, k=1.5))


def test_lrn_even_size_window():
    """ONNX's window for even sizes is [c - floor((size-1)/2), c + ceil((size-1)/2)]."""
    x = np.random.default_rng(13).standard_normal((2, 6, 3)).astype(np.float64)
    (got,) = run_node("LRN", [x], {"size": 4, "alpha": 0.125, "beta": 0.5, "bias": 2.0}, opset=13)
    squares = np.pad(x ** 2, ((0, 0), (1, 2), (0, 0)))
    window = sum(squares[:, i:i + 6] for i in range(4))
    np.testing.assert_allclose(got, x / (2.0 + 0.125 / 4 * window) ** 0.5, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_softmax_family_opset13(axis):
    x = (np.random.default_rng(14).standard_normal((3, 4, 5)) * 4).astype(np.float32)
    (sm,) = run_node("Softmax", [x], {"axis": axis}, opset=13)
    (lsm,) = run_node("LogSoftmax", [x], {"axis": axis}, opset=13)
    (hm,) = run_node("Hardmax", [x], {"axis": axis}, opset=13)
    close(sm, F.softmax(t(x), dim=axis))
    close(lsm, F.log_softmax(t(x), dim=axis))
    one_hot = F.one_hot(t(x).argmax(dim=axis), x.shape[axis]).movedim(-1, axis).numpy().astype(np.float32)
    close(hm, one_hot, atol=0, rtol=0)


# ---------------------------------------------------------------------------------------------
# activations
ACTIVATIONS = [
    ("LeakyRelu", {"alpha": 0.3}, lambda x: F.leaky_relu(x, 0.3)),
    ("LeakyRelu", {}, lambda x: F.leaky_relu(x, 0.01)),
    ("Sigmoid", {}, torch.sigmoid),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, lambda x: torch.clamp(0.3 * x + 0.4, 0, 1)),
    ("HardSigmoid", {}, lambda x: torch.clamp(0.2 * x + 0.5, 0, 1)),
    ("HardSwish", {}, F.hardswish),
    ("Tanh", {}, torch.tanh),
    ("Elu", {"alpha": 0.7}, lambda x: F.elu(x, 0.7)),
    ("Selu", {}, F.selu),
    ("Softplus", {}, F.softplus),
    ("Softsign", {}, F.softsign),
    ("Relu", {}, F.relu),
    ("Swish", {}, F.silu),
]


@pytest.mark.parametrize("op_type,attrs,reference", ACTIVATIONS, ids=[f"{a[0]}{i}" for i, a in enumerate(ACTIVATIONS)])
def test_activation(op_type, attrs, reference):
    x = (np.random.default_rng(15).standard_normal((3, 4, 5)) * 5).astype(np.float32)
    x[0, 0, :3] = [0.0, 40.0, -40.0]
    (got,) = run_node(op_type, [x], attrs, opset=24 if op_type == "Swish" else 22)
    close(got, reference(t(x)), atol=1e-6)


@pytest.mark.parametrize("slope_shape", [(1,), (5,), (4, 1), (3, 4, 5)])
def test_prelu(slope_shape):
    rng = np.random.default_rng(16)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    slope = rng.standard_normal(slope_shape).astype(np.float32)
    (got,) = run_node("PRelu", [x, slope], opset=16)
    close(got, torch.where(t(x) >= 0, t(x), t(x) * t(slope)))


def test_prelu_per_channel_before_opset7():
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    slope = rng.standard_normal(3).astype(np.float32)
    (got,) = run_node("PRelu", [x, slope], opset=6)
    close(got, F.prelu(t(x), t(slope)))


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int8])
def test_clip(dtype):
    x = (np.random.default_rng(18).standard_normal((4, 6)) * 10).astype(dtype)
    low, high = np.array(-3, dtype=dtype), np.array(5, dtype=dtype)
    (got,) = run_node("Clip", [x, low, high], opset=13)
    close(got, torch.clamp(t(x), -3, 5))
    (got,) = run_node("Clip", [x, None, high], opset=13)
    close(got, torch.clamp(t(x), max=5))
    if dtype is np.float32:
        (got,) = run_node("Clip", [x], {"min": -1.0, "max": 2.0}, opset=6)
        close(got, torch.clamp(t(x), -1, 2))


# ---------------------------------------------------------------------------------------------
# user errors name the node and the shapes
def test_gemm_inner_dimension_mismatch_is_a_kernel_error():
    a = np.zeros((2, 3), np.float32)
    b = np.zeros((4, 5), np.float32)
    with pytest.raises(KernelError, match=r"'fc1'.*Gemm.*A is 2x3 but B is 4x5: inner dimensions 3 and 4 differ"):
        run_node("Gemm", [a, b], opset=13, name="fc1", declare_shapes=False)


def test_conv_channel_mismatch_is_a_kernel_error():
    x = np.zeros((1, 3, 8, 8), np.float32)
    w = np.zeros((4, 2, 3, 3), np.float32)
    with pytest.raises(KernelError, match=r"'conv1'.*Conv.*3 channels.*\(1, 3, 8, 8\).*\(4, 2, 3, 3\)"):
        run_node("Conv", [x, w], name="conv1")
    err = None
    try:
        run_node("Conv", [x, w], name="conv1")
    except KernelError as exc:
        err = exc
    assert err.node_name == "conv1" and err.op_type == "Conv"


def test_matmul_mismatch_is_a_kernel_error():
    with pytest.raises(KernelError, match=r"'mm'.*inner dimensions 3 and 4"):
        run_node("MatMul", [np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32)], name="mm", opset=13,
                 declare_shapes=False)

