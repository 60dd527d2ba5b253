"""The plain path as straight-line Python: one generated function per Program.

At batch 1 most nodes do a microsecond of numpy work, so the interpreter loop of
executor._loop_program (a list of inputs per step, slot reads and writes through a list, a loop
over freed slots) is a large share of a run. `compile_straight_line(program)` turns the same
Program into the source of one function whose values are local variables:

    def run(values, guarded=True):
        v3 = values.get('x')
        v9 = P0                                   # preset (computed at compile time)
        i = 0
        try:
            o = R0(v3, v9)                        # the step's bound kernel
            if type(o) is not tuple or len(o) < 1: CHECK(0, o)
            v10 = o[0]; v3 = None                 # outputs, then values read for the last time
            i = 1
            ...
        except Exception as exc:
            FAIL(i, locals(), exc)                # the same KernelError/LimitError, naming the node
        values['y'] = v12
        return values

Steps with a size guard call it with a list of their inputs first, as the loop does, unless the
caller passes guarded=False (feeds of a signature whose run passed every guard, in a plan whose
shapes follow the feeds': plan_stable_shapes.py). The code is
compiled once per Program (the program is built once per plan) and only for programs of at most
MAX_STEPS steps; larger graphs keep the loop (compiling a function of tens of thousands of lines
takes longer than it saves). Semantics, errors and the order of frees are the loop's.
"""
from __future__ import annotations

MAX_STEPS = 4000


def compile_straight_line(program):
    """A function values -> values equivalent to executor._loop_program(program, values), or None."""
    if len(program.steps) > MAX_STEPS:
        return None
    names: dict[str, object] = {}
    lines = ["def run(values, guarded=True):"]
    for name, slot in program.sources:
        lines.append(f"    v{slot} = values.get({name!r})")
    for k, (slot, value) in enumerate(program.preset):
        names[f"P{k}"] = value
        lines.append(f"    v{slot} = P{k}")
    lines.append("    i = 0")
    lines.append("    try:")
    for k, (step, run, ins, outs, frees, need, guard) in enumerate(program.steps):
        names[f"R{k}"] = run
        args = ", ".join(_value(i) for i in ins)
        lines.append(f"        i = {k}")
        if guard is not None:
            names[f"G{k}"] = guard
            lines.append(f"        if guarded: G{k}([{args}])")
        lines.append(f"        o = R{k}({args})")
        lines.append(f"        if type(o) is not tuple or len(o) < {need}: CHECK({k}, o)")
        targets = [(j, slot) for j, slot in enumerate(outs) if slot > 1]  # 0: none, 1: dropped outputs
        for j, slot in targets:  # an optional output a kernel may leave out is None, as in the loop
            lines.append(f"        v{slot} = o[{j}]" if j < need else f"        v{slot} = o[{j}] if len(o) > {j} else None")
        for slot in frees:
            if slot > 1:
                lines.append(f"        v{slot} = None")
    lines.append("        pass")  # a program without steps still has a try body
    lines.append("    except Exception as exc:")
    lines.append("        FAIL(i, locals(), exc)")
    for name, slot in program.outputs:
        lines.append(f"    values[{name!r}] = {_value(slot)}")
    lines.append("    return values")
    names["STEPS"] = [step for step, *_ in program.steps]  # read by refruntime/deadline.py
    names["CHECK"] = _checker(program)
    names["FAIL"] = _failer(program)
    source = "\n".join(lines)
    code = compile(source, "<refruntime straight-line plan>", "exec")
    scope = dict(names)
    exec(code, scope)  # noqa: S102 - source generated above from slot numbers and repr'd names only
    return scope["run"]


def _value(slot: int) -> str:
    return "None" if slot == 0 else f"v{slot}"


def _checker(program):
    from refruntime.executor import _check_outputs

    def check(k, outputs):
        _check_outputs(program.steps[k][0], outputs)

    return check


def _failer(program):
    from refruntime.executor import _raise_kernel_failure

    def fail(k, local_values, exc):
        step, _, ins, *_ = program.steps[k]
        inputs = [None if i == 0 else local_values.get(f"v{i}") for i in ins]
        _raise_kernel_failure(step, inputs, exc)

    return fail
