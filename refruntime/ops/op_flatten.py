import math

from refruntime.ops.base import OpRun


class Flatten(OpRun):
    def _run(self, x, axis=1):
        if not -x.ndim <= axis <= x.ndim:
            self.fail(f"axis {axis} is out of range for input of shape {x.shape}")
        axis = axis + x.ndim if axis < 0 else axis
        outer = math.prod(x.shape[:axis])
        return (x.reshape(outer, math.prod(x.shape[axis:])),)
