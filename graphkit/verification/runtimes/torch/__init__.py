"""The `torch` runtime: the ONNX graph executed op by op with torch (graph.py; the ops in ops.py,
shape_ops.py and index_ops.py; nodes torch cannot map run on refruntime, delegate.py)."""
from __future__ import annotations

import onnx

from graphkit.errors import GraphkitError
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure, _first_line


class TorchRuntime(Runtime):
    """The ONNX graph executed op by op with torch (see graph.py).

    `delegated`: labels of the nodes torch has no mapping for, executed by refruntime instead (a
    report says "torch: N node(s) executed by refruntime: ..."); empty when torch ran every node."""

    streams = True

    def __init__(self, name: str, model: onnx.ModelProto):
        super().__init__(name, model)
        from graphkit.verification.runtimes.torch.graph import TorchGraph

        self.graph = TorchGraph(model)  # UsageError naming the nodes neither torch nor refruntime can run
        self.delegated: list[str] = list(self.graph.delegated)

    def _run(self, feeds, names):
        if names is None:
            return self.graph.run(feeds)
        wanted, got = set(names), {}

        def callback(name, value):
            got[name] = value
            return len(got) == len(wanted)

        self.graph.run(feeds, names=wanted, callback=callback)
        return got

    def stream(self, feeds, names, callback):
        try:
            return self.graph.run(self._feeds(feeds), names=names, callback=callback)
        except (GraphkitError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise RuntimeFailure(self.name, f"{type(exc).__name__}: {_first_line(exc)}") from exc
