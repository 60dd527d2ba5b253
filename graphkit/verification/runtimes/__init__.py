"""Runtimes that verification compares: peers behind one small interface (base.Runtime), one
module each (ref, ort, onnx_reference, torch/, module).

    rt = make_runtime("ort", model)
    rt.run(feeds)                       # graph outputs {name: array}
    rt.intermediates(feeds, names)      # values of these node outputs (one extra run)
    rt.stream(feeds, names, callback)   # runtimes with `streams`: callback(name, value) per node

Names: ref, ref64 (the exact oracle: float64 throughout), ref-spec (the spec oracle: each op in
float64, rounded to its declared type), ort, ort-noopt, torch (the ONNX graph executed op by op with
torch), onnx-reference (onnx.reference.ReferenceEvaluator), module (the original torch module;
outputs only), tf and tflite (the model converted by graphkit.convert, run by TensorFlow / TFLite).
"""
from __future__ import annotations

import onnx

from graphkit.errors import UsageError
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure

RUNTIME_NAMES = ("ref", "ref64", "ref-spec", "ort", "ort-noopt", "torch", "onnx-reference", "module", "tf",
                 "tflite")


def make_runtime(name: str, model: onnx.ModelProto, module=None, strict: bool = True) -> Runtime:
    """A fresh adapter for runtime `name` on `model`; the heavy imports happen here, not before.
    `strict=False` lets refruntime run models onnx's checker rejects."""
    if name in ("ref", "ref64", "ref-spec"):
        from graphkit.verification.runtimes.ref import PRECISIONS, RefRuntime

        return RefRuntime(name, model, precision=PRECISIONS[name], strict=strict)
    if name in ("ort", "ort-noopt"):
        from graphkit.verification.runtimes.ort import OrtRuntime

        return OrtRuntime(name, model, optimize=name == "ort")
    if name == "onnx-reference":
        from graphkit.verification.runtimes.onnx_reference import OnnxReferenceRuntime

        return OnnxReferenceRuntime(name, model)
    if name == "torch":
        from graphkit.verification.runtimes.torch import TorchRuntime

        return TorchRuntime(name, model)
    if name == "module":
        from graphkit.verification.runtimes.module import ModuleRuntime

        return ModuleRuntime(name, model, module)
    if name == "tf":
        from graphkit.verification.runtimes.tf import TfRuntime

        return TfRuntime(name, model)
    if name == "tflite":
        from graphkit.verification.runtimes.tflite import TfliteRuntime

        return TfliteRuntime(name, model)
    raise UsageError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIME_NAMES)}")


__all__ = ["RUNTIME_NAMES", "Runtime", "RuntimeFailure", "make_runtime"]
