"""graphkit's passes keep a user's quantization.

On the quantized zoo (tests/quant_zoo.py: QDQ, QOperator and dynamic models of a residual CNN, an
MLP and an LSTM at opsets 13/17/21), fold, prune, fuse and simplify leave every quantization op in
place (QuantizeLinear, DequantizeLinear, QLinear*, QGemm, ...Integer, DynamicQuantize*), the file no
larger, and onnxruntime's outputs bitwise unchanged with its graph optimizations on and off.
`fold_dequantize=True` (`--fold-dequantize`) folds weight DequantizeLinears into float weights:
onnxruntime then runs a float Conv/Gemm instead of its quantized kernel, and the outputs move by at
most one quantization step of the output.

The handmade graphs pin what onnxsim and onnxslim (the reference) do as well: a weight's
DQ -> Transpose/Reshape stays, Q(float weight) -> DQ stays, integer ops before a DQ fold, duplicates
merge, and Conv+BatchNormalization never fuses through a quantized weight or across a Q/DQ pair.
"""
from __future__ import annotations

import functools
import json
import os
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.cli.main import main
from tests import quant_zoo
from tests.graphkit.passes_fixtures import check, init, ops, proto, vi

node = helper.make_node
PASSES = {"fold": gk.fold_constants, "prune": gk.prune, "fuse": gk.fuse, "simplify": gk.simplify}
QUANTIZED = quant_zoo.names(kind="qdq") + quant_zoo.names(kind="qoperator") + quant_zoo.names(kind="dynamic")


def _is_quantization_op(op: str) -> bool:
    return "quantize" in op.lower() or op.startswith("QLinear") or op == "QGemm" or op.endswith("Integer")


def quantization_ops(p: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in p.graph.node if _is_quantization_op(n.op_type))


def ort_outputs(p: onnx.ModelProto | str, feeds: dict, optimize: bool) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    model = p if isinstance(p, str) else p.SerializeToString()
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"]).run(None, feeds)


@functools.cache
def _original(name: str) -> tuple[onnx.ModelProto, dict[bool, list[np.ndarray]]]:
    path = quant_zoo.get(name).path
    feeds = quant_zoo.feeds(name, seed=1)
    return onnx.load(path), {optimize: ort_outputs(path, feeds, optimize) for optimize in (True, False)}


def output_step(p: onnx.ModelProto) -> float:
    """The quantization step of the graph output: the scale of the DequantizeLinear producing it."""
    inits = {t.name: numpy_helper.to_array(t) for t in p.graph.initializer}
    last = next(n for n in p.graph.node if p.graph.output[0].name in n.output)
    assert last.op_type == "DequantizeLinear"
    return float(inits[last.input[1]])


# -- the zoo ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("pass_name", list(PASSES))
@pytest.mark.parametrize("name", QUANTIZED)
def test_passes_keep_the_quantization_of_zoo_models(name, pass_name, tmp_path):
    path = quant_zoo.get(name).path
    original, want = _original(name)
    model = gk.load(path)
    PASSES[pass_name](model)
    out = str(tmp_path / "out.onnx")
    gk.save(model, out)
    got = onnx.load(out)
    assert quantization_ops(got) == quantization_ops(original)
    assert os.path.getsize(out) <= os.path.getsize(path)
    feeds = quant_zoo.feeds(name, seed=1)
    for optimize in (True, False):
        for a, b in zip(ort_outputs(got, feeds, optimize), want[optimize]):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} {pass_name} ort optimize={optimize}")


@pytest.mark.parametrize("pass_name", ["fold", "simplify"])
@pytest.mark.parametrize("name", quant_zoo.names(kind="qdq"))
def test_fold_dequantize_folds_weights_within_one_quantization_step(name, pass_name):
    original, want = _original(name)
    model = gk.load(quant_zoo.get(name).path)
    report = PASSES[pass_name](model, fold_dequantize=True)
    got = model.to_proto()
    # every DQ of constants is gone, except where refruntime could not evaluate it (then it is noted)
    unevaluated = {n.get("node") for n in report.all_notes() if n.get("op") == "DequantizeLinear"}
    consts = {t.name for t in got.graph.initializer}
    left = [n.name for n in got.graph.node
            if n.op_type == "DequantizeLinear" and all(i in consts or not i for i in n.input)]
    assert set(left) <= unevaluated
    if quant_zoo.spec(name).opset >= 21:  # evaluated by onnx.reference if not natively: always folds
        assert not left
        assert quantization_ops(got)["DequantizeLinear"] < quantization_ops(original)["DequantizeLinear"]
    assert quantization_ops(got)["QuantizeLinear"] == quantization_ops(original)["QuantizeLinear"]
    step = output_step(original)
    feeds = quant_zoo.feeds(name, seed=1)
    for optimize in (True, False):
        for a, b in zip(ort_outputs(got, feeds, optimize), want[optimize]):
            assert np.abs(a - b).max() <= step * (1 + 1e-5), (name, optimize)


def test_report_says_what_was_kept():
    model = gk.load(quant_zoo.get("cnn_op21_qdq_u8s8_channel").path)
    report = gk.simplify(model)
    notes = [n for n in report.all_notes() if n["kind"] == "kept_quantization"]
    assert notes == [{"kind": "kept_quantization", "graph": "main", "nodes": 6, "ops": "DequantizeLinear",
                      "hint": notes[0]["hint"]}]
    assert "fold_dequantize" in notes[0]["hint"]
    assert "folded" not in report.all_counts()


def test_cli_fold_dequantize_flag(tmp_path, capsys):
    src = quant_zoo.get("mlp_op21_qdq_s8s8_channel").path
    kept, folded = str(tmp_path / "kept.onnx"), str(tmp_path / "folded.onnx")
    assert main(["simplify", src, "-o", kept, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any(n["kind"] == "kept_quantization" for c in data["children"] for n in c["notes"])
    assert quantization_ops(onnx.load(kept)) == quantization_ops(onnx.load(src))
    assert main(["fold", src, "-o", folded, "--fold-dequantize"]) == 0
    assert quantization_ops(onnx.load(folded))["DequantizeLinear"] == 3  # the activations' DQs stay
    assert os.path.getsize(folded) > os.path.getsize(src)  # float weights: what the flag asks for


# -- handmade graphs: the reference tools' behaviour -----------------------------------------------------
I8 = TensorProto.INT8


def _act_qdq(src: str, dst: str) -> list:
    return [node("QuantizeLinear", [src, "s_a", "zp_a"], [dst + "_q"]),
            node("DequantizeLinear", [dst + "_q", "s_a", "zp_a"], [dst])]


def _qdq_model(body: list, inits: list, x_shape: list, y_shape: list, opset: int = 21, domains=()) -> onnx.ModelProto:
    nodes = _act_qdq("x", "xd") + body + _act_qdq("c", "y")
    p = proto(nodes, [vi("x", x_shape)], [vi("y", y_shape)],
              [init("s_a", np.float32(0.05)), init("zp_a", np.uint8(128)), *inits], opset=opset)
    for d in domains:
        p.opset_import.append(helper.make_opsetid(d, 1))
    return p


def _weights(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-127, 128, shape).astype(np.int8)


def _bn_params(channels: int) -> list:
    rng = np.random.default_rng(3)
    return [init("g", rng.uniform(0.5, 1.5, channels).astype(np.float32)),
            init("be", rng.uniform(-0.2, 0.2, channels).astype(np.float32)),
            init("mu", rng.uniform(-0.2, 0.2, channels).astype(np.float32)),
            init("var", rng.uniform(0.5, 1.5, channels).astype(np.float32))]


def _conv_weight_dq(axis_scales: bool = True) -> list:
    scales = np.random.default_rng(1).uniform(0.01, 0.02, 8).astype(np.float32) if axis_scales else np.float32(0.02)
    return [init("w_q", _weights((8, 4, 3, 3))), init("w_s", scales),
            init("w_zp", np.zeros(8, np.int8) if axis_scales else np.int8(0))]


HANDMADE = {
    # a weight stored transposed / reshaped after its DQ: onnxsim and onnxslim keep the whole chain
    "dq_transpose_matmul": lambda: _qdq_model(
        [node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["wt"]), node("Transpose", ["wt"], ["w"], perm=[1, 0]),
         node("MatMul", ["xd", "w"], ["c"])],
        [init("w_q", _weights((5, 6))), init("w_s", np.float32(0.02)), init("w_zp", np.int8(0))], [2, 6], [2, 5]),
    "dq_reshape_depthwise_conv": lambda: _qdq_model(
        [node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["wr"]), node("Reshape", ["wr", "shape"], ["w"]),
         node("Conv", ["xd", "w"], ["c"], group=4)],
        [init("w_q", _weights((4, 9))), init("w_s", np.float32(0.02)), init("w_zp", np.int8(0)),
         init("shape", np.array([4, 1, 3, 3], np.int64))], [1, 4, 6, 6], [1, 4, 4, 4]),
    # QAT export style: the float weight goes through its own Q -> DQ
    "q_float_weight": lambda: _qdq_model(
        [node("QuantizeLinear", ["w_f", "w_s", "w_zp"], ["w_q"]), node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w"]),
         node("Conv", ["xd", "w"], ["c"])],
        [init("w_f", (np.random.default_rng(2).standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32)),
         init("w_s", np.float32(0.01)), init("w_zp", np.int8(0))], [1, 4, 6, 6], [1, 8, 4, 4]),
    # an int8 weight reshaped *before* its DQ: the integer Reshape folds (still int8), the DQ stays
    "int_reshape_then_dq": lambda: _qdq_model(
        [node("Reshape", ["w_flat", "shape"], ["w_q"]), node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w"]),
         node("Conv", ["xd", "w"], ["c"])],
        [init("w_flat", _weights((8, 36))), init("shape", np.array([8, 4, 3, 3], np.int64)),
         init("w_s", np.float32(0.02)), init("w_zp", np.int8(0))], [1, 4, 6, 6], [1, 8, 4, 4]),
    # onnxruntime's contrib DequantizeLinear (16-bit weights before opset 21)
    "com_microsoft_dq": lambda: _qdq_model(
        [node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w"], domain="com.microsoft"),
         node("Conv", ["xd", "w"], ["c"])],
        [init("w_q", np.random.default_rng(4).integers(0, 65535, (8, 4, 3, 3)).astype(np.uint16)),
         init("w_s", np.float32(1e-5)), init("w_zp", np.uint16(32768))], [1, 4, 6, 6], [1, 8, 4, 4],
        opset=17, domains=("com.microsoft",)),
    # Conv with a quantized (per-channel, axis 0) weight and an int32 bias, straight into BatchNormalization
    "dq_conv_bn": lambda: _qdq_model(
        [node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w"], axis=0),
         node("DequantizeLinear", ["b_q", "b_s"], ["b"]),
         node("Conv", ["xd", "w", "b"], ["c0"]),
         node("BatchNormalization", ["c0", "g", "be", "mu", "var"], ["c"])],
        [*_conv_weight_dq(), init("b_q", np.arange(-400, 400, 100).astype(np.int32)), init("b_s", np.float32(7e-4)),
         *_bn_params(8)], [1, 4, 6, 6], [1, 8, 4, 4]),
    # no quant_pre_process: Conv -> Q -> DQ -> BatchNormalization (the zoo's *_nopre models)
    "conv_qdq_bn": lambda: _qdq_model(
        [node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w"]), node("Conv", ["xd", "w"], ["c0"]),
         *_act_qdq("c0", "c0d"), node("BatchNormalization", ["c0d", "g", "be", "mu", "var"], ["c"])],
        [*_conv_weight_dq(axis_scales=False), *_bn_params(8)], [1, 4, 6, 6], [1, 8, 4, 4]),
    # an Identity between a weight's DQ and two Convs that share it
    "dq_identity_shared": lambda: _qdq_model(
        [node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w0"]), node("Identity", ["w0"], ["w"]),
         node("Conv", ["xd", "w"], ["c1"], pads=[1, 1, 1, 1]), node("Conv", ["xd", "w"], ["c2"], pads=[1, 1, 1, 1]),
         node("Add", ["c1", "c2"], ["c"])],
        [init("w_q", _weights((4, 4, 3, 3))), init("w_s", np.float32(0.02)), init("w_zp", np.int8(0))],
        [1, 4, 6, 6], [1, 4, 6, 6]),
    # a float constant expression inside a quantized model still folds
    "float_constants_in_qdq": lambda: _qdq_model(
        [node("Mul", ["k1", "k2"], ["k"]), node("Add", ["xd", "k"], ["c"])],
        [init("k1", np.ones((1, 4, 1, 1), np.float32)), init("k2", np.full((1, 4, 1, 1), 0.5, np.float32))],
        [1, 4, 6, 6], [1, 4, 6, 6]),
}

# op counts after simplify (default): the same as onnxsim 0.8 and onnxslim 0.1.98 give
SIMPLIFIED = {
    "dq_transpose_matmul": {"DequantizeLinear": 3, "Transpose": 1, "MatMul": 1, "QuantizeLinear": 2},
    "dq_reshape_depthwise_conv": {"DequantizeLinear": 3, "Reshape": 1, "Conv": 1, "QuantizeLinear": 2},
    "q_float_weight": {"QuantizeLinear": 3, "DequantizeLinear": 3, "Conv": 1},
    "int_reshape_then_dq": {"QuantizeLinear": 2, "DequantizeLinear": 3, "Conv": 1},
    "com_microsoft_dq": {"QuantizeLinear": 2, "DequantizeLinear": 3, "Conv": 1},
    "dq_conv_bn": {"QuantizeLinear": 2, "DequantizeLinear": 4, "Conv": 1, "BatchNormalization": 1},
    "conv_qdq_bn": {"QuantizeLinear": 3, "DequantizeLinear": 4, "Conv": 1, "BatchNormalization": 1},
    "dq_identity_shared": {"QuantizeLinear": 2, "DequantizeLinear": 3, "Conv": 1, "Add": 1},
    "float_constants_in_qdq": {"QuantizeLinear": 2, "DequantizeLinear": 2, "Add": 1},
}


def _feeds(p: onnx.ModelProto) -> dict:
    shape = [d.dim_value for d in p.graph.input[0].type.tensor_type.shape.dim]
    return {"x": np.random.default_rng(5).standard_normal(shape).astype(np.float32)}


@pytest.mark.parametrize("case", list(HANDMADE))
def test_simplify_keeps_handmade_quantization_like_onnxsim(case):
    original = HANDMADE[case]()
    model = gk.load(original.SerializeToString())
    gk.simplify(model)
    got = check(model)
    assert Counter(n.op_type for n in got.graph.node) == SIMPLIFIED[case]
    assert got.ByteSize() <= original.ByteSize()
    feeds = _feeds(original)
    for optimize in (True, False):
        for a, b in zip(ort_outputs(got, feeds, optimize), ort_outputs(original, feeds, optimize)):
            np.testing.assert_array_equal(a, b, err_msg=f"{case} optimize={optimize}")


def test_integer_ops_before_a_dequantize_fold_into_an_integer_weight():
    model = gk.load(HANDMADE["int_reshape_then_dq"]().SerializeToString())
    gk.fold_constants(model)
    dq = next(n for n in model.graph if n.op_type == "DequantizeLinear" and n.inputs[0].const_value is not None)
    assert dq.inputs[0].const_value.numpy().dtype == np.int8 and dq.inputs[0].const_value.numpy().shape == (8, 4, 3, 3)


@pytest.mark.parametrize("case, remaining, probe", [
    ("dq_transpose_matmul", ["QuantizeLinear", "DequantizeLinear", "MatMul", "QuantizeLinear", "DequantizeLinear"],
     "y"),
    ("q_float_weight", ["QuantizeLinear", "DequantizeLinear", "Conv", "QuantizeLinear", "DequantizeLinear"], "y"),
    # the weight is float now, so Conv+BatchNormalization fuses: what the user asked for
    ("dq_conv_bn", ["QuantizeLinear", "DequantizeLinear", "Conv", "QuantizeLinear", "DequantizeLinear"], "y"),
    # ... but never across the Conv's output Q/DQ. The one step the Conv's quantized output may move
    # by (ORT's float Conv instead of its QLinearConv) is scaled by BatchNormalization (up to 2 steps
    # of y here), so the step is checked where it happens: c0d, the Conv's Q -> DQ output.
    ("conv_qdq_bn", ["QuantizeLinear", "DequantizeLinear", "Conv", "QuantizeLinear", "DequantizeLinear",
                     "BatchNormalization", "QuantizeLinear", "DequantizeLinear"], "c0d"),
])
def test_fold_dequantize_materializes_float_weights(case, remaining, probe):
    original = HANDMADE[case]()
    if probe != "y":
        original.graph.output.append(vi(probe, [1, 8, 4, 4]))
    model = gk.load(original.SerializeToString())
    gk.simplify(model, fold_dequantize=True)
    got = check(model)
    assert ops(model) == remaining
    assert all(t.data_type != I8 for t in got.graph.initializer)
    feeds = _feeds(original)
    step = float(numpy_helper.to_array(next(t for t in original.graph.initializer if t.name == "s_a")))
    at = [o.name for o in original.graph.output].index(probe)
    for optimize in (True, False):
        a, b = ort_outputs(got, feeds, optimize)[at], ort_outputs(original, feeds, optimize)[at]
        assert np.abs(a - b).max() <= step * (1 + 1e-5), (case, optimize)


def test_fuse_alone_never_fuses_a_quantized_conv():
    for case in ("dq_conv_bn", "conv_qdq_bn"):
        model = gk.load(HANDMADE[case]().SerializeToString())
        report = gk.fuse(model)
        assert not report.modified, case
        assert "BatchNormalization" in ops(model)
