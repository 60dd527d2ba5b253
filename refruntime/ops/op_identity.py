from refruntime.ops.base import OpRun


class Identity(OpRun):
    """Tensors, sequences (opset 14+) and optionals (16+) pass through unchanged."""

    def _run(self, x):
        return (x,)
