"""Quantization through onnxruntime.quantization (kept as the library that calibrates and rewrites),
with the workflow around it: calibration samples checked against the model's inputs, ORT's
recommended pre-processing, atomic saves that never overwrite the input, and the accuracy cost
measured on onnxruntime and refruntime. docs/quantization.md has the workflow.

    import graphkit as gk
    report = gk.quantize("model.onnx", "model.q.onnx", calibration="calib.npz", per_channel=True, verify=True)

Modules: calibration (samples from an .npz, a dict or seeded random data; the CalibrationDataReader),
api (`quantize`), accuracy (quantized vs float outputs: max abs error, SQNR, top-1 agreement).
The per-layer error is graphkit verify's (graphkit/verification/quant_report.py).
"""
from __future__ import annotations

from graphkit.quantization.api import QuantizationError, QuantizeReport, quantize

__all__ = ["QuantizationError", "QuantizeReport", "quantize"]
