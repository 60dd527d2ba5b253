"""fold_constants: evaluate every node whose inputs are all constant, with refruntime's kernels.

* Each node runs through `refruntime.plan.make_kernel` at its own opset version (native kernel
  first, onnx.reference for the long tail).
* Never folded: random ops, Dropout in training mode, control flow (their bodies are folded
  inside), ops of custom domains without a kernel (noted, not an error).
* A user's quantization is kept: QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear (default
  domain or com.microsoft) are not folded, so a weight stays `DequantizeLinear(int8 initializer)`
  and nothing after it (a Transpose/Reshape of the weight, the op it feeds) becomes a float constant:
  folding would make the file ~4x larger and take the op out of the runtime's quantized kernels
  (onnxruntime fuses DQ -> Conv -> Q into QLinearConv only while the DQ is there). onnxsim and
  onnxslim keep them too. Integer ops *before* a DequantizeLinear (an int8 weight reshaped) still
  fold. `fold_dequantize=True` folds them like any other node: float weights, and where a runtime
  had run the op's quantized kernel each quantized tensor after it may move by one quantization step
  (later layers can amplify that).
* Shape/Size fold when their input's shape is static — declared, or found by onnx shape
  inference (inside simplify: by graphkit's ShapeInfo, shared with fold_shapes, which also folds
  the parts of a shape that are static when others are symbolic) — and the Gather/Concat/Slice/
  Unsqueeze chains after them fold as plain constants.
* A result above `size_limit` bytes (default 1e8) is not materialized; it is noted in the report.
* Folded values become initializers (their Value objects are kept, so names, types and subgraph
  references stay valid); a folded graph output becomes a Constant node so it stays an output.
  Constant nodes themselves are lifted to initializers.
"""
from __future__ import annotations

import math

import numpy as np

from graphkit.ir.node import Node
from graphkit.ir.tensor import Tensor, elem_type_of
from graphkit.passes.base import Pass, Report, graph_label
from graphkit.surgery._util import (
    all_graphs,
    ensure_ir_allows_free_initializers,
    inferred_types,
    is_default_domain,
    label,
    node_proto,
    opset_of,
    static_shape,
)

DEFAULT_SIZE_LIMIT = 100_000_000
RANDOM_OPS = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                        "Multinomial", "Bernoulli"})
_FOLDABLE_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
QUANTIZATION_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
_QUANTIZATION_DOMAINS = frozenset({"", "ai.onnx", "com.microsoft"})


def is_quantization_node(node) -> bool:
    """QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear of the default domain or com.microsoft:
    the nodes a quantized model's quantization is made of."""
    return node.op_type in QUANTIZATION_OPS and node.domain in _QUANTIZATION_DOMAINS


def is_training_dropout(node, opset: int) -> bool:
    """Dropout that drops: opset >= 12 with a training_mode input that is (or may be) true;
    opset < 7 unless is_test=1. Opset 7-11 Dropout is always inference."""
    if node.op_type != "Dropout" or not is_default_domain(node):
        return False
    if opset >= 12:
        if len(node.inputs) < 3 or node.inputs[2] is None:
            return False
        const = node.inputs[2].const_value
        return const is None or bool(np.asarray(const.numpy()).reshape(-1)[0])
    if opset < 7:
        return not node.attributes.get("is_test", 0)
    return False


class FoldConstants(Pass):
    name = "fold_constants"
    requires_acyclic = True

    def __init__(self, size_limit: int = DEFAULT_SIZE_LIMIT, lift_constants: bool = True,
                 fold_dequantize: bool = False, shapes=None):
        self.size_limit = int(size_limit)
        self.lift_constants = lift_constants
        self.fold_dequantize = fold_dequantize
        self.shapes = shapes  # a SharedShapes (simplify): static shapes from graphkit's ShapeInfo

    def run(self, model, report: Report) -> None:
        folder = _Folder(model, report, self.size_limit, self.fold_dequantize)
        if self.shapes is not None:
            folder.shape_info = self.shapes.get(model)
        for g in all_graphs(model.graph):
            folder.fold_graph(g, self.lift_constants)
        if folder.added_initializers:
            ensure_ir_allows_free_initializers(model)


class _Folder:
    def __init__(self, model, report: Report, size_limit: int, fold_dequantize: bool = False):
        self.model, self.report, self.size_limit = model, report, size_limit
        self.fold_dequantize = fold_dequantize
        self._types = None
        self._context = None
        self.skip: set[int] = set()  # id(node) of nodes already refused (noted once)
        self.added_initializers = False
        self.shape_info = None  # ShapeInfo to read static shapes from (else onnx shape inference)

    @property
    def types(self) -> dict:
        if self._types is None:
            self._types = inferred_types(self.model)
        return self._types

    def context(self):
        if self._context is None:
            from refruntime.plan import Options, PlanContext
            from refruntime.registry import normalize_domain

            opsets = {normalize_domain(d): v for d, v in self.model.opset_imports.items()}
            functions = {(f.domain, f.name): f for f in self.model.functions}
            options = Options(max_tensor_bytes=max(self.size_limit, 1))
            self._context = PlanContext(opsets=opsets, options=options, functions=functions)
        return self._context

    def fold_graph(self, g, lift_constants: bool) -> None:
        where = graph_label(g)
        kept = []  # quantization nodes of constants left alone (one note per graph)
        while True:  # one pass folds whole chains of a sorted graph; repeat for unsorted ones
            folded = 0
            for node in g:
                if id(node) in self.skip:
                    continue
                if not self.fold_dequantize and is_quantization_node(node):
                    if all(v is None or v.const_value is not None for v in node.inputs):
                        kept.append(node.op_type)
                        self.skip.add(id(node))
                    continue
                if node.op_type == "Constant" and is_default_domain(node):
                    if lift_constants and self._lift(g, node, where):
                        folded += 1
                    continue
                arrays = self._evaluate(node, where)
                if arrays is not None:
                    self._materialize(g, node, arrays)
                    self.report.add("folded", node=label(node), op=node.op_type, graph=where)
                    folded += 1
            if not folded:
                break
        if kept:
            self.report.note("kept_quantization", graph=where, nodes=len(kept),
                             ops=", ".join(sorted(set(kept))),
                             hint="weights stay quantized; fold_dequantize=True (--fold-dequantize) folds them")

    # -- deciding and evaluating --------------------------------------------------------
    def _evaluate(self, node, where: str) -> list | None:
        op = node.op_type
        if node.domain not in _FOLDABLE_DOMAINS or op in RANDOM_OPS or not node.outputs:
            return None
        if node._attrs is not None and next(iter(node.subgraphs()), None) is not None:
            return None
        opset = opset_of(self.model, node)
        if op == "Dropout" and is_training_dropout(node, opset):
            return None
        if not all(v is None or v.const_value is not None for v in node.inputs):
            if op in ("Shape", "Size") and is_default_domain(node) and node.inputs:
                return self._shape_of(node, opset)
            return None
        if not any(v is not None for v in node.inputs) and op != "ConstantOfShape":
            return None  # no inputs: generators (random ones are excluded above); leave them
        predicted = _predicted_nbytes(node)
        if predicted is not None and predicted > self.size_limit:
            return self._refuse(node, where, "too_large", bytes=predicted)
        if op == "ConstantOfShape":
            filled = _constant_of_shape(node)
            if filled is not None:
                return [filled]
        try:
            from refruntime.plan import make_kernel

            kernel, _ = make_kernel(node_proto(node), self.context())
            if getattr(kernel, "needs_scope", False):
                return self._refuse(node, where, "needs_scope")
            inputs = [None if v is None else v.const_value.numpy() for v in node.inputs]
            outputs = kernel.run(*inputs)
        except Exception as exc:  # noqa: BLE001 - a node we cannot evaluate is left as it is
            first = str(exc).splitlines()[0] if str(exc) else ""
            return self._refuse(node, where, "not_evaluated", error=f"{type(exc).__name__}: {first}"[:300])
        arrays = []
        for v, out in zip(node.outputs, outputs):
            if not isinstance(out, np.ndarray) and not np.isscalar(out):
                return self._refuse(node, where, "not_a_tensor")
            out = np.asarray(out)
            if out.nbytes > self.size_limit:
                return self._refuse(node, where, "too_large", bytes=int(out.nbytes))
            declared = v.elem_type
            if declared and out.dtype != object and elem_type_of(out.dtype) != declared:
                return self._refuse(node, where, "dtype_mismatch", got=str(out.dtype))
            arrays.append(out)
        if len(arrays) < len(node.outputs):
            return self._refuse(node, where, "missing_outputs")
        return arrays

    def _shape_of(self, node, opset: int) -> list | None:
        if self.shape_info is not None:
            shape = self.shape_info.static_shape(node.inputs[0]) if node.inputs[0] is not None else None
        else:
            shape = static_shape(node.inputs[0], self.types)
        if shape is None:
            return None
        if node.op_type == "Size":
            return [np.array(math.prod(shape), dtype=np.int64)]
        start = node.attributes.get("start", 0) if opset >= 15 else 0
        end = node.attributes.get("end", None) if opset >= 15 else None
        return [np.array(shape[slice(start, end)], dtype=np.int64)]

    def _refuse(self, node, where: str, kind: str, **detail):
        self.skip.add(id(node))
        self.report.note(kind, node=label(node), op=node.op_type, graph=where, **detail)

    # -- rewriting ----------------------------------------------------------------------
    def _materialize(self, g, node, arrays: list) -> None:
        outputs = {id(v) for v in g.outputs}
        pairs = list(zip(node.outputs, arrays))
        node.outputs.clear()  # the Values are kept: they become initializers / Constant outputs
        for v, array in pairs:
            if id(v) in outputs:  # stays a graph output: a Constant node where the node was
                const = Node("Constant", [], 0, name=node.name, attributes={"value": Tensor(array)})
                const.outputs.append(v)
                g.insert_after(node, const)
            elif v.uses and v.name:
                v.const_value = Tensor(array)
                g.add_initializer(v)
                self.added_initializers = True
        g.remove(node)

    def _lift(self, g, node, where: str) -> bool:
        v = node.outputs[0] if len(node.outputs) == 1 else None
        if v is None or not v.name or v.is_graph_output() or id(v) in {id(o) for o in g.outputs}:
            return False
        tensor = v.const_value
        if tensor is None:
            return False
        g.remove(node)
        node.outputs.clear()
        if v.uses:
            v.const_value = tensor
            g.add_initializer(v)
            self.added_initializers = True
        self.report.add("lifted", node=label(node), op="Constant", graph=where)
        return True


def _constant_of_shape(node) -> np.ndarray | None:
    """ConstantOfShape of a constant shape, as the spec says (a one-element `value`, default float 0),
    without building a kernel: light zoo models hold every weight as one. None: let the kernel say."""
    try:
        shape = node.inputs[0].const_value.numpy()
        if shape.dtype != np.int64 or shape.ndim != 1 or np.any(shape < 0):
            return None
        value = node.attributes.get("value") if node._attrs is not None or node._proto.attribute else None
        fill = np.zeros(1, np.float32) if value is None else np.asarray(value.numpy()).reshape(-1)
        if fill.size != 1 or fill.dtype == object:
            return None
        declared = node.outputs[0].elem_type
        if declared and elem_type_of(fill.dtype) != declared:
            return None
        return np.full(tuple(int(d) for d in shape), fill[0], dtype=fill.dtype)
    except Exception:  # noqa: BLE001 - malformed: the kernel path reports it
        return None


def _predicted_nbytes(node) -> int | None:
    """Output size of the ops that materialize from a small description, before running them."""
    op = node.op_type
    try:
        def arr(i):
            return node.inputs[i].const_value.numpy()

        if op == "ConstantOfShape" and node.inputs:
            value = node.attributes.get("value")
            itemsize = value.dtype.itemsize if value is not None else 4
            return int(np.prod(arr(0), dtype=np.float64)) * itemsize
        if op == "Expand":
            x, shape = arr(0), arr(1)
            out = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
            return int(np.prod(out, dtype=np.float64)) * x.dtype.itemsize
        if op == "Tile":
            x, reps = arr(0), arr(1)
            return int(x.size * np.prod(reps, dtype=np.float64)) * x.dtype.itemsize
        if op == "Range":
            start, limit, delta = (float(np.asarray(arr(i)).reshape(-1)[0]) for i in range(3))
            return int(max(math.ceil((limit - start) / delta), 0) if delta else 0) * arr(0).dtype.itemsize
    except Exception:  # noqa: BLE001 - malformed inputs: the kernel will say what is wrong
        return None
    return None
