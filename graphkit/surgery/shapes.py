"""Input shapes: declare them, make the batch symbolic, and keep the rest of the graph consistent.

    gk.set_input_shape(model, "data", [8, 3, 224, 224])   # re-infers every shape after it
    changes = gk.make_batch_symbolic(model, "batch")      # rewrites baked batch sizes; returns them

A model exported at batch 1 often bakes that 1 into constants: a Reshape to [1, 2048] after a
pooling layer, an Expand to [1, 1, 768]. Changing the input's first dim alone then leaves a graph
that fails at batch 2 (or silently mixes samples). `make_batch_symbolic` rewrites those constants
where the rewrite is sound, judged by onnx shape inference with the batch as a symbol:

- Reshape to a constant [b, ...] whose data input carries the batch in dim 0: dim 0 becomes 0
  ("copy the input's dim 0"; with allowzero=1, a Shape->Slice->Concat computes it instead).
- Expand to a constant [b, ...]: dim 0 becomes 1 when the expanded tensor carries the batch in
  dim 0 (broadcasting keeps it); when it does not and b > 1, the batch is taken from the first
  batched input's shape (Shape->Slice->Concat).

Afterwards every graph output must carry the symbol in dim 0; if one does not, the model is left
as it was and a GraphError names the node where the batch is lost (the first node that reads a
batched value and writes one whose dim 0 is a fixed number on the way to that output).
Intermediate shapes are re-inferred from scratch (stale value_info is dropped, not kept).
"""
from __future__ import annotations

import numpy as np

from graphkit.errors import GraphError
from graphkit.ir.node import Node
from graphkit.ir.tensor import Tensor
from graphkit.ir.value import Value
from graphkit.surgery._util import NameGen, find_value, inferred_types, label, type_shape


def set_input_shape(model, name: str, shape) -> Value:
    """Declare a graph input's shape (ints, names for symbolic dims, None for unknown) and
    re-infer every intermediate and output shape from it."""
    v = find_value(model, name) if isinstance(name, str) else name
    if not v.is_graph_input() or v.graph is not model.graph:
        raise GraphError(f"{v.name!r} is not an input of the main graph")
    v.set_type(v.elem_type or None, tuple(shape))
    refresh_shapes(model)
    return v


def refresh_shapes(model, fallback=None) -> dict:
    """Forget the declared shapes of intermediates and outputs, re-infer them from the inputs.
    Where inference finds nothing, an output keeps `fallback(value, old_shape)` (default: its old
    rank with unknown dims) and an intermediate loses its shape. Returns the inferred types."""
    g = model.graph
    stale = [v for v in [*g.value_info, *g.outputs] if v.type is not None and v.type.HasField("tensor_type")]
    old = {id(v): v.shape for v in stale}
    for v in stale:
        v.set_type(v.elem_type or None, None)
    types = inferred_types(model, data_prop=True)
    outputs = {id(v) for v in g.outputs}
    for v in stale:
        shape = type_shape(types.get(v.name))
        if shape is None and id(v) in outputs and old[id(v)] is not None:
            shape = fallback(v, old[id(v)]) if fallback else tuple(None for _ in old[id(v)])
        v.set_type(v.elem_type or None, shape)
    return types


def make_batch_symbolic(model, name: str = "N", inputs=None) -> list[dict]:
    """Dim 0 of the data inputs (all, or those named in `inputs`) becomes the symbol `name`,
    baked batch sizes in Reshape/Expand targets are rewritten (see the module doc), and every
    shape is re-inferred. Returns the rewrites ({node, op, input, from, to}). Raises GraphError
    naming the node where the batch cannot follow (the model is then unchanged)."""
    g = model.graph
    chosen = [v for v in g.inputs if g.initializers.get(v.name) is not v and (inputs is None or v.name in inputs)
              and v.shape]
    if inputs is not None:
        missing = sorted(set(inputs) - {v.name for v in chosen})
        if missing:
            raise GraphError(f"make_batch_symbolic: {missing} are not data inputs with a known rank")
    if not chosen:
        raise GraphError("make_batch_symbolic: the model has no data input with a known rank")
    batches = {v.shape[0] for v in chosen if isinstance(v.shape[0], int)}
    undo = _Undo()
    try:
        for v in chosen:
            undo.type(v)
            v.set_type(v.elem_type or None, (name, *v.shape[1:]))
        undo.types([*g.value_info, *g.outputs])
        types = refresh_shapes(model)
        changes: list[dict] = []
        while True:  # a rewrite lets the batch reach further nodes, whose targets the next round sees
            found = _rewrite_baked(model, name, batches, chosen, types, undo)
            if not found:
                break
            changes += found
            types = refresh_shapes(model)
        lost = _where_batch_is_lost(model, name, types)
        if lost:
            raise GraphError(lost)
    except BaseException:
        undo.run()
        raise
    return changes


# -- rewriting baked batch sizes ------------------------------------------------------------------
def _rewrite_baked(model, symbol: str, batches: set[int], chosen: list[Value], types: dict, undo) -> list[dict]:
    g = model.graph
    names = NameGen(model)
    changes = []
    for node in list(g):
        if node.op_type not in ("Reshape", "Expand") or node.domain not in ("", "ai.onnx") or len(node.inputs) < 2:
            continue
        data, target = node.inputs[0], node.inputs[1]
        const = target.const_value if target is not None else None
        if data is None or const is None:
            continue
        values = np.asarray(const.numpy())
        if values.ndim != 1 or values.size == 0 or int(values[0]) not in batches:
            continue
        data_shape = _shape(data, types)
        carries = bool(data_shape) and data_shape[0] == symbol
        new = values.copy()
        computed = None
        if node.op_type == "Reshape":
            if not carries:
                continue  # dim 0 of this Reshape is not the batch (judged by inference)
            if node.attributes.get("allowzero", 0):
                computed = values[1:]
            else:
                new[0] = 0
        else:  # Expand: broadcasting
            rank = len(data_shape) if data_shape is not None else None
            if carries and rank == len(values):
                new[0] = 1
            elif int(values[0]) > 1:
                computed = values[1:]
            else:
                continue
        before = values.tolist()
        if computed is not None:
            value = _batch_from_input(model, node, chosen[0], computed, names, undo)
            after = f"[{chosen[0].name}.shape[0], {', '.join(str(int(d)) for d in computed)}]"
        else:
            value = Value(names.new(f"{target.name}_batch"), const_value=Tensor(new.astype(values.dtype)))
            g.add_initializer(value)
            undo.add(lambda v=value: g.remove_initializer(v.name))
            after = new.tolist()
        undo.input(node, 1)
        node.inputs[1] = value
        if not target.uses and target.is_initializer() and not target.is_graph_input():
            g.remove_initializer(target.name)  # nothing else reads the old target
            undo.add(lambda t=target: g.add_initializer(t))
        changes.append({"node": label(node), "op": node.op_type, "input": target.name, "from": before, "to": after})
    return changes


def _batch_from_input(model, node, source: Value, rest, names: NameGen, undo) -> Value:
    """Concat(Shape(source)[0:1], rest) inserted before `node`: a target whose dim 0 is the batch."""
    g = model.graph

    def const(hint, array):
        v = Value(names.new(hint), const_value=Tensor(np.asarray(array, np.int64)))
        g.add_initializer(v)
        undo.add(lambda v=v: g.remove_initializer(v.name))
        return v

    base = names.new(f"{label(node)}_batch")
    shape = Node("Shape", [source], [names.new(f"{base}_shape")], name=f"{base}_shape")
    first = Node("Slice", [shape.outputs[0], const(f"{base}_zero", [0]), const(f"{base}_one", [1])],
                 [names.new(f"{base}_dim")], name=f"{base}_slice")
    concat = Node("Concat", [first.outputs[0], const(f"{base}_rest", np.asarray(rest, np.int64))],
                  [names.new(f"{base}_target")], name=f"{base}_concat", attributes={"axis": 0})
    g.insert_before(node, shape, first, concat)
    undo.add(lambda: g.remove(concat, first, shape))
    return concat.outputs[0]


def _shape(value: Value, types: dict):
    inferred = type_shape(types.get(value.name))
    return inferred if inferred is not None else value.shape


def _where_batch_is_lost(model, symbol: str, types: dict) -> str | None:
    """A sentence naming the node where the batch stops reaching an output, or None when every
    output that depends on the batch keeps it in dim 0 (an unknown dim 0 is given the benefit of
    the doubt; Shape, Size and reductions drop the batch on purpose)."""
    g = model.graph

    def batched(v) -> bool:
        s = _shape(v, types) if v is not None else None
        return bool(s) and s[0] == symbol

    def fixed(v) -> bool:
        s = _shape(v, types)
        return bool(s) and isinstance(s[0], int)

    for out in g.outputs:
        if not fixed(out):
            continue
        ancestors, values, stack = set(), {id(out)}, [out]
        while stack:
            v = stack.pop()
            p = v.producer
            if p is None or id(p) in ancestors:
                continue
            ancestors.add(id(p))
            for i in p.inputs:
                if i is not None:
                    values.add(id(i))
                    stack.append(i)
        for node in g:
            if id(node) not in ancestors or not any(batched(i) for i in node.inputs):
                continue
            writes = [o for o in node.outputs if id(o) in values and fixed(o)]
            if not writes:
                continue
            if node.op_type in ("Shape", "Size") or node.op_type.startswith("Reduce"):
                break  # the batch is dropped on purpose
            shape = ", ".join("?" if d is None else str(d) for d in _shape(writes[0], types))
            return (f"cannot make the batch symbolic: node {label(node)!r} ({node.op_type}) writes "
                    f"{writes[0].name} of shape [{shape}] from a batched input, so output {out.name!r} would not "
                    f"follow the batch")
    return None


class _Undo:
    """Reverse log of the edits, run if the result is refused (the model is then as it was)."""

    def __init__(self):
        self.steps = []

    def add(self, fn) -> None:
        self.steps.append(fn)

    def type(self, v: Value) -> None:
        old = v.type
        self.steps.append(lambda: setattr(v, "type", old))

    def types(self, values) -> None:
        for v in values:
            self.type(v)

    def input(self, node, i: int) -> None:
        old = node.inputs[i]
        self.steps.append(lambda: node.inputs.__setitem__(i, old))

    def run(self) -> None:
        for fn in reversed(self.steps):
            fn()
        self.steps.clear()
