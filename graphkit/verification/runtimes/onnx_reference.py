"""onnx.reference.ReferenceEvaluator as a verification runtime (`onnx-reference`): a peer, never the oracle."""
from __future__ import annotations

import onnx

from graphkit.verification.runtimes.base import Runtime, RuntimeFailure, _first_line


class OnnxReferenceRuntime(Runtime):
    """onnx.reference.ReferenceEvaluator, to show where that evaluator is wrong."""

    keeps_all_values = True

    def __init__(self, name: str, model: onnx.ModelProto):
        super().__init__(name, model)
        from onnx.reference import ReferenceEvaluator

        try:
            self.evaluator = ReferenceEvaluator(model)
        except Exception as exc:
            raise RuntimeFailure(name, f"{type(exc).__name__}: {_first_line(exc)}") from exc

    def _run(self, feeds, names):
        wanted = list(names) if names is not None else self.output_names
        return dict(zip(wanted, self.evaluator.run(wanted, feeds)))
