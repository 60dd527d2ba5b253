"""Shape arithmetic computed once per input shape: the steps a run repeats with the same answer.

Transformer exports spend most of their nodes on shape arithmetic: Shape -> Gather -> Unsqueeze ->
Concat -> Reshape targets, Range/Expand/Where chains that build attention masks from a shape,
ConstantOfShape. At batch 1 and sequence 16 each such node costs a kernel call (1-5 us), about as
much as the node doing real work. Their values depend on nothing but the *shapes* of the tensors
read by Shape/Size nodes and on constants.

`memoize_shape_steps(units, constants, graph_outputs)` finds those steps of a compiled program:
- a Shape or Size node (its value is a function of its input's shape only), and
- a deterministic node (not Dropout, not a fallback kernel) all of whose inputs are constants (initializers that are not graph
  inputs, or compile-time values) or outputs of such steps,
and wraps each one's call in a memo:
- Shape/Size: the last input shape and the outputs it gave; the same shape returns the same
  (read-only) arrays.
- the others: the last input objects (by identity) and the outputs; inputs are constants or
  memoized outputs, so the same objects mean the same values (a Shape that sees a new shape
  returns new arrays, and everything downstream recomputes).
Only outputs that are arrays (16 MiB at most per step: a memo holds them between runs) are cached (sequences are lists a later kernel could extend). They are
made read-only, as initializers are: kernels never write their inputs, and a cached
array is shared by every later run. Steps producing a graph output are left alone (callers own
what a run returns). A memo never changes a value: it returns what the kernel returned for the
same inputs. The debugging paths (capture, hooks, profile, float64 oracle) run the plan's steps
and do not see memos.
"""
from __future__ import annotations

import numpy as np

SHAPE_OPS = frozenset({"Shape", "Size"})
NEVER = frozenset({"Dropout"})  # training_mode=True draws a random mask each call


def memoize_shape_steps(units: list, constants, graph_outputs: set, nondeterministic: frozenset,
                        fused_outputs: dict) -> tuple[list, int]:
    """(units with memoized runs, how many were memoized). `units`: (step, run, inputs, outputs);
    `constants(name)` is the constant value of a name or None."""
    derived: set[str] = set()
    out, count = [], 0
    for unit in units:
        step, run, inputs, outputs = unit
        node = step.node
        eligible = (node.domain in ("", "ai.onnx") and node.op_type not in nondeterministic and node.op_type not in NEVER
                    and not getattr(step, "is_fallback", False)
                    and not any(n in graph_outputs or n in fused_outputs for n in outputs if n))
        if eligible and node.op_type in SHAPE_OPS and len(inputs) == 1:
            unit = (step, _by_shape(run), inputs, outputs)
        elif eligible and inputs and all(n == "" or n in derived or constants(n) is not None for n in inputs):
            unit = (step, _by_identity(run), inputs, outputs)
        else:
            out.append(unit)
            continue
        derived.update(n for n in outputs if n)
        count += 1
        out.append(unit)
    return out, count


def shape_derived_names(steps, constants) -> set[str]:
    """Names computed from shapes and constants alone (the values memoize_shape_steps may memoize):
    outputs of Shape/Size and of steps whose inputs are all constants or such names."""
    derived: set[str] = set()
    for step in steps:
        if step.node.op_type in SHAPE_OPS or (
                step.inputs and all(n == "" or n in derived or constants(n) is not None for n in step.inputs)):
            derived.update(n for n in step.outputs if n)
    return derived


MAX_CACHED_BYTES = 16 << 20  # a memo holds its outputs between runs: a large mask is recomputed instead


def _cacheable(values) -> bool:
    """A kernel's outputs that may be shared by later runs: a tuple of arrays (together at most
    MAX_CACHED_BYTES), numpy scalars (a Gather of one dimension gives one) or omitted outputs.
    Sequences and maps are lists and dicts, which a later kernel might extend: never cached."""
    if type(values) is not tuple:
        return False
    nbytes = 0
    for v in values:
        if type(v) is np.ndarray:
            nbytes += v.nbytes
        elif v is not None and not isinstance(v, np.generic):
            return False
    return nbytes <= MAX_CACHED_BYTES


def _read_only(values: tuple) -> tuple:
    for v in values:
        if type(v) is np.ndarray:
            v.flags.writeable = False
    return values


# Each memo keeps (key, outputs) in one tuple, replaced by one assignment: a session run from
# several threads never pairs one call's key with another call's outputs.
def _by_shape(run):
    last = (None, None)  # (input shape, outputs)

    def shape_memo(x):
        nonlocal last
        shape = getattr(x, "shape", None)
        seen = last
        if shape is not None and shape == seen[0]:
            return seen[1]
        result = run(x)
        if shape is not None and _cacheable(result):
            last = (shape, _read_only(result))
        return result

    return shape_memo


def _by_identity(run):
    last = ((), None)  # (input objects, outputs)

    def identity_memo(*args):
        nonlocal last
        seen_args, seen_out = last
        if len(args) == len(seen_args):
            for a, b in zip(args, seen_args):
                if a is not b:
                    break
            else:
                return seen_out
        result = run(*args)
        if _cacheable(result):
            last = (args, _read_only(result))
        return result

    return identity_memo
