"""Per-layer quantization error: each quantized tensor against its float twin.

`graphkit verify Q.onnx --against-model F.onnx --per-node` on a quantized model Q and the float
model F it was made from. Every quantized tensor of Q is mapped to the float tensor of F it stands
for, by the names onnxruntime.quantization gives them:
    QDQ        X -> QuantizeLinear -> X_QuantizeLinear_Output -> DequantizeLinear -> X_DequantizeLinear_Output
               (a graph output y: y_QuantizeLinear_Input -> Q -> DQ -> y); weights W_quantized -> DQ
    QOperator  X_quantized (the integer output of QLinearConv, QLinearAdd, ..., with X_scale and
               X_zero_point initializers)
For each pair: the dequantized value against the float twin, in quantization steps (|error| /
scale: the max and the mean) and as SQNR in dB (10 log10(sum f^2 / sum (f - q)^2)). The quantizer
folds an activation into the op before it and keeps the op's output name (QLinearConv's output is
named after the BatchNormalization, but holds Relu(BatchNormalization)); so when the twin feeds a
Relu/Clip/LeakyRelu in the float model, that activation's output is a candidate too, the closer
one (by SQNR) is the twin, and the row says `fused`. The error of an
activation includes everything upstream (quantized inputs and weights), which is what a user wants
to see per layer. Values are fetched in chunks, one re-run of each model per chunk.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from graphkit.verification.compare import json_float
from graphkit.verification.runtimes import Runtime, RuntimeFailure

SUFFIXES = ("_DequantizeLinear_Output", "_QuantizeLinear_Output", "_QuantizeLinear_Input", "_quantized")
CHUNK = 32
WORST = 5


@dataclass
class QuantPair:
    value: str            # the quantized tensor in Q (float DQ output, or integer QOperator value)
    twin: str             # the float tensor of F it stands for
    kind: str             # "weight" or "activation"
    scale: str            # initializer names in Q
    zero_point: str | None
    axis: int | None      # per-channel axis (DequantizeLinear's attribute), None for per-tensor
    dequantized: bool     # value is already float (a DQ output)
    candidates: tuple[tuple[str, str], ...] = ()  # (value, activation op) fused after the twin


def is_quantized(model: onnx.ModelProto) -> bool:
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear")
               or n.op_type.startswith("QLinear") for n in model.graph.node)


ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish")


def quantized_pairs(q: onnx.ModelProto, f: onnx.ModelProto) -> list[QuantPair]:
    """Every quantized tensor of `q` whose float twin exists in `f`, in `q`'s node order."""
    pairs = _named_pairs(q, f)
    after = {}
    for node in f.graph.node:
        if node.op_type in ACTIVATIONS and node.input and node.output:
            after.setdefault(node.input[0], []).append((node.output[0], node.op_type))
    for p in pairs:
        p.candidates = tuple(after.get(p.twin, ()))
    return pairs


def _named_pairs(q: onnx.ModelProto, f: onnx.ModelProto) -> list[QuantPair]:
    float_values = _value_names(f)
    inits = {t.name for t in q.graph.initializer}
    pairs, seen = [], set()
    for node in q.graph.node:
        if node.op_type == "DequantizeLinear":
            out = node.output[0]
            twin = _twin(out, float_values) or _twin(node.input[0], float_values)
            if twin and out not in seen:
                kind = "weight" if node.input[0] in inits else "activation"
                axis = next((a.i for a in node.attribute if a.name == "axis"), None)
                zp = node.input[2] if len(node.input) > 2 and node.input[2] else None
                pairs.append(QuantPair(out, twin, kind, node.input[1], zp, axis, True))
                seen.add(out)
        elif node.op_type.startswith("QLinear") or node.op_type == "QGemm":
            out = node.output[0]
            base = _strip(out)
            twin = _twin(out, float_values)
            if twin and f"{base}_scale" in inits and out not in seen:
                zp = f"{base}_zero_point" if f"{base}_zero_point" in inits else None
                pairs.append(QuantPair(out, twin, "activation", f"{base}_scale", zp, None, False))
                seen.add(out)
    return pairs


def _value_names(model: onnx.ModelProto) -> set[str]:
    g = model.graph
    names = {o for n in g.node for o in n.output if o}
    names.update(t.name for t in g.initializer)
    names.update(vi.name for vi in g.input)
    return names


def _strip(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _twin(name: str, float_values: set[str]) -> str | None:
    base = _strip(name)
    if base != name and base in float_values:
        return base
    return None


def quantization_report(q: onnx.ModelProto, f: onnx.ModelProto, q_runtime: Runtime, f_runtime: Runtime,
                        feeds: dict) -> dict | None:
    """{'layers': [...], 'worst': [...], 'note': ...} or None when `q` is not quantized."""
    if not is_quantized(q):
        return None
    pairs = quantized_pairs(q, f)
    if not pairs:
        return {"layers": [], "worst": [], "note": "no quantized tensor of this model has a float twin by name "
                                                  "in the other model"}
    inits = {t.name: t for t in q.graph.initializer}
    f_inits = {t.name: t for t in f.graph.initializer}
    layers = []
    for start in range(0, len(pairs), CHUNK):
        part = pairs[start:start + CHUNK]
        try:
            got = _values(q_runtime, feeds, [p.value for p in part], inits)
            want = _values(f_runtime, feeds, list(dict.fromkeys(
                n for p in part for n in [p.twin, *(c for c, _ in p.candidates)])), f_inits)
        except RuntimeFailure as exc:
            return {"layers": layers, "worst": _worst(layers), "note": f"stopped: {exc}"}
        for p in part:
            if p.value not in got or p.twin not in want:
                continue
            rows = [_layer(p, got[p.value], want[p.twin], inits)]
            for name, op in p.candidates:
                if name in want:
                    rows.append({**_layer(p, got[p.value], want[name], inits), "twin": name,
                                 "fused": f"{p.twin} -> {op}"})
            layers.append(max(rows, key=_closeness))
    return {"layers": layers, "worst": _worst(layers)}


def _values(runtime: Runtime, feeds: dict, names: list[str], inits: dict) -> dict:
    out = {n: numpy_helper.to_array(inits[n]) for n in names if n in inits}
    rest = [n for n in names if n not in out]
    if rest:
        out.update(runtime.run(feeds, rest))
    return out


def _layer(p: QuantPair, value: np.ndarray, twin: np.ndarray, inits: dict) -> dict:
    from refruntime.ops._quant import broadcast_param, dequantize

    scale = numpy_helper.to_array(inits[p.scale]) if p.scale in inits else None
    zp = numpy_helper.to_array(inits[p.zero_point]) if p.zero_point and p.zero_point in inits else None
    x = np.asarray(value)
    if not p.dequantized and scale is not None:
        x = dequantize(x, scale, zp, axis=p.axis, out_dtype=np.float64)
    f = np.asarray(twin, np.float64)
    row = {"value": p.value, "twin": p.twin, "kind": p.kind, "shape": list(f.shape)}
    if x.shape != f.shape:
        return {**row, "note": f"shape {list(x.shape)} != {list(f.shape)}"}
    err = np.abs(x.astype(np.float64) - f)
    if scale is not None:
        steps = err / broadcast_param(np.asarray(scale, np.float64), f.shape, p.axis)
        row.update(max_error_steps=json_float(float(steps.max(initial=0.0))),
                   mean_error_steps=json_float(float(steps.mean()) if steps.size else 0.0))
    noise = float((err ** 2).sum())
    signal = float((f ** 2).sum())
    row["sqnr_db"] = json_float(10 * math.log10(signal / noise) if noise > 0 else math.inf) if signal > 0 else None
    row["max_abs"] = json_float(float(err.max(initial=0.0)))
    return row


def _closeness(row: dict) -> float:
    sqnr = row.get("sqnr_db")
    if sqnr is None or "note" in row:
        return -math.inf
    return math.inf if sqnr == "inf" else float(sqnr)


def _worst(layers: list[dict]) -> list[str]:
    """The values where quantization costs most: lowest SQNR (ties: most steps)."""
    def key(row):
        sqnr = row.get("sqnr_db")
        sqnr = math.inf if sqnr in (None, "inf") else float(sqnr)
        return sqnr, -float(row.get("max_error_steps") or 0)

    return [row["value"] for row in sorted((r for r in layers if "note" not in r), key=key)[:WORST]]


def table(report: dict) -> list[str]:
    """Terminal lines: one per layer, then the worst ones."""
    lines = [f"quantization error per layer ({len(report['layers'])} quantized tensors with a float twin):"]
    lines.append(f"  {'tensor':<44} {'kind':<10} {'max steps':>10} {'mean steps':>11} {'SQNR dB':>8}")
    for row in report["layers"]:
        if "note" in row:
            lines.append(f"  {row['value'][:44]:<44} {row['kind']:<10} {row['note']}")
            continue
        fused = f"  (twin {row['twin']}: {row['fused']} fused)" if row.get("fused") else ""
        lines.append(f"  {row['value'][:44]:<44} {row['kind']:<10} {_num(row.get('max_error_steps')):>10} "
                     f"{_num(row.get('mean_error_steps')):>11} {_num(row.get('sqnr_db')):>8}{fused}")
    if report.get("worst"):
        lines.append(f"  quantization costs most at: {', '.join(report['worst'])}")
    if report.get("note"):
        lines.append(f"  note: {report['note']}")
    return lines


def _num(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return f"{x:.3g}"
