"""refruntime's Session as a verification runtime: `ref`, and its oracles `ref64` (float64
throughout) and `ref-spec` (each op in float64, rounded to its declared type)."""
from __future__ import annotations

import onnx

from graphkit.errors import GraphkitError
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure, _first_line

PRECISIONS = {"ref": "native", "ref64": "float64", "ref-spec": "spec"}


class RefRuntime(Runtime):
    """refruntime's Session at one precision (see PRECISIONS)."""

    streams = True

    def __init__(self, name: str, model: onnx.ModelProto, precision: str = "native", strict: bool = True):
        super().__init__(name, model)
        from refruntime import Session

        self.precision, self.strict = precision, strict
        try:
            self.session = Session(model, precision=precision, strict=strict)
        except Exception as exc:
            raise RuntimeFailure(name, f"{type(exc).__name__}: {_first_line(exc)}") from exc

    def for_model(self, model):
        return RefRuntime(self.name, model, self.precision, self.strict)

    def _run(self, feeds, names):
        if names is None:
            return self.session.run(feeds)
        wanted, got = set(names), {}

        def after(step, inputs, outputs):
            for name, value in zip(step.outputs, outputs):
                if name in wanted:
                    got[name] = value
            return len(got) == len(wanted)  # stop as soon as every requested value exists

        self.session.run(feeds, after=after, output_names=[])
        return got

    def stream(self, feeds, names, callback):
        def after(step, inputs, outputs):
            for name, value in zip(step.outputs, outputs):
                if name in names:
                    callback(name, value)

        try:
            return self.session.run(self._feeds(feeds), after=after)
        except (GraphkitError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise RuntimeFailure(self.name, f"{type(exc).__name__}: {_first_line(exc)}") from exc
