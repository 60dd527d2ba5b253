"""refruntime checks itself: the fused fast path against the step-by-step path, on given feeds.

A plain `Session.run` takes the compiled program (plan_fusion.py: Conv+BN+Relu+MaxPool, channel
chains, Gemm+Relu fused into single steps); every debugging feature takes the unfused steps. The
two are designed to be bitwise equal. `fusion_defects` runs both on the same feeds and, when any
graph output differs in a single bit, names each fused step whose own output differs from the
unfused value of the same name. A defect found here is refruntime's, never the model's.
"""
from __future__ import annotations

import numpy as np

from refruntime.executor import _run_program
from refruntime.feeds import validate_feeds
from refruntime.ops._common import quiet_run


def fusion_defects(session, feeds) -> list[dict]:
    """[{fused_step, output, max_abs, mismatched}] for fused steps whose output differs; [] when
    the fused and unfused paths agree bitwise (or nothing is fused)."""
    plan = session.plan
    if plan.program is None:
        session.run(feeds)  # compiles the program at the first plain run
    program = plan.program
    if not program or not program.fused_outputs:
        return []
    fused = session.run(feeds)
    unfused = session.run(feeds, after=_never_stop)
    if all(_same(fused.get(n), unfused.get(n)) for n in session.output_names):
        return []
    names = list(program.fused_outputs)
    values = dict(plan.initializers)
    values.update(validate_feeds(feeds, session.input_specs))
    with quiet_run():
        fused_values = _run_program(program.keeping(names), values)
    steps = session.run(feeds, capture=names)
    defects = []
    for name in names:
        a, b = fused_values.get(name), steps.get(name)
        if not _same(a, b):
            defects.append({"fused_step": program.fused_outputs[name], "output": name, **_difference(a, b)})
    return defects


def _never_stop(step, inputs, outputs) -> bool:
    return False


def _same(a, b) -> bool:
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return a is b or (a is not None and b is not None and bool(np.all(a == b)))
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _difference(a, b) -> dict:
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
        return {"max_abs": None, "mismatched": None}
    with np.errstate(invalid="ignore"):
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    same = diff == 0
    if a.dtype.kind == "f":
        same |= np.isnan(a) & np.isnan(b)
    bad = ~same
    finite = diff[np.isfinite(diff)]
    return {"max_abs": float(finite.max()) if finite.size else None, "mismatched": int(bad.sum())}
