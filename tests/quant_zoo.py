"""A quantized test-model zoo, built in code: tiny torch models exported to ONNX and quantized with
onnxruntime.quantization the way users do it.

    from tests import quant_zoo
    for name, path, float_path, kind in quant_zoo.models():        # everything that built
        ...
    @pytest.mark.parametrize("name", quant_zoo.names(kind="qdq"))   # static: no build at collection
    def test_x(name):
        m = quant_zoo.get(name)                                     # builds the zoo once (cached)
        feeds = quant_zoo.feeds(name, seed=0)
    quant_zoo.unavailable()                                         # [(name, reason)]: did not build

The matrix (`specs()`): three float models (a residual CNN with BatchNorm, an MLP, an LSTM), each
exported by the TorchScript exporter (`dynamo=False`) at opsets 13, 17 and 21, and quantized from it:

  float                  the export itself (the CNN's BatchNormalizations kept: the exporter's constant
                         folding, which would fold them into the Convs, is off for it)
  qdq_{u8,s8}s8_{tensor,channel}   quantize_static, QDQ format, u8 or s8 activations, s8 weights,
                         per-tensor or per-channel weight scales
  qop_{u8,s8}s8_{tensor,channel}   quantize_static, QOperator format (QLinearConv, com.microsoft QGemm, ...)
  dynamic_u8{s8,u8}      quantize_dynamic (MLP, LSTM), s8 or u8 weights (activations are always u8)
  qdq_u8s8_tensor_nopre  CNN only: quantize_static without quant_pre_process first (what users who
                         skip it get: BatchNormalization stays, quantized on its own, ORT warns)
  qdq_s8u8_tensor        attempted to record that onnxruntime refuses it (s8 activations, u8 weights)

Static models are calibrated (MinMax) on 8 seeded random inputs, after `quant_pre_process` (ORT's
recommended step: symbolic shape inference and basic graph optimizations, which fold BN into Conv).
A combination that cannot be built is not hidden: the build records the exception as the reason
(`unavailable()`), and `REFUSED` says which ones are expected to fail and why
(tests/refruntime/test_quantized_zoo_builds.py checks that the two agree). `notes(name)` lists what
is partial about a model that did build (e.g. the LSTM op of a static model stays float).

Everything is written once under tempfile.gettempdir()/graphkit-quant-zoo-<hash>, where the hash
covers this file and the torch/onnx/onnxruntime versions; later sessions reuse it (a manifest is
written last; concurrent builders each build aside and the first to rename wins).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

ARCHS = ("cnn", "mlp", "lstm")
OPSETS = (13, 17, 21)
INPUT_NAME, OUTPUT_NAME = "x", "y"
INPUT_SHAPES = {"cnn": (1, 3, 16, 16), "mlp": (1, 16), "lstm": (1, 5, 8)}
CALIBRATION_SAMPLES = 8


class ZooModel(NamedTuple):
    name: str          # e.g. "cnn_op17_qdq_u8s8_channel"
    path: str          # the .onnx file
    float_path: str    # the float model it was quantized from (== path for kind "float")
    kind: str          # "float" | "qdq" | "qoperator" | "dynamic"


@dataclass(frozen=True)
class Spec:
    """One cell of the matrix: how the model is (to be) built."""
    name: str
    arch: str
    opset: int
    kind: str
    activation: str | None = None   # "u8" | "s8" (static); dynamic activations are u8 at run time
    weight: str | None = None       # "s8" | "u8"
    per_channel: bool = False
    preprocess: bool = True         # quant_pre_process before quantizing

    @property
    def input_shape(self) -> tuple[int, ...]:
        return INPUT_SHAPES[self.arch]


# Combinations tried on purpose that the tools refuse: variant -> (substring of the error, why).
REFUSED = {
    "qdq_s8u8_tensor": ("doesn't support data format",
                        ("onnxruntime.quantization refuses activation_type=QInt8 with weight_type=QUInt8 "
                         "(check_static_quant_arguments: ValueError)")),
}

# What is partial about models that build (keyed by predicate over the spec); `notes(name)` applies them.
_NOTES = (
    (lambda s: s.arch == "lstm" and s.kind in ("qdq", "qoperator"),
     ("the LSTM op stays float: ORT's static quantizer has no QDQ or QLinear LSTM; only the output "
      "Linear (a Gemm after quant_pre_process) is quantized")),
    (lambda s: s.opset == 21,
     ("exported at opset 21 by the TorchScript exporter, which supports up to opset 20 and warns "
      "(OnnxExporterWarning); it stamps opset 21 on the same ops (none of them changed meaning in 21); "
      "onnx.checker (full_check) and ORT accept it")),
    (lambda s: s.arch == "cnn" and s.kind in ("qdq", "qoperator") and s.preprocess,
     "quant_pre_process folded BatchNormalization into Conv before quantization"),
    (lambda s: s.arch == "cnn" and s.kind == "qdq",
     "the QDQ quantizer removed the Relus that follow a Conv/Add (the Q after them clips to >= 0)"),
    (lambda s: s.kind == "qoperator" and s.activation == "s8",
     "ORT warns: s8 activations with s8 weights are slow in QOperator format on x64 (QDQ advised)"),
    (lambda s: not s.preprocess,
     "no quant_pre_process: BatchNormalization stays and is quantized on its own; ORT warns"),
)


def _variants(arch: str) -> list[dict]:
    out = [{"variant": "float", "kind": "float"}]
    for fmt, kind in (("qdq", "qdq"), ("qop", "qoperator")):
        for act in ("u8", "s8"):
            for per_channel in (False, True):
                out.append({"variant": f"{fmt}_{act}s8_{'channel' if per_channel else 'tensor'}", "kind": kind,
                            "activation": act, "weight": "s8", "per_channel": per_channel})
    if arch in ("mlp", "lstm"):
        for w in ("s8", "u8"):
            out.append({"variant": f"dynamic_u8{w}", "kind": "dynamic", "weight": w})
    if arch == "cnn":
        out.append({"variant": "qdq_u8s8_tensor_nopre", "kind": "qdq", "activation": "u8", "weight": "s8",
                    "preprocess": False})
    out.append({"variant": "qdq_s8u8_tensor", "kind": "qdq", "activation": "s8", "weight": "u8"})
    return out


@functools.cache
def _matrix() -> dict[str, Spec]:
    specs = {}
    for arch in ARCHS:
        for opset in OPSETS:
            for v in _variants(arch):
                v = dict(v)
                name = f"{arch}_op{opset}_{v.pop('variant')}"
                specs[name] = Spec(name=name, arch=arch, opset=opset, **v)
    return specs


def specs() -> list[Spec]:
    """Every combination attempted, including the ones expected to be refused."""
    return list(_matrix().values())


def spec(name: str) -> Spec:
    return _matrix()[name]


def expected_refusal(name: str) -> tuple[str, str] | None:
    """(error substring, why) if this combination is expected not to build."""
    return REFUSED.get(name.split("_", 2)[2])


def names(kind: str | None = None, arch: str | None = None, opset: int | None = None) -> list[str]:
    """Names expected to build (no build needed: use it to parametrize at collection time)."""
    return [s.name for s in specs() if expected_refusal(s.name) is None
            and (kind is None or s.kind == kind) and (arch is None or s.arch == arch)
            and (opset is None or s.opset == opset)]


def notes(name: str) -> list[str]:
    s = spec(name)
    return [text for applies, text in _NOTES if applies(s)]


def models(kind: str | None = None) -> list[ZooModel]:
    """Every model that built: (name, path, float_path, kind)."""
    return [m for m in _built()["models"] if kind is None or m.kind == kind]


def get(name: str) -> ZooModel:
    """The built model; a combination that did not build raises with the recorded reason."""
    built = _built()
    for m in built["models"]:
        if m.name == name:
            return m
    reason = dict(built["unavailable"]).get(name)
    raise LookupError(f"quant zoo: {name} did not build: {reason}" if reason else f"quant zoo: no model {name}")


def unavailable() -> list[tuple[str, str]]:
    """(name, reason) of every combination attempted that did not build."""
    return list(_built()["unavailable"])


def build_seconds() -> float:
    """How long the build that produced the cache took (0 reads it from the cache)."""
    return _built()["seconds"]


def feeds(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for the model (standard normal: the calibration distribution)."""
    shape = spec(name).input_shape
    return {INPUT_NAME: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


def zoo_dir() -> str:
    return os.path.join(tempfile.gettempdir(), f"graphkit-quant-zoo-{_key()}")


# -- building -------------------------------------------------------------------------------------
@functools.cache
def _key() -> str:
    from importlib.metadata import version  # not the imports: torch alone takes a second

    h = hashlib.sha256()
    with open(__file__, "rb") as f:
        h.update(f.read())
    h.update(" ".join(version(p) for p in ("torch", "onnx", "onnxruntime", "numpy")).encode())
    return h.hexdigest()[:12]


@functools.cache
def _built() -> dict:
    root = zoo_dir()
    manifest = os.path.join(root, "manifest.json")
    if not os.path.exists(manifest):
        _build_into(root)
    with open(manifest) as f:
        data = json.load(f)
    return {"models": [ZooModel(m["name"], os.path.join(root, m["path"]), os.path.join(root, m["float_path"]),
                                m["kind"]) for m in data["models"]],
            "unavailable": [tuple(u) for u in data["unavailable"]], "seconds": data["seconds"]}


def _build_into(root: str) -> None:
    """Build everything in a private folder, then rename it to `root` (atomic; a concurrent
    builder that finished first wins and ours is discarded)."""
    work = tempfile.mkdtemp(prefix=os.path.basename(root) + ".building-", dir=os.path.dirname(root))
    os.chmod(work, 0o755)  # mkdtemp's 0700 would hide the cache from other users of the machine
    try:
        start = time.perf_counter()
        built, refused = _build_all(work)
        data = {"models": built, "unavailable": refused, "seconds": round(time.perf_counter() - start, 3)}
        with open(os.path.join(work, "manifest.json"), "w") as f:
            json.dump(data, f, indent=1)
        try:
            os.rename(work, root)
        except OSError:
            if not os.path.exists(os.path.join(root, "manifest.json")):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_all(work: str) -> tuple[list[dict], list[list[str]]]:
    import logging

    built, refused = [], []
    steps: dict[str, tuple[str, str]] = {}  # shared intermediate file -> (path, error)
    root_logger = logging.getLogger()  # onnxruntime.quantization warns on the root logger (see _NOTES)
    level = root_logger.level
    root_logger.setLevel(logging.ERROR)
    try:
        for s in specs():
            try:
                stem = f"{s.arch}_op{s.opset}"
                fp = _once(steps, work, f"{stem}_float.onnx", lambda p, s=s: _export(s.arch, s.opset, p))
                out = src = fp
                if s.kind != "float":
                    if s.preprocess:
                        src = _once(steps, work, f"{stem}_pre.onnx", lambda p, fp=fp: _preprocess(fp, p))
                    out = os.path.join(work, f"{s.name}.onnx")
                    _quantize(s, src, out)
                built.append({"name": s.name, "path": os.path.basename(out), "float_path": os.path.basename(fp),
                              "kind": s.kind})
            except Exception as exc:  # noqa: BLE001 - a combination that does not build is recorded
                refused.append([s.name, _reason(exc)])
    finally:
        root_logger.setLevel(level)
    return built, refused


class _StepFailed(RuntimeError):
    pass


def _once(steps: dict, work: str, filename: str, make) -> str:
    """`make(path)` the first time `filename` is needed; a failure is remembered and re-raised."""
    if filename not in steps:
        path = os.path.join(work, filename)
        try:
            make(path)
            steps[filename] = (path, "")
        except Exception as exc:  # noqa: BLE001 - every model built from it is unavailable, with this reason
            steps[filename] = (path, _reason(exc))
    path, error = steps[filename]
    if error:
        raise _StepFailed(f"{filename} did not build: {error}")
    return path


def _reason(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:500]


def _torch_module(arch: str):
    import torch
    from torch import nn

    class ResidualCNN(nn.Module):
        """Conv-BN-Relu, Conv-BN + residual Add, Relu, MaxPool, GlobalAveragePool, Linear."""

        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16)
            self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)) + y)
            y = nn.functional.adaptive_avg_pool2d(self.pool(y), 1).flatten(1)
            return self.fc(y)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 10)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    class LSTMHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16, batch_first=True)
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            return self.fc(self.lstm(x)[0])

    torch.manual_seed(0)
    module = {"cnn": ResidualCNN, "mlp": MLP, "lstm": LSTMHead}[arch]()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, or BN would be an identity
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return module.eval()


def _export(arch: str, opset: int, path: str) -> None:
    import torch

    module = _torch_module(arch)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(INPUT_SHAPES[arch]).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and opset-21 warnings (see _NOTES)
        # do_constant_folding=False keeps BatchNormalization as its own node (the exporter's
        # eval-mode constant folding would fold it into the Conv before anyone sees it)
        torch.onnx.export(module, (x,), path, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], do_constant_folding=arch != "cnn")


def _preprocess(src: str, dst: str) -> None:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(src, dst)


def _quantize(s: Spec, src: str, out: str) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    qtype = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    if s.kind == "dynamic":
        quantize_dynamic(src, out, weight_type=qtype[s.weight], per_channel=s.per_channel)
        return
    class Calibration(CalibrationDataReader):
        """CALIBRATION_SAMPLES seeded standard-normal inputs (MinMax reads them once)."""

        def __init__(self, shape: tuple[int, ...], seed: int = 0):
            rng = np.random.default_rng(seed)
            self.batches = iter([{INPUT_NAME: rng.standard_normal(shape).astype(np.float32)}
                                 for _ in range(CALIBRATION_SAMPLES)])

        def get_next(self):
            return next(self.batches, None)

    reader = Calibration(s.input_shape)
    quantize_static(src, out, reader, quant_format=QuantFormat.QDQ if s.kind == "qdq" else QuantFormat.QOperator,
                    per_channel=s.per_channel, activation_type=qtype[s.activation], weight_type=qtype[s.weight])
