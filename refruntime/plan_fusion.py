"""The plain executor path's program: the plan's steps with values in integer slots, and fused steps.

`compile_program(plan)` turns a Plan into a `Program`, once (the executor builds it at the first
plain run and keeps it on the plan):

- Values live in a list indexed by integers fixed at compile time: a run does no name lookups
  besides reading the feeds and initializers once. Slot 0 is always None (an omitted optional
  input); slot 1 receives omitted optional outputs. A slot is cleared after its last reader, as
  the dict loop frees names.
- Fusion. The graph is not changed, only the program:
    Conv [-> BatchNormalization] [-> Add | Sum] [-> Relu | Clip] [-> MaxPool]
        one step (refruntime/fused_ops.py): conv_nd's epilogue applies the BN's per-channel
        affine map, adds the residual (the Add/Sum's other input, a tensor of the Conv output's
        shape: ResNet's shortcut), clamps, and max-pools (non-overlapping, floor mode, 2-D, not
        after a residual). A step with a residual runs where the Add was, since the residual
        may be computed after the Conv.
    (BatchNormalization | Mul | Add)+ [-> Relu | Clip]
        one step (refruntime/fused_channel.py) when every Mul/Add has a constant per-channel
        operand: one pass per stage over each channel's data in cache (pre-activations, Scale
        layers; a Conv chain takes a BatchNormalization first, the rest then form this chain)
    Gemm -> Relu
        one step: Relu in place on Gemm's fresh output
    MatMul -> Add of a constant bias
        one step: the bias added in place to MatMul's fresh output
    Softmax -> Where(IsNaN(s), constant, s)
        one step: the constant written over the Softmax's NaNs in place
    (Add | Sub | Mul | Div | Pow by 2 or 3 | Neg | Sqrt | Reciprocal | Erf | Relu){2,}
        one generated numba loop (refruntime/fused_elementwise.py): GELU and other float32
        activation chains, bitwise the unfused kernels
  A node joins the chain only if the chain's current value has exactly one reader, that node, and
  is not a graph output; the BatchNormalization must be the inference form (one output,
  per-channel) with its four parameters initializers that are not graph inputs (a feed could
  replace those), and a Clip's min/max must be attributes or such initializers. The BN's affine
  map is computed at plan time by the same function BatchNormalization uses per run, and the
  epilogue does the float operations in the unfused order, so fused results are bitwise equal to
  the unfused ones. At run time a fused Conv computes fused only for float32/float64 X with
  parameters of matching shapes and a residual of exactly its output's shape and dtype; anything
  else (float16, whose unfused ops round in between, a broadcasting Add, or a shape error to
  report) runs the original kernels one after the other.

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

from refruntime.fused_elementwise import elementwise_chain
from refruntime.plan_shape_memo import memoize_shape_steps, shape_derived_names
from refruntime.plan_stable_shapes import shapes_follow_feeds

NONE_SLOT, DUMP_SLOT = 0, 1


@dataclass
class Program:
    n_slots: int
    sources: list[tuple[str, int]]  # values taken from the run's dict (feeds, initializers)
    steps: list[tuple]              # (step, run, input slots, output slots, freed slots, outputs needed, guard)
    outputs: list[tuple[str, int]]  # graph outputs, written back to the run's dict
    fused: list[str] = field(default_factory=list)  # one description per fused step, for reports
    fused_outputs: dict[str, str] = field(default_factory=dict)  # fused step's output -> description
    slots: dict[str, int] = field(default_factory=dict)          # value name -> slot
    preset: list[tuple[int, object]] = field(default_factory=list)  # (slot, value) computed at compile time
    straight: object = None  # plan_codegen's generated function (False: not generated), built at the first run
    feeds: tuple = ()        # the graph inputs, whose shapes decide every shape when checked_feeds is a set
    checked_feeds: set | None = None  # feed signatures whose run passed every size guard (plan_stable_shapes)

    def keeping(self, names) -> Program:
        """This program, also returning the values `names` (none freed before the end): the
        self-check compares fused steps' outputs with the unfused ones this way."""
        from dataclasses import replace

        kept = {self.slots[n] for n in names if n in self.slots}
        steps = [(step, run, ins, outs, tuple(i for i in frees if i not in kept), need, guard)
                 for step, run, ins, outs, frees, need, guard in self.steps]
        extra = [(n, self.slots[n]) for n in names if n in self.slots]
        return replace(self, steps=steps, outputs=self.outputs + extra, straight=None)


def compile_program(plan) -> Program | None:
    """The Program of `plan`, or None when the plan must run through the dict loop."""
    if plan.outer_names or any(getattr(s.kernel, "needs_scope", False) for s in plan.steps):
        return None
    single_steps = [(step, _direct_call(step.kernel), step.inputs, step.outputs) for step in plan.steps]
    remaining, precomputed = _precompute(plan, single_steps)
    units, fused_outputs = _fuse(plan, [unit[0] for unit in remaining], precomputed)
    units, _ = memoize_shape_steps(units, _constants(plan, precomputed), set(plan.output_names), NONDETERMINISTIC,
                                   fused_outputs)
    slots: dict[str, int] = {"": NONE_SLOT}

    def slot(name: str) -> int:
        if name not in slots:
            slots[name] = len(slots) + 1  # index 1 is DUMP_SLOT
        return slots[name]

    produced = {n for unit in units for n in unit[3] if n}
    sources = [(n, slot(n)) for n in [*plan.input_names, *plan.initializers] if n not in produced]
    preset = [(slot(n), v) for n, v in precomputed.items()]
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
    stable = shapes_follow_feeds(plan.steps, _constants(plan, precomputed)) and any(s[6] for s in steps)
    return Program(len(slots) + 1, sources, steps, outputs, list(fused_outputs.values()), fused_outputs, slots,
                   preset, feeds=tuple(plan.input_names), checked_feeds=set() if stable else None)


def _constants(plan, precomputed: dict):
    """name -> its constant value (an initializer that is not a graph input, or a compile-time
    value), else None."""
    graph_inputs = set(plan.input_names)

    def constant(name: str):
        if name in plan.initializers and name not in graph_inputs:
            return plan.initializers[name]
        return precomputed.get(name)

    return constant


NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                              "Multinomial", "Bernoulli"})
PRECOMPUTE_BYTES = 64 << 20      # one precomputed value at most ...
PRECOMPUTE_TOTAL = 512 << 20     # ... and all of them together


def _precompute(plan, units):
    """Run once, at compile time, the steps whose inputs are all constants (initializers that are
    not graph inputs, or outputs of such steps): a weight's DequantizeLinear, a Transpose or
    Reshape of a weight, the shape arithmetic of constants. Their outputs become preset slots.
    A step is left to run time when it is nondeterministic, produces a graph output (callers own
    what a run returns), fails (its error is reported at run time, with its node) or would hold
    more than the byte limits above (a float copy of a large quantized weight)."""
    from refruntime.ops._common import quiet_run

    known = {n: v for n, v in plan.initializers.items() if n not in set(plan.input_names)}
    outputs = set(plan.output_names)
    precomputed, kept, total = {}, [], 0
    for unit in units:
        step, run, inputs, names = unit
        if (step.node.op_type in NONDETERMINISTIC or any(n in outputs for n in names)
                or not all(n == "" or n in known for n in inputs)):
            kept.append(unit)
            continue
        try:
            with quiet_run():
                values = run(*[known[n] if n else None for n in inputs])
        except Exception:  # noqa: BLE001 - the run-time path reports it, naming the node
            kept.append(unit)
            continue
        nbytes = sum(getattr(v, "nbytes", 0) for v in values)
        if nbytes > PRECOMPUTE_BYTES or total + nbytes > PRECOMPUTE_TOTAL or len(values) < len(names):
            kept.append(unit)
            continue
        total += nbytes
        for n, v in zip(names, values):
            if n:
                if isinstance(v, np.ndarray):
                    v.flags.writeable = False  # shared by every run, like an initializer
                known[n] = precomputed[n] = v
    return kept, precomputed


def _remembering(guard):
    """`guard` (limits.make_guard: a function of the inputs' shapes and item sizes only) called once
    per combination of them: a batch-1 run repeats the same shapes, and the guard's shape arithmetic
    measured ~13 us per step here, as much as a small kernel."""
    if guard is None:
        return None
    passed: set = set()
    array = np.ndarray

    def remembered(inputs):
        key = tuple([(x.shape, x.dtype.itemsize) if type(x) is array else None for x in inputs])
        if key not in passed:
            guard(inputs)  # raises LimitError above the limit: the key is then not remembered
            if len(passed) < 64:
                passed.add(key)

    return remembered


# --- fusion ----------------------------------------------------------------------------------
def _fuse(plan, steps, precomputed: dict):
    """Units (step, run, input names, output names): `steps` (the plan's steps but those computed
    at compile time) with chains fused; and {fused step's output name: description}. Constants
    are the initializers that are not graph inputs and the `precomputed` values."""
    from refruntime.fused_ops import gemm_relu, matmul_bias, softmax_nan_to
    from refruntime.ops.op_conv import Conv
    from refruntime.ops.op_gemm import Gemm
    from refruntime.ops.op_mat_mul import MatMul
    from refruntime.plan import node_reads

    readers: dict[str, list] = {}
    for step in steps:
        for name in node_reads(step.node):
            readers.setdefault(name, []).append(step)
    graph_outputs = set(plan.output_names)
    graph_inputs = set(plan.input_names)

    def constant(name: str):
        if name and name in plan.initializers and name not in graph_inputs:
            return plan.initializers[name]
        return precomputed.get(name) if name else None

    def only_reader(name: str):
        """The one step reading `name`, if it is not a graph output and that step can join a chain."""
        if not name or name in graph_outputs:
            return None
        users = readers.get(name, ())
        if len(users) != 1 or users[0].is_fallback or users[0].index in absorbed:
            return None
        return users[0]

    producer = {name: step.index for step in steps for name in step.outputs if name}
    shape_derived = shape_derived_names(steps, constant)  # memoized later (plan_shape_memo), not fused
    by_index = {step.index: step for step in steps}

    def feeder_after(start):
        """The producer of a name, if it comes after `start` (not yet emitted), is not fused yet and
        computes more than shapes and constants: a step an elementwise chain from `start` may take."""
        def feeder(name: str):
            index = producer.get(name)
            if index is None or index <= start.index or index in absorbed:
                return None
            source = by_index[index]
            if source.is_fallback or all(n in shape_derived or constant(n) is not None for n in source.inputs):
                return None
            return source
        return feeder
    units, fused, absorbed = [], {}, set()
    deferred: dict[int, tuple] = {}  # fused units that read a residual: emitted at their Add's place
    for step in steps:
        if step.index in deferred:
            units.append(deferred.pop(step.index))
            continue
        if step.index in absorbed:
            continue
        kernel = step.kernel
        single = len(step.outputs) == 1 and step.outputs[0]
        if type(kernel) is Conv:  # lets the kernel keep its packed weights across runs
            kernel.constant_weights = len(step.inputs) > 1 and constant(step.inputs[1]) is not None
        if single and type(kernel) is Gemm:
            nxt = only_reader(step.outputs[0])
            if nxt is not None and nxt.node.op_type == "Relu" and not nxt.is_fallback and nxt.node.domain in ("", "ai.onnx"):
                units.append((step, gemm_relu(kernel), step.inputs, nxt.outputs[:1]))
                fused[nxt.outputs[0]] = f"Gemm {step.label} -> Relu {nxt.label}"
                absorbed.update((step.index, nxt.index))
                continue
        if single and _is_reshape(step):
            found = _reshaped_gemm(step, only_reader, Gemm)
            if found is not None:
                gemm, out, unit = found
                deferred[out.index] = unit  # where the second Reshape was: its target may come later
                fused[out.outputs[0]] = f"Reshape {step.label} -> Gemm {gemm.label} -> Reshape {out.label}"
                absorbed.update((step.index, gemm.index, out.index))
                continue
        if single and type(kernel) is MatMul:
            nxt = only_reader(step.outputs[0])
            bias = _constant_addend(nxt, step.outputs[0], constant)
            if bias is not None:
                value, first = bias
                units.append((step, matmul_bias(kernel, nxt.kernel, value, first), step.inputs, nxt.outputs[:1]))
                fused[nxt.outputs[0]] = f"MatMul {step.label} -> Add {nxt.label}"
                absorbed.update((step.index, nxt.index))
                continue
        if single and step.node.op_type == "Softmax" and _is_standard(step):
            guard = _nan_guard(step, readers, constant, only_reader, graph_outputs)
            if guard is not None:
                is_nan, where, value = guard
                units.append((step, softmax_nan_to(kernel, is_nan.kernel, where.kernel, value), step.inputs,
                              where.outputs[:1]))
                fused[where.outputs[0]] = f"Softmax {step.label} -> IsNaN {is_nan.label} -> Where {where.label}"
                absorbed.update((step.index, is_nan.index, where.index))
                continue
        found = None
        if single and type(kernel) is Conv:
            found = _conv_chain(step, constant, only_reader, producer)
        elif single and (source := _channel_source(step, constant)) is not None:
            found = _channel_chain(step, source, constant, only_reader)
        if found is None and single and not all(n in shape_derived or constant(n) is not None for n in step.inputs):
            chained = elementwise_chain(step, constant, only_reader, feeder_after(step))
            if chained is not None:  # run where its last link was: later links may read later values
                found = (chained[0], chained[1], chained[0][-1])
        if found is not None:
            chain, unit, run_at = found
            fused[chain[-1].outputs[0]] = " -> ".join(f"{s.node.op_type} {s.label}" for s in chain)
            absorbed.update(s.index for s in chain)
            if run_at is None:
                units.append(unit)
            else:  # a residual may be computed after the Conv: the step runs where the Add was
                deferred[run_at.index] = unit
            continue
        units.append((step, _direct_call(kernel), step.inputs, step.outputs))
    return units, fused


def _is_standard(step) -> bool:
    return not step.is_fallback and step.node.domain in ("", "ai.onnx")


def _is_reshape(step) -> bool:
    return step.node.op_type == "Reshape" and _is_standard(step) and len(step.inputs) == 2 and all(step.inputs)


def _reshaped_gemm(step, only_reader, gemm_type):
    """(Gemm step, second Reshape step, unit) when `step` is a Reshape read only by a Gemm with a C
    whose output only a Reshape reads (fused_ops.reshaped_gemm), else None."""
    from refruntime.fused_ops import reshaped_gemm

    gemm = only_reader(step.outputs[0])
    if (gemm is None or type(gemm.kernel) is not gemm_type or len(gemm.inputs) != 3 or not all(gemm.inputs)
            or gemm.inputs[0] != step.outputs[0] or step.outputs[0] in gemm.inputs[1:]
            or len(gemm.outputs) != 1 or not gemm.outputs[0]):
        return None
    out = only_reader(gemm.outputs[0])
    if out is None or not _is_reshape(out) or out.inputs[0] != gemm.outputs[0] or len(out.outputs) != 1:
        return None
    run = reshaped_gemm(_direct_call(step.kernel), _direct_call(gemm.kernel), _direct_call(out.kernel),
                        gemm.kernel)
    inputs = (step.inputs[0], step.inputs[1], gemm.inputs[1], gemm.inputs[2], out.inputs[1])
    return gemm, out, (step, run, inputs, out.outputs[:1])


def _nan_guard(step, readers, constant, only_reader, graph_outputs):
    """(IsNaN step, Where step, constant) when the output s of `step` is read by exactly an IsNaN(s)
    and a Where(IsNaN's output, constant, s), the IsNaN's output by that Where alone; else None."""
    scores = step.outputs[0]
    users = readers.get(scores, ())
    if len(users) != 2 or scores in graph_outputs:
        return None
    is_nan = next((u for u in users if u.node.op_type == "IsNaN" and _is_standard(u)), None)
    where = next((u for u in users if u.node.op_type == "Where" and _is_standard(u)), None)
    if is_nan is None or where is None or only_reader(is_nan.outputs[0]) is not where:
        return None
    if len(where.inputs) != 3 or where.inputs[0] != is_nan.outputs[0] or where.inputs[2] != scores:
        return None
    value = constant(where.inputs[1])
    return None if value is None else (is_nan, where, value)


def _constant_addend(step, value: str, constant):
    """(bias, bias comes first) when `step` is a plain default-domain Add of `value` and a constant."""
    if step is None or step.node.op_type != "Add" or not _is_standard(step):
        return None
    if len(step.inputs) != 2 or value not in step.inputs or step.inputs[0] == step.inputs[1]:
        return None
    first = step.inputs[0] != value
    bias = constant(step.inputs[0] if first else step.inputs[1])
    return None if bias is None else (bias, first)


def _direct_call(kernel):
    """kernel.run, or for a plain OpRun its _run with the attributes bound once (OpRun.run
    re-spreads them on every call: one Python frame per node saved, ~0.3 us)."""
    from functools import partial

    from refruntime.ops.base import OpRun

    if type(kernel).run is not OpRun.run or kernel.needs_scope:
        return kernel.run
    return partial(kernel._run, **kernel.attributes) if kernel.attributes else kernel._run


def _conv_chain(step, constant, only_reader, producer):
    """(chain steps, unit, the residual Add/Sum step or None) of Conv [-> BatchNormalization]
    [-> Add/Sum] [-> Relu/Clip] [-> MaxPool] starting at Conv `step`, or None (nothing joins)."""
    from refruntime.fused_ops import FusedConv, clamp_of, pool_window, residual_of
    from refruntime.ops.op_batch_normalization import is_inference

    chain, bn, act, residual, add_step = [step], None, None, None, None
    nxt = only_reader(step.outputs[0])
    if nxt is not None and is_inference(nxt.kernel) and nxt.inputs[0] == step.outputs[0]:
        params = [constant(n) for n in nxt.inputs[1:5]]
        if len(params) == 4 and all(p is not None and p.ndim == 1 for p in params):
            bn = (params, float(nxt.kernel.attributes.get("epsilon", 1e-5)))
            chain.append(nxt)
            nxt = only_reader(nxt.outputs[0])
    if nxt is not None:
        residual = residual_of(nxt, chain[-1].outputs[0])
        if (residual is not None and constant(residual[0]) is None
                and producer.get(residual[0], -1) < nxt.index):
            add_step = nxt
            chain.append(nxt)
            nxt = only_reader(nxt.outputs[0])
        else:
            residual = None
    if nxt is not None:
        act = clamp_of(nxt, constant, chain[-1].outputs[0])
        if act is not None:
            chain.append(nxt)
            nxt = only_reader(nxt.outputs[0])
    pool = pool_window(nxt, chain[-1].outputs[0]) if nxt is not None and residual is None else None
    if pool is not None:
        chain.append(nxt)
    if len(chain) == 1:
        return None
    run = FusedConv(chain, bn, act, pool, residual).run
    inputs = step.inputs + ((residual[0],) if residual else ())
    return chain, (step, run, inputs, chain[-1].outputs[:1]), add_step


def _channel_source(step, constant):
    """The data input of a step that may start a chain of per-channel stages, else None."""
    op = step.node.op_type
    if op == "BatchNormalization":
        return step.inputs[0]
    if op in ("Mul", "Add") and len(step.inputs) == 2:
        variable = [n for n in step.inputs if constant(n) is None]
        return variable[0] if len(variable) == 1 else None
    return None


def _channel_chain(step, source, constant, only_reader):
    """(chain steps, unit, None) of a ChannelChain starting at `step`, or None (fewer than two ops)."""
    from refruntime.fused_channel import ChannelChain, channel_stage
    from refruntime.fused_ops import clamp_of

    stage = channel_stage(step, source, constant)
    if stage is None:
        return None
    chain, stages = [step], [stage]
    nxt = only_reader(step.outputs[0])
    while nxt is not None:
        stage = channel_stage(nxt, chain[-1].outputs[0], constant)
        if stage is None:
            break
        chain.append(nxt)
        stages.append(stage)
        nxt = only_reader(nxt.outputs[0])
    act = clamp_of(nxt, constant, chain[-1].outputs[0]) if nxt is not None else None
    if act is not None:
        chain.append(nxt)
    if len(chain) < 2:
        return None
    return chain, (step, ChannelChain(chain, stages, act).run, (source,), chain[-1].outputs[:1]), None
