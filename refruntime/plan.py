"""Compile a GraphProto into a Plan: ordered steps, each a kernel bound to value names.

Planning does everything that does not depend on the feeds, once: topological order (with the
cycle named if there is one), kernel choice per node and opset, attribute decoding, and the last
use of every value so the executor can free intermediates as soon as nothing needs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import GraphProto, NodeProto, numpy_helper

from refruntime.errors import ModelError, RefRuntimeError
from refruntime.fallback import FallbackKernel
from refruntime.registry import find_native, normalize_domain


@dataclass
class Options:
    """Session-wide settings every kernel can read (through `self.context.options`)."""

    precision: str = "native"          # "native" or "float64" (the oracle mode)
    allow_fallback: bool = True        # False: a node without native kernel is an error
    max_tensor_bytes: int = 1 << 34    # refuse to allocate tensors larger than this (16 GiB)
    max_loop_iterations: int = 1_000_000  # per run, all Loop nodes together (nested loops too)
    max_seconds: float | None = None   # a run longer than this stops with a LimitError (deadline.py)
    base_dir: str = ""                 # folder of the model file, for external data


@dataclass
class PlanContext:
    """What kernels get besides their node: opsets, model functions, options."""

    opsets: dict[str, int]
    options: Options
    functions: dict = field(default_factory=dict)
    loop_iterations: int = 0  # Loop iterations of the current run (Session.run resets it)

    def subplan(self, graph: GraphProto, outer_names: frozenset[str]) -> Plan:
        return build_plan(graph, self, outer_names)


@dataclass
class Step:
    index: int
    node: NodeProto
    kernel: Any
    inputs: tuple[str, ...]      # "" marks an omitted optional input
    outputs: tuple[str, ...]     # "" marks an omitted optional output
    frees: tuple[str, ...] = ()  # values read for the last time here
    is_fallback: bool = False
    guard: Any = None            # guard(inputs) raises LimitError before a too-large output (limits.py)

    @property
    def label(self) -> str:
        return self.node.name or f"{self.node.op_type}_{self.index}"


@dataclass
class Plan:
    graph: GraphProto
    steps: list[Step]
    initializers: dict[str, np.ndarray]
    input_names: list[str]
    output_names: list[str]
    outer_names: frozenset[str] = frozenset()
    # the plain executor path's compiled form (refruntime/plan_fusion.py), built at its first run;
    # False when the plan runs through the dict loop
    program: Any = None


def subgraph_free_names(graph: GraphProto) -> set[str]:
    """Names a graph (and its nested subgraphs) reads from an enclosing scope."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    defined |= {t.values.name for t in graph.sparse_initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(n for n in node.input if n)
        for g in node_subgraphs(node):
            used |= subgraph_free_names(g)
        defined.update(n for n in node.output if n)
    used.update(o.name for o in graph.output)
    return used - defined


def node_subgraphs(node: NodeProto) -> list[GraphProto]:
    graphs = []
    for attr in node.attribute:
        if attr.HasField("g"):
            graphs.append(attr.g)
        graphs.extend(attr.graphs)
    return graphs


def node_reads(node: NodeProto) -> list[str]:
    """Explicit inputs plus outer-scope names its subgraphs read."""
    reads = [n for n in node.input if n]
    for g in node_subgraphs(node):
        reads.extend(sorted(subgraph_free_names(g)))
    return reads


def topological_order(graph: GraphProto, available: set[str]) -> list[NodeProto]:
    """Nodes in an order where every input is produced first. Keeps the file order when valid."""
    nodes = list(graph.node)
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if not out:
                continue
            if out in producer:
                raise ModelError(
                    f"value {out!r} is produced twice: by node {_name(nodes[producer[out]])} "
                    f"and by node {_name(node)}"
                )
            producer[out] = i
    reads = [node_reads(n) for n in nodes]
    pending = [0] * len(nodes)
    consumers: dict[int, list[int]] = {}
    for i, names in enumerate(reads):
        deps = set()
        for name in names:
            p = producer.get(name)
            if p is None:
                if name not in available:
                    raise ModelError(
                        f"node {_name(nodes[i])} reads {name!r}, which is not a graph input, an "
                        "initializer, or the output of any node"
                    )
                continue
            if p == i:
                raise ModelError(f"node {_name(nodes[i])} reads its own output {name!r} (a cycle)")
            deps.add(p)
        pending[i] = len(deps)
        for p in deps:
            consumers.setdefault(p, []).append(i)
    if all(all(producer.get(n, -1) < i for n in names) for i, names in enumerate(reads)):
        return nodes  # already sorted: the common case, keep it
    import heapq

    ready = [i for i, count in enumerate(pending) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for c in consumers.get(i, ()):
            pending[c] -= 1
            if pending[c] == 0:
                heapq.heappush(ready, c)
    if len(order) != len(nodes):
        stuck = [i for i in range(len(nodes)) if pending[i] > 0]
        raise ModelError("the graph has a cycle through nodes " + ", ".join(_name(nodes[i]) for i in stuck[:8]))
    return [nodes[i] for i in order]


def graph_input_names(graph: GraphProto) -> set[str]:
    return {i.name for i in graph.input}


def _name(node: NodeProto) -> str:
    return f"{node.name!r} ({node.op_type})" if node.name else f"<{node.op_type} -> {list(node.output)}>"


def load_initializers(graph: GraphProto, base_dir: str = "", max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Initializers as arrays. External data goes through refruntime.external_data's checks; a
    tensor whose data does not match its header, or above `max_bytes`, is a ModelError naming it."""
    values = {}
    for tensor in graph.initializer:
        array = tensor_to_array(tensor, base_dir, max_bytes, "initializer")
        if isinstance(array, np.ndarray):
            array.flags.writeable = False  # kernels never write their inputs; read-only lets them trust that
        values[tensor.name] = array
    for sparse in graph.sparse_initializer:
        name = sparse.values.name
        try:
            from onnx.reference.op_run import to_sparse_tensor

            dims = [int(d) for d in sparse.dims]
            if any(d < 0 for d in dims):
                raise ValueError(f"negative dimension in shape {dims}")
            _check_bytes(name, dims, sparse.values.data_type, max_bytes, "sparse initializer")
            values[name] = to_sparse_tensor(sparse).todense()
        except RefRuntimeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a malformed sparse tensor fails in many ways
            raise ModelError(f"sparse initializer {name!r} is malformed: {type(exc).__name__}: {exc}") from None
    return values


def tensor_to_array(tensor, base_dir: str = "", max_bytes: int | None = None, what: str = "tensor") -> np.ndarray:
    """A TensorProto as a numpy array, with its header checked against its data first."""
    from onnx import TensorProto

    from refruntime.external_data import UnsafeExternalData, read_external, storage_nbytes

    name = tensor.name
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise ModelError(f"{what} {name!r}: negative dimension in shape {dims}")
    _check_bytes(name, dims, tensor.data_type, max_bytes, what)
    try:
        if tensor.data_location == TensorProto.EXTERNAL:
            return read_external(tensor, base_dir)
        if tensor.HasField("raw_data") and tensor.data_type != TensorProto.STRING:
            count = 1
            for d in dims:
                count *= d
            need = storage_nbytes(tensor.data_type, count)
            if len(tensor.raw_data) != need:
                raise ModelError(f"{what} {name!r}: raw_data has {len(tensor.raw_data)} bytes, its dtype and "
                                 f"shape {dims} need {need}")
        return numpy_helper.to_array(tensor)
    except UnsafeExternalData as exc:
        raise ModelError(str(exc)) from None
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy_helper raises ValueError, KeyError, TypeError...
        raise ModelError(f"{what} {name!r} (data type {tensor.data_type}, shape {dims}) is malformed: "
                         f"{type(exc).__name__}: {exc}") from None


def _check_bytes(name: str, dims: list[int], data_type: int, max_bytes: int | None, what: str) -> None:
    from refruntime.dtypes import to_numpy_dtype
    from refruntime.errors import LimitError

    try:
        itemsize = to_numpy_dtype(data_type).itemsize
    except Exception:  # noqa: BLE001 - unknown enum values raise KeyError/ValueError
        raise ModelError(f"{what} {name!r}: unknown data type {data_type}") from None
    count = 1
    for d in dims:
        count *= d
    if max_bytes is not None and count * itemsize > max_bytes:
        raise LimitError(f"{what} {name!r} of shape {dims} needs {count * itemsize} bytes, above "
                         f"max_tensor_bytes={max_bytes}")


def make_kernel(node: NodeProto, context: PlanContext):
    """(kernel, is_fallback) for a node, native first. The node is checked against its schema
    first; any other failure while building its kernel is a ModelError naming the node."""
    from refruntime.errors import RefRuntimeError

    try:
        return _make_kernel(node, context)
    except RefRuntimeError:
        raise
    except RecursionError:
        raise ModelError(f"node {_name(node)}: subgraphs nested too deeply to plan") from None
    except Exception as exc:
        raise ModelError(f"node {_name(node)}: cannot prepare its kernel: {type(exc).__name__}: {exc}") from exc


def _make_kernel(node: NodeProto, context: PlanContext):
    from refruntime.validate import check_node

    domain = normalize_domain(node.domain)
    opset = context.opsets.get(domain)
    if opset is None:
        from refruntime.errors import UnsupportedOpError

        raise UnsupportedOpError(
            f"node {_name(node)}: domain {domain or 'ai.onnx'!r} has no opset import in the model "
            f"(imports: {sorted(context.opsets)})"
        )
    check_node(node, domain, opset)
    native = find_native(domain, node.op_type, opset)
    if native is not None:
        return native(node, opset, context), False
    if not context.options.allow_fallback:
        from refruntime.errors import UnsupportedOpError

        raise UnsupportedOpError(
            f"node {_name(node)}: no native kernel for {domain or 'ai.onnx'}::{node.op_type} at "
            f"opset {opset} and fallback is disabled"
        )
    if any(t.data_location == 1 for a in node.attribute for t in ([a.t] if a.HasField("t") else []) + list(a.tensors)):
        from refruntime.errors import UnsupportedOpError

        raise UnsupportedOpError(f"node {_name(node)}: a tensor attribute with external data is only supported "
                                 f"by native kernels, and {node.op_type} has none")
    return FallbackKernel(node, context.opsets, context.functions), True


def build_plan(graph: GraphProto, context: PlanContext, outer_names: frozenset[str] = frozenset()) -> Plan:
    initializers = load_initializers(graph, context.options.base_dir, context.options.max_tensor_bytes)
    input_names = [i.name for i in graph.input]
    available = set(input_names) | set(initializers) | set(outer_names)
    ordered = topological_order(graph, available)
    from refruntime.limits import make_guard

    steps = []
    constants = {k: v for k, v in initializers.items() if k not in input_names}  # a feed may replace the others
    for index, node in enumerate(ordered):
        kernel, is_fallback = make_kernel(node, context)
        if not is_fallback:
            known = {i: constants[n] for i, n in enumerate(node.input) if n in constants}
            if known:
                kernel.check_constants(known)
        step = Step(index, node, kernel, tuple(node.input), tuple(node.output), is_fallback=is_fallback)
        step.guard = make_guard(node, context.options, step.label)
        steps.append(step)
    output_names = [o.name for o in graph.output]
    for name in output_names:
        if name not in available and not any(name in s.outputs for s in steps):
            raise ModelError(f"graph output {name!r} is not produced by any node nor is it an input")
    _assign_frees(steps, keep=set(output_names), local=available - set(outer_names))
    return Plan(graph, steps, initializers, input_names, output_names, outer_names)


def _assign_frees(steps: list[Step], keep: set[str], local: set[str]) -> None:
    """Mark, on each step, the locally-owned values it reads for the last time."""
    last_use: dict[str, int] = {}
    defined = set(local)
    for step in steps:
        defined.update(n for n in step.outputs if n)
        for name in node_reads(step.node):
            last_use[name] = step.index
    frees: dict[int, list[str]] = {}
    for name, index in last_use.items():
        if name in defined and name not in keep:
            frees.setdefault(index, []).append(name)
    # outputs nobody reads (and that are not graph outputs) are freed right after their step
    for step in steps:
        for name in step.outputs:
            if name and name not in last_use and name not in keep:
                frees.setdefault(step.index, []).append(name)
    for step in steps:
        step.frees = tuple(frees.get(step.index, ()))
