"""SequenceConstruct (opset 11): a sequence (a new Python list) of the input tensors, in order.
All inputs must have the same element type."""
from refruntime.ops.base import OpRun


class SequenceConstruct_11(OpRun):
    def _run(self, *inputs):
        dtypes = {x.dtype for x in inputs}
        if len(dtypes) > 1:
            self.fail(f"inputs must all have one element type, got {[str(x.dtype) for x in inputs]}")
        return (list(inputs),)
