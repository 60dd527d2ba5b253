"""CumProd (opset 26), from the operator spec: the running product of x along `axis` (a 0-D
tensor; a one-element 1-D tensor is accepted, as for CumSum). exclusive=1 leaves the current
element out (the first output is 1); reverse=1 multiplies from the end of the axis.

Integers multiply exactly, wrapping on overflow as numpy (and the spec's fixed-width type) does.
float32/float64 accumulate sequentially in their own type; float16/bfloat16 accumulate in float32,
each output rounded once.
"""
import numpy as np

from refruntime.ops.op_cum_sum import CumSum_11


class CumProd_26(CumSum_11):
    accumulate = staticmethod(np.cumprod)
    identity = 1
