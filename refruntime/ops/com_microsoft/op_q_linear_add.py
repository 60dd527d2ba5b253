"""com.microsoft QLinearAdd (ContribOperators.md, "com.microsoft.QLinearAdd", opset 1): element-wise
addition of two 8-bit tensors with numpy broadcasting,

    C = saturate(round((A_scale * (A - A_zero_point) + B_scale * (B - B_zero_point)) / C_scale)
                 + C_zero_point)

with every scale and zero point per tensor (a single value; absent zero points are 0) and A, B,
C of one type T (uint8 or int8).

Where runtimes disagree: refruntime rounds the exact value of the formula (half to even; see
_common.round_half_even). onnxruntime's MLAS evaluates A_scale/C_scale * (A - zp) +
B_scale/C_scale * (B - zp) in float32 (x86; ARM uses 22-bit fixed-point multipliers with
round-half-up shifts), so near a tie it can land one step away from the exact result.
"""
from refruntime.ops.com_microsoft._common import QLinearBinary


class QLinearAdd(QLinearBinary):
    def estimate(self, da, db, sa, sb, sc):
        # sa * da and sb * db are exact in float64 (8-bit integers times float32 scales)
        return (sa * da + sb * db) / sc

    def exact(self, da, db, sa, sb, sc):
        return (sa * da + sb * db) / sc
