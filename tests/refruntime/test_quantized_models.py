"""Quantized models made by onnxruntime.quantization (QDQ per-tensor and per-channel, u8/s8
activations, QOperator, dynamic; a residual CNN with BatchNorm, an MLP and an LSTM; opsets 13, 17
and 21: tests/quant_zoo.py) run natively in refruntime and agree with onnxruntime.

Truth: onnxruntime with its optimizations off is a peer here (it runs the quantized graph as
written); where it departs from exact integer arithmetic the kernel tests
(test_quantize_kernels.py, test_contrib_quantized.py) show refruntime exact against int64
formulas. The float outputs must be within one quantization step of ORT's on >= 99.9 % of the
elements; integer tensors equal.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from refruntime import Session
from tests import quant_zoo

QUANTIZED = [n for kind in ("qdq", "qoperator", "dynamic") for n in quant_zoo.names(kind)]


def _ort(path: str, feeds: dict) -> dict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def _output_step(model: onnx.ModelProto, name: str) -> float | None:
    """The scale of the DequantizeLinear that produces output `name` (None: a float op does)."""
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.output[0] == name and node.input[1] in inits:
            return float(numpy_helper.to_array(inits[node.input[1]]).max())
    return None


@pytest.mark.parametrize("name", QUANTIZED)
def test_quantized_model_runs_natively_and_agrees_with_ort(name):
    m = quant_zoo.get(name)
    session = Session(m.path)
    assert session.fallback_nodes() == []
    feeds = quant_zoo.feeds(name)
    got = session.run(feeds)
    theirs = _ort(m.path, feeds)
    model = onnx.load(m.path)
    for out, expected in theirs.items():
        mine = got[out]
        assert mine.dtype == expected.dtype and mine.shape == expected.shape
        if expected.dtype.kind in "iu":
            np.testing.assert_array_equal(mine, expected)
            continue
        step = _output_step(model, out)
        diff = np.abs(mine.astype(np.float64) - expected)
        if step is not None:
            assert (diff <= step * (1 + 1e-6)).mean() >= 0.999, f"{out}: max {diff.max()} vs step {step}"
        else:  # float ops end the graph (dynamic quantization): rounding-level agreement
            scale = max(float(np.abs(expected).max()), 1e-30)
            assert (diff <= 1e-5 * scale).mean() >= 0.999, f"{out}: max {diff.max()} of {scale}"


def test_the_zoo_covers_every_family():
    kinds = {quant_zoo.spec(n).kind for n in QUANTIZED}
    archs = {quant_zoo.spec(n).arch for n in QUANTIZED}
    opsets = {quant_zoo.spec(n).opset for n in QUANTIZED}
    assert kinds == {"qdq", "qoperator", "dynamic"} and archs == {"cnn", "mlp", "lstm"} and opsets == {13, 17, 21}
