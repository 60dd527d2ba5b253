"""SequenceInsert (opset 11): a new sequence with `tensor` inserted at `position` (0-D int32/
int64 in [-n, n]; negative counts from the back; n or no position appends). The input list is
not changed. The tensor must have the sequence's element type (checked against its first element;
an empty sequence takes any)."""
from refruntime.kernels.sequences import check_sequence, position
from refruntime.ops.base import OpRun


class SequenceInsert_11(OpRun):
    def _run(self, input_sequence, tensor, position_=None):
        seq = check_sequence(self, input_sequence)
        if seq and seq[0].dtype != tensor.dtype:
            self.fail(f"tensor has element type {tensor.dtype}, the sequence holds {seq[0].dtype}")
        at = len(seq) if position_ is None else position(self, position_, len(seq), allow_end=True)
        return ([*seq[:at], tensor, *seq[at:]],)
