"""The fuzzing engine shared by tests/test_fuzz.py (bounded, seeded) and tools/fuzz.py (long runs).

A case is the bytes of a (probably broken) model file, made from a seed model by byte-level
mutations (truncation, bit flips, overwritten/duplicated/deleted spans) or structured mutations of
the ModelProto (wrong attribute types, dropped inputs, renamed outputs, huge shapes, cycles, bad
opsets, bad tensors, ...). Each case goes through the whole pipeline:

    graphkit inspect (CLI) -> gk.load -> summarize -> gk.save + reload -> gk.simplify (if present)
    -> refruntime.Session(path) -> Session.run(random feeds)

and must either succeed or raise the project's own errors (GraphkitError / RefRuntimeError, and
the CLI must exit 0 or 2 with one stderr line). Cases run in a forked worker process with a
per-case timeout and an address-space limit, so a hang, a segfault or an out-of-memory is reported
as a finding (with the case's bytes) instead of stopping the run.

The commands a user types run too, each in a subprocess of its own (`CliRunner`): inspect,
simplify, run, verify with and without --per-node, quantize (and convert once graphkit has it).
There a finding is an exit code other than 0/1/2, a traceback, exit 2 with other than one stderr
line, or no answer within the bound (`cli_finding`).

Seeds: small models built here, one model of each family the project runs (`family_seeds`:
quantized, a transformer with contrib ops, scikit-learn, float16; built once, cached in a temp
folder) and small files of the onnx package.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

ONNX_DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
MAX_TENSOR_BYTES = 64 << 20      # sessions in the fuzzer refuse tensors above 64 MiB
MAX_LOOP_ITERATIONS = 20_000
ADDRESS_SPACE = 6 << 30          # the worker's RLIMIT_AS: a runaway allocation fails, not the machine


# -- seed models ---------------------------------------------------------------------------------
def _vi(name, elem=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def _const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _model(nodes, inputs, outputs, inits=(), opset=17, name="g"):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def built_seeds() -> dict[str, onnx.ModelProto]:
    """Small models built in code that cover the op families the runtime has native kernels for."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    seeds = {}
    seeds["cnn"] = _model(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
         helper.make_node("Flatten", ["a"], ["f"], axis=1),
         helper.make_node("Gemm", ["f", "gw", "gb"], ["g"], transB=1),
         helper.make_node("Softmax", ["g"], ["y"], axis=1)],
        [_vi("x", shape=["N", 2, 8, 8])], [_vi("y", shape=["N", 3])],
        [_const("w", rng.standard_normal((4, 2, 3, 3)).astype(f32)), _const("b", np.zeros(4, f32)),
         _const("gw", rng.standard_normal((3, 64)).astype(f32)), _const("gb", np.zeros(3, f32))])
    seeds["shape_ops"] = _model(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("Gather", ["s", "i0"], ["d0"], axis=0),
         helper.make_node("Concat", ["d0", "four"], ["ns"], axis=0),
         helper.make_node("Reshape", ["x", "ns"], ["r"]),
         helper.make_node("Expand", ["r", "es"], ["e"]),
         helper.make_node("Tile", ["e", "reps"], ["t"]),
         helper.make_node("Pad", ["t", "pads"], ["p"], mode="constant"),
         helper.make_node("ConstantOfShape", ["cs"], ["z"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
         helper.make_node("Range", ["r0", "r1", "rd"], ["rg"]),
         helper.make_node("Add", ["p", "z"], ["y0"]),
         helper.make_node("Transpose", ["y0"], ["y"], perm=[1, 0]),
         helper.make_node("OneHot", ["oi", "od", "ov"], ["oh"], axis=-1),
         helper.make_node("Slice", ["rg", "st", "en"], ["sl"])],
        [_vi("x", shape=[2, 4])], [_vi("y", shape=None), _vi("oh", shape=None), _vi("sl", TensorProto.INT64, None)],
        [_const("i0", np.array([0], np.int64)), _const("four", np.array([4], np.int64)),
         _const("es", np.array([2, 4], np.int64)), _const("reps", np.array([1, 2], np.int64)),
         _const("pads", np.array([0, 1, 0, 1], np.int64)), _const("cs", np.array([2, 10], np.int64)),
         _const("r0", np.array(0, np.int64)), _const("r1", np.array(10, np.int64)), _const("rd", np.array(2, np.int64)),
         _const("oi", np.array([0, 2], np.int64)), _const("od", np.array(3, np.int64)),
         _const("ov", np.array([0, 1], f32)), _const("st", np.array([1], np.int64)), _const("en", np.array([4], np.int64))])
    seeds["resize"] = _model(
        [helper.make_node("Resize", ["x", "", "sc"], ["r"], mode="linear"),
         helper.make_node("ReduceMean", ["r"], ["m"], keepdims=1),
         helper.make_node("Sub", ["r", "m"], ["y0"]),
         helper.make_node("Cast", ["y0"], ["y"], to=TensorProto.FLOAT16)],
        [_vi("x", shape=[1, 1, 4, 4])], [_vi("y", TensorProto.FLOAT16, None)],
        [_const("sc", np.array([1, 1, 2, 2], f32))])
    body = helper.make_graph(
        [helper.make_node("Add", ["v", "one"], ["vo"]), helper.make_node("Less", ["vo", "lim"], ["co"]),
         helper.make_node("Identity", ["vo"], ["so"])], "body",
        [_vi("i", TensorProto.INT64, []), _vi("c", TensorProto.BOOL, []), _vi("v", shape=[1])],
        [_vi("co", TensorProto.BOOL, [1]), _vi("vo", shape=[1]), _vi("so", shape=[1])],
        [_const("one", np.ones(1, f32)), _const("lim", np.array([5], f32))])
    then_g = helper.make_graph([helper.make_node("Neg", ["l"], ["o"])], "then", [], [_vi("o", shape=[1])])
    else_g = helper.make_graph([helper.make_node("Abs", ["l"], ["o2"])], "else", [], [_vi("o2", shape=[1])])
    seeds["control_flow"] = _model(
        [helper.make_node("Loop", ["M", "C", "x"], ["l", "scan"], body=body),
         helper.make_node("ReduceSum", ["l"], ["s"], keepdims=0),
         helper.make_node("Greater", ["s", "zero"], ["cond"]),
         helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
        [_vi("x", shape=[1])], [_vi("y", shape=[1]), _vi("scan", shape=None)],
        [_const("M", np.array(10, np.int64)), _const("C", np.array(True)), _const("zero", np.array(0, f32))])
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["acc", "xs"], ["acc_out"]), helper.make_node("Mul", ["xs", "ys"], ["prod"])],
        "scan_body", [_vi("acc", shape=[3]), _vi("xs", shape=[3]), _vi("ys", shape=[3])],
        [_vi("acc_out", shape=[3]), _vi("prod", shape=[3])])
    seeds["scan"] = _model(
        [helper.make_node("Scan", ["init", "x", "x"], ["final", "prods"], body=scan_body, num_scan_inputs=2,
                          scan_input_axes=[0, 1], scan_input_directions=[0, 1], scan_output_axes=[1])],
        [_vi("x", shape=[3, 3])], [_vi("final", shape=[3]), _vi("prods", shape=[3, 3])],
        [_const("init", np.zeros(3, f32))])
    seeds["elementwise"] = _model(
        [helper.make_node("Mul", ["x", "w"], ["a"]), helper.make_node("Sigmoid", ["a"], ["b"]),
         helper.make_node("Where", ["m", "b", "x"], ["c"]), helper.make_node("MatMul", ["c", "mw"], ["d"]),
         helper.make_node("Clip", ["d", "lo", "hi"], ["e"]), helper.make_node("TopK", ["e", "k"], ["y", "idx"], axis=-1),
         helper.make_node("Einsum", ["x", "x"], ["ein"], equation="ij,kj->ik"),
         helper.make_node("Split", ["x", "sp"], ["s1", "s2"], axis=1)],
        [_vi("x", shape=[3, 4]), _vi("m", TensorProto.BOOL, [3, 4])],
        [_vi("y", shape=None), _vi("idx", TensorProto.INT64, None), _vi("ein", shape=None), _vi("s2", shape=None)],
        [_const("w", rng.standard_normal((1, 4)).astype(f32)), _const("mw", rng.standard_normal((4, 5)).astype(f32)),
         _const("lo", np.array(-1, f32)), _const("hi", np.array(1, f32)), _const("k", np.array([2], np.int64)),
         _const("sp", np.array([1, 3], np.int64))])
    return seeds


def file_seeds(limit: int | None = None) -> dict[str, bytes]:
    """Model files shipped with the onnx package (small ones), by name."""
    out = {}
    for sub in ("simple", "pytorch-operator", "pytorch-converted", "real"):
        folder = os.path.join(ONNX_DATA, sub)
        if not os.path.isdir(folder):
            continue
        for case in sorted(os.listdir(folder)):
            path = os.path.join(folder, case, "model.onnx")
            if os.path.isfile(path) and os.path.getsize(path) < 200_000:
                with open(path, "rb") as f:
                    out[f"{sub}/{case}"] = f.read()
    squeeze = os.path.join(ONNX_DATA, "light", "light_squeezenet.onnx")
    if os.path.isfile(squeeze):
        with open(squeeze, "rb") as f:
            out["light/squeezenet"] = f.read()
    names = sorted(out)
    if limit is not None and len(names) > limit:
        step = len(names) / limit
        names = [names[int(i * step)] for i in range(limit)]
    return {n: out[n] for n in names}


def all_seeds(file_limit: int | None = 60, families: bool = True) -> dict[str, bytes]:
    """The seed corpus: the models built here, one model per family the project runs
    (`family_seeds`, if `families`), and files of the onnx package."""
    seeds = {name: m.SerializeToString() for name, m in built_seeds().items()}
    if families:
        seeds.update(family_seeds())
    seeds.update(file_seeds(file_limit))
    return seeds


# -- one model of each family the project runs, made by the tools users make them with ----------------
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CORPUS_PACKAGES = ("onnx", "onnxruntime", "torch", "transformers", "scikit-learn", "skl2onnx",
                    "onnxconverter-common", "numpy")


def corpus_dir() -> str:
    """tempfile.gettempdir()/graphkit-fuzz-corpus-<hash of this file and the builders' versions>."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256()
    with open(__file__, "rb") as f:
        h.update(f.read())
    for package in _CORPUS_PACKAGES:
        try:
            h.update(f"{package} {version(package)};".encode())
        except PackageNotFoundError:
            h.update(f"{package} -;".encode())
    return os.path.join(tempfile.gettempdir(), f"graphkit-fuzz-corpus-{h.hexdigest()[:12]}")


def family_seeds() -> dict[str, bytes]:
    """{family: model bytes}: quantized (QDQ, QOperator, dynamic, from tests/quant_zoo.py), a tiny BERT
    with com.microsoft ops (onnxruntime.transformers.optimizer), scikit-learn (random forest and SVM
    with ZipMap, gradient-boosted trees: skl2onnx), float16 (onnxconverter-common). Built once in a
    subprocess (torch, transformers and scikit-learn stay out of the fuzzing process, which forks
    workers) and cached in `corpus_dir()`; a family whose libraries are missing is left out and
    `family_failures()` says why. No model file is committed."""
    folder = _built_corpus()
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    out = {}
    for name in manifest["models"]:
        with open(os.path.join(folder, f"{name}.onnx"), "rb") as f:
            out[f"family/{name}"] = f.read()
    return out


def family_failures() -> dict[str, str]:
    """{family: why it did not build} (missing libraries, converter errors)."""
    with open(os.path.join(_built_corpus(), "manifest.json"), encoding="utf-8") as f:
        return json.load(f)["failures"]


def _built_corpus() -> str:
    folder = corpus_dir()
    if not os.path.exists(os.path.join(folder, "manifest.json")):
        code = "import sys; from tests.fuzzing import build_corpus; build_corpus(sys.argv[1])"
        done = subprocess.run([sys.executable, "-c", code, folder], cwd=ROOT, capture_output=True, text=True,
                              timeout=1800, check=False)
        if not os.path.exists(os.path.join(folder, "manifest.json")):
            raise RuntimeError(f"the fuzz corpus did not build (exit {done.returncode}): {done.stderr[-2000:]}")
    return folder


def build_corpus(folder: str) -> None:
    """Build every family into a private folder, then rename it to `folder` (a concurrent builder
    that finished first wins)."""
    import shutil
    import warnings

    work = tempfile.mkdtemp(prefix=os.path.basename(folder) + ".building-", dir=os.path.dirname(folder))
    os.chmod(work, 0o755)
    models, failures = [], {}
    try:
        for name, build in FAMILY_BUILDERS.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = build(work)
                with open(os.path.join(work, f"{name}.onnx"), "wb") as f:
                    f.write(model.SerializeToString())
                models.append(name)
            except Exception as exc:  # noqa: BLE001 - recorded: a missing library leaves its family out
                failures[name] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        with open(os.path.join(work, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump({"models": models, "failures": failures}, f, indent=1)
        try:
            os.rename(work, folder)
        except OSError:
            if not os.path.exists(os.path.join(folder, "manifest.json")):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _quant_zoo(name: str) -> onnx.ModelProto:
    sys.path.insert(0, ROOT)
    from tests import quant_zoo

    return onnx.load(quant_zoo.get(name).path)


def _bert_contrib(work: str) -> onnx.ModelProto:
    """A one-layer BERT (hidden 32, two heads), exported by torch and fused by onnxruntime's
    transformer optimizer: EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu."""
    import torch
    import transformers
    from onnxruntime.transformers.optimizer import optimize_model

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64, initializer_range=0.3,
                                     attn_implementation="eager")
    bert = transformers.BertModel(config).eval()

    class Hidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    path = os.path.join(work, "bert_export.onnx")
    example = (torch.randint(0, 100, (1, 8)), torch.ones(1, 8, dtype=torch.int64))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    with torch.no_grad():
        torch.onnx.export(Hidden().eval(), example, path, input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    optimized = optimize_model(path, model_type="bert", num_heads=2, hidden_size=32)
    ops = {n.op_type for n in optimized.model.graph.node if n.domain == "com.microsoft"}
    missing = {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization"} - ops
    if missing:
        raise RuntimeError(f"the optimizer did not fuse {sorted(missing)} (made {sorted(ops)})")
    os.remove(path)
    return optimized.model


def _sklearn(kind: str) -> onnx.ModelProto:
    from skl2onnx import to_onnx
    from sklearn.datasets import make_classification, make_regression

    x, y = make_classification(120, 6, n_informative=4, n_redundant=0, n_classes=3, random_state=0)
    x = x.astype(np.float32)
    if kind == "forest":  # TreeEnsembleClassifier, ZipMap
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(x, y)
    elif kind == "svm":  # Scaler, SVMClassifier, ZipMap
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        model = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)).fit(x, y)
    else:  # TreeEnsembleRegressor
        from sklearn.ensemble import GradientBoostingRegressor

        x, y = make_regression(120, 6, random_state=0)
        x = x.astype(np.float32)
        model = GradientBoostingRegressor(n_estimators=4, max_depth=3, random_state=0).fit(x, y)
    return to_onnx(model, x[:1], target_opset={"": 17, "ai.onnx.ml": 3})


def _float16(work: str) -> onnx.ModelProto:
    """The quant zoo's residual CNN (Conv, BatchNormalization, Add, pools, Gemm) in float16 throughout."""
    from onnxconverter_common import float16

    return float16.convert_float_to_float16(_quant_zoo("cnn_op17_float"), keep_io_types=False)


FAMILY_BUILDERS = {
    "quant_qdq": lambda work: _quant_zoo("cnn_op17_qdq_u8s8_channel"),
    "quant_qoperator": lambda work: _quant_zoo("cnn_op17_qop_u8s8_tensor"),   # QLinearConv, QGemm, QLinearAdd
    "quant_dynamic": lambda work: _quant_zoo("lstm_op17_dynamic_u8s8"),       # DynamicQuantizeLSTM, MatMulInteger
    "bert_contrib": _bert_contrib,
    "sklearn_forest": lambda work: _sklearn("forest"),
    "sklearn_svm": lambda work: _sklearn("svm"),
    "sklearn_boosted_trees": lambda work: _sklearn("boosted"),
    "float16": _float16,
}


# -- mutations -----------------------------------------------------------------------------------
HUGE = [2**31, 10**12, 2**62, -1, -(2**40), 0, 10**6]


def _byte_mutation(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    buf = bytearray(data)
    kind = rng.choice(["truncate", "flip", "overwrite", "duplicate", "delete", "insert", "varint"])
    if not buf:
        return bytes([rng.randrange(256)]), "one random byte"
    if kind == "truncate":
        n = rng.randrange(len(buf))
        return bytes(buf[:n]), f"truncated to {n} bytes"
    if kind == "flip":
        flips = [rng.randrange(len(buf) * 8) for _ in range(rng.randint(1, 8))]
        for bit in flips:
            buf[bit // 8] ^= 1 << (bit % 8)
        return bytes(buf), f"bit flips at {flips}"
    start = rng.randrange(len(buf))
    span = rng.randint(1, min(64, len(buf) - start))
    if kind == "overwrite":
        buf[start:start + span] = bytes(rng.randrange(256) for _ in range(span))
        return bytes(buf), f"overwrote {span} bytes at {start}"
    if kind == "duplicate":
        return bytes(buf[:start + span] + buf[start:start + span] + buf[start + span:]), f"duplicated {span} bytes at {start}"
    if kind == "delete":
        return bytes(buf[:start] + buf[start + span:]), f"deleted {span} bytes at {start}"
    if kind == "insert":
        junk = bytes(rng.randrange(256) for _ in range(span))
        return bytes(buf[:start] + junk + buf[start:]), f"inserted {span} bytes at {start}"
    # varint: set a byte that looks like a varint length to a large value
    buf[start] = 0xFF
    if start + 1 < len(buf):
        buf[start + 1] = rng.choice([0x7F, 0xFF])
    return bytes(buf), f"varint-ish bytes at {start}"


def _graphs(graph: onnx.GraphProto):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def _value_names(graph):
    names = [i.name for i in graph.input] + [t.name for t in graph.initializer]
    names += [o for n in graph.node for o in n.output if o]
    return names or ["x"]


def _wrong_attribute(attr: AttributeProto, rng: random.Random) -> AttributeProto:
    name = attr.name
    choices = [
        helper.make_attribute(name, "str"), helper.make_attribute(name, 1.5),
        helper.make_attribute(name, [1, 2, 3]), helper.make_attribute(name, rng.choice(HUGE)),
        helper.make_attribute(name, [0.5, 0.25]), helper.make_attribute(name, ["a", "b"]),
        helper.make_attribute(name, helper.make_tensor("t", TensorProto.FLOAT, [2], [1.0, 2.0])),
        helper.make_attribute(name, [rng.choice(HUGE) for _ in range(rng.randint(0, 6))], attr_type=AttributeProto.INTS),
    ]
    new = rng.choice(choices)
    if rng.random() < 0.1:
        new.type = AttributeProto.UNDEFINED
    return new


# one plausible value changed: what gets past the structural checks into the kernels
GENTLE = ["small_attr", "small_attr", "attr_value", "huge_int", "input_shape"]


def _structured_mutation(model: onnx.ModelProto, rng: random.Random, kinds: list[str] | None = None) -> str:
    """Mutate `model` in place; return what was done."""
    graphs = list(_graphs(model.graph))
    graph = rng.choice(graphs)
    nodes = list(graph.node)
    node = rng.choice(nodes) if nodes else None
    kinds = kinds or ["attr_type", "drop_attr", "extra_attr", "drop_input", "rename_output", "rename_input",
                      "huge_int", "cycle", "opset", "dup_node", "op_type", "tensor", "input_type", "drop_graph_io",
                      "swap_nodes", "external", "domain", "attr_value", "dup_output", "ir_version",
                      "small_attr", "small_attr", "small_attr", "input_shape", "input_shape"]
    kind = rng.choice(kinds)
    if kind == "attr_type" and node is not None and node.attribute:
        i = rng.randrange(len(node.attribute))
        node.attribute[i].CopyFrom(_wrong_attribute(node.attribute[i], rng))
        return f"attribute {node.attribute[i].name!r} of {node.op_type} given a wrong type"
    if kind == "drop_attr" and node is not None and node.attribute:
        i = rng.randrange(len(node.attribute))
        name = node.attribute[i].name
        del node.attribute[i]
        return f"dropped attribute {name!r} of {node.op_type}"
    if kind == "extra_attr" and node is not None:
        node.attribute.append(helper.make_attribute(rng.choice(["axis", "perm", "pads", "bogus", "to"]),
                                                    rng.choice([1, [1, 2], "x", 2.0])))
        return f"added an attribute to {node.op_type}"
    if kind == "drop_input" and node is not None and node.input:
        i = rng.randrange(len(node.input))
        if rng.random() < 0.5:
            node.input[i] = ""
        else:
            del node.input[i]
        return f"dropped input {i} of {node.op_type}"
    if kind == "rename_output" and node is not None and node.output:
        i = rng.randrange(len(node.output))
        node.output[i] = rng.choice(["renamed", "", _value_names(graph)[0]])
        return f"renamed output {i} of {node.op_type}"
    if kind == "rename_input" and node is not None and node.input:
        i = rng.randrange(len(node.input))
        node.input[i] = rng.choice(["nowhere", *_value_names(graph)])
        return f"rewired input {i} of {node.op_type}"
    if kind == "huge_int":
        ints = [t for t in graph.initializer if t.data_type in (TensorProto.INT64, TensorProto.INT32)]
        if ints:
            t = rng.choice(ints)
            arr = numpy_helper.to_array(t).copy()
            if arr.size:
                arr.reshape(-1)[rng.randrange(arr.size)] = rng.choice(HUGE) if t.data_type == TensorProto.INT64 else 2**30
                t.CopyFrom(numpy_helper.from_array(arr, t.name))
                return f"initializer {t.name!r} set to a huge/negative value"
        floats = [t for t in graph.initializer if t.data_type == TensorProto.FLOAT]
        if floats:
            t = rng.choice(floats)
            arr = numpy_helper.to_array(t).copy()
            if arr.size:
                arr.reshape(-1)[rng.randrange(arr.size)] = rng.choice([1e30, -1e30, np.nan, np.inf, 1e-30, 0.0])
                t.CopyFrom(numpy_helper.from_array(arr, t.name))
                return f"float initializer {t.name!r} given an extreme value"
    if kind == "cycle" and len(nodes) >= 2:
        a, b = sorted(rng.sample(range(len(nodes)), 2))
        if nodes[b].output and nodes[a].input:
            nodes[a].input[rng.randrange(len(nodes[a].input))] = nodes[b].output[0]
            return f"node {a} ({nodes[a].op_type}) now reads node {b}'s output: a cycle"
    if kind == "opset":
        op = rng.choice(model.opset_import) if model.opset_import else model.opset_import.add()
        op.version = rng.choice([999, 0, -1, 1, 2, 6, 30, 2**40])
        return f"opset of {op.domain or 'ai.onnx'} set to {op.version}"
    if kind == "dup_node" and node is not None:
        graph.node.append(node)
        return f"duplicated a {node.op_type} node (two producers)"
    if kind == "op_type" and node is not None:
        node.op_type = rng.choice(["Conv", "Reshape", "Loop", "If", "Scan", "Resize", "Gemm", "MaxPool", "Pad",
                                   "ConstantOfShape", "Expand", "Tile", "Range", "Einsum", "Unknown", "Cast",
                                   "Split", "Concat", "TopK", "Gather", "NonZero", "Constant"])
        return f"changed an op to {node.op_type}"
    if kind == "tensor" and graph.initializer:
        t = rng.choice(graph.initializer)
        how = rng.randrange(5)
        if how == 0:
            t.dims.append(rng.choice(HUGE))
        elif how == 1:
            t.data_type = rng.choice([0, 8, 999, TensorProto.INT4, TensorProto.BFLOAT16])
        elif how == 2 and t.HasField("raw_data"):
            t.raw_data = t.raw_data[: len(t.raw_data) // 2]
        elif how == 3:
            t.dims[:] = [rng.choice([-3, 0, 1, 7])]
        else:
            t.float_data.extend([1.0, 2.0])
        return f"initializer {t.name!r} made inconsistent ({how})"
    if kind == "input_type" and graph.input:
        vi = rng.choice(graph.input)
        how = rng.randrange(3)
        if how == 0:
            vi.type.tensor_type.elem_type = rng.choice([0, 999, TensorProto.STRING, TensorProto.COMPLEX128])
        elif how == 1:
            vi.type.tensor_type.shape.dim.add().dim_value = rng.choice([10**9, 3, 0])
        else:
            vi.type.ClearField("tensor_type")
            vi.type.sequence_type.elem_type.tensor_type.elem_type = TensorProto.FLOAT
        return f"graph input {vi.name!r} type changed ({how})"
    if kind == "drop_graph_io":
        if graph.input and rng.random() < 0.5:
            del graph.input[rng.randrange(len(graph.input))]
            return "dropped a graph input"
        if graph.output:
            graph.output[rng.randrange(len(graph.output))].name = rng.choice(["nothing_makes_this", ""])
            return "renamed a graph output to something nothing produces"
    if kind == "swap_nodes" and len(nodes) >= 2:
        a, b = rng.sample(range(len(nodes)), 2)
        na, nb = copy.deepcopy(nodes[a]), copy.deepcopy(nodes[b])
        graph.node[a].CopyFrom(nb)
        graph.node[b].CopyFrom(na)
        return f"swapped nodes {a} and {b}"
    if kind == "external" and graph.initializer:
        t = rng.choice(graph.initializer)
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        loc = rng.choice(["/etc/passwd", "../../etc/passwd", "missing.bin", "", ".", "a/../../b", "w.bin\0x"])
        for key, value in (("location", loc), ("offset", rng.choice(["0", "-5", "zz", "99999999999"])),
                           ("length", rng.choice(["4", "-1", "1e3", "123456789012"]))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        return f"initializer {t.name!r} points at external data {loc!r}"
    if kind == "domain" and node is not None:
        node.domain = rng.choice(["com.unknown", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx"])
        return f"domain of {node.op_type} set to {node.domain!r}"
    if kind == "attr_value" and node is not None and node.attribute:
        attr = rng.choice(node.attribute)
        if attr.type == AttributeProto.INT:
            attr.i = rng.choice(HUGE + [-100, 100])
        elif attr.type == AttributeProto.INTS:
            attr.ints[:] = [rng.choice(HUGE + [-1, 1, 2]) for _ in range(rng.randint(0, 8))]
        elif attr.type == AttributeProto.FLOAT:
            attr.f = rng.choice([1e30, -1e30, float("nan"), float("inf"), 0.0])
        elif attr.type == AttributeProto.STRING:
            attr.s = rng.choice([b"", b"bogus", b"\xff\xfe", b"SAME_UPPER", b"nearest"])
        elif attr.type == AttributeProto.GRAPH:
            attr.g.ClearField("output")
        return f"attribute {attr.name!r} of {node.op_type} given an odd value"
    if kind == "small_attr" and node is not None and node.attribute:
        # plausible-looking but wrong values: what reaches the kernels (and numba loops) the most
        attr = rng.choice(node.attribute)
        small = [-2, -1, 0, 1, 2, 3, 5, 7]
        if attr.type == AttributeProto.INT:
            attr.i = rng.choice(small)
        elif attr.type == AttributeProto.INTS:
            n = len(attr.ints) if attr.ints and rng.random() < 0.7 else rng.randint(0, 6)
            attr.ints[:] = [rng.choice(small) for _ in range(n)]
        elif attr.type == AttributeProto.FLOAT:
            attr.f = rng.choice([-1.0, 0.0, 0.5, 2.0, 1e-8])
        return f"attribute {attr.name!r} of {node.op_type} set to a small odd value"
    if kind == "input_shape" and graph.input:
        vi = rng.choice(graph.input)
        dims = vi.type.tensor_type.shape.dim
        if len(dims):
            d = dims[rng.randrange(len(dims))]
            d.dim_value = rng.choice([0, 1, 2, 3, 5, 17])
        elif vi.type.HasField("tensor_type"):
            vi.type.tensor_type.shape.dim.add().dim_value = rng.choice([0, 1, 3])
        return f"graph input {vi.name!r} given another static shape"
    if kind == "dup_output" and node is not None and node.output:
        node.output.append(node.output[0])
        return f"{node.op_type} writes the same output twice"
    if kind == "ir_version":
        model.ir_version = rng.choice([0, 1, 3, 99, 2**40])
        return f"ir_version set to {model.ir_version}"
    # nothing applicable: fall back to a generic corruption
    if model.graph.node:
        model.graph.node[0].op_type = ""
    return "emptied the first op_type"


def mutate(seed_bytes: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One case from one seed: one gentle mutation (a fifth of the cases), else a few structured
    mutations, byte mutations, or both."""
    steps = []
    data = seed_bytes
    gentle = rng.random() < 0.2
    mode = 0.0 if gentle else rng.random()
    if mode < 0.8:
        try:
            model = onnx.ModelProto.FromString(seed_bytes)
        except Exception:  # noqa: BLE001
            model = None
        if model is not None:
            for _ in range(1 if gentle else rng.choice([1, 1, 1, 2, 3])):
                try:
                    steps.append(_structured_mutation(model, rng, GENTLE if gentle else None))
                except Exception as exc:  # noqa: BLE001 - a mutation that does not apply to this model
                    steps.append(f"(mutation failed: {type(exc).__name__})")
            try:
                data = model.SerializeToString()
            except Exception as exc:  # noqa: BLE001 - e.g. invalid UTF-8 in a string field
                steps.append(f"(unserializable: {type(exc).__name__}; kept the seed)")
                data = seed_bytes
    if mode >= 0.65:
        for _ in range(rng.choice([1, 1, 2])):
            data, what = _byte_mutation(data, rng)
            steps.append(what)
    return data, "; ".join(steps)


# -- running a case ------------------------------------------------------------------------------
@dataclass
class Finding:
    case: str          # "seed-name #index: mutations"
    stage: str
    error: str         # exception type and message, or "timeout", "crashed (signal N)"
    data: bytes

    def save(self, folder: str) -> str:
        os.makedirs(folder, exist_ok=True)
        base = os.path.join(folder, f"{abs(hash(self.data)) % 10**10:010d}")
        with open(base + ".onnx", "wb") as f:
            f.write(self.data)
        with open(base + ".txt", "w", encoding="utf-8") as f:
            f.write(f"{self.case}\nstage: {self.stage}\n{self.error}\n")
        return base + ".onnx"


def _simplify():
    try:
        import graphkit as gk

        return gk.simplify
    except (ImportError, AttributeError):
        try:
            from graphkit.passes import simplify
        except ImportError:
            return None
        return simplify


def run_pipeline(data: bytes, workdir: str, with_simplify: bool = True) -> tuple[bool, str, str]:
    """Run one case through every stage: (behaved, stage, detail). For a case that behaved, `stage`
    says how far it got ("ran", "run refused", "Session refused", ...) for the statistics; for a
    finding, where it failed and `detail` the error."""
    import graphkit as gk
    from graphkit.cli.cmd_run import random_feeds
    from graphkit.cli.main import main as cli
    from graphkit.errors import GraphkitError
    from graphkit.summary import format_summary, summarize
    from refruntime import Session
    from refruntime.errors import RefRuntimeError

    ours = (GraphkitError, RefRuntimeError)
    path = os.path.join(workdir, "case.onnx")
    with open(path, "wb") as f:
        f.write(data)
    stage = "cli inspect"
    try:
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = cli(["inspect", path])
        lines = err.getvalue().strip().splitlines()
        if code not in (0, 2) or (code == 2 and len(lines) != 1):
            return False, stage, f"exit {code}, stderr {err.getvalue()!r}"

        stage = "gk.load"
        try:
            model = gk.load(path)
        except ours:
            model = None
        if model is not None:
            stage = "summarize"
            format_summary(summarize(model))
            stage = "gk.save"
            out = os.path.join(workdir, "saved.onnx")
            try:
                gk.save(model, out)
                stage = "gk.load (saved)"
                gk.load(out)
            except ours:
                pass
            simplify = _simplify() if with_simplify else None
            if simplify is not None:
                stage = "gk.simplify"
                try:
                    simplify(gk.load(path))
                except ours:
                    pass

        stage = "Session"
        try:
            session = Session(path, max_tensor_bytes=MAX_TENSOR_BYTES, max_loop_iterations=MAX_LOOP_ITERATIONS)
        except ours as exc:
            return True, f"Session refused ({type(exc).__name__})" if model is not None else "load refused", ""
        stage = "Session.run"
        try:
            feeds = random_feeds(session.input_specs, {}, 0)
        except ours:
            return True, "no random feeds", ""
        try:
            session.run(feeds)
        except ours as exc:
            return True, f"run refused ({type(exc).__name__})", ""
        return True, "ran", ""
    except Exception as exc:  # noqa: BLE001 - anything else is a finding
        tb = traceback.format_exc().strip().splitlines()
        where = next((line.strip() for line in reversed(tb) if line.strip().startswith("File ")), "")
        return False, stage, f"{type(exc).__name__}: {str(exc)[:300]} [{where}]"


def _worker(conn, with_simplify: bool) -> None:
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    except (ValueError, OSError):
        pass
    import warnings

    warnings.simplefilter("ignore")
    workdir = tempfile.mkdtemp(prefix="gk-fuzz-")
    while True:
        try:
            data = conn.recv()
        except EOFError:
            return
        if data is None:
            return
        try:
            result = run_pipeline(data, workdir, with_simplify)
        except MemoryError:
            result = (False, "?", "MemoryError escaped")
        conn.send(result)


class Runner:
    """A forked worker process that runs cases one at a time, restarted after a hang or crash."""

    def __init__(self, timeout: float = 20.0, with_simplify: bool = True):
        self.timeout = timeout
        self.outcomes: Counter = Counter()  # how far the cases that behaved got
        self.with_simplify = with_simplify
        self._ctx = mp.get_context("fork")
        self._proc = None
        self._conn = None

    def _start(self):
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_worker, args=(child, self.with_simplify), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def check(self, data: bytes) -> tuple[str, str] | None:
        """None if the case behaved, else (stage, error)."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
        self._conn.send(data)
        if self._conn.poll(self.timeout):
            try:
                behaved, stage, detail = self._conn.recv()
            except EOFError:
                pass
            else:
                if behaved:
                    self.outcomes[stage] += 1
                    return None
                return stage, detail
        else:
            self._kill()
            return "?", f"timeout: no answer within {self.timeout:.0f} s (hang)"
        code = self._proc.exitcode if self._proc is not None else None
        self._kill()
        return "?", f"worker died (exit code {code}; a negative code is the signal: segfault, OOM kill)"

    def _kill(self):
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
        self._proc = None

    def close(self):
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(5)
            except (OSError, EOFError):
                pass
            self._kill()


def cases(seed: int, count: int | None, seeds: dict[str, bytes] | None = None):
    """Yield (label, bytes) deterministically from `seed` (count=None: forever). After one case per
    seed, half the cases come from the models built in code (the families among them), half from
    the onnx package's files, which outnumber them."""
    seeds = seeds or all_seeds()
    names = sorted(seeds)
    built = [n for n in names if "/" not in n or n.startswith("family/")]
    files = [n for n in names if n not in built]
    i = 0
    while count is None or i < count:
        rng = random.Random(seed * 1_000_003 + i)
        if i < len(names):
            name = names[i]
        else:
            name = rng.choice(built if built and (not files or rng.random() < 0.5) else files)
        data, what = mutate(seeds[name], rng)
        yield f"{name} #{i} (seed {seed}): {what}", data
        i += 1


# -- the CLI in subprocesses -----------------------------------------------------------------------
CLI_TIMEOUT = 20.0   # `--timeout` given to run/verify: a tiny model never needs more
CLI_BOUND = 120.0    # seconds any command may take (the subprocess's timeout); past it: a finding


def cli_commands(timeout: float = CLI_TIMEOUT) -> dict[str, list[str]]:
    """{name: graphkit arguments} of the commands the fuzzer drives; {model} is the case's file,
    {out} an .onnx file in the case's folder {work}. `convert` joins when graphkit has it."""
    import importlib.util

    t = f"{timeout:g}"
    commands = {
        "inspect": ["inspect", "{model}", "--show", "io,nodes,tensors,weights"],
        "inspect --json": ["inspect", "{model}", "--show", "io,nodes,tensors,weights", "--json"],
        "simplify": ["simplify", "{model}", "-o", "{out}"],
        "run": ["run", "{model}", "--timeout", t],
        "run --no-strict": ["run", "{model}", "--no-strict", "--timeout", t],  # what onnx's checks would stop
        "verify": ["verify", "{model}", "--timeout", t],
        "verify --per-node": ["verify", "{model}", "--per-node", "--timeout", t],
        "quantize": ["quantize", "{model}", "-o", "{out}", "--random", "2"],
    }
    if importlib.util.find_spec("graphkit.cli.cmd_convert") is not None:
        commands["convert"] = ["convert", "{model}", "--to", "tflite", "-o", "{work}/out.tflite"]
    return commands


def cli_finding(code: int, stderr: str) -> str | None:
    """What is wrong with a command's answer (None: it behaved). Behaving is exit 0 (ok), 1 (a check
    failed) or 2 (bad input: exactly one line on stderr, graphkit's), and never a traceback."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if "Traceback (most recent call last)" in stderr:
        return f"exit {code} with a traceback: {lines[-1][:300] if lines else ''}"
    if code < 0:
        return f"killed by signal {-code} ({_signal_name(-code)})"
    if code not in (0, 1, 2):
        return f"exit {code}: {' | '.join(lines)[-300:]}"
    if code == 2 and len(lines) != 1:
        return f"exit 2 with {len(lines)} stderr lines: {' | '.join(lines)[:300]}"
    if code == 2 and not lines[0].startswith("graphkit"):
        return f"exit 2 with a line that is not graphkit's: {lines[0][:300]}"
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "?"


def _graphkit_argv() -> list[str]:
    """The installed entry point next to this interpreter, else the same main() through -c."""
    script = os.path.join(os.path.dirname(sys.executable), "graphkit")
    if os.path.isfile(script):
        return [script]
    return [sys.executable, "-c", "import sys; from graphkit.cli.main import main; sys.exit(main(sys.argv[1:]))"]


def _limit_address_space(pid: int) -> None:
    """RLIMIT_AS of a child just started (prlimit: no preexec_fn, which is unsafe with threads)."""
    import resource

    try:
        resource.prlimit(pid, resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    except (ValueError, OSError, AttributeError):
        pass


class CliRunner:
    """Runs `graphkit <command>` on a case in a subprocess of its own (fresh folder, address-space
    limit, `bound` seconds) and judges the answer with `cli_finding`."""

    def __init__(self, bound: float = CLI_BOUND, commands: dict[str, list[str]] | None = None):
        self.bound = bound
        self.commands = commands or cli_commands()
        self.outcomes: Counter = Counter()   # "command: exit N (ErrorType)" of the answers that behaved
        self.slow: list[tuple[str, str]] = []  # (command, line) of runs stopped by --timeout
        self.seconds: Counter = Counter()    # wall time per command
        self._argv = _graphkit_argv()

    def check(self, data: bytes, command: str) -> tuple[str, str] | None:
        """None if `graphkit <command>` behaved on the model `data`, else (stage, what went wrong)."""
        import time

        with tempfile.TemporaryDirectory(prefix="gk-fuzz-cli-") as work:
            model = os.path.join(work, "case.onnx")
            with open(model, "wb") as f:
                f.write(data)
            argv = [a.format(model=model, out=os.path.join(work, "out.onnx"), work=work)
                    for a in self.commands[command]]
            start = time.perf_counter()
            proc = subprocess.Popen([*self._argv, *argv], cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
            _limit_address_space(proc.pid)
            try:
                _, err = proc.communicate(timeout=self.bound)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                self.seconds[command] += time.perf_counter() - start
                return f"cli {command}", f"no answer within {self.bound:g} s"
            self.seconds[command] += time.perf_counter() - start
        stderr = err.decode("utf-8", "replace")
        problem = cli_finding(proc.returncode, stderr)
        if problem is not None:
            return f"cli {command}", problem
        outcome = f"{command}: exit {proc.returncode}"
        if proc.returncode == 2:
            line = stderr.strip()
            kind = line.split(": ")[1] if line.count(": ") >= 2 else "usage"
            outcome += f" ({kind})"
            if "max_seconds=" in line:
                self.slow.append((command, line[:300]))
        self.outcomes[outcome] += 1
        return None


# -- random small graphs (for hypothesis) ----------------------------------------------------------
# op -> (number of inputs, {attribute: plausible values}); values of other types are mixed in too
OP_MENU = {
    "Conv": (2, {"pads": [[0, 0, 0, 0], [1, 1, 1, 1], [-1, 0, 0, 0], [9, 9, 9, 9]], "strides": [[1, 1], [2, 2], [0, 1]],
                 "dilations": [[1, 1], [2, 2], [0, 1]], "group": [1, 2, 0, -1], "kernel_shape": [[1, 1], [3, 3], [5]],
                 "auto_pad": [b"SAME_UPPER", b"VALID", b"NOTSET", b"bogus"]}),
    "ConvTranspose": (2, {"pads": [[0, 0, 0, 0], [2, 2, 2, 2]], "strides": [[1, 1], [3, 3], [0, 0]],
                          "output_padding": [[0, 0], [1, 1], [5, 5]], "output_shape": [[4, 4], [1, 1], [0, 0]],
                          "group": [1, 2]}),
    "MaxPool": (1, {"kernel_shape": [[2, 2], [1, 1], [0, 0], [9, 9]], "pads": [[0, 0, 0, 0], [1, 1, 1, 1], [5, 5, 5, 5]],
                    "strides": [[1, 1], [2, 2], [0, 0]], "ceil_mode": [0, 1], "dilations": [[1, 1], [2, 2]]}),
    "AveragePool": (1, {"kernel_shape": [[2, 2], [3, 3], [0, 1]], "pads": [[0, 0, 0, 0], [2, 2, 2, 2]],
                        "count_include_pad": [0, 1], "ceil_mode": [0, 1], "strides": [[1, 1], [0, 1]]}),
    "GlobalAveragePool": (1, {}), "GlobalMaxPool": (1, {}),
    "BatchNormalization": (5, {"epsilon": [1e-5, -1.0, 0.0]}),
    "LRN": (1, {"size": [1, 3, 0, -1, 100], "alpha": [1e-4], "beta": [0.75]}),
    "Gemm": (2, {"transA": [0, 1], "transB": [0, 1], "alpha": [1.0, 0.0]}),
    "MatMul": (2, {}),
    "Softmax": (1, {"axis": [-1, 0, 1, 5, -9]}), "LogSoftmax": (1, {"axis": [-1, 3]}), "Hardmax": (1, {"axis": [1, 7]}),
    "Relu": (1, {}), "Clip": (3, {}), "LeakyRelu": (1, {"alpha": [0.1]}), "PRelu": (2, {}),
    "Reshape": (2, {"allowzero": [0, 1]}), "Transpose": (1, {"perm": [[0, 1, 2, 3], [3, 2, 1, 0], [0, 0, 1, 2], [9]]}),
    "Concat": (2, {"axis": [0, 1, -1, 9]}), "Split": (1, {"axis": [0, 1, 7]}), "Slice": (3, {}),
    "Gather": (2, {"axis": [0, 1, -5]}), "Flatten": (1, {"axis": [0, 1, 9]}), "Squeeze": (2, {}), "Unsqueeze": (2, {}),
    "Pad": (2, {"mode": [b"constant", b"reflect", b"edge", b"wrap", b"nope"]}),
    "Resize": (3, {"mode": [b"nearest", b"linear", b"cubic", b"bogus"]}),
    "Expand": (2, {}), "Tile": (2, {}), "ReduceSum": (2, {"keepdims": [0, 1]}), "ReduceMean": (1, {"axes": [[0], [9]]}),
    "TopK": (2, {"axis": [-1, 0, 9], "largest": [0, 1]}), "ArgMax": (1, {"axis": [0, 9]}), "Einsum": (2, {"equation": [b"ij,jk->ik", b"i,j->ij", b"??"]}),
    "Cast": (1, {"to": [1, 7, 9, 999, 0]}), "Where": (3, {}), "Add": (2, {}), "Mul": (2, {}), "Div": (2, {}),
    "Range": (3, {}), "ConstantOfShape": (1, {}), "OneHot": (3, {"axis": [-1, 0]}), "NonZero": (1, {}),
    "DepthToSpace": (1, {"blocksize": [2, 0, -1]}), "SpaceToDepth": (1, {"blocksize": [2, 0]}),
    "InstanceNormalization": (3, {"epsilon": [1e-5]}), "CumSum": (2, {}), "GatherElements": (2, {"axis": [0]}),
}


def random_graph_model(draw_int, draw_choice, draw_float) -> onnx.ModelProto:
    """A small random model; `draw_*` come from hypothesis (or a random.Random in tools)."""
    f32 = np.float32
    inits = []
    shape = [draw_choice([1, 2]), draw_choice([1, 2, 4]), draw_choice([1, 3, 4]), draw_choice([1, 4, 5])]
    inputs = [_vi("x", shape=shape)]
    available = ["x"]
    nodes = []
    for k in range(draw_int(1, 3)):
        op = draw_choice(sorted(OP_MENU))
        n_in, attr_menu = OP_MENU[op]
        names = []
        for j in range(n_in):
            if j == 0 or draw_int(0, 2) == 0:
                names.append(draw_choice(available))
                continue
            kind = draw_int(0, 4)
            dims = [draw_choice([0, 1, 2, 3, 4]) for _ in range(draw_int(0, 4))]
            name = f"c{k}_{j}"
            if kind == 0:
                inits.append(_const(name, np.full(dims, draw_float(), f32)))
            elif kind == 1:
                inits.append(_const(name, np.array([draw_choice([-2, -1, 0, 1, 2, 3, 4, 10**4])
                                                    for _ in range(draw_int(0, 5))], np.int64)))
            elif kind == 2:
                inits.append(_const(name, np.array(draw_choice([0, 1, 2, -1, 10**4]), np.int64)))
            elif kind == 3:
                inits.append(_const(name, np.full(dims, draw_choice([True, False]))))
            else:
                name = ""
            names.append(name)
        attrs = {}
        for attr, values in attr_menu.items():
            if draw_int(0, 2):
                attrs[attr] = draw_choice(values)
        if draw_int(0, 9) == 0:  # sometimes a wrong type
            attrs[draw_choice(sorted(attr_menu) or ["axis"])] = draw_choice(["s", 1.5, [1, 2], 3])
        out = f"v{k}"
        outs = [out] + ([f"v{k}_b"] if op in ("TopK", "Split", "MaxPool") and draw_int(0, 1) else [])
        nodes.append(helper.make_node(op, names, outs, **attrs))
        available.append(out)
    outputs = [_vi(available[-1], shape=None)]
    return _model(nodes, inputs, outputs, inits, opset=draw_choice([13, 17, 18, 21]))
