"""Nodes the torch backend cannot map, executed by refruntime (values cross as numpy).

A node without a torch mapping (an op of another domain, an op ops.py does not know, a node with
subgraphs such as If/Loop/Scan, or an attribute combination a mapping declines) still runs, so the
`torch` column of a report does not disappear for one exotic node: refruntime plans that node
alone, with the model's opsets and functions, exactly as it plans it inside a whole model (schema
check, kernel choice by opset, native kernel or onnx.reference fallback, output-size guard), and
runs it on the numpy values of its inputs. TorchGraph lists such nodes in `delegated`, so reports
can say that those nodes were not an independent torch computation.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from refruntime.plan import Options, PlanContext, build_plan, node_subgraphs, subgraph_free_names
from refruntime.registry import normalize_domain


class DelegatedNode:
    """One node planned by refruntime; `run(inputs, scope)` takes and returns numpy values.

    Raises refruntime's error (ModelError, UnsupportedOpError, ...) when refruntime cannot plan
    the node either."""

    def __init__(self, model: onnx.ModelProto, node: onnx.NodeProto, label: str):
        from refruntime.validate import check_opsets

        opsets = {normalize_domain(o.domain): o.version for o in model.opset_import}
        check_opsets(opsets)
        context = PlanContext(opsets=opsets, options=Options(),
                              functions={(f.domain, f.name): f for f in model.functions})
        single = onnx.NodeProto()
        single.CopyFrom(node)
        single.name = label  # refruntime's messages then name the node as the torch graph does
        inputs = list(dict.fromkeys(n for n in node.input if n))
        self.outer_names = frozenset(name for g in node_subgraphs(node) for name in subgraph_free_names(g))
        graph = helper.make_graph([single], f"delegated_{label}", [onnx.ValueInfoProto(name=n) for n in inputs],
                                  [onnx.ValueInfoProto(name=n) for n in node.output if n])
        self.plan = build_plan(graph, context, self.outer_names - set(inputs))
        self.input_names = inputs
        self.output_names = list(node.output)
        self.is_fallback = self.plan.steps[0].is_fallback

    def run(self, values: dict[str, np.ndarray], scope: dict[str, np.ndarray]) -> list:
        """Outputs in the node's order (None for an omitted optional output)."""
        from refruntime.executor import execute

        result, _, _ = execute(self.plan, dict(values), scope=scope)  # a scope: the step loop, no fusion
        return [_array(result[n]) if n else None for n in self.output_names]


def _array(value):
    """numpy ufuncs on 0-d arrays return numpy scalars: make them 0-d arrays again."""
    return np.asarray(value) if isinstance(value, np.generic) else value
