"""SequenceLength (opset 11): the number of tensors in the sequence, a 0-D int64 tensor."""
import numpy as np

from refruntime.ops.base import OpRun


class SequenceLength_11(OpRun):
    def _run(self, input_sequence):
        if not isinstance(input_sequence, list):
            self.fail(f"input must be a sequence (list), got {type(input_sequence).__name__}")
        return (np.array(len(input_sequence), dtype=np.int64),)
