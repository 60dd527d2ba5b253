"""The interface every verification runtime implements, and its failure type."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import onnx

from graphkit.errors import GraphkitError
from graphkit.verification.graph import data_inputs


class RuntimeFailure(GraphkitError):
    """A runtime could not run the model (it is reported; the verdict becomes 'error')."""

    def __init__(self, runtime: str, message: str):
        super().__init__(f"{runtime}: {message}")
        self.runtime = runtime


class Runtime:
    """Base adapter. Subclasses implement `_run(feeds, names)`; `names=None` means graph outputs."""

    streams = False            # can report every node's outputs during one run
    has_intermediates = True   # can return node outputs at all
    keeps_all_values = False   # holds every intermediate during a run (memory note in reports)

    def __init__(self, name: str, model: onnx.ModelProto):
        self.name = name
        self.model = model
        self.output_names = [vi.name for vi in model.graph.output]
        self.input_names = [vi.name for vi in data_inputs(model.graph)]

    def run(self, feeds: Mapping[str, np.ndarray], outputs: list[str] | None = None) -> dict:
        try:
            return self._run(self._feeds(feeds), outputs)
        except (GraphkitError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise RuntimeFailure(self.name, f"{type(exc).__name__}: {_first_line(exc)}") from exc

    def intermediates(self, feeds: Mapping[str, np.ndarray], names: list[str]) -> dict:
        return self.run(feeds, list(names))

    def stream(self, feeds, names: set[str], callback: Callable[[str, object], None]) -> dict:
        raise NotImplementedError

    def surviving_values(self) -> set[str] | None:
        """Node outputs that still exist when this runtime runs the model (None: all of them).
        Values its optimizer fused away cannot be compared and are not asked for."""
        return None

    def compare_every_value(self) -> None:
        """Report every value, even where that changes how the runtime optimizes the model (ORT
        compared with itself, `--against-model`: its fusions are not the question there)."""

    def for_model(self, model: onnx.ModelProto) -> Runtime:
        """A runtime of the same kind on another model (a node replayed alone, a reduced graph)."""
        from graphkit.verification.runtimes import make_runtime

        return make_runtime(self.name, model)

    def _feeds(self, feeds: Mapping[str, np.ndarray]) -> dict:
        return {k: v for k, v in feeds.items() if k in self.input_names}

    def _run(self, feeds: dict, names: list[str] | None) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:400] if text else type(exc).__name__
