"""Runtimes that verification compares: peers behind one small interface (base.Runtime), one
module each (ref, ort, onnx_reference, torch/, module).

    rt = make_runtime("ort", model)
    rt.run(feeds)                       # graph outputs {name: array}
    rt.intermediates(feeds, names)      # values of these node outputs (one extra run)
    rt.stream(feeds, names, callback)   # runtimes with `streams`: callback(name, value) per node

Names: ref, ref64 (float64 oracle), ort, ort-noopt, torch (the ONNX graph executed op by op with
torch), onnx-reference (onnx.reference.ReferenceEvaluator), module (the original torch module;
outputs only).
"""
from __future__ import annotations

import onnx

from graphkit.errors import UsageError
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure

RUNTIME_NAMES = ("ref", "ref64", "ort", "ort-noopt", "torch", "onnx-reference", "module")


def make_runtime(name: str, model: onnx.ModelProto, module=None) -> Runtime:
    """A fresh adapter for runtime `name` on `model`; the heavy imports happen here, not before."""
    if name in ("ref", "ref64"):
        from graphkit.verification.runtimes.ref import RefRuntime

    if name == "ref":
        return RefRuntime(name, model)
    if name == "ref64":
        return RefRuntime(name, model, precision="float64")
    if name in ("ort", "ort-noopt"):
        from graphkit.verification.runtimes.ort import OrtRuntime

    if name == "ort":
        return OrtRuntime(name, model)
    if name == "ort-noopt":
        return OrtRuntime(name, model, optimize=False)
    if name == "onnx-reference":
        from graphkit.verification.runtimes.onnx_reference import OnnxReferenceRuntime

        return OnnxReferenceRuntime(name, model)
    if name == "torch":
        from graphkit.verification.runtimes.torch import TorchRuntime

        return TorchRuntime(name, model)
    if name == "module":
        from graphkit.verification.runtimes.module import ModuleRuntime

        return ModuleRuntime(name, model, module)
    raise UsageError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIME_NAMES)}")


__all__ = ["RUNTIME_NAMES", "Runtime", "RuntimeFailure", "make_runtime"]
