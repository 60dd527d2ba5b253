"""Small edits the passes share: reading a node's output from another value instead (keeping a
graph output's name), adding constants under fresh names, and one ShapeInfo per simplify run."""
from __future__ import annotations

import numpy as np

from graphkit.ir.tensor import Tensor
from graphkit.ir.value import Value
from graphkit.surgery._util import NameGen, ensure_ir_allows_free_initializers


def can_take_name(src, g, outputs: set[int]) -> bool:
    """src may be renamed to a graph output's name: it is a node output of this graph, not itself a
    graph output (a graph input or an initializer keeps its name)."""
    p = src._producer
    return p is not None and p._graph is g and id(src) not in outputs


def bypass(g, node, src, outputs: set[int], out=None) -> bool:
    """Make every reader of `node`'s output `out` (default: its only output) read `src`, an equal
    value, and remove the node when nothing else of it is read. A graph output keeps its name and
    declared type (src is renamed to it) when that is possible; otherwise nothing changes (False)."""
    out = node.outputs[0] if out is None else out
    if src is out:
        return False
    others_read = any(v._uses or id(v) in outputs for v in node.outputs if v is not out)
    if id(out) in outputs:
        if others_read or not can_take_name(src, g, outputs):
            return False
        name, declared = out.name, out.type
        out.replace_all_uses_with(src, replace_graph_outputs=True)
        outputs.discard(id(out))
        outputs.add(id(src))
        g.remove(node)
        node.outputs.clear()
        src.name = name
        if declared is not None:
            src.type = declared
        return True
    out.replace_all_uses_with(src)
    if not others_read:
        g.remove(node)
    return True


class Constants:
    """New initializers for a pass: `consts.add(g, array, hint)` -> Value (a unique name)."""

    def __init__(self, model):
        self.model = model
        self._names: NameGen | None = None

    def add(self, g, array, hint: str) -> Value:
        if self._names is None:
            self._names = NameGen(self.model)
        v = Value(self._names.new(hint), const_value=Tensor(np.asarray(array)))
        g.add_initializer(v)
        ensure_ir_allows_free_initializers(self.model)
        return v

    def name(self, hint: str) -> str:
        if self._names is None:
            self._names = NameGen(self.model)
        return self._names.new(hint)


class SharedShapes:
    """One ShapeInfo for the passes of one simplify run (Simplify resets it at the start): what is
    known about a Value stays true while the passes only replace values by equal ones."""

    def __init__(self):
        self._model = None
        self._info = None

    def reset(self) -> None:
        self._model = self._info = None

    def get(self, model):
        from graphkit.passes.shape_info import ShapeInfo

        if self._info is None or self._model is not model:
            self._model, self._info = model, ShapeInfo(model)
        return self._info


def shape_info(model, shared: SharedShapes | None):
    from graphkit.passes.shape_info import ShapeInfo

    return shared.get(model) if shared is not None else ShapeInfo(model)
