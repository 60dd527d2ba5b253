"""verify --against-model on a quantized model: per-layer quantization error.

Truths: a weight quantized by round-to-nearest is within half a step of its float value (by the
definition of quantization, whatever the runtime); SQNR is computed here from the two tensors with
a float64 formula; the names onnxruntime.quantization gives tensors (X_DequantizeLinear_Output,
X_quantized) are its documented convention.
"""
from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import graphkit as gk
from graphkit.verification.quant_report import quantized_pairs
from tests import quant_zoo


def _report(name: str, runtime: str = "ort"):
    m = quant_zoo.get(name)
    return m, gk.verify(m.path, against_model=m.float_path, runtimes=(runtime,), per_node=True,
                        inputs=quant_zoo.feeds(name))


@pytest.mark.parametrize("name", ["cnn_op17_qdq_s8s8_channel", "mlp_op21_qdq_u8s8_tensor"])
def test_qdq_layers_are_mapped_to_their_float_twins(name):
    m, report = _report(name)
    q = report.quantization
    layers = {row["value"]: row for row in q["layers"]}
    weights = [row for row in layers.values() if row["kind"] == "weight" and "_DequantizeLinear_Output" in row["value"]]
    assert weights and all(row["max_error_steps"] <= 0.5 + 1e-6 for row in weights)  # round to nearest
    activations = [row for row in layers.values() if row["kind"] == "activation"]
    assert activations and all(row["sqnr_db"] > 10 for row in activations)
    assert 1 <= len(q["worst"]) <= 5 and set(q["worst"]) <= set(layers)
    # SQNR recomputed from the tensors for one activation
    qmodel, fmodel = onnx.load(m.path), onnx.load(m.float_path)
    pair = next(p for p in quantized_pairs(qmodel, fmodel) if p.kind == "activation")
    from graphkit.verification import make_runtime

    feeds = quant_zoo.feeds(name)
    got = make_runtime("ort", qmodel).run(feeds, [pair.value])[pair.value].astype(np.float64)
    want = make_runtime("ort", fmodel).run(feeds, [pair.twin])[pair.twin].astype(np.float64)
    sqnr = 10 * math.log10((want ** 2).sum() / ((want - got) ** 2).sum())
    assert layers[pair.value]["sqnr_db"] == pytest.approx(sqnr, rel=1e-6)


def test_qoperator_integer_tensors_are_dequantized_with_their_scale():
    name = "cnn_op13_qop_u8s8_tensor"
    m, report = _report(name)
    rows = [r for r in report.quantization["layers"] if r["value"].endswith("_quantized")]
    assert rows, report.quantization
    q = onnx.load(m.path)
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    row = rows[0]  # QLinearConv named after the BatchNormalization, holding Relu(BatchNormalization)
    base = row["value"][: -len("_quantized")]
    assert f"{base}_scale" in inits
    assert row["twin"] == "/Relu_output_0" and row["fused"] == f"{base} -> Relu"
    assert all(r["sqnr_db"] > 10 for r in rows)


def test_quantization_error_reaches_json_and_html(tmp_path, capsys):
    from graphkit.cli.main import main

    m = quant_zoo.get("mlp_op17_qdq_s8s8_tensor")
    np.savez(tmp_path / "x.npz", **quant_zoo.feeds("mlp_op17_qdq_s8s8_tensor"))
    html = tmp_path / "r.html"
    main(["verify", m.path, "--against-model", m.float_path, "--runtimes", "ort", "--per-node", "--json",
          "--inputs", str(tmp_path / "x.npz"), "--html", str(html)])
    data = json.loads(capsys.readouterr().out)
    assert data["quantization"]["layers"] and data["quantization"]["worst"]
    assert "Quantization error per layer" in html.read_text()


def test_a_float_model_against_itself_has_no_quantization_section():
    m = quant_zoo.get("mlp_op17_qdq_s8s8_tensor")
    report = gk.verify(m.float_path, against_model=m.float_path, runtimes=("ort",), per_node=True,
                       inputs=quant_zoo.feeds("mlp_op17_qdq_s8s8_tensor"))
    assert report.quantization is None and report.passed
