"""SequenceErase (opset 11): a new sequence without the tensor at `position` (0-D int32/int64 in
[-n, n-1]; negative counts from the back; no position erases the last). The input list is not
changed; erasing from an empty sequence is an error."""
from refruntime.kernels.sequences import check_sequence, position
from refruntime.ops.base import OpRun


class SequenceErase_11(OpRun):
    def _run(self, input_sequence, position_=None):
        seq = check_sequence(self, input_sequence)
        if not seq:
            self.fail("cannot erase from an empty sequence")
        at = len(seq) - 1 if position_ is None else position(self, position_, len(seq), allow_end=False)
        return ([*seq[:at], *seq[at + 1:]],)
