"""From replays to findings: origins of divergence, amplifiers, and a plain-words explanation.

An origin is a node whose own computation differs (replay.NodeReplay.is_origin). Every other
diverging node is an amplifier: its output differs because its inputs did, by a factor
(output error / output scale) / (input error / input scale), and the op says why (a Softmax over
logits of magnitude 1e10, a subtraction of nearly equal values...).
"""
from __future__ import annotations

import math

from graphkit.verification.compare import json_float
from graphkit.verification.replay import NodeReplay

SHOWN_AMPLIFIERS = 3


def split(replays: list[NodeReplay]) -> tuple[list[NodeReplay], list[NodeReplay]]:
    """(origins, amplifiers), each in topological order."""
    key = _position
    origins = sorted((r for r in replays if r.is_origin), key=key)
    amplifiers = sorted((r for r in replays if not r.is_origin), key=key)
    return origins, amplifiers


def _position(r: NodeReplay):
    return r.comparison.position, r.runtime


def strongest(amplifiers: list[NodeReplay], n: int = SHOWN_AMPLIFIERS) -> list[NodeReplay]:
    """The amplifiers with the largest factors (unknown factors last)."""
    def size(r):
        f = r.factor
        return -1.0 if f is None else (1e300 if math.isinf(f) else f)

    return sorted(amplifiers, key=size, reverse=True)[:n]


def reason(r: NodeReplay) -> str:
    """Why this node amplifies its input error, in words."""
    op = r.info.op
    out_scale = max((s.max_expected for s in r.inherited.values()), default=0.0)
    in_err = r.input_error
    if r.factor is None:
        return "some of its inputs were not reported by this runtime (fused away), so the factor is unknown"
    if math.isinf(r.factor):
        return ("its inputs agree, but its output does not: this runtime computes it differently inside "
                "the whole graph than alone (a fusion or a different kernel choice)")
    if op in ("Softmax", "LogSoftmax"):
        shift = r.input_scale * in_err
        return (f"{op} over inputs of magnitude up to {r.input_scale:.3g}: a relative input error of "
                f"{in_err:.2g} moves the logits by up to {shift:.3g}, and the exponentials with them")
    if op in ("Sub", "Add", "Sum") and out_scale < 0.1 * r.input_scale:
        return (f"cancellation: inputs of magnitude {r.input_scale:.3g} give outputs of magnitude "
                f"{out_scale:.3g}, so their rounding is a larger share of the result")
    if op in ("Exp", "Pow"):
        return f"{op} grows exponentially: inputs of magnitude {r.input_scale:.3g}"
    if op in ("Div", "Reciprocal", "Log", "Sqrt", "Rsqrt"):
        return f"{op} is ill-conditioned near zero"
    if op in ("ReduceMean", "ReduceSum", "MatMul", "Gemm", "Conv", "LayerNormalization"):
        return f"{op} sums many terms; inputs of magnitude {r.input_scale:.3g}, outputs {out_scale:.3g}"
    if r.factor <= 1.5:
        return "passes the difference of its inputs on"
    return f"its relative output error is {r.factor:.3g} times its relative input error"


def origin_dict(r: NodeReplay) -> dict:
    local = r.worst_local()
    inherited = max(r.inherited.values(), key=lambda s: s.error_stat, default=None)
    out = {
        "node": r.info.label, "op": r.info.op, "runtime": r.runtime, "position": r.comparison.position,
        "local_error": json_float(local.max_abs) if local is not None else None,
        "inherited_error": json_float(inherited.max_abs) if inherited is not None else None,
        "replayed": r.local is not None,
    }
    if r.exact:
        out["float64"] = {"sides_with": r.exact_within,
                          "errors": {rt: json_float(max((s.max_abs for s in per.values()), default=0.0))
                                     for rt, per in r.exact.items()}}
    if r.note:
        out["note"] = r.note
    return out


def amplifier_dict(r: NodeReplay) -> dict:
    return {
        "node": r.info.label, "op": r.info.op, "runtime": r.runtime, "position": r.comparison.position,
        "factor": None if r.factor is None else json_float(r.factor),
        "input_error": None if r.input_error is None else json_float(r.input_error),
        "output_error": json_float(r.output_error), "input_scale": json_float(r.input_scale),
        "reason": reason(r),
    }


def explain(origins: list[NodeReplay], amplifiers: list[NodeReplay], outputs_differ: bool) -> str | None:
    """The per-node findings in plain words (None when nothing inside the graph diverged)."""
    if not origins and not amplifiers:
        return None
    if origins:
        first = origins[0]
        local = first.worst_local()
        where = (f"node {first.info.label!r} ({first.info.op}) on {first.runtime}"
                 + (f": run alone from the baseline's inputs it is off by {local.max_abs:.3g}" if local else
                    f": not replayed ({first.note or 'no replay'}), but its output is out of tolerance while "
                    "no input it shares with the baseline is"))
        text = f"{len(origins)} node(s) compute differently on their own; the first is {where}."
        if first.exact:
            text += f" float64 from the same inputs sides with {', '.join(first.exact_within) or 'neither'}."
        if amplifiers:
            text += f" {len(amplifiers)} node(s) downstream only pass the difference on."
        return text
    shown = "; ".join(f"{r.info.op} {r.info.label!r} on {r.runtime} (x{_factor(r)}: {reason(r)})"
                      for r in strongest(amplifiers))
    if outputs_differ:
        return ("No node computes a different value on its own: run alone from the same inputs, every "
                "diverging node agrees within tolerance. The outputs differ by accumulated rounding, "
                f"amplified by ill-conditioned steps. Strongest amplifiers: {shown}.")
    return (f"The outputs agree; {len(amplifiers)} intermediate value(s) differ beyond tolerance only through "
            f"rounding amplified on the way (no node computes differently on its own). Strongest: {shown}.")


def _factor(r: NodeReplay) -> str:
    f = r.factor
    if f is None:
        return "?"
    return "inf" if math.isinf(f) else f"{f:.3g}"
