"""Hardmax: 1 at the first maximum along the axis, 0 elsewhere. Axis rules as Softmax (see
op_softmax.py): coerced to 2-D at `axis` (default 1) before opset 13, one axis (default -1) from 13."""
import numpy as np

from refruntime.ops.op_softmax import _AxisFunction


class _Hardmax(_AxisFunction):
    def _along(self, x, axis):
        y = np.zeros_like(x)
        np.put_along_axis(y, np.expand_dims(np.argmax(x, axis=axis), axis), 1, axis=axis)
        return y


class Hardmax(_Hardmax):
    coerce_2d = True

    def _run(self, x, axis=1):
        return (self._apply(x, axis),)


class Hardmax_13(_Hardmax):
    def _run(self, x, axis=-1):
        return (self._apply(x, axis),)
