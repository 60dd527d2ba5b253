"""LSTM, GRU and RNN (refruntime/ops/op_lstm.py, op_gru.py, op_rnn.py; kernels/recurrent.py).

Truths: torch.nn.LSTM/GRU/RNN with the same weights (ONNX orders the LSTM's gates i, o, f, c where
torch has i, f, g, o, and the GRU's z, r, h where torch has r, z, n; torch's GRU is ONNX's
linear_before_reset = 1), in float64 to 1e-12 and in float32 to 1e-5; and, for what torch lacks
(peepholes, clip, input_forget, every activation function, sequence_lens, linear_before_reset = 0,
layout), the spec's equations written here in float64, one batch entry and one step at a time.
No comparison depends on a BLAS kernel's rounding: float64 tolerances are far above float64
rounding, and narrow-float outputs are checked to be within half an ulp (plus float64 noise) of
the float64 truth. onnx's own conformance cases for these ops run in test_conformance.py.
"""
from __future__ import annotations

import io
import warnings

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from refruntime import KernelError, ModelError, Session

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
ROLES = {"LSTM": ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"],
         "GRU": ["X", "W", "R", "B", "sequence_lens", "initial_h"],
         "RNN": ["X", "W", "R", "B", "sequence_lens", "initial_h"]}
OUTPUTS = {"LSTM": ["Y", "Y_h", "Y_c"], "GRU": ["Y", "Y_h"], "RNN": ["Y", "Y_h"]}


def node_model(op, values: dict, attrs: dict, opset: int = 22, initializers=(), outputs=None, shapes=True):
    """One LSTM/GRU/RNN node; values by role (absent roles omitted), roles in `initializers` become
    initializers. outputs: the output names ("" omits one); shapes=False declares no input shapes."""
    roles = ROLES[op]
    last = max(roles.index(k) for k in values)
    names = [k if k in values else "" for k in roles[:last + 1]]
    outs = outputs if outputs is not None else OUTPUTS[op]
    node = helper.make_node(op, names, outs, name="rec", **attrs)
    graph_inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                  v.shape if shapes else None)
                    for k, v in values.items() if k not in initializers]
    inits = [numpy_helper.from_array(values[k], k) for k in initializers]
    elem = helper.np_dtype_to_tensor_dtype(values["X"].dtype)
    graph = helper.make_graph([node], "g", graph_inputs,
                              [helper.make_tensor_value_info(o, elem, None) for o in outs if o],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run(op, values, attrs, opset=22, outputs=None, **session):
    model = node_model(op, values, attrs, opset, outputs=outputs)
    feeds = {k: v for k, v in values.items()}
    sess = Session(model, allow_fallback=False, **session)
    got = sess.run(feeds)
    return [got[o] for o in (outputs if outputs is not None else OUTPUTS[op]) if o]


def random_values(op, rng, dirs=1, seq=5, batch=3, width=4, hidden=3, dtype=np.float64, extras=()):
    g = GATES[op] * hidden
    values = {"X": rng.standard_normal((seq, batch, width)),
              "W": rng.standard_normal((dirs, g, width)) * 0.6,
              "R": rng.standard_normal((dirs, g, hidden)) * 0.6,
              "B": rng.standard_normal((dirs, 2 * g)) * 0.3}
    if "lengths" in extras:
        values["sequence_lens"] = rng.integers(1, seq + 1, batch).astype(np.int32)
    if "states" in extras:
        values["initial_h"] = rng.standard_normal((dirs, batch, hidden)) * 0.5
        if op == "LSTM":
            values["initial_c"] = rng.standard_normal((dirs, batch, hidden)) * 0.5
    if "peepholes" in extras:
        values["sequence_lens"] = values.get("sequence_lens", np.full(batch, seq, np.int32))
        values.setdefault("initial_h", np.zeros((dirs, batch, hidden)))
        values.setdefault("initial_c", np.zeros((dirs, batch, hidden)))
        values["P"] = rng.standard_normal((dirs, 3 * hidden)) * 0.5
    return {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in values.items()}


# ---------------------------------------------------------------------------------------------
# the spec's equations, one entry and one step at a time (float64)
def _act(name, x, alpha, beta):
    return {
        "relu": lambda: np.maximum(x, 0), "tanh": lambda: np.tanh(x), "sigmoid": lambda: 1 / (1 + np.exp(-x)),
        "affine": lambda: alpha * x + beta, "leakyrelu": lambda: np.where(x >= 0, x, alpha * x),
        "thresholdedrelu": lambda: np.where(x >= alpha, x, 0), "scaledtanh": lambda: alpha * np.tanh(beta * x),
        "hardsigmoid": lambda: np.minimum(np.maximum(alpha * x + beta, 0), 1),
        "elu": lambda: np.where(x >= 0, x, alpha * (np.exp(x) - 1)), "softsign": lambda: x / (1 + np.abs(x)),
        "softplus": lambda: np.log1p(np.exp(x)),
    }[name.lower()]()


DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
ALPHA_BETA = {"affine": (1.0, 0.0), "leakyrelu": (0.01, None), "thresholdedrelu": (1.0, None),
              "scaledtanh": (1.0, 1.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, None)}


def _functions(op, attrs, dirs):
    """[(name, alpha, beta)] per function, alphas/betas consumed in order by the functions that
    take them (float32 attribute values, as the model stores them)."""
    names = attrs.get("activations") or DEFAULT_ACTS[op] * dirs
    alphas = [float(np.float32(a)) for a in attrs.get("activation_alpha", [])]
    betas = [float(np.float32(b)) for b in attrs.get("activation_beta", [])]
    out = []
    for name in names:
        alpha, beta = ALPHA_BETA.get(name.lower(), (None, None))
        alpha = float(np.float32(alpha)) if alpha is not None else None
        if alpha is not None and alphas:
            alpha = alphas.pop(0)
        if beta is not None and betas:
            beta = betas.pop(0)
        out.append((name, alpha, beta))
    return out


def spec_truth(op, values, attrs):
    """Y (seq, D, batch, H), Y_h[, Y_c] by the spec, layout 0, float64."""
    v = {k: (a.astype(np.float64) if a.dtype.kind == "f" else a) for k, a in values.items()}
    x, w, r = v["X"], v["W"], v["R"]
    seq, batch, _ = x.shape
    dirs, hidden = w.shape[0], r.shape[2]
    g = GATES[op] * hidden
    b = v.get("B", np.zeros((dirs, 2 * g)))
    lens = v.get("sequence_lens", np.full(batch, seq))
    h0 = v.get("initial_h", np.zeros((dirs, batch, hidden)))
    c0 = v.get("initial_c", np.zeros((dirs, batch, hidden)))
    p = v.get("P", np.zeros((dirs, 3 * hidden)))
    clip = float(np.float32(attrs["clip"])) if "clip" in attrs else np.inf
    fns = _functions(op, attrs, dirs)
    direction = attrs.get("direction", "forward")
    y = np.zeros((seq, dirs, batch, hidden))
    y_h, y_c = np.zeros((dirs, batch, hidden)), np.zeros((dirs, batch, hidden))
    for d in range(dirs):
        per = len(DEFAULT_ACTS[op])
        f = fns[d * per: (d + 1) * per]

        def act(k, z, f=f):
            return _act(f[k][0], np.clip(z, -clip, clip) if k < 2 else z, f[k][1], f[k][2])
        for bi in range(batch):
            h, c = h0[d, bi], c0[d, bi]
            steps = range(lens[bi])
            if direction == "reverse" or d == 1:
                steps = reversed(steps)
            for t in steps:
                xw = w[d] @ x[t, bi] + b[d, :g]
                hr = r[d] @ h + b[d, g:]
                if op == "LSTM":
                    (xi, xo, xf, xc), (hi, ho, hf, hc) = np.split(xw, 4), np.split(hr, 4)
                    pi, po, pf = np.split(p[d], 3)
                    i = act(0, xi + hi + pi * c)
                    fg = 1 - i if attrs.get("input_forget") else act(0, xf + hf + pf * c)
                    c = fg * c + i * act(1, xc + hc)
                    o = act(0, xo + ho + po * c)
                    h = o * act(2, c)
                elif op == "GRU":
                    (xz, xr, xh), (hz, hrr, hh) = np.split(xw, 3), np.split(hr, 3)
                    z, rr = act(0, xz + hz), act(0, xr + hrr)
                    rbh, rh = b[d, g + 2 * hidden:], r[d, 2 * hidden:]
                    if attrs.get("linear_before_reset"):
                        cand = act(1, xh + rr * hh)
                    else:
                        cand = act(1, xh + rh @ (rr * h) + rbh)
                    h = (1 - z) * cand + z * h
                else:
                    h = act(0, xw + hr)
                y[t, d, bi] = h
            if lens[bi]:
                y_h[d, bi], y_c[d, bi] = h, c
    return (y, y_h, y_c) if op == "LSTM" else (y, y_h)


# ---------------------------------------------------------------------------------------------
# torch
def torch_module(op, width, hidden, layers=1, bidirectional=False, batch_first=False, dtype=None):
    import torch

    torch.manual_seed(0)
    module = getattr(torch.nn, op)(width, hidden, num_layers=layers, bidirectional=bidirectional,
                                   batch_first=batch_first)
    return module.to(dtype or torch.float32).eval()


_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}  # torch's gate blocks in ONNX's order


def onnx_weights(op, module, layer=0):
    """W, R, B of one torch layer in ONNX's layout and gate order."""
    def blocks(t):
        parts = np.split(t.detach().numpy(), len(_ORDER[op]))
        return np.concatenate([parts[k] for k in _ORDER[op]])
    suffixes = [""] + (["_reverse"] if module.bidirectional else [])
    w = np.stack([blocks(getattr(module, f"weight_ih_l{layer}{s}")) for s in suffixes])
    r = np.stack([blocks(getattr(module, f"weight_hh_l{layer}{s}")) for s in suffixes])
    b = np.stack([np.concatenate([blocks(getattr(module, f"bias_ih_l{layer}{s}")),
                                  blocks(getattr(module, f"bias_hh_l{layer}{s}"))]) for s in suffixes])
    return w, r, b


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_one_layer_matches_torch(op, bidirectional, precision):
    import torch

    dtype = np.float64 if precision == "float64" else np.float32
    module = torch_module(op, 5, 7, bidirectional=bidirectional, dtype=getattr(torch, precision))
    dirs = 2 if bidirectional else 1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 5)).astype(dtype)
    h0 = (rng.standard_normal((dirs, 3, 7)) * 0.5).astype(dtype)
    c0 = (rng.standard_normal((dirs, 3, 7)) * 0.5).astype(dtype)
    w, r, b = onnx_weights(op, module)
    values = {"X": x, "W": w, "R": r, "B": b, "initial_h": h0}
    attrs = {"hidden_size": 7, "direction": "bidirectional" if bidirectional else "forward"}
    with torch.no_grad():
        if op == "LSTM":
            values["initial_c"] = c0
            y, (h, c) = module(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
            truth = [h, c]
        else:
            y, h = module(torch.from_numpy(x), torch.from_numpy(h0))
            truth = [h]
        if op == "GRU":
            attrs["linear_before_reset"] = 1
    seq, batch = x.shape[:2]
    truth = [y.numpy().reshape(seq, batch, dirs, 7).transpose(0, 2, 1, 3)] + [t.numpy() for t in truth]
    got = run(op, values, attrs)
    tol = {"float64": 1e-12, "float32": 1e-5}[precision]
    for mine, expected in zip(got, truth):
        assert mine.dtype == dtype
        np.testing.assert_allclose(mine, expected, rtol=tol, atol=tol)


def _export(module, x, opset):
    import torch

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(x),), f, dynamo=False, opset_version=opset,
                          input_names=["x"], output_names=["y"])
    return onnx.load_from_string(f.getvalue())


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("opset", [9, 17])
def test_exported_two_layer_bidirectional_batch_first(op, opset):
    """torch.onnx.export of nn.LSTM/GRU/RNN (2 layers, bidirectional, batch_first): every node runs
    natively and the output matches torch."""
    import torch

    module = torch_module(op, 8, 16, layers=2, bidirectional=True, batch_first=True)

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = module

        def forward(self, x):
            return self.rnn(x)[0]

    x = np.random.default_rng(2).standard_normal((3, 9, 8)).astype(np.float32)
    model = _export(Head().eval(), x, opset)
    assert sum(n.op_type == op for n in model.graph.node) == 2
    session = Session(model)
    assert session.fallback_nodes() == []
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(session.run({"x": x})["y"], expected, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# what torch lacks: the spec's equations
CASES = [
    ("LSTM", {}, ()), ("LSTM", {"direction": "reverse"}, ("lengths", "states")),
    ("LSTM", {"direction": "bidirectional"}, ("lengths", "peepholes")),
    ("LSTM", {"clip": 0.4}, ("peepholes",)), ("LSTM", {"input_forget": 1, "direction": "bidirectional"}, ("peepholes",)),
    ("LSTM", {"input_forget": 1, "clip": 0.6}, ("states",)),
    ("LSTM", {"activations": ["HardSigmoid", "LeakyRelu", "Softsign"], "activation_alpha": [0.3, 0.2],
              "activation_beta": [0.45]}, ("states",)),
    ("LSTM", {"activations": ["Sigmoid", "Elu", "Softplus", "Affine", "ScaledTanh", "ThresholdedRelu"],
              "activation_alpha": [0.7, 0.5, 1.3, 0.1], "activation_beta": [0.2, 0.8], "direction": "bidirectional"},
     ("states", "lengths")),
    ("LSTM", {"activations": ["HardSigmoid", "Elu", "ScaledTanh", "LeakyRelu", "ThresholdedRelu", "Affine"],
              "direction": "bidirectional"}, ("states",)),  # every default alpha and beta
    ("GRU", {}, ("states",)), ("GRU", {"linear_before_reset": 1, "direction": "reverse"}, ("lengths",)),
    ("GRU", {"direction": "bidirectional", "clip": 0.5}, ("lengths", "states")),
    ("GRU", {"activations": ["HardSigmoid", "Relu", "Sigmoid", "Affine"], "direction": "bidirectional",
             "activation_alpha": [0.25], "activation_beta": [0.4]}, ("states",)),
    ("RNN", {"activations": ["Relu"]}, ("states",)), ("RNN", {"direction": "bidirectional", "clip": 0.3}, ("lengths",)),
    ("RNN", {"activations": ["LeakyRelu", "ThresholdedRelu"], "direction": "bidirectional",
             "activation_alpha": [0.2, 0.1]}, ("lengths", "states")),
]


@pytest.mark.parametrize("op,attrs,extras", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_the_spec_equations(op, attrs, extras):
    rng = np.random.default_rng(3)
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    values = random_values(op, rng, dirs=dirs, extras=extras)
    attrs = dict(attrs, hidden_size=3)
    got = run(op, values, attrs)
    for mine, expected in zip(got, spec_truth(op, values, attrs)):
        np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op,attrs,extras", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_agrees_with_onnxruntime(op, attrs, extras):
    """onnxruntime's float kernels (float32, MLAS's sigmoid/tanh) as a peer: they read clip,
    peepholes, input_forget and sequence_lens the same way. Every alpha and beta is given
    explicitly: onnxruntime takes 0 for a missing Affine, ScaledTanh or ThresholdedRelu parameter
    where the spec says the ONNX operators' defaults (1 and 0, 1 and 1, 1)."""
    import onnxruntime as ort

    rng = np.random.default_rng(3)
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    values = random_values(op, rng, dirs=dirs, extras=extras, dtype=np.float32)
    functions = _functions(op, attrs, dirs)
    attrs = dict(attrs, hidden_size=3, activations=[f[0] for f in functions])
    for key, k in (("activation_alpha", 1), ("activation_beta", 2)):
        attrs.pop(key, None)
        if any(f[k] is not None for f in functions):
            attrs[key] = [f[k] for f in functions if f[k] is not None]
    model = node_model(op, values, attrs, opset=14)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    theirs = ort.InferenceSession(model.SerializeToString(), options,
                                  providers=["CPUExecutionProvider"]).run(None, values)
    for mine, other in zip(run(op, values, attrs, opset=14), theirs):
        np.testing.assert_allclose(mine, other, rtol=1e-5, atol=1e-5)


def test_sequence_lens_zero_and_full():
    """An entry of length 0 outputs zeros (Y, Y_h, Y_c); one of length seq_length runs every step."""
    rng = np.random.default_rng(4)
    values = random_values("LSTM", rng, dirs=2, extras=("states",))
    values["sequence_lens"] = np.array([0, 5, 2], np.int32)
    attrs = {"hidden_size": 3, "direction": "bidirectional"}
    y, y_h, y_c = run("LSTM", values, attrs)
    assert not y[:, :, 0].any() and not y_h[:, 0].any() and not y_c[:, 0].any()
    assert not y[2:, :, 2].any()
    for mine, expected in zip((y, y_h, y_c), spec_truth("LSTM", values, attrs)):
        np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_layout_one_is_the_transposed_layout_zero(op):
    rng = np.random.default_rng(5)
    values = random_values(op, rng, dirs=2, extras=("lengths", "states"))
    attrs = {"hidden_size": 3, "direction": "bidirectional"}
    expected = run(op, values, attrs)
    batchwise = dict(values, X=values["X"].transpose(1, 0, 2))
    for k in ("initial_h", "initial_c"):
        if k in values:
            batchwise[k] = values[k].transpose(1, 0, 2)
    got = run(op, batchwise, dict(attrs, layout=1))
    np.testing.assert_array_equal(got[0], expected[0].transpose(2, 0, 1, 3))
    for mine, theirs in zip(got[1:], expected[1:]):
        np.testing.assert_array_equal(mine, theirs.transpose(1, 0, 2))


VERSIONS = [("LSTM", 1, {"output_sequence": 1}), ("LSTM", 7, {}), ("LSTM", 14, {}), ("LSTM", 22, {}),
            ("GRU", 1, {"output_sequence": 0}), ("GRU", 3, {"linear_before_reset": 1}), ("GRU", 7, {}),
            ("GRU", 14, {"linear_before_reset": 1}), ("GRU", 22, {}),
            ("RNN", 1, {"output_sequence": 1}), ("RNN", 7, {}), ("RNN", 14, {}), ("RNN", 22, {})]


@pytest.mark.parametrize("op,opset,attrs", VERSIONS, ids=[f"{v[0]}-{v[1]}" for v in VERSIONS])
def test_every_opset_runs_natively(op, opset, attrs):
    rng = np.random.default_rng(6)
    values = random_values(op, rng, dtype=np.float32, extras=("states", "lengths"))
    attrs = dict(attrs, hidden_size=3)
    model = node_model(op, values, attrs, opset)
    session = Session(model, allow_fallback=False)
    assert session.fallback_nodes() == []
    got = session.run(values)
    for name, expected in zip(OUTPUTS[op], spec_truth(op, values, attrs)):
        np.testing.assert_allclose(got[name], expected, rtol=1e-5, atol=1e-6)


def test_gru_1_defaults_and_its_foward_spelling():
    """GRU-1 has no linear_before_reset (so 0) and its schema's default direction is 'foward'."""
    rng = np.random.default_rng(7)
    values = random_values("GRU", rng, dtype=np.float32, extras=("states",))
    expected = spec_truth("GRU", values, {})
    for attrs in ({}, {"direction": "foward"}):
        got = run("GRU", values, dict(attrs, hidden_size=3), opset=1)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-6)


def test_hidden_size_may_be_omitted():
    rng = np.random.default_rng(8)
    values = random_values("LSTM", rng)
    got = run("LSTM", values, {})
    np.testing.assert_allclose(got[0], spec_truth("LSTM", values, {})[0], rtol=1e-12, atol=1e-12)


def test_omitted_outputs():
    rng = np.random.default_rng(9)
    values = random_values("LSTM", rng, extras=("lengths",))
    expected = spec_truth("LSTM", values, {"hidden_size": 3})
    (y_c,) = run("LSTM", values, {"hidden_size": 3}, outputs=["", "", "Y_c"])
    np.testing.assert_allclose(y_c, expected[2], rtol=1e-12, atol=1e-12)
    (y,) = run("LSTM", values, {"hidden_size": 3}, outputs=["Y"])
    np.testing.assert_allclose(y, expected[0], rtol=1e-12, atol=1e-12)


def _within_half_ulp(got, truth, dtype):
    """|got - truth| <= half an ulp of `dtype` at got (plus float64 noise): rounded once."""
    got = got.astype(np.float64)
    info = ml_dtypes.finfo(dtype) if dtype == ml_dtypes.bfloat16 else np.finfo(dtype)
    _, e = np.frexp(got)
    ulp = np.ldexp(1.0, np.maximum(e - 1, info.minexp) - info.nmant)
    return np.all(np.abs(got - truth) <= 0.5 * ulp * (1 + 1e-9) + 1e-300)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_narrow_floats_round_once(op, dtype):
    """float16/bfloat16: the op computes in float64 from the inputs' values and rounds each output
    once (ONNX defines rounding per op); no step's state is rounded."""
    rng = np.random.default_rng(10)
    values = random_values(op, rng, dirs=2, extras=("states", "lengths"), dtype=dtype)
    attrs = {"hidden_size": 3, "direction": "bidirectional"}
    got = run(op, values, attrs, opset=22)
    for mine, expected in zip(got, spec_truth(op, values, attrs)):
        assert mine.dtype == np.dtype(dtype)
        assert _within_half_ulp(mine, expected, dtype)


def test_float64_oracle_precision():
    rng = np.random.default_rng(11)
    values = random_values("GRU", rng, dtype=np.float32, extras=("lengths",))
    model = node_model("GRU", values, {"hidden_size": 3})
    got = Session(model, precision="float64").run(values)
    np.testing.assert_allclose(got["Y"], spec_truth("GRU", values, {})[0], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# malformed nodes and inputs
def _lstm(attrs=None, shapes=None, declared=True):
    rng = np.random.default_rng(12)
    values = random_values("LSTM", rng, dtype=np.float32, extras=("peepholes",))
    for role, shape in (shapes or {}).items():
        values[role] = np.zeros(shape, values[role].dtype)
    model = node_model("LSTM", values, dict({"hidden_size": 3}, **(attrs or {})),
                       initializers=[k for k in ("W", "R", "B", "P") if k in values], shapes=declared)
    return model, {k: v for k, v in values.items() if k not in ("W", "R", "B", "P")}


@pytest.mark.parametrize("attrs,shapes,words", [
    ({"hidden_size": 4}, None, "W has shape \\[1, 12, 4\\], expected \\[1, 16, \\?\\] for hidden_size 4"),
    ({"direction": "bidirectional"}, None, "W has shape \\[1, 12, 4\\], expected \\[2, 12, \\?\\]"),
    (None, {"R": (1, 12, 4)}, "R has shape \\[1, 12, 4\\], expected \\[1, 12, 3\\]"),
    (None, {"B": (1, 12)}, "B has shape \\[1, 12\\], expected \\[1, 24\\]"),
    (None, {"P": (1, 12)}, "P has shape \\[1, 12\\], expected \\[1, 9\\]"),
    ({"activations": ["Sigmoid", "Tanh"]}, None, "activations has 2 functions, expected 3"),
    ({"activations": ["Sigmoid", "Tanh", "Swish"]}, None, "unknown activation 'Swish'"),
    ({"clip": -1.0}, None, "clip must be positive"),
    ({"direction": "sideways"}, None, "direction must be forward, reverse or bidirectional"),
    ({"layout": 2}, None, "layout must be 0 or 1"),
])
def test_malformed_nodes_are_refused_at_plan_time(attrs, shapes, words):
    model, _ = _lstm(attrs, shapes)
    with pytest.raises(ModelError, match="'rec' \\(LSTM\\).*" + words):
        Session(model, allow_fallback=False, strict=False)


def test_bad_run_time_inputs_name_the_node():
    model, feeds = _lstm(declared=False)
    session = Session(model, allow_fallback=False, strict=False)
    with pytest.raises(KernelError, match="'rec' \\(LSTM\\).*sequence_lens must lie in \\[0, 5\\]"):
        session.run(dict(feeds, sequence_lens=np.array([6, 1, 1], np.int32)))
    with pytest.raises(KernelError, match="'rec' \\(LSTM\\).*initial_h has shape \\[1, 2, 3\\], expected \\[1, 3, 3\\]"):
        session.run(dict(feeds, initial_h=np.zeros((1, 2, 3), np.float32)))


def test_initializer_graph_runs_without_fallback():
    model, feeds = _lstm()
    session = Session(model)
    assert session.fallback_nodes() == []
    assert [o.shape for o in session.run(feeds).values()] == [(5, 1, 3, 3), (1, 3, 3), (1, 3, 3)]
