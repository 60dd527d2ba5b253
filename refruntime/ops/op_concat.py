import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class Concat_4(OpRun):
    def _run(self, *inputs, axis=0):
        inputs = [np.asarray(x) for x in inputs]
        if not inputs:
            self.fail("needs at least one input")
        rank = inputs[0].ndim
        ax = normalize_axis(self, axis, rank)
        ref = inputs[0].shape
        outside = ref[:ax] + ref[ax + 1:]
        for i, x in enumerate(inputs[1:], start=1):
            if x.ndim != rank or x.shape[:ax] + x.shape[ax + 1:] != outside:
                shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
                self.fail(f"input {i} ({self.node.input[i]!r}) has shape {tuple(x.shape)}, which does not "
                          f"match input 0's shape {tuple(ref)} outside axis {axis}; shapes: {shapes}")
        if len(inputs) == 1:  # exporters write one-input Concats (GPT-2's KV cache): as Identity, no copy
            return (inputs[0],)
        return (np.concatenate(inputs, axis=ax),)
