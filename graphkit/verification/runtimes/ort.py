"""onnxruntime's CPU provider as a verification runtime: `ort` (default optimizations) and `ort-noopt`."""
from __future__ import annotations

import onnx

from graphkit.verification.graph import elem_types, with_outputs
from graphkit.verification.runtimes.base import Runtime


class OrtRuntime(Runtime):
    """onnxruntime CPU. Intermediates are extra graph outputs of a throw-away session, so callers
    ask for them in chunks and memory stays bounded."""

    def __init__(self, name: str, model: onnx.ModelProto, optimize: bool = True):
        super().__init__(name, model)
        self.optimize = optimize
        self._session = None
        self._types: dict[str, int] | None = None

    def _new_session(self, model: onnx.ModelProto):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if self.optimize
                                            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def _run(self, feeds, names):
        if names is None:
            if self._session is None:
                self._session = self._new_session(self.model)
            return dict(zip(self.output_names, self._session.run(None, feeds)))
        if self._types is None:
            self._types = elem_types(self.model)
        session = self._new_session(with_outputs(self.model, names, self._types))
        try:
            return dict(zip(names, session.run(list(names), feeds)))
        finally:
            del session

    def close(self):
        self._session = None
