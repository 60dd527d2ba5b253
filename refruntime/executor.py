"""Execute a Plan: the interpreter loop, with the debugging features as opt-in branches."""
from __future__ import annotations

import time
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from refruntime.errors import KernelError, NonFiniteError, RefRuntimeError, StopRun
from refruntime.plan import Plan, Step

Hook = Callable[..., object]


@dataclass
class RunControls:
    """Per-run debugging switches. The default (all off) takes the fast path."""

    capture: frozenset[str] = frozenset()   # intermediates to keep and return
    capture_all: bool = False
    before: Hook | None = None               # before(step, inputs) -> True/StopRun stops the run
    after: Hook | None = None                # after(step, inputs, outputs) -> True/StopRun stops
    check_finite: bool = False
    profile: list | None = None              # receives one ProfileRecord per step
    upcast_float64: bool = False             # oracle mode: keep every float value in float64
    # spec oracle: each op computed in float64 from its inputs, its float outputs rounded to the
    # dtype ONNX declares for them ({value name: numpy dtype}; see round_like_spec)
    spec_dtypes: Mapping | None = None

    @property
    def is_plain(self) -> bool:
        return not (self.capture or self.capture_all or self.before or self.after or self.check_finite
                    or self.profile is not None or self.upcast_float64 or self.spec_dtypes is not None)


@dataclass
class ProfileRecord:
    node: str
    op_type: str
    kernel: str          # "native" or "fallback"
    seconds: float
    output_bytes: int
    output_shapes: list = field(default_factory=list)


def execute(plan: Plan, values: dict, scope: Mapping | None = None,
            controls: RunControls | None = None) -> tuple[dict, dict, str | None]:
    """Run every step. Returns (values, captured, stopped_at).

    `values` holds feeds and initializers on entry; graph outputs are in it on exit.
    `scope` gives read access to the enclosing graph's values (for subgraphs).
    """
    from refruntime.ops._common import quiet_run

    with quiet_run():
        return _execute(plan, values, scope, controls)


def _execute(plan: Plan, values: dict, scope: Mapping | None, controls: RunControls | None):
    env = ChainMap(values, scope) if scope is not None else values
    if controls is None or controls.is_plain:
        if scope is None:
            program = plan.program
            if program is None:
                from refruntime.plan_fusion import compile_program

                program = plan.program = compile_program(plan) or False
            if program:
                return _run_program(program, values), {}, None
        for step in plan.steps:
            _run_step(step, env, values)
        return values, {}, None
    captured: dict = {}
    for step in plan.steps:
        inputs = [env[n] if n else None for n in step.inputs]
        if controls.before is not None and _stop(controls.before(step, inputs)):
            return values, captured, step.label
        start = time.perf_counter()
        if controls.spec_dtypes is not None:
            outputs = round_like_spec(step, inputs, _call(step, [to_float64(v) for v in inputs], env),
                                      controls.spec_dtypes)
        else:
            outputs = _call(step, inputs, env)
        elapsed = time.perf_counter() - start
        if controls.upcast_float64:
            outputs = tuple(to_float64(o) for o in outputs)
        if controls.check_finite:
            _check_finite(step, inputs, outputs)
        if controls.profile is not None:
            controls.profile.append(_record(step, outputs, elapsed))
        _store(step, outputs, values)
        for name, value in zip(step.outputs, outputs):
            if name and (controls.capture_all or name in controls.capture):
                captured[name] = value
        if controls.after is not None and _stop(controls.after(step, inputs, outputs)):
            _free(step, values)
            return values, captured, step.label
        _free(step, values)
    return values, captured, None


def _run_program(program, values: dict) -> dict:
    """The plain path of a top-level plan: refruntime/plan_fusion.py's Program, as the straight-line
    function plan_codegen generates for it (or, for very large programs, the loop below)."""
    straight = program.straight
    if straight is None:
        from refruntime.plan_codegen import compile_straight_line

        straight = program.straight = compile_straight_line(program) or False
    if not straight:
        return _loop_program(program, values)
    checked = program.checked_feeds
    if checked is None:
        return straight(values)
    from refruntime.plan_stable_shapes import feed_signature

    signature = feed_signature(values, program.feeds)
    if signature is None:
        return straight(values)
    if signature in checked:  # every shape is the one whose guards passed: plan_stable_shapes.py
        return straight(values, False)
    result = straight(values)
    if len(checked) < 64:
        checked.add(signature)
    return result


def _loop_program(program, values: dict) -> dict:
    """The Program's steps in a loop, values in a list of slots."""
    slots = [None] * program.n_slots
    for name, i in program.sources:
        slots[i] = values.get(name)
    for i, value in program.preset:
        slots[i] = value
    read = slots.__getitem__
    for step, run, ins, outs, frees, need, guard in program.steps:
        inputs = list(map(read, ins))  # no comprehension frame (Python 3.11)
        if guard is not None:
            guard(inputs)
        try:
            outputs = run(*inputs)
        except Exception as exc:  # noqa: BLE001 - reported with its node, as in _call
            _raise_kernel_failure(step, inputs, exc)
        if type(outputs) is not tuple or len(outputs) < need:
            _check_outputs(step, outputs)
        if len(outs) == 1 and outputs:
            slots[outs[0]] = outputs[0]
        else:
            for i, value in zip(outs, outputs):
                slots[i] = value
        for i in frees:
            slots[i] = None
    for name, i in program.outputs:
        values[name] = slots[i]
    return values


def _run_step(step: Step, env: Mapping, values: dict) -> None:
    inputs = [env[n] if n else None for n in step.inputs]
    _store(step, _call(step, inputs, env), values)
    _free(step, values)


def _call(step: Step, inputs: list, env: Mapping) -> tuple:
    kernel = step.kernel
    if step.guard is not None:
        step.guard(inputs)
    try:
        if kernel.needs_scope:
            outputs = kernel.run(*inputs, scope=env)
        else:
            outputs = kernel.run(*inputs)
    except Exception as exc:  # noqa: BLE001 - every kernel failure is reported with its node
        _raise_kernel_failure(step, inputs, exc)
    _check_outputs(step, outputs)
    return outputs


def _raise_kernel_failure(step: Step, inputs: list, exc: Exception):
    """Re-raise a kernel's exception as the error type that names its node (called in `except`)."""
    if isinstance(exc, (RefRuntimeError, StopRun)):
        raise exc
    if isinstance(exc, MemoryError):
        from refruntime.errors import LimitError

        raise LimitError(
            f"node {step.label!r} ({step.node.op_type}) ran out of memory on inputs {describe_arrays(inputs)}: "
            f"{exc or 'MemoryError'}"
        ) from None
    if isinstance(exc, RecursionError):
        raise KernelError(f"node {step.label!r} ({step.node.op_type}): subgraphs nested too deeply",
                          step.label, step.node.op_type) from None
    raise KernelError(
        f"node {step.label!r} ({step.node.op_type}) failed on inputs {describe_arrays(inputs)}: "
        f"{type(exc).__name__}: {exc}",
        step.label, step.node.op_type,
    ) from exc


def _check_outputs(step: Step, outputs) -> None:
    if not isinstance(outputs, (tuple, list)) or len(outputs) < sum(1 for n in step.outputs if n):
        raise KernelError(
            f"node {step.label!r} ({step.node.op_type}): kernel returned "
            f"{len(outputs) if isinstance(outputs, (tuple, list)) else type(outputs).__name__} outputs, "
            f"node declares {len(step.outputs)}", step.label, step.node.op_type,
        )


def _store(step: Step, outputs: Iterable, values: dict) -> None:
    for name, value in zip(step.outputs, outputs):
        if name:
            values[name] = value


def _free(step: Step, values: dict) -> None:
    for name in step.frees:
        values.pop(name, None)


def _stop(answer: object) -> bool:
    return answer is True


def to_float64(value):
    """A float array (float16, bfloat16, float32) as float64; anything else unchanged."""
    if isinstance(value, np.ndarray) and value.dtype != np.float64 and (
            value.dtype.kind == "f" or value.dtype.name == "bfloat16"):
        return value.astype(np.float64)
    return value


def round_like_spec(step: Step, inputs: list, outputs: tuple, declared: Mapping) -> tuple:
    """The spec oracle's rounding: ONNX defines each op's output in its declared element type, so a
    float16 op's float64 result is rounded to float16 before the next op reads it. Where type
    inference gave no type, an output takes the widest float type among the node's float inputs
    (the T of the op's type constraints)."""
    fallback = None
    for v in inputs:
        if isinstance(v, np.ndarray) and v.dtype.kind == "f" and (fallback is None or v.dtype.itemsize > fallback.itemsize):
            fallback = v.dtype
    rounded = []
    for name, value in zip(step.outputs, outputs):
        if isinstance(value, np.ndarray) and value.dtype == np.float64:
            target = declared.get(name, fallback)
            if target is not None and target != value.dtype:
                value = value.astype(target)
        rounded.append(value)
    return tuple(rounded)


def _nonfinite_count(value) -> int:
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        return int(value.size - np.count_nonzero(np.isfinite(value)))
    return 0


def _check_finite(step: Step, inputs: list, outputs: tuple) -> None:
    if any(_nonfinite_count(v) for v in inputs):
        return  # not the origin: a non-finite value came in
    for name, value in zip(step.outputs, outputs):
        bad = _nonfinite_count(value)
        if bad:
            nan = int(np.isnan(value).sum())
            raise NonFiniteError(
                f"node {step.label!r} ({step.node.op_type}) produced {bad} non-finite values "
                f"({nan} NaN, {bad - nan} Inf) in output {name!r} of shape {tuple(value.shape)} from "
                f"finite inputs: {describe_arrays(inputs, stats=True)}",
                step.label, step.node.op_type,
            )


def _record(step: Step, outputs: tuple, elapsed: float) -> ProfileRecord:
    nbytes = sum(o.nbytes for o in outputs if isinstance(o, np.ndarray))
    shapes = [tuple(o.shape) if isinstance(o, np.ndarray) else None for o in outputs]
    return ProfileRecord(step.label, step.node.op_type, "fallback" if step.is_fallback else "native",
                         elapsed, nbytes, shapes)


def describe_arrays(arrays: Iterable, stats: bool = False) -> str:
    parts = []
    for a in arrays:
        if a is None:
            parts.append("None")
        elif isinstance(a, np.ndarray):
            text = f"{a.dtype}{list(a.shape)}"
            if stats and a.size and a.dtype.kind in "fiu":
                text += f" min={a.min():.4g} max={a.max():.4g} mean={a.mean(dtype=np.float64):.4g}"
            parts.append(text)
        else:
            parts.append(type(a).__name__)
    return "[" + ", ".join(parts) + "]"
