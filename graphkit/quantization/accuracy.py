"""What quantization cost: the quantized model against the float model, output by output.

The truth is the float model on onnxruntime. The quantized model runs on onnxruntime and on
refruntime, the float model on refruntime too (how far the two runtimes are apart before any
quantization), every sample one run. Per output and runtime:

    max_abs          max |q - f| over every sample
    sqnr_db          10 log10(sum f^2 / sum (f - q)^2): signal-to-quantization-noise ratio; each
                     6 dB is one more bit of precision (an 8-bit grid spanning the data is ~48 dB,
                     a chain of 8-bit layers lands lower); inf when q == f
    top1_agreement   for classifier-like outputs (2-D per sample, last dimension > 1): the fraction
                     of rows whose argmax is the float model's; null otherwise

A runtime that cannot run a model is reported with its error (refruntime's quantized kernels are
young); onnxruntime failing on either model is an error of the whole measurement.
"""
from __future__ import annotations

import math

import numpy as np
import onnx

from graphkit.verification.compare import json_float
from graphkit.verification.runtimes import RuntimeFailure, make_runtime

TRUTH = "ort"
RUNTIMES = ("ort", "ref")


def measure(float_model: onnx.ModelProto, quant_model: onnx.ModelProto, samples: list[dict]) -> dict:
    """{'samples', 'data', 'held_out', 'truth', 'outputs', 'runtimes': {rt: {...}}, 'error'}; the
    caller fills 'data' (where the samples come from) and 'held_out' (not seen by calibration)."""
    result = {"samples": len(samples), "data": None, "held_out": None, "truth": f"float model on {TRUTH}",
              "outputs": {}, "runtimes": {}, "error": None}
    try:
        truth = run_samples(TRUTH, float_model, samples)
    except RuntimeFailure as exc:
        result["error"] = f"the float model does not run: {exc}"
        return result
    result["outputs"] = {name: {"shape": list(np.shape(values[0])), "classifier": _classifier(values)}
                         for name, values in truth.items()}
    quant_on_ort = None
    for rt in RUNTIMES:
        entry = {"error": None, "outputs": None, "float_max_abs": None, "quantized_max_abs_vs_ort": None}
        result["runtimes"][rt] = entry
        errors = []
        if rt == TRUTH:
            entry["float_max_abs"] = {n: 0.0 for n in truth}
        else:
            try:
                floats = run_samples(rt, float_model, samples)
                entry["float_max_abs"] = {n: _max_abs(truth[n], floats.get(n)) for n in truth}
            except RuntimeFailure as exc:
                errors.append(f"float model: {exc}")
        try:
            quant = run_samples(rt, quant_model, samples)
        except RuntimeFailure as exc:
            errors.append(f"quantized model: {exc}")
            if rt == TRUTH:
                result["error"] = f"onnxruntime cannot run the quantized model: {exc}"
            quant = None
        entry["error"] = "; ".join(errors) or None
        if quant is None:
            continue
        entry["outputs"] = {n: output_metrics(truth[n], quant.get(n)) for n in truth}
        if rt == TRUTH:
            quant_on_ort = quant
        elif quant_on_ort is not None:
            entry["quantized_max_abs_vs_ort"] = {n: _max_abs(quant_on_ort[n], quant.get(n)) for n in truth}
    return result


def run_samples(runtime: str, model: onnx.ModelProto, samples: list[dict]) -> dict[str, list[np.ndarray]]:
    """{output name: [its value for each sample]}; RuntimeFailure if the runtime cannot load or run it."""
    rt = make_runtime(runtime, model)
    try:
        outputs = [rt.run(sample) for sample in samples]
    finally:
        rt.close()
    return {name: [np.asarray(o[name]) for o in outputs] for name in rt.output_names}


def output_metrics(expected: list[np.ndarray], actual: list[np.ndarray] | None) -> dict:
    """max_abs, sqnr_db, top1_agreement of `actual` against `expected` (lists over samples)."""
    if actual is None:
        return {"max_abs": None, "sqnr_db": None, "top1_agreement": None, "note": "output missing"}
    if [np.shape(a) for a in actual] != [np.shape(e) for e in expected]:
        return {"max_abs": None, "sqnr_db": None, "top1_agreement": None,
                "note": f"shape {list(np.shape(actual[0]))} != {list(np.shape(expected[0]))}"}
    if any(np.asarray(e).dtype.kind not in "fiub" for e in expected):
        return {"max_abs": None, "sqnr_db": None, "top1_agreement": None, "note": "not a numeric output"}
    f = np.concatenate([np.asarray(e, np.float64).ravel() for e in expected])
    q = np.concatenate([np.asarray(a, np.float64).ravel() for a in actual])
    noise = float(np.sum((f - q) ** 2))
    signal = float(np.sum(f ** 2))
    if noise == 0:
        sqnr = math.inf
    elif signal == 0 or not math.isfinite(noise):
        sqnr = -math.inf if math.isfinite(noise) else math.nan
    else:
        sqnr = 10 * math.log10(signal / noise)
    top1 = None
    if _classifier(expected):
        rows_f = np.concatenate([np.argmax(e, axis=-1) for e in expected])
        rows_q = np.concatenate([np.argmax(a, axis=-1) for a in actual])
        top1 = float(np.mean(rows_f == rows_q))
    return {"max_abs": json_float(float(np.max(np.abs(f - q), initial=0.0))), "sqnr_db": json_float(sqnr),
            "top1_agreement": top1}


def _classifier(values: list[np.ndarray]) -> bool:
    return all(np.ndim(v) == 2 and np.shape(v)[-1] > 1 and np.shape(v)[0] > 0 for v in values)


def _max_abs(expected: list[np.ndarray], actual: list[np.ndarray] | None):
    metrics = output_metrics(expected, actual)
    return metrics["max_abs"]


def table(result: dict) -> list[str]:
    """Terminal lines: one per output and runtime."""
    if result.get("error") and not result["outputs"]:
        return [f"accuracy: {result['error']}"]
    lines = [f"accuracy cost (quantized vs {result['truth']}, {result['samples']} samples, {result['data']}):"]
    lines.append(f"  {'output':<24} {'runtime':<8} {'max |err|':>10} {'SQNR dB':>8} {'top-1':>7} "
                 f"{'float vs ort':>12} {'quant vs ort':>12}")
    for name in result["outputs"]:
        for rt, entry in result["runtimes"].items():
            metrics = (entry["outputs"] or {}).get(name)
            if metrics is None:
                lines.append(f"  {name[:24]:<24} {rt:<8} cannot run: {entry['error']}")
                continue
            top1 = metrics["top1_agreement"]
            float_err = (entry["float_max_abs"] or {}).get(name)
            quant_err = (entry["quantized_max_abs_vs_ort"] or {}).get(name)
            lines.append(f"  {name[:24]:<24} {rt:<8} {_num(metrics['max_abs']):>10} {_num(metrics['sqnr_db']):>8} "
                         f"{'-' if top1 is None else f'{100 * top1:.1f}%':>7} {_num(float_err):>12} "
                         f"{_num(quant_err):>12}" + (f"  ({metrics['note']})" if metrics.get("note") else ""))
    return lines


def _num(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return f"{x:.3g}"
