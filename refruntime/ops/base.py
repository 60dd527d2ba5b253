"""OpRun: the base class of every native kernel.

A kernel is a class named after its op, in its own file `ops/op_<name>.py`. Its `_run` takes the
op's inputs positionally and the op's attributes as keyword arguments *with the spec defaults*, so
the signature reads like the spec::

    class LeakyRelu(OpRun):
        def _run(self, x, alpha=0.01):
            return (np.where(x >= 0, x, x * alpha).astype(x.dtype),)

`_run` returns a tuple with one array per output. Versioned semantics live in separate classes
whose name ends in the first opset they cover (`Softmax_1`, `Softmax_13`); the registry picks, for a
node of opset v, the class with the largest version <= v. A class without suffix covers opset 1+.

Attributes are decoded once, when the plan is built (not on every run). Heavy numba code lives in
`refruntime/kernels/` and is imported inside `_run`/`prepare`, so that importing refruntime never
imports numba.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from onnx import AttributeProto, NodeProto


def decode_attribute(attr: AttributeProto, base_dir: str = "") -> Any:
    """Python value of one attribute: ints/floats/str, lists of them, numpy tensors, GraphProtos.
    Tensors go through the plan's checks (external data only inside `base_dir`)."""
    t = attr.type
    if t == AttributeProto.FLOAT:
        return float(attr.f)
    if t == AttributeProto.INT:
        return int(attr.i)
    if t == AttributeProto.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if t == AttributeProto.TENSOR:
        from refruntime.plan import tensor_to_array

        return tensor_to_array(attr.t, base_dir, what=f"attribute {attr.name!r} tensor")
    if t == AttributeProto.GRAPH:
        return attr.g
    if t == AttributeProto.FLOATS:
        return [float(v) for v in attr.floats]
    if t == AttributeProto.INTS:
        return [int(v) for v in attr.ints]
    if t == AttributeProto.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if t == AttributeProto.TENSORS:
        from refruntime.plan import tensor_to_array

        return [tensor_to_array(x, base_dir, what=f"attribute {attr.name!r} tensor") for x in attr.tensors]
    if t == AttributeProto.GRAPHS:
        return list(attr.graphs)
    if t == AttributeProto.SPARSE_TENSOR:
        from onnx.reference.op_run import to_sparse_tensor

        return to_sparse_tensor(attr.sparse_tensor)
    if t == AttributeProto.TYPE_PROTO:
        return attr.tp
    raise ValueError(f"attribute {attr.name!r} has an unknown type {t}")


class OpRun:
    """Base of native kernels. See the module docstring for the conventions."""

    #: filled by the registry from the class name ("Softmax_13" -> "Softmax", 13)
    op_type: ClassVar[str] = ""
    since_version: ClassVar[int] = 1
    domain: ClassVar[str] = ""
    #: set by subclasses that run subgraphs; they then receive `scope=` (outer values) in _run
    needs_scope: ClassVar[bool] = False

    def __init__(self, node: NodeProto, opset: int, context: Any = None):
        self.node = node
        self.opset = opset
        self.context = context  # the PlanContext: opsets, options, functions (subgraph planning)
        self.options = context.options if context is not None else None
        self.num_outputs = len(node.output)
        base_dir = getattr(self.options, "base_dir", "") or ""
        self.attributes = {a.name: decode_attribute(a, base_dir) for a in node.attribute}
        self.prepare()

    def prepare(self) -> None:
        """Hook for work done once per node at plan time (parse attributes, pick a code path)."""

    def check_constants(self, constants: dict[int, np.ndarray]) -> None:
        """Hook called at plan time with the node's inputs that are initializers ({input index:
        array}): refuse (self.refuse) parameters the spec forbids, e.g. a zero quantization scale,
        before any run."""

    def refuse(self, message: str, input_index: int | None = None):
        """Raise a ModelError naming this node, op and (optionally) input."""
        from refruntime.errors import ModelError

        name = self.node.name or (self.node.output[0] if self.node.output else "?")
        where = f"node {name!r} ({self.node.op_type})"
        if input_index is not None and input_index < len(self.node.input):
            where += f", input {input_index} {self.node.input[input_index]!r}"
        raise ModelError(f"{where}: {message}")

    def run(self, *inputs: np.ndarray | None, scope=None) -> tuple:
        if self.needs_scope:
            return self._run(*inputs, scope=scope, **self.attributes)
        return self._run(*inputs, **self.attributes)

    def _run(self, *inputs, **attributes) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError(type(self).__name__)

    # --- helpers for kernels -------------------------------------------------------------
    def fail(self, message: str):
        """Raise a KernelError that names this node and op."""
        from refruntime.errors import KernelError

        name = self.node.name or (self.node.output[0] if self.node.output else "?")
        raise KernelError(f"node {name!r} ({self.node.op_type}): {message}", name, self.node.op_type)
