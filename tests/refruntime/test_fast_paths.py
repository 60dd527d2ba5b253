"""The plain path's fast code (plan_fusion's fused steps and slots, im2col, the conv epilogues and
MaxPool loops) against the step-by-step path on random shapes and attributes.

The step-by-step loop (taken whenever a debugging feature is on, here `profile=True`) runs every
node unfused, so `run(feeds)` and `run(feeds, profile=True)` must agree bitwise in float32.
"""
import math

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import Session

RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, initializers, opset=17, dtype=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, dtype, None) for n in inputs],
        [helper.make_tensor_value_info(n, dtype, None) for n in outputs],
        [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _both(session, feeds):
    fast = session.run(feeds)
    plain = session.run(feeds, profile=True)
    return fast, plain


def _conv_case(rng, nd, tail):
    """A Conv with random geometry followed by `tail` ops; returns (model, feeds)."""
    group = int(rng.choice([1, 1, 2]))
    # wide inputs (C * kw >= 16) take the channels-last path, narrow ones the NCHW im2col path
    wide = rng.random() < 0.5
    cin = group * int(rng.integers(8, 13) if wide else rng.integers(1, 4))
    cout = group * int(rng.integers(1, 4))
    k = [int(rng.integers(2 if wide else 1, 4)) for _ in range(nd)]
    strides = [int(rng.integers(1, 3)) for _ in range(nd)]
    dil = [int(rng.integers(1, 3)) for _ in range(nd)]
    pads = [int(rng.integers(0, 2)) for _ in range(2 * nd)]
    size = [int(rng.integers(6, 11)) for _ in range(nd)]
    batch = int(rng.integers(1, 4))
    w = rng.standard_normal((cout, cin // group, *k)).astype(np.float32)
    inits = {"W": w}
    conv_inputs = ["X", "W"]
    if rng.random() < 0.7:
        inits["B"] = rng.standard_normal(cout).astype(np.float32)
        conv_inputs.append("B")
    nodes = [helper.make_node("Conv", conv_inputs, ["c"], group=group, kernel_shape=k, strides=strides,
                              dilations=dil, pads=pads)]
    last = "c"
    for op in tail:
        out = f"{op.lower()}_out"
        if op == "BatchNormalization":
            inits.update(s=rng.uniform(0.5, 1.5, cout).astype(np.float32),
                         bb=rng.standard_normal(cout).astype(np.float32),
                         m=rng.standard_normal(cout).astype(np.float32),
                         v=rng.uniform(0.5, 1.5, cout).astype(np.float32))
            nodes.append(helper.make_node(op, [last, "s", "bb", "m", "v"], [out], epsilon=1e-3))
        elif op == "Clip":
            inits.update(lo=np.array(-0.5, np.float32), hi=np.array(0.75, np.float32))
            nodes.append(helper.make_node(op, [last, "lo", "hi"], [out]))
        elif op == "MaxPool":  # window = stride (fusable in 2-D), no larger than the conv output
            conv_out = [(n + pads[i] + pads[i + nd] - dil[i] * (k[i] - 1) - 1) // strides[i] + 1
                        for i, n in enumerate(size)]
            window = [int(rng.integers(1, min(3, o) + 1)) for o in conv_out]
            nodes.append(helper.make_node(op, [last], [out], kernel_shape=window, strides=window))
        else:
            nodes.append(helper.make_node(op, [last], [out]))
        last = out
    x = rng.standard_normal((batch, cin, *size)).astype(np.float32)
    return _model(nodes, ["X"], [last], inits), {"X": x}


TAILS = [("Relu",), ("BatchNormalization",), ("BatchNormalization", "Relu"), ("Clip",),
         ("BatchNormalization", "Clip"), (), ("Relu", "MaxPool"), ("MaxPool",),
         ("BatchNormalization", "Relu", "MaxPool")]


@pytest.mark.parametrize("seed", range(36))
def test_fused_conv_chain_equals_unfused(seed):
    rng = np.random.default_rng(seed)
    nd = [2, 2, 1, 3][seed % 4]
    tail = TAILS[seed % len(TAILS)]
    model, feeds = _conv_case(rng, nd, tail)
    if seed % 5 == 0:  # NaN must win a pooling window on every path
        feeds["X"].flat[rng.integers(0, feeds["X"].size, 2)] = np.nan
    session = Session(model)
    fast, plain = _both(session, feeds)
    fusable = [op for op in tail if op != "MaxPool" or nd == 2]
    if fusable:
        assert len(session.plan.program.fused) == 1, session.plan.program.fused
    (name,) = session.output_names
    np.testing.assert_array_equal(fast[name], plain[name])
    # and the chain against float64 (a plain numpy check of the whole pipeline's accuracy)
    oracle = Session(model, precision="float64").run(feeds)[name]
    np.testing.assert_allclose(fast[name], oracle, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", range(12))
def test_channels_last_conv_matches_torch(seed):
    """conv_nd's channels-last path (packed weights, bands, fused pool) against torch, in float64
    so that the comparison is tight, on random geometry including bands smaller than an image."""
    import torch

    from refruntime.kernels import channels_last
    from refruntime.kernels.spatial import window_geometry
    from refruntime.ops import op_conv

    rng = np.random.default_rng(100 + seed)
    n, cin, cout = int(rng.integers(1, 4)), int(rng.integers(6, 20)), int(rng.integers(1, 9))
    k = [int(rng.integers(1, 4)), int(rng.integers(2, 4))]
    strides, dil = [int(rng.integers(1, 3)) for _ in k], [int(rng.integers(1, 3)) for _ in k]
    pads = [int(rng.integers(0, 2)) for _ in range(4)]
    size = [int(rng.integers(8, 20)) for _ in k]
    x = rng.standard_normal((n, cin, *size))
    w = rng.standard_normal((cout, cin, *k))
    b = rng.standard_normal(cout)

    class Node:
        def fail(self, message):
            raise AssertionError(message)

    geometry = window_geometry(Node(), tuple(size), tuple(k), strides, dil, pads, "NOTSET")
    xt = torch.nn.functional.pad(torch.from_numpy(x), (pads[1], pads[3], pads[0], pads[2]))
    want = torch.nn.functional.conv2d(xt, torch.from_numpy(w), torch.from_numpy(b), strides, 0, dil)
    pool = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    want_pooled = torch.nn.functional.max_pool2d(torch.relu(want), pool).numpy()
    budget = channels_last.BAND_BUDGET, channels_last.BAND_WEIGHTS
    try:
        if seed % 2:  # tiny bands: pieces of one image, cut at multiples of the pool height
            channels_last.BAND_BUDGET, channels_last.BAND_WEIGHTS = 1, 0
        got = op_conv.conv_nd(x, w, b, 1, geometry, packed=channels_last.pack(w))
        pooled = op_conv.conv_nd(x, w, b, 1, geometry, clamp=(0.0, np.inf),
                                 packed=channels_last.pack(w), pool=pool)
    finally:
        channels_last.BAND_BUDGET, channels_last.BAND_WEIGHTS = budget
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pooled, want_pooled, rtol=1e-10, atol=1e-10)


def test_one_plan_runs_any_batch():
    rng = np.random.default_rng(1)
    model, feeds = _conv_case(rng, 2, ("BatchNormalization", "Relu"))
    session = Session(model)
    x = feeds["X"]
    for batch in (1, 64, 3, 1):
        xb = np.resize(x, (batch, *x.shape[1:])).astype(np.float32)
        fast, plain = _both(session, {"X": xb})
        np.testing.assert_array_equal(fast[session.output_names[0]], plain[session.output_names[0]])


def test_large_batch_uses_chunks_and_matches_per_image():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    model = _model([helper.make_node("Conv", ["X", "W"], ["Y"], pads=[1, 1, 1, 1])], ["X"], ["Y"], {"W": w})
    x = rng.standard_normal((40, 8, 20, 20)).astype(np.float32)
    session = Session(model)
    whole = session.run({"X": x})["Y"]
    single = np.concatenate([session.run({"X": x[i:i + 1]})["Y"] for i in range(len(x))])
    np.testing.assert_allclose(whole, single, rtol=1e-5, atol=1e-5)


def test_float64_oracle_takes_the_unfused_route():
    rng = np.random.default_rng(3)
    model, feeds = _conv_case(rng, 2, ("BatchNormalization", "Relu"))
    session = Session(model)
    (name,) = session.output_names
    # float64 oracle: step by step, in float64
    got = Session(model, precision="float64").run(feeds)[name]
    assert got.dtype == np.float64
    np.testing.assert_allclose(session.run(feeds)[name], got, rtol=1e-4, atol=1e-4)


def test_fusion_respects_other_readers_outputs_and_fed_parameters():
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    relu = helper.make_node("Relu", ["c"], ["r"])
    # the Conv output is also a graph output: not fused, both values returned
    m1 = _model([helper.make_node("Conv", ["X", "W"], ["c"]), relu], ["X"], ["c", "r"], {"W": w})
    s1 = Session(m1)
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    out = s1.run({"X": x})
    assert s1.plan.program.fused == []
    np.testing.assert_array_equal(out["r"], np.maximum(out["c"], 0))
    # two readers of the Conv output: not fused
    m2 = _model([helper.make_node("Conv", ["X", "W"], ["c"]), relu, helper.make_node("Neg", ["c"], ["n"])],
                ["X"], ["r", "n"], {"W": w})
    s2 = Session(m2)
    out = s2.run({"X": x})
    assert s2.plan.program.fused == []
    np.testing.assert_array_equal(out["r"], np.maximum(-out["n"], 0))
    # BN parameters that are graph inputs (a feed may replace them): the BN is not absorbed
    c = 4
    params = {"s": np.ones(c, np.float32), "bb": np.zeros(c, np.float32), "m": np.zeros(c, np.float32),
              "v": np.ones(c, np.float32)}
    m3 = _model([helper.make_node("Conv", ["X", "W"], ["c"]),
                 helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["y"])],
                ["X", "s", "bb", "m", "v"], ["y"], {"W": w, **params})
    s3 = Session(m3)
    fed = {"X": x, **params, "bb": np.full(c, 5.0, np.float32)}
    fast, plain = _both(s3, fed)
    assert s3.plan.program.fused == []
    np.testing.assert_array_equal(fast["y"], plain["y"])
    assert fast["y"].mean() > 3  # the fed bias was used


def test_capture_and_hooks_see_unfused_intermediates():
    rng = np.random.default_rng(4)
    model, feeds = _conv_case(rng, 2, ("BatchNormalization", "Relu"))
    session = Session(model)
    got = session.run(feeds, capture="all")
    assert {"c", "batchnormalization_out", "relu_out"} <= set(got)
    np.testing.assert_array_equal(got["relu_out"], np.maximum(got["batchnormalization_out"], 0))
    seen = []
    session.run(feeds, after=lambda step, inputs, outputs: seen.append(step.node.op_type))
    assert seen == ["Conv", "BatchNormalization", "Relu"]
    fast = session.run(feeds)
    np.testing.assert_array_equal(fast["relu_out"], got["relu_out"])


def test_gemm_relu_fused_equals_unfused():
    a = RNG.standard_normal((5, 7)).astype(np.float32)
    b = RNG.standard_normal((3, 7)).astype(np.float32)
    c = RNG.standard_normal(3).astype(np.float32)
    model = _model([helper.make_node("Gemm", ["A", "B", "C"], ["g"], transB=1, alpha=0.5),
                    helper.make_node("Relu", ["g"], ["y"])], ["A"], ["y"], {"B": b, "C": c})
    session = Session(model)
    fast, plain = _both(session, {"A": a})
    assert len(session.plan.program.fused) == 1
    np.testing.assert_array_equal(fast["y"], plain["y"])


@pytest.mark.parametrize("seed", range(16))
def test_max_pool_fast_paths_match_the_indices_kernel(seed):
    """The values-only numba loops (2x2 and general) against the kernel that also computes indices."""
    rng = np.random.default_rng(seed)
    nd = [2, 2, 1, 3][seed % 4]
    k = [2] * nd if seed % 2 == 0 else [int(rng.integers(1, 4)) for _ in range(nd)]
    strides = [2] * nd if seed % 2 == 0 else [int(rng.integers(1, 3)) for _ in range(nd)]
    pads = [0] * (2 * nd) if seed % 2 == 0 else [int(rng.integers(0, min(k) // 2 + 1)) for _ in range(2 * nd)]
    attrs = {"kernel_shape": k, "strides": strides, "pads": pads, "ceil_mode": int(seed % 3 == 1)}
    x = rng.standard_normal((2, 3, *[int(rng.integers(4, 10)) for _ in range(nd)])).astype(np.float32)
    if seed % 5 == 0:
        x.flat[rng.integers(0, x.size, 3)] = np.nan
    values = Session(_model([helper.make_node("MaxPool", ["X"], ["Y"], **attrs)], ["X"], ["Y"], {}))
    with_indices = _model([helper.make_node("MaxPool", ["X"], ["Y", "I"], **attrs)], ["X"], ["Y", "I"], {})
    with_indices.graph.output[1].type.tensor_type.elem_type = TensorProto.INT64
    want = Session(with_indices).run({"X": x})["Y"]
    got = values.run({"X": x})["Y"]
    nan = np.isnan(want) | np.isnan(got)
    # the indices kernel skips NaN (it compares with >); the values path propagates it, as numpy's
    # maximum did: equal wherever neither has a NaN
    np.testing.assert_array_equal(got[~nan], want[~nan])
    assert np.isnan(got).sum() >= np.isnan(want).sum()


@pytest.mark.parametrize("seed", range(8))
def test_max_pool_large_windows_and_large_2x2_match_the_indices_kernel(seed):
    """Windows of more than VIEWS_MAX_TAPS taps (numba's running maximum) and 2x2 pools with at
    least NUMBA_MIN outputs (the numba 2x2 loop) against the indices kernel."""
    rng = np.random.default_rng(100 + seed)
    nd = [2, 2, 1, 3][seed % 4]
    if seed % 2:
        k, strides, pads, size, channels = [2] * nd, [2] * nd, [0] * (2 * nd), [int(rng.integers(4, 9))] * nd, 3
        batch = 1 + (1 << 15) // (channels * (size[0] // 2) ** nd)  # enough outputs for the numba 2x2 loop
    else:
        k = [int(rng.integers(3, 7)) for _ in range(nd)]
        k[0] = max(k[0], 17 // math.prod(k[1:]) + 1)  # more than 16 taps
        strides = [int(rng.integers(1, 4)) for _ in range(nd)]
        pads = [int(rng.integers(0, min(k) // 2 + 1)) for _ in range(2 * nd)]
        size, channels, batch = [k[i] + int(rng.integers(0, 9)) for i in range(nd)], 3, 2
    attrs = {"kernel_shape": k, "strides": strides, "pads": pads, "ceil_mode": int(seed % 3 == 1)}
    if nd == 2 and seed % 2 == 0:
        attrs["dilations"] = [1, 2]
        size[1] += k[1]
    x = rng.standard_normal((batch, channels, *size)).astype(np.float32)
    values = Session(_model([helper.make_node("MaxPool", ["X"], ["Y"], **attrs)], ["X"], ["Y"], {}))
    with_indices = _model([helper.make_node("MaxPool", ["X"], ["Y", "I"], **attrs)], ["X"], ["Y", "I"], {})
    with_indices.graph.output[1].type.tensor_type.elem_type = TensorProto.INT64
    np.testing.assert_array_equal(values.run({"X": x})["Y"], Session(with_indices).run({"X": x})["Y"])


def test_max_pool_large_window_propagates_nan_and_is_fast():
    x = np.zeros((1, 1, 300, 300), np.float32)
    x[0, 0, 10, 10] = np.nan
    model = _model([helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[60, 80])], ["X"], ["Y"], {})
    y = Session(model).run({"X": x})["Y"]
    assert y.shape == (1, 1, 241, 221)
    assert np.isnan(y[0, 0, :11, :11]).all() and not np.isnan(y[0, 0, 11:, 11:]).any()


@pytest.mark.parametrize("variant", ["add-left", "add-right", "sum", "late-residual", "broadcast", "two-branches"])
def test_residual_add_fused_equals_unfused(variant):
    """Conv -> BN -> Add/Sum(residual) -> Relu, ResNet's block ending: fused when the residual has
    the Conv output's shape (wherever it is computed), unfused otherwise; bitwise equal either way."""
    rng = np.random.default_rng(7)
    c, m = 12, 6
    inits = {"W": rng.standard_normal((m, c, 3, 3)).astype(np.float32),
             "W2": rng.standard_normal((m, c, 1, 1)).astype(np.float32),
             "s": rng.uniform(0.5, 1.5, m).astype(np.float32), "bb": rng.standard_normal(m).astype(np.float32),
             "mu": rng.standard_normal(m).astype(np.float32), "v": rng.uniform(0.5, 1.5, m).astype(np.float32)}
    conv = helper.make_node("Conv", ["X", "W"], ["c"], pads=[1, 1, 1, 1])
    bn = helper.make_node("BatchNormalization", ["c", "s", "bb", "mu", "v"], ["b"])
    relu = helper.make_node("Relu", ["sum"], ["Y"])
    x = rng.standard_normal((2, c, 9, 9)).astype(np.float32)
    feeds = {"X": x, "R": rng.standard_normal((2, m, 9, 9)).astype(np.float32)}
    inputs = ["X", "R"]
    if variant == "add-left":
        nodes = [conv, bn, helper.make_node("Add", ["b", "R"], ["sum"]), relu]
    elif variant == "add-right":
        nodes = [conv, bn, helper.make_node("Add", ["R", "b"], ["sum"]), relu]
    elif variant == "sum":
        nodes = [conv, bn, helper.make_node("Sum", ["b", "R"], ["sum"]), relu]
    elif variant == "late-residual":  # the residual is computed after the Conv in node order
        nodes = [conv, helper.make_node("Neg", ["R"], ["r2"]), bn, helper.make_node("Add", ["r2", "b"], ["sum"]), relu]
    elif variant == "broadcast":  # (1, M, 1, 1): not the Conv output's shape, so run unfused
        feeds["R"] = rng.standard_normal((1, m, 1, 1)).astype(np.float32)
        nodes = [conv, bn, helper.make_node("Add", ["b", "R"], ["sum"]), relu]
    else:  # a projection shortcut: both operands of the Sum are Conv chains
        inputs = ["X"]
        del feeds["R"]
        nodes = [conv, bn, helper.make_node("Conv", ["X", "W2"], ["c2"]),
                 helper.make_node("Sum", ["b", "c2"], ["sum"]), relu]
    model = _model(nodes, inputs, ["Y"], inits)
    session = Session(model)
    fast, plain = _both(session, feeds)
    fused = " | ".join(session.plan.program.fused)
    assert ("Add" in fused or "Sum" in fused) and "Relu" in fused, fused  # planned; run-time may unfuse
    np.testing.assert_array_equal(fast["Y"], plain["Y"])
    oracle = Session(model, precision="float64").run(feeds)["Y"]
    np.testing.assert_allclose(fast["Y"], oracle, rtol=1e-4, atol=1e-4)


CHANNEL_CHAINS = {
    # name: (ops after the input, constant shape, data shape, dtype, expected fused)
    "bn-mul-add-relu": (["BN", "Mul", "Add", "Relu"], (6, 1, 1), (2, 6, 5, 7), np.float32, True),
    "const-first-operands": (["Mul*", "Add*", "Clip"], (1, 6, 1, 1), (2, 6, 5, 7), np.float32, True),
    "bn-relu-3d": (["BN", "Relu"], (6, 1), (3, 6, 11), np.float32, True),
    "float64": (["Mul", "BN", "Add"], (6, 1, 1), (2, 6, 4, 4), np.float64, True),
    # not per channel: fused_elementwise's chain instead (a vector along the last axis)
    "last-axis-constant": (["Mul", "Add"], (7,), (2, 6, 5, 7), np.float32, True),
    "batch-axis-at-run-time": (["Mul", "Add", "Relu"], (6, 1, 1), (6, 6, 35), np.float32, True),  # unfused run
}


@pytest.mark.parametrize("name", list(CHANNEL_CHAINS))
def test_channel_chain_fused_equals_unfused(name):
    """(BatchNormalization | Mul | Add)+ [Relu | Clip] on per-channel constants: fused when every
    constant is per channel, bitwise equal to the ops one by one, NaN included; a constant that
    broadcasts along another axis at run time falls back to the unfused ops."""
    ops, const_shape, data_shape, dtype, fusable = CHANNEL_CHAINS[name]
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    rng = np.random.default_rng(11)
    channels = data_shape[1]
    inits, nodes, last = {}, [], "X"
    for k, op in enumerate(ops):
        out = f"v{k}"
        if op == "BN":
            names = [f"bn{k}_{p}" for p in "sbmv"]
            inits.update({names[0]: rng.uniform(0.5, 1.5, channels), names[1]: rng.standard_normal(channels),
                          names[2]: rng.standard_normal(channels), names[3]: rng.uniform(0.5, 1.5, channels)})
            nodes.append(helper.make_node("BatchNormalization", [last, *names], [out], epsilon=1e-3))
        elif op.rstrip("*") in ("Mul", "Add"):
            inits[f"c{k}"] = rng.standard_normal(const_shape)
            operands = [f"c{k}", last] if op.endswith("*") else [last, f"c{k}"]
            nodes.append(helper.make_node(op.rstrip("*"), operands, [out]))
        elif op == "Clip":
            inits.update(lo=np.array(-0.5), hi=np.array(0.75))
            nodes.append(helper.make_node("Clip", [last, "lo", "hi"], [out]))
        else:
            nodes.append(helper.make_node(op, [last], [out]))
        last = out
    inits = {k: np.asarray(v, dtype=dtype) for k, v in inits.items()}
    model = _model(nodes, ["X"], [last], inits, dtype=elem)
    x = rng.standard_normal(data_shape).astype(dtype)
    x.flat[rng.integers(0, x.size, 3)] = np.nan
    x.flat[rng.integers(0, x.size, 3)] = -0.0  # signed zeros must come out as the ops make them
    session = Session(model)
    fast, plain = _both(session, {"X": x})
    assert bool(session.plan.program.fused) == fusable, session.plan.program.fused
    bits = np.uint64 if dtype == np.float64 else np.uint32
    np.testing.assert_array_equal(fast[last].view(bits), plain[last].view(bits))
    # and the fused arithmetic against float64 numpy
    if dtype == np.float32:
        oracle = Session(model, precision="float64").run({"X": x})[last]
        np.testing.assert_allclose(fast[last], oracle, rtol=1e-5, atol=1e-5)


def test_fed_weights_are_repacked_every_run():
    """A W fed as an input may be the same array object with new values: the channels-last
    path's packed copy must not go stale (it is kept only for initializers)."""
    rng = np.random.default_rng(12)
    model = _model([helper.make_node("Conv", ["X", "W"], ["Y"], pads=[1, 1, 1, 1])], ["X", "W"], ["Y"], {})
    x = rng.standard_normal((1, 16, 10, 10)).astype(np.float32)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    session = Session(model)
    first = session.run({"X": x, "W": w})["Y"]
    w *= 2  # in place: same object, new values
    second = session.run({"X": x, "W": w})["Y"]
    np.testing.assert_allclose(second, 2 * first, rtol=1e-5, atol=1e-5)


def test_float32_erf_is_the_float64_erf_rounded_once():
    """kernels/erf.py's polynomial loop against math.erf (libm's float64 erf) on two million
    float32 values and the special ones: the float32 results must be identical."""
    import math

    from refruntime.kernels.erf import erf

    x = np.concatenate([np.linspace(-6, 6, 2_000_001, dtype=np.float32),
                        np.float32([0.0, -0.0, 1e-30, -1e-38, 1e-45, 3.9999998, 4.0, np.inf, -np.inf, np.nan])])
    got = erf(x)
    want = np.array([math.erf(float(v)) for v in x], np.float64).astype(np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)  # NaN at the same place counts as equal
    assert np.signbit(erf(np.float32([-0.0]))[0])
    half = erf(np.linspace(-3, 3, 1001).astype(np.float16))
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half, np.array([math.erf(float(v)) for v in np.linspace(-3, 3, 1001)
                                                  .astype(np.float16)]).astype(np.float16))


def test_float32_erf_is_exact_where_its_polynomial_alone_would_round_the_wrong_way():
    """Inputs whose erf lies so near a float32 rounding boundary that the kernel's polynomial alone
    rounds to the other neighbour (9,120 of the float32s in [0, 4], found by an exhaustive sweep: one per
    few binades here), and the three where the former 32-piece table did: the loop must hand them to
    math.erf. Both signs, among ordinary values so they sit inside vectorized blocks; and the scalar
    erf_float32 (for fused loops) gives the same bits."""
    import math

    from refruntime.kernels.erf import erf, erf_candidate, erf_float32

    hard = np.float32([2.04078e-40, 4.816243e-38, 1.2329583e-35, 3.156373e-33, 8.080315e-31, 2.0685607e-28,
                       5.2955154e-26, 1.355652e-23, 3.470469e-21, 8.884401e-19, 2.2744065e-16, 5.822481e-14,
                       1.490555e-11, 3.815821e-09, 9.700332e-07, 0.00024431228, 0.064214356, 0.12580933,
                       0.25466546, 0.501246, 1.0109152, 2.077677,
                       5.2047426e-06, 0.0001839803, 0.00036625183])  # the last three: the former table's
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    x[::20] = np.concatenate([hard, -hard])
    want = np.array([math.erf(float(v)) for v in x]).astype(np.float32)
    np.testing.assert_array_equal(erf(x), want)
    np.testing.assert_array_equal(np.array([erf_float32(v) for v in x], np.float32), want)
    candidates = np.array([erf_candidate(v) for v in x], np.float32)  # exact, or NaN: left to erf_float32
    decided = ~np.isnan(candidates)
    np.testing.assert_array_equal(candidates[decided], want[decided])
    assert not decided[::20].all()  # the hard ones are among those it leaves undecided


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_narrow_float_erf_is_the_float64_erf_rounded_once_for_every_value(dtype):
    """Every float16 / bfloat16 value (NaNs and infinities included): the kernel's float64 result,
    rounded once to the input's type, equals math.erf's."""
    import math

    import ml_dtypes

    from refruntime.kernels.erf import erf

    dt = np.dtype(ml_dtypes.bfloat16 if dtype == "bfloat16" else np.float16)
    x = np.arange(1 << 16, dtype=np.uint16).view(dt)
    got = erf(x)
    want = np.array([math.erf(v) for v in x.astype(np.float32).tolist()]).astype(dt)  # exact; no NaN warning
    assert got.dtype == dt
    got, want = got.astype(np.float64), want.astype(np.float64)
    np.testing.assert_array_equal(got, want)  # NaN at the same place counts as equal
    assert np.array_equal(np.signbit(got[got == 0]), np.signbit(want[want == 0]))


def test_float32_erf_loop_is_vectorized():
    """kernels/erf.py is fast only because LLVM vectorizes its loop (packed fused multiply-adds,
    ~1.5 ns per element; scalar it is ~13): a change that makes it scalar passes every accuracy test,
    so check the machine code. A fresh, uncached compile: cached functions have no assembly to show."""
    import platform
    import re

    import llvmlite.binding as llvm
    import numba

    from refruntime.kernels import erf

    features = llvm.get_host_cpu_features().flatten().split(",")
    if platform.machine().lower() not in ("x86_64", "amd64") or "+fma" not in features:
        pytest.skip("checks x86 FMA instructions")
    loop = numba.njit(fastmath={"contract"})(erf._erf_loop.py_func)
    signature = (numba.float32[::1], numba.float32[::1], numba.float64[::1])
    loop.compile(signature)
    assert re.search(r"vfmadd\d+pd\s+[^\n]*%[yz]mm", loop.inspect_asm(signature))


def test_pow_by_2_and_3_equals_the_float64_power_rounded_once():
    from refruntime.ops.op_elementwise_binary import _small_power

    x = np.concatenate([np.random.default_rng(0).standard_normal(200_000).astype(np.float32) * 30,
                        np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 3.4e38, -1e-45])])
    for e in (2.0, 3.0):
        with np.errstate(all="ignore"):
            want = (x.astype(np.float64) ** e).astype(np.float32)
        got = _small_power(x, e)
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
    assert _small_power(x, 0.5) is None  # pow(-0, 0.5) = +0 and pow(-inf, 0.5) = +inf, unlike sqrt


def test_straight_line_program_equals_the_loop_and_names_a_failing_node():
    """plan_codegen's generated function against executor._loop_program on the same Program."""
    import onnx
    from onnx import TensorProto, helper

    from refruntime import Session
    from refruntime.errors import KernelError
    from refruntime.executor import _loop_program
    from tests.zoo import light_path, with_random_weights

    model = with_random_weights(onnx.load(light_path("light_squeezenet")))
    session = Session(model)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    feeds = {session.input_names[0]: x}
    straight = session.run(feeds)
    program = session.plan.program
    assert program.straight
    values = dict(session.plan.initializers)
    values.update(feeds)
    looped = _loop_program(program, values)
    for name, value in straight.items():
        np.testing.assert_array_equal(value, looped[name])
    # a kernel failure inside the generated function names its node, as the loop does
    bad = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["a"], ["r"], name="relu"), helper.make_node("MatMul", ["r", "b"], ["y"], name="mm")],
        "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
              helper.make_tensor_value_info("b", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]), opset_imports=[helper.make_opsetid("", 17)])
    s = Session(bad)
    with pytest.raises(KernelError, match=r"node 'mm' \(MatMul\).*inner dimensions 3 and 4"):
        s.run({"a": np.ones((2, 3), np.float32), "b": np.ones((4, 2), np.float32)})
    assert s.plan.program.straight


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("bias_shape, bias_first", [((8,), False), ((8,), True), ((3, 1, 8), False)])
def test_matmul_then_constant_bias_is_fused_and_bitwise_the_unfused_result(dtype, bias_shape, bias_first):
    """A bias that would broadcast the product up ((3, 1, 8) against (5, 8)) is added as Add does."""
    from onnx import TensorProto, helper, numpy_helper

    from refruntime import Session

    rng = np.random.default_rng(0)
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.FLOAT16
    w = numpy_helper.from_array(rng.standard_normal((16, 8)).astype(dtype), "w")
    b = numpy_helper.from_array(rng.standard_normal(bias_shape).astype(dtype), "b")
    add = ["b", "mm"] if bias_first else ["mm", "b"]
    model = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["mm"], name="proj"), helper.make_node("Add", add, ["y"], name="bias")],
        "g", [helper.make_tensor_value_info("x", elem, [5, 16])], [helper.make_tensor_value_info("y", elem, None)],
        [w, b]), opset_imports=[helper.make_opsetid("", 17)])
    session = Session(model)
    x = rng.standard_normal((5, 16)).astype(dtype)
    fused = session.run({"x": x})["y"]
    assert session.plan.program.fused == ["MatMul proj -> Add bias"]
    unfused = session.run({"x": x}, after=lambda *a: None)["y"]
    assert fused.dtype == unfused.dtype == dtype and fused.shape == unfused.shape
    np.testing.assert_array_equal(fused, unfused)


def _layer_norm_body_float64(x, scale, bias, epsilon, axis):
    """The function body of LayerNormalization in float64: the exact answer each float32 result is
    an approximation of."""
    x = x.astype(np.float64)
    axes = tuple(range(axis % x.ndim, x.ndim))
    d = x - x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt((d * d).mean(axis=axes, keepdims=True) + epsilon)
    y = d * inv_std * scale.astype(np.float64)
    return y + bias.astype(np.float64) if bias is not None else y, inv_std


@pytest.mark.parametrize("shape,axis,with_bias,offset", [((1, 16, 128), -1, True, 0.0), ((3, 7, 5), 1, False, 0.0),
                                                         ((2, 9, 64), -1, True, 1e3), ((4, 1), -1, True, 0.0)])
def test_float32_layer_norm_rows_are_as_close_to_float64_as_the_numpy_path(shape, axis, with_bias, offset):
    """The one-pass float32 kernel (kernels/layer_norm_rows.py) against the float64 body: no further
    from it, in float32 ulps, than the numpy float32 path it replaced (standardize_rows, run here
    directly), and Mean / InvStdDev within a few ulps of the exact ones."""
    from refruntime.kernels.normalization import standardize_rows

    rng = np.random.default_rng(len(shape) + axis)
    x = (rng.standard_normal(shape) * 3 + offset).astype(np.float32)
    block = shape[axis % len(shape):]
    scale = rng.standard_normal(block).astype(np.float32)
    bias = rng.standard_normal(block).astype(np.float32) if with_bias else None
    inputs = ["x", "scale"] + (["bias"] if with_bias else [])
    node = helper.make_node("LayerNormalization", inputs, ["y", "mean", "inv_std"], axis=axis, epsilon=1e-5)
    graph = helper.make_graph([node], "ln", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "mean", "inv_std")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"x": x, "scale": scale, **({"bias": bias} if with_bias else {})}
    out = Session(model).run(feeds)
    y, mean, inv_std = out["y"], out["mean"], out["inv_std"]
    exact, exact_inv = _layer_norm_body_float64(x, scale, bias, 1e-5, axis)
    assert y.dtype == mean.dtype == inv_std.dtype == np.float32
    stat_shape = shape[:axis % len(shape)] + (1,) * (len(shape) - axis % len(shape))
    assert mean.shape == inv_std.shape == stat_shape

    # the numpy float32 path, as it ran before: standardize_rows, then scale and bias
    rows = int(np.prod(shape[:axis % len(shape)]))
    d, _, _ = standardize_rows(np.ascontiguousarray(x).reshape(rows, -1), 1e-5)
    old = d.reshape(shape) * scale + (bias if with_bias else 0)
    # errors in ulps of the largest term of Y = Normalized * Scale + B (Y itself may cancel to ~0)
    terms = np.abs(exact - (bias if with_bias else 0)) + (np.abs(bias) if with_bias else 0)
    ulp = np.spacing(terms.astype(np.float32)).astype(np.float64)
    new_err, old_err = (np.abs(y - exact) / ulp).max(), (np.abs(old - exact) / ulp).max()
    assert new_err <= max(old_err, 2.0), (new_err, old_err)
    np.testing.assert_allclose(inv_std, exact_inv.reshape(stat_shape), rtol=3e-7)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=tuple(range(axis % len(shape), len(shape))),
                                                                keepdims=True), rtol=1e-6, atol=1e-6)


def _shape_chain_model():
    """y = Reshape(x, [rows * cols]) + Range(0, rows * cols) and z = Shape(x)[1] * 2 (a graph output
    computed from the shape alone): a Shape -> Gather -> Mul -> Unsqueeze -> Concat chain and a
    Range, as transformer exports build their Reshape targets and position ids."""
    i64 = TensorProto.INT64
    consts = {"zero": np.array(0, np.int64), "one": np.array(1, np.int64), "i0": np.array(0, np.int64),
              "i1": np.array(1, np.int64), "two": np.array(2, np.int64), "ax0": np.array([0], np.int64)}
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "i0"], ["rows"]),
        helper.make_node("Gather", ["shape", "i1"], ["cols"]),
        helper.make_node("Mul", ["rows", "cols"], ["count"]),
        helper.make_node("Unsqueeze", ["count", "ax0"], ["target"]),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Range", ["zero", "count", "one"], ["positions"]),
        helper.make_node("Cast", ["positions"], ["positions_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["flat", "positions_f"], ["y"]),
        helper.make_node("Mul", ["cols", "two"], ["z"]),
    ]
    graph = helper.make_graph(nodes, "shape_chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["r", "c"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"]),
                               helper.make_tensor_value_info("z", i64, [])],
                              [numpy_helper.from_array(v, n) for n, v in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_arithmetic_is_computed_once_per_input_shape_and_follows_a_new_shape():
    """The shape memo (refruntime/plan_shape_memo.py): runs alternating between shapes give the
    numpy formula's values every time; the chain's steps are memoized, the graph output computed from
    the shape is not (callers own what a run returns), nor anything reading x's data."""
    session = Session(_shape_chain_model())
    rng = np.random.default_rng(0)
    for shape in [(2, 3), (2, 3), (4, 5), (2, 3), (1, 7), (4, 5)]:
        x = rng.standard_normal(shape).astype(np.float32)
        out = session.run({"x": x})
        np.testing.assert_array_equal(out["y"], x.reshape(-1) + np.arange(x.size, dtype=np.float32))
        assert int(out["z"]) == 2 * shape[1]
    program = next(v for v in vars(session.plan).values() if type(v).__name__ == "Program")
    memoized = {step.node.output[0] for step, run, *_ in program.steps
                if getattr(run, "__name__", "") in ("shape_memo", "identity_memo")}
    assert {"shape", "rows", "cols", "count", "target", "positions", "positions_f"} <= memoized
    assert "z" not in memoized and "y" not in memoized and "flat" not in memoized


def test_shape_memo_never_serves_one_threads_outputs_to_another():
    """Two threads running one session at two shapes: every result is right for its own input."""
    import threading

    session = Session(_shape_chain_model())
    errors = []

    def work(shape, seed):
        rng = np.random.default_rng(seed)
        for _ in range(300):
            x = rng.standard_normal(shape).astype(np.float32)
            y = session.run({"x": x})["y"]
            if not np.array_equal(y, x.reshape(-1) + np.arange(x.size, dtype=np.float32)):
                errors.append(shape)
                return

    threads = [threading.Thread(target=work, args=(s, k)) for k, s in enumerate([(2, 3), (5, 4)])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_shape_memo_does_not_hold_large_values_between_runs(monkeypatch):
    """A ConstantOfShape of the input's shape is recomputed, not kept, above MAX_CACHED_BYTES."""
    import refruntime.plan_shape_memo as memo

    monkeypatch.setattr(memo, "MAX_CACHED_BYTES", 1000)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["ones"],
                              value=numpy_helper.from_array(np.ones(1, np.float32))),
             helper.make_node("Add", ["x", "ones"], ["y"])]
    graph = helper.make_graph(nodes, "big_mask", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    for n in (10, 10, 1000, 1000):
        x = np.arange(n, dtype=np.float32)
        np.testing.assert_array_equal(session.run({"x": x})["y"], x + 1)
    program = next(v for v in vars(session.plan).values() if type(v).__name__ == "Program")
    run = next(r for step, r, *_ in program.steps if step.node.op_type == "ConstantOfShape")
    last = run.__closure__[run.__code__.co_freevars.index("last")].cell_contents
    assert last[1][0].shape == (10,)  # the 40-byte value is kept; the 4,000-byte one never was
