"""Execute an ONNX graph with torch, one op at a time (the `torch` runtime of verification).

A second, independent implementation of the ops of a CNN: convolutions, pools, Gemm/MatMul,
normalisations, activations, elementwise math and the shape ops. The kernels are in
`ops.py`; a node it cannot map is reported by name and op when the graph is built, never
guessed. Opset semantics (Softmax's 2-D coercion below 13, attributes that became inputs) follow
the model's opset import.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graphkit.errors import UsageError
from graphkit.verification.graph import initializer_names, topo_nodes


class TorchGraph:
    """A model prepared for torch execution; `run` frees each value after its last use."""

    def __init__(self, model: onnx.ModelProto):
        import torch

        from graphkit.verification.runtimes.torch.ops import OPS

        self.torch = torch
        self.model = model
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.nodes = topo_nodes(graph)
        unsupported = []
        self.steps = []
        for info in self.nodes:
            fn = OPS.get(info.op) if info.node.domain in ("", "ai.onnx") else None
            if fn is None or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                                 for a in info.node.attribute):
                unsupported.append(f"{info.label} ({info.node.domain + '.' if info.node.domain else ''}{info.op})")
                continue
            attrs = {a.name: _attr(a) for a in info.node.attribute}
            self.steps.append((info, fn, attrs))
        if unsupported:
            shown = ", ".join(unsupported[:12]) + (f" and {len(unsupported) - 12} more" if len(unsupported) > 12 else "")
            raise UsageError(f"the torch backend cannot map {len(unsupported)} node(s): {shown}; "
                             "leave 'torch' out of --runtimes for this model")
        self.initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.output_names = [vi.name for vi in graph.output]
        keep = set(self.output_names)
        last_use: dict[str, int] = {}
        for i, (info, _, _) in enumerate(self.steps):
            for name in info.inputs:
                last_use[name] = i
        self.frees: list[list[str]] = [[] for _ in self.steps]
        for name, i in last_use.items():
            if name not in keep and name not in initializer_names(graph):
                self.frees[i].append(name)

    def run(self, feeds: dict, names: set[str] | None = None,
            callback: Callable[[str, np.ndarray], object] | None = None) -> dict[str, np.ndarray]:
        """Graph outputs as numpy; `callback(name, value)` for each produced name in `names`
        (returning True stops the run early)."""
        torch = self.torch
        env = {k: _to_torch(torch, v) for k, v in self.initializers.items()}
        env.update({k: _to_torch(torch, v) for k, v in feeds.items()})
        with torch.no_grad():
            for i, (info, fn, attrs) in enumerate(self.steps):
                inputs = [env[n] if n else None for n in info.node.input]
                try:
                    outputs = fn(inputs, attrs, self.opset, len(info.node.output))
                except Exception as exc:
                    raise RuntimeError(f"node {info.label!r} ({info.op}): {type(exc).__name__}: {exc}") from exc
                stop = False
                for name, value in zip(info.node.output, outputs):
                    if not name:
                        continue
                    env[name] = value
                    if callback is not None and names is not None and name in names:
                        stop = callback(name, _to_numpy(value)) is True or stop
                if stop:
                    break
                for name in self.frees[i]:
                    env.pop(name, None)
        return {n: _to_numpy(env[n]) for n in self.output_names if n in env}


def _attr(a: onnx.AttributeProto):
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    return value


def _to_torch(torch, value):
    if isinstance(value, np.ndarray):
        if value.dtype == np.uint16 or value.dtype.kind not in "fiub":
            raise RuntimeError(f"the torch backend does not handle dtype {value.dtype}")
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    return torch.as_tensor(value)


def _to_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
