"""Inside the graph: per-node comparison, replay of the diverging nodes, findings, reduction.

Fills a Report's `per_node`, `origins`, `amplifiers`, `explanation`, `first_divergence` and
`reduced`. Findings inside the graph never change the verdict, which is about the outputs.
"""
from __future__ import annotations

import os

import onnx

from graphkit.verification.compare import array_summary
from graphkit.verification.findings import explain, split
from graphkit.verification.graph import NodeInfo, initializer_array
from graphkit.verification.per_node import compare_per_node, origin_inputs
from graphkit.verification.reduce import ValueSource, reduce_mismatch
from graphkit.verification.replay import NodeReplay, replay_diverging
from graphkit.verification.runtimes import Runtime, RuntimeFailure
from graphkit.verification.tolerance import Tolerances


def diagnose(report, model: onnx.ModelProto, nodes: list[NodeInfo], baseline: Runtime, others: list[Runtime],
             feeds: dict, tols: Tolerances, show, skip: set[str], reduce=None, known: set[str] | None = None,
             against: onnx.ModelProto | None = None, against_nodes: list[NodeInfo] | None = None) -> None:
    result = compare_per_node(nodes, baseline, others, feeds, tols, skip=skip, known=known, progress=show)
    for rt, message in result.failures.items():
        report.notes.append(f"per-node comparison on {rt} stopped: {message}")
    for rt, names in result.absent.items():
        if names:
            report.notes.append(f"{len(names)} value(s) do not exist in {rt}'s optimized graph (fused away) "
                                "and were not compared")
    report.per_node = result.comparisons
    failed = set(result.failures)
    replays = replay_diverging(model, result.comparisons, baseline, [rt for rt in others if rt.name not in failed],
                               feeds, tols, oracle=against is None, against=against, against_nodes=against_nodes,
                               absent=result.absent, progress=show)
    report.origins, report.amplifiers = split(replays)
    outputs_differ = any(not o.stats.within for o in report.outputs)
    report.explanation = explain(report.origins, report.amplifiers, outputs_differ)
    if not report.origins:
        return
    first = report.origins[0]
    report.first_divergence = _first_divergence(model, first, report.origins, baseline, feeds, against)
    if reduce:
        show(f"reducing around {first.info.label}")
        source = ValueSource(against if against is not None else model, baseline, feeds)
        same = [o.runtime for o in report.origins if o.comparison.position == first.comparison.position]
        report.reduced = reduce_mismatch(model, nodes, first.info, source, baseline.name, same, tols,
                                         against=against, against_nodes=against_nodes, out_dir=os.fspath(reduce))


def _first_divergence(model, first: NodeReplay, origins: list[NodeReplay], baseline: Runtime, feeds: dict,
                      against) -> dict:
    info = first.info
    same = [o for o in origins if o.comparison.position == first.comparison.position]
    try:
        if against is None:
            inputs = origin_inputs(model, baseline, feeds, info)
        else:  # the node's own initializers, and the reference run's values for the rest
            own = {t.name: t for t in model.graph.initializer}
            inputs = {n: initializer_array(model, own[n]) for n in info.inputs if n in own}
            inputs.update(ValueSource(against, baseline, feeds).get([n for n in info.inputs if n not in own]))
    except (RuntimeFailure, KeyError):
        inputs = {}
    local = {o.runtime: {n: s.to_dict() for n, s in (o.local or {}).items()} for o in same}
    oracle = None
    if first.exact:
        oracle = {"sides_with": first.exact_within,
                  "errors": {rt: max((s.max_abs for s in per.values()), default=0.0) for rt, per in first.exact.items()}}
    return {
        "node": info.label, "op": info.op, "position": first.comparison.position,
        "runtimes": [o.runtime for o in same],
        "attributes": info.attributes(),
        "inputs": {n: array_summary(v) for n, v in inputs.items()},
        "outputs": {o.runtime: {n: s.to_dict() for n, s in o.inherited.items()} for o in same},
        "local": local,
        "oracle": oracle,
    }
