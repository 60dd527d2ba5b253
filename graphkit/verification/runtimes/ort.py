"""onnxruntime's CPU provider as a verification runtime: `ort` (default optimizations) and `ort-noopt`.

Per-node comparison judges ORT as it really runs: `ort` reports only the values that still exist
in its optimized graph (`surviving_values`). Marking a fused-away value as an extra graph output
would make ORT skip the very fusion being judged, so such values are not asked for at all.
"""
from __future__ import annotations

import os
import tempfile

import onnx

from graphkit.verification.graph import elem_types, with_outputs
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure, _first_line

# Session config keys (onnxruntime_session_options_config_keys.h): a big optimized model keeps its
# weights in a side file instead of overflowing protobuf's 2 GiB limit.
_EXTERNAL_FILE_KEY = "session.optimized_model_external_initializers_file_name"
_EXTERNAL_MIN_BYTES_KEY = "session.optimized_model_external_initializers_min_size_in_bytes"


def session_options(level, log_severity: int = 3):
    """SessionOptions at optimization `level`, quiet unless `log_severity` asks for more."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = log_severity
    options.graph_optimization_level = level
    return options


def new_session(model_bytes: bytes, options, disabled_optimizers=()):
    """A CPU-only InferenceSession; `disabled_optimizers` names graph transformers or rewrite rules."""
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers) or None)


def optimized_model(model_bytes: bytes, options, disabled_optimizers=()) -> onnx.ModelProto:
    """The graph ORT runs after its optimizations, as written by `optimized_model_filepath`.

    Weights are not loaded (the temporary side file is gone when this returns): callers read node
    names, op types and value names only. Ops may be in com.microsoft / com.microsoft.nchwc."""
    with tempfile.TemporaryDirectory(prefix="graphkit-ort-") as tmp:
        path = os.path.join(tmp, "optimized.onnx")
        options.optimized_model_filepath = path
        options.add_session_config_entry(_EXTERNAL_FILE_KEY, "optimized.data")
        options.add_session_config_entry(_EXTERNAL_MIN_BYTES_KEY, "1024")
        session = new_session(model_bytes, options, disabled_optimizers)
        del session
        return onnx.load(path, load_external_data=False)


def existing_values(graph: onnx.GraphProto) -> set[str]:
    """Every value name of a (main) graph: node outputs, initializers, graph inputs and outputs."""
    names = {o for node in graph.node for o in node.output if o}
    names.update(t.name for t in graph.initializer)
    names.update(vi.name for vi in graph.input)
    names.update(vi.name for vi in graph.output)
    return names


class OrtRuntime(Runtime):
    """onnxruntime CPU. Intermediates are extra graph outputs of a throw-away session, so callers
    ask for them in chunks and memory stays bounded; with optimizations on, only values that
    survive ORT's optimizer are asked for (the others are absent from the result).

    After `compare_every_value()` every value is asked for anyway, which stops ORT's fusions
    around each one: right when ORT is compared with itself (two versions of a model,
    `--against-model`), where its fusions are not the question and NCHWc would otherwise hide
    most values."""

    def __init__(self, name: str, model: onnx.ModelProto, optimize: bool = True):
        super().__init__(name, model)
        self.optimize = optimize
        self.optimized_values_only = True
        self._session = None
        self._types: dict[str, int] | None = None
        self._surviving: set[str] | None = None

    def _level(self):
        import onnxruntime as ort

        return (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if self.optimize
                else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)

    def _new_session(self, model: onnx.ModelProto):
        return new_session(model.SerializeToString(), session_options(self._level()))

    def surviving_values(self) -> set[str] | None:
        """Values of the model that still exist in ORT's optimized graph (None for ort-noopt,
        where every value survives, and after `compare_every_value()`). Learnt once by
        writing the optimized model; values a fusion removed, or that a layout transform (NCHWc)
        renamed, are not in the set."""
        if not (self.optimize and self.optimized_values_only):
            return None
        if self._surviving is None:
            try:
                graph = optimized_model(self.model.SerializeToString(), session_options(self._level())).graph
            except Exception as exc:  # ORT raises its own exception types
                raise RuntimeFailure(self.name, f"cannot write its optimized graph: "
                                                f"{type(exc).__name__}: {_first_line(exc)}") from exc
            self._surviving = existing_values(graph)
        return self._surviving

    def compare_every_value(self) -> None:
        self.optimized_values_only = False

    def intermediates(self, feeds, names: list[str]) -> dict:
        surviving = self.surviving_values()
        if surviving is not None:
            names = [n for n in names if n in surviving]
        if not names:
            return {}
        return self.run(feeds, list(names))

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
