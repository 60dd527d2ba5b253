"""`gk.quantize`: onnxruntime.quantization driven the recommended way, with the accuracy cost measured.

    report = gk.quantize("model.onnx", "model.q.onnx", calibration="calib.npz", verify=True)
    report = gk.quantize("model.onnx", "model.q.onnx", calibration=64)            # random samples
    report = gk.quantize("mlp.onnx", "mlp.q.onnx", dynamic=True)
    print(report.table()); report.to_dict()

Steps: load the model (external data through refruntime's safety checks), validate the calibration
samples against its inputs, `quant_pre_process` (see PREPROCESS), `quantize_static` with a
CalibrationDataReader over the samples (MinMax) or `quantize_dynamic`, save with `gk.save`
(atomic), and with `verify=True` measure the accuracy cost on onnxruntime and refruntime
(accuracy.py). The input is never overwritten. onnxruntime's log messages are collected into
`report.notes` instead of being printed.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shlex
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import onnx

from graphkit.errors import GraphkitError, UsageError
from graphkit.proto_files import load_whole_proto
from graphkit.quantization import accuracy
from graphkit.quantization.calibration import check_shapes, load_samples, random_samples, reader

FORMATS = ("qdq", "qoperator")
TYPES = ("u8", "s8")
#: full: symbolic + ONNX shape inference and onnxruntime's basic graph optimizations (what ORT's
#:       docs recommend: Conv+BatchNormalization folded, so the Conv is quantized with BN's scale
#:       inside it instead of a float BN between a DequantizeLinear and a QuantizeLinear);
#: shapes: shape inference only (`skip_optimization`: every float node keeps its name);
#: none: the model as given (ORT warns; kept so that a model the pre-processor rejects can still go)
PREPROCESS = ("full", "shapes", "none")
VERIFY_SAMPLES = 64
_QUANT_TYPE = {"u8": "QUInt8", "s8": "QInt8"}


class QuantizationError(GraphkitError):
    """onnxruntime.quantization refused or failed on the model: the step and its error, one line."""


@dataclass
class QuantizeReport:
    """What was done, and (with verify) what it cost. `to_dict()` keys are documented in
    docs/quantization.md."""

    model: str
    output: str
    mode: str                      # "static" | "dynamic"
    format: str | None             # "qdq" | "qoperator" (static); None for dynamic
    per_channel: bool
    activation_type: str           # "u8" | "s8" (dynamic: always u8, computed at run time)
    weight_type: str
    op_types: list[str] | None
    preprocess: str
    preprocessed: str | None       # where the pre-processed float model was saved, if asked
    calibration: dict | None       # {source, path, samples, seed, method} (static)
    ops_before: dict[str, int]
    ops_after: dict[str, int]
    seconds: dict[str, float]
    per_layer_command: str
    notes: list[str] = field(default_factory=list)
    accuracy: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        if self.mode == "dynamic":
            how = f"dynamic, {self.weight_type} weights, u8 activations quantized at run time"
        else:
            how = (f"static {self.format.upper() if self.format == 'qdq' else 'QOperator'}, {self.activation_type} "
                   f"activations, {self.weight_type} weights")
        how += ", per-channel" if self.per_channel else ", per-tensor"
        lines = [f"quantized {self.model} -> {self.output} ({how})"]
        if self.op_types:
            lines.append(f"  op types: {', '.join(self.op_types)}")
        cal = self.calibration
        if cal:
            src = f"{cal['path']}" if cal["source"] == "file" else f"random, seeds {cal['seed']}..{cal['seed'] + cal['samples'] - 1}"
            lines.append(f"  calibration: {cal['method']} over {cal['samples']} samples ({src})")
        pre = {"full": "quant_pre_process (shape inference + onnxruntime basic optimizations)",
               "shapes": "quant_pre_process, shape inference only", "none": "none"}[self.preprocess]
        lines.append(f"  preprocess: {pre}" + (f"; saved to {self.preprocessed}" if self.preprocessed else ""))
        lines.append(f"  ops before: {_ops(self.ops_before)}")
        lines.append(f"  ops after:  {_ops(self.ops_after)}")
        lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        if self.accuracy is not None:
            lines.extend(accuracy.table(self.accuracy))
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append(f"per-layer quantization error: {self.per_layer_command}")
        return "\n".join(lines)


def _ops(counts: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(counts.items()))


def quantize(model, output: str | os.PathLike, *, calibration=None, format: str = "qdq",
             per_channel: bool = False, activation_type: str = "u8", weight_type: str = "s8",
             dynamic: bool = False, op_types: Sequence[str] | None = None, preprocess: str = "full",
             seed: int = 0, shapes: Mapping[str, Sequence[int]] | Sequence[str] | None = None,
             verify: bool = False, verify_samples: int = VERIFY_SAMPLES,
             save_preprocessed: str | os.PathLike | None = None) -> QuantizeReport:
    """Quantize `model` (a path, an onnx.ModelProto or a graphkit Model) into `output` (a path; never
    the input).

    calibration: static quantization's samples: an .npz path or {input: array} with a leading sample
        axis (calibration.py), or an int N for N seeded random samples (a smoke test). Required unless
        `dynamic`; with `dynamic` a file or dict only gives `verify` its samples.
    format: "qdq" (QuantizeLinear/DequantizeLinear around float ops; ORT's recommended format) or
        "qoperator" (QLinearConv, QGemm, ...). activation_type/weight_type: "u8" or "s8".
    dynamic: quantize_dynamic (weights quantized ahead, activations at run time; no calibration).
    op_types: only quantize these op types (default: every type onnxruntime can quantize).
    preprocess: "full", "shapes" or "none" (PREPROCESS). save_preprocessed: also write the
        pre-processed float model there (its value names match the quantized model's, Conv+BN fused).
    shapes: sizes of symbolic input dimensions for random samples ({name: dims} or ["NAME=D1,D2"]).
    verify: measure the accuracy cost (accuracy.py) on the calibration file's samples, or on
        `verify_samples` seeded random samples not used for calibration.
    Raises UsageError (bad arguments or calibration data), LoadError, QuantizationError.
    """
    _check_options(format, activation_type, weight_type, dynamic, preprocess, calibration, verify_samples)
    proto, src = load_whole_proto(model)
    out = _destination(output, src, "output")
    pre_out = _destination(save_preprocessed, src, "save_preprocessed") if save_preprocessed else None
    if pre_out is not None and pre_out == out:
        raise UsageError("save_preprocessed and output are the same file")
    shapes = _shapes(shapes)
    check_shapes(proto, shapes)
    wanted = _check_op_types(op_types, format, dynamic)
    samples = _samples(proto, calibration, seed, shapes)
    ops_before = _count_ops(proto)
    notes: list[str] = []
    if wanted:
        absent = sorted(set(wanted) - set(ops_before))
        if absent:
            notes.append(f"no node of type {', '.join(absent)} in the model")
    seconds = {}
    label = src or (proto.graph.name or "<model>")
    with tempfile.TemporaryDirectory(prefix="graphkit-quantize-") as tmp:
        float_path = os.path.join(tmp, "float.onnx")
        _save_proto(proto, float_path)
        start = time.perf_counter()
        source = _preprocess(float_path, os.path.join(tmp, "preprocessed.onnx"), preprocess, notes)
        seconds["preprocess"] = time.perf_counter() - start
        quant_path = os.path.join(tmp, "quantized.onnx")
        start = time.perf_counter()
        _run_quantizer(source, quant_path, samples, format=format, per_channel=per_channel,
                       activation_type=activation_type, weight_type=weight_type, dynamic=dynamic,
                       op_types=wanted, notes=notes)
        seconds["quantize"] = time.perf_counter() - start
        import graphkit as gk

        quantized = gk.load(quant_path)
        gk.save(quantized, out)
        if pre_out is not None:
            gk.save(gk.load(source), pre_out)
        q_proto = onnx.load(out)
    from graphkit.verification.quant_report import is_quantized

    if not is_quantized(q_proto):
        notes.append("no node was quantized: no op of a type onnxruntime quantizes"
                     + (f" among {', '.join(wanted)}" if wanted else "") + " (the output equals the float model)")
    _note_weight_types(q_proto, weight_type, notes)
    against = pre_out or src or "FLOAT.onnx"
    report = QuantizeReport(
        model=label, output=out, mode="dynamic" if dynamic else "static", format=None if dynamic else format,
        per_channel=per_channel, activation_type="u8" if dynamic else activation_type, weight_type=weight_type,
        op_types=wanted, preprocess=preprocess, preprocessed=pre_out, calibration=None,
        ops_before=ops_before, ops_after=_count_ops(q_proto), seconds=seconds, notes=notes,
        per_layer_command=f"graphkit verify {shlex.quote(out)} --against-model {shlex.quote(against)} "
                          f"--per-node --runtimes ort")
    if not dynamic:
        report.calibration = {"source": "random" if isinstance(calibration, int) else "file",
                              "path": os.fspath(calibration) if isinstance(calibration, (str, os.PathLike)) else None,
                              "samples": len(samples), "seed": seed if isinstance(calibration, int) else None,
                              "method": "MinMax"}
    if verify:
        start = time.perf_counter()
        report.accuracy = _measure(proto, q_proto, calibration, samples, dynamic, seed, shapes, verify_samples)
        seconds["verify"] = time.perf_counter() - start
    return report


# --- arguments ---------------------------------------------------------------------------------
def _check_options(format, activation_type, weight_type, dynamic, preprocess, calibration, verify_samples):
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; choose qdq or qoperator")
    for what, value in (("activation_type", activation_type), ("weight_type", weight_type)):
        if value not in TYPES:
            raise UsageError(f"{what} must be u8 or s8, got {value!r}")
    if preprocess not in PREPROCESS:
        raise UsageError(f"preprocess must be one of {', '.join(PREPROCESS)}, got {preprocess!r}")
    if isinstance(calibration, bool):
        raise UsageError("calibration must be an .npz path, a dict of arrays or a sample count, not a bool")
    if not isinstance(verify_samples, int) or verify_samples < 1:
        raise UsageError(f"verify_samples must be a positive integer, got {verify_samples!r}")
    if dynamic:
        if isinstance(calibration, int):
            raise UsageError("dynamic quantization takes no calibration: activations are quantized at run time "
                             "(random samples for --verify: --verify-samples N)")
        if activation_type != "u8":
            raise UsageError("dynamic quantization always quantizes activations to u8 (onnxruntime's "
                             "DynamicQuantizeLinear); drop --activation-type s8")
    else:
        if calibration is None:
            raise UsageError("static quantization needs calibration samples: --calibrate FILE.npz (inputs like "
                             "your real data) or --random N (a smoke test); or use --dynamic")
        if activation_type == "s8" and weight_type == "u8":
            raise UsageError("s8 activations with u8 weights: onnxruntime.quantization does not support this "
                             "combination; use --weight-type s8")


def _check_op_types(op_types, format: str, dynamic: bool) -> list[str] | None:
    if not op_types:
        return None
    from onnxruntime.quantization.registry import IntegerOpsRegistry, QDQRegistry, QLinearOpsRegistry

    if dynamic:
        known, what = set(IntegerOpsRegistry), "dynamic quantization"
    elif format == "qdq":  # what quantize_static itself offers in QDQ format
        known, what = set(QDQRegistry) | set(QLinearOpsRegistry), "static QDQ quantization"
    else:
        known, what = set(QLinearOpsRegistry), "static QOperator quantization"
    wanted = list(dict.fromkeys(t.strip() for t in op_types if t.strip()))
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise UsageError(f"op type(s) {', '.join(unknown)} cannot be quantized by {what}; it quantizes "
                         f"{', '.join(sorted(known))}")
    return wanted or None


def _shapes(shapes) -> dict[str, tuple[int, ...]]:
    from graphkit.verification.graph import parse_shape

    if not shapes:
        return {}
    if isinstance(shapes, Mapping):
        return {str(k): tuple(int(d) for d in v) for k, v in shapes.items()}
    return dict(parse_shape(s) for s in shapes)


def _samples(proto: onnx.ModelProto, calibration, seed: int, shapes) -> list[dict]:
    if calibration is None:
        return []
    if isinstance(calibration, int):
        return random_samples(proto, calibration, seed, shapes)
    return load_samples(proto, calibration)


# --- files -------------------------------------------------------------------------------------
def _destination(path, src: str | None, what: str) -> str:
    if path is None or not os.fspath(path):
        raise UsageError(f"{what}: give a path to write to")
    out = os.path.abspath(os.fspath(path))
    if src is not None and (out == src or (os.path.exists(out) and os.path.samefile(out, src))):
        raise UsageError(f"refusing to overwrite the input {src} ({what}); write the quantized model elsewhere")
    if os.path.isdir(out):
        raise UsageError(f"{what} {out} is a folder; give a file name")
    if not os.path.isdir(os.path.dirname(out)):
        raise UsageError(f"{what}: folder {os.path.dirname(out)} does not exist")
    return out


def _save_proto(proto: onnx.ModelProto, path: str) -> None:
    big = proto.ByteSize() > 1_800_000_000  # protobuf's 2 GiB limit: weights go to a side file
    onnx.save(proto, path, save_as_external_data=big, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data")


#: where quantized weights sit: op type -> input index of the integer weight
_WEIGHT_INPUT = {"QLinearConv": 3, "QLinearMatMul": 3, "QGemm": 3, "MatMulInteger": 1, "ConvInteger": 1,
                 "DequantizeLinear": 0}


def _note_weight_types(proto: onnx.ModelProto, weight_type: str, notes: list[str]) -> None:
    """Say so when onnxruntime chose another integer type for some weights than the one asked for
    (its QOperator per-channel Conv always writes s8 weights)."""
    from onnx import helper

    inits = {t.name: t.data_type for t in proto.graph.initializer}
    want = {"u8": onnx.TensorProto.UINT8, "s8": onnx.TensorProto.INT8}[weight_type]
    other = Counter()
    for node in proto.graph.node:
        index = _WEIGHT_INPUT.get(node.op_type)
        if index is None or len(node.input) <= index or node.input[index] not in inits:
            continue
        dtype = inits[node.input[index]]
        if dtype in (onnx.TensorProto.UINT8, onnx.TensorProto.INT8) and dtype != want:
            other[(node.op_type, helper.tensor_dtype_to_np_dtype(dtype).name)] += 1
    for (op, dtype), count in sorted(other.items()):
        short = {"uint8": "u8", "int8": "s8"}[dtype]
        notes.append(f"{count} {op} weight(s) are {short}, not {weight_type}: onnxruntime.quantization's choice "
                     f"for this op and format")


def _count_ops(proto: onnx.ModelProto) -> dict[str, int]:
    return dict(Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
                        for n in proto.graph.node))


# --- onnxruntime.quantization ------------------------------------------------------------------
def _preprocess(src: str, dst: str, mode: str, notes: list[str]) -> str:
    if mode == "none":
        return src
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _ort_messages(notes), _working_dir(os.path.dirname(dst)):
        try:
            quant_pre_process(src, dst, skip_optimization=mode == "shapes")
        except Exception as exc:  # noqa: BLE001 - ORT and sympy raise anything
            other = "--preprocess shapes or none" if mode == "full" else "--preprocess none"
            raise QuantizationError(f"quant_pre_process ({'shape inference + optimization' if mode == 'full' else 'shape inference'}) "
                                    f"failed: {_describe(exc)}; try {other}") from None
    return dst


def _run_quantizer(src: str, dst: str, samples, *, format, per_channel, activation_type, weight_type, dynamic,
                   op_types, notes) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    qtype = {k: getattr(QuantType, v) for k, v in _QUANT_TYPE.items()}
    with _ort_messages(notes), _working_dir(os.path.dirname(dst)):
        try:
            if dynamic:
                quantize_dynamic(src, dst, op_types_to_quantize=op_types, per_channel=per_channel,
                                 weight_type=qtype[weight_type])
            else:
                quantize_static(src, dst, reader(samples), op_types_to_quantize=op_types,
                                quant_format=QuantFormat.QDQ if format == "qdq" else QuantFormat.QOperator,
                                per_channel=per_channel, activation_type=qtype[activation_type],
                                weight_type=qtype[weight_type])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types, ValueError, AssertionError, ...
            step = "quantize_dynamic" if dynamic else "quantize_static (calibration and quantization)"
            raise QuantizationError(f"onnxruntime.quantization {step} failed: {_describe(exc)}") from None
    if not os.path.isfile(dst):
        raise QuantizationError("onnxruntime.quantization wrote no model")


@contextlib.contextmanager
def _working_dir(folder: str):
    """Run in our temporary folder: onnxruntime's symbolic shape inference saves
    'sym_shape_infer_temp.onnx' into the current directory when it gives up, which would litter the
    user's folder. Every path handed to onnxruntime is absolute. (The working directory is
    process-wide: do not quantize from several threads.)"""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _ort_messages(notes: list[str]):
    """Collect what onnxruntime.quantization logs (it logs on the root logger; with no handler there,
    logging.warning would install one on stderr for the rest of the process) and warns."""
    handler = _Collector(notes)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        root.removeHandler(handler)
    for w in caught:
        _note(notes, f"{w.category.__name__}: {w.message}")


class _Collector(logging.Handler):
    def __init__(self, notes: list[str]):
        super().__init__(logging.WARNING)
        self.notes = notes

    def emit(self, record):
        _note(self.notes, f"onnxruntime.quantization: {record.getMessage()}")


def _note(notes: list[str], text: str) -> None:
    text = " ".join(text.split())[:400]
    if text not in notes:
        notes.append(text)


def _describe(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = " ".join(lines[:3])[:400] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- accuracy ----------------------------------------------------------------------------------
def _measure(proto, q_proto, calibration, samples, dynamic, seed, shapes, count) -> dict:
    if calibration is not None and not isinstance(calibration, int):
        data = "the calibration file" if isinstance(calibration, (str, os.PathLike)) else "the given samples"
        held_out = dynamic  # dynamic quantization never saw them
    else:
        first = seed + (len(samples) if not dynamic else 0)
        samples = random_samples(proto, count, first, shapes)
        data, held_out = f"random, seeds {first}..{first + count - 1}", True
    result = accuracy.measure(proto, q_proto, samples)
    result["data"], result["held_out"] = data, held_out
    return result
