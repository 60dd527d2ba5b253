"""A node's own error, by replay: every diverging node run alone from the baseline's input values.

The per-node comparison says where values differ; it cannot say who made them differ. A Softmax
over logits of magnitude 1e10 turns a 1e-7 relative difference of its inputs into a 3 % difference
of its output without computing anything wrong. So every node whose output is out of tolerance on
some runtime is run again, alone, on the baseline, on that runtime and in float64 (refruntime's
oracle), all from the *baseline's* values of its inputs:

- local error: the runtime's replay against the baseline's replay (same inputs). Out of tolerance
  means the node itself computes differently: an origin of divergence.
- float64 replay: the same node in float64 from the same inputs says which side is right at this
  node (`sides_with`: the runtimes within tolerance of it). When every runtime is within tolerance
  of float64, a local difference is rounding, not an origin.
- inherited error and amplification: a node whose replays agree diverges only because its inputs
  did; its factor is (output error / output scale) / (input error / input scale).

Values are fetched in chunks of nodes (one baseline re-run per chunk) and dropped after use, so
memory stays bounded as in the per-node comparison. A runtime that cannot run one node (the torch
`module`) says so, and its nodes are judged by the old rule (inputs within, output out).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx

from graphkit.verification.compare import Stats, compare
from graphkit.verification.graph import NodeInfo, extract_nodes, initializer_array, initializer_names
from graphkit.verification.per_node import NodeComparison
from graphkit.verification.runtimes import Runtime, RuntimeFailure
from graphkit.verification.tolerance import Tolerances

CHUNK_NODES = 32


@dataclass
class NodeReplay:
    """One node replayed for one diverging runtime."""

    comparison: NodeComparison
    runtime: str
    local: dict[str, Stats] | None            # runtime's replay vs the baseline's replay; None: no replay
    exact: dict[str, dict[str, Stats]] = field(default_factory=dict)  # runtime -> output -> vs float64
    input_error: float | None = 0.0           # largest relative error of its inputs in the full run
    input_scale: float = 0.0                  # largest |input| (baseline)
    note: str = ""

    @property
    def info(self) -> NodeInfo:
        return self.comparison.info

    @property
    def inherited(self) -> dict[str, Stats]:
        return self.comparison.stats.get(self.runtime, {})

    @property
    def local_out(self) -> bool:
        return self.local is not None and any(not s.within for s in self.local.values())

    @property
    def exact_within(self) -> list[str]:
        """Runtimes whose replay is within tolerance of the float64 replay, at every output."""
        return [rt for rt, per in self.exact.items() if per and all(s.within for s in per.values())]

    @property
    def is_origin(self) -> bool:
        if self.local is None:  # no replay: the old rule (within-tolerance inputs, out-of-tolerance output)
            return self.input_error == 0.0
        if not self.local_out:
            return False
        # both sides within tolerance of float64: they differ by rounding, neither is wrong
        return not (self.exact and len(self.exact_within) == len(self.exact))

    @property
    def output_error(self) -> float:
        """Largest relative error of its outputs in the full run."""
        return max((s.relative_error for s in self.inherited.values() if not s.within), default=0.0)

    @property
    def factor(self) -> float | None:
        if self.input_error is None:
            return None
        if self.input_error == 0.0:
            return math.inf
        return self.output_error / self.input_error

    def worst_local(self) -> Stats | None:
        if not self.local:
            return None
        return max(self.local.values(), key=lambda s: (not s.within, s.error_stat, s.error))


def replay_diverging(model: onnx.ModelProto, comparisons: list[NodeComparison], baseline: Runtime,
                     others: list[Runtime], feeds: dict, tols: Tolerances, oracle: bool = True,
                     against: onnx.ModelProto | None = None, against_nodes: list[NodeInfo] | None = None,
                     absent: dict[str, set[str]] | None = None,
                     progress: Callable[[str], None] | None = None) -> list[NodeReplay]:
    """Replay every node whose full-run output is out of tolerance on some runtime of `others`.

    Against-model mode (`against` given): the baseline is `against` on the same runtime; the node
    of `against` with the same outputs is its twin, and no float64 replay is made. `absent` names,
    per runtime, the values it did not report (fused away by ORT): inputs of unknown error.
    """
    diverging = [(nc, [rt for rt in others if _out(nc, rt.name)]) for nc in comparisons]
    diverging = [(nc, rts) for nc, rts in diverging if rts]
    if not diverging:
        return []
    errors = _relative_errors(comparisons, absent or {})
    scales = _scales(comparisons)
    twins = {tuple(i.outputs): i for i in against_nodes or []}
    source_model = against if against is not None else model
    model_inits, source_inits = initializer_names(model.graph), initializer_names(source_model.graph)
    replays: list[NodeReplay] = []
    for start in range(0, len(diverging), CHUNK_NODES):
        part = diverging[start:start + CHUNK_NODES]
        if progress:
            progress(f"replaying diverging nodes: {start}/{len(diverging)}")
        pairs = [(nc, rts, twins.get(tuple(nc.info.outputs)) if against is not None else nc.info) for nc, rts in part]
        needed = {n for nc, _, _ in pairs for n in nc.info.reads if n not in model_inits}
        needed |= {n for _, _, twin in pairs if twin is not None for n in twin.reads if n not in source_inits}
        values = _fetch(source_model, baseline, feeds, sorted(needed))
        for nc, rts, twin in pairs:
            replays.extend(_replay_node(model, source_model, nc, twin, rts, baseline, values, errors, scales,
                                        tols, oracle and against is None))
        del values
    return replays


def _out(nc: NodeComparison, runtime: str) -> bool:
    return any(not s.within for s in (nc.stats.get(runtime) or {}).values())


def _relative_errors(comparisons: list[NodeComparison], absent: dict[str, set[str]]
                     ) -> dict[str, dict[str, float | None]]:
    """{runtime: {value: relative error in the full run}}: compared values, and None for the values
    a runtime did not report. Values absent from both (inputs, weights) have no error."""
    out: dict[str, dict[str, float | None]] = {rt: dict.fromkeys(names) for rt, names in absent.items()}
    for nc in comparisons:
        for rt, per in nc.stats.items():
            for name, s in per.items():
                out.setdefault(rt, {})[name] = s.relative_error
    return out


def _scales(comparisons: list[NodeComparison]) -> dict[str, float]:
    return {name: s.max_expected for nc in comparisons for per in nc.stats.values() for name, s in per.items()}


def _fetch(model: onnx.ModelProto, baseline: Runtime, feeds: dict, names: list[str]) -> dict:
    inits = {t.name: t for t in model.graph.initializer}
    values, missing = {}, []
    for n in names:
        if n in feeds:
            values[n] = np.asarray(feeds[n])
        elif n in inits:  # a weight left in its file is read from there
            values[n] = initializer_array(model, inits[n])
        else:
            missing.append(n)
    if missing:
        try:  # run(), not intermediates(): a value ORT fused away is still a node's input to replay
            values.update(baseline.run(feeds, missing))
        except RuntimeFailure:
            pass  # nodes whose inputs are missing are reported as not replayed
    return values


def _run_alone(new_runtime: Callable[[onnx.ModelProto], Runtime], model: onnx.ModelProto, info: NodeInfo,
               values: dict) -> dict:
    """`info`'s node as a one-node model (its initializers kept, the rest fed from `values`)."""
    reads = [n for n in info.reads if n not in initializer_names(model.graph)]
    missing = [n for n in reads if n not in values]
    if missing:
        raise RuntimeFailure("replay", f"no baseline value for input(s) {missing} of {info.label!r}")
    alone = extract_nodes(model, [info], {n: values[n] for n in reads})
    feeds = {vi.name: values[vi.name] for vi in alone.graph.input if vi.name in values}
    single = new_runtime(alone)
    try:
        return single.run(feeds)
    finally:
        single.close()


def _replay_node(model, source_model, nc: NodeComparison, twin: NodeInfo | None, runtimes: list[Runtime],
                 baseline: Runtime, values: dict, errors, scales, tols: Tolerances, oracle: bool) -> list[NodeReplay]:
    info = nc.info
    input_scale = max((_scale(values.get(n), scales.get(n)) for n in info.inputs), default=0.0)
    results = []
    expected = note = None
    if twin is None:
        note = "no node of the other model computes the same values"
    else:
        try:
            expected = _run_alone(baseline.for_model, source_model, twin, values)
        except RuntimeFailure as exc:
            note = f"the baseline could not run it alone: {exc}"
    truth = None
    if expected is not None and oracle:
        try:
            truth = _run_alone(_oracle, model, info, values)
        except RuntimeFailure:
            truth = None
    for rt in runtimes:
        replay = NodeReplay(nc, rt.name, None, input_error=_input_error(info, errors.get(rt.name, {})),
                            input_scale=input_scale, note=note or "")
        if expected is not None:
            try:
                got = _run_alone(rt.for_model, model, info, values)
                replay.local = {n: tols.compare(n, expected.get(n), got.get(n)) for n in info.outputs
                                if n in nc.stats.get(rt.name, {})}
                if truth is not None:
                    replay.exact = {name: _against_truth(truth, side, info, tols)
                                    for name, side in ((baseline.name, expected), (rt.name, got))}
            except RuntimeFailure as exc:
                replay.note = f"{rt.name} could not run it alone: {exc}"
        results.append(replay)
    return results


def _against_truth(truth: dict, side: dict, info: NodeInfo, tols: Tolerances) -> dict[str, Stats]:
    """Each output of one replay against the float64 replay, with the output's own dtype tolerance."""
    out = {}
    for n in info.outputs:
        if n in truth and n in side and isinstance(side[n], np.ndarray):
            out[n] = compare(np.asarray(truth[n]), side[n], tols.for_value(n, side[n]))
    return out


def _oracle(model: onnx.ModelProto) -> Runtime:
    from graphkit.verification.runtimes import make_runtime

    return make_runtime("ref64", model)


def _input_error(info: NodeInfo, errors: dict[str, float | None]) -> float | None:
    """Largest relative error among the node's inputs in the full run; None if one is unknown."""
    known = [errors[n] for n in info.reads if n in errors]
    if any(e is None for e in known):
        return None
    return max(known, default=0.0)


def _scale(value, known: float | None) -> float:
    if known is not None:
        return known
    if isinstance(value, np.ndarray) and value.size and value.dtype.kind in "fiu":
        finite = np.abs(value[np.isfinite(value)]) if value.dtype.kind == "f" else np.abs(value)
        return float(finite.max()) if finite.size else 0.0
    return 0.0
