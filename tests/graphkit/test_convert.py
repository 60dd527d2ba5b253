"""`graphkit convert` (ONNX -> TensorFlow SavedModel / TFLite) and the `tf` / `tflite` runtimes of verify.

Each model is converted once (module-scoped fixtures) and its SavedModel and .tflite files are run
against refruntime (fp32: rtol 1e-4, atol 1e-5): the tutorial CNNs, light zoo models with random
weights (folded), and BERT-tiny / ViT-tiny built from transformers configs, at other sizes than
their exports'. Single-op models check the layout handling (NHWC inside, NCHW at the boundary)
and the ops' corner cases eagerly; per-node verify checks that every ONNX value can be read back.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                reason="TensorFlow is not installed (make test installs tensorflow-cpu)")

ATOL, RTOL = 1e-5, 1e-4
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _close(got, want, atol=ATOL, rtol=RTOL, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=atol, rtol=rtol, err_msg=what)


def _ref(model, feeds):
    from refruntime import Session

    return Session(model).run(feeds)


def _run_saved_model(result, feeds):
    from graphkit.convert.tfenv import tensorflow

    tf = tensorflow()
    serve = tf.saved_model.load(result.path).signatures["serving_default"]
    got = serve(**{result.inputs[n]: tf.constant(v) for n, v in feeds.items()})
    return {n: got[k].numpy() for n, k in result.outputs.items()}


def _run_tflite(result, feeds):
    from graphkit.convert.tfenv import tensorflow
    from graphkit.verification.runtimes.tflite import run_signature

    with open(result.path, "rb") as f:
        got = run_signature(tensorflow(), f.read(), {result.inputs[n]: v for n, v in feeds.items()})
    return {n: got[k] for n, k in result.outputs.items()}


class Converted:
    """A model converted to both formats once."""

    def __init__(self, folder, name, model):
        from graphkit.convert.api import to_saved_model, to_tflite

        self.model = model
        self.saved = to_saved_model(model, folder / f"{name}_savedmodel")
        self.tflite = to_tflite(model, folder / f"{name}.tflite")

    def check(self, feeds, atol=ATOL, rtol=RTOL):
        want = _ref(self.model, feeds)
        for runner, result in ((_run_saved_model, self.saved), (_run_tflite, self.tflite)):
            got = runner(result, feeds)
            for name, value in want.items():
                _close(got[name], value, atol, rtol, f"{result.format} {name}")


# ---------------------------------------------------------------- the tutorial CNNs


@pytest.fixture(scope="module")
def cnns(tmp_path_factory):
    from graphkit.demo import export, nets

    folder = tmp_path_factory.mktemp("cnns")
    return {name: Converted(folder, name, onnx.load(export.export(nets.corrected_net(name), name, "torchscript",
                                                                  folder)))
            for name in nets.NETS}


@pytest.mark.parametrize("name", ["SimpleCNN", "Net"])
@pytest.mark.parametrize("batch", [1, 5])
def test_tutorial_cnns_match_refruntime_in_tensorflow_and_tflite(cnns, name, batch):
    x = np.random.default_rng(batch).standard_normal((batch, 1, 28, 28)).astype(np.float32)
    cnns[name].check({"input": x})  # the export's batch dim stays open in both files


def test_interface_keeps_onnx_names_and_layout(cnns):
    c = cnns["SimpleCNN"]
    assert c.saved.inputs == {"input": "input"} and c.saved.outputs == {"output": "output"}
    with open(os.path.join(c.saved.path, "assets.extra", "graphkit.json"), encoding="utf-8") as f:
        names = json.load(f)
    assert names["inputs"] == {"input": "input"}
    from graphkit.convert.tfenv import tensorflow

    serve = tensorflow().saved_model.load(c.saved.path).signatures["serving_default"]
    spec = serve.structured_input_signature[1]["input"]
    assert spec.shape.as_list() == [None, 1, 28, 28]  # NCHW at the boundary, batch open


def test_verify_per_node_compares_every_value_in_onnx_layout(cnns):
    model = cnns["SimpleCNN"].model
    report = gk.verify(model, runtimes=("ref", "tf", "tflite"), per_node=True)
    assert report.passed, report.table()
    compared = [nc for nc in report.per_node if nc.stats]
    assert compared and all({"tf", "tflite"} <= set(nc.stats) for nc in compared), report.table()
    assert not report.origins, report.table()
    from graphkit.verification.runtimes import make_runtime

    conv = next(n for n in model.graph.node if n.op_type == "Conv").output[0]
    x = {"input": np.ones((2, 1, 28, 28), np.float32)}
    got = make_runtime("tf", model).intermediates(x, [conv])[conv]
    assert got.shape == (2, 32, 28, 28)  # computed NHWC, handed back NCHW
    _close(got, make_runtime("ref", model).intermediates(x, [conv])[conv])


# ---------------------------------------------------------------- light zoo, folded, random weights


def _zoo(folder, name):
    from tests.zoo import light_path, with_random_weights

    model = gk.load(with_random_weights(onnx.load(light_path(name)), seed=1).SerializeToString())
    gk.fold_constants(model, size_limit=2e9)
    return Converted(folder, name, model.to_proto())


def _zoo_feeds(model):
    from tests.zoo import data_input

    vi = data_input(model)
    return {vi.name: np.random.default_rng(0).standard_normal(
        [d.dim_value for d in vi.type.tensor_type.shape.dim]).astype(np.float32)}


@pytest.mark.parametrize("name", ["light_squeezenet", "light_shufflenet", "light_inception_v1"])
def test_light_zoo_matches_refruntime(tmp_path, name):
    c = _zoo(tmp_path, name)
    c.check(_zoo_feeds(c.model))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["light_densenet121", "light_inception_v2", "light_resnet50", "light_bvlc_alexnet",
                                  "light_zfnet512", "light_vgg19"])
def test_light_zoo_large_match_refruntime(tmp_path, name):
    c = _zoo(tmp_path, name)
    c.check(_zoo_feeds(c.model))


def test_verify_per_node_on_a_zoo_model(tmp_path):
    """Every value of a folded zoo model is compared (NHWC ones in NCHW); whatever departs beyond
    1e-4 (convolutions summing with cancellation) is replayed alone and judged by float64."""
    c = _zoo(tmp_path, "light_squeezenet")
    report = gk.verify(c.model, runtimes=("ref", "tf"), per_node=True, inputs=_zoo_feeds(c.model))
    assert report.passed, report.table()
    assert all("tf" in nc.stats for nc in report.per_node if nc.stats)
    for origin in report.to_dict()["origins"]:
        assert origin["node"] and origin["float64"] is not None, report.table()


# ---------------------------------------------------------------- transformers (tiny, random weights)


@pytest.fixture(scope="module")
def transformers_models(tmp_path_factory):
    pytest.importorskip("transformers")
    from tests.graphkit.test_verify_torch_transformers import _export

    folder = tmp_path_factory.mktemp("transformers")
    made = {}
    for family in ("bert", "vit"):
        _, path, feeds = _export(family, "torchscript", folder)
        made[family] = (Converted(folder, family, onnx.load(path)), feeds)
    return made


@pytest.mark.parametrize("family", ["bert", "vit"])
def test_tiny_transformers_match_refruntime(transformers_models, family):
    converted, feeds = transformers_models[family]  # batch 3, sequence 5: not the export's 2 x 7
    converted.check(feeds)


def test_tflite_inf_constant_is_named_as_the_first_departure(transformers_models):
    """BERT's attention mask is Where(mask, 0, -inf); TFLite's converter stores -inf as -3.4e38.
    The outputs still agree (softmax gives 0 either way); per-node verify names the Where node,
    run alone with that constant, and float64 sides with refruntime."""
    converted, feeds = transformers_models["bert"]
    assert any("±inf" in note for note in converted.tflite.notes)
    report = gk.verify(converted.model, runtimes=("ref", "tflite"), per_node=True, inputs=feeds)
    assert report.passed, report.table()
    first = report.first_divergence
    assert first is not None and first["op"] == "Where" and first["oracle"]["sides_with"] == ["ref"], report.table()


# ---------------------------------------------------------------- single ops: layouts and corner cases


def _single(op, inputs, attrs=None, n_out=1, inits=(), opset=18):
    names = [f"x{i}" for i in range(len(inputs))]
    feeds = {n: v for n, v in zip(names, inputs)}
    init_tensors = []
    for name, value in inits:
        names.append(name)
        init_tensors.append(numpy_helper.from_array(value, name))
    node = helper.make_node(op, names, [f"y{i}" for i in range(n_out)], name="the_node", **(attrs or {}))
    graph = helper.make_graph(
        [node], "single", [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                           for n, v in feeds.items()],
        [onnx.ValueInfoProto(name=f"y{i}") for i in range(n_out)], initializer=init_tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8), feeds


_R = np.random.default_rng(0)
_IMG = _R.standard_normal((2, 3, 9, 9)).astype(np.float32)
_W = _R.standard_normal((6, 3, 3, 3)).astype(np.float32)
_I64 = np.array
OP_CASES = [
    ("Conv", [_IMG], {"pads": [1, 0, 2, 1], "strides": [2, 1]}, [("w", _W)], 18),
    ("Conv", [_IMG], {"auto_pad": "SAME_LOWER", "dilations": [2, 2]}, [("w", _W)], 18),
    ("Conv", [_IMG], {"group": 3, "pads": [1, 1, 1, 1]}, [("w", _R.standard_normal((6, 1, 3, 3)).astype(np.float32))], 18),
    ("Conv", [_R.standard_normal((1, 4, 7, 7)).astype(np.float32)], {"group": 2},
     [("w", _R.standard_normal((6, 2, 3, 3)).astype(np.float32)), ("b", _R.standard_normal(6).astype(np.float32))], 18),
    ("ConvTranspose", [_IMG], {"strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 0]},
     [("w", _R.standard_normal((3, 4, 3, 3)).astype(np.float32))], 18),
    ("MaxPool", [_IMG], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0], "ceil_mode": 1}, [], 18),
    ("AveragePool", [_IMG], {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1]}, [], 18),
    ("AveragePool", [_IMG], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                             "count_include_pad": 1, "ceil_mode": 1}, [], 18),
    ("LRN", [_IMG], {"size": 2, "alpha": 0.01, "beta": 0.7, "bias": 1.5}, [], 18),
    ("LRN", [_IMG], {"size": 3}, [], 18),
    ("Softmax", [_IMG], {"axis": 1}, [], 11),  # opset 11: coerced to 2-D at axis 1
    ("Softmax", [_IMG], {"axis": 1}, [], 13),
    ("Slice", [_IMG, _I64([8, -1]), _I64([-100, 0]), _I64([3, 1]), _I64([-2, -1])], {}, [], 18),
    ("Gather", [_IMG, _I64([[-1, 0]])], {"axis": 2}, [], 18),
    ("GatherElements", [_IMG, _R.integers(-3, 3, (2, 3, 4, 9))], {"axis": 1}, [], 18),
    ("Pad", [_IMG, _I64([0, 0, 1, 2, 0, 0, 2, 0])], {"mode": "edge"}, [], 18),
    ("Pad", [_IMG, _I64([0, 0, 2, 1, 0, 0, 1, 2])], {"mode": "reflect"}, [], 18),
    ("Split", [_IMG], {"axis": 2, "num_outputs": 2}, [], 18),
    ("Erf", [_IMG * 3], {}, [], 18),
    ("LayerNormalization", [_IMG], {"axis": 2}, [("s", _R.standard_normal((9, 9)).astype(np.float32))], 18),
    ("ArgMax", [np.array([[1, 3, 3, 2], [5, 5, 0, 5]], np.float32)], {"axis": 1, "select_last_index": 1}, [], 18),
    ("TopK", [_IMG, _I64([2])], {"axis": 1, "largest": 0}, [], 18),
]


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c[0])
def test_single_ops_match_refruntime(case):
    from graphkit.convert.graph import TFGraph

    op, inputs, attrs, inits, opset = case
    n_out = {"Split": 2, "TopK": 2}.get(op, 1)
    model, feeds = _single(op, inputs, attrs, n_out, inits, opset)
    want = _ref(model, feeds)
    graph = TFGraph(model, target="tflite")  # eager; the TFLite lowerings (Erf) included
    got = graph.run({n: graph.tf.constant(v) for n, v in feeds.items()})
    for name, value in want.items():
        _close(np.asarray(got[name]), value, 2e-5 if op == "Erf" else ATOL, RTOL, f"{op} {name}")


def test_elementwise_ops_follow_the_channels_last_layout():
    """Conv -> Add(bias of shape C,1,1) -> Relu -> Concat(axis 1) -> Flatten: the Add, Relu and
    Concat run channels-last with their constant transposed, the Flatten sees NCHW again."""
    from graphkit.convert.graph import TFGraph

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "bias"], ["a"]), helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Concat", ["r", "c"], ["cat"], axis=1), helper.make_node("Flatten", ["cat"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(_W, "w"), numpy_helper.from_array(
                                  _R.standard_normal((6, 1, 1)).astype(np.float32), "bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    tf_graph = TFGraph(model)
    got = tf_graph.run({"x": tf_graph.tf.constant(_IMG)}, ["y", "cat", "a"])
    want = _ref(model, {"x": _IMG})
    _close(got["y"].numpy(), want["y"])
    from refruntime import Session

    every = Session(model).run({"x": _IMG}, capture="all")
    _close(got["cat"].numpy(), every["cat"])
    assert got["a"].shape == (2, 6, 9, 9)


# ---------------------------------------------------------------- failures and the CLI


def _custom_op_model():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Frobnicate", ["r"], ["y"], name="frob", domain="example.custom")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("example.custom", 1)],
                             ir_version=8)


def test_unmapped_node_is_named_and_verify_reports_it():
    from graphkit.convert.api import to_tflite
    from graphkit.convert.tfenv import ConversionError

    with pytest.raises(ConversionError, match=r"'frob' \(example\.custom\.Frobnicate"):
        to_tflite(_custom_op_model(), "never.tflite")
    ops = _custom_op_model()
    ops.graph.node[1].CopyFrom(helper.make_node("Hardmax", ["r"], ["y"], name="frob"))
    ops.opset_import.pop()
    report = gk.verify(ops, runtimes=("ref", "tf"))
    assert not report.passed and "'frob' (Hardmax" in report.errors["tf"]


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "graphkit.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_cli_converts_and_verifies(cnns, tmp_path, capfd):
    from graphkit.cli.main import main

    path = tmp_path / "cnn.onnx"
    onnx.save(cnns["Net"].model, path)
    proc = _cli("convert", str(path), "--to", "tflite", "-o", str(tmp_path / "cnn.tflite"), "--verify",
                "--shape", "input=2,1,28,28")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TFLite model written" in proc.stdout and "verdict: PASS" in proc.stdout
    assert not proc.stderr  # TensorFlow's and TFLite's native log lines are kept off stderr
    capfd.readouterr()
    assert main(["convert", str(path), "--to", "tf", "-o", str(tmp_path / "cnn_tf"), "--json"]) == 0
    out = json.loads(capfd.readouterr().out)
    assert out["format"] == "tf" and out["outputs"] == {"output": "output"}
    assert (tmp_path / "cnn_tf" / "saved_model.pb").is_file()


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capfd):
    from graphkit.cli.main import main

    path = tmp_path / "custom.onnx"
    onnx.save(_custom_op_model(), path)
    proc = _cli("convert", str(path), "--to", "tf", "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "'frob' (example.custom.Frobnicate" in proc.stderr and not proc.stdout
    assert not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("x")
    for args in ([str(path), "--to", "tf", "-o", str(tmp_path / "file")],
                 [str(path), "--to", "tflite", "-o", str(tmp_path)],
                 [str(path), "--to", "keras", "-o", "x"],
                 [str(tmp_path / "missing.onnx"), "--to", "tf", "-o", str(tmp_path / "o")]):
        capfd.readouterr()
        assert main(["convert", *args]) == 2, args
        err = capfd.readouterr().err
        assert len(err.strip().splitlines()) == 1, (args, err)


def test_commands_that_do_not_convert_never_import_tensorflow(tmp_path):
    model, _ = _single("Relu", [np.ones((2, 3), np.float32)])
    path = tmp_path / "relu.onnx"
    onnx.save(model, path)
    code = ("import sys, contextlib, io\n"
            "from graphkit.cli.main import main, build_parser\n"
            "build_parser()\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['run', {str(path)!r}]) == 0\n"
            "sys.exit(3 if 'tensorflow' in sys.modules else 0)\n")
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=120).returncode == 0
