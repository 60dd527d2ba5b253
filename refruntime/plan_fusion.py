"""The plain executor path's program: the plan's steps with values in integer slots, and fused steps.

`compile_program(plan)` turns a Plan into a `Program`, once (the executor builds it at the first
plain run and keeps it on the plan):

- Values live in a list indexed by integers fixed at compile time: a run does no name lookups
  besides reading the feeds and initializers once. Slot 0 is always None (an omitted optional
  input); slot 1 receives omitted optional outputs. A slot is cleared after its last reader, as
  the dict loop frees names.
- Fusion. The graph is not changed, only the program:
    Conv [-> BatchNormalization] [-> Relu | Clip] [-> MaxPool]
                                                    one step: conv_nd's epilogue applies the BN's
                                                    per-channel affine map, the clamp and a
                                                    non-overlapping floor-mode 2-D MaxPool
    Gemm -> Relu                                    one step: Relu in place on Gemm's fresh output
  A node joins the chain only if the chain's current value has exactly one reader, that node, and
  is not a graph output; the BatchNormalization must be the inference form (one output,
  per-channel) with its four parameters initializers that are not graph inputs (a feed could
  replace those), and a Clip's min/max must be attributes or such initializers. The BN's affine
  map is computed at plan time by the same function BatchNormalization uses per run, and the
  epilogue does the float operations in the unfused order, so fused results are bitwise equal to
  the unfused ones. At run time a fused Conv computes fused only for float32/float64 X with
  parameters of matching shapes; anything else (float16, whose unfused ops round in between, or
  a shape error to report) runs the original kernels one after the other.

Who sees unfused values: everything but the plain path. `executor.execute` runs this program only
when no debugging feature is on and the plan is a top-level graph; capture, before/after hooks,
check_finite, per-node profile and the float64 oracle all take the step-by-step loop over
`plan.steps`, so they observe every intermediate value the graph defines (a profile therefore
times the unfused nodes). A kernel error in a fused step names its first node (the Conv or Gemm).
Plans with steps that read the enclosing scope (If/Loop/Scan at top level) are not compiled: the
dict loop runs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NONE_SLOT, DUMP_SLOT = 0, 1
_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass
class Program:
    n_slots: int
    sources: list[tuple[str, int]]  # values taken from the run's dict (feeds, initializers)
    steps: list[tuple]              # (step, run, input slots, output slots, freed slots, outputs needed, guard)
    outputs: list[tuple[str, int]]  # graph outputs, written back to the run's dict
    fused: list[str] = field(default_factory=list)  # one description per fused step, for reports


def compile_program(plan) -> Program | None:
    """The Program of `plan`, or None when the plan must run through the dict loop."""
    if plan.outer_names or any(getattr(s.kernel, "needs_scope", False) for s in plan.steps):
        return None
    units, fused = _fuse(plan)
    slots: dict[str, int] = {"": NONE_SLOT}

    def slot(name: str) -> int:
        if name not in slots:
            slots[name] = len(slots) + 1  # index 1 is DUMP_SLOT
        return slots[name]

    produced = {n for unit in units for n in unit[3] if n}
    sources = [(n, slot(n)) for n in [*plan.input_names, *plan.initializers] if n not in produced]
    reads_at: dict[int, int] = {}
    compiled = []
    for index, (step, run, inputs, outputs) in enumerate(units):
        ins = tuple(slot(n) for n in inputs)
        outs = tuple(slot(n) if n else DUMP_SLOT for n in outputs)
        for i in ins:
            reads_at[i] = index
        compiled.append([step, run, ins, outs, sum(1 for n in outputs if n)])
    keep = {slots[n] for n in plan.output_names if n in slots} | {NONE_SLOT}
    frees: dict[int, list[int]] = {}
    for i, index in reads_at.items():
        if i not in keep:
            frees.setdefault(index, []).append(i)
    for index, unit in enumerate(compiled):  # outputs nobody reads: dropped right away
        for i in unit[3]:
            if i not in reads_at and i not in keep:
                frees.setdefault(index, []).append(i)
    steps = [(step, run, ins, outs, tuple(sorted(set(frees.get(k, ())))), need, _remembering(step.guard))
             for k, (step, run, ins, outs, need) in enumerate(compiled)]
    outputs = [(n, slot(n)) for n in plan.output_names]
    return Program(len(slots) + 1, sources, steps, outputs, fused)


def _remembering(guard):
    """`guard` (limits.make_guard: a function of the inputs' shapes and item sizes only) called once
    per combination of them: a batch-1 run repeats the same shapes, and the guard's shape arithmetic
    measured ~13 us per step here, as much as a small kernel."""
    if guard is None:
        return None
    passed: set = set()

    def remembered(inputs):
        key = tuple((x.shape, x.dtype.itemsize) if isinstance(x, np.ndarray) else None for x in inputs)
        if key not in passed:
            guard(inputs)  # raises LimitError above the limit: the key is then not remembered
            if len(passed) < 64:
                passed.add(key)

    return remembered


# --- fusion ----------------------------------------------------------------------------------
def _fuse(plan):
    """Units (step, run, input names, output names): the plan's steps, chains fused."""
    from refruntime.ops.op_batch_normalization import is_inference
    from refruntime.ops.op_conv import Conv
    from refruntime.ops.op_gemm import Gemm
    from refruntime.plan import node_reads

    readers: dict[str, list] = {}
    for step in plan.steps:
        for name in node_reads(step.node):
            readers.setdefault(name, []).append(step)
    graph_outputs = set(plan.output_names)
    graph_inputs = set(plan.input_names)

    def constant(name: str):
        if name and name in plan.initializers and name not in graph_inputs:
            return plan.initializers[name]
        return None

    def only_reader(name: str):
        if not name or name in graph_outputs:
            return None
        users = readers.get(name, ())
        if len(users) != 1 or users[0].is_fallback:
            return None
        return users[0]

    units, fused, absorbed = [], [], set()
    for step in plan.steps:
        if step.index in absorbed:
            continue
        kernel = step.kernel
        single = len(step.outputs) == 1 and step.outputs[0]
        if single and type(kernel) is Conv:
            chain, bn, act = [step], None, None
            nxt = only_reader(step.outputs[0])
            if nxt is not None and is_inference(nxt.kernel) and nxt.inputs[0] == step.outputs[0]:
                params = [constant(n) for n in nxt.inputs[1:5]]
                if len(params) == 4 and all(p is not None and p.ndim == 1 for p in params):
                    bn = (params, float(nxt.kernel.attributes.get("epsilon", 1e-5)))
                    chain.append(nxt)
                    nxt = only_reader(nxt.outputs[0])
            if nxt is not None:
                act = _clamp_of(nxt, constant)
                if act is not None:
                    chain.append(nxt)
                    nxt = only_reader(nxt.outputs[0])
            pool = _pool_window(nxt, chain[-1].outputs[0]) if nxt is not None else None
            if pool is not None:
                chain.append(nxt)
            if len(chain) > 1:
                run = FusedConv(chain, bn, act, pool).run
                units.append((step, run, step.inputs, chain[-1].outputs[:1]))
                fused.append(" -> ".join(f"{s.node.op_type} {s.label}" for s in chain))
                absorbed.update(s.index for s in chain)
                continue
        if single and type(kernel) is Gemm:
            nxt = only_reader(step.outputs[0])
            if nxt is not None and nxt.node.op_type == "Relu" and not nxt.is_fallback and nxt.node.domain in ("", "ai.onnx"):
                units.append((step, _gemm_relu(kernel), step.inputs, nxt.outputs[:1]))
                fused.append(f"Gemm {step.label} -> Relu {nxt.label}")
                absorbed.update((step.index, nxt.index))
                continue
        units.append((step, kernel.run, step.inputs, step.outputs))
    return units, fused


def _clamp_of(step, constant):
    """((lo, hi), the node's bound inputs) of a Relu or of a Clip with constant bounds, else None."""
    node = step.node
    if step.is_fallback or node.domain not in ("", "ai.onnx") or len(step.outputs) != 1:
        return None
    if node.op_type == "Relu":
        return (0.0, np.inf), ()
    if node.op_type != "Clip":
        return None
    if type(step.kernel).__name__ == "Clip_6":
        attrs = step.kernel.attributes
        return (float(attrs.get("min", -3.4028234663852886e38)), float(attrs.get("max", 3.4028234663852886e38))), ()
    if type(step.kernel).__name__ != "Clip_11":
        return None  # Clip-1 (attributes, consumed_inputs): rare, left unfused
    bounds, inputs = [-np.inf, np.inf], []
    for k, name in enumerate(node.input[1:3]):
        value = constant(name) if name else None
        if name and (value is None or value.size != 1 or value.dtype.kind != "f"):
            return None
        inputs.append(value)
        if value is not None:
            bounds[k] = float(value.reshape(()))
    return (bounds[0], bounds[1]), tuple(inputs)


def _pool_window(step, source: str):
    """(ph, pw) of a MaxPool reading `source` that the channels-last conv epilogue can apply: 2-D,
    values only, window = stride, no pads or dilations, floor mode; else None."""
    node = step.node
    if (step.is_fallback or node.op_type != "MaxPool" or node.domain not in ("", "ai.onnx")
            or step.inputs[0] != source or any(node.output[1:])):
        return None
    a = step.kernel.attributes
    window = list(a.get("kernel_shape", ()))
    if (len(window) != 2 or window == [1, 1] or list(a.get("strides", [1, 1])) != window
            or any(a.get("pads", ())) or any(d != 1 for d in a.get("dilations", ()))
            or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or a.get("ceil_mode", 0)):
        return None
    return tuple(window)


class FusedConv:
    """Conv [-> BatchNormalization] [-> Relu/Clip] [-> MaxPool] as one call of Conv.run_fused."""

    def __init__(self, chain, bn, act, pool=None):
        self.chain = chain
        self.conv = chain[0].kernel
        self.bn = bn
        self.clamp, self.act_inputs = act if act is not None else ((-np.inf, np.inf), ())
        self.pool = pool
        self._affine: dict = {}

    def affine(self, dtype):
        if self.bn is None:
            return None, None
        got = self._affine.get(dtype)
        if got is None:
            from refruntime.ops.op_batch_normalization import affine_parameters

            (scale, b, mean, var), epsilon = self.bn
            got = self._affine[dtype] = affine_parameters(scale, b, mean, var, epsilon, dtype)
        return got

    def run(self, x, w, b=None):
        if (x.dtype in _FUSED_DTYPES and (self.bn is None or self.bn[0][0].shape == (w.shape[0],))
                and (self.pool is None or x.ndim == 4)):
            scale, shift = self.affine(x.dtype)
            clamp = self.clamp
            if x.dtype != np.float64 and clamp != (-np.inf, np.inf):
                clamp = (float(x.dtype.type(clamp[0])), float(x.dtype.type(clamp[1])))
            y, pooled = self.conv.run_fused(x, w, b, scale, shift, clamp, self.pool)
            if self.pool is not None and not pooled:  # a path without the pooling epilogue
                y = self.chain[-1].kernel.run(y)[0]
            return (y,)
        return self.unfused(x, w, b)

    def unfused(self, x, w, b=None):
        """The chain's own kernels, one after the other (the reference behaviour)."""
        (y,) = self.conv.run(x, w, b)[:1]
        for step in self.chain[1:]:
            if step.node.op_type == "BatchNormalization":
                (scale, bias, mean, var), _ = self.bn
                y = step.kernel.run(y, scale, bias, mean, var)[0]
            elif step.node.op_type == "MaxPool":
                y = step.kernel.run(y)[0]
            else:  # Relu, Clip: with the bound inputs the graph gives them (constants)
                y = step.kernel.run(y, *self.act_inputs)[0]
        return (y,)


def _gemm_relu(gemm):
    def run(a, b, c=None):
        (y,) = gemm.run(a, b, c)[:1]
        if isinstance(y, np.ndarray) and y.ndim:
            np.maximum(y, 0, out=y)  # Gemm's output is a fresh array of its own
        return (y,)

    return run
