"""Run one node with onnx.reference's implementation of its op (the long tail).

The implementation is looked up per node with the node's opset version. Nodes that run here are
marked `fallback` in profiles and `graphkit run` output.
"""
from __future__ import annotations

from typing import Any

from onnx import NodeProto

from refruntime.errors import UnsupportedOpError


def _evaluator_cls():
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator


def load_reference_op(node: NodeProto, opsets: dict[str, int], functions: dict | None = None):
    """Instantiate onnx.reference's class for `node`; raises UnsupportedOpError when it has none."""
    from onnx.reference.op_run import RuntimeContextError
    from onnx.reference.ops import load_op

    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    version = opsets.get(domain)
    if version is None:
        raise UnsupportedOpError(
            f"node {node.name!r} ({node.op_type}): domain {domain or 'ai.onnx'!r} is not in the "
            f"model's opset imports {sorted(opsets)}"
        )
    try:
        if domain == "":
            cls = load_op(domain, node.op_type, version, evaluator_cls=_evaluator_cls())
        elif domain == "ai.onnx.ml":
            from onnx.reference.ops.aionnxml import load_op as load_ml

            cls = load_ml(domain, node.op_type, version)
        elif domain == "ai.onnx.preview.training":
            from onnx.reference.ops.aionnx_preview_training import load_op as load_training

            cls = load_training(domain, node.op_type, version)
        else:
            raise UnsupportedOpError(
                f"node {node.name!r}: op {node.op_type!r} in domain {domain!r} (opset {version}) is "
                "unknown to refruntime and to onnx.reference"
            )
    except (RuntimeContextError, RuntimeError, NotImplementedError, ValueError) as exc:
        if isinstance(exc, UnsupportedOpError):
            raise
        raise UnsupportedOpError(
            f"node {node.name!r}: op {node.op_type!r} (domain {domain or 'ai.onnx'!r}, opset {version}) has "
            f"no native kernel and onnx.reference cannot load it: {exc}"
        ) from exc
    run_params: dict[str, Any] = {
        "log": lambda *a: None,
        "opsets": opsets,
        "verbose": 0,
        "new_ops": {},
        "existing_functions": dict(functions or {}),
        "evaluator_cls": _evaluator_cls(),
    }
    return cls(node, run_params)


class FallbackKernel:
    """Adapter giving an onnx.reference op the same `run(*inputs, scope=)` call as OpRun."""

    is_fallback = True

    def __init__(self, node: NodeProto, opsets: dict[str, int], functions: dict | None = None):
        self.node = node
        self.impl = load_reference_op(node, opsets, functions)
        self.needs_scope = bool(getattr(self.impl, "need_context", lambda: False)())

    def run(self, *inputs, scope=None) -> tuple:
        if self.needs_scope:
            context = dict(scope) if scope is not None else {}
            outputs = self.impl.run(*inputs, context=context)
        else:
            outputs = self.impl.run(*inputs)
        return tuple(outputs)
