"""Per-node comparison with bounded memory, and the origin of divergence.

The baseline runtime produces every node output once. A streaming baseline (ref, torch) hands
each value over as its node finishes; the values are buffered until a chunk is full (64 values or
256 MiB), then each other runtime is asked for the same chunk (ORT: one re-run with those values as
extra graph outputs), every pair is compared, and the chunk is released. Nothing holds all
intermediates at once.

Values a runtime does not report (ORT's fusions remove them from its optimized graph) are not
compared for it; they are listed in `PerNodeResult.absent`. Who caused a difference is decided by
replaying the diverging nodes (replay.py), not here.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx

from graphkit.verification.compare import Stats
from graphkit.verification.graph import NodeInfo, initializer_names
from graphkit.verification.runtimes import Runtime, RuntimeFailure
from graphkit.verification.tolerance import Tolerances

CHUNK_VALUES = 64
CHUNK_BYTES = 256 << 20


class Progress:
    """Progress on stderr, once a run has taken more than `after` seconds, only where someone
    watches: `enabled=True` writes only when stderr is a terminal (one line rewritten with `\\r`),
    `enabled="always"` (the CLI's --progress) writes anyway (plain lines when stderr is not a
    terminal), False never."""

    def __init__(self, enabled: bool | str = True, after: float = 2.0):
        import sys

        tty = _isatty(sys.stderr)
        self.enabled = bool(enabled) and (tty or enabled == "always")
        self.rewrite = tty
        self.after = after
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < self.after or now - self.last < 1.0:
            return
        import sys

        self.last, self.shown = now, True
        if self.rewrite:
            sys.stderr.write(f"\r[verify {now - self.start:5.1f}s] {message[:100]:<100}")
        else:
            sys.stderr.write(f"[verify {now - self.start:5.1f}s] {message[:100]}\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.shown and self.rewrite:
            import sys

            sys.stderr.write("\n")


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


@dataclass
class NodeComparison:
    """Pairwise stats of one node's outputs: {runtime: {output name: Stats}}."""

    position: int
    info: NodeInfo
    stats: dict[str, dict[str, Stats]] = field(default_factory=dict)

    def worst(self, runtime: str) -> Stats | None:
        per_output = self.stats.get(runtime) or {}
        if not per_output:
            return None
        bad = [s for s in per_output.values() if not s.within]
        pool = bad or list(per_output.values())
        return max(pool, key=lambda s: (s.error, s.frac_out))


def constant_values(graph: onnx.GraphProto) -> set[str]:
    """Values computed from initializers and Constant nodes only (folded weights). They are
    not compared node by node: they are weights, not layers, and can be huge."""
    const = set(initializer_names(graph))
    graph_inputs = {vi.name for vi in graph.input} - const
    for node in graph.node:
        ins = [n for n in node.input if n]
        if node.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"):
            continue
        if all(n in const and n not in graph_inputs for n in ins):
            const.update(n for n in node.output if n)
    return const - initializer_names(graph)


def unused_values(graph: onnx.GraphProto) -> set[str]:
    """Node outputs that no node reads and that are not graph outputs (e.g. Dropout's mask).
    Runtimes fill such values as they like (ORT leaves an opset-7 Dropout mask at zeros), and
    nothing downstream depends on them, so they do not decide a verdict."""
    read = {o.name for o in graph.output}
    for node in graph.node:
        read.update(n for n in node.input if n)
        for attr in node.attribute:  # subgraphs may read outer values by name
            for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                read.update(n for sub in g.node for n in sub.input if n)
    return {o for node in graph.node for o in node.output if o and o not in read}


@dataclass
class PerNodeResult:
    comparisons: list[NodeComparison]        # in topological order
    failures: dict[str, str]                 # runtime -> why it stopped part-way
    absent: dict[str, set[str]]              # runtime -> values it did not report (fused away)


def compare_per_node(nodes: list[NodeInfo], baseline: Runtime, others: list[Runtime], feeds: dict,
                     tols: Tolerances, skip: set[str] = frozenset(), known: set[str] | None = None,
                     progress: Callable[[str], None] | None = None,
                     chunk_values: int = CHUNK_VALUES, chunk_bytes: int = CHUNK_BYTES) -> PerNodeResult:
    """Compare every node output (except `skip`; only names in `known` when given) of `nodes`
    between `baseline` and each runtime of `others`."""
    names = [n for info in nodes for n in info.outputs
             if n not in skip and (known is None or n in known)]
    wanted = set(names)
    results: dict[str, dict[str, Stats]] = {}
    failures: dict[str, str] = {}
    survivors = {rt.name: rt.surviving_values() for rt in others}
    absent = {rt: {n for n in names if n not in alive} for rt, alive in survivors.items() if alive is not None}
    buffer: dict[str, object] = {}
    state = {"bytes": 0, "done": 0}
    total = len(names)

    def flush():
        if not buffer:
            return
        for rt in others:
            if rt.name in failures:
                continue
            asked = [n for n in buffer if n not in absent.get(rt.name, ())]
            try:
                values = rt.intermediates(feeds, asked) if asked else {}
            except RuntimeFailure as exc:
                failures[rt.name] = str(exc)
                continue
            for name in asked:
                results.setdefault(name, {})[rt.name] = tols.compare(name, buffer[name], values.pop(name, None))
            del values
        state["done"] += len(buffer)
        buffer.clear()
        state["bytes"] = 0
        if progress:
            progress(f"per-node: {state['done']}/{total} values compared")

    def take(name, value):
        if name not in wanted or name in buffer:
            return
        buffer[name] = value
        state["bytes"] += getattr(value, "nbytes", 0)
        if len(buffer) >= chunk_values or state["bytes"] >= chunk_bytes:
            flush()

    if baseline.streams:
        baseline.stream(feeds, wanted, take)
    else:
        for start in range(0, total, chunk_values):
            part = names[start:start + chunk_values]
            for name, value in baseline.intermediates(feeds, part).items():
                take(name, value)
            flush()
    flush()
    comparisons = []
    for position, info in enumerate(nodes):
        nc = NodeComparison(position, info)
        for name in info.outputs:
            for rt_name, stats in results.get(name, {}).items():
                nc.stats.setdefault(rt_name, {})[name] = stats
        comparisons.append(nc)
    return PerNodeResult(comparisons, failures, absent)


def origin_inputs(model: onnx.ModelProto, baseline: Runtime, feeds: dict, info: NodeInfo) -> dict[str, np.ndarray]:
    """The values the baseline fed to one node (one capture run for the non-constant ones)."""
    from graphkit.verification.graph import initializer_array

    inits = {t.name: t for t in model.graph.initializer}
    values, needed = {}, []
    for name in info.inputs:
        if name in feeds:
            values[name] = feeds[name]
        elif name in inits:
            values[name] = initializer_array(model, inits[name])  # a weight left in its file too
        else:
            needed.append(name)
    if needed:
        values.update(baseline.intermediates(feeds, needed))
    return values
