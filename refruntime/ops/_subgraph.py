"""Planning and running the subgraphs of control-flow ops (If, Loop, Scan)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from onnx import GraphProto


class Subgraph:
    """A body graph planned once; `run(feeds, scope)` returns its outputs in order.

    Names the body reads from enclosing graphs (its free names, nested bodies included) are
    resolved at run time through `scope`, the enclosing graph's values.
    """

    def __init__(self, kernel, graph: GraphProto):
        from refruntime.plan import build_plan, subgraph_free_names

        if kernel.context is None:
            kernel.fail("subgraphs need a PlanContext (build the kernel through refruntime.plan)")
        self.graph = graph
        self.free_names = frozenset(subgraph_free_names(graph))
        self.plan = build_plan(graph, kernel.context, self.free_names)
        self.input_names = list(self.plan.input_names)
        self.output_names = list(self.plan.output_names)

    def run(self, feeds: Mapping[str, object], scope: Mapping | None) -> list:
        from refruntime.executor import execute

        values = dict(self.plan.initializers)
        values.update(feeds)
        values, _, _ = execute(self.plan, values, scope=scope)
        out = []
        for name in self.output_names:
            if name in values:
                out.append(values[name])
            elif scope is not None and name in scope:
                out.append(scope[name])  # a body output that is an outer value, passed through
            else:
                out.append(values[name])  # KeyError names the value
        return out

    def output_template(self, index: int, leading: int = 0):
        """An empty array with the declared element type of output `index`: (leading, *dims),
        unknown dims as 0. For scan outputs of zero iterations."""
        from refruntime.dtypes import to_numpy_dtype

        vi = self.graph.output[index]
        tt = vi.type.tensor_type
        dtype = to_numpy_dtype(tt.elem_type) if tt.elem_type else np.float32
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tt.shape.dim] if tt.HasField("shape") else []
        return np.empty([leading, *dims], dtype=dtype)
