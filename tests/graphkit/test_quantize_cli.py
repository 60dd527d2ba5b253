"""graphkit quantize / gk.quantize: formats, types, calibration sources, --dynamic, --verify, bad input.

Models (built once per module, exported from torch with the TorchScript exporter):
- SimpleCNN, the tutorial net of graphkit/demo (exported by graphkit.demo.export);
- ResCNN, Conv-BN-Relu, Conv-BN + residual Add, Relu, MaxPool, Linear; exported with
  do_constant_folding=False so that BatchNormalization reaches the quantizer (the exporter would
  fold it into the Conv otherwise, and --preprocess would have nothing to do);
- MLP, Linear-Relu-Linear, for --dynamic.
An untrained CNN predicts the same class for every random input (its features hardly depend on
the input; the head's bias decides), which would make top-1 agreement trivially 100 %. So the last
Linear of the CNNs is centred (`_centre`): its rows scaled to unit norm over the feature spread and
its bias set to cancel the mean feature on random inputs; then the float models predict all ten
classes on 64 random inputs (asserted), and a quantization error can flip a prediction.

Truth is the float model on onnxruntime, computed here independently of --verify: all 64 held-out
samples (seed 1000) in one batch. Thresholds, from measurements (onnxruntime 1.32, 64 samples):
- top-1 agreement >= 90 %: measured 92-98 % (SimpleCNN) and 92-95 % (ResCNN) across formats, types,
  per-tensor/per-channel and calibration on 16 or 64 samples;
- SQNR >= 20 dB for static quantization of the CNNs: measured 26-31 dB. An 8-bit grid fitted to a
  tensor gives ~40-48 dB per tensor; through three or four quantized layers, and a centred head whose
  output is the difference of large features, 26-31 dB remain. 20 dB leaves one bit (6 dB) of margin;
  a broken quantization (wrong scale, axis or zero point) lands far below;
- SQNR >= 35 dB for the dynamic MLP: measured 44-45 dB (activation ranges computed per batch at run
  time, so nothing is clipped).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from graphkit.cli.main import main

INPUT, OUTPUT = "input", "output"
SHAPES = {"SimpleCNN": (1, 28, 28), "ResCNN": (3, 16, 16), "MLP": (16,)}
HELD_OUT_SEED = 1000
MIN_TOP1 = 0.90
MIN_SQNR_STATIC_DB = 20.0
MIN_SQNR_DYNAMIC_DB = 35.0
VERIFY_KEYS = {"samples", "data", "held_out", "truth", "outputs", "runtimes", "error"}
RUNTIME_KEYS = {"error", "outputs", "float_max_abs", "quantized_max_abs_vs_ort"}
METRIC_KEYS = {"max_abs", "sqnr_db", "top1_agreement"}
REPORT_KEYS = {"model", "output", "mode", "format", "per_channel", "activation_type", "weight_type", "op_types",
               "preprocess", "preprocessed", "calibration", "ops_before", "ops_after", "seconds",
               "per_layer_command", "notes", "accuracy"}


# --- models ---------------------------------------------------------------------------------------
def _centre(net, fc, shape):
    """Scale `fc`'s rows to unit norm over the feature spread and cancel the mean feature with its
    bias (features measured on 256 random inputs), so that predictions depend on the input."""
    import torch

    seen = []
    hook = fc.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.from_numpy(np.random.default_rng(99).standard_normal((256, *shape)).astype(np.float32))
    with torch.no_grad():
        net(x)
        hook.remove()
        features = seen[0]
        fc.weight.div_(fc.weight.norm(dim=1, keepdim=True) * features.std(0).mean())
        fc.bias.copy_(-(fc.weight @ features.mean(0)))
    return net


def _res_cnn():
    import torch
    from torch import nn

    class ResCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16)
            self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(16 * 8 * 8, 10)

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)) + y)
            return self.fc(self.pool(y).flatten(1))

    torch.manual_seed(0)
    net = ResCNN().eval()
    with torch.no_grad():  # non-trivial statistics, or BN would be an identity
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return _centre(net, net.fc, SHAPES["ResCNN"])


def _mlp():
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    return _centre(net, net[2], SHAPES["MLP"])


def _torchscript_export(net, shape, path, fold_constants=True):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(2, *shape),), path, dynamo=False, opset_version=18,
                          input_names=[INPUT], output_names=[OUTPUT], do_constant_folding=fold_constants,
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    from graphkit.demo.export import export
    from graphkit.demo.nets import corrected_net

    folder = tmp_path_factory.mktemp("quantize_models")
    simple = corrected_net("SimpleCNN")
    _centre(simple, simple.fc, SHAPES["SimpleCNN"])
    return {"SimpleCNN": export(simple, "SimpleCNN", "torchscript", folder),
            "ResCNN": _torchscript_export(_res_cnn(), SHAPES["ResCNN"], folder / "ResCNN.onnx", fold_constants=False),
            "MLP": _torchscript_export(_mlp(), SHAPES["MLP"], folder / "MLP.onnx")}


def _samples(name: str, count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, *SHAPES[name])).astype(np.float32)


def _ort(path: str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])  # loads: the test's first check
    return session.run(None, {INPUT: x})[0]


def _sqnr_db(f: np.ndarray, q: np.ndarray) -> float:
    f, q = f.astype(np.float64), q.astype(np.float64)
    return float(10 * np.log10(np.sum(f ** 2) / np.sum((f - q) ** 2)))


def _ops(path: str) -> set[str]:
    return {n.op_type for n in onnx.load(path).graph.node}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _exit_code(argv) -> int:
    """main()'s return value, or the code argparse exits with (its errors raise SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _quantize(argv, capsys) -> dict:
    code = main(["quantize", *argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""  # onnxruntime's log lines go to the report's notes
    return json.loads(captured.out)


# --- static: formats, types, granularity, calibration sources ---------------------------------------
CASES = [  # model, format, per-channel, activation type, weight type, calibration source
    ("SimpleCNN", "qdq", False, "u8", "s8", "random"),
    ("SimpleCNN", "qdq", True, "s8", "s8", "npz"),
    ("SimpleCNN", "qoperator", False, "s8", "s8", "random"),
    ("SimpleCNN", "qoperator", True, "u8", "u8", "npz"),
    ("ResCNN", "qdq", False, "s8", "s8", "npz"),
    ("ResCNN", "qdq", True, "u8", "s8", "random"),
    ("ResCNN", "qoperator", False, "u8", "s8", "npz"),
    ("ResCNN", "qoperator", True, "s8", "s8", "random"),
]


@pytest.mark.parametrize("name,fmt,per_channel,act,weight,source", CASES,
                         ids=["-".join(map(str, c)).replace("True", "channel").replace("False", "tensor") for c in CASES])
def test_static_quantization(models, tmp_path, capsys, name, fmt, per_channel, act, weight, source):
    model = models[name]
    out = str(tmp_path / "q.onnx")
    argv = [model, "-o", out, "--format", fmt, "--activation-type", act, "--weight-type", weight, "--verify"]
    argv += ["--per-channel"] if per_channel else []
    if source == "npz":  # rows of batch 1: (N, C, H, W) for a (batch, C, H, W) input
        np.savez(tmp_path / "calib.npz", **{INPUT: _samples(name, 64, seed=7)})
        argv += ["--calibrate", str(tmp_path / "calib.npz")]
    else:
        argv += ["--random", "64"]
    before = _digest(model)
    report = _quantize(argv, capsys)
    assert _digest(model) == before

    # what the format promises
    ops = _ops(out)
    if fmt == "qdq":
        assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops and "QLinearConv" not in ops
    else:
        assert "QLinearConv" in ops and "Conv" not in ops and "QGemm" in ops
    assert "BatchNormalization" not in ops  # --preprocess full folded it into the Conv
    _check_types(out, fmt, per_channel, act, weight)
    if fmt == "qoperator" and per_channel and weight == "u8":
        assert any("QLinearConv weight(s) are s8, not u8" in n for n in report["notes"])

    # accuracy: truth is the float model on ORT, held-out samples, one batch
    x = _samples(name, 64, seed=HELD_OUT_SEED)
    f, q = _ort(model, x), _ort(out, x)
    assert len(set(f.argmax(1).tolist())) >= 5  # the float model really classifies
    assert np.mean(f.argmax(1) == q.argmax(1)) >= MIN_TOP1
    assert _sqnr_db(f, q) >= MIN_SQNR_STATIC_DB

    # the report and --verify's keys (docs/quantization.md)
    assert set(report) == REPORT_KEYS
    assert report["mode"] == "static" and report["format"] == fmt and report["per_channel"] is per_channel
    assert report["calibration"]["samples"] == 64 and report["calibration"]["source"] == ("file" if source == "npz" else "random")
    assert "--against-model" in report["per_layer_command"] and "--per-node" in report["per_layer_command"]
    acc = report["accuracy"]
    assert set(acc) == VERIFY_KEYS and acc["error"] is None and acc["samples"] == 64
    assert acc["held_out"] is (source == "random")
    assert acc["outputs"][OUTPUT] == {"shape": [1, 10], "classifier": True}
    assert set(acc["runtimes"]) == {"ort", "ref"}
    ort_metrics = acc["runtimes"]["ort"]["outputs"][OUTPUT]
    assert set(acc["runtimes"]["ort"]) == RUNTIME_KEYS and METRIC_KEYS <= set(ort_metrics)
    assert ort_metrics["top1_agreement"] >= MIN_TOP1 and ort_metrics["sqnr_db"] >= MIN_SQNR_STATIC_DB
    ref = acc["runtimes"]["ref"]
    if ref["outputs"] is None:  # refruntime's quantized kernels are young: a failure is reported, not raised
        assert ref["error"]
    else:
        assert ref["outputs"][OUTPUT]["top1_agreement"] >= MIN_TOP1


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _check_types(path: str, fmt: str, per_channel: bool, act: str, weight: str) -> None:
    """The input's QuantizeLinear has the activation type; the first Conv's weight the weight type,
    one scale per output channel iff per-channel."""
    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    want = {"u8": np.uint8, "s8": np.int8}
    q_in = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == INPUT)
    assert inits[q_in.input[2]].dtype == want[act]
    if fmt == "qdq":
        conv = next(n for n in model.graph.node if n.op_type == "Conv")
        dq_w = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.output[0] == conv.input[1])
        weight_q, scale = inits[dq_w.input[0]], inits[dq_w.input[1]]
    else:
        conv = next(n for n in model.graph.node if n.op_type == "QLinearConv")
        weight_q, scale = inits[conv.input[3]], inits[conv.input[4]]
    if fmt == "qoperator" and per_channel:  # onnxruntime's QLinearConv per-channel: always s8 (operators/conv.py)
        weight = "s8"
    assert weight_q.dtype == want[weight]
    assert scale.size == (weight_q.shape[0] if per_channel else 1)


def test_npz_sample_axis_forms_are_the_same_samples(models, tmp_path, capsys):
    """(N, C, H, W) rows of batch 1 and (N, 1, C, H, W) with a leading sample axis: same model."""
    x = _samples("SimpleCNN", 16, seed=3)
    np.savez(tmp_path / "rows.npz", **{INPUT: x})
    np.savez(tmp_path / "axis.npz", **{INPUT: x[:, None]})
    for form in ("rows", "axis"):
        _quantize([models["SimpleCNN"], "-o", str(tmp_path / f"{form}.onnx"), "--calibrate",
                   str(tmp_path / f"{form}.npz")], capsys)
    assert _digest(str(tmp_path / "rows.onnx")) == _digest(str(tmp_path / "axis.onnx"))


# --- dynamic ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("weight", ["s8", "u8"])
def test_dynamic_mlp(models, tmp_path, capsys, weight):
    out = str(tmp_path / "mlp.q.onnx")
    report = _quantize([models["MLP"], "-o", out, "--dynamic", "--weight-type", weight, "--verify"], capsys)
    ops = _ops(out)
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops and not ops & {"QuantizeLinear", "Gemm", "MatMul"}
    assert report["mode"] == "dynamic" and report["format"] is None and report["calibration"] is None
    x = _samples("MLP", 64, seed=HELD_OUT_SEED)
    f, q = _ort(models["MLP"], x), _ort(out, x)
    assert len(set(f.argmax(1).tolist())) >= 5
    assert np.mean(f.argmax(1) == q.argmax(1)) >= MIN_TOP1
    assert _sqnr_db(f, q) >= MIN_SQNR_DYNAMIC_DB
    acc = report["accuracy"]
    assert acc["held_out"] is True and acc["samples"] == 64
    assert acc["runtimes"]["ort"]["outputs"][OUTPUT]["sqnr_db"] >= MIN_SQNR_DYNAMIC_DB


# --- preprocessing, op types, the Python API --------------------------------------------------------
def test_preprocess_choices(models, tmp_path, capsys):
    """full folds BN into Conv (and --save-preprocessed writes the float model the per-layer command
    compares against); none keeps BN, quantized on its own, and onnxruntime's advice is a note."""
    pre = str(tmp_path / "pre.onnx")
    full = _quantize([models["ResCNN"], "-o", str(tmp_path / "full.onnx"), "--random", "8",
                      "--save-preprocessed", pre], capsys)
    assert "BatchNormalization" not in _ops(pre) and "BatchNormalization" not in _ops(str(tmp_path / "full.onnx"))
    assert full["preprocessed"] == pre and pre in full["per_layer_command"]
    none = _quantize([models["ResCNN"], "-o", str(tmp_path / "none.onnx"), "--random", "8", "--preprocess", "none"],
                     capsys)
    assert "BatchNormalization" in _ops(str(tmp_path / "none.onnx"))
    assert any("pre-processing" in n for n in none["notes"])
    assert models["ResCNN"] in none["per_layer_command"]


def test_op_types_limit_what_is_quantized(models, tmp_path, capsys):
    out = str(tmp_path / "conv_only.onnx")
    report = _quantize([models["SimpleCNN"], "-o", out, "--random", "4", "--op-types", "Conv"], capsys)
    assert report["op_types"] == ["Conv"]
    model = onnx.load(out)
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    assert gemm.input[1] in {t.name for t in model.graph.initializer}  # its weight stayed float


def test_python_api(models, tmp_path):
    import graphkit as gk
    from graphkit.quantization import QuantizeReport

    x = _samples("SimpleCNN", 8, seed=5)
    report = gk.quantize(onnx.load(models["SimpleCNN"]), tmp_path / "api.onnx", calibration={INPUT: x},
                         format="qoperator", per_channel=True, verify=True)
    assert isinstance(report, QuantizeReport)
    assert "QLinearConv" in _ops(str(tmp_path / "api.onnx"))
    assert set(report.to_dict()) == REPORT_KEYS
    assert report.accuracy["data"] == "the given samples" and report.accuracy["samples"] == 8
    assert "accuracy cost" in report.table() and "per-layer quantization error" in report.table()
    with pytest.raises(gk.QuantizationError):
        gk.quantize(_custom_op_model(tmp_path), tmp_path / "x.onnx", calibration=2)


# --- bad input: exit 2, one line, nothing written -----------------------------------------------------
def _custom_op_model(tmp_path) -> str:
    """A model onnxruntime cannot load (an op of an unknown domain): its quantizer must fail cleanly."""
    graph = helper.make_graph([helper.make_node("Mystery", [INPUT], [OUTPUT], domain="my.ops")], "g",
                              [helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, [1, 4])])
    path = str(tmp_path / "custom.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("my.ops", 1)]),
              path)
    return path


def _npz(tmp_path, **arrays) -> str:
    path = str(tmp_path / "bad.npz")
    np.savez(path, **arrays)
    return path


BAD = {
    "unknown format": (lambda m, t: ["--format", "int4", "--random", "4"], "invalid choice"),
    "no calibration": (lambda m, t: [], "needs calibration samples"),
    "npz lacks the input": (lambda m, t: ["--calibrate", _npz(t, x=_samples("SimpleCNN", 4, 0))],
                            "lacks model input(s) ['input']"),
    "npz extra array": (lambda m, t: ["--calibrate", _npz(t, input=_samples("SimpleCNN", 4, 0), extra=np.zeros(3))],
                        "not model inputs"),
    "npz wrong shape": (lambda m, t: ["--calibrate", _npz(t, input=_samples("ResCNN", 4, 0))],
                        "a sample of 'input' has shape [1, 3, 16, 16]; the model input is [?, 1, 28, 28]"),
    "npz wrong rank": (lambda m, t: ["--calibrate", _npz(t, input=np.zeros((4, 28, 28), np.float32))],
                       "leading sample axis"),
    "npz wrong dtype": (lambda m, t: ["--calibrate", _npz(t, input=_samples("SimpleCNN", 4, 0).astype(np.float64))],
                        "dtype float64, the model input is float32"),
    "npz empty": (lambda m, t: ["--calibrate", _npz(t, input=np.zeros((0, 1, 28, 28), np.float32))], "no samples"),
    "not an npz": (lambda m, t: ["--calibrate", m], "not a readable .npz"),
    "npz missing": (lambda m, t: ["--calibrate", str(t / "nope.npz")], "not found"),
    "unknown op type": (lambda m, t: ["--random", "4", "--op-types", "Conv,Bogus"], "Bogus cannot be quantized"),
    "s8 act u8 weight": (lambda m, t: ["--random", "4", "--activation-type", "s8", "--weight-type", "u8"],
                         "does not support"),
    "dynamic with format": (lambda m, t: ["--dynamic", "--format", "qdq"], "--format applies to static"),
    "dynamic with random": (lambda m, t: ["--dynamic", "--random", "4"], "takes no calibration"),
    "unknown shape name": (lambda m, t: ["--random", "4", "--shape", "x=1,1,28,28"], "unknown input"),
    "zero samples": (lambda m, t: ["--random", "0"], "positive number"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line(models, tmp_path, capsys, case):
    extra, message = BAD[case]
    out = tmp_path / "never.onnx"
    assert _exit_code(["quantize", models["SimpleCNN"], "-o", str(out), *extra(models["SimpleCNN"], tmp_path)]) == 2
    assert message in _one_line(capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("preprocess", ["full", "none"])
def test_model_the_quantizer_rejects(tmp_path, capsys, monkeypatch, preprocess):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # onnxruntime's shape inference drops a file into the working directory on failure
    out = tmp_path / "never.onnx"
    assert main(["quantize", _custom_op_model(tmp_path), "-o", str(out), "--random", "2",
                 "--preprocess", preprocess]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "QuantizationError" in line and ("quant_pre_process" if preprocess == "full" else "quantize_static") in line
    assert not out.exists()
    assert os.listdir(cwd) == [] and os.getcwd() == str(cwd)


def test_never_overwrites_the_input(models, tmp_path, capsys):
    before = _digest(models["SimpleCNN"])
    for flag in ("-o", "--save-preprocessed"):
        argv = ["quantize", models["SimpleCNN"], "--random", "2"]
        argv += ["-o", models["SimpleCNN"]] if flag == "-o" else ["-o", str(tmp_path / "q.onnx"), flag, models["SimpleCNN"]]
        assert main(argv) == 2
        assert "refusing to overwrite the input" in _one_line(capsys.readouterr().err)
    assert _digest(models["SimpleCNN"]) == before


# --- the installed command ----------------------------------------------------------------------------
def test_installed_command(models, tmp_path):
    """A fresh process: success prints nothing on stderr (onnxruntime's advice with --preprocess none
    becomes a note), bad calibration data exits 2 with one line."""
    graphkit = os.path.join(os.path.dirname(sys.executable), "graphkit")
    ok = subprocess.run([graphkit, "quantize", models["ResCNN"], "-o", str(tmp_path / "q.onnx"), "--random", "4",
                         "--preprocess", "none"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr
    assert "note: onnxruntime.quantization: Please consider" in ok.stdout
    np.savez(tmp_path / "bad.npz", input=np.zeros((4, 3, 15, 16), np.float32))
    bad = subprocess.run([graphkit, "quantize", models["ResCNN"], "-o", str(tmp_path / "b.onnx"), "--calibrate",
                          str(tmp_path / "bad.npz")], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert _one_line(bad.stderr).startswith("graphkit quantize: UsageError:")
    assert "has shape [1, 3, 15, 16]; the model input is [?, 3, 16, 16]" in bad.stderr and not (tmp_path / "b.onnx").exists()

