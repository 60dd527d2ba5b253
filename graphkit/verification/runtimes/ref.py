"""refruntime's Session as a verification runtime: `ref`, and `ref64` (the float64 oracle)."""
from __future__ import annotations

import onnx

from graphkit.errors import GraphkitError
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure, _first_line


class RefRuntime(Runtime):
    """refruntime's Session; precision="float64" is the oracle."""

    streams = True

    def __init__(self, name: str, model: onnx.ModelProto, precision: str = "native"):
        super().__init__(name, model)
        from refruntime import Session

        try:
            self.session = Session(model, precision=precision)
        except Exception as exc:
            raise RuntimeFailure(name, f"{type(exc).__name__}: {_first_line(exc)}") from exc

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
