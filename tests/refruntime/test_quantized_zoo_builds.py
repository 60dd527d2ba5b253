"""The quantized test-model zoo (tests/quant_zoo.py) builds, loads in onnxruntime, and has the variety
the quantized kernels need. Whether refruntime runs these models is tested elsewhere."""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests import quant_zoo


def _session(path: str, optimize: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _ops(path: str) -> Counter:
    return Counter((n.domain or "", n.op_type) for n in onnx.load(path).graph.node)


def test_what_builds_and_what_is_refused():
    built = {m.name for m in quant_zoo.models()}
    refused = dict(quant_zoo.unavailable())
    assert built == set(quant_zoo.names())
    assert set(refused) == {s.name for s in quant_zoo.specs() if quant_zoo.expected_refusal(s.name)}
    for name, reason in refused.items():
        assert quant_zoo.expected_refusal(name)[0] in reason, (name, reason)
        with pytest.raises(LookupError, match="did not build"):
            quant_zoo.get(name)
    assert quant_zoo.build_seconds() < 60  # a few seconds on a quiet machine; cached after the first


def test_variety():
    models = quant_zoo.models()
    kinds = Counter(m.kind for m in models)
    assert kinds == {"float": 9, "qdq": 39, "qoperator": 36, "dynamic": 12}
    for arch in quant_zoo.ARCHS:
        for opset in quant_zoo.OPSETS:
            variants = {s.name.split("_", 2)[2] for s in map(quant_zoo.spec, quant_zoo.names(arch=arch, opset=opset))}
            assert {"float", "qdq_u8s8_tensor", "qdq_s8s8_channel", "qop_u8s8_tensor", "qop_s8s8_channel"} <= variants
            assert ("dynamic_u8s8" in variants) == (arch != "cnn")
    for m in models:
        p = onnx.load(m.path)
        assert {o.version for o in p.opset_import if o.domain in ("", "ai.onnx")} == {quant_zoo.spec(m.name).opset}
        assert m.float_path != m.path or m.kind == "float"


@pytest.mark.parametrize("name", quant_zoo.names())
def test_loads_and_runs_in_onnxruntime(name):
    m = quant_zoo.get(name)
    onnx.checker.check_model(onnx.load(m.path), full_check=True)
    feeds = quant_zoo.feeds(name, seed=1)
    want = _session(m.float_path, optimize=False).run(None, feeds)[0]
    for optimize in (True, False):
        got = _session(m.path, optimize).run(None, feeds)[0]
        assert got.shape == want.shape and np.isfinite(got).all()
        # quantized, not broken: within 15% of the float model's range (measured: 0.3-9.4%)
        assert np.abs(got - want).max() <= 0.15 * np.abs(want).max(), name


def test_quantized_ops_are_the_expected_ones():
    def ops(name):
        return _ops(quant_zoo.get(name).path)

    qdq = ops("cnn_op21_qdq_u8s8_channel")
    assert qdq[("", "QuantizeLinear")] and qdq[("", "DequantizeLinear")] and qdq[("", "Conv")] == 2
    assert ops("cnn_op17_qdq_u8s8_tensor_nopre")[("", "BatchNormalization")] == 2
    qop = ops("cnn_op17_qop_u8s8_tensor")
    assert {("", "QLinearConv"), ("com.microsoft", "QGemm"), ("com.microsoft", "QLinearAdd"),
            ("com.microsoft", "QLinearGlobalAveragePool")} <= set(qop)
    assert ("", "Conv") not in qop
    assert {("", "DynamicQuantizeLinear"), ("", "MatMulInteger")} <= set(ops("mlp_op13_dynamic_u8s8"))
    assert ("com.microsoft", "DynamicQuantizeLSTM") in ops("lstm_op21_dynamic_u8u8")
    assert ("", "LSTM") in ops("lstm_op17_qdq_s8s8_tensor")  # static quantization leaves the LSTM float
    assert any("LSTM op stays float" in n for n in quant_zoo.notes("lstm_op17_qdq_s8s8_tensor"))


@pytest.mark.parametrize("name, act_dtype, per_channel", [
    ("cnn_op13_qdq_u8s8_tensor", np.uint8, False),
    ("cnn_op17_qdq_s8s8_channel", np.int8, True),
    ("mlp_op21_qop_s8s8_channel", np.int8, True),
    ("mlp_op21_qop_u8s8_tensor", np.uint8, False),
])
def test_activation_types_and_weight_granularity(name, act_dtype, per_channel):
    from onnx import numpy_helper

    p = onnx.load(quant_zoo.get(name).path)
    inits = {t.name: numpy_helper.to_array(t) for t in p.graph.initializer}
    quantize = next(n for n in p.graph.node if n.op_type == "QuantizeLinear")
    assert inits[quantize.input[2]].dtype == act_dtype
    weights = [a for a in inits.values() if a.dtype == np.int8 and a.ndim >= 2]
    assert weights
    scales = [a for a in inits.values() if a.dtype == np.float32 and a.ndim == 1 and a.size > 1
              and any(w.shape[0] == a.size or w.shape[-1] == a.size for w in weights)]
    assert bool(scales) == per_channel
