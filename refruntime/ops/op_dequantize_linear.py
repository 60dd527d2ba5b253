"""DequantizeLinear (opsets 10, 13, 19, 21, 23, 24, 25, 28): y = (x - x_zero_point) * x_scale.

What each opset adds (the spec text is onnx.defs.get_schema("DequantizeLinear", v).doc):
- 10: per tensor; x int8/uint8/int32, x_scale float, y float.
- 13: per axis (`axis`). 19: float8 x; float16/bfloat16 scales, "x_scale determines the output type".
- 21: int16/uint16/int4/uint4 x, blocked quantization (`block_size`).
- 23: float4e2m1 x; `output_dtype` ("The output type also determines the precision of the
  multiplication operation"). 24: float8e8m0 scales (which then need output_dtype: the output
  types are float, float16 and bfloat16). 25: int2/uint2. 28: float6e2m3/float6e3m2.
The allowed element types of each opset are read from its schema.

Computation: x - x_zero_point is exact; its product with the scale is exact in float64 (8/16-bit
and narrower x always; int32 x while |x - zp| < 2**29) and rounded once to the output type, which
is a multiplication "in the output's precision" (IEEE: the exact product, rounded). onnxruntime
multiplies float32(x - zp) by the scale in float32: the same result, except for int32 x beyond
2**24 where float32(x - zp) is itself rounded first. onnx.reference refuses a non-zero float8
zero point; the spec keeps the formula, so it is applied.
"""
from __future__ import annotations

import numpy as np
import onnx

from refruntime.ops._quant import dequantize, zero_point_error
from refruntime.ops.op_quantize_linear import _LinearQuantOp, quant_types, type_names


class _DequantizeLinear(_LinearQuantOp):
    """The computation, for every opset; subclasses give the opset's attributes."""

    def prepare(self):
        super().prepare()
        self._inputs = quant_types("DequantizeLinear", self.opset, "input:0")
        self._outputs = quant_types("DequantizeLinear", self.opset, "output:0")
        self._out_attr = None
        out = self.attributes.get("output_dtype", 0)
        if out:
            try:
                self._out_attr = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(out))
            except (KeyError, ValueError, TypeError):
                self.refuse(f"output_dtype {out} is not an ONNX element type")
            if self._out_attr not in self._outputs:
                self.refuse(f"output_dtype {self._out_attr} is not an output type of opset {self.opset} "
                            f"({type_names(self._outputs)})")

    def check_constants(self, constants):
        super().check_constants(constants)
        scale = constants.get(1)
        if scale is not None and self._out_attr is None and scale.dtype.name.startswith("float8_e8m0"):
            self.refuse("a float8e8m0 scale needs output_dtype (float, float16 or bfloat16): the output "
                        "type would otherwise be the scale's", 1)

    def zero_point_type_error(self, zero_point, x_dtype=None):
        zp = np.asarray(zero_point)
        if zp.dtype not in self._inputs:
            return f"zero point is {zp.dtype}, not a quantized type of opset {self.opset} ({type_names(self._inputs)})"
        return zero_point_error(zp, x_dtype)

    def dequantize(self, x, x_scale, x_zero_point, axis=1, block_size=0):
        if x.dtype not in self._inputs:
            self.fail(f"x is {x.dtype}, not a quantized type of opset {self.opset} ({type_names(self._inputs)})")
        self.check_params(x, x_scale, x_zero_point)
        out = self._out_attr or x_scale.dtype
        if out.name.startswith("float8_e8m0"):
            self._fail_at("a float8e8m0 scale needs output_dtype (float, float16 or bfloat16)", 1)
        return (dequantize(x, x_scale, x_zero_point, axis, block_size, out),)


class DequantizeLinear_10(_DequantizeLinear):
    def _run(self, x, x_scale, x_zero_point=None):
        return self.dequantize(x, x_scale, x_zero_point)


class DequantizeLinear_13(_DequantizeLinear):
    """Also 19 and 20: float8 x and float16/bfloat16 scales, the same computation."""

    def _run(self, x, x_scale, x_zero_point=None, axis=1):
        return self.dequantize(x, x_scale, x_zero_point, axis)


class DequantizeLinear_21(_DequantizeLinear):
    def _run(self, x, x_scale, x_zero_point=None, axis=1, block_size=0):
        return self.dequantize(x, x_scale, x_zero_point, axis, block_size)


class DequantizeLinear_23(_DequantizeLinear):
    """Also 24, 25 and 28: the same computation, the allowed types read from the node's opset."""

    def _run(self, x, x_scale, x_zero_point=None, axis=1, block_size=0, output_dtype=0):
        return self.dequantize(x, x_scale, x_zero_point, axis, block_size)
