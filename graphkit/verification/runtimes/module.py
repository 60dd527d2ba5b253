"""The `module` runtime: the original torch module, outputs only."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx

from graphkit.errors import UsageError
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure


class ModuleRuntime(Runtime):
    """The original torch module: fed the model's inputs in order, its outputs flattened and
    matched to the model's outputs in order. Outputs only (no intermediates)."""

    has_intermediates = False

    def __init__(self, name: str, model: onnx.ModelProto, module):
        super().__init__(name, model)
        if module is None:
            raise UsageError("runtime 'module' needs the torch module (verify(..., module=m))")
        self.module = module

    def for_model(self, model):
        raise RuntimeFailure(self.name, "a torch module cannot run one ONNX node alone")

    def _run(self, feeds, names):
        import torch

        if names is not None:
            raise RuntimeFailure(self.name, "a torch module has no ONNX intermediates")
        args = [torch.from_numpy(np.array(feeds[n], order="C", copy=True)) for n in self.input_names]
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
