"""com.microsoft QLinearMul (ContribOperators.md, "com.microsoft.QLinearMul", opset 1): element-wise
product of two 8-bit tensors with numpy broadcasting,

    C = saturate(round((A - A_zero_point) * (B - B_zero_point) * (A_scale * B_scale) / C_scale)
                 + C_zero_point)

with every scale and zero point per tensor (a single value; absent zero points are 0) and A, B,
C of one type T (uint8 or int8).

Where runtimes disagree: refruntime rounds the exact value of the formula (half to even; see
_common.round_half_even). onnxruntime's MLAS multiplies the integer product by the float32
A_scale * B_scale / C_scale (two float32 roundings before the product's), so near a tie it can land
one step away from the exact result.
"""
from refruntime.ops.com_microsoft._common import QLinearBinary


class QLinearMul(QLinearBinary):
    def estimate(self, da, db, sa, sb, sc):
        return (da * db) * sa * sb / sc

    def exact(self, da, db, sa, sb, sc):
        return da * db * sa * sb / sc
