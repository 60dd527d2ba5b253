"""SequenceAt (opset 11): the tensor at `position` (0-D int32/int64, in [-n, n-1]; negative
counts from the back) of the sequence. The tensor is returned as it is (kernels never write
into their inputs, so it need not be copied)."""
from refruntime.kernels.sequences import check_sequence, position
from refruntime.ops.base import OpRun


class SequenceAt_11(OpRun):
    def _run(self, input_sequence, position_):
        seq = check_sequence(self, input_sequence)
        return (seq[position(self, position_, len(seq), allow_end=False)],)
