"""graphkit: ONNX graph surgery, passes, CLI and cross-runtime verification.

    import graphkit as gk
    model = gk.load("model.onnx")
    gk.save(model, "out.onnx")

Importing graphkit is light: torch and numba are never imported here, and the heavier submodules
load on first use.
"""
from __future__ import annotations

import importlib

from graphkit.errors import GraphError, GraphkitError, LoadError, SaveError, UsageError, VerificationError

# public name -> module that defines it (loaded on first attribute access)
_LAZY = {
    "load": "graphkit.io",
    "save": "graphkit.io",
    "Model": "graphkit.ir",
    "Graph": "graphkit.ir",
    "Node": "graphkit.ir",
    "Value": "graphkit.ir",
    "Tensor": "graphkit.ir",
    "verify": "graphkit.verification",
}

__all__ = sorted([*_LAZY, "GraphkitError", "LoadError", "SaveError", "GraphError", "UsageError",
                  "VerificationError"])


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'graphkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
