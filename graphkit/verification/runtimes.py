"""Runtimes that verification compares, each a small adapter with the same interface.

    rt = make_runtime("ort", model)
    rt.run(feeds)                       # graph outputs {name: array}
    rt.intermediates(feeds, names)      # values of these node outputs (one extra run)
    rt.stream(feeds, names, callback)   # runtimes with `streams`: callback(name, value) per node

Names: ref, ref64 (float64 oracle), ort, ort-noopt, torch (the ONNX graph executed op by op with
torch), onnx-reference (onnx.reference.ReferenceEvaluator), module (the original torch module;
outputs only).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import onnx

from graphkit.errors import GraphkitError, UsageError
from graphkit.verification.graph import data_inputs, elem_types, with_outputs

RUNTIME_NAMES = ("ref", "ref64", "ort", "ort-noopt", "torch", "onnx-reference", "module")


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

    def _feeds(self, feeds: Mapping[str, np.ndarray]) -> dict:
        return {k: v for k, v in feeds.items() if k in self.input_names}

    def _run(self, feeds: dict, names: list[str] | None) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        pass


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


class TorchRuntime(Runtime):
    """The ONNX graph executed op by op with torch (see torch_backend)."""

    streams = True

    def __init__(self, name: str, model: onnx.ModelProto):
        super().__init__(name, model)
        from graphkit.verification.torch_backend import TorchGraph

        self.graph = TorchGraph(model)  # raises UsageError naming the nodes it cannot map

    def _run(self, feeds, names):
        if names is None:
            return self.graph.run(feeds)
        wanted, got = set(names), {}

        def callback(name, value):
            got[name] = value
            return len(got) == len(wanted)

        self.graph.run(feeds, names=wanted, callback=callback)
        return got

    def stream(self, feeds, names, callback):
        try:
            return self.graph.run(self._feeds(feeds), names=names, callback=callback)
        except (GraphkitError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise RuntimeFailure(self.name, f"{type(exc).__name__}: {_first_line(exc)}") from exc


class ModuleRuntime(Runtime):
    """The original torch module: fed the model's inputs in order, its outputs flattened and
    matched to the model's outputs in order. Outputs only (no intermediates)."""

    has_intermediates = False

    def __init__(self, name: str, model: onnx.ModelProto, module):
        super().__init__(name, model)
        if module is None:
            raise UsageError("runtime 'module' needs the torch module (verify(..., module=m))")
        self.module = module

    def _run(self, feeds, names):
        import torch

        if names is not None:
            raise RuntimeFailure(self.name, "a torch module has no ONNX intermediates")
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.input_names]
        with torch.no_grad():
            result = self.module(*args)
        flat = list(_flatten(result))
        if len(flat) != len(self.output_names):
            raise RuntimeFailure(self.name, f"module returned {len(flat)} tensors, the model has "
                                            f"{len(self.output_names)} outputs {self.output_names}")
        return {n: t.detach().cpu().numpy() for n, t in zip(self.output_names, flat)}


def _flatten(value) -> Iterable:
    if isinstance(value, dict):
        for v in value.values():
            yield from _flatten(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:400] if text else type(exc).__name__


def make_runtime(name: str, model: onnx.ModelProto, module=None) -> Runtime:
    if name == "ref":
        return RefRuntime(name, model)
    if name == "ref64":
        return RefRuntime(name, model, precision="float64")
    if name == "ort":
        return OrtRuntime(name, model)
    if name == "ort-noopt":
        return OrtRuntime(name, model, optimize=False)
    if name == "onnx-reference":
        return OnnxReferenceRuntime(name, model)
    if name == "torch":
        return TorchRuntime(name, model)
    if name == "module":
        return ModuleRuntime(name, model, module)
    raise UsageError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIME_NAMES)}")
