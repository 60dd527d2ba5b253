"""`gk.verify`: run a model on several runtimes (or two versions of a model on one runtime) and
say who disagrees, where it starts, and who is right."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import onnx

from graphkit.errors import UsageError
from graphkit.verification.diagnose import diagnose
from graphkit.verification.feeds import make_feeds
from graphkit.verification.graph import (
    PROTO_LIMIT,
    external_bytes,
    initializer_array,
    inline_weights,
    model_files,
    parse_shape,
    remember_file,
    topo_nodes,
    with_input_shapes,
)
from graphkit.verification.per_node import Progress, constant_values, unused_values
from graphkit.verification.report import OutputComparison, Report
from graphkit.verification.runtimes import RUNTIME_NAMES, Runtime, RuntimeFailure, make_runtime
from graphkit.verification.tolerance import Tolerances, parse_tol
from refruntime.validate import check_text


def verify(model, runtimes: str | Sequence[str | Runtime] = ("ref", "ort"), inputs=None, seed: int = 0,
           shapes: Mapping[str, Sequence[int]] | Sequence[str] | None = None, atol: float | None = None,
           rtol: float | None = None, tol: Mapping[str, tuple[float, float]] | Sequence[str] | None = None,
           error_stat: str = "max", per_node: bool = False, oracle: bool = False, against_model=None,
           module=None, reduce: str | os.PathLike | None = None, bisect_ort: bool = False, strict: bool = True,
           progress: bool = False, timeout: float | None = None) -> Report:
    """Compare `model` across `runtimes` (the first is the baseline), or against `against_model`
    on the first runtime only, matching values by name.

    runtimes: names (ref, ref64, ref-spec, ort, ort-noopt, torch, onnx-reference, module) or Runtime
        objects of your own (see runtimes/base.py).
    inputs: dict of arrays, an .npz path, or None for seeded random inputs (`seed`, `shapes`).
    atol/rtol: replace the per-dtype defaults for every float type (tolerance.py); `tol` sets one
        value's tolerance ({name: (atol, rtol)} or ["NAME=ATOL,RTOL"]); `error_stat` is the
        statistic that decides (max, mean, median or a quantile such as "0.99").
    per_node: compare every intermediate (memory-bounded), replay the diverging nodes alone to
        tell origins (a node's own error) from amplifiers (inherited error). The verdict is about
        the outputs either way.
    oracle: judge the outputs with the two oracles, `exact` (float64) and `spec` (float64 per op,
        rounded to each declared type).
    module: the original torch module (adds the 'module' runtime, outputs only).
    reduce: a folder; save the smallest subgraph that still shows the mismatch, with its inputs.
    bisect_ort: find which of onnxruntime's graph optimizers changes the outputs.
    strict: refruntime refuses models onnx's checker and type inference reject.
    timeout: seconds each refruntime run may take (ref, ref64, ref-spec, the oracles, per-node
        replays); a run past it stops with a LimitError naming the node, reported as that runtime's
        failure. None: unbounded.
    """
    from graphkit.verification.runtimes.ref import time_bound

    if timeout is not None and not timeout > 0:
        raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
    # what _load remembers about files is forgotten when verify returns; ref runs are bounded by timeout
    with model_files(), time_bound(timeout):
        return _verify(model, runtimes, inputs, seed, shapes, atol, rtol, tol, error_stat, per_node, oracle,
                       against_model, module, reduce, bisect_ort, strict, progress)


def _verify(model, runtimes, inputs, seed, shapes, atol, rtol, tol, error_stat, per_node, oracle, against_model,
            module, reduce, bisect_ort, strict, progress) -> Report:
    tols = Tolerances(atol, rtol, error_stat, _per_value(tol))
    names = _runtime_names(runtimes, module, against_model is not None or bisect_ort)
    shapes = _shapes(shapes)
    proto, label = _load(model, "model")
    check_text(proto)  # a malformed file (names that are not UTF-8) is bad input, whatever runtime loads it
    proto = with_input_shapes(proto, shapes)
    nodes = topo_nodes(proto.graph)  # a cycle is bad input: refused here, before any runtime runs
    feeds = make_feeds(proto, inputs, seed, shapes)
    _check_feeds(proto, feeds)
    tols = tols.with_model(proto.graph)
    per_node = per_node or reduce is not None
    show = Progress(progress)
    try:
        if against_model is not None:
            against, against_label = _load(against_model, "against_model")
            check_text(against)
            against = with_input_shapes(against, shapes)
            report = _verify_against(proto, label, nodes, against, against_label, names[0], feeds, tols,
                                     per_node, reduce, strict, show)
        else:
            report = _verify_runtimes(proto, label, nodes, names, feeds, tols, per_node, oracle, module, reduce,
                                      strict, show)
        if bisect_ort:
            _bisect(report, proto, feeds, tols, show)
    finally:
        show.done()
    report.inputs = {k: {"dtype": str(np.asarray(v).dtype), "shape": list(np.shape(v))} for k, v in feeds.items()}
    return report


def _verify_runtimes(model, label, nodes, names, feeds, tols, per_node, oracle, module, reduce, strict,
                     show) -> Report:
    report = Report(label, [_name(n) for n in names], _name(names[0]), tols)
    live = _prepare(names, model, module, strict, report, show)
    baseline, expected = None, None
    while live and expected is None:  # a baseline that fails hands over to the next runtime
        candidate = live.pop(0)
        show(f"running {candidate.name}")
        try:
            expected = candidate.run(feeds)
            baseline = candidate
        except RuntimeFailure as exc:
            report.errors[candidate.name] = str(exc)
    if baseline is None:
        raise UsageError(f"no runtime can run the model: {_failures(report.errors)}")
    if baseline.name != report.baseline:
        report.notes.append(f"baseline is {baseline.name}: {report.baseline} failed ({report.errors[report.baseline]})")
        report.baseline = baseline.name
    others = live
    outputs = {baseline.name: expected}
    for rt in others:
        show(f"running {rt.name}")
        try:
            got = rt.run(feeds)
        except RuntimeFailure as exc:
            report.errors[rt.name] = str(exc)
            continue
        outputs[rt.name] = got
        for name in baseline.output_names:
            report.outputs.append(OutputComparison(name, rt.name, tols.compare(name, expected.get(name), got.get(name))))
    others = [rt for rt in others if rt.name in outputs]
    for rt in [baseline, *others]:
        if getattr(rt, "delegated", None):
            report.notes.append(f"{rt.name}: {len(rt.delegated)} node(s) it cannot map ran on refruntime: "
                                f"{', '.join(rt.delegated[:8])}")
    if oracle:
        from graphkit.verification.oracle import ask_oracles

        show("running the oracles (exact, spec)")
        report.oracle = ask_oracles(model, feeds, outputs, tols)
    del outputs
    if per_node:
        _per_node(report, model, nodes, baseline, others, feeds, tols, reduce, show)
    for rt in [baseline, *others]:
        if rt.name == "ref" and per_node:
            _self_check(report, rt, feeds)
        rt.close()
    return report


def _prepare(names, model, module, strict, report, show) -> list[Runtime]:
    """The runtimes that load the model; their failures go to the report. None loads: bad input."""
    live = []
    for name in names:
        if isinstance(name, Runtime):
            live.append(name)
            continue
        show(f"preparing {name}")
        try:
            live.append(make_runtime(name, model if name in READ_WEIGHTS_FROM_FILE else inline_weights(model),
                                     module, strict=strict))
        except RuntimeFailure as exc:
            report.errors[name] = str(exc)
    if not live:
        raise UsageError(f"no runtime can load the model: {_failures(report.errors)}")
    return live


def _per_node(report, model, nodes, baseline, others, feeds, tols, reduce, show) -> None:
    if not baseline.has_intermediates:
        report.notes.append(f"baseline {baseline.name} has no intermediates; per-node comparison skipped")
        return
    comparable = [rt for rt in others if rt.has_intermediates]
    for rt in others:
        if not rt.has_intermediates:
            report.notes.append(f"{rt.name} has no intermediates; compared on outputs only")
        if rt.keeps_all_values:
            report.notes.append(f"{rt.name} holds every intermediate during a run (its own memory use)")
    unused = unused_values(model.graph)
    if unused:
        report.notes.append(f"{len(unused)} value(s) nothing reads were not compared: {', '.join(sorted(unused)[:5])}"
                            + (" ..." if len(unused) > 5 else ""))
    for rt in [baseline, *comparable]:  # the plain-run sessions are not needed any more
        rt.close()
    diagnose(report, model, nodes, baseline, comparable, feeds, tols, show,
             skip=constant_values(model.graph) | unused, reduce=reduce)


def _self_check(report, ref: Runtime, feeds) -> None:
    """refruntime's fused fast path against its unfused steps on the same feeds."""
    from refruntime.selfcheck import fusion_defects

    try:
        defects = fusion_defects(ref.session, ref._feeds(feeds))
    except Exception as exc:  # noqa: BLE001 - a self-check failure is itself a refruntime defect
        defects = [{"fused_step": None, "output": None, "error": f"{type(exc).__name__}: {exc}"}]
    report.self_check = defects


def _verify_against(model, label, nodes, against, against_label, runtime, feeds, tols, per_node, reduce, strict,
                    show) -> Report:
    report = Report(label, [runtime], runtime, tols, against_model=against_label)
    weights = (lambda m: m) if runtime in READ_WEIGHTS_FROM_FILE else inline_weights
    candidate = make_runtime(runtime, weights(model), strict=strict)
    reference = make_runtime(runtime, weights(against), strict=strict)
    for rt in (candidate, reference):  # a runtime compared with itself: its fusions are not the question
        rt.compare_every_value()
    show(f"running {against_label} on {runtime}")
    expected = reference.run(feeds)
    show(f"running {label} on {runtime}")
    got = candidate.run(feeds)
    pairs = [(n, n) for n in candidate.output_names if n in expected]
    if not pairs and len(candidate.output_names) == len(reference.output_names):
        pairs = list(zip(candidate.output_names, reference.output_names))
        report.notes.append("no output names in common; outputs matched by position")
    for mine, theirs in pairs:
        report.outputs.append(OutputComparison(mine, runtime, tols.compare(mine, expected[theirs], got.get(mine))))
    report.notes.extend(_changed_initializers(model, against))
    if per_node:
        against_nodes = topo_nodes(against.graph)
        known = {n for info in against_nodes for n in info.outputs}
        diagnose(report, model, nodes, reference, [candidate], feeds, tols, show,
                 skip=constant_values(model.graph) | unused_values(model.graph), reduce=reduce, known=known,
                 against=against, against_nodes=against_nodes)
        from graphkit.verification.quant_report import is_quantized, quantization_report

        show("quantization error per layer")
        if is_quantized(model):  # it reads weights with onnx alone: give it protos holding them
            model, against = inline_weights(model), inline_weights(against)
        report.quantization = quantization_report(model, against, candidate, reference, feeds)
    candidate.close()
    reference.close()
    return report


def _bisect(report, model, feeds, tols, show) -> None:
    from graphkit.verification.ort_bisect import bisect_ort

    def agree(expected: dict, actual: dict) -> bool:
        return all(tols.compare(n, v, actual.get(n)).within for n, v in expected.items())

    show("bisecting onnxruntime's graph optimizers")
    size = model.ByteSize() + external_bytes(model)
    if size > PROTO_LIMIT:  # its sessions are built from the model's bytes, weights inside
        report.ort_bisect = {"optimizer": None, "optimizers": [], "level": None, "nodes": [], "created": [],
                             "sessions": 0, "note": f"not bisected: with its weights the model is "
                                                    f"{size / 2**30:.1f} GiB, above protobuf's 2 GiB limit"}
        return
    report.ort_bisect = bisect_ort(inline_weights(model), feeds, agree, progress=show)


def _check_feeds(model: onnx.ModelProto, feeds: dict) -> None:
    """Names, dtypes and static dims of the feeds against the model's inputs (FeedError: exit 2)."""
    from refruntime.feeds import graph_input_specs, validate_feeds

    validate_feeds(feeds, graph_input_specs(model.graph))


def _failures(errors: dict[str, str]) -> str:
    return "; ".join(errors.values()) or "(no runtime)"


def _changed_initializers(model, against) -> list[str]:
    from refruntime.external_data import release_pages

    mine = {t.name: t for t in model.graph.initializer}
    theirs = {t.name: t for t in against.graph.initializer}
    changed = []
    for name in sorted(set(mine) & set(theirs)):  # one pair at a time; mapped pages released after
        a, b = initializer_array(model, mine[name]), initializer_array(against, theirs[name])
        if a.shape != b.shape or not np.array_equal(a, b):
            changed.append(name)
        release_pages((a, b))
    produced = {n for node in against.graph.node for n in node.output}
    replaced = sorted(n for n in set(mine) - set(theirs) if n in produced)
    notes = []
    if changed:
        notes.append(f"{len(changed)} initializer(s) differ between the models: {changed[:8]}")
    if replaced:
        notes.append(f"{len(replaced)} value(s) are initializers here but computed in the other model: {replaced[:8]}")
    return notes


def _name(runtime) -> str:
    return runtime.name if isinstance(runtime, Runtime) else runtime


def _runtime_names(runtimes, module, single_ok: bool) -> list:
    if isinstance(runtimes, str):
        runtimes = [r.strip() for r in runtimes.split(",") if r.strip()]
    names = list(dict.fromkeys(runtimes))
    if module is not None and "module" not in names:
        names.append("module")
    if not names:
        raise UsageError("no runtimes given")
    unknown = [n for n in names if not isinstance(n, Runtime) and n not in RUNTIME_NAMES]
    if unknown:
        raise UsageError(f"unknown runtime(s) {unknown}; choose from {', '.join(RUNTIME_NAMES)}")
    if "module" in names and module is None:
        raise UsageError("runtime 'module' needs the torch module: verify(..., module=m) or `graphkit export`")
    if len(names) < 2 and not single_ok:
        raise UsageError(f"--runtimes names one runtime ({_name(names[0])}); a comparison needs two, e.g. "
                         f"{_name(names[0])},ort (or --against-model OTHER.onnx to compare two models on one)")
    return names


def _per_value(tol) -> dict[str, tuple[float, float]]:
    if not tol:
        return {}
    if isinstance(tol, Mapping):
        return {k: (float(a), float(r)) for k, (a, r) in tol.items()}
    return dict(parse_tol(t) for t in tol)


def _shapes(shapes) -> dict[str, tuple[int, ...]]:
    if not shapes:
        return {}
    if isinstance(shapes, Mapping):
        return {k: tuple(int(d) for d in v) for k, v in shapes.items()}
    return dict(parse_shape(s) for s in shapes)


# Runtimes that read a model's weights from its file (the others get a proto with them inside).
READ_WEIGHTS_FROM_FILE = frozenset({"ref", "ref64", "ref-spec", "ort", "ort-noopt", "module"})
# Initializers at least this large stay in their file; smaller ones (shapes, scales, norms) are read
# into the proto, where every graph analysis can see them.
WEIGHT_BYTES = 1 << 16


def _load(model, what: str) -> tuple[onnx.ModelProto, str]:
    """(proto, label). A path gives a proto without its weights: initializers of WEIGHT_BYTES or
    more stay external-data references, checked here (relative, no '..', no symlink leaving the
    folder, file long enough) and read later from the file by the runtimes, memory-mapped."""
    if isinstance(model, onnx.ModelProto):
        return model, model.graph.name or "<model>"
    if isinstance(model, (str, os.PathLike)):
        from graphkit.errors import LoadError
        from graphkit.proto_files import read_proto
        from refruntime.external_data import UnsafeExternalData, inline_external_data

        path = os.fspath(model)
        if not os.path.isfile(path):
            raise UsageError(f"{what} file not found: {path}")
        proto = read_proto(path)
        try:  # external data through the same safety checks as gk.load and Session
            proto = inline_external_data(proto, os.path.dirname(os.path.abspath(path)), keep_from=WEIGHT_BYTES)
        except UnsafeExternalData as exc:
            raise LoadError(f"{path}: {exc}") from None
        return remember_file(proto, path), path
    raise UsageError(f"{what} must be a path or an onnx.ModelProto, got {type(model).__name__}")
