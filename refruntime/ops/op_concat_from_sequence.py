"""ConcatFromSequence (opset 11): the sequence's tensors concatenated along `axis` (in [-r, r-1],
like numpy.concatenate) or, with new_axis=1, stacked along a new axis (in [-r-1, r], like
numpy.stack). The tensors must agree on every other dimension and on element type. An empty
sequence is an error (there is no tensor to give the result a type and shape), as in onnxruntime."""
import numpy as np

from refruntime.kernels.sequences import check_sequence
from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class ConcatFromSequence_11(OpRun):
    def prepare(self):
        if "axis" not in self.attributes:
            self.refuse("the axis attribute is required")

    def _run(self, input_sequence, axis=None, new_axis=0):
        seq = check_sequence(self, input_sequence)
        if not seq:
            self.fail("cannot concatenate an empty sequence")
        first = seq[0]
        rank = first.ndim + (1 if new_axis else 0)
        ax = normalize_axis(self, axis, rank)
        for i, x in enumerate(seq):
            if x.dtype != first.dtype:
                self.fail(f"tensor {i} has element type {x.dtype}, tensor 0 has {first.dtype}")
            if x.ndim != first.ndim:
                self.fail(f"tensor {i} has shape {x.shape}, tensor 0 has {first.shape} (ranks differ)")
            if new_axis and x.shape != first.shape:
                self.fail(f"tensor {i} has shape {x.shape}, tensor 0 has {first.shape}: stacking "
                          f"(new_axis=1) needs equal shapes")
            if not new_axis and x.shape[:ax] + x.shape[ax + 1:] != first.shape[:ax] + first.shape[ax + 1:]:
                self.fail(f"tensor {i} has shape {x.shape}, tensor 0 has {first.shape}: only axis {axis} "
                          f"may differ")
        if new_axis:
            return (np.stack(seq, axis=ax),)
        return (np.concatenate(seq, axis=ax),)
