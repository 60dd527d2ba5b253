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
    "quantize": "graphkit.quantization",
    "QuantizationError": "graphkit.quantization",
    # passes (each mutates the model in place and returns its Report)
    "fold_constants": "graphkit.passes.api",
    "prune": "graphkit.passes.api",
    "fuse": "graphkit.passes.api",
    "toposort": "graphkit.passes.api",
    "simplify": "graphkit.passes.api",
    # surgery
    "find": "graphkit.surgery",
    "insert_node": "graphkit.surgery",
    "remove_node": "graphkit.surgery",
    "replace_nodes": "graphkit.surgery",
    "rename_value": "graphkit.surgery",
    "rename_node": "graphkit.surgery",
    "add_output": "graphkit.surgery",
    "remove_output": "graphkit.surgery",
    "set_input_shape": "graphkit.surgery",
    "make_batch_symbolic": "graphkit.surgery",
    "refresh_shapes": "graphkit.surgery",
    "extract": "graphkit.surgery",
    # pattern rewriter
    "Pattern": "graphkit.rewriter",
    "Rule": "graphkit.rewriter",
    "rewrite": "graphkit.rewriter",
}

_ERRORS = [GraphkitError, LoadError, SaveError, GraphError, UsageError, VerificationError]
__all__ = sorted([*_LAZY, *(e.__name__ for e in _ERRORS)])  # noqa: PLE0605 - built from _LAZY


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'graphkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
