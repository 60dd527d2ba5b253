"""Execute an ONNX graph with torch, one op at a time (the `torch` runtime of verification).

A second, independent implementation of the ops of CNNs and transformers: convolutions, pools,
Gemm/MatMul/Einsum, normalisations, activations, elementwise math, indexing and the shape ops
(`ops.py`, `shape_ops.py`, `index_ops.py`). A node with no torch mapping (another domain, an op
not mapped, a subgraph attribute as in If/Loop/Scan, or an attribute combination a mapping
declines) is executed by refruntime's kernel for that node (`delegate.py`) and listed in
`delegated`; a node neither can run is reported by name and op when the graph is built, never
guessed. Opset semantics (Softmax's 2-D coercion below 13, attributes that became inputs) follow
the model's opset import. 0-d tensors stay 0-d everywhere: feeds, initializers, constants,
attribute tensors, delegated results and the numpy values handed back.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graphkit.errors import UsageError
from graphkit.verification.graph import initializer_names, topo_nodes


class TorchGraph:
    """A model prepared for torch execution; `run` frees each value after its last use.

    `delegated` lists the labels (node.name or f"{op_type}_{index}") of the nodes that refruntime
    executes because torch has no mapping for them."""

    def __init__(self, model: onnx.ModelProto):
        import torch

        from graphkit.verification.runtimes.torch.ops import OPS, PLAN_CHECKS

        self.torch = torch
        if model.functions:  # as refruntime's Session does: calls become their bodies' nodes
            model = _inline_functions(model)
        self.model = model
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.nodes = topo_nodes(graph)
        self.steps = []
        self.delegated: list[str] = []
        unrunnable = []
        for info in self.nodes:
            try:
                attrs = {a.name: _attr(a) for a in info.node.attribute
                         if a.type not in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)}
                reason = _unmapped(info.node, OPS, PLAN_CHECKS, attrs, self.opset)
            except Exception as exc:  # noqa: BLE001 - e.g. a tensor attribute stored outside the file
                attrs, reason = {}, f"attributes: {type(exc).__name__}: {_first_line(exc)}"
            if reason is None:
                self.steps.append((info, OPS[info.op], attrs, None))
                continue
            try:
                from graphkit.verification.runtimes.torch.delegate import DelegatedNode

                delegate = DelegatedNode(model, info.node, info.label)
            except Exception as exc:  # noqa: BLE001 - refruntime's ModelError/UnsupportedOpError and kin
                unrunnable.append(f"{info.label} ({_qualified(info.node)}) [torch: {reason}; refruntime: "
                                  f"{type(exc).__name__}: {_first_line(exc)}]")
                continue
            self.steps.append((info, None, attrs, delegate))
            self.delegated.append(info.label)
        if unrunnable:
            shown = ", ".join(unrunnable[:6]) + (f" and {len(unrunnable) - 6} more" if len(unrunnable) > 6 else "")
            raise UsageError(f"the torch backend cannot run {len(unrunnable)} node(s), neither with torch nor "
                             f"through refruntime: {shown}; leave 'torch' out of --runtimes for this model")
        self.initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.output_names = [vi.name for vi in graph.output]
        keep = set(self.output_names) | initializer_names(graph)
        last_use: dict[str, int] = {}
        for i, (info, _, _, delegate) in enumerate(self.steps):
            for name in info.inputs:
                last_use[name] = i
            if delegate is not None:  # subgraphs read outer values by name
                for name in delegate.outer_names:
                    last_use[name] = i
        self.frees: list[list[str]] = [[] for _ in self.steps]
        for name, i in last_use.items():
            if name not in keep:
                self.frees[i].append(name)

    def run(self, feeds: dict, names: set[str] | None = None,
            callback: Callable[[str, np.ndarray], object] | None = None) -> dict[str, np.ndarray]:
        """Graph outputs as numpy; `callback(name, value)` for each produced name in `names`
        (returning True stops the run early)."""
        torch = self.torch
        env = {k: _to_torch(torch, v) for k, v in self.initializers.items()}
        env.update({k: _to_torch(torch, v) for k, v in feeds.items()})
        with torch.no_grad():
            for i, (info, fn, attrs, delegate) in enumerate(self.steps):
                try:
                    if delegate is None:
                        outputs = fn(_torch_inputs(info, env), attrs, self.opset, len(info.node.output))
                    else:
                        outputs = _run_delegated(torch, delegate, env)
                except Exception as exc:
                    where = " (delegated to refruntime)" if delegate is not None else ""
                    raise RuntimeError(f"node {info.label!r} ({info.op}){where}: {type(exc).__name__}: "
                                       f"{_first_line(exc)}") from exc
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


def _unmapped(node: onnx.NodeProto, ops: dict, checks: dict, attrs: dict, opset: int) -> str | None:
    """Why torch does not run this node, or None when it does."""
    if node.domain not in ("", "ai.onnx"):
        return f"domain {node.domain!r}"
    if node.op_type not in ops:
        return "no torch mapping"
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
        return "subgraph attribute"
    check = checks.get(node.op_type)
    return check(attrs, len(node.output), opset) if check is not None else None


def _torch_inputs(info, env) -> list:
    inputs = [env[n] if n else None for n in info.node.input]
    for name, value in zip(info.node.input, inputs):
        if isinstance(value, np.ndarray):  # a delegated node's result torch cannot hold
            raise TypeError(f"input {name!r} has dtype {value.dtype}, which torch cannot hold")
    return inputs


def _run_delegated(torch, delegate, env) -> list:
    values = {n: _to_numpy(env[n]) for n in delegate.input_names}
    scope = {n: _to_numpy(env[n]) for n in delegate.outer_names if n in env}
    return [None if v is None else _to_torch(torch, v, strict=False) for v in delegate.run(values, scope)]


def _qualified(node: onnx.NodeProto) -> str:
    return f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _inline_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnx import inliner

    try:
        return inliner.inline_local_functions(model)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"the torch backend cannot inline the model's local functions: {_first_line(exc)}") from None


def _attr(a: onnx.AttributeProto):
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)  # dims [] -> a 0-d array
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    return value


def _to_torch(torch, value, strict: bool = True):
    """A torch tensor with the value's shape, 0-d included (np.ascontiguousarray would make a 0-d
    array 1-d). A dtype torch cannot hold is an error, or (strict=False, for refruntime's results)
    stays a numpy array that only delegated nodes may read."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype == np.uint16 or value.dtype.kind not in "fiub":
            if strict:
                raise RuntimeError(f"the torch backend does not handle dtype {value.dtype}")
            return value
        # a C-ordered, native-endian copy of the same shape (torch.from_numpy shares memory)
        return torch.from_numpy(np.array(value, dtype=value.dtype.newbyteorder("="), order="C", copy=True))
    return torch.as_tensor(value)


def _to_numpy(value) -> np.ndarray:
    """numpy with the tensor's shape (a 0-d tensor gives a 0-d array)."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)
