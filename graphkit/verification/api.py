"""`gk.verify`: run a model on several runtimes (or two versions of a model on one runtime) and
say who disagrees, where it starts, and who is right."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from graphkit.errors import UsageError
from graphkit.verification.compare import Tolerance, array_summary, compare
from graphkit.verification.feeds import make_feeds
from graphkit.verification.graph import parse_shape, topo_nodes, with_input_shapes
from graphkit.verification.per_node import (
    Progress,
    compare_per_node,
    constant_values,
    find_origins,
    origin_inputs,
    unused_values,
)
from graphkit.verification.reduce import ValueSource, judge, reduce_mismatch
from graphkit.verification.report import OutputComparison, Report
from graphkit.verification.runtimes import RUNTIME_NAMES, Runtime, RuntimeFailure, make_runtime


def verify(model, runtimes: str | Sequence[str] = ("ref", "ort"), inputs=None, seed: int = 0,
           shapes: Mapping[str, Sequence[int]] | Sequence[str] | None = None, atol: float = 1e-5,
           rtol: float = 1e-4, per_node: bool = False, oracle: bool = False, against_model=None,
           module=None, reduce: str | os.PathLike | None = None, progress: bool = False) -> Report:
    """Compare `model` across `runtimes` (the first is the baseline), or against `against_model`
    on the first runtime only, matching values by name.

    inputs: dict of arrays, an .npz path, or None for seeded random inputs (`seed`, `shapes`).
    per_node: compare every intermediate (memory-bounded) and find the origin of divergence.
    oracle: ask the float64 oracle (ref64) which runtime is right, on the outputs and at the origin.
    module: the original torch module (adds the 'module' runtime, outputs only).
    reduce: a folder; save the smallest subgraph that still shows the mismatch, with its inputs.
    """
    tol = Tolerance(float(atol), float(rtol))
    names = _runtime_names(runtimes, module)
    shapes = _shapes(shapes)
    proto, label = _load(model, "model")
    proto = with_input_shapes(proto, shapes)
    feeds = make_feeds(proto, inputs, seed, shapes)
    if reduce is not None:
        per_node = True
    show = Progress(progress)
    try:
        if against_model is not None:
            against, against_label = _load(against_model, "against_model")
            against = with_input_shapes(against, shapes)
            report = _verify_against(proto, label, against, against_label, names[0], feeds, tol,
                                     per_node, reduce, show)
        else:
            report = _verify_runtimes(proto, label, names, feeds, tol, per_node, oracle, module, reduce, show)
    finally:
        show.done()
    report.inputs = {k: {"dtype": str(np.asarray(v).dtype), "shape": list(np.shape(v))} for k, v in feeds.items()}
    return report


def _verify_runtimes(model, label, names, feeds, tol, per_node, oracle, module, reduce, show) -> Report:
    if per_node:  # the baseline must produce intermediates; the module cannot
        names = sorted(names, key=lambda n: n == "module")
    report = Report(label, list(names), names[0], tol)
    live: list[Runtime] = []
    for name in names:
        show(f"preparing {name}")
        try:
            live.append(make_runtime(name, model, module))
        except RuntimeFailure as exc:
            report.errors[name] = str(exc)
    expected = None
    while live and expected is None:  # a baseline that fails hands over to the next runtime
        baseline = live.pop(0)
        show(f"running {baseline.name}")
        try:
            expected = baseline.run(feeds)
        except RuntimeFailure as exc:
            report.errors[baseline.name] = str(exc)
    if expected is None:
        return report
    others = live
    report.baseline = baseline.name
    if not baseline.has_intermediates:
        per_node = False
        report.notes.append(f"baseline {baseline.name} has no intermediates; per-node comparison skipped")
    live = [baseline, *others]
    kept = {baseline.name: expected}
    for rt in others:
        show(f"running {rt.name}")
        try:
            got = rt.run(feeds)
        except RuntimeFailure as exc:
            report.errors[rt.name] = str(exc)
            continue
        for name in baseline.output_names:
            report.outputs.append(OutputComparison(name, rt.name, compare(expected.get(name), got.get(name), tol)))
        if oracle:
            kept[rt.name] = got
    if oracle:
        show("running the float64 oracle (ref64)")
        try:
            truth = make_runtime("ref64", model).run(feeds)
            report.oracle = judge(truth, kept, tol)
        except RuntimeFailure as exc:
            report.notes.append(f"oracle unavailable: {exc}")
    if per_node:
        for rt in live:  # drop the plain-run sessions: per-node runs hold their own
            rt.close()
        comparable = [rt for rt in others if rt.has_intermediates and rt.name not in report.errors]
        for rt in others:
            if not rt.has_intermediates:
                report.notes.append(f"{rt.name} has no intermediates; compared on outputs only")
            if rt.keeps_all_values:
                report.notes.append(f"{rt.name} holds every intermediate during a run (its own memory use)")
        unused = unused_values(model.graph)
        if unused:
            report.notes.append(f"{len(unused)} value(s) nothing reads were not compared: {', '.join(sorted(unused)[:5])}"
                                + (" ..." if len(unused) > 5 else ""))
        _per_node(report, model, topo_nodes(model.graph), baseline, comparable, feeds, tol, oracle, reduce,
                  show, skip=constant_values(model.graph) | unused)
    for rt in live:
        rt.close()
    return report


def _verify_against(model, label, against, against_label, runtime, feeds, tol, per_node, reduce, show) -> Report:
    report = Report(label, [runtime], runtime, tol, against_model=against_label)
    candidate = make_runtime(runtime, model)
    reference = make_runtime(runtime, against)
    show(f"running {against_label} on {runtime}")
    expected = reference.run(feeds)
    show(f"running {label} on {runtime}")
    got = candidate.run(feeds)
    pairs = [(n, n) for n in candidate.output_names if n in expected]
    if not pairs and len(candidate.output_names) == len(reference.output_names):
        pairs = list(zip(candidate.output_names, reference.output_names))
        report.notes.append("no output names in common; outputs matched by position")
    for mine, theirs in pairs:
        report.outputs.append(OutputComparison(mine, runtime, compare(expected[theirs], got.get(mine), tol)))
    report.notes.extend(_changed_initializers(model, against))
    if per_node:
        against_nodes = topo_nodes(against.graph)
        known = {n for info in against_nodes for n in info.outputs}
        _per_node(report, model, topo_nodes(model.graph), reference, [candidate], feeds, tol, False, reduce,
                  show, skip=constant_values(model.graph) | unused_values(model.graph), known=known, against=against,
                  against_nodes=against_nodes)
    return report


def _per_node(report, model, nodes, baseline, others, feeds, tol, oracle, reduce, show, skip,
              known=None, against=None, against_nodes=None) -> None:
    comparisons, failures = compare_per_node(nodes, baseline, others, feeds, tol, skip=skip, known=known,
                                             progress=show)
    report.errors.update(failures)
    report.per_node = comparisons
    report.origins = find_origins(comparisons, [rt.name for rt in others])
    if not report.origins:
        return
    first = report.origins[0]
    info = first.comparison.info
    same = [o for o in report.origins if o.comparison.position == first.comparison.position]
    source_model = against if against is not None else model
    source = ValueSource(source_model, baseline, feeds)
    try:
        if against is None:
            inputs = origin_inputs(model, baseline, feeds, info)
        else:  # the node's own initializers, and the reference run's values for the rest
            own = {t.name: t for t in model.graph.initializer}
            inputs = {n: numpy_helper.to_array(own[n]) for n in info.inputs if n in own}
            inputs.update(source.get([n for n in info.inputs if n not in own]))
    except RuntimeFailure:
        inputs = {}
    report.first_divergence = {
        "node": info.label, "op": info.op, "position": first.comparison.position,
        "runtimes": [o.runtime for o in same],
        "attributes": info.attributes(),
        "inputs": {n: array_summary(v) for n, v in inputs.items()},
        "outputs": {o.runtime: {n: s.to_dict() for n, s in first.comparison.stats[o.runtime].items()} for o in same},
        "oracle": None,
    }
    del inputs
    if not (reduce or oracle):
        return
    show(f"reducing around {info.label}")
    result = reduce_mismatch(model, nodes, info, source, baseline.name, [o.runtime for o in same], tol,
                             against=against, against_nodes=against_nodes, oracle=oracle,
                             out_dir=os.fspath(reduce) if reduce else None)
    if oracle:
        report.first_divergence["oracle"] = result.get("oracle")
        if result.get("oracle") is None:
            report.notes.append("oracle at the origin unavailable: the reduced subgraph did not reproduce")
    if reduce:
        report.reduced = result


def _changed_initializers(model, against) -> list[str]:
    mine = {t.name: t for t in model.graph.initializer}
    theirs = {t.name: t for t in against.graph.initializer}
    changed = []
    for name in sorted(set(mine) & set(theirs)):
        a, b = numpy_helper.to_array(mine[name]), numpy_helper.to_array(theirs[name])
        if a.shape != b.shape or not np.array_equal(a, b):
            changed.append(name)
    produced = {n for node in against.graph.node for n in node.output}
    replaced = sorted(n for n in set(mine) - set(theirs) if n in produced)
    notes = []
    if changed:
        notes.append(f"{len(changed)} initializer(s) differ between the models: {changed[:8]}")
    if replaced:
        notes.append(f"{len(replaced)} value(s) are initializers here but computed in the other model: {replaced[:8]}")
    return notes


def _runtime_names(runtimes, module) -> list[str]:
    if isinstance(runtimes, str):
        runtimes = [r.strip() for r in runtimes.split(",") if r.strip()]
    names = list(dict.fromkeys(runtimes))
    if module is not None and "module" not in names:
        names.append("module")
    if not names:
        raise UsageError("no runtimes given")
    unknown = [n for n in names if n not in RUNTIME_NAMES]
    if unknown:
        raise UsageError(f"unknown runtime(s) {unknown}; choose from {', '.join(RUNTIME_NAMES)}")
    if "module" in names and module is None:
        raise UsageError("runtime 'module' needs the torch module: verify(..., module=m) or `graphkit export`")
    return names


def _shapes(shapes) -> dict[str, tuple[int, ...]]:
    if not shapes:
        return {}
    if isinstance(shapes, Mapping):
        return {k: tuple(int(d) for d in v) for k, v in shapes.items()}
    return dict(parse_shape(s) for s in shapes)


def _load(model, what: str) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        return model, model.graph.name or "<model>"
    if isinstance(model, (str, os.PathLike)):
        from graphkit.errors import LoadError
        from refruntime.external_data import UnsafeExternalData, inline_external_data

        path = os.fspath(model)
        if not os.path.isfile(path):
            raise UsageError(f"{what} file not found: {path}")
        try:
            proto = onnx.load(path, load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, RuntimeError, ...
            raise LoadError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
        if not proto.HasField("graph"):
            raise LoadError(f"{path}: not an ONNX model (no graph)")
        try:  # external data through the same safety checks as gk.load and Session
            return inline_external_data(proto, os.path.dirname(os.path.abspath(path))), path
        except UnsafeExternalData as exc:
            raise LoadError(f"{path}: {exc}") from None
    raise UsageError(f"{what} must be a path or an onnx.ModelProto, got {type(model).__name__}")
