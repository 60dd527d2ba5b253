"""com.microsoft QLinearConcat (ContribOperators.md, "com.microsoft.QLinearConcat", opset 1):
inputs Y_scale, Y_zero_point, then one (X_i, X_i_scale, X_i_zero_point) triple per tensor to
concatenate along `axis` (required; negative counts from the end). Every tensor is requantized
to Y's parameters, Y_i = saturate(round(X_i_scale * (X_i - X_i_zero_point) / Y_scale) +
Y_zero_point), then the results are concatenated (the tensors must agree on every other axis).
All parameters are per tensor; the X_i and Y are of one type T8 (uint8 or int8).

Each requantization is a 256-entry table computed exactly (the value is rational: rounded half to
even with _common.round_half_even); a tensor whose scale and zero point equal Y's is copied.

Where runtimes disagree: onnxruntime builds the same tables in float32 (dequantize, then x /
Y_scale in float32 and nearbyint), so an entry near a tie can be one step away from the exact one.
"""
from fractions import Fraction

import numpy as np

from refruntime.ops.com_microsoft._common import (
    INT,
    QuantizedOp,
    check_node,
    requantized,
    round_half_even,
    value,
)


class QLinearConcat(QuantizedOp):
    def prepare(self):
        check_node(self, inputs=(5, None), attributes={"axis": INT}, required_attributes=("axis",),
                   required_inputs=tuple(range(len(self.node.input))))
        if (len(self.node.input) - 2) % 3:
            self.refuse(f"has {len(self.node.input)} inputs: after Y_scale and Y_zero_point the inputs come "
                        "in (tensor, scale, zero point) triples")
        count = (len(self.node.input) - 2) // 3
        self.SCALES = (0, *(3 + 3 * i for i in range(count)))
        self.ZERO_POINTS = ((1, None), *((4 + 3 * i, 2 + 3 * i) for i in range(count)))

    def _run(self, y_scale, y_zero_point, *triples, axis=None):
        tensors = triples[0::3]
        for i, x in enumerate(tensors):
            self.check_data(x, 2 + 3 * i)
            if x.dtype != y_zero_point.dtype:
                self.fail(f"input {2 + 3 * i} {self.node.input[2 + 3 * i]!r} is {x.dtype} but Y_zero_point is "
                          f"{y_zero_point.dtype}: all tensors have the type T8")
        self.check_params((y_scale, y_zero_point, *triples))
        rank = tensors[0].ndim
        if not -rank <= axis < rank:
            self.fail(f"axis {axis} is out of range for inputs of rank {rank}")
        for i, x in enumerate(tensors):
            if x.ndim != rank or any(a != b for d, (a, b) in enumerate(zip(x.shape, tensors[0].shape))
                                     if d != axis % rank):
                self.fail(f"input {2 + 3 * i} has shape {x.shape}, which does not match {tensors[0].shape} "
                          f"outside axis {axis}")
        sy, zy = value(y_scale), value(y_zero_point)
        parts = [self._requantize(x, value(s), value(z), sy, zy)
                 for x, s, z in zip(tensors, triples[1::3], triples[2::3])]
        return (np.concatenate(parts, axis=axis),)

    def _requantize(self, x, sx, zx, sy, zy):
        if sx == sy and zx == zy:
            return x
        lo = -128 if x.dtype == np.int8 else 0
        q = np.arange(lo, lo + 256, dtype=np.int64)
        exact_scales = (Fraction(sx), Fraction(sy))
        rounded = round_half_even(sx * (q - zx) / sy, lambda v: exact_scales[0] * (v - zx) / exact_scales[1], q)
        return requantized(rounded, zy, x.dtype)[x.astype(np.intp) - lo]
