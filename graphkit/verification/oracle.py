"""Two oracles, named for what they answer, and who they side with.

- `exact` (refruntime, precision="float64"): every float value computed in float64. It answers
  "which runtime is closer to exact maths".
- `spec` (refruntime, precision="spec"): every op computed in float64 from its inputs, then rounded
  to the element type ONNX declares for its output. ONNX defines a float16 op's output as a float16
  tensor, so a runtime that keeps float32 between consecutive float16 ops (onnxruntime's CPU
  provider does) departs from the spec even when it is closer to exact maths.
For float32 graphs the two coincide (up to one rounding per op); for float16/bfloat16/quantized
graphs they do not, and the report says which runtime follows the spec and which is closer to
exact maths.

An oracle never judges code with itself. Ops that refruntime runs through onnx.reference (its
fallback) are computed by that same code in the oracle, so those nodes are listed as
`not_independent` and the outputs that depend on them get no verdict.
"""
from __future__ import annotations

import math

import numpy as np
import onnx

from graphkit.verification.compare import compare, json_float
from graphkit.verification.graph import topo_nodes
from graphkit.verification.runtimes import RuntimeFailure, make_runtime
from graphkit.verification.tolerance import Tolerances

ORACLES = {"exact": "ref64", "spec": "ref-spec"}
MEANING = {
    "exact": "float64 throughout: which runtime is closer to exact maths",
    "spec": "each op in float64, rounded to its declared type as ONNX defines: which runtime follows the spec",
}
CLOSE = 2.0  # runtimes within this factor of the closest one are equally close


def ask_oracles(model: onnx.ModelProto, feeds: dict, outputs: dict[str, dict], tols: Tolerances,
                kinds=("exact", "spec")) -> dict:
    """{'exact': judgement, 'spec': judgement, 'not_independent': [...], 'withheld': [...]}"""
    result: dict = {}
    not_independent: set[str] = set()
    for kind in kinds:
        try:
            oracle = make_runtime(ORACLES[kind], model)
            truth = oracle.run(feeds)
            not_independent.update(oracle.session.fallback_nodes())
            oracle.close()
        except RuntimeFailure as exc:
            result[kind] = {"error": str(exc)}
            continue
        result[kind] = {"meaning": MEANING[kind], "truth": truth}
    withheld = depends_on(model, not_independent)
    for kind in kinds:
        entry = result[kind]
        if "truth" in entry:
            truth = entry.pop("truth")
            judged = {rt: {n: v for n, v in values.items() if n not in withheld} for rt, values in outputs.items()}
            entry.update(judge(truth, judged, tols))
    result["not_independent"] = sorted(not_independent)
    result["withheld"] = sorted(withheld & {n for values in outputs.values() for n in values})
    return result


def depends_on(model: onnx.ModelProto, labels: set[str]) -> set[str]:
    """Every value computed (directly or not) by the nodes labelled `labels`."""
    if not labels:
        return set()
    tainted: set[str] = set()
    for info in topo_nodes(model.graph):
        if info.label in labels or any(n in tainted for n in info.reads):
            tainted.update(info.outputs)
    return tainted


def judge(truth: dict, outputs: dict[str, dict], tols: Tolerances) -> dict:
    """How far each runtime's outputs are from `truth`, and whom the truth sides with.

    errors: max abs error over the outputs; closeness: the largest mean abs error relative to the
    output's scale. A runtime is `within` when every output is within its dtype's tolerance of the
    truth. sides_with: the runtimes within tolerance when that separates them; otherwise (all or
    none within) those within CLOSE times the closest one's closeness.
    """
    errors, closeness, within = {}, {}, []
    for rt, values in outputs.items():
        # the truth in float64, the tolerance of the runtime's own (declared) type
        stats = [compare(np.asarray(truth[n]).astype(_dtype(v)), np.asarray(v), tols.for_value(n, np.asarray(v)))
                 for n, v in values.items() if n in truth and isinstance(truth[n], np.ndarray)]
        if not stats:
            continue
        errors[rt] = max(s.error for s in stats)
        closeness[rt] = max(_closeness(s) for s in stats)
        if all(s.within for s in stats):
            within.append(rt)
    if not errors:
        return {"errors": {}, "closeness": {}, "within": [], "sides_with": [],
                "note": "no output to judge"}
    if within and len(within) < len(errors):
        sides = list(within)
    else:
        best = min(closeness.values())
        sides = [rt for rt, c in closeness.items() if c <= CLOSE * best + 1e-300]
    return {"errors": {rt: json_float(e) for rt, e in errors.items()},
            "closeness": {rt: json_float(c) for rt, c in closeness.items()},
            "within": within, "sides_with": sides}


def _dtype(value) -> np.dtype:
    """The truth is compared in float64; integers and booleans in their own type."""
    value = np.asarray(value)
    return np.dtype(np.float64) if value.dtype.kind == "f" or value.dtype.kind == "V" else value.dtype


def _closeness(s) -> float:
    if not s.comparable or math.isinf(s.max_abs):
        return math.inf
    return s.mean_abs / s.max_expected if s.max_expected > 0 else s.mean_abs


def summary(oracle: dict) -> list[str]:
    """One line per oracle for the terminal report."""
    lines = []
    for kind in ("exact", "spec"):
        entry = oracle.get(kind)
        if not entry:
            continue
        if "error" in entry:
            lines.append(f"oracle {kind}: unavailable ({entry['error']})")
            continue
        errs = ", ".join(f"{rt}={_num(e)}" for rt, e in entry.get("errors", {}).items())
        sides = ", ".join(entry.get("sides_with", [])) or "nobody"
        lines.append(f"oracle {kind} ({entry['meaning']}): sides with {sides} (max abs error: {errs})")
    if oracle.get("not_independent"):
        lines.append(f"oracle not independent at {len(oracle['not_independent'])} node(s) refruntime runs through "
                     f"onnx.reference ({', '.join(oracle['not_independent'][:5])}); no verdict on outputs "
                     f"{', '.join(oracle.get('withheld', [])) or '(none affected)'}")
    verdict = _who_follows(oracle)
    if verdict:
        lines.append(verdict)
    return lines


def _who_follows(oracle: dict) -> str | None:
    exact, spec = oracle.get("exact") or {}, oracle.get("spec") or {}
    s, e = spec.get("sides_with") or [], exact.get("sides_with") or []
    if not s or not e or set(s) == set(e):
        return None
    if set(s) < set(e):
        return (f"{', '.join(s)} follow(s) ONNX's per-op rounding (the spec oracle); against exact maths "
                f"{', '.join(e)} are about equally close")
    return (f"{', '.join(s)} follow(s) ONNX's per-op rounding (spec); {', '.join(e)} is/are closer to exact "
            "maths (e.g. keeping float32 between float16 ops)")


def _num(x) -> str:
    return x if isinstance(x, str) else f"{x:.3g}"
