"""Convert an ONNX model to a TensorFlow SavedModel or a TFLite flatbuffer (graph.py's mapping).

    result = to_saved_model("model.onnx", "model_tf")        # a folder; signature "serving_default"
    result = to_tflite("model.onnx", "model.tflite")          # builtin ops only, float32
    print(result.summary())

Both keep the ONNX model's interface: inputs and outputs in ONNX's layout (NCHW stays NCHW at the
boundary; channels-last lives inside), open dims open (or fixed with `shapes`), signature keys
named after the ONNX names (characters other than letters, digits and _ become _;
`result.inputs` / `result.outputs` map ONNX names to keys). The SavedModel folder also holds
`assets.extra/graphkit.json` with that mapping. Writes are atomic: a folder is built beside the
destination and renamed into place, a .tflite file is written to a temporary name first.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import onnx

from graphkit.atomic import atomic_open
from graphkit.convert.tfenv import ConversionError, quiet_native
from graphkit.errors import UsageError
from graphkit.proto_files import load_whole_proto

FORMATS = ("tf", "tflite")
NAMES_FILE = os.path.join("assets.extra", "graphkit.json")


@dataclass
class ConversionResult:
    path: str
    format: str                        # "tf" (SavedModel folder) or "tflite"
    inputs: dict[str, str]             # ONNX input name -> signature key
    outputs: dict[str, str]            # ONNX output name -> signature key
    seconds: float
    bytes: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        what = "SavedModel" if self.format == "tf" else "TFLite model"
        renamed = {k: v for k, v in {**self.inputs, **self.outputs}.items() if k != v}
        line = f"{what} written to {self.path} ({self.bytes / 2**20:.1f} MiB, {self.seconds:.1f} s)"
        if renamed:
            line += "; signature keys: " + ", ".join(f"{k} -> {v}" for k, v in renamed.items())
        return line

    def to_json(self) -> dict:
        return {"path": self.path, "format": self.format, "inputs": self.inputs, "outputs": self.outputs,
                "seconds": self.seconds, "bytes": self.bytes, "notes": self.notes}


def convert(model, to: str, output: str | os.PathLike, shapes: dict | None = None) -> ConversionResult:
    """`to`: "tf" (a SavedModel folder) or "tflite" (a .tflite file)."""
    if to not in FORMATS:
        raise UsageError(f"unknown format {to!r}; choose from {', '.join(FORMATS)}")
    return (to_saved_model if to == "tf" else to_tflite)(model, output, shapes=shapes)


def to_saved_model(model, out_dir: str | os.PathLike, shapes: dict | None = None) -> ConversionResult:
    """Write `model` (a path, a ModelProto or a graphkit Model) as a SavedModel folder."""
    from graphkit.convert.graph import TFGraph

    start = time.perf_counter()
    out_dir = os.fspath(out_dir)
    _check_folder(out_dir)
    proto = load_proto(model)
    graph = TFGraph(proto, target="tf")
    tf = graph.tf
    module, keys = saved_model_module(graph, shapes)
    parent = os.path.dirname(os.path.abspath(out_dir))
    staging = tempfile.mkdtemp(prefix=".graphkit-savedmodel-", dir=parent)
    try:
        with quiet_native():
            tf.saved_model.save(module, staging, signatures={"serving_default": module.serve})
        names = {"source": _source(model), "inputs": {s.name: s.key for s in graph.inputs}, "outputs": keys,
                 "layout": "inputs and outputs in the ONNX model's layout"}
        os.makedirs(os.path.join(staging, "assets.extra"), exist_ok=True)
        with open(os.path.join(staging, NAMES_FILE), "w", encoding="utf-8") as f:
            json.dump(names, f, indent=2)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ConversionResult(out_dir, "tf", names["inputs"], keys, time.perf_counter() - start, _size(out_dir))


def saved_model_module(graph, shapes: dict | None = None):
    """(a tf.Module whose `serve` is the converted graph's concrete function, {output: key})."""
    tf = graph.tf
    fn, keys = graph.function(shapes=shapes)
    module = tf.Module()
    with quiet_native():
        module.serve = fn.get_concrete_function()
    module.weights = list(graph.variables.values())  # tracked: saved under variables/
    return module, keys


def to_tflite(model, out_path: str | os.PathLike, shapes: dict | None = None) -> ConversionResult:
    """Write `model` as a float32 .tflite file with TFLite's builtin ops only (no Flex ops: it runs
    with the plain LiteRT runtime on phones)."""
    from graphkit.convert.graph import TFGraph

    start = time.perf_counter()
    out_path = os.fspath(out_path)
    if os.path.isdir(out_path):
        raise UsageError(f"-o {out_path} is a folder; give a .tflite file")
    parent = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(parent):
        raise UsageError(f"-o {out_path}: folder {parent} does not exist")
    proto = load_proto(model)
    graph = TFGraph(proto, target="tflite")
    content, keys = tflite_bytes(graph, shapes=shapes)
    with atomic_open(out_path, "wb") as f:
        f.write(content)
    return ConversionResult(out_path, "tflite", {s.name: s.key for s in graph.inputs}, keys,
                            time.perf_counter() - start, len(content), list(graph.notes))


def tflite_bytes(graph, outputs: list[str] | None = None, shapes: dict | None = None) -> tuple[bytes, dict]:
    """(the flatbuffer, {ONNX name: signature output key}) of `graph` (a TFGraph of target
    "tflite"), for its outputs or for `outputs`."""
    tf = graph.tf
    fn, keys = graph.function(outputs=outputs, shapes=shapes)
    try:
        with quiet_native():
            concrete = fn.get_concrete_function()
            holder = tf.Module()
            holder.weights = list(graph.variables.values())  # frozen into the flatbuffer
            converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            content = converter.convert()
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError with MLIR diagnostics
        raise ConversionError(f"TFLite converter: {_converter_message(graph, exc)}") from None
    return content, keys


def load_proto(model) -> onnx.ModelProto:
    """A ModelProto with its weights, from a path, a ModelProto or a graphkit Model."""
    return load_whole_proto(model)[0]


def _check_folder(out_dir: str) -> None:
    if os.path.isfile(out_dir):
        raise UsageError(f"-o {out_dir} is a file; a SavedModel is a folder")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not os.path.isfile(os.path.join(out_dir, "saved_model.pb")):
        raise UsageError(f"-o {out_dir} is a folder with other files in it; give a new, empty or SavedModel folder")
    parent = os.path.dirname(os.path.abspath(out_dir))
    if not os.path.isdir(parent):
        raise UsageError(f"-o {out_dir}: folder {parent} does not exist")


def _source(model) -> str | None:
    return os.fspath(model) if isinstance(model, (str, os.PathLike)) else None


def _size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def _converter_message(graph, exc: Exception) -> str:
    """The converter's diagnostics in one line: the ops TFLite lacks and the ONNX nodes they came
    from (their name scopes are the nodes' labels)."""
    import re

    from graphkit.convert.graph import _scope

    text = str(exc)
    scopes = {_scope(info.label): info for info in graph.nodes}
    nodes = []
    for scope in re.findall(r'"([^"@/]+)/[^"@]*@', text):
        info = scopes.get(scope)
        if info is not None and info.label not in nodes:
            nodes.append(info.label)
    missing = re.search(r"(TF Select ops|Flex ops): ([^\n]+)", text)
    if missing:
        where = f" (from node(s) {', '.join(repr(n) for n in nodes[:6])})" if nodes else ""
        return f"no TFLite builtin for {missing.group(2).strip()}{where}"
    first = next((line.strip() for line in text.splitlines() if "error:" in line), text.strip().splitlines()[0])
    where = f" at node {nodes[0]!r}" if nodes else ""
    return f"{first[:300]}{where}"
