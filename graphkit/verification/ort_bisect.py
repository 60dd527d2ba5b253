"""Which of onnxruntime's graph optimizations changes a model's outputs.

The reference is ORT with every optimization off (ORT_DISABLE_ALL); the candidate is ORT with its
default options (ORT_ENABLE_ALL) minus the optimizers named in InferenceSession's
`disabled_optimizers`. `bisect_ort`:

1. runs both; if they agree, ORT's optimizations are not the cause;
2. finds the first optimization level whose outputs differ (BASIC, EXTENDED, LAYOUT, ALL);
3. learns which graph transformers changed this model from ORT's own log: at INFO severity every
   transformer logs "GraphTransformer <name> modified: 0|1" (graph_transformer.cc). ORT logs from
   C++ to the process's stderr, so the log is read by pointing fd 2 at a temporary file for that
   one session. The names are then exactly those the installed ORT knows and that acted on this
   model; unknown names in `disabled_optimizers` are silently ignored by ORT, so a hard-coded list
   could go stale without anyone noticing. Only if the log cannot be read does the list below
   (ORT 1.32) serve instead;
4. delta-debugs (ddmin) those names for a minimal set whose disabling restores agreement. A
   rule-based transformer (`LevelN_RuleBasedTransformer`) logs only its own name, so when it is
   responsible its rewrite rules (names below) are bisected the same way;
5. saves the optimized graph with the culprits enabled and disabled and names the nodes they
   rewrote (removed or changed) and the nodes they created.

Every session is CPU-only and logs at ERROR severity, except the ones whose log is captured.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import onnx

from graphkit.verification.graph import data_inputs
from graphkit.verification.runtimes.base import RuntimeFailure, _first_line
from graphkit.verification.runtimes.ort import existing_values, new_session, optimized_model, session_options

# Rewrite rules per rule-based transformer, by the names their constructors give them (which are
# what `disabled_optimizers` matches, e.g. ClipQuantFusion is "ClipQuantRewrite"). Read from
# onnxruntime 1.32's core/optimizer/graph_transformer_utils.cc (GenerateRewriteRules) and the rule
# headers, and checked against the strings of the installed 1.32 library.
REWRITE_RULES = {
    1: ("EliminateIdentity", "EliminateSlice", "UnsqueezeElimination", "EliminateDropout",
        "ExpandElimination", "CastElimination", "CastChainElimination", "PreShapeNodeElimination",
        "NoopElimination", "DivMulFusion", "FuseReluClip", "GemmSumFusion", "GemmTransposeFusion",
        "NotWhereFusion", "ConvAddFusion", "ConvMulFusion", "ConvBNFusion", "Pad_Fusion",
        "MatMul_BatchNormalization_Fusion", "LabelEncoderFusion"),
    2: ("ClipQuantRewrite", "ReluQuantRewrite", "GemmTransposeFusion"),
}

# Every graph transformer the CPU provider registers in onnxruntime 1.32 (GenerateTransformers in
# graph_transformer_utils.cc, as listed by the 1.32 verbose log). Used only when ORT's log cannot
# be read, to bisect blindly.
KNOWN_TRANSFORMERS = (
    "Level1_RuleBasedTransformer", "DoubleQDQPairsRemover", "ConstantSharing",
    "CommonSubexpressionElimination", "ConstantFolding", "MatMulAddFusion", "ReshapeFusion",
    "FreeDimensionOverrideTransformer", "SliceConcatToSpaceToDepthFusion", "GeluFusionL1",
    "LayerNormFusionL1", "QDQPropagationTransformer", "WeightBiasQuantization",
    "EnsureUniqueDQForNodeUnit", "WhereDummyDq", "TransposeOptimizer",
    "Level2_RuleBasedTransformer", "TransposeOptimizer_CPUExecutionProvider", "QDQS8ToU8Transformer",
    "QDQSelectorActionTransformer", "GemmActivationFusion", "MatMulIntegerToFloatFusion",
    "DynamicQuantizeMatMulFusion", "ConvActivationFusion", "GeluFusionL2", "LayerNormFusionL2",
    "SimplifiedLayerNormFusion", "AttentionFusion", "EmbedLayerNormFusion", "GatherSliceToSplitFusion",
    "GatherToSliceFusion", "MatmulTransposeFusion", "BiasGeluFusion", "GroupQueryAttentionFusion",
    "SkipLayerNormFusion", "BiasSkipLayerNormFusion", "FastGeluFusion", "QuickGeluFusion", "SwiGluFusion",
    "BiasSoftmaxFusion", "BiasDropoutFusion", "MatMulScaleFusion", "MatMulActivationFusion",
    "MatMulNBitsFusion", "GroupQueryAttentionPreNormFusion", "QDQFinalCleanupTransformer",
    "NchwcTransformer", "NhwcTransformer", "ConvAddActivationFusion",
    "FuseFp16InitializerToFp32NodeTransformer",
)

_MODIFIED = re.compile(r"GraphTransformer (\S+) modified: (\d)")
_RULE_BASED = re.compile(r"Level(\d+)_RuleBasedTransformer$")
_MAX_TAKEOVER_ROUNDS = 5  # disabling a fusion can let another transformer do a similar one


@dataclass
class Trial:
    """One session's outputs and, when its log was read, the transformers that changed the graph."""

    outputs: dict[str, np.ndarray]
    modified: list[str] = field(default_factory=list)
    log_read: bool = False


class OrtProbe:
    """Builds and runs ORT sessions of one model, counting them."""

    def __init__(self, model: onnx.ModelProto, feeds: dict, progress: Callable[[str], None] | None):
        from graphkit.verification.runtimes.ort import check_for_ort

        check_for_ort(model)
        self.model_bytes = model.SerializeToString()
        self.output_names = [vi.name for vi in model.graph.output]
        wanted = {vi.name for vi in data_inputs(model.graph)}
        self.feeds = {k: v for k, v in feeds.items() if k in wanted}
        self.progress = progress or (lambda message: None)
        self.sessions = 0

    def run(self, level, disabled=(), read_log: bool = False) -> Trial:
        """Outputs at `level` with `disabled` optimizers; with `read_log`, who modified the graph."""
        self.sessions += 1
        self.progress(f"ORT bisect: session {self.sessions} ({_level_name(level)}, {len(disabled)} disabled)")
        try:
            if not read_log:
                session = new_session(self.model_bytes, session_options(level), disabled)
                return Trial(self._outputs(session))
            with captured_stderr() as log:
                session = new_session(self.model_bytes, session_options(level, log_severity=1), disabled)
            modified, log_read = transformers_that_modified(log.text)
            return Trial(self._outputs(session), modified, log_read)
        except Exception as exc:  # ORT raises its own exception types
            raise RuntimeFailure("ort", f"{type(exc).__name__}: {_first_line(exc)}") from exc

    def optimized(self, level, disabled=()) -> onnx.GraphProto:
        self.sessions += 1
        try:
            return optimized_model(self.model_bytes, session_options(level), disabled).graph
        except Exception as exc:  # ORT raises its own exception types
            raise RuntimeFailure("ort", f"{type(exc).__name__}: {_first_line(exc)}") from exc

    def _outputs(self, session) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, session.run(None, self.feeds)))


class CapturedText:
    """What was written to fd 2 inside `captured_stderr()`; `text` is filled in on leaving."""

    text: str = ""


@contextmanager
def captured_stderr() -> Iterator[CapturedText]:
    """Point the process's fd 2 at a temporary file (ORT's C++ logger writes there, bypassing
    sys.stderr); the user's stderr is restored before leaving, whatever happens."""
    captured = CapturedText()
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")


def transformers_that_modified(log: str) -> tuple[list[str], bool]:
    """(transformers that logged `modified: 1`, in the order they acted; whether any
    `GraphTransformer ... modified:` line was seen at all, i.e. the log was readable)."""
    lines = _MODIFIED.findall(log)
    return list(dict.fromkeys(name for name, flag in lines if flag == "1")), bool(lines)


def optimization_levels() -> list[tuple[str, object]]:
    """(name, enum) from the least to the most optimized; ORT_ENABLE_LAYOUT only where it exists."""
    import onnxruntime as ort

    names = ("ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_LAYOUT", "ORT_ENABLE_ALL")
    members = ort.GraphOptimizationLevel.__members__
    return [(name, members[name]) for name in names if name in members]


def _level_name(level) -> str:
    return getattr(level, "name", str(level))


def minimal_subset(items: list[str], restores: Callable[[list[str]], bool]) -> list[str]:
    """ddmin (Zeller): a subset of `items` for which `restores` holds and from which no single
    chunk at the finest split can be removed. `restores(items)` is assumed true."""
    current, chunks = list(items), 2
    while len(current) > 1:
        parts = _split(current, chunks)
        reduced = next((p for p in parts if restores(p)), None)
        if reduced is not None:
            current, chunks = reduced, 2
            continue
        complement = next((c for c in ([x for x in current if x not in p] for p in parts)
                           if len(parts) > 2 and restores(c)), None)
        if complement is not None:
            current, chunks = complement, max(chunks - 1, 2)
            continue
        if chunks >= len(current):
            break
        chunks = min(2 * chunks, len(current))
    return current


def _split(items: list[str], n: int) -> list[list[str]]:
    size, extra = divmod(len(items), n)
    parts, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        parts.append(items[start:end])
        start = end
    return [p for p in parts if p]


def bisect_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray], agree: Callable[[dict, dict], bool],
               progress: Callable[[str], None] | None = None) -> dict:
    """Find the ORT optimization level and graph transformer(s) that change `model`'s outputs.

    `agree(expected, actual)` judges two {output name: array} dicts, expected being ORT without
    optimizations. Returns {"optimizer", "optimizers" (all culprits, in the order ORT applies them),
    "level", "nodes" (names of the nodes they removed or changed), "created" ([{"name", "op",
    "domain"}]), "sessions" (how many sessions were built), "note" (one plain sentence)}."""
    import onnxruntime as ort

    probe = OrtProbe(model, feeds, progress)
    levels = dict(optimization_levels())
    full = levels["ORT_ENABLE_ALL"]
    reference = probe.run(ort.GraphOptimizationLevel.ORT_DISABLE_ALL).outputs
    default = probe.run(full, read_log=True)
    if agree(reference, default.outputs):
        return _result(probe, None, [], None, note="ORT's optimizations do not change the outputs")
    level = _first_differing_level(probe, reference, agree, levels)

    verdicts: dict[frozenset, bool] = {}

    def restores(disabled: list[str]) -> bool:
        key = frozenset(disabled)
        if key not in verdicts:
            verdicts[key] = agree(reference, probe.run(full, disabled).outputs)
        return verdicts[key]

    if default.log_read and not default.modified:
        return _result(probe, None, [], level, note=(
            f"the outputs first differ at {level}, but no graph transformer reported changing the graph"))
    candidates = default.modified if default.log_read else list(KNOWN_TRANSFORMERS)
    candidates = _add_takeovers(probe, reference, agree, full, candidates)
    if candidates is None:
        return _result(probe, None, [], level, note=(
            f"the outputs first differ at {level}, but disabling every graph transformer that changed the "
            "graph does not restore agreement"))
    culprits = _refine_rule_based(minimal_subset(candidates, restores), restores)
    on, off = probe.optimized(full), probe.optimized(full, culprits)
    nodes, created = rewritten_nodes(off, on)
    note = _explain(culprits, level, nodes, created)
    if not default.log_read:
        note += " (ORT's log could not be read, so every transformer ORT 1.32 registers was bisected)"
    return _result(probe, culprits, nodes, level, created, note=note)


def _first_differing_level(probe: OrtProbe, reference: dict, agree, levels: dict) -> str:
    for name, level in levels.items():
        if name == "ORT_ENABLE_ALL":
            break
        if not agree(reference, probe.run(level).outputs):
            return name
    return "ORT_ENABLE_ALL"


def _add_takeovers(probe: OrtProbe, reference: dict, agree, full, candidates: list[str]) -> list[str] | None:
    """Candidates whose disabling restores agreement, grown by the transformers that act only once
    others are disabled (e.g. NchwcTransformer fuses Conv+Relu when ConvActivationFusion is off).
    None if no such set is found."""
    candidates = list(candidates)
    for _ in range(_MAX_TAKEOVER_ROUNDS):
        if not candidates:
            return None
        trial = probe.run(full, candidates, read_log=True)
        if agree(reference, trial.outputs):
            return candidates
        newcomers = [n for n in trial.modified if n not in candidates]
        if not newcomers:
            return None
        candidates += newcomers
    return None


def _refine_rule_based(culprits: list[str], restores: Callable[[list[str]], bool]) -> list[str]:
    """Replace `LevelN_RuleBasedTransformer` by the rewrite rule(s) responsible, when disabling
    its rules by name restores agreement as well (rule names unknown to this ORT are ignored by
    it, so a stale list simply leaves the transformer's own name)."""
    refined = []
    for culprit in culprits:
        match = _RULE_BASED.match(culprit)
        rules = list(REWRITE_RULES.get(int(match.group(1)), ())) if match else []
        others = [c for c in culprits if c != culprit]
        if not rules or not restores(others + rules):
            refined.append(culprit)
            continue
        refined.extend(minimal_subset(rules, _with_fixed(others, restores)))
    return list(dict.fromkeys(refined))


def _with_fixed(fixed: list[str], restores: Callable[[list[str]], bool]) -> Callable[[list[str]], bool]:
    """`restores` for subsets that are always disabled together with `fixed`."""
    return lambda subset: restores(fixed + subset)


def rewritten_nodes(before: onnx.GraphProto, after: onnx.GraphProto) -> tuple[list[str], list[dict]]:
    """Compare ORT's optimized graph without the culprits (`before`) and with them (`after`).

    A node of `before` is rewritten when it is gone from `after`, or when it changed op, domain,
    attributes or outputs, or now reads a value that `before` did not have (a new weight, a fused
    node's output). Reading a value that already existed (a removed node's input) is a rewiring,
    not a rewrite. Created nodes are those of `after` that `before` did not have."""
    old = {_node_key(n): n for n in before.node}
    new = {_node_key(n): n for n in after.node}
    old_values = existing_values(before)
    nodes = [key for key, node in old.items()
             if key not in new or _changed(node, new[key], old_values)]
    created = [{"name": key, "op": node.op_type, "domain": node.domain}
               for key, node in new.items() if key not in old]
    return nodes, created


def _node_key(node: onnx.NodeProto) -> str:
    """The node's name; unnamed nodes are known by their op and first output."""
    return node.name or f"<{node.op_type} -> {next((o for o in node.output if o), '')}>"


def _changed(old: onnx.NodeProto, new: onnx.NodeProto, old_values: set[str]) -> bool:
    if (old.op_type, old.domain, list(old.output)) != (new.op_type, new.domain, list(new.output)):
        return True
    if [a.SerializeToString() for a in old.attribute] != [a.SerializeToString() for a in new.attribute]:
        return True
    return any(n and n not in old_values for n in new.input)


def _explain(culprits: list[str], level: str, nodes: list[str], created: list[dict]) -> str:
    who = " + ".join(culprits)
    verb = "changes" if len(culprits) == 1 else "change"
    what = f"rewriting {', '.join(nodes[:8])}{' ...' if len(nodes) > 8 else ''}" if nodes else "rewriting the graph"
    ops = list(dict.fromkeys(f"{c['domain']}.{c['op']}" if c["domain"] else c["op"] for c in created))
    made = f" into {', '.join(ops[:4])}{' ...' if len(ops) > 4 else ''}" if ops else ""
    return (f"ORT's {who} (on from {level}) {verb} the outputs by {what}{made}; "
            f"InferenceSession(..., disabled_optimizers={culprits!r}) keeps the outputs as without optimizations")


def _result(probe: OrtProbe, culprits: list[str] | None, nodes: list[str], level: str | None,
            created: list[dict] | None = None, note: str = "") -> dict:
    return {"optimizer": culprits[0] if culprits else None, "optimizers": list(culprits or []),
            "level": level, "nodes": nodes, "created": list(created or []),
            "sessions": probe.sessions, "note": note}
