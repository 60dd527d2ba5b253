"""LogSoftmax: x - max - log(sum(exp(x - max))). Axis rules as Softmax (see op_softmax.py):
coerced to 2-D at `axis` (default 1) before opset 13, a single axis (default -1) from 13."""
import numpy as np

from refruntime.ops.op_softmax import _AxisFunction


class _LogSoftmax(_AxisFunction):
    def _along(self, x, axis):
        y = x - x.max(axis=axis, keepdims=True)
        y -= np.log(np.exp(y).sum(axis=axis, keepdims=True))
        return y


class LogSoftmax(_LogSoftmax):
    coerce_2d = True

    def _run(self, x, axis=1):
        return (self._apply(x, axis),)


class LogSoftmax_13(_LogSoftmax):
    def _run(self, x, axis=-1):
        return (self._apply(x, axis),)
